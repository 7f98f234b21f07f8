
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_stream_herd_module.h"
#include "ngx_stream_herd_curl.h"
#include "ngx_stream_herd_json.h"


/*
 * WHATSAT's Nearby Search: one upstream call per distinct (server,
 * location, radius, bound) in flight in a worker, its answer shaped once
 * (results cut to the bound, the New API translated to the legacy
 * envelope, Google's legacy formatting) and handed to every waiter.
 */


#define NGX_STREAM_HERD_PLACES_LEGACY_URL                                    \
    "https://maps.googleapis.com/maps/api/place/nearbysearch/json"
#define NGX_STREAM_HERD_PLACES_NEW_URL                                       \
    "https://places.googleapis.com/v1/places:searchNearby"

#define NGX_STREAM_HERD_PLACES_FIELD_MASK                                    \
    "places.id,places.displayName,places.location,places.types,"            \
    "places.shortFormattedAddress,places.rating,places.userRatingCount,"    \
    "places.businessStatus"

#define NGX_STREAM_HERD_PLACES_MIN_SIZE  1024


typedef struct ngx_stream_herd_places_req_s  ngx_stream_herd_places_req_t;


struct ngx_stream_herd_places_waiter_s {
    ngx_queue_t                         queue;
    ngx_stream_herd_places_req_t       *req;
    ngx_stream_herd_places_handler_pt   handler;
    void                               *data;
};


/* one upstream call in flight; heap, the location follows it */
struct ngx_stream_herd_places_req_s {
    ngx_str_node_t                      sn;        /* the question */
    ngx_queue_t                         queue;
    ngx_queue_t                         waiters;
    ngx_uint_t                          nwaiters;

    /* identity only: never dereferenced once the call has started */
    ngx_stream_herd_places_conf_t      *pcf;

    ngx_str_t                           location;
    ngx_uint_t                          radius_m;
    ngx_uint_t                          bound;
    ngx_uint_t                          api;
    ngx_uint_t                          format;
    size_t                              max_size;

    ngx_stream_herd_curl_t             *curl;
    ngx_log_t                           log;

    unsigned                            done:1;
};


typedef struct {
    ngx_queue_t                         requests;
    ngx_rbtree_t                        tree;      /* the same, by question */
    ngx_rbtree_node_t                   sentinel;
    ngx_uint_t                          in_flight;
    ngx_uint_t                          calls;      /* upstream calls made */
    ngx_uint_t                          avoided;    /* WHATSATs that joined */
    unsigned                            ready:1;
} ngx_stream_herd_places_worker_t;


static uint32_t ngx_stream_herd_places_key(
    ngx_stream_herd_places_conf_t *pcf, ngx_str_t *location,
    ngx_uint_t radius_m, ngx_uint_t bound);
static ngx_stream_herd_places_req_t *ngx_stream_herd_places_find(
    ngx_stream_herd_places_worker_t *w, ngx_stream_herd_places_conf_t *pcf,
    ngx_str_t *location, ngx_uint_t radius_m, ngx_uint_t bound);
static ngx_stream_herd_places_req_t *ngx_stream_herd_places_start(
    ngx_stream_herd_places_conf_t *pcf, ngx_str_t *location,
    ngx_uint_t radius_m, ngx_uint_t bound, ngx_log_t *log);
static ngx_int_t ngx_stream_herd_places_request(
    ngx_stream_herd_places_req_t *r, ngx_stream_herd_places_conf_t *pcf,
    ngx_stream_herd_curl_t *hc);
static u_char *ngx_stream_herd_places_coord(u_char *p, ngx_str_t *s);
static void ngx_stream_herd_places_free(ngx_stream_herd_places_req_t *r);
static void ngx_stream_herd_places_done(ngx_stream_herd_curl_t *hc);
static const char *ngx_stream_herd_places_curl_error(
    ngx_stream_herd_places_req_t *r, ngx_stream_herd_curl_t *hc);


ngx_conf_enum_t  ngx_stream_herd_places_apis[] = {
    { ngx_string("legacy"), NGX_STREAM_HERD_PLACES_LEGACY },
    { ngx_string("new"), NGX_STREAM_HERD_PLACES_NEW },
    { ngx_null_string, 0 }
};


