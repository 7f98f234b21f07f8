
/*
 * Copyright (C) The herd authors
 */


/*
 * The client line parser: ngx_stream_herd_parse_line() on any bytes, the
 * AT reply of an IAMAT (with the receipt time from the input) and the
 * "? " reply of an invalid command, checked against herd_oracle.c.
 *
 * Input: "TIME\nLINE" (TIME is the server's receipt time, as an IAMAT
 * time) or just LINE, received at 1520023935.182837383.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>
#include "ngx_stream_herd_proto.h"
#include "ngx_stubs.h"
#include "herd_oracle.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ngx_uint_t fuzz_client_expected(u_char *p, size_t len);
static void fuzz_client_line(ngx_stream_herd_cmd_t *cmd, u_char *p,
    size_t len);
static void fuzz_client_iamat(ngx_stream_herd_cmd_t *cmd,
    ngx_stream_herd_time_t *now);
static void fuzz_client_whatsat(ngx_stream_herd_cmd_t *cmd);
static void fuzz_client_hello(ngx_stream_herd_cmd_t *cmd);
static void fuzz_client_invalid(ngx_stream_herd_cmd_t *cmd);
static unsigned __int128 fuzz_client_ns(ngx_stream_herd_time_t *t);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                  *p, *copy, *nl;
    size_t                   len;
    ngx_str_t                s;
    ngx_uint_t               type;
    ngx_stream_herd_cmd_t    cmd;
    ngx_stream_herd_time_t   now;

    now.sec = 1520023935;
    now.nsec = 182837383;

    p = (u_char *) data;
    len = size;

    nl = memchr(data, LF, size);

    if (nl) {
        s.data = p;
        s.len = nl - p;

        if (herd_oracle_time(&s, &now.sec, &now.nsec) == NGX_OK) {
            len -= nl + 1 - p;
            p = nl + 1;
        }
    }

    /* exactly the line: any read past it is caught by ASan */

    copy = malloc(len ? len : 1);
    ngx_fuzz_check(copy != NULL);
    memcpy(copy, p, len);

    type = ngx_stream_herd_parse_line(copy, len, &cmd);

    /* the line is not written to */
    ngx_fuzz_check(memcmp(copy, p, len) == 0);

    ngx_fuzz_check(type == cmd.type);
    ngx_fuzz_check(type == fuzz_client_expected(copy, len));

    fuzz_client_line(&cmd, copy, len);

    switch (type) {

    case NGX_STREAM_HERD_IAMAT:
        fuzz_client_iamat(&cmd, &now);
        break;

    case NGX_STREAM_HERD_WHATSAT:
        fuzz_client_whatsat(&cmd);
        break;

    case NGX_STREAM_HERD_HELLO:
        fuzz_client_hello(&cmd);
        break;

    case NGX_STREAM_HERD_INVALID:
        fuzz_client_invalid(&cmd);
        break;

    default:
        ngx_fuzz_check(type == NGX_STREAM_HERD_EMPTY);
    }

    free(copy);

    return 0;
}


/* what PROTOCOL.md makes of the line */

static ngx_uint_t
fuzz_client_expected(u_char *p, size_t len)
{
    uint64_t    sec;
    uint32_t    nsec;
    ngx_str_t   f[HERD_ORACLE_FIELDS], lat, lng;
    ngx_uint_t  n, m;

    n = herd_oracle_split(p, len, f);

    if (n == 0) {
        return NGX_STREAM_HERD_EMPTY;
    }

    if (n == 4
        && herd_oracle_is(&f[0], "IAMAT")
        && herd_oracle_location(&f[2], &lat, &lng) == NGX_OK
        && herd_oracle_time(&f[3], &sec, &nsec) == NGX_OK)
    {
        return NGX_STREAM_HERD_IAMAT;
    }

    if (n == 4
        && herd_oracle_is(&f[0], "WHATSAT")
        && herd_oracle_radius(&f[2], &m) == NGX_OK
        && herd_oracle_bound(&f[3], &m) == NGX_OK)
    {
        return NGX_STREAM_HERD_WHATSAT;
    }

    if ((n == 3 || (n == 4 && herd_oracle_hex(&f[3], 32)))
        && herd_oracle_is(&f[0], "HERD")
        && herd_oracle_is(&f[1], NGX_STREAM_HERD_PEER_VERSION))
    {
        return NGX_STREAM_HERD_HELLO;
    }

    return NGX_STREAM_HERD_INVALID;
}


/* cmd->line: the line without white space around it */

