
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_stream_herd_zone.h"


/* bounds the time one update may hold the zone mutex while evicting */
#define NGX_STREAM_HERD_MAX_EVICT  4096


#define ngx_stream_herd_node(n)                                               \
    ((ngx_stream_herd_node_t *) &(n)->color)

#define ngx_stream_herd_rbnode(hn)                                            \
    ((ngx_rbtree_node_t *) ((u_char *) (hn)                                   \
                            - offsetof(ngx_rbtree_node_t, color)))

#define ngx_stream_herd_index_off(sp, hn)                                     \
    ((uint32_t) (((u_char *) (hn) - (u_char *) (sp))                          \
                 / NGX_STREAM_HERD_INDEX_UNIT))

#define ngx_stream_herd_index_node(sp, off)                                   \
    ((ngx_stream_herd_node_t *) ((u_char *) (sp)                              \
                                 + (size_t) (off) * NGX_STREAM_HERD_INDEX_UNIT))


static void ngx_stream_herd_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_stream_herd_node_t *ngx_stream_herd_zone_lookup(
    ngx_stream_herd_zone_t *zone, ngx_str_t *client, uint32_t hash);
static void ngx_stream_herd_zone_delete(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_node_t *hn);
static ngx_stream_herd_node_t *ngx_stream_herd_zone_alloc(
    ngx_stream_herd_zone_t *zone, size_t size, ngx_uint_t *evicted,
    ngx_stream_herd_node_t *keep);
static uint64_t ngx_stream_herd_record_hash(ngx_stream_herd_node_t *hn);
static void ngx_stream_herd_zone_lock(ngx_stream_herd_zone_t *zone);
static ngx_int_t ngx_stream_herd_index_init(ngx_slab_pool_t *sp,
    ngx_stream_herd_shctx_t *sh);
static void ngx_stream_herd_index_insert(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_node_t *hn, uint32_t hash);
static void ngx_stream_herd_index_delete(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_node_t *hn, uint32_t hash);
static size_t ngx_stream_herd_zone_room(size_t size);
static ngx_rbtree_node_t *ngx_stream_herd_cell_alloc(
    ngx_stream_herd_zone_t *zone);
static void ngx_stream_herd_cell_free(ngx_stream_herd_zone_t *zone,
    u_char *cell);


/*
 * Locks the zone.  An update marks the zone dirty while it changes it: a
 * mark found set means a worker died in the middle of a change (killed,
 * or crashed), and the tree and queue cannot be trusted.  The zone is
 * then emptied; neighbours' catch-up fills it again.
 */

static void
ngx_stream_herd_zone_lock(ngx_stream_herd_zone_t *zone)
{
    size_t                    len;
    ngx_slab_pool_t          *sp;
    ngx_stream_herd_shctx_t  *sh;
    u_char                    ctx[256];

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (!zone->sh->dirty) {
        return;
    }

    sp = zone->shpool;

    len = ngx_min(ngx_strlen(sp->log_ctx) + 1, sizeof(ctx));
    ngx_memcpy(ctx, sp->log_ctx, len);
    ctx[len - 1] = '\0';

    /* the same allocations as ngx_stream_herd_zone_init(): same places */

    ngx_slab_init(sp);

    sh = ngx_slab_alloc_locked(sp, sizeof(ngx_stream_herd_shctx_t));

    if (sh != zone->sh) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "herd_zone%s: cannot be recovered", ctx);
        ngx_debug_point();
        return;
    }

    sp->data = sh;

    sp->log_ctx = ngx_slab_alloc_locked(sp, len);
    if (sp->log_ctx != NULL) {
        ngx_memcpy(sp->log_ctx, ctx, len);
    }

    sp->log_nomem = 0;

    if (ngx_stream_herd_index_init(sp, sh) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "herd_zone%s: cannot be recovered", ctx);
        ngx_debug_point();
        return;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_stream_herd_rbtree_insert_value);
    ngx_queue_init(&sh->queue);
    sh->records = 0;
    ngx_queue_init(&sh->cells);
    sh->dirty = 0;
    ngx_memzero(sh->digest, sizeof(sh->digest));

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "herd_zone%s: a worker died while changing it: emptied, "
                  "peers' catch-up fills it again", ctx);
}


