
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_PLACES_H_INCLUDED_
#define _NGX_STREAM_HERD_PLACES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The interface between a herd session and the Places client.
 *
 * ngx_stream_herd_places_query() starts (or joins) a Nearby Search for the
 * location of an AT line.  It returns a waiter, and later calls handler
 * exactly once with the complete JSON text to relay (legacy envelope, no
 * empty line, no trailing LF), unless the waiter was cancelled first.  The
 * handler is never called from inside ngx_stream_herd_places_query() nor
 * from inside a libcurl callback, so it may finalize the session.  The JSON
 * is only valid while the handler runs.
 *
 * On NULL (no memory, too many upstream calls in flight) nothing is
 * pending and *error holds the JSON to relay instead (static memory).
 */


typedef struct ngx_stream_herd_places_waiter_s  ngx_stream_herd_places_waiter_t;

typedef void (*ngx_stream_herd_places_handler_pt)(void *data, ngx_str_t *json);


typedef struct {
    ngx_str_t                 key;         /* empty: no key configured */
    /* more fields: owned by ngx_stream_herd_places.c */
    void                     *conf;
} ngx_stream_herd_places_conf_t;


ngx_stream_herd_places_waiter_t *ngx_stream_herd_places_query(
    ngx_stream_herd_places_conf_t *pcf, ngx_str_t *location,
    ngx_uint_t radius_m, ngx_uint_t bound,
    ngx_stream_herd_places_handler_pt handler, void *data, ngx_log_t *log,
    ngx_str_t *error);
void ngx_stream_herd_places_cancel(ngx_stream_herd_places_waiter_t *w);

/* the answer when no key is configured */
extern ngx_str_t  ngx_stream_herd_places_no_key;


#endif /* _NGX_STREAM_HERD_PLACES_H_INCLUDED_ */
