
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


/*
 * Records fall into NGX_STREAM_HERD_DIGESTS buckets by the top bits of the
 * crc32 of the client id (the rbtree key), so a bucket is a key range of
 * the tree.  Each bucket keeps a digest, the XOR of a 64-bit hash of every
 * record's (client id, client time): two servers holding the same records
 * have the same digests, which is what makes catch-up cheap.
 */

#define ngx_stream_herd_bucket(key)  ((key) >> 24)


typedef struct {
    u_char                    color;
    u_char                    cell;        /* in a cell, not a slab chunk */
    u_char                    pad[2];
    uint32_t                  key_off;     /* client id inside data */
    uint32_t                  key_len;
    uint32_t                  len;         /* AT line length */
    ngx_queue_t               queue;
    ngx_stream_herd_time_t    time;        /* client time */
    uint32_t                  next;        /* in the index chain */
    u_char                    data[1];     /* the AT line */
} ngx_stream_herd_node_t;


/*
 * The index finds a client's record in one or two memory accesses where
 * the tree would take one per level; the tree keeps the records in key
 * order for catch-up.  Index entries are offsets from the zone start in
 * NGX_STREAM_HERD_INDEX_UNIT bytes (0: none), which bounds the zone size.
 */

#define NGX_STREAM_HERD_INDEX_UNIT   8
#define NGX_STREAM_HERD_ZONE_MAX                                              \
    ((uint64_t) NGX_STREAM_HERD_INDEX_UNIT << 32)

/* one index slot per this many bytes of zone */
#define NGX_STREAM_HERD_INDEX_RATIO  512


/*
 * A record of at most NGX_STREAM_HERD_CELL bytes (an AT line of up to 108
 * bytes: client ids of up to about 40 characters) lives in a cell cut
 * from a slab page, 21 to a 4k page, instead of the slab's 256-byte chunk.
 * The end of a cell page counts its cells in use; a page whose last record
 * goes is returned to the slab, so larger records still find room when
 * the oldest records are evicted.
 */

#define NGX_STREAM_HERD_CELL         192


typedef struct {
    ngx_rbtree_t              rbtree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               queue;       /* head: most recently updated */
    ngx_uint_t                records;
    ngx_uint_t                evicted;
    ngx_uint_t                dirty;
    uint64_t                  digest[NGX_STREAM_HERD_DIGESTS];
    uint32_t                 *index;
    uint32_t                  index_mask;
    ngx_queue_t               cells;       /* free cells */
} ngx_stream_herd_shctx_t;


typedef struct {
    ngx_stream_herd_shctx_t  *sh;
    ngx_slab_pool_t          *shpool;
    ngx_shm_zone_t           *shm_zone;
} ngx_stream_herd_zone_t;


/* a position inside one bucket, for copying it out in chunks */
typedef struct {
    ngx_uint_t                bucket;
    uint32_t                  key;         /* resume at this key */
    ngx_uint_t                skip;        /* records of that key done */
} ngx_stream_herd_walk_t;


ngx_int_t ngx_stream_herd_zone_init(ngx_shm_zone_t *shm_zone, void *data);

ngx_int_t ngx_stream_herd_zone_update(ngx_stream_herd_zone_t *zone,
    ngx_str_t *line, ngx_str_t *client, ngx_stream_herd_time_t *time,
    ngx_log_t *log);
ngx_int_t ngx_stream_herd_zone_get(ngx_stream_herd_zone_t *zone,
    ngx_str_t *client, u_char *buf, size_t *len);
void ngx_stream_herd_zone_digest(ngx_stream_herd_zone_t *zone,
    uint64_t *digest);
void ngx_stream_herd_zone_walk_init(ngx_stream_herd_walk_t *w,
    ngx_uint_t bucket);
ngx_int_t ngx_stream_herd_zone_walk(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_walk_t *w, u_char *buf, size_t *size);


#endif /* _NGX_STREAM_HERD_ZONE_H_INCLUDED_ */
