
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_stream_herd_module.h"
#include "ngx_stream_herd_auth.h"


/* stop answering further lines while this much output waits for the client */
#define NGX_STREAM_HERD_OUT_HIGH     65536
#define NGX_STREAM_HERD_OUT_INIT     4096

/* how much of an over-long line its "? " answer shows */
#define NGX_STREAM_HERD_LONG_ECHO    64

/* a peer relays AT lines, longer than the IAMAT lines they came from */
#define NGX_STREAM_HERD_PEER_SLACK   512

/* peers send an empty line every 30 s */
#define NGX_STREAM_HERD_PEER_TIMEOUT 90000

/* bytes read in one go before other connections get their turn */
#define NGX_STREAM_HERD_RUN_BUDGET   262144

/* how long a quitting worker waits for a client's unfinished line */
#define NGX_STREAM_HERD_EXIT_GRACE   5000

/* ... and for the first command of a connection that sent nothing yet */
#define NGX_STREAM_HERD_FRESH_GRACE  1000

/* chunks of a pull sent in one go before other connections get their turn */
#define NGX_STREAM_HERD_PULL_BURST   16


typedef struct {
    ngx_stream_session_t        *session;
    ngx_stream_herd_srv_conf_t  *hscf;
    ngx_stream_herd_zone_t      *zone;
    ngx_stream_herd_peer_t      *peer;     /* a neighbour, after HERD */
    ngx_stream_herd_peer_t      *authing;  /* one that must prove itself */
    u_char                      *nonces;   /* its nonce, then ours */
    ngx_msec_t                   timeout;
    ngx_stream_herd_time_t       received; /* when the last bytes came */

    ngx_buf_t                    in;       /* from c->pool, herd_max_line */
    ngx_buf_t                    out;      /* heap, grows, freed on close */

    /* a WHATSAT waiting for Places holds the later replies back */
    ngx_stream_herd_places_waiter_t  *waiter;
    ngx_str_t                    waiting;  /* its AT line, heap */

    unsigned                     eof:1;
    unsigned                     discard:1;
    unsigned                     active:1;
    /* the records of these buckets, asked for by a neighbour's link */
    u_char                      *pull;
    ngx_stream_herd_walk_t       pull_walk;
    size_t                       pull_bytes;

    unsigned                     fresh:1;  /* nothing received yet */
    unsigned                     grace:1;  /* fresh when the worker quit */
    unsigned                     pulling:1;
} ngx_stream_herd_ctx_t;


ngx_uint_t  ngx_stream_herd_sessions;


static void ngx_stream_herd_read_handler(ngx_event_t *rev);
static void ngx_stream_herd_write_handler(ngx_event_t *wev);
static void ngx_stream_herd_run(ngx_stream_herd_ctx_t *ctx);
static ssize_t ngx_stream_herd_recv(ngx_stream_herd_ctx_t *ctx);
static ngx_int_t ngx_stream_herd_broken(ngx_connection_t *c);
static ngx_int_t ngx_stream_herd_flush(ngx_stream_herd_ctx_t *ctx);
static void ngx_stream_herd_close(ngx_stream_herd_ctx_t *ctx, ngx_uint_t rc,
    char *reason);
static void ngx_stream_herd_cleanup(void *data);

static ngx_int_t ngx_stream_herd_line(ngx_stream_herd_ctx_t *ctx, u_char *p,
    size_t len);
static ngx_int_t ngx_stream_herd_iamat(ngx_stream_herd_ctx_t *ctx,
    ngx_stream_herd_cmd_t *cmd);
static ngx_int_t ngx_stream_herd_whatsat(ngx_stream_herd_ctx_t *ctx,
    ngx_stream_herd_cmd_t *cmd);
static ngx_int_t ngx_stream_herd_hello(ngx_stream_herd_ctx_t *ctx,
    ngx_stream_herd_cmd_t *cmd);
static ngx_int_t ngx_stream_herd_proof(ngx_stream_herd_ctx_t *ctx, u_char *p,
    size_t len);
static ngx_int_t ngx_stream_herd_peer_accept(ngx_stream_herd_ctx_t *ctx,
    ngx_stream_herd_peer_t *peer);
static void ngx_stream_herd_whatsat_done(void *data, ngx_str_t *json);
static ngx_int_t ngx_stream_herd_whatsat_reply(ngx_stream_herd_ctx_t *ctx,
    ngx_str_t *line, ngx_str_t *json);
static ngx_int_t ngx_stream_herd_invalid(ngx_stream_herd_ctx_t *ctx,
    ngx_str_t *line);
