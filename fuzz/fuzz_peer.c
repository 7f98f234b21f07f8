
/*
 * Copyright (C) The herd authors
 */


/*
 * The peer protocol: ngx_stream_herd_parse_update(), parse_at(),
 * parse_digest() and its round trip through format_digest(), the
 * handshake lines, and ngx_stream_herd_escape() (the log's copy of a
 * line), on any bytes, checked against herd_oracle.c.
 *
 * Input: one line, as a peer sends it (or anything else).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_stream_herd_proto.h"
#include "ngx_stubs.h"
#include "herd_oracle.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_peer_update(u_char *p, size_t len);
static void fuzz_peer_at(u_char *p, size_t len);
static void fuzz_peer_digest(u_char *p, size_t len);
static void fuzz_peer_digest_values(const uint8_t *data, size_t size);
static void fuzz_peer_pull(u_char *p, size_t len);
#ifdef NGX_STREAM_HERD_PROOF_LEN
static void fuzz_peer_auth(u_char *p, size_t len, const uint8_t *data,
    size_t size);
#endif
static void fuzz_peer_escape(u_char *p, size_t len, size_t room);
static ngx_uint_t fuzz_peer_same(ngx_str_t *a, ngx_str_t *b);


static size_t  fuzz_peer_rooms[] = {
    0, 1, 2, 3, 4, 6, 7, 8, 9, 13, 64
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy;
    ngx_uint_t   i;

    /* exactly the line: any read past it is caught by ASan */

    copy = malloc(size ? size : 1);
    ngx_fuzz_check(copy != NULL);
    memcpy(copy, data, size);

    fuzz_peer_update(copy, size);
    fuzz_peer_at(copy, size);
    fuzz_peer_digest(copy, size);
    fuzz_peer_pull(copy, size);

    if (size && data[0] == 'D') {
        /* 8 kB of work: for the inputs that look like a digest only */
        fuzz_peer_digest_values(data, size);
    }

#ifdef NGX_STREAM_HERD_PROOF_LEN
    fuzz_peer_auth(copy, size, data, size);
#endif

    /* the log's buffer, and one of the small ones */

    fuzz_peer_escape(copy, size, NGX_MAX_ERROR_STR / 2);

    i = size % (sizeof(fuzz_peer_rooms) / sizeof(size_t));
    fuzz_peer_escape(copy, size, fuzz_peer_rooms[i]);

    /* nothing above writes to the line */
    ngx_fuzz_check(memcmp(copy, data, size) == 0);

    free(copy);

    return 0;
}


/* "AT server diff client location time", each field checked */

static void
fuzz_peer_update(u_char *p, size_t len)
{
    u_char                  *line, *q;
    size_t                   n, i;
    uint64_t                 sec;
    uint32_t                 nsec;
    ngx_int_t                rc, expect;
    ngx_str_t                f[HERD_ORACLE_FIELDS], lat, lng, d;
    ngx_stream_herd_at_t     at, back;
    ngx_stream_herd_time_t   t, t2;

    expect = NGX_ERROR;

    if (herd_oracle_split(p, len, f) == 6
        && herd_oracle_is(&f[0], "AT")
        && f[2].len >= 2
        && (f[2].data[0] == '+' || f[2].data[0] == '-'))
    {
        d.data = f[2].data + 1;
        d.len = f[2].len - 1;

        if (herd_oracle_time(&d, &sec, &nsec) == NGX_OK
            && herd_oracle_location(&f[4], &lat, &lng) == NGX_OK
            && herd_oracle_time(&f[5], &sec, &nsec) == NGX_OK)
        {
            expect = NGX_OK;
        }
    }

    rc = ngx_stream_herd_parse_update(p, len, &at, &t);

    ngx_fuzz_check(rc == expect);

    if (rc != NGX_OK) {
        return;
    }

    ngx_fuzz_check(fuzz_peer_same(&at.server, &f[1]));
    ngx_fuzz_check(fuzz_peer_same(&at.diff, &f[2]));
    ngx_fuzz_check(fuzz_peer_same(&at.client, &f[3]));
    ngx_fuzz_check(fuzz_peer_same(&at.location, &f[4]));
    ngx_fuzz_check(fuzz_peer_same(&at.time, &f[5]));
    ngx_fuzz_check(t.sec == sec && t.nsec == nsec);

    /* as stored and flooded on: single spaces, parsed the same again */

    n = ngx_stream_herd_at_len(&at);

    line = malloc(n);
    ngx_fuzz_check(line != NULL);

    q = ngx_stream_herd_format_at(line, &at);
    ngx_fuzz_check((size_t) (q - line) == n);

    ngx_fuzz_check(ngx_stream_herd_parse_update(line, n, &back, &t2)
                   == NGX_OK);
    ngx_fuzz_check(ngx_stream_herd_time_cmp(&t, &t2) == 0);
    ngx_fuzz_check(ngx_stream_herd_at_len(&back) == n);

    /* a line with one white-space byte between fields: spaces there */

    if (n == len) {
        for (i = 0; i < n; i++) {
            ngx_fuzz_check(line[i] == (herd_oracle_space(p[i]) ? ' ' : p[i]));
        }
    }

    free(line);
}


