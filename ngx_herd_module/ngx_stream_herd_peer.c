
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_stream.h>
#include "ngx_stream_herd_module.h"
#include "ngx_stream_herd_auth.h"


/*
 * Peer links.  Every worker keeps one outgoing connection to each
 * neighbour of each herd server.  A link says "HERD 1 <own name>", the
 * neighbour answers "DIGEST 1 <its name> <bucket digests>", the link sends
 * the records of every bucket whose digest differs (catch-up) and asks
 * for the neighbour's records of those buckets ("PULL"), and from then on
 * sends every update this worker accepts (flooding).  The neighbour never
 * answers updates; it echoes the empty line the link sends every 30 s, so
 * that each side notices a neighbour that went silent.  A link that fails,
 * or whose queue overflows, is closed and reconnected with capped
 * exponential backoff and jitter; the digest exchange on reconnect repairs
 * whatever was dropped.
 */


#define NGX_STREAM_HERD_LINK_DOWN        0
#define NGX_STREAM_HERD_LINK_CONNECTING  1
#define NGX_STREAM_HERD_LINK_HELLO       2
#define NGX_STREAM_HERD_LINK_UP          3
#define NGX_STREAM_HERD_LINK_PROVEN      4   /* authenticated, no digest */

#define NGX_STREAM_HERD_CONNECT_TIMEOUT  5000
#define NGX_STREAM_HERD_SEND_TIMEOUT     30000
#define NGX_STREAM_HERD_BACKOFF_MIN      100
#define NGX_STREAM_HERD_BACKOFF_MAX      5000
#define NGX_STREAM_HERD_PING             30000
#define NGX_STREAM_HERD_PEER_TIMEOUT     90000

/* catch-up refills the queue in chunks while less than this is queued */
#define NGX_STREAM_HERD_LINK_LOW         65536

/* bytes read in one go (a pull) before other connections get their turn */
#define NGX_STREAM_HERD_LINK_BUDGET      262144
#define NGX_STREAM_HERD_LINK_QUEUE       (1024 * 1024)


struct ngx_stream_herd_link_s {
    /* laid out like the head of ngx_connection_t for timer debug logs */
    void                         *data;
    ngx_event_t                  *read;
    ngx_event_t                  *write;
    ngx_socket_t                  fd;

    ngx_stream_herd_srv_conf_t   *hscf;
    ngx_stream_herd_peer_t       *peer;

    ngx_peer_connection_t         pc;
    ngx_event_t                   timer;       /* reconnect, or ping */
    ngx_msec_t                    backoff;
    ngx_uint_t                    state;

    ngx_buf_t                     in;          /* DIGEST, then records */
    ngx_buf_t                     out;         /* bounded send queue */

    u_char                        nonce[NGX_STREAM_HERD_NONCE_LEN];

    u_char                        want[NGX_STREAM_HERD_DIGESTS / 8];
    ngx_stream_herd_walk_t        walk;
    ngx_uint_t                    catchup_bytes;
    unsigned                      catchup:1;
    unsigned                      discard:1;

    ngx_log_t                     log;
};


static ngx_int_t ngx_stream_herd_link_init(ngx_cycle_t *cycle,
    ngx_stream_herd_srv_conf_t *hscf, ngx_stream_herd_peer_t *peer);
static void ngx_stream_herd_link_connect(ngx_stream_herd_link_t *link);
static void ngx_stream_herd_link_connected(ngx_stream_herd_link_t *link);
static void ngx_stream_herd_link_greet(ngx_stream_herd_link_t *link);
#if (NGX_STREAM_SSL)
static void ngx_stream_herd_link_ssl_handshake(ngx_connection_t *c);
#endif
static void ngx_stream_herd_link_read_handler(ngx_event_t *rev);
static void ngx_stream_herd_link_write_handler(ngx_event_t *wev);
static void ngx_stream_herd_link_timer_handler(ngx_event_t *ev);
static ngx_int_t ngx_stream_herd_link_line(ngx_stream_herd_link_t *link,
    u_char *p, size_t len);
static ngx_int_t ngx_stream_herd_link_challenge(ngx_stream_herd_link_t *link,
    u_char *p, size_t len);
static ngx_int_t ngx_stream_herd_link_digest(ngx_stream_herd_link_t *link,
    u_char *p, size_t len);