static ngx_int_t ngx_stream_herd_too_long(ngx_stream_herd_ctx_t *ctx);
static u_char *ngx_stream_herd_reserve(ngx_stream_herd_ctx_t *ctx,
    size_t size);
static void ngx_stream_herd_sent(ngx_stream_herd_ctx_t *ctx, u_char *last);
static ngx_int_t ngx_stream_herd_pull_start(ngx_stream_herd_ctx_t *ctx,
    u_char *p, size_t len);
static ngx_int_t ngx_stream_herd_pull(ngx_stream_herd_ctx_t *ctx);


void
ngx_stream_herd_handler(ngx_stream_session_t *s)
{
    ngx_connection_t            *c;
    ngx_pool_cleanup_t          *cln;
    ngx_stream_herd_ctx_t       *ctx;
    ngx_stream_herd_srv_conf_t  *hscf;

    c = s->connection;

    c->log->action = "serving herd protocol";

    hscf = ngx_stream_get_module_srv_conf(s, ngx_stream_herd_module);

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_stream_herd_ctx_t));
    if (ctx == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->session = s;
    ctx->hscf = hscf;
    ctx->zone = hscf->shm_zone->data;
    ctx->timeout = hscf->timeout;

    ctx->in.start = ngx_pnalloc(c->pool,
                                hscf->max_line + NGX_STREAM_HERD_PEER_SLACK);
    if (ctx->in.start == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->in.pos = ctx->in.start;
    ctx->in.last = ctx->in.start;
    ctx->in.end = ctx->in.start + hscf->max_line;

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    cln->handler = ngx_stream_herd_cleanup;
    cln->data = ctx;

    ctx->fresh = 1;
    ngx_stream_herd_sessions++;

    ngx_stream_set_ctx(s, ctx, ngx_stream_herd_module);

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "herd %V: session opened",
                  &hscf->name);

    c->read->handler = ngx_stream_herd_read_handler;
    c->write->handler = ngx_stream_herd_write_handler;

    ngx_stream_herd_run(ctx);
}


static void
ngx_stream_herd_read_handler(ngx_event_t *rev)
{
    ngx_connection_t       *c;
    ngx_stream_session_t   *s;
    ngx_stream_herd_ctx_t  *ctx;

    c = rev->data;
    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_stream_herd_module);

    if (c->close) {

        if (ctx->fresh && !ctx->grace && !c->error) {
            /*
             * A new connection with nothing received yet: its first
             * command may already be on its way, and is answered.
             */

            c->close = 0;
            ctx->grace = 1;
            ngx_add_timer(rev, ngx_min(ctx->timeout,
                                       NGX_STREAM_HERD_FRESH_GRACE));
            return;
        }

        ngx_stream_herd_close(ctx, NGX_STREAM_OK, "worker is shutting down");
        return;
    }

    if (rev->timedout) {
        c->timedout = 1;
        ngx_stream_herd_close(ctx, NGX_STREAM_OK, "client timed out");
        return;
    }

    ngx_stream_herd_run(ctx);
}


static void
ngx_stream_herd_write_handler(ngx_event_t *wev)
{
    ngx_connection_t       *c;
    ngx_stream_session_t   *s;
    ngx_stream_herd_ctx_t  *ctx;

    c = wev->data;
    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_stream_herd_module);

    if (c->close) {
        ngx_stream_herd_close(ctx, NGX_STREAM_OK, "worker is shutting down");
        return;
    }

    ngx_stream_herd_run(ctx);
}


/*
 * Answers every complete line buffered, reads more while the client's
 * output stays below NGX_STREAM_HERD_OUT_HIGH, flushes, and re-arms the
 * events and the idle timer.
 */

