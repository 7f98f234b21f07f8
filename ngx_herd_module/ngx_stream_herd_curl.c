
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_stream_herd_curl.h"


/*
 * libcurl's multi_socket interface on nginx's event loop.
 *
 * Every socket libcurl wants watched is wrapped in an nginx connection
 * registered level-triggered (libcurl does not promise to read a socket
 * until EAGAIN); the connection is released without closing the socket,
 * which libcurl owns.  libcurl's single timer is one nginx timer.  No
 * libcurl function is called from inside a libcurl callback: the callbacks
 * only change nginx events, and finished transfers are collected after
 * curl_multi_socket_action() returns.
 */


#define NGX_STREAM_HERD_CURL_BUF  16384


/* a socket libcurl watches: its curl_multi_assign() pointer */
typedef struct {
    ngx_queue_t                   queue;
    ngx_connection_t             *connection;  /* NULL: released */
    curl_socket_t                 fd;
} ngx_stream_herd_curl_socket_t;


typedef struct {
    /* laid out like the head of ngx_connection_t: the timer's data */
    void                         *data;
    ngx_event_t                  *read;
    ngx_event_t                  *write;
    ngx_socket_t                  fd;

    CURLM                        *multi;
    ngx_event_t                   timer;
    ngx_log_t                    *log;
    ngx_queue_t                   transfers;
    ngx_queue_t                   sockets;

    ngx_uint_t                    budget;      /* used in this iteration */
    ngx_event_t                   reset;       /* posted: resets it */
} ngx_stream_herd_curl_worker_t;


/*
 * Socket events handled per event-loop iteration; the rest wait for the
 * next one.  A wave of Places answers (each parsed, shaped and relayed to
 * its clients) then never holds back the clients' other commands for
 * more than a few of them.
 */

#define NGX_STREAM_HERD_CURL_BUDGET  8


static int ngx_stream_herd_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *clientp, void *socketp);
static ngx_int_t ngx_stream_herd_curl_watch(ngx_connection_t *c, int what);
static void ngx_stream_herd_curl_release(ngx_stream_herd_curl_socket_t *sock);
static int ngx_stream_herd_curl_close_socket(void *clientp,
    curl_socket_t item);
static int ngx_stream_herd_curl_timer(CURLM *multi, long timeout_ms,
    void *clientp);
static size_t ngx_stream_herd_curl_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static void ngx_stream_herd_curl_event_handler(ngx_event_t *ev);
static void ngx_stream_herd_curl_timer_handler(ngx_event_t *ev);
static void ngx_stream_herd_curl_reset_handler(ngx_event_t *ev);
static void ngx_stream_herd_curl_collect(ngx_stream_herd_curl_worker_t *w);
static void ngx_stream_herd_curl_fail_all(ngx_stream_herd_curl_worker_t *w,
    CURLMcode rc);
static void ngx_stream_herd_curl_finish(ngx_stream_herd_curl_t *hc,
    CURLcode result);
static void ngx_stream_herd_curl_free(ngx_stream_herd_curl_t *hc);


static ngx_stream_herd_curl_worker_t  ngx_stream_herd_curl_worker;


ngx_int_t
ngx_stream_herd_curl_init_process(ngx_cycle_t *cycle,
    ngx_uint_t max_connects)
{
    CURLcode                        code;
    curl_version_info_data         *info;
    ngx_stream_herd_curl_worker_t  *w;

    w = &ngx_stream_herd_curl_worker;

    if (w->multi) {
        return NGX_OK;
    }

    code = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (code != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "herd: curl_global_init() failed: %s",
                      curl_easy_strerror(code));
        return NGX_ERROR;
    }

    info = curl_version_info(CURLVERSION_NOW);

    if (!(info->features & CURL_VERSION_ASYNCHDNS)) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "herd: libcurl %s has no asynchronous resolver: "
                      "resolving the Places host name blocks this worker; "
                      "use a libcurl built with the threaded resolver or "
                      "c-ares, or an IP address in herd_places_url",
                      info->version);
    }

#if (LIBCURL_VERSION_NUM < 0x075700)
    if (info->features & CURL_VERSION_ASYNCHDNS) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "herd: libcurl %s waits for its resolver thread when "
                      "a Places call ends during a name lookup, which "
                      "blocks this worker while DNS is slow; libcurl "
                      "7.87.0 or newer does not", info->version);
    }