static void ngx_stream_herd_link_pump(ngx_stream_herd_link_t *link);
static ngx_int_t ngx_stream_herd_link_flush(ngx_stream_herd_link_t *link);
typedef void (*ngx_stream_herd_link_pt)(ngx_stream_herd_link_t *link);

static void ngx_stream_herd_links_each(ngx_cycle_t *cycle,
    ngx_stream_herd_link_pt handler);
static void ngx_stream_herd_link_quit(ngx_stream_herd_link_t *link);
static void ngx_stream_herd_link_exit(ngx_stream_herd_link_t *link);
static void ngx_stream_herd_link_close(ngx_stream_herd_link_t *link,
    ngx_uint_t retry);
static u_char *ngx_stream_herd_link_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


ngx_int_t
ngx_stream_herd_peer_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i, j;
    ngx_stream_herd_peer_t       *peers;
    ngx_stream_herd_srv_conf_t  **servers, *hscf;
    ngx_stream_herd_main_conf_t  *hmcf;

    hmcf = ngx_stream_cycle_get_module_main_conf(cycle,
                                                 ngx_stream_herd_module);
    if (hmcf == NULL) {
        return NGX_OK;
    }

    servers = hmcf->servers.elts;

    for (i = 0; i < hmcf->servers.nelts; i++) {
        hscf = servers[i];

        if (hscf->peers == NULL) {
            continue;
        }

        if (ngx_array_init(&hscf->links, cycle->pool, hscf->peers->nelts,
                           sizeof(ngx_stream_herd_link_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        peers = hscf->peers->elts;

        for (j = 0; j < hscf->peers->nelts; j++) {
            if (ngx_stream_herd_link_init(cycle, hscf, &peers[j]) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_herd_link_init(ngx_cycle_t *cycle, ngx_stream_herd_srv_conf_t *hscf,
    ngx_stream_herd_peer_t *peer)
{
    size_t                    size;
    ngx_stream_herd_link_t   *link, **linkp;

    link = ngx_pcalloc(cycle->pool, sizeof(ngx_stream_herd_link_t));
    if (link == NULL) {
        return NGX_ERROR;
    }

    linkp = ngx_array_push(&hscf->links);
    if (linkp == NULL) {
        return NGX_ERROR;
    }

    *linkp = link;

    link->fd = (ngx_socket_t) -1;
    link->hscf = hscf;
    link->peer = peer;
    link->backoff = NGX_STREAM_HERD_BACKOFF_MIN;

    link->log = *hscf->cscf->error_log;
    link->log.handler = ngx_stream_herd_link_log_error;
    link->log.data = link;
    link->log.action = NULL;

    /* the DIGEST line, or a record the neighbour holds */
    size = ngx_max(NGX_STREAM_HERD_DIGEST_LEN(peer->name.len) + 1,
                   hscf->max_line + 1024);

    link->in.start = ngx_pnalloc(cycle->pool, size);
    if (link->in.start == NULL) {
        return NGX_ERROR;
    }

    link->in.pos = link->in.start;
    link->in.last = link->in.start;
    link->in.end = link->in.start + size;

    /* room for the largest record a client of this server can cause */
    size = ngx_max(NGX_STREAM_HERD_LINK_QUEUE, 2 * hscf->max_line + 1024);

    link->out.start = ngx_palloc(cycle->pool, size);
    if (link->out.start == NULL) {
        return NGX_ERROR;
    }

    link->out.pos = link->out.start;
    link->out.last = link->out.start;
    link->out.end = link->out.start + size;

    link->timer.handler = ngx_stream_herd_link_timer_handler;
    link->timer.data = link;
    link->timer.log = &link->log;
    link->timer.cancelable = 1;

    ngx_stream_herd_link_connect(link);

    return NGX_OK;
}


/*
 * A quitting worker keeps its links while sessions are open: a client
 * finishing its last line, or a neighbour's last updates, may still store
 * an update that the neighbours must get.
 */

static void
ngx_stream_herd_link_exit(ngx_stream_herd_link_t *link)
{
    ssize_t            n;
    ngx_uint_t         i;
    ngx_connection_t  *c;
    u_char             buf[4096];

    c = link->pc.connection;

    if (c == NULL) {
        return;
    }

    if (c->error) {
        /* worker_shutdown_timeout: now */
        ngx_stream_herd_link_close(link, 0);
        return;
    }

    c->close = 0;

    if (link->out.pos < link->out.last) {
        /* updates queued: sent first, the link goes when it is idle */

        if (ngx_stream_herd_link_flush(link) != NGX_OK) {
            ngx_stream_herd_link_close(link, 0);
        }

        return;
    }

    if (ngx_stream_herd_sessions) {
        return;
    }

    /*
     * Unread input would make close() reset the connection, and the peer
     * could lose what was just sent: what the neighbour sent is read
     * first (keepalive echoes, records of a pull; bounded).
     */

    for (i = 0; i < 64 && c->read->ready; i++) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN || n == NGX_ERROR || n == 0) {
            break;
        }
    }

    ngx_stream_herd_link_close(link, 0);
}


/* the last session of a quitting worker is gone: idle links go now */

void
ngx_stream_herd_peer_sessions_done(void)
{
    ngx_stream_herd_links_each((ngx_cycle_t *) ngx_cycle,
                               ngx_stream_herd_link_exit);
}


void
ngx_stream_herd_peer_exit_process(ngx_cycle_t *cycle)
{
    ngx_stream_herd_links_each(cycle, ngx_stream_herd_link_quit);
}


static void
ngx_stream_herd_links_each(ngx_cycle_t *cycle,
    ngx_stream_herd_link_pt handler)
{
    ngx_uint_t                    i, j;
    ngx_stream_herd_link_t      **links;
    ngx_stream_herd_srv_conf_t  **servers, *hscf;
    ngx_stream_herd_main_conf_t  *hmcf;

    hmcf = ngx_stream_cycle_get_module_main_conf(cycle,
                                                 ngx_stream_herd_module);
    if (hmcf == NULL) {
        return;
    }

    servers = hmcf->servers.elts;

    for (i = 0; i < hmcf->servers.nelts; i++) {
        hscf = servers[i];
        links = hscf->links.elts;

        for (j = 0; j < hscf->links.nelts; j++) {
            handler(links[j]);
        }
    }
}


static void
ngx_stream_herd_link_quit(ngx_stream_herd_link_t *link)
{
    ngx_stream_herd_link_close(link, 0);
}


static void
ngx_stream_herd_link_connect(ngx_stream_herd_link_t *link)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_memzero(&link->pc, sizeof(ngx_peer_connection_t));

    link->pc.sockaddr = link->peer->addr.sockaddr;
    link->pc.socklen = link->peer->addr.socklen;
    link->pc.name = &link->peer->addr.name;
    link->pc.get = ngx_event_get_peer;
    link->pc.log = &link->log;
    link->pc.log_error = NGX_ERROR_INFO;

    link->log.action = "connecting to herd peer";

    rc = ngx_event_connect_peer(&link->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        link->pc.connection = NULL;
        ngx_stream_herd_link_close(link, 1);
        return;
    }

    /* rc == NGX_OK || rc == NGX_AGAIN */

    c = link->pc.connection;

    c->data = link;
    c->log = &link->log;
    c->read->log = &link->log;
    c->write->log = &link->log;
    c->read->handler = ngx_stream_herd_link_read_handler;
    c->write->handler = ngx_stream_herd_link_write_handler;

    link->state = NGX_STREAM_HERD_LINK_CONNECTING;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, NGX_STREAM_HERD_CONNECT_TIMEOUT);
        return;
    }

    ngx_stream_herd_link_connected(link);
}


static void
ngx_stream_herd_link_connected(ngx_stream_herd_link_t *link)
{
    ngx_connection_t  *c;

    c = link->pc.connection;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    ngx_log_error(NGX_LOG_INFO, &link->log, 0, "herd %V: connected to peer",
                  &link->hscf->name);

    /*
     * Flood writes are small and the peer never answers them: with Nagle's
     * algorithm a write would wait for the peer's delayed ACK (up to 40 ms)
     * whenever the previous one is still unacknowledged.
     */

    if (ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_stream_herd_link_close(link, 1);
        return;
    }

#if (NGX_STREAM_SSL)

    if (link->hscf->ssl) {
        ngx_int_t  rc;

        link->log.action = "SSL handshaking to herd peer";

        /* the SSL connection lives in a pool of the link's connection */

        c->pool = ngx_create_pool(1024, &link->log);
        if (c->pool == NULL) {
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        if (ngx_ssl_create_connection(link->hscf->ssl, c,
                                      NGX_SSL_BUFFER|NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        rc = ngx_ssl_handshake(c);

        if (rc == NGX_AGAIN) {
            ngx_add_timer(c->write, NGX_STREAM_HERD_CONNECT_TIMEOUT);
            c->ssl->handler = ngx_stream_herd_link_ssl_handshake;
            return;
        }

        ngx_stream_herd_link_ssl_handshake(c);
        return;
    }

#endif

    ngx_stream_herd_link_greet(link);
}


#if (NGX_STREAM_SSL)

/* the peer's certificate must be signed by the trusted CA and name it */

static void
ngx_stream_herd_link_ssl_handshake(ngx_connection_t *c)
{
    long                     rc;
    ngx_stream_herd_link_t  *link;

    link = c->data;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (!c->ssl->handshaked) {
        ngx_stream_herd_link_close(link, 1);
        return;
    }

    if (link->hscf->peer_ssl_trusted_certificate.len) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                          "herd %V: peer's certificate does not verify: "
                          "(%l:%s)", &link->hscf->name, rc,
                          X509_verify_cert_error_string(rc));
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        if (ngx_ssl_check_host(c, &link->peer->name) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                          "herd %V: peer's certificate is not for \"%V\"",
                          &link->hscf->name, &link->peer->name);
            ngx_stream_herd_link_close(link, 1);
            return;
        }
    }

    c->read->handler = ngx_stream_herd_link_read_handler;
    c->write->handler = ngx_stream_herd_link_write_handler;

    ngx_stream_herd_link_greet(link);
}

#endif


static void
ngx_stream_herd_link_greet(ngx_stream_herd_link_t *link)
{
    ngx_connection_t  *c;

    c = link->pc.connection;

    link->log.action = "greeting herd peer";
    link->state = NGX_STREAM_HERD_LINK_HELLO;

    link->in.pos = link->in.start;
    link->in.last = link->in.start;
    link->out.pos = link->out.start;
    link->discard = 0;

    if (link->hscf->secret.len) {
        if (ngx_stream_herd_auth_nonce(link->nonce) != NGX_OK) {
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        link->out.last = ngx_stream_herd_format_hello(link->out.start,
                                                      &link->hscf->name,
                                                      link->nonce);

    } else {
        link->out.last = ngx_stream_herd_format_hello(link->out.start,
                                                      &link->hscf->name,
                                                      NULL);
    }

    /* the neighbour must answer the greeting in time */
    ngx_add_timer(c->read, NGX_STREAM_HERD_CONNECT_TIMEOUT);

    if (ngx_stream_herd_link_flush(link) != NGX_OK) {
        ngx_stream_herd_link_close(link, 1);
    }
}


static void
ngx_stream_herd_link_write_handler(ngx_event_t *wev)
{
    ngx_connection_t        *c;
    ngx_stream_herd_link_t  *link;

    c = wev->data;
    link = c->data;

    if (c->close) {
        ngx_stream_herd_link_exit(link);
        return;
    }

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, &link->log, NGX_ETIMEDOUT,
                      "herd %V: peer timed out", &link->hscf->name);
        ngx_stream_herd_link_close(link, 1);
        return;
    }

    if (link->state == NGX_STREAM_HERD_LINK_CONNECTING) {

        if (ngx_stream_herd_test_connect(c) != NGX_OK) {
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        ngx_stream_herd_link_connected(link);
        return;
    }

    ngx_stream_herd_link_pump(link);

    if (ngx_stream_herd_link_flush(link) != NGX_OK) {
        ngx_stream_herd_link_close(link, 1);
    }
}


static void
ngx_stream_herd_link_read_handler(ngx_event_t *rev)
{
    u_char                  *lf;
    size_t                   budget;
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_connection_t        *c;
    ngx_stream_herd_link_t  *link;

    c = rev->data;
    link = c->data;
    b = &link->in;

    if (c->close) {
        ngx_stream_herd_link_exit(link);
        return;
    }

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_WARN, &link->log, NGX_ETIMEDOUT,
                      "herd %V: peer did not answer the %s",
                      &link->hscf->name,
                      link->state == NGX_STREAM_HERD_LINK_UP
                      ? "keepalives" : "greeting");
        ngx_stream_herd_link_close(link, 1);
        return;
    }

    if (link->state == NGX_STREAM_HERD_LINK_CONNECTING) {
        /* a connect error reported on the read side first */
        if (ngx_stream_herd_test_connect(c) != NGX_OK) {
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        ngx_stream_herd_link_connected(link);
        return;
    }

    budget = NGX_STREAM_HERD_LINK_BUDGET;

    for ( ;; ) {

        if (budget == 0) {
            /* a long pull must not starve the worker's other connections */
            ngx_post_event(rev, &ngx_posted_next_events);
            break;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_log_error(NGX_LOG_INFO, &link->log, 0,
                          "herd %V: peer closed the connection",
                          &link->hscf->name);
            ngx_stream_herd_link_close(link, 1);
            return;
        }

        if (link->state == NGX_STREAM_HERD_LINK_UP) {
            /* the neighbour is alive */
            ngx_add_timer(rev, NGX_STREAM_HERD_PEER_TIMEOUT);
        }

        budget -= ngx_min(budget, (size_t) n);
        b->last += n;

        /*
         * The greeting's answers, one line at a time; once up, keepalives
         * echoed and the records asked for with PULL.
         */

        for ( ;; ) {

            lf = memchr(b->pos, LF, b->last - b->pos);

            if (lf == NULL) {
                break;
            }

            if (link->discard) {
                /* the rest of an over-long line */
                link->discard = 0;

            } else if (link->state != NGX_STREAM_HERD_LINK_UP) {

                if (ngx_stream_herd_link_line(link, b->pos, lf - b->pos)
                    != NGX_OK)
                {
                    ngx_stream_herd_link_close(link, 1);
                    return;
                }

            } else {
                /* stored ones are flooded to the other neighbours */
                (void) ngx_stream_herd_peer_update(link->hscf, link->peer,
                                                   b->pos, lf - b->pos,
                                                   &link->log);
            }

            b->pos = lf + 1;
        }

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;

        } else if (b->pos > b->start) {
            b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
            b->pos = b->start;
        }

        if (b->last == b->end) {

            if (link->state != NGX_STREAM_HERD_LINK_UP) {
                ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                              "herd %V: peer answered the greeting with "
                              "an over-long line", &link->hscf->name);
                ngx_stream_herd_link_close(link, 1);
                return;
            }

            ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                          "herd %V: peer sent a record longer than "
                          "herd_max_line allows here: skipped",
                          &link->hscf->name);

            link->discard = 1;
            b->pos = b->start;
            b->last = b->start;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_stream_herd_link_close(link, 1);
    }
}