static void
ngx_stream_herd_run(ngx_stream_herd_ctx_t *ctx)
{
    u_char                *lf;
    size_t                 budget;
    ssize_t                n;
    ngx_buf_t             *b;
    ngx_msec_t             timeout, grace;
    ngx_connection_t      *c;
    ngx_stream_session_t  *s;

    s = ctx->session;
    c = s->connection;
    b = &ctx->in;

    ctx->active = 0;
    budget = NGX_STREAM_HERD_RUN_BUDGET;

    for ( ;; ) {

        if (ctx->out.last - ctx->out.pos >= NGX_STREAM_HERD_OUT_HIGH) {

            if (ngx_stream_herd_flush(ctx) != NGX_OK) {
                ngx_stream_herd_close(ctx, NGX_STREAM_OK,
                                      "client connection failed");
                return;
            }

            if (ctx->out.last - ctx->out.pos >= NGX_STREAM_HERD_OUT_HIGH) {
                /* backpressure: wait until the client reads */
                break;
            }
        }

        if (ctx->waiter) {
            /* replies leave in command order: wait for Places */

            if (c->read->ready && ngx_stream_herd_broken(c)) {
                /* the cleanup cancels the upstream call */
                ngx_stream_herd_close(ctx, NGX_STREAM_OK,
                                      "client reset the connection");
                return;
            }

            break;
        }

        lf = memchr(b->pos, LF, b->last - b->pos);

        if (lf != NULL) {
            if (ngx_stream_herd_line(ctx, b->pos, lf - b->pos) != NGX_OK) {
                ngx_stream_herd_close(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR,
                                      "out of memory");
                return;
            }

            b->pos = lf + 1;
            continue;
        }

        if (ctx->eof) {

            /* an unterminated last line is a command too */

            if (b->pos < b->last && !ctx->discard) {
                if (ngx_stream_herd_line(ctx, b->pos, b->last - b->pos)
                    != NGX_OK)
                {
                    ngx_stream_herd_close(ctx,
                                          NGX_STREAM_INTERNAL_SERVER_ERROR,
                                          "out of memory");
                    return;
                }
            }

            b->pos = b->start;
            b->last = b->start;
            break;
        }

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;

        } else if (b->last == b->end && b->pos > b->start) {
            b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
            b->pos = b->start;
        }

        if (b->last == b->end) {
            if (ngx_stream_herd_too_long(ctx) != NGX_OK) {
                ngx_stream_herd_close(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR,
                                      "out of memory");
                return;
            }

            continue;
        }

        if (budget == 0) {
            /* a fast sender must not starve the worker's other clients */
            ngx_post_event(c->read, &ngx_posted_next_events);
            break;
        }

        n = ngx_stream_herd_recv(ctx);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            ngx_stream_herd_close(ctx, NGX_STREAM_OK,
                                  "client connection failed");
            return;
        }

        if (n == 0) {
            ctx->eof = 1;
            continue;
        }

        ctx->active = 1;
        ctx->fresh = 0;
        budget -= ngx_min(budget, (size_t) n);

        if (ctx->discard) {

            /* the rest of an over-long line: drop it up to its LF */

            lf = memchr(b->last, LF, n);

            if (lf == NULL) {
                continue;
            }

            b->pos = lf + 1;
            ctx->discard = 0;
        }

        b->last += n;
    }

    if (ctx->pulling) {
        switch (ngx_stream_herd_pull(ctx)) {

        case NGX_ERROR:
            ngx_stream_herd_close(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR,
                                  "out of memory");
            return;

        case NGX_DECLINED:
            ngx_stream_herd_close(ctx, NGX_STREAM_OK,
                                  "client connection failed");
            return;

        default:
            break;
        }
    }

    if (ngx_stream_herd_flush(ctx) != NGX_OK) {
        ngx_stream_herd_close(ctx, NGX_STREAM_OK, "client connection failed");
        return;
    }

    if (ctx->eof && ctx->out.pos == ctx->out.last && ctx->waiter == NULL) {
        ngx_stream_herd_close(ctx, NGX_STREAM_OK, "client closed connection");
        return;
    }

    /* a graceful shutdown may close a client that has nothing pending */

    c->idle = (ctx->out.pos == ctx->out.last && b->pos == b->last
               && ctx->waiter == NULL && !ctx->pulling);

    if (c->idle && ngx_exiting && !ctx->fresh) {
        /* it was busy when the worker started to quit; now it is not */
        ngx_stream_herd_close(ctx, NGX_STREAM_OK, "worker is shutting down");
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_stream_herd_close(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR,
                              "event failure");
        return;
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_stream_herd_close(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR,
                              "event failure");
        return;
    }

    /* idle: nothing received from and nothing sent to the client */

    timeout = ctx->timeout;

    if (ctx->waiter) {
        /* a client waiting for Places never times out before Places */
        timeout = ngx_max(timeout, ctx->hscf->places.timeout
                                   + ctx->hscf->places.connect_timeout
                                   + 1000);

    } else if (ngx_exiting && ctx->out.pos == ctx->out.last) {
        /* an unfinished line, or none yet, when the worker began to quit */
        grace = ctx->fresh ? NGX_STREAM_HERD_FRESH_GRACE
                           : NGX_STREAM_HERD_EXIT_GRACE;
        timeout = ngx_min(timeout, grace);
    }

    if (ctx->active || !c->read->timer_set || ngx_exiting) {
        ngx_add_timer(c->read, timeout);
    }
}


/* bytes left by preread handlers first, then the socket */

