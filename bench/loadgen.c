/*
 * loadgen: a load generator for the herd line protocol (and, for
 * reference, for plain HTTP/1.1 keep-alive requests).
 *
 * One thread, one epoll loop, N connections.  Modes:
 *
 *   -m persist   N persistent connections, each with -d requests in flight
 *                (-d 1: send, wait for the reply, send the next; -d K:
 *                pipelined, K lines in flight, refilled in one write for
 *                all the replies one read brought)
 *   -m connect   N slots, each running connect / send one command /
 *                shutdown(SHUT_WR) / read until EOF / close, over and over,
 *                as the original assignment's graders' client does
 *   -m prop      propagation: IAMAT at one server (-p A), then poll the
 *                other (-P B) with WHATSAT until it holds that update;
 *                the time from sending the IAMAT to seeing it at B
 *
 * Workloads (-w): iamat, whatsat, mixed (-f fraction of WHATSATs), http
 * (the request in -F FILE, replies framed by Content-Length).
 *
 * -r RATE paces requests over all connections (depth 1): request i is due
 * at start + i / RATE and goes out on the first idle connection; its
 * latency counts from when it was due, so queueing behind a slow server
 * is measured (no coordinated omission).  Without -r every connection
 * sends as fast as replies come back.
 *
 * Every IAMAT carries the current CLOCK_REALTIME as its client time, kept
 * strictly increasing, so every IAMAT is newer than the stored one: it is
 * stored and flooded through the herd (the expensive path).  Client ids
 * are 20 bytes: a 4-byte prefix (-i), the connection number and the
 * client number (-K ids per connection, used round robin); locations
 * differ per client, so WHATSATs for different clients are different
 * Places questions.
 *
 * -X (reload and upgrade tests, bench/reload.py): a persistent connection
 * that the server closes (EOF, reset or a failed send: nginx closes idle
 * connections of old workers on reload) is reconnected at once to the
 * same port, and every request on it that had no reply yet is sent again,
 * in order, byte for byte (an IAMAT keeps its client time, so a resent
 * IAMAT is not newer than itself: resending is idempotent); replies on
 * the new connection are matched to those requests in order.  Connect
 * mode does not resend (the graders' client does not).  In both modes,
 * at the end no new request is sent and replies in flight are waited for
 * (10 s at most), and the result line ends with: requests (distinct
 * requests sent, resends not counted), answered (got a good reply),
 * failed (got a "?" or other bad reply, or no reply at all, including
 * those still unanswered at the end), server_closes (connections the
 * server closed), crossed (server closes with requests in flight: the
 * race of a request crossing the close), resent, reconnect_err (failed
 * reconnects; retried every 10 ms, for 5 s at most), unanswered, and
 * mismatched (replies whose AT line is not for the request they were
 * matched to: another client id, or for an IAMAT another client time;
 * such an IAMAT reply also counts as failed).
 *
 * Output: one line of key=value pairs on stdout (latencies in
 * microseconds).  All loops are bounded by -t (plus -W warm-up) or -n.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>


#define RBUF_SIZE   (256 * 1024)
#define MAX_PORTS   16
#define MAX_EVENTS  1024
#define ID_LEN      20

enum { W_IAMAT, W_WHATSAT, W_MIXED, W_HTTP };
enum { M_PERSIST, M_CONNECT, M_PROP };
enum { T_IAMAT, T_WHATSAT, T_HTTP };


/* latency histogram: 16 ns steps below 4096 ns, then 256 steps per octave */

#define H_LIN    256
#define H_OCT    40
#define H_SIZE   (H_LIN + H_OCT * 256)

typedef struct {
    uint64_t  b[H_SIZE];
    uint64_t  n;
    uint64_t  max;
    double    sum;
} hist_t;


static int
h_index(uint64_t v)
{
    int  e;

    if (v < 4096) {
        return (int) (v >> 4);
    }

    e = 63 - __builtin_clzll(v);            /* >= 12 */

    if (e - 12 >= H_OCT) {
        return H_SIZE - 1;
    }

    return H_LIN + (e - 12) * 256 + (int) ((v >> (e - 8)) & 255);
}


static double
h_value(int i)
{
    int       e;
    uint64_t  lo;

    if (i < H_LIN) {
        return (i << 4) + 8;
    }

    e = (i - H_LIN) / 256 + 12;
    lo = ((uint64_t) 1 << e) + ((uint64_t) ((i - H_LIN) % 256) << (e - 8));

    return (double) lo + (double) ((uint64_t) 1 << (e - 8)) / 2;
}


static void
h_add(hist_t *h, uint64_t v)
{
    h->b[h_index(v)]++;
    h->n++;
    h->sum += (double) v;

    if (v > h->max) {
        h->max = v;
    }
}


static double
h_pct(hist_t *h, double p)
{
    int       i;
    uint64_t  want, seen;

    if (h->n == 0) {
        return 0;
    }

    want = (uint64_t) ceil(p / 100.0 * (double) h->n);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (i = 0; i < H_SIZE; i++) {
        seen += h->b[i];
        if (seen >= want) {
            double v = h_value(i);
            return v > (double) h->max ? (double) h->max : v;
        }
    }

    return (double) h->max;
}


typedef struct {
    int        fd;
    int        idx;
    int        port;
    int        connected;
    int        idle;           /* rate mode: waiting for work */
    uint64_t   idle_since;     /* rate mode: free since */

    char      *rbuf;
    size_t     rlen;

    char      *wbuf;
    size_t     wlen, woff, wcap;

    /* requests in flight, oldest first */
    uint64_t  *ts;
    uint8_t   *type;
    uint32_t  *client;         /* IAMAT: client number */
    uint64_t  *ctime;          /* IAMAT: client time, ns */
    int        head, count, cap;

    int        in_body;        /* WHATSAT reply: past its AT line */
    int        places_ok;      /* WHATSAT reply: "status" : "OK" seen */
    long       http_need;      /* HTTP: bytes of the current reply, or -1 */

    uint64_t   seq;            /* requests sent */

    uint64_t   retry_at;       /* -X: reconnect due (0: none pending) */
    uint64_t   retry_since;    /* -X: first failed reconnect */
} conn_t;