/*
 * With herd_peer_secret the neighbour first proves it knows the secret
 * ("AUTH 1 name nonce mac"), the link answers with its own proof, and only
 * then comes the digest line.
 */

static ngx_int_t
ngx_stream_herd_link_line(ngx_stream_herd_link_t *link, u_char *p,
    size_t len)
{
    if (link->state == NGX_STREAM_HERD_LINK_HELLO
        && link->hscf->secret.len)
    {
        return ngx_stream_herd_link_challenge(link, p, len);
    }

    return ngx_stream_herd_link_digest(link, p, len);
}


static ngx_int_t
ngx_stream_herd_link_challenge(ngx_stream_herd_link_t *link, u_char *p,
    size_t len)
{
    ngx_str_t   name, nonce, mac;
    ngx_int_t   rc;
    u_char      proof[NGX_STREAM_HERD_MAC_LEN];

    if (ngx_stream_herd_parse_challenge(p, len, &name, &nonce, &mac)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                      "herd %V: peer did not authenticate (is "
                      "herd_peer_secret set on both sides?)",
                      &link->hscf->name);
        ngx_stream_herd_log_text(&link->log, &link->hscf->name,
                                 "peer answered", p, ngx_min(len, 128));
        return NGX_ERROR;
    }

    if (name.len != link->peer->name.len
        || ngx_strncmp(name.data, link->peer->name.data, name.len) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                      "herd %V: the server at this address is \"%V\", "
                      "not the configured peer", &link->hscf->name, &name);
        return NGX_ERROR;
    }

    rc = ngx_stream_herd_auth_verify(&link->hscf->secret, 'S', &name,
                                     &link->hscf->name, link->nonce,
                                     nonce.data, &mac);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                      "herd %V: peer failed authentication: wrong "
                      "herd_peer_secret", &link->hscf->name);
        return NGX_ERROR;
    }

    if (ngx_stream_herd_auth_mac(&link->hscf->secret, 'L', &link->hscf->name,
                                 &name, nonce.data, link->nonce, proof)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((size_t) (link->out.end - link->out.last) < NGX_STREAM_HERD_PROOF_LEN)
    {
        return NGX_ERROR;
    }

    link->out.last = ngx_stream_herd_format_proof(link->out.last, proof);
    link->state = NGX_STREAM_HERD_LINK_PROVEN;

    return ngx_stream_herd_link_flush(link);
}


