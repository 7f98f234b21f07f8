
/*
 * Copyright (C) The herd authors
 */


#ifndef _HERD_ORACLE_H_INCLUDED_
#define _HERD_ORACLE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * PROTOCOL.md's lexical rules written again, plainly and independently of
 * ngx_stream_herd_proto.c, for the fuzz targets to compare against.
 */


#define HERD_ORACLE_FIELDS  8


ngx_uint_t herd_oracle_space(u_char ch);
ngx_uint_t herd_oracle_split(u_char *p, size_t len, ngx_str_t *f);
ngx_uint_t herd_oracle_is(ngx_str_t *f, const char *word);
ngx_uint_t herd_oracle_inside(ngx_str_t *s, u_char *start, size_t len);
ngx_uint_t herd_oracle_no_space(ngx_str_t *s);
ngx_uint_t herd_oracle_hex(ngx_str_t *s, size_t len);
ngx_int_t herd_oracle_time(ngx_str_t *s, uint64_t *sec, uint32_t *nsec);
ngx_int_t herd_oracle_location(ngx_str_t *s, ngx_str_t *lat, ngx_str_t *lng);
ngx_int_t herd_oracle_radius(ngx_str_t *s, ngx_uint_t *metres);
ngx_int_t herd_oracle_bound(ngx_str_t *s, ngx_uint_t *bound);


#endif /* _HERD_ORACLE_H_INCLUDED_ */