#endif

    w->multi = curl_multi_init();

    if (w->multi == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "herd: curl_multi_init() failed");
        curl_global_cleanup();
        return NGX_ERROR;
    }

    if (curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION,
                          ngx_stream_herd_curl_socket)
        != CURLM_OK
        || curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK
        || curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION,
                             ngx_stream_herd_curl_timer)
           != CURLM_OK
        || curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK

        /*
         * idle connections kept for the next calls: by default libcurl
         * keeps 4 per transfer running, so after a wave of calls it closes
         * most, and the next wave pays new TCP and TLS handshakes
         */
        || curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS,
                             (long) max_connects)
           != CURLM_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "herd: curl_multi_setopt() failed");
        curl_multi_cleanup(w->multi);
        w->multi = NULL;
        curl_global_cleanup();
        return NGX_ERROR;
    }

    w->data = NULL;
    w->read = NULL;
    w->write = NULL;
    w->fd = (ngx_socket_t) -1;

    w->log = cycle->log;

    ngx_memzero(&w->timer, sizeof(ngx_event_t));

    w->timer.handler = ngx_stream_herd_curl_timer_handler;
    w->timer.data = w;
    w->timer.log = cycle->log;
    w->timer.cancelable = 1;

    ngx_memzero(&w->reset, sizeof(ngx_event_t));
    w->reset.handler = ngx_stream_herd_curl_reset_handler;
    w->reset.data = w;
    w->reset.log = cycle->log;
    w->budget = 0;

    ngx_queue_init(&w->transfers);
    ngx_queue_init(&w->sockets);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cycle->log, 0,
                   "herd curl: multi handle ready, libcurl %s",
                   info->version);

    return NGX_OK;
}


void
ngx_stream_herd_curl_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                    *q;
    ngx_stream_herd_curl_t         *hc;
    ngx_stream_herd_curl_socket_t  *sock;
    ngx_stream_herd_curl_worker_t  *w;

    w = &ngx_stream_herd_curl_worker;

    if (w->multi == NULL) {
        return;
    }

    while (!ngx_queue_empty(&w->transfers)) {
        q = ngx_queue_head(&w->transfers);
        hc = ngx_queue_data(q, ngx_stream_herd_curl_t, queue);

        ngx_stream_herd_curl_cancel(hc);
    }

    /* may call the socket and close-socket callbacks */

    curl_multi_cleanup(w->multi);
    w->multi = NULL;

    while (!ngx_queue_empty(&w->sockets)) {
        q = ngx_queue_head(&w->sockets);
        sock = ngx_queue_data(q, ngx_stream_herd_curl_socket_t, queue);

        ngx_stream_herd_curl_release(sock);

        ngx_queue_remove(&sock->queue);
        ngx_free(sock);
    }

    if (w->reset.posted) {
        ngx_delete_posted_event(&w->reset);
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    curl_global_cleanup();
}


ngx_stream_herd_curl_t *
ngx_stream_herd_curl_create(ngx_log_t *log)
{
    ngx_stream_herd_curl_t  *hc;

    if (ngx_stream_herd_curl_worker.multi == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "herd: no libcurl multi handle in this process");
        return NULL;
    }

    hc = ngx_calloc(sizeof(ngx_stream_herd_curl_t), log);
    if (hc == NULL) {
        return NULL;
    }

    hc->easy = curl_easy_init();

    if (hc->easy == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "herd: curl_easy_init() failed");
        ngx_free(hc);
        return NULL;
    }

    hc->log = log;

    return hc;
}


ngx_int_t
ngx_stream_herd_curl_add_header(ngx_stream_herd_curl_t *hc, char *header)
{
    struct curl_slist  *list;

    /* libcurl copies the string */

    list = curl_slist_append(hc->headers, header);

    if (list == NULL) {
        ngx_log_error(NGX_LOG_ERR, hc->log, 0,
                      "herd: curl_slist_append() failed");
        return NGX_ERROR;
    }

    hc->headers = list;

    return NGX_OK;
}


ngx_int_t
ngx_stream_herd_curl_start(ngx_stream_herd_curl_t *hc)
{
    CURL                           *e;
    CURLMcode                       rc;
    ngx_stream_herd_curl_worker_t  *w;

    w = &ngx_stream_herd_curl_worker;
    e = hc->easy;

    if (curl_easy_setopt(e, CURLOPT_URL, hc->url) != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_PRIVATE, hc) != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_ERRORBUFFER, hc->error) != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) hc->timeout)
           != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                            (long) hc->connect_timeout)
           != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                            (curl_off_t) hc->max_size)
           != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_WRITEFUNCTION,
                            ngx_stream_herd_curl_write)
           != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_WRITEDATA, hc) != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION,
                            ngx_stream_herd_curl_close_socket)
           != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w) != CURLE_OK