ngx_int_t
ngx_stream_herd_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_stream_herd_zone_t  *ozone = data;

    size_t                   len;
    ngx_slab_pool_t         *shpool;
    ngx_stream_herd_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload with the same name and size: keep every record */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    zone->shpool = shpool;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(shpool, sizeof(ngx_stream_herd_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_stream_herd_rbtree_insert_value);
    ngx_queue_init(&zone->sh->queue);
    zone->sh->records = 0;
    zone->sh->evicted = 0;
    ngx_queue_init(&zone->sh->cells);
    zone->sh->dirty = 0;
    ngx_memzero(zone->sh->digest, sizeof(zone->sh->digest));

    len = sizeof(" in herd_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in herd_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts old records; the slab need not say "no memory" */
    shpool->log_nomem = 0;

    return ngx_stream_herd_index_init(shpool, zone->sh);
}


/*
 * The index: a power of two of slots, one per NGX_STREAM_HERD_INDEX_RATIO
 * bytes of zone or fewer, allocated right after the context and the log
 * context, both at zone start and when a dirty zone is emptied.
 */

static ngx_int_t
ngx_stream_herd_index_init(ngx_slab_pool_t *sp, ngx_stream_herd_shctx_t *sh)
{
    size_t  slots, want;

    want = (size_t) (sp->end - (u_char *) sp) / NGX_STREAM_HERD_INDEX_RATIO;

    for (slots = 256; slots * 2 <= want; slots *= 2) { /* void */ }

    sh->index = ngx_slab_alloc_locked(sp, slots * sizeof(uint32_t));
    if (sh->index == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh->index, slots * sizeof(uint32_t));
    sh->index_mask = (uint32_t) (slots - 1);

    return NGX_OK;
}


static void
ngx_stream_herd_index_insert(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_node_t *hn, uint32_t hash)
{
    uint32_t  *slot;

    slot = &zone->sh->index[hash & zone->sh->index_mask];

    hn->next = *slot;
    *slot = ngx_stream_herd_index_off(zone->shpool, hn);
}


static void
ngx_stream_herd_index_delete(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_node_t *hn, uint32_t hash)
{
    uint32_t                *link, off;
    ngx_stream_herd_node_t  *cur;

    off = ngx_stream_herd_index_off(zone->shpool, hn);
    link = &zone->sh->index[hash & zone->sh->index_mask];

    while (*link) {
        if (*link == off) {
            *link = hn->next;
            return;
        }

        cur = ngx_stream_herd_index_node(zone->shpool, *link);
        link = &cur->next;
    }
}


static void
ngx_stream_herd_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_stream_herd_node_t   *hn, *hnt;

    for ( ;; ) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            hn = ngx_stream_herd_node(node);
            hnt = ngx_stream_herd_node(temp);

            p = (ngx_memn2cmp(hn->data + hn->key_off, hnt->data + hnt->key_off,
                              hn->key_len, hnt->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_stream_herd_node_t *
ngx_stream_herd_zone_lookup(ngx_stream_herd_zone_t *zone, ngx_str_t *client,
    uint32_t hash)
{
    uint32_t                 off;
    ngx_stream_herd_node_t  *hn;

    off = zone->sh->index[hash & zone->sh->index_mask];

    while (off) {
        hn = ngx_stream_herd_index_node(zone->shpool, off);

        if (ngx_stream_herd_rbnode(hn)->key == hash
            && hn->key_len == client->len
            && ngx_memcmp(hn->data + hn->key_off, client->data, client->len)
               == 0)
        {
            return hn;
        }

        off = hn->next;
    }

    return NULL;
}


static void
ngx_stream_herd_zone_delete(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_node_t *hn)
{
    ngx_rbtree_node_t  *node;

    node = ngx_stream_herd_rbnode(hn);

    zone->sh->digest[ngx_stream_herd_bucket(node->key)]
        ^= ngx_stream_herd_record_hash(hn);

    ngx_queue_remove(&hn->queue);
    ngx_stream_herd_index_delete(zone, hn, (uint32_t) node->key);
    ngx_rbtree_delete(&zone->sh->rbtree, node);

    if (hn->cell) {
        ngx_stream_herd_cell_free(zone, (u_char *) node);

    } else {
        ngx_slab_free_locked(zone->shpool, node);
    }

    zone->sh->records--;
}


#define ngx_stream_herd_cells_per_page                                        \
    ((ngx_pagesize - sizeof(ngx_uint_t)) / NGX_STREAM_HERD_CELL)

/* the count of cells in use, at the end of the cells of a page */
#define ngx_stream_herd_cell_used(page)                                       \
    ((ngx_uint_t *) ((page)                                                   \
                     + ngx_stream_herd_cells_per_page * NGX_STREAM_HERD_CELL))

#define ngx_stream_herd_cell_page(cell)                                       \
    ((u_char *) ((uintptr_t) (cell) & ~((uintptr_t) ngx_pagesize - 1)))


/* a free cell, or a new slab page cut into cells */

static ngx_rbtree_node_t *
ngx_stream_herd_cell_alloc(ngx_stream_herd_zone_t *zone)
{
    u_char       *page;
    ngx_uint_t    i;
    ngx_queue_t  *q;

    if (ngx_queue_empty(&zone->sh->cells)) {

        /* page aligned: a request over half a page takes whole pages */

        page = ngx_slab_alloc_locked(zone->shpool, ngx_pagesize);
        if (page == NULL) {
            return NULL;
        }

        for (i = 0; i < ngx_stream_herd_cells_per_page; i++) {
            ngx_queue_insert_tail(&zone->sh->cells,
                                  (ngx_queue_t *)
                                  (page + i * NGX_STREAM_HERD_CELL));

            ngx_stream_herd_node((ngx_rbtree_node_t *)
                                 (page + i * NGX_STREAM_HERD_CELL))->cell = 0;
        }

        *ngx_stream_herd_cell_used(page) = 0;
    }

    q = ngx_queue_head(&zone->sh->cells);
    ngx_queue_remove(q);

    (*ngx_stream_herd_cell_used(ngx_stream_herd_cell_page(q)))++;

    return (ngx_rbtree_node_t *) q;
}


static void
ngx_stream_herd_cell_free(ngx_stream_herd_zone_t *zone, u_char *cell)
{
    u_char      *page;
    ngx_uint_t   i;

    page = ngx_stream_herd_cell_page(cell);

    /* a free cell has its "cell" byte clear, past the queue link */
    ngx_stream_herd_node((ngx_rbtree_node_t *) cell)->cell = 0;

    ngx_queue_insert_head(&zone->sh->cells, (ngx_queue_t *) cell);

    if (--(*ngx_stream_herd_cell_used(page)) != 0) {
        return;
    }

    /* the last record of the page went: the page goes back to the slab */

    for (i = 0; i < ngx_stream_herd_cells_per_page; i++) {
        ngx_queue_remove((ngx_queue_t *) (page + i * NGX_STREAM_HERD_CELL));
    }

    ngx_slab_free_locked(zone->shpool, page);
}


/*
 * Allocates a node; when the zone is full, evicts the least recently
 * updated records one by one until the allocation succeeds, at most
 * NGX_STREAM_HERD_MAX_EVICT of them.
 */

static ngx_stream_herd_node_t *
ngx_stream_herd_zone_alloc(ngx_stream_herd_zone_t *zone, size_t size,
    ngx_uint_t *evicted, ngx_stream_herd_node_t *keep)
{
    u_char                  *page;
    ngx_uint_t               i, n;
    ngx_queue_t             *q;
    ngx_rbtree_node_t       *node;
    ngx_stream_herd_node_t  *hn, *victim;

    for ( ;; ) {

        if (size <= NGX_STREAM_HERD_CELL) {
            node = ngx_stream_herd_cell_alloc(zone);

        } else {
            node = ngx_slab_alloc_locked(zone->shpool, size);
        }

        if (node != NULL) {
            hn = ngx_stream_herd_node(node);
            hn->cell = (size <= NGX_STREAM_HERD_CELL);
            return hn;
        }

        if (ngx_queue_empty(&zone->sh->queue)
            || *evicted >= NGX_STREAM_HERD_MAX_EVICT)
        {
            return NULL;
        }

        q = ngx_queue_last(&zone->sh->queue);
        hn = ngx_queue_data(q, ngx_stream_herd_node_t, queue);

        if (hn == keep) {
            q = ngx_queue_prev(q);

            if (q == ngx_queue_sentinel(&zone->sh->queue)) {
                return NULL;
            }

            hn = ngx_queue_data(q, ngx_stream_herd_node_t, queue);
        }

        page = hn->cell ? ngx_stream_herd_cell_page(ngx_stream_herd_rbnode(hn))
                        : NULL;

        if (size > NGX_STREAM_HERD_CELL
            && page != NULL
            && !(keep != NULL && keep->cell
                 && ngx_stream_herd_cell_page(ngx_stream_herd_rbnode(keep))
                    == page))
        {
            /*
             * A slab chunk needs a free page, and evicting cells one by one
             * in LRU order seldom empties one: the victim's page goes whole.
             * The last record deleted frees the page: counted down, so
             * that nothing reads the page after that.
             */

            n = *ngx_stream_herd_cell_used(page);

            for (i = 0; n && i < ngx_stream_herd_cells_per_page; i++) {
                victim = ngx_stream_herd_node((ngx_rbtree_node_t *)
                                              (page
                                               + i * NGX_STREAM_HERD_CELL));
                if (!victim->cell) {
                    continue;
                }

                n--;

                ngx_stream_herd_zone_delete(zone, victim);

                zone->sh->evicted++;
                (*evicted)++;
            }

            continue;
        }

        ngx_stream_herd_zone_delete(zone, hn);

        zone->sh->evicted++;
        (*evicted)++;
    }
}


/*
 * Stores the record if it is newer than the one held for the client.
 * "line" is the AT line without LF, "client" points into it.
 *
 * NGX_OK: stored (new client or newer time); NGX_DECLINED: the held record
 * is as new or newer, nothing changed; NGX_ERROR: the record does not fit
 * in the zone even when empty.
 */

ngx_int_t
ngx_stream_herd_zone_update(ngx_stream_herd_zone_t *zone, ngx_str_t *line,
    ngx_str_t *client, ngx_stream_herd_time_t *time, ngx_log_t *log)
{
    size_t                   size;
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_uint_t               evicted, records;
    ngx_rbtree_node_t       *node;
    ngx_stream_herd_node_t  *hn, *old;

    hash = ngx_crc32_long(client->data, client->len);

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_stream_herd_node_t, data)
           + line->len;

    /*
     * A record may take at most half of the zone: a larger one is refused
     * before anything is evicted for it, so that one long line cannot
     * empty the table.
     */

    if (size > (size_t) (zone->shpool->end - zone->shpool->start) / 2) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "herd_zone \"%V\" is too small for a record of "
                      "%uz bytes: not stored", &zone->shm_zone->shm.name,
                      line->len);
        return NGX_ERROR;
    }

    evicted = 0;
    rc = NGX_OK;

    ngx_stream_herd_zone_lock(zone);

    old = ngx_stream_herd_zone_lookup(zone, client, hash);

    if (old != NULL) {
        if (ngx_stream_herd_time_cmp(time, &old->time) <= 0) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }
    }

    zone->sh->dirty = 1;

    if (old != NULL
        && size <= (old->cell ? NGX_STREAM_HERD_CELL
                    : ngx_stream_herd_zone_room(
                          offsetof(ngx_rbtree_node_t, color)
                          + offsetof(ngx_stream_herd_node_t, data)
                          + old->len)))
    {
        /*
         * The new record fits where the old one is: same client, so same
         * key and same place in the tree and the index.
         */

        zone->sh->digest[ngx_stream_herd_bucket(hash)]
            ^= ngx_stream_herd_record_hash(old);

        old->key_off = (uint32_t) (client->data - line->data);
        old->key_len = (uint32_t) client->len;
        old->len = (uint32_t) line->len;
        old->time = *time;
        ngx_memcpy(old->data, line->data, line->len);

        zone->sh->digest[ngx_stream_herd_bucket(hash)]
            ^= ngx_stream_herd_record_hash(old);

        ngx_queue_remove(&old->queue);
        ngx_queue_insert_head(&zone->sh->queue, &old->queue);

        zone->sh->dirty = 0;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        return NGX_OK;
    }

    /* the old record is out of the eviction's reach */
    hn = ngx_stream_herd_zone_alloc(zone, size, &evicted, old);

    if (old != NULL) {
        if (hn != NULL) {
            ngx_stream_herd_zone_delete(zone, old);
        }
    }

    if (hn == NULL) {
        /* the client keeps its older record, if it had one */
        rc = NGX_ERROR;

    } else {
        node = ngx_stream_herd_rbnode(hn);
        node->key = hash;

        hn->key_off = (uint32_t) (client->data - line->data);
        hn->key_len = (uint32_t) client->len;
        hn->len = (uint32_t) line->len;
        hn->time = *time;
        ngx_memcpy(hn->data, line->data, line->len);

        ngx_rbtree_insert(&zone->sh->rbtree, node);
        ngx_stream_herd_index_insert(zone, hn, hash);
        ngx_queue_insert_head(&zone->sh->queue, &hn->queue);
        zone->sh->records++;

        zone->sh->digest[ngx_stream_herd_bucket(hash)]
            ^= ngx_stream_herd_record_hash(hn);
    }

    records = zone->sh->records;

    zone->sh->dirty = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (evicted) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "herd_zone \"%V\" is full: evicted %ui least recently "
                      "updated record%s, %ui held",
                      &zone->shm_zone->shm.name, evicted,
                      evicted == 1 ? "" : "s", records);
    }

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "herd_zone \"%V\" found no room for a record of "
                      "%uz bytes: not stored",
                      &zone->shm_zone->shm.name, line->len);
    }

    return rc;
}