ngx_conf_enum_t  ngx_stream_herd_places_formats[] = {
    { ngx_string("pretty"), NGX_STREAM_HERD_PLACES_PRETTY },
    { ngx_string("compact"), NGX_STREAM_HERD_PLACES_COMPACT },
    { ngx_null_string, 0 }
};


ngx_str_t  ngx_stream_herd_places_no_key = ngx_string(
    "{\n"
    "   \"error_message\" : "
        "\"No Places API key is configured on this herd server\",\n"
    "   \"html_attributions\" : [],\n"
    "   \"results\" : [],\n"
    "   \"status\" : \"REQUEST_DENIED\"\n"
    "}");


/* the answer that needs no memory: [pretty, compact] */

static ngx_str_t  ngx_stream_herd_places_busy[] = {
    ngx_string(
    "{\n"
    "   \"error_message\" : \"Too many Places requests in flight on this "
        "herd server (herd_places_concurrency), try again later\",\n"
    "   \"html_attributions\" : [],\n"
    "   \"results\" : [],\n"
    "   \"status\" : \"UNKNOWN_ERROR\"\n"
    "}"),
    ngx_string(
    "{\"error_message\":\"Too many Places requests in flight on this "
        "herd server (herd_places_concurrency), try again later\","
    "\"html_attributions\":[],\"results\":[],\"status\":\"UNKNOWN_ERROR\"}")
};


static ngx_stream_herd_places_worker_t  ngx_stream_herd_places_worker;


/*
 * Calls in flight are kept in a tree by question, so that a WHATSAT finds
 * the call it can share in log(calls) steps however many are in flight.
 */

static uint32_t
ngx_stream_herd_places_key(ngx_stream_herd_places_conf_t *pcf,
    ngx_str_t *location, ngx_uint_t radius_m, ngx_uint_t bound)
{
    uint32_t  crc;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &pcf, sizeof(pcf));
    ngx_crc32_update(&crc, location->data, location->len);
    ngx_crc32_update(&crc, (u_char *) &radius_m, sizeof(ngx_uint_t));
    ngx_crc32_update(&crc, (u_char *) &bound, sizeof(ngx_uint_t));
    ngx_crc32_final(crc);

    return crc;
}


/*
 * The tree is an ngx_str_node_t tree of the locations, keyed by a hash of
 * the whole question.  A call found for the same location whose other
 * parts differ (the hashes collided) is not shared: a new call starts.
 */

static ngx_stream_herd_places_req_t *
ngx_stream_herd_places_find(ngx_stream_herd_places_worker_t *w,
    ngx_stream_herd_places_conf_t *pcf, ngx_str_t *location,
    ngx_uint_t radius_m, ngx_uint_t bound)
{
    ngx_str_node_t                *sn;
    ngx_stream_herd_places_req_t  *r;

    sn = ngx_str_rbtree_lookup(&w->tree, location,
                               ngx_stream_herd_places_key(pcf, location,
                                                          radius_m, bound));
    if (sn == NULL) {
        return NULL;
    }

    r = (ngx_stream_herd_places_req_t *) sn;

    if (r->pcf != pcf || r->radius_m != radius_m || r->bound != bound) {
        return NULL;
    }

    return r;
}