static void
fuzz_client_line(ngx_stream_herd_cmd_t *cmd, u_char *p, size_t len)
{
    size_t  i;

    ngx_fuzz_check(herd_oracle_inside(&cmd->line, p, len));

    if (cmd->line.len == 0) {
        ngx_fuzz_check(cmd->type == NGX_STREAM_HERD_EMPTY);

        for (i = 0; i < len; i++) {
            ngx_fuzz_check(herd_oracle_space(p[i]));
        }

        return;
    }

    ngx_fuzz_check(cmd->type != NGX_STREAM_HERD_EMPTY);
    ngx_fuzz_check(!herd_oracle_space(cmd->line.data[0]));
    ngx_fuzz_check(!herd_oracle_space(cmd->line.data[cmd->line.len - 1]));

    for (i = 0; p + i < cmd->line.data; i++) {
        ngx_fuzz_check(herd_oracle_space(p[i]));
    }

    for (i = cmd->line.data + cmd->line.len - p; i < len; i++) {
        ngx_fuzz_check(herd_oracle_space(p[i]));
    }
}


static void
fuzz_client_iamat(ngx_stream_herd_cmd_t *cmd, ngx_stream_herd_time_t *now)
{
    u_char                  *diff, *at_line, *q;
    size_t                   n;
    uint64_t                 sec;
    uint32_t                 nsec;
    ngx_str_t                f[HERD_ORACLE_FIELDS], lat, lng, d;
    unsigned __int128        a, b, expect, got;
    ngx_stream_herd_at_t     at, back;
    ngx_stream_herd_time_t   t, dt;
    char                     tmp[64];

    ngx_fuzz_check(herd_oracle_split(cmd->line.data, cmd->line.len, f) == 4);

    /* the fields: inside the line, white-space free, the right ones */

    ngx_fuzz_check(cmd->client.data == f[1].data
                   && cmd->client.len == f[1].len);
    ngx_fuzz_check(cmd->location.data == f[2].data
                   && cmd->location.len == f[2].len);
    ngx_fuzz_check(cmd->time.data == f[3].data && cmd->time.len == f[3].len);

    ngx_fuzz_check(cmd->client.len && herd_oracle_no_space(&cmd->client));
    ngx_fuzz_check(herd_oracle_no_space(&cmd->location));
    ngx_fuzz_check(herd_oracle_no_space(&cmd->time));

    /* lat and lng split the location */

    ngx_fuzz_check(herd_oracle_location(&cmd->location, &lat, &lng)
                   == NGX_OK);
    ngx_fuzz_check(cmd->lat.data == lat.data && cmd->lat.len == lat.len);
    ngx_fuzz_check(cmd->lng.data == lng.data && cmd->lng.len == lng.len);

    if (lat.len < sizeof(tmp) - 1) {
        memcpy(tmp, lat.data, lat.len);
        tmp[lat.len] = '\0';
        ngx_fuzz_check(fabs(strtod(tmp, NULL)) <= 90.0);
    }

    if (lng.len < sizeof(tmp) - 1) {
        memcpy(tmp, lng.data, lng.len);
        tmp[lng.len] = '\0';
        ngx_fuzz_check(fabs(strtod(tmp, NULL)) <= 180.0);
    }

    /* the time, exact */

    ngx_fuzz_check(herd_oracle_time(&cmd->time, &sec, &nsec) == NGX_OK);
    ngx_fuzz_check(cmd->client_time.sec == sec);
    ngx_fuzz_check(cmd->client_time.nsec == nsec);
    ngx_fuzz_check(nsec < 1000000000);

    /* the time diff: signed, 9 digits, exact, in its bounded buffer */

    diff = malloc(NGX_STREAM_HERD_DIFF_LEN);
    ngx_fuzz_check(diff != NULL);

    q = ngx_stream_herd_format_diff(diff, now, &cmd->client_time);

    n = q - diff;
    ngx_fuzz_check(n >= sizeof("+0.000000000") - 1);
    ngx_fuzz_check(n <= NGX_STREAM_HERD_DIFF_LEN);
    ngx_fuzz_check(diff[n - 10] == '.');

    a = fuzz_client_ns(now);
    b = fuzz_client_ns(&cmd->client_time);

    ngx_fuzz_check(diff[0] == (a >= b ? '+' : '-'));

    expect = a >= b ? a - b : b - a;

    d.data = diff + 1;
    d.len = n - 1;

    ngx_fuzz_check(herd_oracle_time(&d, &dt.sec, &dt.nsec) == NGX_OK);

    got = fuzz_client_ns(&dt);
    ngx_fuzz_check(got == expect);

    /* the AT reply, and a peer takes it as an update */

    ngx_str_set(&at.server, "Goloman");
    at.diff.data = diff;
    at.diff.len = n;
    at.client = cmd->client;
    at.location = cmd->location;
    at.time = cmd->time;

    n = ngx_stream_herd_at_len(&at);

    at_line = malloc(n);
    ngx_fuzz_check(at_line != NULL);

    q = ngx_stream_herd_format_at(at_line, &at);
    ngx_fuzz_check((size_t) (q - at_line) == n);

    ngx_fuzz_check(ngx_stream_herd_parse_update(at_line, n, &back, &t)
                   == NGX_OK);
    ngx_fuzz_check(ngx_stream_herd_time_cmp(&t, &cmd->client_time) == 0);
    ngx_fuzz_check(ngx_stream_herd_at_len(&back) == n);
    ngx_fuzz_check(back.client.len == cmd->client.len
                   && memcmp(back.client.data, cmd->client.data,
                             cmd->client.len) == 0);
    ngx_fuzz_check(back.location.len == cmd->location.len
                   && memcmp(back.location.data, cmd->location.data,
                             cmd->location.len) == 0);
    ngx_fuzz_check(back.diff.len == at.diff.len
                   && memcmp(back.diff.data, diff, at.diff.len) == 0);

    free(at_line);
    free(diff);
}


