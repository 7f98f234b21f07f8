
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_stream_herd_proto.h"


#define NGX_STREAM_HERD_MAX_FIELDS  8


static ngx_uint_t ngx_stream_herd_split(u_char *p, size_t len,
    ngx_str_t *fields, ngx_uint_t max);
static ngx_int_t ngx_stream_herd_parse_decimal(u_char *p, size_t len,
    ngx_uint_t max_int, ngx_uint_t max_frac, uint64_t *ip, u_char **frac,
    size_t *frac_len);
static ngx_int_t ngx_stream_herd_parse_degrees(u_char *p, size_t len,
    ngx_uint_t max);
static ngx_int_t ngx_stream_herd_parse_radius(ngx_str_t *s,
    ngx_uint_t *metres);
static ngx_int_t ngx_stream_herd_parse_bound(ngx_str_t *s, ngx_uint_t *bound);
static ngx_uint_t ngx_stream_herd_all_zeros(u_char *p, size_t len);
static ngx_uint_t ngx_stream_herd_is_hex(ngx_str_t *s, size_t len);
static u_char *ngx_stream_herd_write_uint(u_char *buf, uint64_t n);


static ngx_str_t  ngx_stream_herd_iamat = ngx_string("IAMAT");
static ngx_str_t  ngx_stream_herd_whatsat = ngx_string("WHATSAT");
static ngx_str_t  ngx_stream_herd_at = ngx_string("AT");
static ngx_str_t  ngx_stream_herd_herd = ngx_string("HERD");
static ngx_str_t  ngx_stream_herd_digest = ngx_string("DIGEST");
static ngx_str_t  ngx_stream_herd_auth = ngx_string("AUTH");
static ngx_str_t  ngx_stream_herd_pull = ngx_string("PULL");
static ngx_str_t  ngx_stream_herd_version =
    ngx_string(NGX_STREAM_HERD_PEER_VERSION);

#define ngx_stream_herd_field_is(f, s)                                        \
    ((f)->len == (s)->len && ngx_strncmp((f)->data, (s)->data, (s)->len) == 0)


void
ngx_stream_herd_trim(ngx_str_t *s)
{
    while (s->len && ngx_stream_herd_is_space(s->data[0])) {
        s->data++;
        s->len--;
    }

    while (s->len && ngx_stream_herd_is_space(s->data[s->len - 1])) {
        s->len--;
    }
}


ngx_int_t
ngx_stream_herd_parse_line(u_char *p, size_t len, ngx_stream_herd_cmd_t *cmd)
{
    ngx_uint_t  n;
    ngx_str_t   f[NGX_STREAM_HERD_MAX_FIELDS];

    ngx_memzero(cmd, sizeof(ngx_stream_herd_cmd_t));

    cmd->line.data = p;
    cmd->line.len = len;
    ngx_stream_herd_trim(&cmd->line);

    if (cmd->line.len == 0) {
        cmd->type = NGX_STREAM_HERD_EMPTY;
        return cmd->type;
    }

    cmd->type = NGX_STREAM_HERD_INVALID;

    n = ngx_stream_herd_split(cmd->line.data, cmd->line.len, f,
                              NGX_STREAM_HERD_MAX_FIELDS);

    if (n == 4
        && f[0].len == ngx_stream_herd_iamat.len
        && ngx_strncmp(f[0].data, ngx_stream_herd_iamat.data,
                       f[0].len) == 0)
    {
        if (ngx_stream_herd_parse_location(f[2].data, f[2].len,
                                           &cmd->lat, &cmd->lng)
            != NGX_OK)
        {
            return cmd->type;
        }

        if (ngx_stream_herd_parse_time(f[3].data, f[3].len,
                                       &cmd->client_time)
            != NGX_OK)
        {
            return cmd->type;
        }

        cmd->client = f[1];
        cmd->location = f[2];
        cmd->time = f[3];
        cmd->type = NGX_STREAM_HERD_IAMAT;

        return cmd->type;
    }

    if (n == 4
        && f[0].len == ngx_stream_herd_whatsat.len
        && ngx_strncmp(f[0].data, ngx_stream_herd_whatsat.data,
                       f[0].len) == 0)
    {
        if (ngx_stream_herd_parse_radius(&f[2], &cmd->radius_m) != NGX_OK) {
            return cmd->type;
        }

        if (ngx_stream_herd_parse_bound(&f[3], &cmd->bound) != NGX_OK) {
            return cmd->type;
        }

        cmd->client = f[1];
        cmd->radius = f[2];
        cmd->type = NGX_STREAM_HERD_WHATSAT;

        return cmd->type;
    }

    if ((n == 3 || (n == 4 && ngx_stream_herd_is_hex(&f[3], 32)))
        && ngx_stream_herd_field_is(&f[0], &ngx_stream_herd_herd)
        && ngx_stream_herd_field_is(&f[1], &ngx_stream_herd_version))
    {
        cmd->peer = f[2];

        if (n == 4) {
            cmd->nonce = f[3];
        }

        cmd->type = NGX_STREAM_HERD_HELLO;

        return cmd->type;
    }

    return cmd->type;
}