ngx_stream_herd_places_waiter_t *
ngx_stream_herd_places_query(ngx_stream_herd_places_conf_t *pcf,
    ngx_str_t *location, ngx_uint_t radius_m, ngx_uint_t bound,
    ngx_stream_herd_places_handler_pt handler, void *data, ngx_log_t *log,
    ngx_str_t *error)
{
    ngx_uint_t                        compact;
    ngx_stream_herd_places_req_t     *r;
    ngx_stream_herd_places_waiter_t  *wt;
    ngx_stream_herd_places_worker_t  *w;

    w = &ngx_stream_herd_places_worker;
    compact = (pcf->format == NGX_STREAM_HERD_PLACES_COMPACT);

    if (!w->ready) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "herd places: no Places client in this process");
        *error = *ngx_stream_herd_json_failed(pcf->format);
        return NULL;
    }

    wt = ngx_alloc(sizeof(ngx_stream_herd_places_waiter_t), log);
    if (wt == NULL) {
        *error = *ngx_stream_herd_json_failed(pcf->format);
        return NULL;
    }

    wt->handler = handler;
    wt->data = data;

    /* the same question in flight: wait for its answer */

    r = ngx_stream_herd_places_find(w, pcf, location, radius_m, bound);

    if (r != NULL) {
        wt->req = r;
        ngx_queue_insert_tail(&r->waiters, &wt->queue);
        r->nwaiters++;

        w->avoided++;

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "herd places: joined the upstream call in flight "
                      "for %V, radius %ui m, bound %ui (%ui waiting); "
                      "upstream calls avoided by this worker: %ui",
                      location, radius_m, bound, r->nwaiters,
                      w->avoided);
        return wt;
    }

    if (w->in_flight >= pcf->concurrency) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "herd places: %ui upstream calls in flight in this "
                      "worker, herd_places_concurrency is %ui: answering "
                      "UNKNOWN_ERROR", w->in_flight, pcf->concurrency);
        ngx_free(wt);
        *error = ngx_stream_herd_places_busy[compact];
        return NULL;
    }

    r = ngx_stream_herd_places_start(pcf, location, radius_m, bound, log);

    if (r == NULL) {
        ngx_free(wt);
        *error = *ngx_stream_herd_json_failed(pcf->format);
        return NULL;
    }

    wt->req = r;
    ngx_queue_insert_tail(&r->waiters, &wt->queue);
    r->nwaiters = 1;

    return wt;
}


/* never from inside a libcurl callback (sessions are not finalized there) */

void
ngx_stream_herd_places_cancel(ngx_stream_herd_places_waiter_t *wt)
{
    ngx_stream_herd_places_req_t     *r;
    ngx_stream_herd_places_worker_t  *w;

    w = &ngx_stream_herd_places_worker;

    if (!w->ready) {
        /* exit_process freed every waiter */
        return;
    }

    r = wt->req;

    ngx_queue_remove(&wt->queue);
    ngx_free(wt);

    r->nwaiters--;

    if (r->nwaiters || r->done) {
        return;
    }

    /* nobody waits for the answer any more: stop the upstream call */

    ngx_log_error(NGX_LOG_INFO, &r->log, 0,
                  "herd places: upstream call for %V, radius %ui m, "
                  "bound %ui cancelled: its clients went away",
                  &r->location, r->radius_m, r->bound);

    ngx_queue_remove(&r->queue);
    ngx_rbtree_delete(&w->tree, &r->sn.node);
    w->in_flight--;

    ngx_stream_herd_places_free(r);
}


static ngx_stream_herd_places_req_t *
ngx_stream_herd_places_start(ngx_stream_herd_places_conf_t *pcf,
    ngx_str_t *location, ngx_uint_t radius_m, ngx_uint_t bound,
    ngx_log_t *log)
{
    ngx_stream_herd_curl_t           *hc;
    ngx_stream_herd_places_req_t     *r;
    ngx_stream_herd_places_worker_t  *w;

    w = &ngx_stream_herd_places_worker;

    r = ngx_calloc(sizeof(ngx_stream_herd_places_req_t) + location->len,
                   log);
    if (r == NULL) {
        return NULL;
    }

    ngx_queue_init(&r->waiters);

    r->pcf = pcf;
    r->location.data = (u_char *) (r + 1);
    r->location.len = location->len;
    ngx_memcpy(r->location.data, location->data, location->len);
    r->radius_m = radius_m;
    r->bound = bound;
    r->api = pcf->api;
    r->format = pcf->format;
    r->max_size = pcf->max_size;

    /* the server's error_log, without the client's context */

    r->log = *log;
    r->log.connection = 0;
    r->log.handler = NULL;
    r->log.data = NULL;
    r->log.action = NULL;

    hc = ngx_stream_herd_curl_create(&r->log);
    if (hc == NULL) {
        ngx_free(r);
        return NULL;
    }

    hc->handler = ngx_stream_herd_places_done;
    hc->data = r;
    hc->timeout = pcf->timeout;
    hc->connect_timeout = pcf->connect_timeout;
    hc->max_size = pcf->max_size;
    hc->ca_file = pcf->ca_file.len ? (char *) pcf->ca_file.data : NULL;
    hc->proxy = pcf->proxy.len ? (char *) pcf->proxy.data : NULL;

    if (ngx_stream_herd_places_request(r, pcf, hc) != NGX_OK) {
        ngx_stream_herd_curl_cancel(hc);
        ngx_free(r);
        return NULL;
    }

    r->curl = hc;

    r->sn.node.key = ngx_stream_herd_places_key(pcf, location, radius_m,
                                                 bound);
    r->sn.str = r->location;

    ngx_queue_insert_tail(&w->requests, &r->queue);
    ngx_rbtree_insert(&w->tree, &r->sn.node);
    w->in_flight++;
    w->calls++;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "herd places: upstream call for %V, radius %ui m, "
                  "bound %ui (%s API); upstream calls by this worker: %ui",
                  location, radius_m, bound,
                  r->api == NGX_STREAM_HERD_PLACES_LEGACY ? "legacy" : "New",
                  w->calls);

    return r;
}


