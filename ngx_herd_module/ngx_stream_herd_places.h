
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_PLACES_H_INCLUDED_
#define _NGX_STREAM_HERD_PLACES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_stream_herd_json.h"


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


/* NGX_STREAM_HERD_PLACES_LEGACY, _NEW, _PRETTY, _COMPACT: in json.h */


typedef struct {
    ngx_str_t                 key;         /* empty: no key configured */

    /* the rest is owned by ngx_stream_herd_places.c */

    ngx_uint_t                api;         /* legacy | new */
    ngx_str_t                 url;         /* NUL-terminated */
    ngx_str_t                 escaped_key; /* legacy query string form */
    ngx_msec_t                timeout;
    ngx_msec_t                connect_timeout;
    size_t                    max_size;
    ngx_uint_t                format;      /* pretty | compact */
    ngx_uint_t                concurrency; /* per worker */
    ngx_str_t                 ca_file;     /* NUL-terminated, or empty */
    ngx_str_t                 proxy;       /* NUL-terminated, or empty */
} ngx_stream_herd_places_conf_t;


ngx_stream_herd_places_waiter_t *ngx_stream_herd_places_query(
    ngx_stream_herd_places_conf_t *pcf, ngx_str_t *location,
    ngx_uint_t radius_m, ngx_uint_t bound,
    ngx_stream_herd_places_handler_pt handler, void *data, ngx_log_t *log,
    ngx_str_t *error);
void ngx_stream_herd_places_cancel(ngx_stream_herd_places_waiter_t *w);

/* configuration (called from ngx_stream_herd_module.c) */
void ngx_stream_herd_places_create_conf(ngx_conf_t *cf,
    ngx_stream_herd_places_conf_t *pcf);
char *ngx_stream_herd_places_merge_conf(ngx_conf_t *cf,
    ngx_stream_herd_places_conf_t *prev, ngx_stream_herd_places_conf_t *conf);
char *ngx_stream_herd_places_set_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* per worker: the upstream client (called from the module's hooks) */
ngx_int_t ngx_stream_herd_places_init_process(ngx_cycle_t *cycle);
void ngx_stream_herd_places_exit_process(ngx_cycle_t *cycle);

extern ngx_conf_enum_t  ngx_stream_herd_places_apis[];
extern ngx_conf_enum_t  ngx_stream_herd_places_formats[];

/* the answer when no key is configured */
extern ngx_str_t  ngx_stream_herd_places_no_key;


#endif /* _NGX_STREAM_HERD_PLACES_H_INCLUDED_ */
