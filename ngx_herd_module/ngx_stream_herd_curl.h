
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_CURL_H_INCLUDED_
#define _NGX_STREAM_HERD_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <curl/curl.h>


/*
 * libcurl's multi_socket interface driven by nginx's events and timers:
 * one multi handle per worker process, never a blocking call.
 *
 * A transfer is created with ngx_stream_herd_curl_create(), given its
 * options (the fields below and ngx_stream_herd_curl_add_header()) and
 * started with ngx_stream_herd_curl_start().  When it ends, its handler is
 * called once, from an nginx event handler and never from inside a libcurl
 * callback, with result, status and the response body filled in; the
 * transfer is freed when the handler returns.  A transfer that is no
 * longer wanted is stopped and freed with ngx_stream_herd_curl_cancel();
 * its handler is then never called.
 */


typedef struct ngx_stream_herd_curl_s  ngx_stream_herd_curl_t;

typedef void (*ngx_stream_herd_curl_handler_pt)(ngx_stream_herd_curl_t *hc);


struct ngx_stream_herd_curl_s {
    CURL                             *easy;
    struct curl_slist                *headers;
    ngx_queue_t                       queue;     /* transfers in flight */

    /* request: set by the caller before ngx_stream_herd_curl_start() */
    char                             *url;       /* copied by libcurl */
    u_char                           *post;      /* NULL: GET */
    size_t                            post_len;
    ngx_msec_t                        timeout;
    ngx_msec_t                        connect_timeout;
    size_t                            max_size;  /* response body cap */
    char                             *ca_file;   /* NULL: libcurl's own */
    char                             *proxy;     /* NULL: none */

    ngx_stream_herd_curl_handler_pt   handler;
    void                             *data;
    ngx_log_t                        *log;       /* valid until handler */

    /* response: valid while the handler runs */
    CURLcode                          result;
    long                              status;    /* HTTP status, 0: none */
    u_char                           *start;     /* body, heap, NUL */
    u_char                           *last;
    u_char                           *end;
    char                              error[CURL_ERROR_SIZE];

    unsigned                          running:1;
    unsigned                          too_big:1;
    unsigned                          no_memory:1;
};


ngx_int_t ngx_stream_herd_curl_init_process(ngx_cycle_t *cycle,
    ngx_uint_t max_connects);
void ngx_stream_herd_curl_exit_process(ngx_cycle_t *cycle);

ngx_stream_herd_curl_t *ngx_stream_herd_curl_create(ngx_log_t *log);
ngx_int_t ngx_stream_herd_curl_add_header(ngx_stream_herd_curl_t *hc,
    char *header);
ngx_int_t ngx_stream_herd_curl_start(ngx_stream_herd_curl_t *hc);
void ngx_stream_herd_curl_cancel(ngx_stream_herd_curl_t *hc);


#endif /* _NGX_STREAM_HERD_CURL_H_INCLUDED_ */