/* the neighbour's digests: queue every bucket that differs from ours */

static ngx_int_t
ngx_stream_herd_link_digest(ngx_stream_herd_link_t *link, u_char *p,
    size_t len)
{
    ngx_buf_t               *b;
    ngx_str_t                name;
    ngx_uint_t               i, n;
    ngx_connection_t        *c;
    ngx_stream_herd_zone_t  *zone;
    uint64_t                 theirs[NGX_STREAM_HERD_DIGESTS];
    uint64_t                 ours[NGX_STREAM_HERD_DIGESTS];

    c = link->pc.connection;

    if (ngx_stream_herd_parse_digest(p, len, &name, theirs) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                      "herd %V: peer refused the greeting: \"%*s\"",
                      &link->hscf->name, ngx_min(len, 128), p);
        return NGX_ERROR;
    }

    if (name.len != link->peer->name.len
        || ngx_strncmp(name.data, link->peer->name.data, name.len) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                      "herd %V: the server at this address is \"%V\", "
                      "not the configured peer", &link->hscf->name, &name);
        return NGX_ERROR;
    }

    /* from now on the neighbour only echoes keepalives */
    ngx_add_timer(c->read, NGX_STREAM_HERD_PEER_TIMEOUT);

    zone = link->hscf->shm_zone->data;

    ngx_stream_herd_zone_digest(zone, ours);

    ngx_memzero(link->want, sizeof(link->want));
    n = 0;

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS; i++) {
        if (ours[i] != theirs[i]) {
            link->want[i / 8] |= (u_char) (1 << (i % 8));
            n++;
        }
    }

    link->state = NGX_STREAM_HERD_LINK_UP;
    link->backoff = NGX_STREAM_HERD_BACKOFF_MIN;
    link->log.action = "flooding to herd peer";
    link->catchup = (n != 0);
    link->catchup_bytes = 0;

    if (n) {
        /* and what the neighbour holds there comes back on this link */

        b = &link->out;

        if ((size_t) (b->end - b->last) > NGX_STREAM_HERD_PULL_LEN) {
            b->last = ngx_stream_herd_format_pull(b->last, link->want);
            *b->last++ = LF;
        }
    }

    ngx_stream_herd_zone_walk_init(&link->walk, 0);

    ngx_log_error(NGX_LOG_INFO, &link->log, 0,
                  "herd %V: peer link up, %ui of %d buckets to catch up",
                  &link->hscf->name, n, NGX_STREAM_HERD_DIGESTS);

    ngx_add_timer(&link->timer, NGX_STREAM_HERD_PING);

    ngx_stream_herd_link_pump(link);

    return ngx_stream_herd_link_flush(link);
}