static void
fuzz_client_whatsat(ngx_stream_herd_cmd_t *cmd)
{
    char        tmp[64];
    double      km;
    ngx_str_t   f[HERD_ORACLE_FIELDS];
    ngx_uint_t  metres, bound;

    ngx_fuzz_check(herd_oracle_split(cmd->line.data, cmd->line.len, f) == 4);

    ngx_fuzz_check(cmd->client.data == f[1].data
                   && cmd->client.len == f[1].len);
    ngx_fuzz_check(cmd->radius.data == f[2].data
                   && cmd->radius.len == f[2].len);
    ngx_fuzz_check(cmd->client.len && herd_oracle_no_space(&cmd->client));

    ngx_fuzz_check(herd_oracle_radius(&f[2], &metres) == NGX_OK);
    ngx_fuzz_check(herd_oracle_bound(&f[3], &bound) == NGX_OK);

    ngx_fuzz_check(cmd->radius_m == metres);
    ngx_fuzz_check(cmd->bound == bound);
    ngx_fuzz_check(cmd->radius_m >= 1 && cmd->radius_m <= 50000);
    ngx_fuzz_check(cmd->bound >= 1 && cmd->bound <= 20);

    /* the metres against a double: truncated, at least 1 */

    if (f[2].len < sizeof(tmp) - 1) {
        memcpy(tmp, f[2].data, f[2].len);
        tmp[f[2].len] = '\0';
        km = strtod(tmp, NULL);

        ngx_fuzz_check(km > 0 && km <= 50);
        ngx_fuzz_check((double) cmd->radius_m <= km * 1000 + 1e-6
                       || cmd->radius_m == 1);
        ngx_fuzz_check((double) cmd->radius_m > km * 1000 - 1 - 1e-6);
    }
}


static void
fuzz_client_hello(ngx_stream_herd_cmd_t *cmd)
{
    ngx_uint_t  n;
    ngx_str_t   f[HERD_ORACLE_FIELDS];

    n = herd_oracle_split(cmd->line.data, cmd->line.len, f);

    ngx_fuzz_check(cmd->peer.data == f[2].data && cmd->peer.len == f[2].len);

    if (n == 4) {
        ngx_fuzz_check(cmd->nonce.data == f[3].data
                       && cmd->nonce.len == 32);

    } else {
        ngx_fuzz_check(cmd->nonce.len == 0);
    }
}


/* exactly "? " + the trimmed line + LF */

static void
fuzz_client_invalid(ngx_stream_herd_cmd_t *cmd)
{
    u_char  *reply, *q;
    size_t   n;

    n = ngx_stream_herd_invalid_len(&cmd->line);
    ngx_fuzz_check(n == 2 + cmd->line.len + 1);

    reply = malloc(n);
    ngx_fuzz_check(reply != NULL);

    q = ngx_stream_herd_format_invalid(reply, &cmd->line);

    ngx_fuzz_check((size_t) (q - reply) == n);
    ngx_fuzz_check(reply[0] == '?' && reply[1] == ' ');
    ngx_fuzz_check(memcmp(reply + 2, cmd->line.data, cmd->line.len) == 0);
    ngx_fuzz_check(reply[n - 1] == LF);

    free(reply);
}


static unsigned __int128
fuzz_client_ns(ngx_stream_herd_time_t *t)
{
    return (unsigned __int128) t->sec * 1000000000 + t->nsec;
}