#if (LIBCURL_VERSION_NUM >= 0x075700)
        /*
         * a transfer that ends while its name is still being resolved
         * must not wait for the resolver thread: that would block the
         * worker for as long as getaddrinfo() takes
         */
        || curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK
#endif
#if (LIBCURL_VERSION_NUM >= 0x075500)
        || curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")
           != CURLE_OK
#else
        || curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                            (long) (CURLPROTO_HTTP|CURLPROTO_HTTPS))
           != CURLE_OK
#endif
        || curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK
        || curl_easy_setopt(e, CURLOPT_USERAGENT, "herd (nginx)")
           != CURLE_OK
        || (hc->headers
            && curl_easy_setopt(e, CURLOPT_HTTPHEADER, hc->headers)
               != CURLE_OK)
        || (hc->ca_file
            && curl_easy_setopt(e, CURLOPT_CAINFO, hc->ca_file) != CURLE_OK)
        || (hc->proxy
            && curl_easy_setopt(e, CURLOPT_PROXY, hc->proxy) != CURLE_OK)
        || (hc->post
            && (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
                                 (long) hc->post_len)
                != CURLE_OK
                || curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
                                    (char *) hc->post)
                   != CURLE_OK)))
    {
        ngx_log_error(NGX_LOG_ERR, hc->log, 0,
                      "herd: curl_easy_setopt() failed");
        return NGX_ERROR;
    }

    /* calls the timer callback: the transfer starts from the event loop */

    rc = curl_multi_add_handle(w->multi, e);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ERR, hc->log, 0,
                      "herd: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&w->transfers, &hc->queue);
    hc->running = 1;

    return NGX_OK;
}


/* never from inside a libcurl callback */

void
ngx_stream_herd_curl_cancel(ngx_stream_herd_curl_t *hc)
{
    ngx_stream_herd_curl_worker_t  *w;

    w = &ngx_stream_herd_curl_worker;

    if (hc->running) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, hc->log, 0,
                       "herd curl: cancel transfer %p", hc);

        (void) curl_multi_remove_handle(w->multi, hc->easy);

        ngx_queue_remove(&hc->queue);
        hc->running = 0;
    }

    ngx_stream_herd_curl_free(hc);
}


static int
ngx_stream_herd_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *clientp, void *socketp)
{
    ngx_stream_herd_curl_worker_t  *w = clientp;
    ngx_stream_herd_curl_socket_t  *sock = socketp;

    ngx_connection_t  *c;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, w->log, 0,
                   "herd curl: socket %d, what %d, record %p",
                   (int) s, what, sock);

    if (what == CURL_POLL_REMOVE) {

        /* libcurl forgets the record: release, do not close */

        if (sock) {
            ngx_stream_herd_curl_release(sock);

            ngx_queue_remove(&sock->queue);
            ngx_free(sock);
        }

        return 0;
    }

    if (sock == NULL) {
        sock = ngx_alloc(sizeof(ngx_stream_herd_curl_socket_t), w->log);
        if (sock == NULL) {
            return -1;
        }

        sock->connection = NULL;
        sock->fd = s;

        /* allowed inside the socket callback */

        if (curl_multi_assign(w->multi, s, sock) != CURLM_OK) {
            ngx_log_error(NGX_LOG_ERR, w->log, 0,
                          "herd: curl_multi_assign(%d) failed", (int) s);
            ngx_free(sock);
            return -1;
        }

        ngx_queue_insert_tail(&w->sockets, &sock->queue);
    }

    if (sock->connection == NULL) {
        c = ngx_get_connection((ngx_socket_t) s, w->log);
        if (c == NULL) {
            return -1;
        }

        c->data = sock;
        c->log = w->log;
        c->read->log = w->log;
        c->write->log = w->log;
        c->read->handler = ngx_stream_herd_curl_event_handler;
        c->write->handler = ngx_stream_herd_curl_event_handler;
        c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

        sock->connection = c;
    }

    if (ngx_stream_herd_curl_watch(sock->connection, what) != NGX_OK) {
        return -1;
    }

    return 0;
}


