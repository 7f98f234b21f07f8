
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_ZONE_H_INCLUDED_
#define _NGX_STREAM_HERD_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_stream_herd_proto.h"


/*
 * The location table: client id -> newest record, shared by all workers.
 * A record is kept as the text of its AT line (without the LF), which is
 * exactly what a WHATSAT reply and a flood message need.
 */


typedef struct {
    u_char                    color;
    u_char                    pad[3];
    uint32_t                  key_off;     /* client id inside data */
    uint32_t                  key_len;
    uint32_t                  len;         /* AT line length */
    ngx_queue_t               queue;
    ngx_stream_herd_time_t    time;        /* client time */
    u_char                    data[1];     /* the AT line */
} ngx_stream_herd_node_t;


typedef struct {
    ngx_rbtree_t              rbtree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               queue;       /* head: most recently updated */
    ngx_uint_t                records;
    ngx_uint_t                evicted;
} ngx_stream_herd_shctx_t;


typedef struct {
    ngx_stream_herd_shctx_t  *sh;
    ngx_slab_pool_t          *shpool;
    ngx_shm_zone_t           *shm_zone;
} ngx_stream_herd_zone_t;


ngx_int_t ngx_stream_herd_zone_init(ngx_shm_zone_t *shm_zone, void *data);

ngx_int_t ngx_stream_herd_zone_update(ngx_stream_herd_zone_t *zone,
    ngx_str_t *line, ngx_str_t *client, ngx_stream_herd_time_t *time,
    ngx_log_t *log);
ngx_int_t ngx_stream_herd_zone_get(ngx_stream_herd_zone_t *zone,
    ngx_str_t *client, u_char *buf, size_t *len);


#endif /* _NGX_STREAM_HERD_ZONE_H_INCLUDED_ */
