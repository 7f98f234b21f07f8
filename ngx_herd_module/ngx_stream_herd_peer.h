
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_PEER_H_INCLUDED_
#define _NGX_STREAM_HERD_PEER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


/* a configured neighbour: herd_peer name address; */
typedef struct {
    ngx_str_t                 name;
    ngx_addr_t                addr;
} ngx_stream_herd_peer_t;


typedef struct ngx_stream_herd_link_s  ngx_stream_herd_link_t;


#endif /* _NGX_STREAM_HERD_PEER_H_INCLUDED_ */