/*
 * Builds the request and starts it.  Legacy: GET
 * URL?location=LAT,LNG&radius=METRES&key=KEY (no "+": it would decode to
 * a space).  New: POST URL with a JSON body and the key in X-Goog-Api-Key.
 * The key is never logged.
 */

static ngx_int_t
ngx_stream_herd_places_request(ngx_stream_herd_places_req_t *r,
    ngx_stream_herd_places_conf_t *pcf, ngx_stream_herd_curl_t *hc)
{
    u_char     *p, *buf;
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   lat, lng;

    if (ngx_stream_herd_parse_location(r->location.data, r->location.len,
                                       &lat, &lng)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, &r->log, 0,
                      "herd places: invalid location \"%V\"", &r->location);
        return NGX_ERROR;
    }

    if (r->api == NGX_STREAM_HERD_PLACES_LEGACY) {

        len = pcf->url.len + sizeof("?location=,&radius=&key=") - 1
              + lat.len + lng.len + NGX_INT_T_LEN
              + pcf->escaped_key.len + 1;

        buf = ngx_alloc(len, &r->log);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(buf, pcf->url.data, pcf->url.len);
        *p++ = ngx_strlchr(pcf->url.data, pcf->url.data + pcf->url.len, '?')
               ? '&' : '?';
        p = ngx_cpymem(p, "location=", sizeof("location=") - 1);
        p = ngx_stream_herd_places_coord(p, &lat);
        *p++ = ',';
        p = ngx_stream_herd_places_coord(p, &lng);
        p = ngx_sprintf(p, "&radius=%ui&key=", r->radius_m);
        p = ngx_cpymem(p, pcf->escaped_key.data, pcf->escaped_key.len);
        *p = '\0';

        hc->url = (char *) buf;

        /* libcurl copies the URL */

        rc = ngx_stream_herd_curl_start(hc);

        ngx_explicit_memzero(buf, len);
        ngx_free(buf);

        hc->url = NULL;

        return rc;
    }

    hc->url = (char *) pcf->url.data;

    len = sizeof("{\"maxResultCount\":,\"locationRestriction\":{\"circle\":"
                 "{\"center\":{\"latitude\":,\"longitude\":},"
                 "\"radius\":}}}") - 1
          + 2 * NGX_INT_T_LEN + lat.len + lng.len;

    buf = ngx_alloc(ngx_max(len, sizeof("X-Goog-Api-Key: ") + pcf->key.len),
                    &r->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "X-Goog-Api-Key: %V%Z", &pcf->key);

    rc = ngx_stream_herd_curl_add_header(hc, (char *) buf);

    ngx_explicit_memzero(buf, p - buf);

    if (rc != NGX_OK
        || ngx_stream_herd_curl_add_header(hc,
                                           "Content-Type: application/json")
           != NGX_OK
        || ngx_stream_herd_curl_add_header(hc,
               "X-Goog-FieldMask: " NGX_STREAM_HERD_PLACES_FIELD_MASK)
           != NGX_OK)
    {
        ngx_free(buf);
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "{\"maxResultCount\":%ui,"
                    "\"locationRestriction\":{\"circle\":{\"center\":"
                    "{\"latitude\":", r->bound);
    p = ngx_stream_herd_places_coord(p, &lat);
    p = ngx_cpymem(p, ",\"longitude\":", sizeof(",\"longitude\":") - 1);
    p = ngx_stream_herd_places_coord(p, &lng);
    p = ngx_sprintf(p, "},\"radius\":%ui}}}", r->radius_m);

    /* copied by libcurl (CURLOPT_COPYPOSTFIELDS) */

    hc->post = buf;
    hc->post_len = p - buf;

    rc = ngx_stream_herd_curl_start(hc);

    hc->post = NULL;
    ngx_free(buf);

    return rc;
}


