
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_stream_herd_places.h"


ngx_str_t  ngx_stream_herd_places_no_key = ngx_string(
    "{\n"
    "   \"error_message\" : "
        "\"No Places API key is configured on this herd server\",\n"
    "   \"html_attributions\" : [],\n"
    "   \"results\" : [],\n"
    "   \"status\" : \"REQUEST_DENIED\"\n"
    "}");


ngx_stream_herd_places_waiter_t *
ngx_stream_herd_places_query(ngx_stream_herd_places_conf_t *pcf,
    ngx_str_t *location, ngx_uint_t radius_m, ngx_uint_t bound,
    ngx_stream_herd_places_handler_pt handler, void *data, ngx_log_t *log,
    ngx_str_t *error)
{
    /* no directive sets a key yet: the Places client arrives with issue 3 */

    *error = ngx_stream_herd_places_no_key;

    return NULL;
}


void
ngx_stream_herd_places_cancel(ngx_stream_herd_places_waiter_t *w)
{
}
