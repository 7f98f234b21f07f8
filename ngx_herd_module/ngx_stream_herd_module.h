
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_MODULE_H_INCLUDED_
#define _NGX_STREAM_HERD_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_stream_herd_proto.h"
#include "ngx_stream_herd_zone.h"
#include "ngx_stream_herd_places.h"
#include "ngx_stream_herd_peer.h"


typedef struct {
    ngx_str_t                 name;        /* herd server name */
    ngx_shm_zone_t           *shm_zone;    /* data: ngx_stream_herd_zone_t */

    ngx_msec_t                timeout;
    size_t                    max_line;

    ngx_stream_herd_places_conf_t  places;

    ngx_array_t              *peers;       /* ngx_stream_herd_peer_t */
    ngx_str_t                 secret;      /* herd_peer_secret */

#if (NGX_STREAM_SSL)
    ngx_flag_t                peer_ssl;
    ngx_str_t                 peer_ssl_certificate;
    ngx_str_t                 peer_ssl_certificate_key;
    ngx_str_t                 peer_ssl_trusted_certificate;
    ngx_ssl_t                *ssl;         /* for links, when peer_ssl */
    ngx_flag_t                require_certificate;
#endif
    ngx_array_t               links;       /* per worker: links to peers */
    ngx_stream_core_srv_conf_t  *cscf;     /* its error_log */

    u_char                   *file;        /* where "herd" was given */
    ngx_uint_t                line;
} ngx_stream_herd_srv_conf_t;


typedef struct {
    ngx_array_t               servers;     /* ngx_stream_herd_srv_conf_t * */
} ngx_stream_herd_main_conf_t;


void ngx_stream_herd_handler(ngx_stream_session_t *s);

void ngx_stream_herd_log_text(ngx_log_t *log, ngx_str_t *name, char *what,
    u_char *p, size_t len);

ngx_int_t ngx_stream_herd_peer_init_process(ngx_cycle_t *cycle);
void ngx_stream_herd_peer_exit_process(ngx_cycle_t *cycle);
void ngx_stream_herd_peer_sessions_done(void);
void ngx_stream_herd_peer_flood(ngx_stream_herd_srv_conf_t *hscf,
    ngx_str_t *line, ngx_stream_herd_peer_t *except);
ngx_stream_herd_peer_t *ngx_stream_herd_peer_find(
    ngx_stream_herd_srv_conf_t *hscf, ngx_str_t *name);
ngx_int_t ngx_stream_herd_peer_update(ngx_stream_herd_srv_conf_t *hscf,
    ngx_stream_herd_peer_t *from, u_char *p, size_t len, ngx_log_t *log);
ngx_int_t ngx_stream_herd_test_connect(ngx_connection_t *c);


extern ngx_module_t  ngx_stream_herd_module;

/* herd sessions (clients and neighbours) open in this worker */
extern ngx_uint_t    ngx_stream_herd_sessions;


#endif /* _NGX_STREAM_HERD_MODULE_H_INCLUDED_ */