static ssize_t
ngx_stream_herd_recv(ngx_stream_herd_ctx_t *ctx)
{
    size_t             size;
    ssize_t            n;
    ngx_buf_t         *b, *pre;
    struct timespec    ts;
    ngx_connection_t  *c;

    c = ctx->session->connection;
    b = &ctx->in;
    pre = c->buffer;

    if (pre != NULL && pre->pos < pre->last) {
        size = ngx_min((size_t) (pre->last - pre->pos),
                       (size_t) (b->end - b->last));

        ngx_memcpy(b->last, pre->pos, size);
        pre->pos += size;

        n = size;

    } else if (!c->read->ready) {
        return NGX_AGAIN;

    } else {
        n = c->recv(c, b->last, b->end - b->last);

        if (n <= 0) {
            return n;
        }

        ctx->session->received += n;
    }

    /* the receipt time of every command in these bytes */

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    ctx->received.sec = (uint64_t) ts.tv_sec;
    ctx->received.nsec = (uint32_t) ts.tv_nsec;

    return n;
}


/*
 * While a WHATSAT waits nothing is read, but a client that reset the
 * connection is noticed, as ngx_http_upstream_check_broken_connection()
 * does: peek.  A half-close is not a reset: the reply is still wanted.
 */

static ngx_int_t
ngx_stream_herd_broken(ngx_connection_t *c)
{
    int        n;
    char       buf[1];
    ngx_err_t  err;

    n = recv(c->fd, buf, 1, MSG_PEEK);

    if (n >= 0) {
        /* bytes or the EOF: read once the reply has left */
        return 0;
    }

    err = ngx_socket_errno;

    if (err == NGX_EAGAIN || err == NGX_EINTR) {
        c->read->ready = 0;
        return 0;
    }

    ngx_connection_error(c, err, "herd client connection");

    return 1;
}


static ngx_int_t
ngx_stream_herd_flush(ngx_stream_herd_ctx_t *ctx)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    c = ctx->session->connection;
    b = &ctx->out;

    while (b->pos < b->last) {

        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN || n == 0) {
            break;
        }

        b->pos += n;
        ctx->active = 1;
    }

    if (b->pos == b->last) {
        b->pos = b->start;
        b->last = b->start;
    }

    return NGX_OK;
}


static void
ngx_stream_herd_close(ngx_stream_herd_ctx_t *ctx, ngx_uint_t rc,
    char *reason)
{
    ngx_stream_session_t  *s;

    s = ctx->session;

    if (ctx->authing) {
        ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                      "herd %V: peer \"%V\" left without proving it knows "
                      "herd_peer_secret (a different secret?)",
                      &ctx->hscf->name, &ctx->authing->name);
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "herd %V: session closed: %s", &ctx->hscf->name, reason);

    ngx_stream_finalize_session(s, rc);
}


static void
ngx_stream_herd_cleanup(void *data)
{
    ngx_stream_herd_ctx_t  *ctx = data;

    if (ctx->waiter) {
        ngx_stream_herd_places_cancel(ctx->waiter);
        ctx->waiter = NULL;
    }

    if (ctx->waiting.data) {
        ngx_free(ctx->waiting.data);
        ctx->waiting.data = NULL;
    }

    if (ctx->out.start) {
        ngx_free(ctx->out.start);
        ctx->out.start = NULL;
    }

    if (--ngx_stream_herd_sessions == 0 && ngx_exiting) {
        ngx_stream_herd_peer_sessions_done();
    }
}


/* one command line, without its LF */