/* catch-up: refill the queue with the records of the differing buckets */

static void
ngx_stream_herd_link_pump(ngx_stream_herd_link_t *link)
{
    size_t                   size;
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_uint_t               i;
    ngx_stream_herd_zone_t  *zone;

    b = &link->out;
    zone = link->hscf->shm_zone->data;

    while (link->catchup
           && b->last - b->pos < NGX_STREAM_HERD_LINK_LOW)
    {
        i = link->walk.bucket;

        if (!(link->want[i / 8] & (1 << (i % 8)))) {
            rc = NGX_DONE;

        } else {

            if (b->pos > b->start) {
                b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
                b->pos = b->start;
            }

            /* in chunks: the rest of the queue stays free for floods */
            size = ngx_min((size_t) (b->end - b->last),
                           NGX_STREAM_HERD_LINK_LOW);

            rc = ngx_stream_herd_zone_walk(zone, &link->walk, b->last, &size);

            b->last += size;
            link->catchup_bytes += size;

            if (rc == NGX_ERROR) {
                /* a record larger than the queue: skip the bucket */
                rc = NGX_DONE;
            }
        }

        if (rc == NGX_DONE) {
            if (i + 1 == NGX_STREAM_HERD_DIGESTS) {
                link->catchup = 0;

                ngx_log_error(NGX_LOG_INFO, &link->log, 0,
                              "herd %V: catch-up sent %ui bytes",
                              &link->hscf->name, link->catchup_bytes);
                break;
            }

            ngx_stream_herd_zone_walk_init(&link->walk, i + 1);
        }
    }
}