/* "+034.5" -> "34.5", "-0.25" -> "-0.25": a JSON number, without "+" */

static u_char *
ngx_stream_herd_places_coord(u_char *p, ngx_str_t *s)
{
    u_char  *c, *end;

    c = s->data;
    end = s->data + s->len;

    if (c < end && *c == '-') {
        *p++ = *c++;

    } else if (c < end && *c == '+') {
        c++;
    }

    while (end - c > 1 && c[0] == '0' && c[1] != '.') {
        c++;
    }

    return ngx_cpymem(p, c, end - c);
}


static void
ngx_stream_herd_places_free(ngx_stream_herd_places_req_t *r)
{
    if (r->curl) {
        ngx_stream_herd_curl_cancel(r->curl);
        r->curl = NULL;
    }

    ngx_free(r);
}


/*
 * The upstream call ended (called by ngx_stream_herd_curl.c, outside any
 * libcurl callback): shape the answer once and hand it to every waiter.
 */

static void
ngx_stream_herd_places_done(ngx_stream_herd_curl_t *hc)
{
    void                               *data;
    ngx_int_t                           rc;
    ngx_str_t                           json, reply;
    ngx_queue_t                        *q;
    const char                         *message;
    ngx_stream_herd_json_in_t           in;
    ngx_stream_herd_places_req_t       *r;
    ngx_stream_herd_places_worker_t    *w;
    ngx_stream_herd_places_waiter_t    *wt;
    ngx_stream_herd_places_handler_pt   handler;

    r = hc->data;
    w = &ngx_stream_herd_places_worker;

    /* no longer in flight: the same question now starts a new call */

    ngx_queue_remove(&r->queue);
    ngx_rbtree_delete(&w->tree, &r->sn.node);
    w->in_flight--;

    r->curl = NULL;     /* freed by the caller when this returns */
    r->done = 1;

    /* the answer in the legacy envelope, printed */

    if (hc->result != CURLE_OK) {
        message = ngx_stream_herd_places_curl_error(r, hc);
        rc = ngx_stream_herd_json_shape_error("UNKNOWN_ERROR", message,
                                              r->format, &r->log, &json);

    } else {
        in.body = hc->start;
        in.len = hc->last - hc->start;
        in.status = hc->status;
        in.api = r->api;
        in.bound = r->bound;
        in.format = r->format;
        in.location = &r->location;
        in.log = &r->log;

        rc = ngx_stream_herd_json_shape(&in, &json);
    }

    while (!ngx_queue_empty(&r->waiters)) {
        q = ngx_queue_head(&r->waiters);
        ngx_queue_remove(q);

        wt = ngx_queue_data(q, ngx_stream_herd_places_waiter_t, queue);

        handler = wt->handler;
        data = wt->data;

        ngx_free(wt);
        r->nwaiters--;

        /* may finalize its session, or ask Places again */

        reply = json;
        handler(data, &reply);
    }

    if (rc == NGX_OK) {
        ngx_free(json.data);
    }

    ngx_free(r);
}


/* why the transfer failed: logged in full, told to the client briefly */