static ngx_int_t
ngx_stream_herd_line(ngx_stream_herd_ctx_t *ctx, u_char *p, size_t len)
{
    ngx_stream_herd_cmd_t  cmd;

    if (ctx->peer) {
        if (len > 5 && ngx_strncmp(p, "PULL ", 5) == 0) {
            return ngx_stream_herd_pull_start(ctx, p, len);
        }

        if (ngx_stream_herd_peer_update(ctx->hscf, ctx->peer, p, len,
                                        ctx->session->connection->log)
            != NGX_DONE)
        {
            return NGX_OK;
        }

        /* echo the keepalive */

        p = ngx_stream_herd_reserve(ctx, 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = LF;
        ctx->out.last++;

        return NGX_OK;
    }

    if (ctx->authing) {
        return ngx_stream_herd_proof(ctx, p, len);
    }

    switch (ngx_stream_herd_parse_line(p, len, &cmd)) {

    case NGX_STREAM_HERD_EMPTY:
        return NGX_OK;

    case NGX_STREAM_HERD_IAMAT:
        ngx_stream_herd_log_text(ctx->session->connection->log,
                                 &ctx->hscf->name, "recv",
                                 cmd.line.data, cmd.line.len);
        return ngx_stream_herd_iamat(ctx, &cmd);

    case NGX_STREAM_HERD_WHATSAT:
        ngx_stream_herd_log_text(ctx->session->connection->log,
                                 &ctx->hscf->name, "recv",
                                 cmd.line.data, cmd.line.len);
        return ngx_stream_herd_whatsat(ctx, &cmd);

    case NGX_STREAM_HERD_HELLO:
        return ngx_stream_herd_hello(ctx, &cmd);

    default: /* NGX_STREAM_HERD_INVALID */
        ngx_stream_herd_log_text(ctx->session->connection->log,
                                 &ctx->hscf->name, "recv invalid",
                                 cmd.line.data, cmd.line.len);
        return ngx_stream_herd_invalid(ctx, &cmd.line);
    }
}


static ngx_int_t
ngx_stream_herd_iamat(ngx_stream_herd_ctx_t *ctx, ngx_stream_herd_cmd_t *cmd)
{
    u_char                  *p;
    ngx_int_t                rc;
    ngx_str_t                line, client;
    ngx_stream_herd_at_t     at;
    u_char                   diff[NGX_STREAM_HERD_DIFF_LEN];

    at.server = ctx->hscf->name;
    at.diff.data = diff;
    at.diff.len = ngx_stream_herd_format_diff(diff, &ctx->received,
                                              &cmd->client_time)
                  - diff;
    at.client = cmd->client;
    at.location = cmd->location;
    at.time = cmd->time;

    p = ngx_stream_herd_reserve(ctx, ngx_stream_herd_at_len(&at) + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    line.data = p;
    p = ngx_stream_herd_format_at(p, &at);
    line.len = p - line.data;
    *p++ = LF;

    client.data = line.data + sizeof("AT ") - 1 + at.server.len + 1
                  + at.diff.len + 1;
    client.len = at.client.len;

    rc = ngx_stream_herd_zone_update(ctx->zone, &line, &client,
                                     &cmd->client_time,
                                     ctx->session->connection->log);

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ctx->session->connection->log, 0,
                   "herd %V: zone update: %i", &ctx->hscf->name, rc);

    if (rc == NGX_OK) {
        ngx_stream_herd_peer_flood(ctx->hscf, &line, NULL);
    }

    ngx_stream_herd_sent(ctx, p);

    return NGX_OK;
}


/*
 * "HERD 1 name" from a configured neighbour turns the session into the
 * receiving end of its link: answer with our digests, then take updates.
 */

static ngx_int_t
ngx_stream_herd_hello(ngx_stream_herd_ctx_t *ctx, ngx_stream_herd_cmd_t *cmd)
{
    u_char                  *p, *nonce;
    ngx_str_t               *secret;
    ngx_connection_t        *c;
    ngx_stream_herd_peer_t  *peer;
    u_char                   mac[NGX_STREAM_HERD_MAC_LEN];

    c = ctx->session->connection;
    secret = &ctx->hscf->secret;

    peer = ngx_stream_herd_peer_find(ctx->hscf, &cmd->peer);

    if (peer == NULL) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "herd %V: greeting from \"%V\", which is not a "
                      "configured herd_peer", &ctx->hscf->name, &cmd->peer);
        return ngx_stream_herd_invalid(ctx, &cmd->line);
    }

#if (NGX_STREAM_SSL)

    if (ctx->hscf->require_certificate
        && (c->ssl == NULL
            || SSL_get_verify_result(c->ssl->connection) != X509_V_OK
            || ngx_ssl_check_host(c, &peer->name) != NGX_OK))
    {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "herd %V: greeting from \"%V\" refused: no verified "
                      "client certificate for that name "
                      "(herd_peer_require_certificate)",
                      &ctx->hscf->name, &peer->name);
        return ngx_stream_herd_invalid(ctx, &cmd->line);
    }

