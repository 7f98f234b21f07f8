
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_stream_herd_module.h"


#define NGX_STREAM_HERD_MIN_LINE  64
#define NGX_STREAM_HERD_MAX_LINE  (1024 * 1024)


static void *ngx_stream_herd_create_main_conf(ngx_conf_t *cf);
static void *ngx_stream_herd_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_herd_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_stream_herd_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_herd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_stream_herd_peer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
#if (NGX_STREAM_SSL)
static char *ngx_stream_herd_merge_ssl(ngx_conf_t *cf,
    ngx_stream_herd_srv_conf_t *prev, ngx_stream_herd_srv_conf_t *conf);
#endif
static ngx_int_t ngx_stream_herd_init_process(ngx_cycle_t *cycle);
static void ngx_stream_herd_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_stream_herd_postconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_stream_herd_commands[] = {

    { ngx_string("herd_zone"),
      NGX_STREAM_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_stream_herd_zone,
      0,
      0,
      NULL },

    { ngx_string("herd"),
      NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_herd,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("herd_peer"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE2,
      ngx_stream_herd_peer,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("herd_peer_secret"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, secret),
      NULL },

#if (NGX_STREAM_SSL)

    { ngx_string("herd_peer_ssl"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, peer_ssl),
      NULL },

    { ngx_string("herd_peer_ssl_certificate"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, peer_ssl_certificate),
      NULL },

    { ngx_string("herd_peer_ssl_certificate_key"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, peer_ssl_certificate_key),
      NULL },

    { ngx_string("herd_peer_ssl_trusted_certificate"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, peer_ssl_trusted_certificate),
      NULL },

    { ngx_string("herd_peer_require_certificate"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, require_certificate),
      NULL },

#endif

    { ngx_string("herd_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, timeout),
      NULL },

    { ngx_string("herd_max_line"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, max_line),
      NULL },

    { ngx_string("herd_places_key"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.key),
      NULL },

    { ngx_string("herd_places_api"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.api),
      &ngx_stream_herd_places_apis },

    { ngx_string("herd_places_url"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.url),
      NULL },

    { ngx_string("herd_places_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.timeout),
      NULL },

    { ngx_string("herd_places_connect_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.connect_timeout),
      NULL },

    { ngx_string("herd_places_max_size"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.max_size),
      NULL },

    { ngx_string("herd_places_format"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.format),
      &ngx_stream_herd_places_formats },

    { ngx_string("herd_places_concurrency"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.concurrency),
      NULL },

    { ngx_string("herd_places_ssl_trusted_certificate"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_herd_places_set_file,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.ca_file),
      NULL },

    { ngx_string("herd_places_proxy"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_herd_srv_conf_t, places.proxy),
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_herd_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_stream_herd_postconfiguration,     /* postconfiguration */

    ngx_stream_herd_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_herd_create_srv_conf,       /* create server configuration */
    ngx_stream_herd_merge_srv_conf         /* merge server configuration */
};


ngx_module_t  ngx_stream_herd_module = {
    NGX_MODULE_V1,
    &ngx_stream_herd_module_ctx,           /* module context */
    ngx_stream_herd_commands,              /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_stream_herd_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_stream_herd_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_stream_herd_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_stream_herd_places_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_stream_herd_peer_init_process(cycle);
}


static void
ngx_stream_herd_exit_process(ngx_cycle_t *cycle)
{
    ngx_stream_herd_peer_exit_process(cycle);
    ngx_stream_herd_places_exit_process(cycle);
}


/*
 * Logs protocol text at info, escaped: one log entry per call, whatever
 * bytes a client sent.
 */

void
ngx_stream_herd_log_text(ngx_log_t *log, ngx_str_t *name, char *what,
    u_char *p, size_t len)
{
    u_char  *last;
    u_char   buf[NGX_MAX_ERROR_STR / 2];

    if (log->log_level < NGX_LOG_INFO) {
        return;
    }

    last = ngx_stream_herd_escape(buf, buf + sizeof(buf), p, len);

    ngx_log_error(NGX_LOG_INFO, log, 0, "herd %V: %s \"%*s\"",
                  name, what, (size_t) (last - buf), buf);
}


static void *
ngx_stream_herd_create_main_conf(ngx_conf_t *cf)
{
    ngx_stream_herd_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_herd_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&hmcf->servers, cf->pool, 4,
                       sizeof(ngx_stream_herd_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return hmcf;
}


static void *
ngx_stream_herd_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_herd_srv_conf_t  *hscf;

    hscf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_herd_srv_conf_t));
    if (hscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hscf->name = { 0, NULL };
     *     hscf->shm_zone = NULL;
     *     hscf->peers = NULL;
     *     hscf->secret = { 0, NULL };
     *     hscf->links = { 0 };
     *     hscf->cscf = NULL;
     *     hscf->file = NULL;
     *     hscf->line = 0;
     */

    hscf->timeout = NGX_CONF_UNSET_MSEC;
    hscf->max_line = NGX_CONF_UNSET_SIZE;

#if (NGX_STREAM_SSL)
    hscf->peer_ssl = NGX_CONF_UNSET;
    hscf->require_certificate = NGX_CONF_UNSET;
#endif

    ngx_stream_herd_places_create_conf(cf, &hscf->places);

    return hscf;
}


static char *
ngx_stream_herd_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_stream_herd_srv_conf_t *prev = parent;
    ngx_stream_herd_srv_conf_t *conf = child;

    ngx_uint_t               i;
    ngx_stream_herd_peer_t  *peers;

    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 600000);
    ngx_conf_merge_size_value(conf->max_line, prev->max_line, 4096);

    if (conf->timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"herd_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->max_line < NGX_STREAM_HERD_MIN_LINE
        || conf->max_line > NGX_STREAM_HERD_MAX_LINE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"herd_max_line\" must be between %d and %d "
                           "bytes, not %uz", NGX_STREAM_HERD_MIN_LINE,
                           NGX_STREAM_HERD_MAX_LINE, conf->max_line);
        return NGX_CONF_ERROR;
    }

    if (ngx_stream_herd_places_merge_conf(cf, &prev->places, &conf->places)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->secret, prev->secret, "");

    if (conf->secret.len && conf->secret.len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"herd_peer_secret\" must be at least 16 "
                           "characters long");
        return NGX_CONF_ERROR;
    }

#if (NGX_STREAM_SSL)
    if (ngx_stream_herd_merge_ssl(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }
#endif

    if (conf->peers == NULL) {
        return NGX_CONF_OK;
    }

    peers = conf->peers->elts;

    if (conf->name.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"herd_peer %V\" is given in a server without "
                           "\"herd\"", &peers[0].name);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < conf->peers->nelts; i++) {
        if (peers[i].name.len == conf->name.len
            && ngx_strncmp(peers[i].name.data, conf->name.data,
                           conf->name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "herd server \"%V\" cannot be its own peer",
                               &conf->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


#if (NGX_STREAM_SSL)

/*
 * TLS on the links a server opens to its peers: an SSL context per herd
 * server, with its client certificate and the CA that signs the peers'.
 */

static char *
ngx_stream_herd_merge_ssl(ngx_conf_t *cf, ngx_stream_herd_srv_conf_t *prev,
    ngx_stream_herd_srv_conf_t *conf)
{
    ngx_pool_cleanup_t  *cln;

    ngx_conf_merge_value(conf->peer_ssl, prev->peer_ssl, 0);
    ngx_conf_merge_str_value(conf->peer_ssl_certificate,
                             prev->peer_ssl_certificate, "");
    ngx_conf_merge_str_value(conf->peer_ssl_certificate_key,
                             prev->peer_ssl_certificate_key, "");
    ngx_conf_merge_str_value(conf->peer_ssl_trusted_certificate,
                             prev->peer_ssl_trusted_certificate, "");
    ngx_conf_merge_value(conf->require_certificate,
                         prev->require_certificate, 0);

    if (!conf->peer_ssl || conf->name.data == NULL || conf->peers == NULL) {
        return NGX_CONF_OK;
    }

    if ((conf->peer_ssl_certificate.len == 0)
        != (conf->peer_ssl_certificate_key.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"herd_peer_ssl_certificate\" and "
                           "\"herd_peer_ssl_certificate_key\" go together");
        return NGX_CONF_ERROR;
    }

    conf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (conf->ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->ssl->log = cf->log;

    if (ngx_ssl_create(conf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(conf->ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = conf->ssl;

    if (conf->peer_ssl_certificate.len
        && ngx_ssl_certificate(cf, conf->ssl, &conf->peer_ssl_certificate,
                               &conf->peer_ssl_certificate_key, NULL)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->peer_ssl_trusted_certificate.len
        && ngx_ssl_trusted_certificate(cf, conf->ssl,
                                       &conf->peer_ssl_trusted_certificate,
                                       2)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}

#endif


/* herd_zone zone=name:size; */

static char *
ngx_stream_herd_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                  *p;
    ssize_t                  size;
    ngx_str_t               *value, name, s;
    ngx_shm_zone_t          *shm_zone;
    ngx_stream_herd_zone_t  *zone;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", "
                           "expected zone=name:size", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;

    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size in \"%V\", "
                           "expected zone=name:size", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.len = p - name.data;

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name in \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: at least %uzk",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    if ((uint64_t) size > NGX_STREAM_HERD_ZONE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too large: at most %uLm",
                           &value[1],
                           (uint64_t) NGX_STREAM_HERD_ZONE_MAX >> 20);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_stream_herd_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "herd_zone \"%V\" is already declared", &name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_stream_herd_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;

    shm_zone->init = ngx_stream_herd_zone_init;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


/* herd name zone=name; */

static char *
ngx_stream_herd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_herd_srv_conf_t  *hscf = conf;

    ngx_str_t                     *value, name;
    ngx_uint_t                     i;
    ngx_stream_core_srv_conf_t    *cscf;
    ngx_stream_herd_srv_conf_t   **hscfp;
    ngx_stream_herd_main_conf_t   *hmcf;

    if (hscf->name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty herd server name");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (ngx_stream_herd_is_space(value[1].data[i])
            || value[1].data[i] < 0x21 || value[1].data[i] == 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid herd server name \"%V\": it must "
                               "be one word of printable characters",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    hscf->name = value[1];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (hscf->shm_zone) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            if (name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            hscf->shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                                   &ngx_stream_herd_module);
            if (hscf->shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (hscf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "herd server \"%V\" needs a zone: "
                           "\"herd %V zone=NAME;\" with "
                           "\"herd_zone zone=NAME:SIZE;\" in the stream block",
                           &value[1], &value[1]);
        return NGX_CONF_ERROR;
    }

    hscf->file = cf->conf_file->file.name.data;
    hscf->line = cf->conf_file->line;

    hmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_herd_module);

    hscfp = ngx_array_push(&hmcf->servers);
    if (hscfp == NULL) {
        return NGX_CONF_ERROR;
    }

    *hscfp = hscf;

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);
    cscf->handler = ngx_stream_herd_handler;

    hscf->cscf = cscf;

    return NGX_CONF_OK;
}


/* herd_peer name address; */

static char *
ngx_stream_herd_peer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_herd_srv_conf_t  *hscf = conf;

    ngx_url_t                u;
    ngx_str_t               *value;
    ngx_uint_t               i;
    ngx_stream_herd_peer_t  *peer;

    value = cf->args->elts;

    if (hscf->peers == NULL) {
        hscf->peers = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_stream_herd_peer_t));
        if (hscf->peers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] < 0x21 || value[1].data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid herd peer name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    peer = hscf->peers->elts;

    for (i = 0; i < hscf->peers->nelts; i++) {
        if (peer[i].name.len == value[1].len
            && ngx_strncmp(peer[i].name.data, value[1].data,
                           value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate herd peer \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[2];
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in herd peer \"%V\" address \"%V\"",
                               u.err, &value[1], &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.no_port || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "herd peer \"%V\" needs an address with a port, "
                           "not \"%V\"", &value[1], &u.url);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < hscf->peers->nelts; i++) {
        if (ngx_cmp_sockaddr(peer[i].addr.sockaddr, peer[i].addr.socklen,
                             u.addrs[0].sockaddr, u.addrs[0].socklen, 1)
            == NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "herd peers \"%V\" and \"%V\" have the same "
                               "address %V", &peer[i].name, &value[1],
                               &u.addrs[0].name);
            return NGX_CONF_ERROR;
        }
    }

    peer = ngx_array_push(hscf->peers);
    if (peer == NULL) {
        return NGX_CONF_ERROR;
    }

    peer->name = value[1];
    peer->addr = u.addrs[0];

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "herd peer \"%V\": \"%V\" has %ui addresses, "
                           "using %V", &value[1], &u.url, u.naddrs,
                           &u.addrs[0].name);
    }

    return NGX_CONF_OK;
}


/*
 * Checks what can only be checked once the whole stream block is read:
 * every zone declared, no zone shared by two herd servers, no name used
 * twice.
 */

static ngx_int_t
ngx_stream_herd_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                    i, j;
    ngx_stream_herd_srv_conf_t  **servers, *a, *b;
    ngx_stream_herd_main_conf_t  *hmcf;

    hmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_herd_module);

    servers = hmcf->servers.elts;

    for (i = 0; i < hmcf->servers.nelts; i++) {
        a = servers[i];

        if (a->shm_zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "herd_zone \"%V\" used by herd server \"%V\" in "
                          "%s:%ui is not declared: add \"herd_zone "
                          "zone=%V:SIZE;\" to the stream block",
                          &a->shm_zone->shm.name, &a->name, a->file, a->line,
                          &a->shm_zone->shm.name);
            return NGX_ERROR;
        }

        for (j = 0; j < i; j++) {
            b = servers[j];

            if (a->shm_zone == b->shm_zone) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "herd_zone \"%V\" is used by herd servers "
                              "\"%V\" (%s:%ui) and \"%V\" (%s:%ui): each "
                              "herd server needs a zone of its own",
                              &a->shm_zone->shm.name, &b->name, b->file,
                              b->line, &a->name, a->file, a->line);
                return NGX_ERROR;
            }

            if (a->name.len == b->name.len
                && ngx_strncmp(a->name.data, b->name.data, a->name.len) == 0)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "herd server \"%V\" is defined twice, in "
                              "%s:%ui and %s:%ui", &a->name, b->file,
                              b->line, a->file, a->line);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}
