
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_PROTO_H_INCLUDED_
#define _NGX_STREAM_HERD_PROTO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Pure parsing and formatting of the herd line protocol: no I/O, no events,
 * no allocation.  Everything here works on caller-owned memory and can be
 * unit-tested and fuzzed on its own.
 */


#define NGX_STREAM_HERD_EMPTY          0
#define NGX_STREAM_HERD_INVALID        1
#define NGX_STREAM_HERD_IAMAT          2
#define NGX_STREAM_HERD_WHATSAT        3
#define NGX_STREAM_HERD_HELLO          4

/* the peer protocol: see docs/protocol.md */
#define NGX_STREAM_HERD_PEER_VERSION   "1"
#define NGX_STREAM_HERD_DIGESTS        256
/* nonces: 32 hex digits, MACs: 64 (see ngx_stream_herd_auth.h) */
#define NGX_STREAM_HERD_HELLO_LEN(name_len)                                   \
    (sizeof("HERD " NGX_STREAM_HERD_PEER_VERSION " ") - 1 + (name_len)        \
     + 1 + 32 + 1)
#define NGX_STREAM_HERD_CHALLENGE_LEN(name_len)                               \
    (sizeof("AUTH " NGX_STREAM_HERD_PEER_VERSION " ") - 1 + (name_len)        \
     + 1 + 32 + 1 + 64 + 1)
#define NGX_STREAM_HERD_PROOF_LEN                                             \
    (sizeof("AUTH " NGX_STREAM_HERD_PEER_VERSION " ") - 1 + 64 + 1)

/* "PULL 1 " and a bit per bucket in hex, lowest bucket first */
#define NGX_STREAM_HERD_PULL_LEN                                              \
    (sizeof("PULL " NGX_STREAM_HERD_PEER_VERSION " ") - 1                     \
     + NGX_STREAM_HERD_DIGESTS / 4)

#define NGX_STREAM_HERD_DIGEST_LEN(name_len)                                  \
    (sizeof("DIGEST " NGX_STREAM_HERD_PEER_VERSION " ") - 1 + (name_len)      \
     + 1 + NGX_STREAM_HERD_DIGESTS * 16 + 1)

#define NGX_STREAM_HERD_MAX_FRAC       9
#define NGX_STREAM_HERD_MAX_SEC_DIGITS 18
#define NGX_STREAM_HERD_MAX_BOUND      20
#define NGX_STREAM_HERD_MAX_RADIUS     50

/* "+" + 18 digits + "." + 9 digits */
#define NGX_STREAM_HERD_DIFF_LEN       (1 + NGX_STREAM_HERD_MAX_SEC_DIGITS   \
                                        + 1 + NGX_STREAM_HERD_MAX_FRAC)


typedef struct {
    uint64_t                  sec;
    uint32_t                  nsec;
} ngx_stream_herd_time_t;


typedef struct {
    ngx_uint_t                type;

    ngx_str_t                 line;        /* trimmed command line */

    ngx_str_t                 client;      /* IAMAT, WHATSAT */

    ngx_str_t                 location;    /* IAMAT */
    ngx_str_t                 lat;         /* with sign, inside location */
    ngx_str_t                 lng;
    ngx_str_t                 time;        /* client time, verbatim */
    ngx_stream_herd_time_t    client_time;

    ngx_str_t                 radius;      /* WHATSAT, verbatim, in km */
    ngx_uint_t                radius_m;    /* radius in metres, >= 1 */
    ngx_uint_t                bound;

    ngx_str_t                 peer;        /* HELLO: the peer's name */
    ngx_str_t                 nonce;       /* HELLO: empty, or 32 hex */
} ngx_stream_herd_cmd_t;


/* one stored record, as the fields of its AT line */
typedef struct {
    ngx_str_t                 server;
    ngx_str_t                 diff;
    ngx_str_t                 client;
    ngx_str_t                 location;
    ngx_str_t                 time;
} ngx_stream_herd_at_t;


ngx_int_t ngx_stream_herd_parse_line(u_char *p, size_t len,
    ngx_stream_herd_cmd_t *cmd);
ngx_int_t ngx_stream_herd_parse_time(u_char *p, size_t len,
    ngx_stream_herd_time_t *t);
ngx_int_t ngx_stream_herd_parse_location(u_char *p, size_t len,
    ngx_str_t *lat, ngx_str_t *lng);
ngx_int_t ngx_stream_herd_parse_at(u_char *p, size_t len,
    ngx_stream_herd_at_t *at);

ngx_int_t ngx_stream_herd_parse_update(u_char *p, size_t len,
    ngx_stream_herd_at_t *at, ngx_stream_herd_time_t *t);
u_char *ngx_stream_herd_format_hello(u_char *buf, ngx_str_t *name,
    u_char *nonce);
u_char *ngx_stream_herd_format_challenge(u_char *buf, ngx_str_t *name,
    u_char *nonce, u_char *mac);
ngx_int_t ngx_stream_herd_parse_challenge(u_char *p, size_t len,
    ngx_str_t *name, ngx_str_t *nonce, ngx_str_t *mac);
u_char *ngx_stream_herd_format_proof(u_char *buf, u_char *mac);
ngx_int_t ngx_stream_herd_parse_proof(u_char *p, size_t len, ngx_str_t *mac);
u_char *ngx_stream_herd_format_digest(u_char *buf, ngx_str_t *name,
    uint64_t *digest);
ngx_int_t ngx_stream_herd_parse_digest(u_char *p, size_t len,
    ngx_str_t *name, uint64_t *digest);
u_char *ngx_stream_herd_format_pull(u_char *buf, u_char *want);
ngx_int_t ngx_stream_herd_parse_pull(u_char *p, size_t len, u_char *want);

ngx_int_t ngx_stream_herd_time_cmp(ngx_stream_herd_time_t *a,
    ngx_stream_herd_time_t *b);
u_char *ngx_stream_herd_format_diff(u_char *buf, ngx_stream_herd_time_t *now,
    ngx_stream_herd_time_t *then);

size_t ngx_stream_herd_at_len(ngx_stream_herd_at_t *at);
u_char *ngx_stream_herd_format_at(u_char *buf, ngx_stream_herd_at_t *at);

size_t ngx_stream_herd_invalid_len(ngx_str_t *line);
u_char *ngx_stream_herd_format_invalid(u_char *buf, ngx_str_t *line);

u_char *ngx_stream_herd_escape(u_char *dst, u_char *end, u_char *src,
    size_t len);

/* space, tab, CR, LF, FF, VT: the white space of PROTOCOL.md */
#define ngx_stream_herd_is_space(ch)                                          \
    ((ch) == ' ' || ((ch) >= '\t' && (ch) <= '\r'))
void ngx_stream_herd_trim(ngx_str_t *s);


#endif /* _NGX_STREAM_HERD_PROTO_H_INCLUDED_ */