#endif

    if (secret->len == 0) {

        if (cmd->nonce.len) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "herd %V: peer \"%V\" wants to authenticate, but "
                          "herd_peer_secret is not set here",
                          &ctx->hscf->name, &peer->name);
            return ngx_stream_herd_invalid(ctx, &cmd->line);
        }

        return ngx_stream_herd_peer_accept(ctx, peer);
    }

    if (cmd->nonce.len == 0) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "herd %V: peer \"%V\" did not authenticate: refused "
                      "(herd_peer_secret is set)", &ctx->hscf->name,
                      &peer->name);
        return ngx_stream_herd_invalid(ctx, &cmd->line);
    }

    /* prove we know the secret, then wait for the peer's proof */

    if (ctx->nonces == NULL) {
        ctx->nonces = ngx_pnalloc(c->pool, 2 * NGX_STREAM_HERD_NONCE_LEN);
        if (ctx->nonces == NULL) {
            return NGX_ERROR;
        }
    }

    nonce = ctx->nonces + NGX_STREAM_HERD_NONCE_LEN;

    ngx_memcpy(ctx->nonces, cmd->nonce.data, NGX_STREAM_HERD_NONCE_LEN);

    if (ngx_stream_herd_auth_nonce(nonce) != NGX_OK
        || ngx_stream_herd_auth_mac(secret, 'S', &ctx->hscf->name,
                                    &peer->name, ctx->nonces, nonce, mac)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_stream_herd_reserve(ctx,
                      NGX_STREAM_HERD_CHALLENGE_LEN(ctx->hscf->name.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->out.last = ngx_stream_herd_format_challenge(p, &ctx->hscf->name,
                                                     nonce, mac);
    ctx->authing = peer;

    return NGX_OK;
}


/* "AUTH 1 mac" from a peer that greeted with a nonce */

static ngx_int_t
ngx_stream_herd_proof(ngx_stream_herd_ctx_t *ctx, u_char *p, size_t len)
{
    ngx_str_t                line, mac;
    ngx_connection_t        *c;
    ngx_stream_herd_peer_t  *peer;

    c = ctx->session->connection;
    peer = ctx->authing;
    ctx->authing = NULL;

    if (ngx_stream_herd_parse_proof(p, len, &mac) == NGX_OK
        && ngx_stream_herd_auth_verify(&ctx->hscf->secret, 'L', &peer->name,
                                       &ctx->hscf->name,
                                       ctx->nonces
                                       + NGX_STREAM_HERD_NONCE_LEN,
                                       ctx->nonces, &mac)
           == NGX_OK)
    {
        return ngx_stream_herd_peer_accept(ctx, peer);
    }

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "herd %V: peer \"%V\" failed authentication: wrong "
                  "herd_peer_secret, or not a herd server",
                  &ctx->hscf->name, &peer->name);

    line.data = p;
    line.len = len;
    ngx_stream_herd_trim(&line);

    return ngx_stream_herd_invalid(ctx, &line);
}


/* a configured (and, with a secret, authenticated) neighbour */

static ngx_int_t
ngx_stream_herd_peer_accept(ngx_stream_herd_ctx_t *ctx,
    ngx_stream_herd_peer_t *peer)
{
    u_char            *p;
    size_t             len;
    ngx_connection_t  *c;
    uint64_t           digest[NGX_STREAM_HERD_DIGESTS];

    c = ctx->session->connection;

    len = NGX_STREAM_HERD_DIGEST_LEN(ctx->hscf->name.len);

    p = ngx_stream_herd_reserve(ctx, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_stream_herd_zone_digest(ctx->zone, digest);

    ctx->out.last = ngx_stream_herd_format_digest(p, &ctx->hscf->name,
                                                  digest);

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "herd %V: peer \"%V\" connected%s", &ctx->hscf->name,
                  &peer->name,
                  ctx->hscf->secret.len ? ", authenticated" : "");

    c->log->action = "receiving from herd peer";

    ctx->peer = peer;
    ctx->timeout = NGX_STREAM_HERD_PEER_TIMEOUT;
    ctx->in.end = ctx->in.start + ctx->hscf->max_line
                  + NGX_STREAM_HERD_PEER_SLACK;

    return NGX_OK;
}


static ngx_int_t
ngx_stream_herd_whatsat(ngx_stream_herd_ctx_t *ctx, ngx_stream_herd_cmd_t *cmd)
{
    u_char                         *p;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_str_t                       line, error;
    ngx_connection_t               *c;
    ngx_stream_herd_at_t            at;
    ngx_stream_herd_places_conf_t  *pcf;

    c = ctx->session->connection;
    pcf = &ctx->hscf->places;

    /* copy the stored AT line out of the zone */

    len = 256;

    for ( ;; ) {
        p = ngx_alloc(len, c->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_stream_herd_zone_get(ctx->zone, &cmd->client, p, &len);

        if (rc != NGX_AGAIN) {
            break;
        }

        /* a longer record than room: look again with room for it */

        ngx_free(p);
    }

    if (rc == NGX_DECLINED) {
        ngx_free(p);
        return ngx_stream_herd_invalid(ctx, &cmd->line);
    }

    line.data = p;
    line.len = len;

    if (pcf->key.len == 0) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "herd %V: no Places key configured, answering "
                      "REQUEST_DENIED", &ctx->hscf->name);

        rc = ngx_stream_herd_whatsat_reply(ctx, &line,
                                           &ngx_stream_herd_places_no_key);
        ngx_free(p);
        return rc;
    }

    if (ngx_stream_herd_parse_at(line.data, line.len, &at) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "herd %V: malformed record \"%V\" in zone",
                      &ctx->hscf->name, &line);
        ngx_free(p);
        return ngx_stream_herd_invalid(ctx, &cmd->line);
    }

    ctx->waiter = ngx_stream_herd_places_query(pcf, &at.location,
                                               cmd->radius_m, cmd->bound,
                                               ngx_stream_herd_whatsat_done,
                                               ctx, c->log, &error);

    if (ctx->waiter == NULL) {
        rc = ngx_stream_herd_whatsat_reply(ctx, &line, &error);
        ngx_free(p);
        return rc;
    }

    ctx->waiting = line;

    return NGX_OK;
}