static ngx_int_t
ngx_stream_herd_link_flush(ngx_stream_herd_link_t *link)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_uint_t         progress;
    ngx_connection_t  *c;

    c = link->pc.connection;
    b = &link->out;
    progress = 0;

    for ( ;; ) {

        while (b->pos < b->last) {

            n = c->send(c, b->pos, b->last - b->pos);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (n == NGX_AGAIN || n == 0) {
                break;
            }

            b->pos += n;
            progress = 1;
        }

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;
        }

        if (b->pos != b->start || !link->catchup || !c->write->ready) {
            break;
        }

        /* the socket took everything: refill and go on */

        ngx_stream_herd_link_pump(link);
    }

    if (b->pos < b->last) {
        /* the send timeout counts from the last progress */
        if (progress || !c->write->timer_set) {
            ngx_add_timer(c->write, NGX_STREAM_HERD_SEND_TIMEOUT);
        }

    } else if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_exiting) {
        /* the new workers' links catch up on whatever is left unsent */
        link->catchup = 0;
    }

    /* a graceful shutdown may close a link with nothing queued */
    c->idle = (b->pos == b->last && !link->catchup);

    if (c->idle && ngx_exiting) {
        /* it was busy when the worker started to quit; now it is not */
        c->close = 1;

        if (!c->read->posted) {
            ngx_post_event(c->read, &ngx_posted_events);
        }
    }

    return NGX_OK;
}