static struct {
    const char  *host;
    int          ports[MAX_PORTS];
    int          nports;
    int          prop_port;
    int          conns;
    int          depth;
    int          mode;
    int          work;
    double       whatsat_frac;
    double       duration;
    double       warmup;
    double       rate;
    uint64_t     count;
    char         prefix[5];
    int          clients;
    const char  *radius;
    int          bound;
    const char  *http_file;
    const char  *label;
    int          no_setup;
    int          nolf;
    int          empty;
    int          vports[MAX_PORTS];
    int          nvports;
    double       vtimeout;
    double       prop_rate;
    long         poll_gap_us;
    int          resend;
} opt;


static conn_t    *conns;
static int        ep;
static char      *http_req;
static size_t     http_len;
static uint64_t   last_client_ns;
static uint64_t  *acked;          /* -V: newest answered time per client */
static uint64_t   mixed_acc;

static hist_t     hist;
static uint64_t   done_n, ok_n, err_n, places_ok_n, places_err_n;
static uint64_t   conn_err_n, sent_n;
static int        measuring;
static int        dead_slots;
static int        draining;      /* -V: no new requests, collect replies */

/* -X: request accounting over the whole run (warm-up included) */
static uint64_t   answered_n, failed_n, server_closes_n, crossed_n;
static uint64_t   resent_n, reconnect_err_n, unanswered_n, mismatched_n;
static int        retry_pending;

static uint64_t   t_start, t_measure, t_end;

static int       *idle_stack;
static int        idle_n;
static uint64_t   next_due;
static uint64_t   interval_ns;


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}


static void
die(const char *msg)
{
    perror(msg);
    exit(2);
}


static char *
put_u64(char *p, uint64_t v, int width)
{
    char  tmp[24];
    int   n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    while (n < width) {
        tmp[n++] = '0';
    }

    while (n) {
        *p++ = tmp[--n];
    }

    return p;
}


static char *
put_id(char *p, int conn, uint64_t client)
{
    memcpy(p, opt.prefix, 4);
    p = put_u64(p + 4, (uint64_t) conn % 1000000, 6);
    return put_u64(p, client % 10000000000ULL, 10);
}


/* a distinct location per client: +LAT.xxxxxx-118.yyyyyy */

static char *
put_location(char *p, int conn, uint64_t client)
{
    uint64_t  k = (uint64_t) conn * 7919 + client * 104729;

    p = memcpy(p, "+34.", 4) + 4;
    p = put_u64(p, k % 1000000, 6);
    p = memcpy(p, "-118.", 5) + 5;
    return put_u64(p, (k / 1000000) % 1000000, 6);
}


static char *
put_iamat_at(char *p, int conn, uint64_t client, uint64_t ns)
{
    p = memcpy(p, "IAMAT ", 6) + 6;
    p = put_id(p, conn, client);
    *p++ = ' ';
    p = put_location(p, conn, client);
    *p++ = ' ';
    p = put_u64(p, ns / 1000000000ULL, 1);
    *p++ = '.';
    p = put_u64(p, ns % 1000000000ULL, 9);
    *p++ = '\n';

    return p;
}


static char *
put_iamat(char *p, int conn, uint64_t client)
{
    struct timespec  ts;
    uint64_t         ns;

    clock_gettime(CLOCK_REALTIME, &ts);
    ns = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;

    if (ns <= last_client_ns) {
        ns = last_client_ns + 1;
    }

    last_client_ns = ns;

    return put_iamat_at(p, conn, client, ns);
}


static char *
put_whatsat(char *p, int conn, uint64_t client)
{
    size_t  n;

    p = memcpy(p, "WHATSAT ", 8) + 8;
    p = put_id(p, conn, client);
    *p++ = ' ';
    n = strlen(opt.radius);
    p = memcpy(p, opt.radius, n) + n;
    *p++ = ' ';
    p = put_u64(p, (uint64_t) opt.bound, 1);
    *p++ = '\n';

    return p;
}


static void
set_nonblock(int fd)
{
    int  fl = fcntl(fd, F_GETFL);

    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        die("fcntl");
    }
}


static struct sockaddr_in
addr_of(int port)
{
    struct sockaddr_in  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);

    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bad host %s\n", opt.host);
        exit(2);
    }

    return sa;
}


static int
connect_blocking(int port)
{
    int                 fd, one = 1, i;
    struct sockaddr_in  sa = addr_of(port);

    for (i = 0; i < 50; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            die("socket");
        }

        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }

        close(fd);
        usleep(100000);
    }

    fprintf(stderr, "cannot connect to %s:%d\n", opt.host, port);
    exit(2);
}


static void
write_all(int fd, const char *p, size_t n)
{
    ssize_t  w;

    while (n) {
        w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("write");
        }
        p += w;
        n -= (size_t) w;
    }
}


/* blocking: read one line (without LF) into buf; -1 on EOF */

static int
read_line(int fd, char *rb, size_t *rl, char *line, size_t cap)
{
    char     *lf;
    ssize_t   n;
    size_t    len;

    for ( ;; ) {
        lf = memchr(rb, '\n', *rl);

        if (lf) {
            len = (size_t) (lf - rb);
            if (len >= cap) {
                len = cap - 1;
            }
            memcpy(line, rb, len);
            line[len] = '\0';
            *rl -= (size_t) (lf + 1 - rb);
            memmove(rb, lf + 1, *rl);
            return (int) len;
        }

        if (*rl == RBUF_SIZE) {
            *rl = 0;
        }

        n = read(fd, rb + *rl, RBUF_SIZE - *rl);
        if (n <= 0) {
            return -1;
        }

        *rl += (size_t) n;
    }
}


/* ---- persistent and connect modes ---------------------------------- */


static void
conn_init(conn_t *c, int idx)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->idx = idx;
    c->port = opt.ports[idx % opt.nports];
    c->rbuf = malloc(RBUF_SIZE);
    c->cap = opt.depth + 1;
    c->ts = calloc((size_t) c->cap, sizeof(uint64_t));
    c->type = calloc((size_t) c->cap, 1);
    c->client = calloc((size_t) c->cap, sizeof(uint32_t));
    c->ctime = calloc((size_t) c->cap, sizeof(uint64_t));
    c->wcap = (size_t) (opt.depth + 1) * 256 + http_len;
    c->wbuf = malloc(c->wcap);
    c->http_need = -1;

    if (!c->rbuf || !c->ts || !c->type || !c->wbuf || !c->client
        || !c->ctime)
    {
        die("malloc");
    }
}


