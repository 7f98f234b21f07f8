
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


typedef struct {
    ngx_str_t                 name;        /* herd server name */
    ngx_shm_zone_t           *shm_zone;    /* data: ngx_stream_herd_zone_t */

    ngx_msec_t                timeout;
    size_t                    max_line;

    ngx_stream_herd_places_conf_t  places;

    u_char                   *file;        /* where "herd" was given */
    ngx_uint_t                line;
} ngx_stream_herd_srv_conf_t;


typedef struct {
    ngx_array_t               servers;     /* ngx_stream_herd_srv_conf_t * */
} ngx_stream_herd_main_conf_t;


void ngx_stream_herd_handler(ngx_stream_session_t *s);


extern ngx_module_t  ngx_stream_herd_module;


#endif /* _NGX_STREAM_HERD_MODULE_H_INCLUDED_ */