static void
ngx_stream_herd_whatsat_done(void *data, ngx_str_t *json)
{
    ngx_stream_herd_ctx_t  *ctx = data;

    ngx_int_t  rc;

    ctx->waiter = NULL;

    rc = ngx_stream_herd_whatsat_reply(ctx, &ctx->waiting, json);

    ngx_free(ctx->waiting.data);
    ctx->waiting.data = NULL;

    if (rc != NGX_OK) {
        ngx_stream_herd_close(ctx, NGX_STREAM_INTERNAL_SERVER_ERROR,
                              "out of memory");
        return;
    }

    ngx_stream_herd_run(ctx);
}


/* the AT line, LF, the JSON, and the empty line that ends the reply */

static ngx_int_t
ngx_stream_herd_whatsat_reply(ngx_stream_herd_ctx_t *ctx, ngx_str_t *line,
    ngx_str_t *json)
{
    u_char  *p;

    p = ngx_stream_herd_reserve(ctx, line->len + 1 + json->len + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, line->data, line->len);
    *p++ = LF;
    p = ngx_cpymem(p, json->data, json->len);
    *p++ = LF;
    *p++ = LF;

    ngx_stream_herd_sent(ctx, p);

    return NGX_OK;
}


static ngx_int_t
ngx_stream_herd_invalid(ngx_stream_herd_ctx_t *ctx, ngx_str_t *line)
{
    u_char  *p;

    p = ngx_stream_herd_reserve(ctx, ngx_stream_herd_invalid_len(line));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_stream_herd_format_invalid(p, line);

    ngx_stream_herd_sent(ctx, p);

    return NGX_OK;
}


/*
 * The input buffer is full and holds no LF: answer "? " + the first bytes
 * + "...", and drop the rest of the line as it arrives.
 */

static ngx_int_t
ngx_stream_herd_too_long(ngx_stream_herd_ctx_t *ctx)
{
    u_char     *p;
    ngx_str_t   line;

    line.data = ctx->in.pos;
    line.len = ctx->in.last - ctx->in.pos;

    ngx_log_error(NGX_LOG_INFO, ctx->session->connection->log, 0,
                  "herd %V: line longer than herd_max_line %uz",
                  &ctx->hscf->name, ctx->hscf->max_line);

    while (line.len && ngx_stream_herd_is_space(*line.data)) {
        line.data++;
        line.len--;
    }

    if (line.len > NGX_STREAM_HERD_LONG_ECHO) {
        line.len = NGX_STREAM_HERD_LONG_ECHO;
    }

    p = ngx_stream_herd_reserve(ctx, sizeof("? ...") - 1 + line.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, "? ", 2);
    p = ngx_cpymem(p, line.data, line.len);
    p = ngx_cpymem(p, "...", 3);
    *p++ = LF;

    ngx_stream_herd_sent(ctx, p);

    ctx->in.pos = ctx->in.start;
    ctx->in.last = ctx->in.start;
    ctx->discard = 1;

    return NGX_OK;
}


/* room for size more bytes of output at ctx->out.last */

static u_char *
ngx_stream_herd_reserve(ngx_stream_herd_ctx_t *ctx, size_t size)
{
    u_char     *p;
    size_t      pending, cap;
    ngx_buf_t  *b;

    b = &ctx->out;

    if ((size_t) (b->end - b->last) >= size) {
        return b->last;
    }

    pending = b->last - b->pos;

    if (b->start && (size_t) (b->end - b->start) >= pending + size) {
        b->last = ngx_movemem(b->start, b->pos, pending);
        b->pos = b->start;
        return b->last;
    }

    cap = b->start ? (size_t) (b->end - b->start) : NGX_STREAM_HERD_OUT_INIT;

    while (cap < pending + size) {
        cap *= 2;
    }

    p = ngx_alloc(cap, ctx->session->connection->log);
    if (p == NULL) {
        return NULL;
    }

    if (b->start) {
        ngx_memcpy(p, b->pos, pending);
        ngx_free(b->start);
    }

    b->start = p;
    b->pos = p;
    b->last = p + pending;
    b->end = p + cap;

    return b->last;
}