/*
 * Copies the AT line held for the client into buf (of *len bytes).
 *
 * NGX_OK: copied, *len set; NGX_DECLINED: unknown client; NGX_AGAIN: buf
 * is too small, *len set to the size needed.
 */

ngx_int_t
ngx_stream_herd_zone_get(ngx_stream_herd_zone_t *zone, ngx_str_t *client,
    u_char *buf, size_t *len)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_stream_herd_node_t  *hn;

    hash = ngx_crc32_long(client->data, client->len);

    ngx_stream_herd_zone_lock(zone);

    hn = ngx_stream_herd_zone_lookup(zone, client, hash);

    if (hn == NULL) {
        rc = NGX_DECLINED;

    } else if (hn->len > *len) {
        *len = hn->len;
        rc = NGX_AGAIN;

    } else {
        ngx_memcpy(buf, hn->data, hn->len);
        *len = hn->len;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * The bytes the slab allocator hands out for a request of size bytes: the
 * next power of two (at least 8) up to half a page; larger requests are
 * not rounded here, so a record is only rewritten in place in a chunk of
 * a size class.
 */

static size_t
ngx_stream_herd_zone_room(size_t size)
{
    size_t  room;

    if (size > ngx_pagesize / 2) {
        return size;
    }

    for (room = 8; room < size; room <<= 1) { /* void */ }

    return room;
}


/*
 * FNV-1a over the client id, then the client time, finished with the
 * splitmix64 mixer: the same on every server, whatever its byte order.
 */

static uint64_t
ngx_stream_herd_record_hash(ngx_stream_herd_node_t *hn)
{
    u_char    *p, *last;
    uint64_t   h;

    h = 0xcbf29ce484222325ULL;

    p = hn->data + hn->key_off;
    last = p + hn->key_len;

    while (p < last) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }

    h ^= hn->time.sec;
    h *= 0x100000001b3ULL;
    h ^= hn->time.nsec;

    h += 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;

    return h ^ (h >> 31);
}