static void
fuzz_peer_at(u_char *p, size_t len)
{
    ngx_int_t              rc;
    ngx_str_t              f[HERD_ORACLE_FIELDS];
    ngx_stream_herd_at_t   at;

    rc = ngx_stream_herd_parse_at(p, len, &at);

    if (herd_oracle_split(p, len, f) != 6 || !herd_oracle_is(&f[0], "AT")) {
        ngx_fuzz_check(rc == NGX_ERROR);
        return;
    }

    ngx_fuzz_check(rc == NGX_OK);
    ngx_fuzz_check(fuzz_peer_same(&at.server, &f[1]));
    ngx_fuzz_check(fuzz_peer_same(&at.diff, &f[2]));
    ngx_fuzz_check(fuzz_peer_same(&at.client, &f[3]));
    ngx_fuzz_check(fuzz_peer_same(&at.location, &f[4]));
    ngx_fuzz_check(fuzz_peer_same(&at.time, &f[5]));
}


/* "DIGEST 1 name" + 4096 hex digits: parsed, printed back the same */

static void
fuzz_peer_digest(u_char *p, size_t len)
{
    u_char      *line, *q, *h;
    size_t       n;
    uint64_t     digest[NGX_STREAM_HERD_DIGESTS], d;
    ngx_int_t    rc;
    ngx_str_t    f[HERD_ORACLE_FIELDS], name;
    ngx_uint_t   i, j, valid;

    valid = herd_oracle_split(p, len, f) == 4
            && herd_oracle_is(&f[0], "DIGEST")
            && herd_oracle_is(&f[1], NGX_STREAM_HERD_PEER_VERSION)
            && herd_oracle_hex(&f[3], NGX_STREAM_HERD_DIGESTS * 16);

    rc = ngx_stream_herd_parse_digest(p, len, &name, digest);

    ngx_fuzz_check(rc == (valid ? NGX_OK : NGX_ERROR));

    if (rc != NGX_OK) {
        return;
    }

    ngx_fuzz_check(fuzz_peer_same(&name, &f[2]));

    h = f[3].data;

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS; i++) {
        d = 0;

        for (j = 0; j < 16; j++, h++) {
            d = d * 16 + (*h <= '9' ? *h - '0' : *h - 'a' + 10);
        }

        ngx_fuzz_check(digest[i] == d);
    }

    n = NGX_STREAM_HERD_DIGEST_LEN(name.len);

    line = malloc(n);
    ngx_fuzz_check(line != NULL);

    q = ngx_stream_herd_format_digest(line, &name, digest);

    ngx_fuzz_check((size_t) (q - line) == n);
    ngx_fuzz_check(line[n - 1] == LF);

    /* the canonical form of what was received */

    ngx_fuzz_check(memcmp(line, "DIGEST " NGX_STREAM_HERD_PEER_VERSION " ",
                          sizeof("DIGEST " NGX_STREAM_HERD_PEER_VERSION " ")
                          - 1)
                   == 0);
    q = line + sizeof("DIGEST " NGX_STREAM_HERD_PEER_VERSION " ") - 1;
    ngx_fuzz_check(memcmp(q, name.data, name.len) == 0);
    q += name.len;
    ngx_fuzz_check(*q++ == ' ');
    ngx_fuzz_check(memcmp(q, f[3].data, f[3].len) == 0);

    free(line);
}


/* any digest values and a name from the input survive the round trip */

