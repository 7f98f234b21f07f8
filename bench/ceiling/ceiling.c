/*
 * ceiling: the fastest a line server can be on this machine.
 *
 *   ceiling -p PORT [-t THREADS]
 *
 * Answers every line it receives with one fixed 88-byte AT line (the
 * length of a herd reply to loadgen's IAMATs): no parsing beyond finding
 * the LFs, no state, no logging.  It does what a good server must do and
 * nothing more:
 *
 *   - epoll, edge-triggered, non-blocking sockets, TCP_NODELAY;
 *   - one read for everything that arrived, one write for all its replies
 *     (pipelined lines cost a memchr each, not a system call);
 *   - a short read means the socket is drained (EPOLLRDHUP reports the
 *     client's EOF), so a request at depth 1 costs one read and one write;
 *   - at EOF a non-empty unterminated last line is answered too, then the
 *     connection is closed once the replies are written (the protocol's
 *     half-close rule), so connect-per-command clients work.
 *
 * -t N runs N threads, each with its own SO_REUSEPORT listener and epoll
 * loop (the kernel spreads connections over them), like N nginx workers
 * with "reuseport".  With one core for the server one thread is the
 * ceiling; more threads only add switches.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>


#define REPLY  "AT Ceiling +0.000000000 lgen0000000000000000 " \
               "+34.068930-118.445127 1764000000.000000000\n"
#define RLEN   (sizeof(REPLY) - 1)
#define COPIES 1024
#define RBUF   65536


typedef struct {
    int       fd;
    int       partial;     /* bytes after the last LF */
    int       eof;
    uint64_t  pending;     /* reply bytes not yet written */
    uint64_t  off;         /* position inside the reply pattern */
} conn_t;


static int    port = 12220;
static char  *pattern;      /* COPIES replies back to back */


static void
fail(const char *what)
{
    perror(what);
    exit(1);
}


static void
conn_close(conn_t *c)
{
    close(c->fd);
    free(c);
}


/* 1: all written, 0: would block, -1: error */

static int
conn_write(conn_t *c)
{
    ssize_t   n;
    uint64_t  chunk;

    while (c->pending) {
        chunk = (uint64_t) COPIES * RLEN - c->off;
        if (chunk > c->pending) {
            chunk = c->pending;
        }

        n = send(c->fd, pattern + c->off, chunk, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }

        c->pending -= (uint64_t) n;
        c->off = (c->off + (uint64_t) n) % RLEN;
    }

    return 1;
}


static void
conn_event(conn_t *c, uint32_t ev)
{
    char      buf[RBUF];
    ssize_t   n;
    char     *p, *end, *lf;
    uint64_t  lines = 0;
    int       w;

    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for ( ;; ) {
            n = recv(c->fd, buf, sizeof(buf), 0);

            if (n > 0) {
                p = buf;
                end = buf + n;
                while ((lf = memchr(p, '\n', (size_t) (end - p))) != NULL) {
                    lines++;
                    p = lf + 1;
                }
                c->partial = (p < end);   /* the chunk did not end in LF */

                if ((size_t) n < sizeof(buf) && !(ev & (EPOLLRDHUP | EPOLLHUP))) {
                    break;                  /* drained */
                }
                continue;
            }

            if (n == 0) {
                c->eof = 1;
                if (c->partial) {
                    lines++;
                    c->partial = 0;
                }
                break;
            }

            if (errno == EAGAIN) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }

            conn_close(c);
            return;
        }
    }

    c->pending += lines * RLEN;

    w = conn_write(c);

    if (w < 0 || (w == 1 && c->eof)) {
        conn_close(c);
    }
}


static void *
worker(void *arg)
{
    int                  lfd, ep, one = 1, i, n, fd;
    conn_t              *c;
    struct sockaddr_in   sa;
    struct epoll_event   ev, evs[512];

    (void) arg;

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (lfd < 0) {
        fail("socket");
    }

    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        fail("bind");
    }

    if (listen(lfd, 4096) < 0) {
        fail("listen");
    }

    ep = epoll_create1(0);
    if (ep < 0) {
        fail("epoll_create1");
    }

    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        fail("epoll_ctl");
    }

    for ( ;; ) {
        n = epoll_wait(ep, evs, 512, -1);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail("epoll_wait");
        }

        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                for ( ;; ) {
                    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) {
                        break;
                    }

                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

                    c = calloc(1, sizeof(conn_t));
                    if (c == NULL) {
                        close(fd);
                        continue;
                    }

                    c->fd = fd;
                    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                    ev.data.ptr = c;

                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        conn_close(c);
                    }
                }
                continue;
            }

            conn_event(evs[i].data.ptr, evs[i].events);
        }
    }

    return NULL;
}


int
main(int argc, char **argv)
{
    int            ch, threads = 1, i;
    pthread_t     *tid;
    struct rlimit  rl;

    while ((ch = getopt(argc, argv, "p:t:")) != -1) {
        switch (ch) {
        case 'p': port = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: ceiling [-p port] [-t threads]\n");
            return 2;
        }
    }

    if (threads < 1 || threads > 64) {
        threads = 1;
    }

    signal(SIGPIPE, SIG_IGN);

    rl.rlim_cur = rl.rlim_max = 65536;
    setrlimit(RLIMIT_NOFILE, &rl);

    pattern = malloc(COPIES * RLEN);
    if (pattern == NULL) {
        fail("malloc");
    }

    for (i = 0; i < COPIES; i++) {
        memcpy(pattern + i * RLEN, REPLY, RLEN);
    }

    tid = calloc((size_t) threads, sizeof(pthread_t));

    for (i = 1; i < threads; i++) {
        if (pthread_create(&tid[i], NULL, worker, NULL) != 0) {
            fail("pthread_create");
        }
    }

    worker(NULL);

    return 0;
}