static int
next_type(void)
{
    switch (opt.work) {
    case W_WHATSAT:
        return T_WHATSAT;
    case W_HTTP:
        return T_HTTP;
    case W_MIXED:
        mixed_acc += (uint64_t) (opt.whatsat_frac * 1000000);
        if (mixed_acc >= 1000000) {
            mixed_acc -= 1000000;
            return T_WHATSAT;
        }
        return T_IAMAT;
    default:
        return T_IAMAT;
    }
}


/* append one request to c's write buffer and to its in-flight FIFO */

static void
queue_req(conn_t *c, uint64_t ts)
{
    int       t = next_type();
    char     *p = c->wbuf + c->wlen;
    uint64_t  client = c->seq % (uint64_t) opt.clients;

    if (c->wlen + 256 + http_len > c->wcap) {
        return;
    }

    switch (t) {
    case T_IAMAT:
        p = put_iamat(p, c->idx, client);
        break;
    case T_WHATSAT:
        p = put_whatsat(p, c->idx, client);
        break;
    default:
        memcpy(p, http_req, http_len);
        p += http_len;
    }

    if (opt.nolf && opt.mode == M_CONNECT && t != T_HTTP) {
        p--;                      /* the graders sent no trailing newline */
    }

    if (opt.empty && opt.mode == M_CONNECT) {
        p = c->wbuf + c->wlen;    /* send nothing: only connect and read */
    }

    c->wlen = (size_t) (p - c->wbuf);
    c->seq++;
    sent_n++;

    c->ts[(c->head + c->count) % c->cap] = ts;
    c->type[(c->head + c->count) % c->cap] = (uint8_t) t;
    c->client[(c->head + c->count) % c->cap] = (uint32_t) client;
    c->ctime[(c->head + c->count) % c->cap] = last_client_ns;
    c->count++;
}


static int
flush_w(conn_t *c)
{
    ssize_t  n;

    while (c->woff < c->wlen) {
        n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }

        c->woff += (size_t) n;
    }

    c->woff = 0;
    c->wlen = 0;

    return 0;
}


static void
complete(conn_t *c, uint64_t now, int ok)
{
    int  t = c->type[c->head];

    if (acked && t == T_IAMAT && ok) {
        uint64_t *a = &acked[(uint64_t) c->idx * (uint64_t) opt.clients
                             + c->client[c->head]];
        if (c->ctime[c->head] > *a) {
            *a = c->ctime[c->head];
        }
    }

    if (ok) {
        answered_n++;
    } else {
        failed_n++;
    }

    if (measuring) {
        h_add(&hist, now - c->ts[c->head]);
        done_n++;

        if (ok) {
            ok_n++;
        } else {
            err_n++;
        }

        if (t == T_WHATSAT && ok) {
            if (c->places_ok) {
                places_ok_n++;
            } else {
                places_err_n++;
            }
        }
    }

    c->head = (c->head + 1) % c->cap;
    c->count--;
}


/*
 * -X: does the AT line p[0..len) answer the request at the head of c?
 * An IAMAT's AT line ends with its client id, location and client time;
 * a WHATSAT's AT line names its client id.
 */

static int
matches(conn_t *c, const char *p, size_t len)
{
    char    want[128], *e;
    size_t  n;
    int     k = c->head;

    if (c->type[k] == T_IAMAT) {
        e = put_iamat_at(want, c->idx, c->client[k], c->ctime[k]);
        n = (size_t) (e - want) - 7;              /* no "IAMAT ", no LF */
        return len > n + 1 && memcmp(p + len - n, want + 6, n) == 0
               && p[len - n - 1] == ' ';
    }

    want[0] = ' ';
    e = put_id(want + 1, c->idx, c->client[k]);
    *e++ = ' ';
    n = (size_t) (e - want);

    return memmem(p, len, want, n) != NULL;
}


/*
 * Takes the complete replies out of c->rbuf; returns how many, or -1 on
 * a reply that matches nothing in flight.
 */

static int
parse_replies(conn_t *c, uint64_t now)
{
    char    *p, *end, *lf, *hdr;
    int      got = 0;
    size_t   len;

    p = c->rbuf;
    end = c->rbuf + c->rlen;

    while (p < end) {

        if (c->count == 0) {
            return -1;
        }

        if (c->type[c->head] == T_HTTP) {
            if (c->http_need < 0) {
                hdr = memmem(p, (size_t) (end - p), "\r\n\r\n", 4);
                if (hdr == NULL) {
                    break;
                }

                char *cl = memmem(p, (size_t) (hdr - p), "Content-Length:", 15);
                if (cl == NULL) {
                    cl = memmem(p, (size_t) (hdr - p), "content-length:", 15);
                }
                long body = cl ? strtol(cl + 15, NULL, 10) : 0;
                c->http_need = (hdr + 4 - p) + body;
                c->places_ok = (end - p >= 12 && memcmp(p + 9, "200", 3) == 0);
            }

            if (end - p < c->http_need) {
                break;
            }

            p += c->http_need;
            c->http_need = -1;
            complete(c, now, c->places_ok);
            got++;
            continue;
        }

        lf = memchr(p, '\n', (size_t) (end - p));
        if (lf == NULL) {
            break;
        }

        len = (size_t) (lf - p);

        if (c->type[c->head] == T_IAMAT) {
            int  ok = len > 3 && memcmp(p, "AT ", 3) == 0;

            if (ok && opt.resend && !matches(c, p, len)) {
                mismatched_n++;
                ok = 0;
            }

            complete(c, now, ok);
            got++;

        } else if (!c->in_body) {
            if (len > 3 && memcmp(p, "AT ", 3) == 0) {
                if (opt.resend && !matches(c, p, len)) {
                    mismatched_n++;
                }
                c->in_body = 1;
                c->places_ok = 0;
            } else {
                complete(c, now, 0);         /* "? WHATSAT ..." */
                got++;
            }

        } else if (len == 0) {
            c->in_body = 0;
            complete(c, now, 1);
            got++;

        } else if (!c->places_ok) {
            char *s = memmem(p, len, "\"status\"", 8);
            if (s && memmem(s + 8, (size_t) (lf - s - 8), "\"OK\"", 4)) {
                c->places_ok = 1;
            }
        }

        p = lf + 1;
    }

    c->rlen = (size_t) (end - p);
    if (c->rlen && p != c->rbuf) {
        memmove(c->rbuf, p, c->rlen);
    }

    return got;
}


