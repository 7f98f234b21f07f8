
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_JSON_H_INCLUDED_
#define _NGX_STREAM_HERD_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The Places answer shaping: pure code, no I/O, no events, no libcurl.
 *
 * ngx_stream_herd_json_shape() turns what the Places API answered (the
 * body and the HTTP status) into the JSON text a herd server relays: the
 * legacy envelope (the legacy API's answer as it is, the New API's
 * translated), results cut to the bound, an error envelope for an HTTP
 * error or an invalid answer, printed pretty (Google's legacy formatting)
 * or compact, with no empty line and no LF at the end.
 *
 * ngx_stream_herd_json_shape_error() prints an error envelope of its own
 * (e.g. for a transfer that failed).
 *
 * Both return NGX_OK with json->data allocated with ngx_alloc() (the
 * caller frees it with ngx_free()), or NGX_DECLINED (no memory, an answer
 * that would print too large) with *json set to the static answer of
 * ngx_stream_herd_json_failed(), which must not be freed.
 */


#define NGX_STREAM_HERD_PLACES_LEGACY   1
#define NGX_STREAM_HERD_PLACES_NEW      2

#define NGX_STREAM_HERD_PLACES_PRETTY   1
#define NGX_STREAM_HERD_PLACES_COMPACT  2


typedef struct {
    u_char                   *body;      /* NULL: no body */
    size_t                    len;       /* no NUL needed at body[len] */
    ngx_int_t                 status;    /* HTTP status */
    ngx_uint_t                api;       /* legacy | new */
    ngx_uint_t                bound;     /* results relayed at most */
    ngx_uint_t                format;    /* pretty | compact */
    ngx_str_t                *location;  /* for the log lines only */
    ngx_log_t                *log;
} ngx_stream_herd_json_in_t;


ngx_int_t ngx_stream_herd_json_shape(ngx_stream_herd_json_in_t *in,
    ngx_str_t *json);
ngx_int_t ngx_stream_herd_json_shape_error(const char *status,
    const char *message, ngx_uint_t format, ngx_log_t *log, ngx_str_t *json);
ngx_str_t *ngx_stream_herd_json_failed(ngx_uint_t format);


#endif /* _NGX_STREAM_HERD_JSON_H_INCLUDED_ */