static void
ngx_stream_herd_link_timer_handler(ngx_event_t *ev)
{
    ngx_stream_herd_link_t  *link = ev->data;

    if (ngx_terminate || ngx_quit) {
        return;
    }

    if (link->state == NGX_STREAM_HERD_LINK_DOWN) {

        if (!ngx_exiting) {
            ngx_stream_herd_link_connect(link);
        }

        return;
    }

    /* a link a quitting worker keeps for its sessions goes on pinging */

    if (link->state != NGX_STREAM_HERD_LINK_UP) {
        return;
    }

    /* an empty line keeps the neighbour's idle timer from firing */

    if (link->out.last < link->out.end) {
        *link->out.last++ = LF;
    }

    if (ngx_stream_herd_link_flush(link) != NGX_OK) {
        ngx_stream_herd_link_close(link, 1);
        return;
    }

    ngx_add_timer(&link->timer, NGX_STREAM_HERD_PING);
}


static void
ngx_stream_herd_link_close(ngx_stream_herd_link_t *link, ngx_uint_t retry)
{
    ngx_msec_t   delay;
    ngx_pool_t  *pool;

    if (link->pc.connection) {
        if (link->state == NGX_STREAM_HERD_LINK_UP) {
            ngx_log_error(NGX_LOG_INFO, &link->log, 0,
                          "herd %V: peer link down", &link->hscf->name);
        }

#if (NGX_STREAM_SSL)
        if (link->pc.connection->ssl) {
            link->pc.connection->ssl->no_wait_shutdown = 1;
            link->pc.connection->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(link->pc.connection);
        }
#endif

        pool = link->pc.connection->pool;

        ngx_close_connection(link->pc.connection);
        link->pc.connection = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    link->state = NGX_STREAM_HERD_LINK_DOWN;
    link->catchup = 0;
    link->out.pos = link->out.start;
    link->out.last = link->out.start;

    if (!retry || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* capped exponential backoff, with up to 25% jitter */

    delay = link->backoff - link->backoff / 4
            + (ngx_msec_t) ngx_random() % (link->backoff / 2 + 1);

    link->backoff = ngx_min(link->backoff * 2, NGX_STREAM_HERD_BACKOFF_MAX);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, &link->log, 0,
                   "herd peer reconnect in %M", delay);

    ngx_add_timer(&link->timer, delay);
}


/*
 * Queues a record for every neighbour but "except" (the one it came from).
 * A link that is down drops it; catch-up sends it on reconnect.  A link
 * whose queue is full is dropped and reconnected for the same reason.
 */

void
ngx_stream_herd_peer_flood(ngx_stream_herd_srv_conf_t *hscf, ngx_str_t *line,
    ngx_stream_herd_peer_t *except)
{
    ngx_buf_t                *b;
    ngx_uint_t                i;
    ngx_stream_herd_link_t  **links, *link;

    links = hscf->links.elts;

    for (i = 0; i < hscf->links.nelts; i++) {
        link = links[i];

        if (link->peer == except
            || link->state != NGX_STREAM_HERD_LINK_UP)
        {
            continue;
        }

        b = &link->out;

        if ((size_t) (b->end - b->last) < line->len + 1 && b->pos > b->start) {
            b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
            b->pos = b->start;
        }

        if ((size_t) (b->end - b->last) < line->len + 1) {
            ngx_log_error(NGX_LOG_WARN, &link->log, 0,
                          "herd %V: peer send queue is full, reconnecting "
                          "to catch up", &hscf->name);
            ngx_stream_herd_link_close(link, 1);
            continue;
        }

        b->last = ngx_cpymem(b->last, line->data, line->len);
        *b->last++ = LF;

        if (b->last - b->pos >= NGX_STREAM_HERD_LINK_LOW) {
            /* a burst: send now rather than let the queue fill up */

            if (ngx_stream_herd_link_flush(link) != NGX_OK) {
                ngx_stream_herd_link_close(link, 1);
            }

            continue;
        }

        /* send once per event loop iteration, not once per record */

        if (!link->pc.connection->write->posted) {
            ngx_post_event(link->pc.connection->write, &ngx_posted_events);
        }
    }
}


ngx_stream_herd_peer_t *
ngx_stream_herd_peer_find(ngx_stream_herd_srv_conf_t *hscf, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_stream_herd_peer_t  *peers;

    if (hscf->peers == NULL) {
        return NULL;
    }

    peers = hscf->peers->elts;

    for (i = 0; i < hscf->peers->nelts; i++) {
        if (peers[i].name.len == name->len
            && ngx_strncmp(peers[i].name.data, name->data, name->len) == 0)
        {
            return &peers[i];
        }
    }

    return NULL;
}


/*
 * One AT line from a neighbour: keep it if newer, and then pass it on to
 * every other neighbour.  Nothing is answered.  NGX_DONE: an empty line,
 * the link's keepalive.
 */

ngx_int_t
ngx_stream_herd_peer_update(ngx_stream_herd_srv_conf_t *hscf,
    ngx_stream_herd_peer_t *from, u_char *p, size_t len, ngx_log_t *log)
{
    ngx_int_t                rc;
    ngx_str_t                line;
    ngx_stream_herd_at_t     at;
    ngx_stream_herd_time_t   time;
    u_char                   what[128];

    line.data = p;
    line.len = len;
    ngx_stream_herd_trim(&line);

    if (line.len == 0) {
        /* a keepalive */
        return NGX_DONE;
    }

    if (ngx_stream_herd_parse_update(line.data, line.len, &at, &time)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "herd %V: invalid update from peer \"%V\"",
                      &hscf->name, &from->name);
        ngx_stream_herd_log_text(log, &hscf->name, "invalid update",
                                 line.data, line.len);
        return NGX_DECLINED;
    }

    if (ngx_stream_herd_at_len(&at) != line.len) {
        /* peers send single spaces: the stored line is relayed as is */
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "herd %V: malformed update from peer \"%V\"",
                      &hscf->name, &from->name);
        ngx_stream_herd_log_text(log, &hscf->name, "malformed update",
                                 line.data, line.len);
        return NGX_DECLINED;
    }

    rc = ngx_stream_herd_zone_update(hscf->shm_zone->data, &line, &at.client,
                                     &time, log);

    if (log->log_level >= NGX_LOG_INFO) {
        *ngx_snprintf(what, sizeof(what) - 1, "update from peer \"%V\" %s",
                      &from->name, rc == NGX_OK ? "stored" : "not newer")
            = '\0';

        ngx_stream_herd_log_text(log, &hscf->name, (char *) what,
                                 line.data, line.len);
    }

    if (rc == NGX_OK) {
        ngx_stream_herd_peer_flood(hscf, &line, from);
    }

    return rc;
}


ngx_int_t
ngx_stream_herd_test_connect(ngx_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        c->log->action = "connecting to herd peer";
        (void) ngx_connection_error(c, err, "connect() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static u_char *
ngx_stream_herd_link_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                  *p;
    ngx_stream_herd_link_t  *link;

    p = buf;
    link = log->data;

    if (log->action) {
        p = ngx_snprintf(p, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    p = ngx_snprintf(buf, len, ", peer: \"%V\" %V", &link->peer->name,
                     &link->peer->addr.name);

    return p;
}