static void
arm(conn_t *c, int op)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ev.data.ptr = c;

    if (epoll_ctl(ep, op, c->fd, &ev) < 0) {
        die("epoll_ctl");
    }
}


/* ---- -X: reconnect and resend ----------------------------------------- */

static void reconnect(conn_t *c, uint64_t now);


/* rate mode: a connection with nothing in flight is free for work */

static void
settle(conn_t *c, uint64_t now)
{
    if (opt.rate > 0 && c->count == 0 && !c->idle) {
        c->idle = 1;
        c->idle_since = now;
        idle_stack[idle_n++] = c->idx;
    }
}


/* the lines of the requests still in flight on c, in order, byte for byte */

static void
resend_all(conn_t *c)
{
    int      i, k;
    char    *p;
    size_t   need;

    need = (size_t) (c->count + 1) * (256 + http_len);

    if (need > c->wcap) {
        c->wbuf = realloc(c->wbuf, need);
        if (c->wbuf == NULL) {
            die("realloc");
        }
        c->wcap = need;
    }

    p = c->wbuf;

    for (i = 0; i < c->count; i++) {
        k = (c->head + i) % c->cap;

        switch (c->type[k]) {
        case T_IAMAT:
            p = put_iamat_at(p, c->idx, c->client[k], c->ctime[k]);
            break;
        case T_WHATSAT:
            p = put_whatsat(p, c->idx, c->client[k]);
            break;
        default:
            memcpy(p, http_req, http_len);
            p += http_len;
        }
    }

    c->wlen = (size_t) (p - c->wbuf);
    c->woff = 0;
    resent_n += (uint64_t) c->count;
}


static void
reconnect_failed(conn_t *c, uint64_t now)
{
    reconnect_err_n++;

    if (c->retry_since == 0) {
        c->retry_since = now;
    }

    if (now - c->retry_since > 5000000000ULL) {
        fprintf(stderr, "connection %d: cannot reconnect to port %d\n",
                c->idx, c->port);

        while (c->count) {
            complete(c, now, 0);
        }

        c->wlen = 0;
        c->woff = 0;
        c->retry_at = 0;
        c->retry_since = 0;
        settle(c, now);
        return;
    }

    c->retry_at = now + 10000000ULL;
    retry_pending = 1;
    settle(c, now);
}


/* c's connection is gone: count it, reconnect and resend */

static void
server_closed(conn_t *c, uint64_t now)
{
    close(c->fd);
    c->fd = -1;
    c->rlen = 0;
    c->wlen = 0;
    c->woff = 0;
    c->in_body = 0;
    c->places_ok = 0;
    c->http_need = -1;

    if (!c->connected) {
        /* a reconnect that did not get through */
        reconnect_failed(c, now);
        return;
    }

    c->connected = 0;
    server_closes_n++;

    if (c->count) {
        crossed_n++;
    }

    reconnect(c, now);
}


static void
reconnect(conn_t *c, uint64_t now)
{
    int                 fd, one = 1, rc;
    struct sockaddr_in  sa = addr_of(c->port);

    c->retry_at = 0;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        die("socket");
    }

    rc = connect(fd, (struct sockaddr *) &sa, sizeof(sa));

    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        reconnect_failed(c, now);
        return;
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->fd = fd;
    c->connected = (rc == 0);

    if (c->connected) {
        c->retry_since = 0;
    }

    arm(c, EPOLL_CTL_ADD);

    resend_all(c);

    /* unpaced: keep -d requests in flight, as before the close */

    if (opt.rate <= 0 && !draining && !(opt.count && sent_n >= opt.count)) {
        while (c->count < opt.depth) {
            int  before = c->count;

            queue_req(c, now);

            if (c->count == before) {
                break;
            }
        }
    }

    settle(c, now);

    /* while connecting, send() says EAGAIN and EPOLLOUT flushes later */

    if (flush_w(c) < 0) {
        server_closed(c, now);
    }
}


static void
retry_due(uint64_t now)
{
    int      i;
    conn_t  *c;

    if (!retry_pending) {
        return;
    }

    retry_pending = 0;

    for (i = 0; i < opt.conns; i++) {
        c = &conns[i];

        if (c->fd >= 0 || c->retry_at == 0) {
            continue;
        }

        if (c->retry_at <= now) {
            reconnect(c, now);

        } else {
            retry_pending = 1;
        }
    }
}


/* connect mode: start the next command on slot c */

static void
slot_start(conn_t *c)
{
    int                 fd;
    struct sockaddr_in  sa = addr_of(c->port);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        die("socket");
    }

    c->fd = fd;
    c->connected = 0;
    c->rlen = 0;
    c->wlen = 0;
    c->woff = 0;
    c->in_body = 0;
    c->head = 0;
    c->count = 0;

    queue_req(c, now_ns());

    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
        c->connected = 1;
        arm(c, EPOLL_CTL_ADD);
        if (flush_w(c) < 0 || shutdown(fd, SHUT_WR) < 0) {
            goto failed;
        }
        return;
    }

    if (errno != EINPROGRESS) {
        goto failed;
    }

    arm(c, EPOLL_CTL_ADD);
    return;

failed:

    conn_err_n++;
    failed_n += (uint64_t) c->count;
    dead_slots = 1;
    close(fd);
    c->fd = -1;
}