static const char *
ngx_stream_herd_places_curl_error(ngx_stream_herd_places_req_t *r,
    ngx_stream_herd_curl_t *hc)
{
    const char  *detail;

    if (hc->too_big || hc->result == CURLE_FILESIZE_EXCEEDED) {
        ngx_log_error(NGX_LOG_ERR, &r->log, 0,
                      "herd places: upstream call for %V: the answer is "
                      "larger than herd_places_max_size %uz",
                      &r->location, r->max_size);
        return "The Places API answer was too large";
    }

    if (hc->no_memory) {
        ngx_log_error(NGX_LOG_ERR, &r->log, 0,
                      "herd places: upstream call for %V: out of memory",
                      &r->location);
        return "The herd server ran out of memory";
    }

    detail = hc->error[0] ? hc->error : curl_easy_strerror(hc->result);

    ngx_log_error(NGX_LOG_ERR, &r->log, 0,
                  "herd places: upstream call for %V failed: %s",
                  &r->location, detail);

    switch (hc->result) {

    case CURLE_OPERATION_TIMEDOUT:
        return "The Places API did not answer in time";

    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return "The Places API is unreachable";

    default:
        return "The Places API request failed";
    }
}


void
ngx_stream_herd_places_create_conf(ngx_conf_t *cf,
    ngx_stream_herd_places_conf_t *pcf)
{
    /*
     * set by ngx_pcalloc() in ngx_stream_herd_create_srv_conf():
     *
     *     pcf->key = { 0, NULL };
     *     pcf->url = { 0, NULL };
     *     pcf->escaped_key = { 0, NULL };
     *     pcf->ca_file = { 0, NULL };
     *     pcf->proxy = { 0, NULL };
     */

    pcf->api = NGX_CONF_UNSET_UINT;
    pcf->timeout = NGX_CONF_UNSET_MSEC;
    pcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    pcf->max_size = NGX_CONF_UNSET_SIZE;
    pcf->format = NGX_CONF_UNSET_UINT;
    pcf->concurrency = NGX_CONF_UNSET_UINT;
}


char *
ngx_stream_herd_places_merge_conf(ngx_conf_t *cf,
    ngx_stream_herd_places_conf_t *prev, ngx_stream_herd_places_conf_t *conf)
{
    u_char      *p;
    size_t       n;
    ngx_uint_t   i;

    ngx_conf_merge_str_value(conf->key, prev->key, "");
    ngx_conf_merge_uint_value(conf->api, prev->api,
                              NGX_STREAM_HERD_PLACES_NEW);
    ngx_conf_merge_str_value(conf->url, prev->url, "");
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 10000);
    ngx_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                              5000);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 1024 * 1024);
    ngx_conf_merge_uint_value(conf->format, prev->format,
                              NGX_STREAM_HERD_PLACES_PRETTY);
    ngx_conf_merge_uint_value(conf->concurrency, prev->concurrency, 64);
    ngx_conf_merge_str_value(conf->ca_file, prev->ca_file, "");
    ngx_conf_merge_str_value(conf->proxy, prev->proxy, "");

    if (conf->url.len == 0) {
        if (conf->api == NGX_STREAM_HERD_PLACES_LEGACY) {
            ngx_str_set(&conf->url, NGX_STREAM_HERD_PLACES_LEGACY_URL);

        } else {
            ngx_str_set(&conf->url, NGX_STREAM_HERD_PLACES_NEW_URL);
        }
    }

    if (!(conf->url.len > 7
          && ngx_strncasecmp(conf->url.data, (u_char *) "http://", 7) == 0)
        && !(conf->url.len > 8
             && ngx_strncasecmp(conf->url.data, (u_char *) "https://", 8)
                == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid herd_places_url \"%V\": it must start "
                           "with \"http://\" or \"https://\"", &conf->url);
        return NGX_CONF_ERROR;
    }

    if (conf->timeout == 0 || conf->connect_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "herd_places_timeout and "
                           "herd_places_connect_timeout must not be 0");
        return NGX_CONF_ERROR;
    }

    if (conf->max_size < NGX_STREAM_HERD_PLACES_MIN_SIZE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "herd_places_max_size must be at least %d bytes",
                           NGX_STREAM_HERD_PLACES_MIN_SIZE);
        return NGX_CONF_ERROR;
    }

    if (conf->concurrency == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "herd_places_concurrency must be at least 1");
        return NGX_CONF_ERROR;
    }

    /* the key goes into a header or a query string: one printable word */

    for (i = 0; i < conf->key.len; i++) {
        if (conf->key.data[i] <= 0x20 || conf->key.data[i] >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid herd_places_key: it must be one "
                               "word of printable ASCII characters");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->key.len) {
        n = ngx_escape_uri(NULL, conf->key.data, conf->key.len,
                           NGX_ESCAPE_URI_COMPONENT);

        p = ngx_pnalloc(cf->pool, conf->key.len + 2 * n);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_escape_uri(p, conf->key.data, conf->key.len,
                              NGX_ESCAPE_URI_COMPONENT);

        conf->escaped_key.data = p;
        conf->escaped_key.len = conf->key.len + 2 * n;
    }

    return NGX_CONF_OK;
}