/*
 * Splits p into white-space separated fields; returns the number of fields,
 * which may exceed max (only the first max are stored).
 */

static ngx_uint_t
ngx_stream_herd_split(u_char *p, size_t len, ngx_str_t *fields,
    ngx_uint_t max)
{
    u_char      *last, *start;
    ngx_uint_t   n;

    last = p + len;
    n = 0;

    while (p < last) {

        while (p < last && ngx_stream_herd_is_space(*p)) {
            p++;
        }

        if (p == last) {
            break;
        }

        start = p;

        while (p < last && !ngx_stream_herd_is_space(*p)) {
            p++;
        }

        if (n < max) {
            fields[n].data = start;
            fields[n].len = p - start;
        }

        n++;
    }

    return n;
}


/*
 * DIGITS[.DIGITS]: the integer part must have at most max_int significant
 * digits (leading zeros are fine), the fraction at most max_frac digits.
 */

static ngx_int_t
ngx_stream_herd_parse_decimal(u_char *p, size_t len, ngx_uint_t max_int,
    ngx_uint_t max_frac, uint64_t *ip, u_char **frac, size_t *frac_len)
{
    u_char      *last, *start, *first;
    uint64_t     value;
    ngx_uint_t   digits;

    last = p + len;
    start = p;

    while (p < last && *p == '0') {
        p++;
    }

    first = p;
    value = 0;

    while (p < last && (ngx_uint_t) (*p - '0') <= 9) {
        value = value * 10 + (*p - '0');
        p++;
    }

    if ((ngx_uint_t) (p - first) > max_int) {
        return NGX_ERROR;
    }

    digits = p - start;

    if (digits == 0) {
        return NGX_ERROR;
    }

    *ip = value;
    *frac = p;
    *frac_len = 0;

    if (p == last) {
        return NGX_OK;
    }

    if (*p++ != '.') {
        return NGX_ERROR;
    }

    *frac = p;

    while (p < last && (ngx_uint_t) (*p - '0') <= 9) {
        p++;
    }

    *frac_len = p - *frac;

    if (p != last || *frac_len == 0 || *frac_len > max_frac) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_stream_herd_all_zeros(u_char *p, size_t len)
{
    while (len--) {
        if (*p++ != '0') {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_stream_herd_parse_time(u_char *p, size_t len, ngx_stream_herd_time_t *t)
{
    u_char      *frac;
    size_t       frac_len, i;
    uint64_t     sec;
    uint32_t     nsec;

    if (ngx_stream_herd_parse_decimal(p, len, NGX_STREAM_HERD_MAX_SEC_DIGITS,
                                      NGX_STREAM_HERD_MAX_FRAC, &sec,
                                      &frac, &frac_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    nsec = 0;

    for (i = 0; i < NGX_STREAM_HERD_MAX_FRAC; i++) {
        nsec = nsec * 10 + (i < frac_len ? (uint32_t) (frac[i] - '0') : 0);
    }

    t->sec = sec;
    t->nsec = nsec;

    return NGX_OK;
}


/* [+-]DIGITS[.DIGITS] with an absolute value of at most max degrees */

static ngx_int_t
ngx_stream_herd_parse_degrees(u_char *p, size_t len, ngx_uint_t max)
{
    u_char    *frac;
    size_t     frac_len;
    uint64_t   value;

    if (len < 2 || (p[0] != '+' && p[0] != '-')) {
        return NGX_ERROR;
    }

    if (ngx_stream_herd_parse_decimal(p + 1, len - 1, 3, (size_t) -1,
                                      &value, &frac, &frac_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (value > max
        || (value == max && !ngx_stream_herd_all_zeros(frac, frac_len)))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_stream_herd_parse_location(u_char *p, size_t len, ngx_str_t *lat,
    ngx_str_t *lng)
{
    u_char  *q, *last;

    if (len < 4 || (p[0] != '+' && p[0] != '-')) {
        return NGX_ERROR;
    }

    last = p + len;

    for (q = p + 1; q < last; q++) {
        if (*q == '+' || *q == '-') {
            break;
        }
    }

    if (q == last) {
        return NGX_ERROR;
    }

    lat->data = p;
    lat->len = q - p;
    lng->data = q;
    lng->len = last - q;

    if (ngx_stream_herd_parse_degrees(lat->data, lat->len, 90) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_stream_herd_parse_degrees(lng->data, lng->len, 180);
}


/* DIGITS[.DIGITS] kilometres, 0 < radius <= 50 */

static ngx_int_t
ngx_stream_herd_parse_radius(ngx_str_t *s, ngx_uint_t *metres)
{
    u_char      *frac;
    size_t       frac_len, i;
    uint64_t     km;
    ngx_uint_t   m;

    if (ngx_stream_herd_parse_decimal(s->data, s->len, 2, (size_t) -1,
                                      &km, &frac, &frac_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (km > NGX_STREAM_HERD_MAX_RADIUS
        || (km == NGX_STREAM_HERD_MAX_RADIUS
            && !ngx_stream_herd_all_zeros(frac, frac_len)))
    {
        return NGX_ERROR;
    }

    if (km == 0 && ngx_stream_herd_all_zeros(frac, frac_len)) {
        return NGX_ERROR;
    }

    m = (ngx_uint_t) km * 1000;

    for (i = 0; i < 3; i++) {
        m += (i < frac_len ? (ngx_uint_t) (frac[i] - '0') : 0)
             * (i == 0 ? 100 : (i == 1 ? 10 : 1));
    }

    /* a radius below one metre still asks for the nearest metre */

    *metres = m ? m : 1;

    return NGX_OK;
}


/* an integer from 1 to 20 */

static ngx_int_t
ngx_stream_herd_parse_bound(ngx_str_t *s, ngx_uint_t *bound)
{
    u_char    *frac;
    size_t     frac_len;
    uint64_t   n;

    if (ngx_stream_herd_parse_decimal(s->data, s->len, 2, 0, &n,
                                      &frac, &frac_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (n < 1 || n > NGX_STREAM_HERD_MAX_BOUND) {
        return NGX_ERROR;
    }

    *bound = (ngx_uint_t) n;

    return NGX_OK;
}


/* "AT server diff client location time", as stored in the zone */

ngx_int_t
ngx_stream_herd_parse_at(u_char *p, size_t len, ngx_stream_herd_at_t *at)
{
    ngx_uint_t  n;
    ngx_str_t   f[NGX_STREAM_HERD_MAX_FIELDS];

    n = ngx_stream_herd_split(p, len, f, NGX_STREAM_HERD_MAX_FIELDS);

    if (n != 6
        || f[0].len != ngx_stream_herd_at.len
        || ngx_strncmp(f[0].data, ngx_stream_herd_at.data, f[0].len) != 0)
    {
        return NGX_ERROR;
    }

    at->server = f[1];
    at->diff = f[2];
    at->client = f[3];
    at->location = f[4];
    at->time = f[5];

    return NGX_OK;
}


ngx_int_t
ngx_stream_herd_time_cmp(ngx_stream_herd_time_t *a, ngx_stream_herd_time_t *b)
{
    if (a->sec != b->sec) {
        return a->sec < b->sec ? -1 : 1;
    }

    if (a->nsec != b->nsec) {
        return a->nsec < b->nsec ? -1 : 1;
    }

    return 0;
}


static u_char *
ngx_stream_herd_write_uint(u_char *buf, uint64_t n)
{
    u_char   *p;
    u_char    tmp[NGX_INT64_LEN];

    p = tmp + NGX_INT64_LEN;

    do {
        *--p = (u_char) (n % 10 + '0');
        n /= 10;
    } while (n);

    return ngx_cpymem(buf, p, tmp + NGX_INT64_LEN - p);
}


/*
 * now - then, exact: "+S.NNNNNNNNN" or "-S.NNNNNNNNN";
 * at most NGX_STREAM_HERD_DIFF_LEN bytes.
 */

u_char *
ngx_stream_herd_format_diff(u_char *buf, ngx_stream_herd_time_t *now,
    ngx_stream_herd_time_t *then)
{
    u_char                  *p;
    uint64_t                 sec;
    uint32_t                 nsec, div;
    ngx_stream_herd_time_t  *big, *small;

    if (ngx_stream_herd_time_cmp(now, then) >= 0) {
        *buf++ = '+';
        big = now;
        small = then;

    } else {
        *buf++ = '-';
        big = then;
        small = now;
    }

    sec = big->sec - small->sec;

    if (big->nsec >= small->nsec) {
        nsec = big->nsec - small->nsec;

    } else {
        nsec = big->nsec + 1000000000 - small->nsec;
        sec--;
    }

    p = ngx_stream_herd_write_uint(buf, sec);
    *p++ = '.';

    for (div = 100000000; div; div /= 10) {
        *p++ = (u_char) (nsec / div % 10 + '0');
    }

    return p;
}


size_t
ngx_stream_herd_at_len(ngx_stream_herd_at_t *at)
{
    return sizeof("AT") - 1 + 5 + at->server.len + at->diff.len
           + at->client.len + at->location.len + at->time.len;
}


/* "AT server diff client location time", without the LF */

u_char *
ngx_stream_herd_format_at(u_char *buf, ngx_stream_herd_at_t *at)
{
    u_char  *p;

    p = ngx_cpymem(buf, "AT ", 3);
    p = ngx_cpymem(p, at->server.data, at->server.len);
    *p++ = ' ';
    p = ngx_cpymem(p, at->diff.data, at->diff.len);
    *p++ = ' ';
    p = ngx_cpymem(p, at->client.data, at->client.len);
    *p++ = ' ';
    p = ngx_cpymem(p, at->location.data, at->location.len);
    *p++ = ' ';
    p = ngx_cpymem(p, at->time.data, at->time.len);

    return p;
}


size_t
ngx_stream_herd_invalid_len(ngx_str_t *line)
{
    return sizeof("? ") - 1 + line->len + 1;
}


/* "? " + the trimmed command + LF */

u_char *
ngx_stream_herd_format_invalid(u_char *buf, ngx_str_t *line)
{
    u_char  *p;

    p = ngx_cpymem(buf, "? ", 2);
    p = ngx_cpymem(p, line->data, line->len);
    *p++ = LF;

    return p;
}


/* an AT line flooded by a peer: every field checked as for IAMAT */

ngx_int_t
ngx_stream_herd_parse_update(u_char *p, size_t len, ngx_stream_herd_at_t *at,
    ngx_stream_herd_time_t *t)
{
    ngx_str_t               lat, lng;
    ngx_stream_herd_time_t  diff;

    if (ngx_stream_herd_parse_at(p, len, at) != NGX_OK) {
        return NGX_ERROR;
    }

    if (at->diff.len < 2
        || (at->diff.data[0] != '+' && at->diff.data[0] != '-')
        || ngx_stream_herd_parse_time(at->diff.data + 1, at->diff.len - 1,
                                      &diff)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_stream_herd_parse_location(at->location.data, at->location.len,
                                       &lat, &lng)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_stream_herd_parse_time(at->time.data, at->time.len, t);
}


static ngx_uint_t
ngx_stream_herd_is_hex(ngx_str_t *s, size_t len)
{
    size_t  i;

    if (s->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/* "HERD 1 name" [" " nonce] + LF */

u_char *
ngx_stream_herd_format_hello(u_char *buf, ngx_str_t *name, u_char *nonce)
{
    u_char  *p;

    p = ngx_cpymem(buf, "HERD " NGX_STREAM_HERD_PEER_VERSION " ",
                   sizeof("HERD " NGX_STREAM_HERD_PEER_VERSION " ") - 1);
    p = ngx_cpymem(p, name->data, name->len);

    if (nonce) {
        *p++ = ' ';
        p = ngx_cpymem(p, nonce, 32);
    }

    *p++ = LF;

    return p;
}


/* "AUTH 1 name nonce mac" + LF: the answering server's proof */

u_char *
ngx_stream_herd_format_challenge(u_char *buf, ngx_str_t *name,
    u_char *nonce, u_char *mac)
{
    u_char  *p;

    p = ngx_cpymem(buf, "AUTH " NGX_STREAM_HERD_PEER_VERSION " ",
                   sizeof("AUTH " NGX_STREAM_HERD_PEER_VERSION " ") - 1);
    p = ngx_cpymem(p, name->data, name->len);
    *p++ = ' ';
    p = ngx_cpymem(p, nonce, 32);
    *p++ = ' ';
    p = ngx_cpymem(p, mac, 64);
    *p++ = LF;

    return p;
}


ngx_int_t
ngx_stream_herd_parse_challenge(u_char *p, size_t len, ngx_str_t *name,
    ngx_str_t *nonce, ngx_str_t *mac)
{
    ngx_str_t  f[NGX_STREAM_HERD_MAX_FIELDS];

    if (ngx_stream_herd_split(p, len, f, NGX_STREAM_HERD_MAX_FIELDS) != 5
        || !ngx_stream_herd_field_is(&f[0], &ngx_stream_herd_auth)
        || !ngx_stream_herd_field_is(&f[1], &ngx_stream_herd_version)
        || !ngx_stream_herd_is_hex(&f[3], 32)
        || !ngx_stream_herd_is_hex(&f[4], 64))
    {
        return NGX_ERROR;
    }

    *name = f[2];
    *nonce = f[3];
    *mac = f[4];

    return NGX_OK;
}


/* "AUTH 1 mac" + LF: the link's proof */

u_char *
ngx_stream_herd_format_proof(u_char *buf, u_char *mac)
{
    u_char  *p;

    p = ngx_cpymem(buf, "AUTH " NGX_STREAM_HERD_PEER_VERSION " ",
                   sizeof("AUTH " NGX_STREAM_HERD_PEER_VERSION " ") - 1);
    p = ngx_cpymem(p, mac, 64);
    *p++ = LF;

    return p;
}


ngx_int_t
ngx_stream_herd_parse_proof(u_char *p, size_t len, ngx_str_t *mac)
{
    ngx_str_t  f[NGX_STREAM_HERD_MAX_FIELDS];

    if (ngx_stream_herd_split(p, len, f, NGX_STREAM_HERD_MAX_FIELDS) != 3
        || !ngx_stream_herd_field_is(&f[0], &ngx_stream_herd_auth)
        || !ngx_stream_herd_field_is(&f[1], &ngx_stream_herd_version)
        || !ngx_stream_herd_is_hex(&f[2], 64))
    {
        return NGX_ERROR;
    }

    *mac = f[2];

    return NGX_OK;
}


/* "DIGEST 1 name " + 256 digests of 16 hex digits + LF */

u_char *
ngx_stream_herd_format_digest(u_char *buf, ngx_str_t *name, uint64_t *digest)
{
    u_char      *p;
    uint64_t     d;
    ngx_uint_t   i, j;

    static u_char  hex[] = "0123456789abcdef";

    p = ngx_cpymem(buf, "DIGEST " NGX_STREAM_HERD_PEER_VERSION " ",
                   sizeof("DIGEST " NGX_STREAM_HERD_PEER_VERSION " ") - 1);
    p = ngx_cpymem(p, name->data, name->len);
    *p++ = ' ';

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS; i++) {
        d = digest[i];

        for (j = 0; j < 16; j++) {
            p[15 - j] = hex[d & 0xf];
            d >>= 4;
        }

        p += 16;
    }

    *p++ = LF;

    return p;
}


ngx_int_t
ngx_stream_herd_parse_digest(u_char *p, size_t len, ngx_str_t *name,
    uint64_t *digest)
{
    u_char      *h, ch;
    uint64_t     d;
    ngx_str_t    f[NGX_STREAM_HERD_MAX_FIELDS];
    ngx_uint_t   i, j;

    if (ngx_stream_herd_split(p, len, f, NGX_STREAM_HERD_MAX_FIELDS) != 4
        || !ngx_stream_herd_field_is(&f[0], &ngx_stream_herd_digest)
        || !ngx_stream_herd_field_is(&f[1], &ngx_stream_herd_version)
        || f[3].len != NGX_STREAM_HERD_DIGESTS * 16)
    {
        return NGX_ERROR;
    }

    *name = f[2];
    h = f[3].data;

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS; i++) {
        d = 0;

        for (j = 0; j < 16; j++) {
            ch = *h++;

            if (ch >= '0' && ch <= '9') {
                d = (d << 4) | (ch - '0');

            } else if (ch >= 'a' && ch <= 'f') {
                d = (d << 4) | (ch - 'a' + 10);

            } else {
                return NGX_ERROR;
            }
        }

        digest[i] = d;
    }

    return NGX_OK;
}


/*
 * "PULL 1 <hex>": the buckets whose records a link asks its neighbour for,
 * NGX_STREAM_HERD_DIGESTS bits, bucket i in bit (i % 8) of byte i / 8,
 * each byte as two hex digits.
 */

u_char *
ngx_stream_herd_format_pull(u_char *buf, u_char *want)
{
    ngx_uint_t  i;

    static u_char  hex[] = "0123456789abcdef";

    buf = ngx_cpymem(buf, "PULL " NGX_STREAM_HERD_PEER_VERSION " ",
                     sizeof("PULL " NGX_STREAM_HERD_PEER_VERSION " ") - 1);

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS / 8; i++) {
        *buf++ = hex[want[i] >> 4];
        *buf++ = hex[want[i] & 0xf];
    }

    return buf;
}


ngx_int_t
ngx_stream_herd_parse_pull(u_char *p, size_t len, u_char *want)
{
    u_char      *h, ch, v, bits[NGX_STREAM_HERD_DIGESTS / 8];
    ngx_str_t    f[NGX_STREAM_HERD_MAX_FIELDS];
    ngx_uint_t   i, j;

    if (ngx_stream_herd_split(p, len, f, NGX_STREAM_HERD_MAX_FIELDS) != 3
        || !ngx_stream_herd_field_is(&f[0], &ngx_stream_herd_pull)
        || !ngx_stream_herd_field_is(&f[1], &ngx_stream_herd_version)
        || f[2].len != NGX_STREAM_HERD_DIGESTS / 4)
    {
        return NGX_ERROR;
    }

    h = f[2].data;

    for (i = 0; i < NGX_STREAM_HERD_DIGESTS / 8; i++) {
        v = 0;

        for (j = 0; j < 2; j++) {
            ch = *h++;

            if (ch >= '0' && ch <= '9') {
                v = (u_char) ((v << 4) | (ch - '0'));

            } else if (ch >= 'a' && ch <= 'f') {
                v = (u_char) ((v << 4) | (ch - 'a' + 10));

            } else {
                return NGX_ERROR;
            }
        }

        bits[i] = v;
    }

    /* an invalid line leaves want as it was */
    ngx_memcpy(want, bits, sizeof(bits));

    return NGX_OK;
}


/*
 * Copies src into [dst, end) for a log line: printable ASCII as is, other
 * bytes, '"' and '\\' as \xNN, LF as \n; stops with "..." when full.
 */

u_char *
ngx_stream_herd_escape(u_char *dst, u_char *end, u_char *src, size_t len)
{
    u_char  ch;

    static u_char  hex[] = "0123456789abcdef";

    while (len--) {
        ch = *src++;

        if (end - dst < 7) {
            if (end - dst >= 3) {
                dst = ngx_cpymem(dst, "...", 3);
            }

            break;
        }

        if (ch == LF) {
            *dst++ = '\\';
            *dst++ = 'n';

        } else if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            *dst++ = '\\';
            *dst++ = 'x';
            *dst++ = hex[ch >> 4];
            *dst++ = hex[ch & 0xf];

        } else {
            *dst++ = ch;
        }
    }

    return dst;
}