static void
slot_event(conn_t *c, uint32_t events)
{
    int        err = 0;
    ssize_t    n;
    socklen_t  len = sizeof(err);
    uint64_t   now;

    if (!c->connected) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            goto failed;
        }

        c->connected = 1;

        if (flush_w(c) < 0 || shutdown(c->fd, SHUT_WR) < 0) {
            goto failed;
        }
    }

    for ( ;; ) {
        if (c->rlen == RBUF_SIZE) {
            c->rlen = 0;                    /* read ~1 MB at most, like the graders */
        }

        n = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);

        if (n > 0) {
            c->rlen += (size_t) n;
            continue;
        }

        if (n == 0) {
            break;
        }

        if (errno == EAGAIN) {
            return;
        }

        if (errno == EINTR) {
            continue;
        }

        /* a reset after the reply (nginx "return" closes unread input) */
        if (c->rlen == 0) {
            goto failed;
        }

        break;
    }

    now = now_ns();

    /* EOF: the reply is complete */

    if (c->rlen && c->rbuf[c->rlen - 1] != '\n') {
        c->rbuf[c->rlen++] = '\n';
    }

    if (c->type[c->head] == T_WHATSAT && c->rlen
        && !(c->rlen >= 2 && c->rbuf[c->rlen - 2] == '\n'))
    {
        c->rbuf[c->rlen++] = '\n';
    }

    if (parse_replies(c, now) != 1) {
        if (c->count) {
            complete(c, now, 0);
        }
    }

    close(c->fd);
    c->fd = -1;

    if (!draining) {
        slot_start(c);
    }

    return;

failed:

    if (measuring) {
        conn_err_n++;
    }

    failed_n += (uint64_t) c->count;
    c->count = 0;

    close(c->fd);
    c->fd = -1;

    if (!draining) {
        slot_start(c);
    }
}


static void
persist_event(conn_t *c, uint32_t events, uint64_t *nowp)
{
    int      got, i;
    ssize_t  n;

    if (c->fd < 0) {
        return;                   /* -X: waiting to reconnect */
    }

    if (!c->connected) {
        /* -X: a reconnect in progress */
        int        err = 0;
        socklen_t  len = sizeof(err);

        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            server_closed(c, *nowp);
            return;
        }

        c->connected = 1;
        c->retry_since = 0;
    }

    if (events & EPOLLOUT) {
        if (flush_w(c) < 0) {
            if (opt.resend) {
                server_closed(c, *nowp);
                return;
            }
            fprintf(stderr, "send failed on connection %d\n", c->idx);
            exit(1);
        }
    }

    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        return;
    }

    got = 0;

    for ( ;; ) {
        size_t  want = RBUF_SIZE - c->rlen;

        n = recv(c->fd, c->rbuf + c->rlen, want, 0);

        if (n > 0) {
            c->rlen += (size_t) n;
            *nowp = now_ns();

            i = parse_replies(c, *nowp);
            if (i < 0) {
                fprintf(stderr, "unexpected reply on connection %d: %.80s\n",
                        c->idx, c->rbuf);
                exit(1);
            }

            got += i;

            if (c->rlen == RBUF_SIZE) {
                fprintf(stderr, "reply too long on connection %d\n", c->idx);
                exit(1);
            }

            if ((size_t) n < want
                && !(opt.resend
                     && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))))
            {
                /* short read: the socket is drained (edge-triggered) */
                n = -1;
                errno = EAGAIN;
            } else {
                continue;
            }
        }

        if (n == 0) {
            if (opt.resend) {
                server_closed(c, *nowp);
                return;
            }
            fprintf(stderr, "server closed connection %d\n", c->idx);
            exit(1);
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN) {
            if (opt.resend) {
                server_closed(c, *nowp);
                return;
            }
            fprintf(stderr, "recv on connection %d: %s\n", c->idx,
                    strerror(errno));
            exit(1);
        }

        break;
    }

    if (got == 0) {
        return;
    }

    if (opt.rate > 0) {
        if (c->count == 0 && !c->idle) {
            c->idle = 1;
            c->idle_since = *nowp;
            idle_stack[idle_n++] = c->idx;
        }
        return;
    }

    if ((opt.count && sent_n >= opt.count) || draining) {
        return;
    }

    /* refill: one write for all the replies this read brought */

    for (i = 0; i < got && c->count < opt.depth; i++) {
        queue_req(c, *nowp);
    }

    if (flush_w(c) < 0) {
        if (opt.resend) {
            server_closed(c, *nowp);
            return;
        }
        fprintf(stderr, "send failed on connection %d\n", c->idx);
        exit(1);
    }
}


/* WHATSAT needs known clients: one IAMAT per client id first */

static void
setup_clients(void)
{
    int     i, k, got, sent, batch;
    char   *buf, line[8192];
    conn_t *c;

    if (opt.no_setup
        || !(opt.work == W_WHATSAT || opt.work == W_MIXED)
        || opt.mode != M_PERSIST)
    {
        return;
    }

    buf = malloc(64 * 256);

    for (i = 0; i < opt.conns; i++) {
        c = &conns[i];
        sent = 0;

        while (sent < opt.clients) {
            char *p = buf;
            batch = opt.clients - sent < 64 ? opt.clients - sent : 64;
            for (k = 0; k < batch; k++) {
                p = put_iamat(p, c->idx, (uint64_t) (sent + k));
            }
            write_all(c->fd, buf, (size_t) (p - buf));
            for (got = 0; got < batch; got++) {
                if (read_line(c->fd, c->rbuf, &c->rlen, line, sizeof(line)) < 0) {
                    fprintf(stderr, "setup: connection closed\n");
                    exit(1);
                }
            }
            sent += batch;
        }
    }

    free(buf);
}