void
ngx_stream_herd_zone_digest(ngx_stream_herd_zone_t *zone, uint64_t *digest)
{
    ngx_stream_herd_zone_lock(zone);

    ngx_memcpy(digest, zone->sh->digest, sizeof(zone->sh->digest));

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_stream_herd_zone_walk_init(ngx_stream_herd_walk_t *w, ngx_uint_t bucket)
{
    w->bucket = bucket;
    w->key = (uint32_t) bucket << 24;
    w->skip = 0;
}


/*
 * Copies the AT lines (each with its LF) of bucket w->bucket, from the
 * position in w on, into buf while they fit; *size is the room on entry and
 * the bytes written on return.
 *
 * NGX_DONE: the bucket is exhausted; NGX_OK: buf is full, call again.
 */

ngx_int_t
ngx_stream_herd_zone_walk(ngx_stream_herd_zone_t *zone,
    ngx_stream_herd_walk_t *w, u_char *buf, size_t *size)
{
    u_char                  *p, *last;
    uint32_t                 key;
    ngx_int_t                rc;
    ngx_uint_t               skip;
    ngx_rbtree_t            *tree;
    ngx_rbtree_node_t       *node, *next, *sentinel;
    ngx_stream_herd_node_t  *hn;

    p = buf;
    last = buf + *size;
    rc = NGX_DONE;

    ngx_stream_herd_zone_lock(zone);

    tree = &zone->sh->rbtree;
    sentinel = tree->sentinel;

    /* the first node with a key not below w->key */

    next = NULL;
    node = tree->root;

    while (node != sentinel) {
        if (node->key >= w->key) {
            next = node;
            node = node->left;

        } else {
            node = node->right;
        }
    }

    key = w->key;
    skip = w->skip;

    for (node = next; node; node = ngx_rbtree_next(tree, node)) {

        if (ngx_stream_herd_bucket(node->key) != w->bucket) {
            break;
        }

        if (node->key == key && skip) {
            skip--;
            continue;
        }

        hn = ngx_stream_herd_node(node);

        if ((size_t) (last - p) < hn->len + 1) {

            if (p == buf) {
                /* cannot happen: callers offer room for any record */
                ngx_shmtx_unlock(&zone->shpool->mutex);
                *size = 0;
                return NGX_ERROR;
            }

            rc = NGX_OK;
            break;
        }

        p = ngx_cpymem(p, hn->data, hn->len);
        *p++ = LF;

        if (node->key == w->key) {
            w->skip++;

        } else {
            w->key = (uint32_t) node->key;
            w->skip = 1;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *size = p - buf;

    return rc;
}