static void
fuzz_peer_digest_values(const uint8_t *data, size_t size)
{
    u_char      *line, *q;
    size_t       n, i;
    uint64_t     digest[NGX_STREAM_HERD_DIGESTS];
    uint64_t     back[NGX_STREAM_HERD_DIGESTS];
    ngx_str_t    name, name2;

    ngx_str_set(&name, "Goloman");

    /* the input's first field, if any, is the name */

    for (i = 0; i < size && !herd_oracle_space(data[i]); i++) {
        /* void */
    }

    if (i > 0 && i <= 64) {
        name.data = (u_char *) data;
        name.len = i;
    }

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS; i++) {
        digest[i] = 0;

        for (n = 0; n < 8 && size; n++) {
            digest[i] = (digest[i] << 8) | data[(i * 8 + n) % size];
        }
    }

    n = NGX_STREAM_HERD_DIGEST_LEN(name.len);

    line = malloc(n);
    ngx_fuzz_check(line != NULL);

    q = ngx_stream_herd_format_digest(line, &name, digest);
    ngx_fuzz_check((size_t) (q - line) == n);

    ngx_fuzz_check(ngx_stream_herd_parse_digest(line, n, &name2, back)
                   == NGX_OK);
    ngx_fuzz_check(name2.len == name.len
                   && memcmp(name2.data, name.data, name.len) == 0);
    ngx_fuzz_check(memcmp(back, digest, sizeof(digest)) == 0);

    free(line);
}


#ifdef NGX_STREAM_HERD_PROOF_LEN

/* "AUTH 1 name nonce mac", "AUTH 1 mac", "HERD 1 name nonce" */

static void
fuzz_peer_auth(u_char *p, size_t len, const uint8_t *data, size_t size)
{
    u_char                 *line, *q;
    size_t                  n, i;
    ngx_int_t               rc;
    ngx_str_t               f[HERD_ORACLE_FIELDS], name, nonce, mac, s;
    ngx_uint_t              k;
    ngx_stream_herd_cmd_t   cmd;
    u_char                  hex_nonce[32], hex_mac[64];

    k = herd_oracle_split(p, len, f);

    rc = ngx_stream_herd_parse_challenge(p, len, &name, &nonce, &mac);

    ngx_fuzz_check(rc == ((k == 5
                           && herd_oracle_is(&f[0], "AUTH")
                           && herd_oracle_is(&f[1],
                                             NGX_STREAM_HERD_PEER_VERSION)
                           && herd_oracle_hex(&f[3], 32)
                           && herd_oracle_hex(&f[4], 64))
                          ? NGX_OK : NGX_ERROR));

    if (rc == NGX_OK) {
        ngx_fuzz_check(fuzz_peer_same(&name, &f[2]));
        ngx_fuzz_check(fuzz_peer_same(&nonce, &f[3]));
        ngx_fuzz_check(fuzz_peer_same(&mac, &f[4]));
    }

    rc = ngx_stream_herd_parse_proof(p, len, &mac);

    ngx_fuzz_check(rc == ((k == 3
                           && herd_oracle_is(&f[0], "AUTH")
                           && herd_oracle_is(&f[1],
                                             NGX_STREAM_HERD_PEER_VERSION)
                           && herd_oracle_hex(&f[2], 64))
                          ? NGX_OK : NGX_ERROR));

    if (rc == NGX_OK) {
        ngx_fuzz_check(fuzz_peer_same(&mac, &f[2]));
    }

    /* the formatters, with a name, a nonce and a MAC from the input */

    if (size == 0 || (data[0] != 'A' && data[0] != 'H')) {
        return;
    }

    for (i = 0; i < 64; i++) {
        hex_mac[i] = "0123456789abcdef"[size ? data[i % size] & 0xf : 0];
    }

    for (i = 0; i < 32; i++) {
        hex_nonce[i] = "0123456789abcdef"[size ? data[i % size] >> 4 : 0];
    }

    ngx_str_set(&name, "Goloman");

    for (i = 0; i < size && !herd_oracle_space(data[i]); i++) {
        /* void */
    }

    if (i > 0 && i <= 64) {
        name.data = (u_char *) data;
        name.len = i;
    }

    n = NGX_STREAM_HERD_CHALLENGE_LEN(name.len);
    line = malloc(n);
    ngx_fuzz_check(line != NULL);

    q = ngx_stream_herd_format_challenge(line, &name, hex_nonce, hex_mac);
    ngx_fuzz_check((size_t) (q - line) == n);
    ngx_fuzz_check(ngx_stream_herd_parse_challenge(line, n, &s, &nonce,
                                                   &mac)
                   == NGX_OK);
    ngx_fuzz_check(s.len == name.len
                   && memcmp(s.data, name.data, name.len) == 0);
    ngx_fuzz_check(memcmp(nonce.data, hex_nonce, 32) == 0);
    ngx_fuzz_check(memcmp(mac.data, hex_mac, 64) == 0);
    free(line);

    n = NGX_STREAM_HERD_PROOF_LEN;
    line = malloc(n);
    ngx_fuzz_check(line != NULL);

    q = ngx_stream_herd_format_proof(line, hex_mac);
    ngx_fuzz_check((size_t) (q - line) == n);
    ngx_fuzz_check(ngx_stream_herd_parse_proof(line, n, &mac) == NGX_OK);
    ngx_fuzz_check(memcmp(mac.data, hex_mac, 64) == 0);
    free(line);

    n = NGX_STREAM_HERD_HELLO_LEN(name.len);
    line = malloc(n);
    ngx_fuzz_check(line != NULL);

    q = ngx_stream_herd_format_hello(line, &name, hex_nonce);
    ngx_fuzz_check((size_t) (q - line) == n);
    ngx_fuzz_check(ngx_stream_herd_parse_line(line, n, &cmd)
                   == NGX_STREAM_HERD_HELLO);
    ngx_fuzz_check(cmd.peer.len == name.len
                   && memcmp(cmd.peer.data, name.data, name.len) == 0);
    ngx_fuzz_check(cmd.nonce.len == 32
                   && memcmp(cmd.nonce.data, hex_nonce, 32) == 0);
    free(line);
}