/* level-triggered: libcurl may leave data unread */

static ngx_int_t
ngx_stream_herd_curl_watch(ngx_connection_t *c, int what)
{
    if (what & CURL_POLL_IN) {
        if (!c->read->active
            && ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            /* not fatal: failing here would fail every transfer */
            c->read->active = 0;
        }
    }

    if (what & CURL_POLL_OUT) {
        if (!c->write->active
            && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            c->write->active = 0;
        }
    }

    return NGX_OK;
}


/*
 * Gives the nginx connection back without closing the socket: libcurl
 * owns it.  With fd = -1 the free slot is neither "an open socket left"
 * at exit nor a live connection for the shutdown timer.
 */

static void
ngx_stream_herd_curl_release(ngx_stream_herd_curl_socket_t *sock)
{
    ngx_connection_t  *c;

    c = sock->connection;

    if (c == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "herd curl: release socket %d", c->fd);

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;

    sock->connection = NULL;
}


/*
 * libcurl closes a socket: release its nginx connection first, so the
 * event module never holds a closed (and maybe re-used) descriptor.  The
 * record stays: libcurl may still report it with CURL_POLL_REMOVE.
 */

static int
ngx_stream_herd_curl_close_socket(void *clientp, curl_socket_t item)
{
    ngx_stream_herd_curl_worker_t  *w = clientp;

    ngx_queue_t                    *q;
    ngx_stream_herd_curl_socket_t  *sock;

    for (q = ngx_queue_head(&w->sockets);
         q != ngx_queue_sentinel(&w->sockets);
         q = ngx_queue_next(q))
    {
        sock = ngx_queue_data(q, ngx_stream_herd_curl_socket_t, queue);

        if (sock->connection && sock->fd == item) {
            ngx_stream_herd_curl_release(sock);
            break;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, w->log, 0,
                   "herd curl: close socket %d", (int) item);

    if (ngx_close_socket((ngx_socket_t) item) == -1) {
        ngx_log_error(NGX_LOG_ERR, w->log, ngx_socket_errno,
                      ngx_close_socket_n " %d failed", (int) item);
        return 1;
    }

    return 0;
}


/* one timer; always deleted before it is set again (lazy timers) */

static int
ngx_stream_herd_curl_timer(CURLM *multi, long timeout_ms, void *clientp)
{
    ngx_stream_herd_curl_worker_t  *w = clientp;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, w->log, 0,
                   "herd curl: timer %l", timeout_ms);

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (timeout_ms >= 0) {
        ngx_add_timer(&w->timer, (ngx_msec_t) timeout_ms);
    }

    return 0;
}


/* only copies bytes: no nginx I/O, no libcurl call */

static size_t
ngx_stream_herd_curl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_stream_herd_curl_t  *hc = userdata;

    u_char  *p;
    size_t   n, len, cap;

    n = size * nmemb;

    if (n == 0) {
        return 0;
    }

    len = hc->last - hc->start;

    if (n > hc->max_size - len) {
        hc->too_big = 1;
        return 0;
    }

    if (n > (size_t) (hc->end - hc->last)) {
        cap = hc->start ? (size_t) (hc->end - hc->start)
                        : NGX_STREAM_HERD_CURL_BUF;

        while (cap < len + n) {
            cap *= 2;
        }

        if (cap > hc->max_size) {
            cap = hc->max_size;
        }

        /* room for a NUL after the body */

        p = ngx_alloc(cap + 1, hc->log);
        if (p == NULL) {
            hc->no_memory = 1;
            return 0;
        }

        if (hc->start) {
            ngx_memcpy(p, hc->start, len);
            ngx_free(hc->start);
        }

        hc->start = p;
        hc->last = p + len;
        hc->end = p + cap;
    }

    hc->last = ngx_cpymem(hc->last, ptr, n);
    *hc->last = '\0';

    return n;
}


static void
ngx_stream_herd_curl_event_handler(ngx_event_t *ev)
{
    int                             running, mask;
    CURLMcode                       rc;
    curl_socket_t                   fd;
    ngx_connection_t               *c;
    ngx_stream_herd_curl_worker_t  *w;

    c = ev->data;
    w = &ngx_stream_herd_curl_worker;

    if (c->close) {
        /* shutdown timeout: the sessions go, and cancel their transfers */
        return;
    }

    if (w->budget == NGX_STREAM_HERD_CURL_BUDGET) {
        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    if (w->budget++ == 0) {
        ngx_post_event(&w->reset, &ngx_posted_events);
    }

    fd = (curl_socket_t) c->fd;
    mask = ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                   "herd curl: socket %d %s", (int) fd,
                   ev->write ? "writable" : "readable");

    rc = curl_multi_socket_action(w->multi, fd, mask, &running);

    /* c and ev may have been released, even re-issued, inside the call */

    if (rc != CURLM_OK) {
        ngx_stream_herd_curl_fail_all(w, rc);
        return;
    }

    ngx_stream_herd_curl_collect(w);
}