static void
run_loop(void)
{
    int                 i, n;
    uint64_t            now, limit;
    conn_t             *c;
    struct timespec     to;
    struct epoll_event  evs[MAX_EVENTS];

    now = now_ns();
    t_start = now;
    t_measure = now + (uint64_t) (opt.warmup * 1e9);
    t_end = t_measure + (uint64_t) (opt.duration * 1e9);
    measuring = (opt.warmup == 0);

    if (opt.mode == M_CONNECT) {
        for (i = 0; i < opt.conns; i++) {
            slot_start(&conns[i]);
        }

    } else if (opt.rate > 0) {
        interval_ns = (uint64_t) (1e9 / opt.rate);
        next_due = now;
        for (i = opt.conns - 1; i >= 0; i--) {
            conns[i].idle = 1;
            idle_stack[idle_n++] = i;
        }

    } else {
        for (i = 0; i < opt.conns; i++) {
            c = &conns[i];
            for (n = 0; n < opt.depth; n++) {
                queue_req(c, now);
            }
            if (flush_w(c) < 0) {
                if (!opt.resend) {
                    die("send");
                }
                server_closed(c, now);
            }
        }
    }

    for ( ;; ) {
        now = now_ns();

        if (!measuring && now >= t_measure) {
            memset(&hist, 0, sizeof(hist));
            done_n = ok_n = err_n = places_ok_n = places_err_n = 0;
            conn_err_n = 0;
            measuring = 1;
            t_measure = now;
            t_end = now + (uint64_t) (opt.duration * 1e9);
        }

        if (now >= t_end) {
            break;
        }

        if (opt.count && done_n >= opt.count) {
            break;
        }

        if (opt.rate > 0) {
            while (next_due <= now && idle_n > 0) {
                c = &conns[idle_stack[--idle_n]];
                c->idle = 0;
                /* a request that had to wait for a busy connection is
                   timed from when it was due (waiting for the server
                   counts); one that found a free connection from when it
                   left (the generator's own lateness does not) */
                queue_req(c, c->idle_since <= next_due ? now : next_due);
                next_due += interval_ns;
                if (c->fd < 0) {
                    continue;     /* -X: sent when it reconnects */
                }
                if (flush_w(c) < 0) {
                    if (!opt.resend) {
                        die("send");
                    }
                    server_closed(c, now);
                }
            }
        }

        limit = t_end - now;

        if (opt.rate > 0 && idle_n > 0 && next_due > now
            && next_due - now < limit)
        {
            limit = next_due - now;
        }

        if (limit > 100000000) {
            limit = 100000000;
        }

        if (retry_pending && limit > 10000000) {
            limit = 10000000;
        }

        to.tv_sec = 0;
        to.tv_nsec = (long) limit;

        n = epoll_pwait2(ep, evs, MAX_EVENTS, &to, NULL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_pwait2");
        }

        now = now_ns();

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (opt.mode == M_CONNECT) {
                slot_event(c, evs[i].events);
            } else {
                persist_event(c, evs[i].events, &now);
            }
        }

        retry_due(now_ns());

        if (dead_slots) {
            /* slots whose connect() failed at once start again */
            dead_slots = 0;
            for (i = 0; i < opt.conns; i++) {
                if (conns[i].fd < 0) {
                    slot_start(&conns[i]);
                }
            }
        }
    }

    now = now_ns();

    double  secs = (double) (now - t_measure) / 1e9;

    if (acked || opt.resend) {
        /* collect the replies still in flight, so that what the servers
           hold is exactly what was answered (-X: and every request has
           had its chance to be answered) */
        uint64_t  until = now + 10000000000ULL;
        int       busy = 1;

        measuring = 0;
        draining = 1;

        while (busy && now_ns() < until) {
            busy = 0;
            for (i = 0; i < opt.conns; i++) {
                busy += opt.mode == M_CONNECT ? conns[i].fd >= 0
                                              : conns[i].count;
            }
            if (!busy) {
                break;
            }
            to.tv_sec = 0;
            to.tv_nsec = retry_pending ? 10000000 : 100000000;
            n = epoll_pwait2(ep, evs, MAX_EVENTS, &to, NULL);
            now = now_ns();
            for (i = 0; i < n; i++) {
                if (opt.mode == M_CONNECT) {
                    slot_event(evs[i].data.ptr, evs[i].events);
                } else {
                    persist_event(evs[i].data.ptr, evs[i].events, &now);
                }
            }
            retry_due(now_ns());
        }

        for (i = 0; i < opt.conns; i++) {
            if (opt.mode != M_CONNECT || conns[i].fd >= 0) {
                unanswered_n += (uint64_t) conns[i].count;
            }
        }

        failed_n += unanswered_n;
    }

    printf("label=%s mode=%s work=%s conns=%d depth=%d target_rate=%.0f "
           "secs=%.3f done=%llu rate=%.0f ok=%llu err=%llu conn_err=%llu "
           "places_ok=%llu places_err=%llu "
           "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "mean_us=%.1f",
           opt.label,
           opt.mode == M_CONNECT ? "connect" : "persist",
           opt.work == W_IAMAT ? "iamat" : opt.work == W_WHATSAT ? "whatsat"
           : opt.work == W_MIXED ? "mixed" : "http",
           opt.conns, opt.depth, opt.rate, secs,
           (unsigned long long) done_n, (double) done_n / secs,
           (unsigned long long) ok_n, (unsigned long long) err_n,
           (unsigned long long) conn_err_n,
           (unsigned long long) places_ok_n,
           (unsigned long long) places_err_n,
           h_pct(&hist, 50) / 1e3, h_pct(&hist, 90) / 1e3,
           h_pct(&hist, 99) / 1e3, h_pct(&hist, 99.9) / 1e3,
           (double) hist.max / 1e3,
           hist.n ? hist.sum / (double) hist.n / 1e3 : 0.0);

    if (opt.resend) {
        printf(" requests=%llu answered=%llu failed=%llu server_closes=%llu "
               "crossed=%llu resent=%llu reconnect_err=%llu unanswered=%llu "
               "mismatched=%llu",
               (unsigned long long) sent_n, (unsigned long long) answered_n,
               (unsigned long long) failed_n,
               (unsigned long long) server_closes_n,
               (unsigned long long) crossed_n, (unsigned long long) resent_n,
               (unsigned long long) reconnect_err_n,
               (unsigned long long) unanswered_n,
               (unsigned long long) mismatched_n);
    }

    printf("\n");
}


/* ---- propagation ----------------------------------------------------- */