#endif


/*
 * Printable ASCII as is, LF as \n, other bytes, '"' and '\\' as \xNN;
 * "..." when full; never past the end.
 */

static void
fuzz_peer_escape(u_char *p, size_t len, size_t room)
{
    u_char  *buf, *expect, *q, *last, ch;
    size_t   i;

    buf = malloc(room ? room : 1);
    expect = malloc(room ? room : 1);
    ngx_fuzz_check(buf != NULL && expect != NULL);

    last = ngx_stream_herd_escape(buf, buf + room, p, len);

    ngx_fuzz_check(last >= buf && last <= buf + room);

    /* the rules, written again */

    q = expect;

    for (i = 0; i < len; i++) {
        ch = p[i];

        if ((size_t) (expect + room - q) < 7) {
            if ((size_t) (expect + room - q) >= 3) {
                *q++ = '.';
                *q++ = '.';
                *q++ = '.';
            }

            break;
        }

        if (ch == LF) {
            *q++ = '\\';
            *q++ = 'n';

        } else if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            *q++ = '\\';
            *q++ = 'x';
            *q++ = "0123456789abcdef"[ch >> 4];
            *q++ = "0123456789abcdef"[ch & 0xf];

        } else {
            *q++ = ch;
        }
    }

    ngx_fuzz_check(last - buf == q - expect);
    ngx_fuzz_check(memcmp(buf, expect, q - expect) == 0);

    for (q = buf; q < last; q++) {
        ngx_fuzz_check(*q >= 0x20 && *q < 0x7f);
    }

    free(expect);
    free(buf);
}


static ngx_uint_t
fuzz_peer_same(ngx_str_t *a, ngx_str_t *b)
{
    return a->data == b->data && a->len == b->len;
}


/*
 * "PULL 1 <64 lowercase hex>": accepted exactly then, the bitmap as the hex
 * says, and format_pull() gives the canonical line back.
 */

static void
fuzz_peer_pull(u_char *p, size_t len)
{
    u_char      want[NGX_STREAM_HERD_DIGESTS / 8];
    u_char      line[NGX_STREAM_HERD_PULL_LEN], *last;
    size_t      k, i;
    ngx_int_t   rc;
    ngx_str_t   f[HERD_ORACLE_FIELDS];

    k = herd_oracle_split(p, len, f);

    rc = ngx_stream_herd_parse_pull(p, len, want);

    ngx_fuzz_check(rc == ((k == 3
                           && herd_oracle_is(&f[0], "PULL")
                           && herd_oracle_is(&f[1],
                                             NGX_STREAM_HERD_PEER_VERSION)
                           && herd_oracle_hex(&f[2], 64))
                          ? NGX_OK : NGX_ERROR));

    if (rc != NGX_OK) {
        return;
    }

    last = ngx_stream_herd_format_pull(line, want);

    ngx_fuzz_check((size_t) (last - line) == NGX_STREAM_HERD_PULL_LEN);
    ngx_fuzz_check(memcmp(line, "PULL " NGX_STREAM_HERD_PEER_VERSION " ",
                          sizeof("PULL " NGX_STREAM_HERD_PEER_VERSION " ") - 1)
                   == 0);

    for (i = 0; i < 64; i++) {
        ngx_fuzz_check(line[NGX_STREAM_HERD_PULL_LEN - 64 + i]
                       == f[2].data[i]);
    }
}