/* the end of an event-loop iteration that handled curl sockets */

static void
ngx_stream_herd_curl_reset_handler(ngx_event_t *ev)
{
    ngx_stream_herd_curl_worker_t  *w;

    w = ev->data;
    w->budget = 0;
}


static void
ngx_stream_herd_curl_timer_handler(ngx_event_t *ev)
{
    int                             running;
    CURLMcode                       rc;
    ngx_stream_herd_curl_worker_t  *w;

    w = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                   "herd curl: timer expired");

    rc = curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0,
                                  &running);

    if (rc != CURLM_OK) {
        ngx_stream_herd_curl_fail_all(w, rc);
        return;
    }

    ngx_stream_herd_curl_collect(w);
}


/* outside any libcurl callback: finished transfers go to their owners */

static void
ngx_stream_herd_curl_collect(ngx_stream_herd_curl_worker_t *w)
{
    int                      left;
    char                    *priv;
    CURL                    *easy;
    CURLMsg                 *msg;
    CURLcode                 result;
    ngx_stream_herd_curl_t  *hc;

    for ( ;; ) {
        msg = curl_multi_info_read(w->multi, &left);

        if (msg == NULL) {
            break;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        /* msg is invalid once the handle is removed: copy first */

        easy = msg->easy_handle;
        result = msg->data.result;

        priv = NULL;
        (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);

        hc = (ngx_stream_herd_curl_t *) priv;

        if (hc == NULL || !hc->running) {
            ngx_log_error(NGX_LOG_ALERT, w->log, 0,
                          "herd: libcurl finished an unknown transfer");
            (void) curl_multi_remove_handle(w->multi, easy);
            continue;
        }

        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &hc->status);

        ngx_stream_herd_curl_finish(hc, result);
    }
}


/* the multi handle failed: its transfers cannot go on */

static void
ngx_stream_herd_curl_fail_all(ngx_stream_herd_curl_worker_t *w, CURLMcode rc)
{
    ngx_queue_t              *q, failed;
    ngx_stream_herd_curl_t   *hc;

    ngx_log_error(NGX_LOG_ERR, w->log, 0,
                  "herd: curl_multi_socket_action() failed: %s",
                  curl_multi_strerror(rc));

    /* transfers started by the handlers below are not failed */

    ngx_queue_init(&failed);

    while (!ngx_queue_empty(&w->transfers)) {
        q = ngx_queue_head(&w->transfers);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&failed, q);
    }

    while (!ngx_queue_empty(&failed)) {
        q = ngx_queue_head(&failed);
        hc = ngx_queue_data(q, ngx_stream_herd_curl_t, queue);

        (void) ngx_cpystrn((u_char *) hc->error,
                           (u_char *) curl_multi_strerror(rc),
                           CURL_ERROR_SIZE);

        ngx_stream_herd_curl_finish(hc, CURLE_FAILED_INIT);
    }
}


static void
ngx_stream_herd_curl_finish(ngx_stream_herd_curl_t *hc, CURLcode result)
{
    ngx_stream_herd_curl_worker_t  *w;

    w = &ngx_stream_herd_curl_worker;

    (void) curl_multi_remove_handle(w->multi, hc->easy);

    ngx_queue_remove(&hc->queue);
    hc->running = 0;
    hc->result = result;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, hc->log, 0,
                   "herd curl: transfer %p done: %d, HTTP %l",
                   hc, (int) result, hc->status);

    /* may start and cancel other transfers, and finalize sessions */

    hc->handler(hc);

    ngx_stream_herd_curl_free(hc);
}


static void
ngx_stream_herd_curl_free(ngx_stream_herd_curl_t *hc)
{
    if (hc->easy) {
        curl_easy_cleanup(hc->easy);
    }

    if (hc->headers) {
        curl_slist_free_all(hc->headers);
    }

    if (hc->start) {
        ngx_free(hc->start);
    }

    ngx_free(hc);
}