/* a file name relative to the configuration prefix, NUL-terminated */

char *
ngx_stream_herd_places_set_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t        *field, *value;
    ngx_file_info_t   fi;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *field = value[1];

    if (ngx_conf_full_name(cf->cycle, field, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(field->data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_file_info_n " \"%V\" failed", field);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_stream_herd_places_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, keys, connects;
    ngx_stream_herd_srv_conf_t      **servers;
    ngx_stream_herd_main_conf_t      *hmcf;
    ngx_stream_herd_places_worker_t  *w;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    hmcf = ngx_stream_cycle_get_module_main_conf(cycle,
                                                 ngx_stream_herd_module);
    if (hmcf == NULL) {
        return NGX_OK;
    }

    servers = hmcf->servers.elts;
    keys = 0;
    connects = 0;

    for (i = 0; i < hmcf->servers.nelts; i++) {
        if (servers[i]->places.key.len) {
            keys++;
            connects = ngx_max(connects, servers[i]->places.concurrency);
        }
    }

    if (keys == 0) {
        /* WHATSAT answers REQUEST_DENIED without asking anyone */
        return NGX_OK;
    }

    w = &ngx_stream_herd_places_worker;

    if (w->ready) {
        return NGX_OK;
    }

    /*
     * as many idle connections as calls may be in flight: a worker's
     * calls count against each server's herd_places_concurrency
     */

    connects = ngx_min(connects, 65536);

    if (ngx_stream_herd_curl_init_process(cycle, connects) != NGX_OK) {
        /* WHATSAT answers UNKNOWN_ERROR; IAMAT and flooding go on */
        return NGX_OK;
    }

    ngx_queue_init(&w->requests);
    ngx_rbtree_init(&w->tree, &w->sentinel, ngx_str_rbtree_insert_value);
    w->in_flight = 0;
    w->calls = 0;
    w->avoided = 0;
    w->ready = 1;

    return NGX_OK;
}


void
ngx_stream_herd_places_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                      *q;
    ngx_stream_herd_places_req_t     *r;
    ngx_stream_herd_places_waiter_t  *wt;
    ngx_stream_herd_places_worker_t  *w;

    w = &ngx_stream_herd_places_worker;

    if (!w->ready) {
        return;
    }

    /* sessions still holding a waiter must not touch it any more */

    w->ready = 0;

    while (!ngx_queue_empty(&w->requests)) {
        q = ngx_queue_head(&w->requests);
        ngx_queue_remove(q);

        r = ngx_queue_data(q, ngx_stream_herd_places_req_t, queue);

        while (!ngx_queue_empty(&r->waiters)) {
            q = ngx_queue_head(&r->waiters);
            ngx_queue_remove(q);

            wt = ngx_queue_data(q, ngx_stream_herd_places_waiter_t, queue);
            ngx_free(wt);
        }

        ngx_stream_herd_places_free(r);
    }

    w->in_flight = 0;

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "herd places: this worker made %ui upstream calls and "
                  "avoided %ui by sharing calls in flight",
                  w->calls, w->avoided);

    ngx_stream_herd_curl_exit_process(cycle);
}