static void
run_prop(void)
{
    int       a, b, i, len, seen;
    char      buf[512], line[8192], want[64], *p;
    char     *ra, *rb;
    size_t    rla = 0, rlb = 0, wl;
    uint64_t  t0, t1, now, sample = 0, polls = 0, next;

    ra = malloc(RBUF_SIZE);
    rb = malloc(RBUF_SIZE);

    a = connect_blocking(opt.ports[0]);
    b = connect_blocking(opt.prop_port);

    now = now_ns();
    t_measure = now + (uint64_t) (opt.warmup * 1e9);
    t_end = t_measure + (uint64_t) (opt.duration * 1e9);
    next = now;

    for ( ;; ) {
        now = now_ns();

        if (!measuring && now >= t_measure) {
            memset(&hist, 0, sizeof(hist));
            measuring = 1;
            polls = 0;
            sample = 0;
            t_measure = now;
        }

        if (now >= t_end) {
            break;
        }

        if (now < next) {
            struct timespec  ts = { 0, (long) (next - now) };
            nanosleep(&ts, NULL);
        }

        next += (uint64_t) (1e9 / opt.prop_rate);

        /* the probe: client "prop" + sample number, at A */

        p = put_iamat(buf, 999999, sample % 16);
        wl = (size_t) (p - buf);

        /* the client time is the last field */
        for (i = (int) wl - 2; i > 0 && buf[i] != ' '; i--) { }
        len = (int) wl - 1 - (i + 1);
        memcpy(want, buf + i + 1, (size_t) len);
        want[len] = '\0';

        t0 = now_ns();
        write_all(a, buf, wl);

        /* poll B until its stored AT line ends with that time */

        seen = 0;

        for (i = 0; i < 100000 && !seen; i++) {
            if (i && opt.poll_gap_us) {
                struct timespec  gap = { 0, opt.poll_gap_us * 1000 };
                nanosleep(&gap, NULL);
            }

            p = put_whatsat(buf, 999999, sample % 16);
            write_all(b, buf, (size_t) (p - buf));
            polls++;

            len = read_line(b, rb, &rlb, line, sizeof(line));
            if (len < 0) {
                fprintf(stderr, "prop: B closed\n");
                exit(1);
            }

            if (len > 3 && memcmp(line, "AT ", 3) == 0) {
                size_t wlen = strlen(want);
                if ((size_t) len > wlen
                    && memcmp(line + len - wlen, want, wlen) == 0
                    && line[len - wlen - 1] == ' ')
                {
                    seen = 1;
                }

                /* the rest of the WHATSAT reply, up to its empty line */
                while ((len = read_line(b, rb, &rlb, line, sizeof(line))) > 0) { }
                if (len < 0) {
                    fprintf(stderr, "prop: B closed\n");
                    exit(1);
                }
            }
        }

        t1 = now_ns();

        if (!seen) {
            fprintf(stderr, "prop: update never seen at B\n");
            exit(1);
        }

        if (read_line(a, ra, &rla, line, sizeof(line)) < 0) {
            fprintf(stderr, "prop: A closed\n");
            exit(1);
        }

        if (measuring) {
            h_add(&hist, t1 - t0);
            sample++;
        } else {
            sample++;
        }
    }

    printf("label=%s mode=prop samples=%llu polls=%llu "
           "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "mean_us=%.1f\n",
           opt.label, (unsigned long long) hist.n, (unsigned long long) polls,
           h_pct(&hist, 50) / 1e3, h_pct(&hist, 90) / 1e3,
           h_pct(&hist, 99) / 1e3, h_pct(&hist, 99.9) / 1e3,
           (double) hist.max / 1e3,
           hist.n ? hist.sum / (double) hist.n / 1e3 : 0.0);

    close(a);
    close(b);
}


/* ---- convergence ----------------------------------------------------- */

/*
 * After the load: ask every -V server, with WHATSATs, for the record of
 * every client this run updated, until each holds the newest answered
 * update, or -T seconds pass.  Prints how long that took.
 */

static void
run_verify(void)
{
    int       v, fd, len, i, k, batch, rounds = 0, closed;
    char      want[32], *p, *out, *rb, line[8192];
    size_t    rl, wl;
    uint64_t  t0, t1, bad = 0, total, idx, n, ns, start;

    t0 = now_ns();
    total = (uint64_t) opt.conns * (uint64_t) opt.clients;
    out = malloc(512 * 64);
    rb = malloc(RBUF_SIZE);

    for ( ;; ) {
        rounds++;
        bad = 0;

        for (v = 0; v < opt.nvports; v++) {
            fd = connect_blocking(opt.vports[v]);
            rl = 0;
            closed = 0;

            for (start = 0; start < total; start += 512) {
                batch = (int) (total - start < 512 ? total - start : 512);
                p = out;
                n = 0;

                for (k = 0; k < batch; k++) {
                    idx = start + (uint64_t) k;
                    if (acked[idx] == 0) {
                        continue;
                    }
                    p = put_whatsat(p, (int) (idx / (uint64_t) opt.clients),
                                    idx % (uint64_t) opt.clients);
                    n++;
                }

                wl = (size_t) (p - out);
                write_all(fd, out, wl);

                for (k = 0; k < batch; k++) {
                    idx = start + (uint64_t) k;
                    if (acked[idx] == 0) {
                        continue;
                    }

                    ns = acked[idx];
                    p = put_u64(want, ns / 1000000000ULL, 1);
                    *p++ = '.';
                    p = put_u64(p, ns % 1000000000ULL, 9);
                    *p = '\0';

                    len = read_line(fd, rb, &rl, line, sizeof(line));
                    if (len < 0) {
                        if (opt.resend) {
                            /* -X: a reload closed it: another round */
                            bad++;
                            closed = 1;
                            break;
                        }
                        fprintf(stderr, "verify: connection closed\n");
                        exit(1);
                    }

                    if (len > 3 && memcmp(line, "AT ", 3) == 0) {
                        size_t wn = strlen(want);
                        if (!((size_t) len > wn
                              && memcmp(line + len - wn, want, wn) == 0))
                        {
                            bad++;
                        }
                        while ((len = read_line(fd, rb, &rl, line,
                                                sizeof(line))) > 0)
                        { }
                    } else {
                        bad++;
                    }
                }
                (void) n;

                if (closed) {
                    break;
                }
            }

            close(fd);
        }

        t1 = now_ns();

        if (bad == 0 || (double) (t1 - t0) / 1e9 > opt.vtimeout) {
            break;
        }

        {
            struct timespec ts = { 0, 50000000 };
            nanosleep(&ts, NULL);
        }
    }

    for (i = 0, n = 0; (uint64_t) i < total; i++) {
        n += acked[i] != 0;
    }

    printf("label=%s verify_servers=%d verify_clients=%llu converged=%s "
           "converge_ms=%.1f unconverged=%llu verify_rounds=%d\n",
           opt.label, opt.nvports, (unsigned long long) n,
           bad ? "no" : "yes", (double) (t1 - t0) / 1e6,
           (unsigned long long) bad, rounds);
}