/* the reply written at ctx->out.last up to "last" is complete */

static void
ngx_stream_herd_sent(ngx_stream_herd_ctx_t *ctx, u_char *last)
{
    ngx_stream_herd_log_text(ctx->session->connection->log, &ctx->hscf->name,
                             "send", ctx->out.last,
                             last - ctx->out.last - 1);

    ctx->out.last = last;
}


/*
 * A neighbour's link asks for the records of the buckets where its digests
 * differ from ours (after a restart, or a binary upgrade, it holds fewer):
 * they are sent back on this connection, as its own catch-up sends ours.
 */

static ngx_int_t
ngx_stream_herd_pull_start(ngx_stream_herd_ctx_t *ctx, u_char *p, size_t len)
{
    ngx_uint_t         i, n;
    ngx_connection_t  *c;

    c = ctx->session->connection;

    if (ctx->pull == NULL) {
        ctx->pull = ngx_pnalloc(c->pool, NGX_STREAM_HERD_DIGESTS / 8);
        if (ctx->pull == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_stream_herd_parse_pull(p, len, ctx->pull) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "herd %V: invalid PULL from peer \"%V\"",
                      &ctx->hscf->name, &ctx->peer->name);
        return NGX_OK;
    }

    n = 0;

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS; i++) {
        n += (ctx->pull[i / 8] >> (i % 8)) & 1;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "herd %V: peer \"%V\" asked for the records of %ui "
                  "bucket%s", &ctx->hscf->name, &ctx->peer->name, n,
                  n == 1 ? "" : "s");

    ngx_stream_herd_zone_walk_init(&ctx->pull_walk, 0);
    ctx->pull_bytes = 0;
    ctx->pulling = (n != 0);

    return NGX_OK;
}


/*
 * Queues the next chunks of a pull while the output is below its high
 * mark, sending as it goes, at most NGX_STREAM_HERD_PULL_BURST chunks per
 * call; NGX_DECLINED: the connection failed.
 */

static ngx_int_t
ngx_stream_herd_pull(ngx_stream_herd_ctx_t *ctx)
{
    u_char            *p;
    size_t             size, chunk;
    ngx_int_t          rc;
    ngx_uint_t         i, burst;
    ngx_connection_t  *c;

    c = ctx->session->connection;

    /* room for any record: a neighbour's update fits its session's buffer */
    chunk = ngx_max(NGX_STREAM_HERD_OUT_HIGH,
                    ctx->hscf->max_line + 2 * NGX_STREAM_HERD_PEER_SLACK);

    for (burst = 0; burst < NGX_STREAM_HERD_PULL_BURST; burst++) {

        while (ctx->pulling
               && ctx->out.last - ctx->out.pos < NGX_STREAM_HERD_OUT_HIGH)
        {
            i = ctx->pull_walk.bucket;

            if (!(ctx->pull[i / 8] & (1 << (i % 8)))) {
                rc = NGX_DONE;

            } else {
                p = ngx_stream_herd_reserve(ctx, chunk);
                if (p == NULL) {
                    return NGX_ERROR;
                }

                size = chunk;

                rc = ngx_stream_herd_zone_walk(ctx->zone, &ctx->pull_walk,
                                               p, &size);

                ctx->out.last += size;
                ctx->pull_bytes += size;

                if (rc == NGX_ERROR) {
                    /* cannot happen: the chunk takes any record */
                    rc = NGX_DONE;
                }
            }

            if (rc != NGX_DONE) {
                break;
            }

            if (i + 1 == NGX_STREAM_HERD_DIGESTS) {
                ctx->pulling = 0;

                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "herd %V: sent %uz bytes of records to peer "
                              "\"%V\"", &ctx->hscf->name, ctx->pull_bytes,
                              &ctx->peer->name);
                return NGX_OK;
            }

            ngx_stream_herd_zone_walk_init(&ctx->pull_walk, i + 1);
        }

        if (ngx_stream_herd_flush(ctx) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (ctx->out.pos != ctx->out.last) {
            /* the socket is full: its write event goes on */
            return NGX_OK;
        }
    }

    /* other connections first; then the next chunks */

    ngx_post_event(c->write, &ngx_posted_next_events);

    return NGX_OK;
}
