
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "herd_oracle.h"


static size_t herd_oracle_digits(u_char *p, u_char *last);
static ngx_int_t herd_oracle_number(u_char **pp, u_char *last,
    ngx_uint_t max_significant, uint64_t *value, u_char **frac,
    size_t *frac_len);
static ngx_uint_t herd_oracle_zeros(u_char *p, size_t len);
static ngx_int_t herd_oracle_degrees(u_char **pp, u_char *last,
    uint64_t max);


/* PROTOCOL.md 2: space, tab, CR, LF, FF, VT */

ngx_uint_t
herd_oracle_space(u_char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'
           || ch == '\f' || ch == '\v';
}


/* all the fields are counted, the first HERD_ORACLE_FIELDS stored */

ngx_uint_t
herd_oracle_split(u_char *p, size_t len, ngx_str_t *f)
{
    size_t      i, start;
    ngx_uint_t  n;

    n = 0;
    i = 0;

    for ( ;; ) {
        while (i < len && herd_oracle_space(p[i])) {
            i++;
        }

        if (i == len) {
            return n;
        }

        start = i;

        while (i < len && !herd_oracle_space(p[i])) {
            i++;
        }

        if (n < HERD_ORACLE_FIELDS) {
            f[n].data = p + start;
            f[n].len = i - start;
        }

        n++;
    }
}


ngx_uint_t
herd_oracle_is(ngx_str_t *f, const char *word)
{
    return f->len == strlen(word) && memcmp(f->data, word, f->len) == 0;
}


ngx_uint_t
herd_oracle_inside(ngx_str_t *s, u_char *start, size_t len)
{
    if (s->len == 0) {
        return 1;
    }

    return s->data != NULL
           && s->data >= start
           && s->len <= len
           && s->data - start <= (ptrdiff_t) (len - s->len);
}


ngx_uint_t
herd_oracle_no_space(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (herd_oracle_space(s->data[i])) {
            return 0;
        }
    }

    return 1;
}


/* exactly len lower case hex digits */

ngx_uint_t
herd_oracle_hex(ngx_str_t *s, size_t len)
{
    size_t  i;

    if (s->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!strchr("0123456789abcdef", s->data[i]) || s->data[i] == '\0') {
            return 0;
        }
    }

    return 1;
}


static size_t
herd_oracle_digits(u_char *p, u_char *last)
{
    size_t  n;

    n = 0;

    while (p + n < last && p[n] >= '0' && p[n] <= '9') {
        n++;
    }

    return n;
}


static ngx_uint_t
herd_oracle_zeros(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != '0') {
            return 0;
        }
    }

    return 1;
}


/*
 * DIGITS[.DIGITS] at *pp, stopping before anything else: at most
 * max_significant digits in the integer part once leading zeros are gone.
 */

static ngx_int_t
herd_oracle_number(u_char **pp, u_char *last, ngx_uint_t max_significant,
    uint64_t *value, u_char **frac, size_t *frac_len)
{
    u_char  *p;
    size_t   n, i, lead;

    p = *pp;

    n = herd_oracle_digits(p, last);

    if (n == 0) {
        return NGX_ERROR;
    }

    lead = 0;

    while (lead < n && p[lead] == '0') {
        lead++;
    }

    if (n - lead > max_significant) {
        return NGX_ERROR;
    }

    *value = 0;

    for (i = lead; i < n; i++) {
        *value = *value * 10 + (p[i] - '0');
    }

    p += n;

    *frac = p;
    *frac_len = 0;

    if (p < last && *p == '.') {
        n = herd_oracle_digits(p + 1, last);

        if (n == 0) {
            return NGX_ERROR;
        }

        *frac = p + 1;
        *frac_len = n;
        p += 1 + n;
    }

    *pp = p;

    return NGX_OK;
}


/* PROTOCOL.md 3: DIGITS[.DIGITS], at most 9 fraction digits */

ngx_int_t
herd_oracle_time(ngx_str_t *s, uint64_t *sec, uint32_t *nsec)
{
    u_char    *p, *frac;
    size_t     frac_len, i;
    uint64_t   v;

    p = s->data;

    if (herd_oracle_number(&p, s->data + s->len, 18, &v, &frac, &frac_len)
        != NGX_OK
        || p != s->data + s->len
        || frac_len > 9)
    {
        return NGX_ERROR;
    }

    *sec = v;
    *nsec = 0;

    for (i = 0; i < 9; i++) {
        *nsec = *nsec * 10 + (i < frac_len ? frac[i] - '0' : 0);
    }

    return NGX_OK;
}


static ngx_int_t
herd_oracle_degrees(u_char **pp, u_char *last, uint64_t max)
{
    u_char    *frac;
    size_t     frac_len;
    uint64_t   v;

    if (*pp == last || (**pp != '+' && **pp != '-')) {
        return NGX_ERROR;
    }

    (*pp)++;

    if (herd_oracle_number(pp, last, 3, &v, &frac, &frac_len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (v > max || (v == max && !herd_oracle_zeros(frac, frac_len))) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* PROTOCOL.md 3: [+-]DIGITS[.DIGITS][+-]DIGITS[.DIGITS], 90 and 180 */

ngx_int_t
herd_oracle_location(ngx_str_t *s, ngx_str_t *lat, ngx_str_t *lng)
{
    u_char  *p, *last;

    p = s->data;
    last = s->data + s->len;

    lat->data = p;

    if (herd_oracle_degrees(&p, last, 90) != NGX_OK) {
        return NGX_ERROR;
    }

    lat->len = p - lat->data;
    lng->data = p;

    if (herd_oracle_degrees(&p, last, 180) != NGX_OK || p != last) {
        return NGX_ERROR;
    }

    lng->len = p - lng->data;

    return NGX_OK;
}


/* PROTOCOL.md 5: a positive decimal, at most 50 (km); in metres, >= 1 */

ngx_int_t
herd_oracle_radius(ngx_str_t *s, ngx_uint_t *metres)
{
    u_char    *p, *frac;
    size_t     frac_len, i;
    uint64_t   km, m;

    p = s->data;

    if (herd_oracle_number(&p, s->data + s->len, 2, &km, &frac, &frac_len)
        != NGX_OK
        || p != s->data + s->len)
    {
        return NGX_ERROR;
    }

    if (km > 50 || (km == 50 && !herd_oracle_zeros(frac, frac_len))) {
        return NGX_ERROR;
    }

    if (km == 0 && herd_oracle_zeros(frac, frac_len)) {
        return NGX_ERROR;
    }

    m = km * 1000;

    for (i = 0; i < 3 && i < frac_len; i++) {
        m += (frac[i] - '0') * (i == 0 ? 100 : (i == 1 ? 10 : 1));
    }

    *metres = m ? m : 1;

    return NGX_OK;
}


/* PROTOCOL.md 5: an integer from 1 to 20 */

ngx_int_t
herd_oracle_bound(ngx_str_t *s, ngx_uint_t *bound)
{
    u_char    *p, *frac;
    size_t     frac_len;
    uint64_t   v;

    p = s->data;

    if (herd_oracle_number(&p, s->data + s->len, 2, &v, &frac, &frac_len)
        != NGX_OK
        || p != s->data + s->len
        || frac_len != 0
        || v < 1 || v > 20)
    {
        return NGX_ERROR;
    }

    *bound = v;

    return NGX_OK;
}