static void
usage(void)
{
    fprintf(stderr,
        "usage: loadgen [-H host] -p port[,port...] [-c conns] [-d depth]\n"
        "               [-m persist|connect|prop] [-w iamat|whatsat|mixed|http]\n"
        "               [-f whatsat-fraction] [-t secs] [-W warmup-secs]\n"
        "               [-r rate] [-n count] [-i id-prefix] [-K ids-per-conn]\n"
        "               [-R radius-km] [-B bound] [-F http-request-file]\n"
        "               [-P poll-port] [-S prop-samples-per-sec] [-G poll-gap-us]\n"
        "               [-l label]\n"
        "               [-N (connect mode: no trailing newline)] [-x (no setup)]\n"
        "               [-e (connect mode: send nothing, half-close, read)]\n"
        "               [-V port,... (then check convergence there) [-T secs]]\n"
        "               [-X (reconnect and resend when the server closes a\n"
        "                    persistent connection; wait for replies at the end;\n"
        "                    print requests, answered, failed, server_closes,\n"
        "                    crossed, resent, reconnect_err, unanswered,\n"
        "                    mismatched)]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int            ch, i;
    char          *s, *tok;
    struct rlimit  rl;

    opt.host = "127.0.0.1";
    opt.conns = 1;
    opt.depth = 1;
    opt.duration = 3;
    opt.clients = 100;
    opt.radius = "10";
    opt.bound = 5;
    opt.label = "run";
    opt.prop_rate = 500;
    opt.vtimeout = 30;
    memcpy(opt.prefix, "lgen", 5);

    while ((ch = getopt(argc, argv, "H:p:c:d:m:w:f:t:W:r:n:i:K:R:B:F:P:S:l:NxeV:T:G:X"))
           != -1)
    {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p':
            s = strdup(optarg);
            for (tok = strtok(s, ","); tok && opt.nports < MAX_PORTS;
                 tok = strtok(NULL, ","))
            {
                opt.ports[opt.nports++] = atoi(tok);
            }
            break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'd': opt.depth = atoi(optarg); break;
        case 'm':
            opt.mode = !strcmp(optarg, "connect") ? M_CONNECT
                       : !strcmp(optarg, "prop") ? M_PROP : M_PERSIST;
            break;
        case 'w':
            opt.work = !strcmp(optarg, "whatsat") ? W_WHATSAT
                       : !strcmp(optarg, "mixed") ? W_MIXED
                       : !strcmp(optarg, "http") ? W_HTTP : W_IAMAT;
            break;
        case 'f': opt.whatsat_frac = atof(optarg); break;
        case 't': opt.duration = atof(optarg); break;
        case 'W': opt.warmup = atof(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'n': opt.count = strtoull(optarg, NULL, 10); break;
        case 'i':
            memset(opt.prefix, '_', 4);
            memcpy(opt.prefix, optarg, strlen(optarg) < 4 ? strlen(optarg) : 4);
            opt.prefix[4] = '\0';
            break;
        case 'K': opt.clients = atoi(optarg); break;
        case 'R': opt.radius = optarg; break;
        case 'B': opt.bound = atoi(optarg); break;
        case 'F': opt.http_file = optarg; break;
        case 'P': opt.prop_port = atoi(optarg); break;
        case 'S': opt.prop_rate = atof(optarg); break;
        case 'l': opt.label = optarg; break;
        case 'N': opt.nolf = 1; break;
        case 'x': opt.no_setup = 1; break;
        case 'e': opt.empty = 1; break;
        case 'V':
            s = strdup(optarg);
            for (tok = strtok(s, ","); tok && opt.nvports < MAX_PORTS;
                 tok = strtok(NULL, ","))
            {
                opt.vports[opt.nvports++] = atoi(tok);
            }
            break;
        case 'T': opt.vtimeout = atof(optarg); break;
        case 'G': opt.poll_gap_us = atol(optarg); break;
        case 'X': opt.resend = 1; break;
        default: usage();
        }
    }

    if (opt.nports == 0 || opt.conns < 1 || opt.depth < 1 || opt.clients < 1
        || opt.duration <= 0 || opt.duration > 600 || opt.warmup < 0
        || opt.warmup > 60)
    {
        usage();
    }

    if (opt.rate > 0 && opt.depth != 1) {
        fprintf(stderr, "-r needs depth 1\n");
        exit(2);
    }

    signal(SIGPIPE, SIG_IGN);

    /* wake up when a paced request is due, not up to 50 us later */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    rl.rlim_cur = rl.rlim_max = 65536;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (opt.mode == M_PROP) {
        if (opt.prop_port == 0 || opt.prop_rate <= 0) {
            usage();
        }
        run_prop();
        return 0;
    }

    if (opt.work == W_HTTP) {
        FILE  *f;

        if (opt.http_file == NULL || (f = fopen(opt.http_file, "rb")) == NULL) {
            fprintf(stderr, "-w http needs -F request-file\n");
            exit(2);
        }
        http_req = malloc(65536);
        http_len = fread(http_req, 1, 65536, f);
        fclose(f);
    }

    ep = epoll_create1(0);
    if (ep < 0) {
        die("epoll_create1");
    }

    conns = calloc((size_t) opt.conns, sizeof(conn_t));
    idle_stack = calloc((size_t) opt.conns, sizeof(int));

    for (i = 0; i < opt.conns; i++) {
        conn_init(&conns[i], i);
    }

    if (opt.nvports) {
        if (opt.work != W_IAMAT || opt.mode != M_PERSIST) {
            fprintf(stderr, "-V needs -m persist -w iamat\n");
            exit(2);
        }
        acked = calloc((size_t) opt.conns * (size_t) opt.clients,
                       sizeof(uint64_t));
        if (acked == NULL) {
            die("calloc");
        }
    }

    if (opt.mode == M_PERSIST) {
        for (i = 0; i < opt.conns; i++) {
            conns[i].fd = connect_blocking(conns[i].port);
            conns[i].connected = 1;
        }

        setup_clients();

        for (i = 0; i < opt.conns; i++) {
            set_nonblock(conns[i].fd);
            arm(&conns[i], EPOLL_CTL_ADD);
        }
    }

    run_loop();

    for (i = 0; i < opt.conns; i++) {
        if (conns[i].fd >= 0) {
            close(conns[i].fd);
        }
    }

    if (opt.nvports) {
        fflush(stdout);
        run_verify();
    }

    return 0;
}
