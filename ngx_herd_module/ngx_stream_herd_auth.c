
/*
 * Copyright (C) The herd authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "ngx_stream_herd_auth.h"


/* role: 'S' for the answering server's proof, 'L' for the link's */


ngx_int_t
ngx_stream_herd_auth_nonce(u_char *hex)
{
    u_char  raw[NGX_STREAM_HERD_NONCE_LEN / 2];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, raw, sizeof(raw));

    return NGX_OK;
}


ngx_int_t
ngx_stream_herd_auth_mac(ngx_str_t *secret, u_char role, ngx_str_t *from,
    ngx_str_t *to, u_char *nonce1, u_char *nonce2, u_char *hex)
{
    u_char        *p, *msg;
    size_t         len;
    unsigned int   n;
    u_char         mac[EVP_MAX_MD_SIZE];

    /* "herd 1" role \0 from \0 to \0 nonce1 \0 nonce2 */

    len = sizeof("herd 1") + 1 + 1 + from->len + 1 + to->len + 1
          + NGX_STREAM_HERD_NONCE_LEN + 1 + NGX_STREAM_HERD_NONCE_LEN;

    msg = ngx_alloc(len, ngx_cycle->log);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg, "herd 1", sizeof("herd 1"));
    *p++ = role;
    *p++ = '\0';
    p = ngx_cpymem(p, from->data, from->len);
    *p++ = '\0';
    p = ngx_cpymem(p, to->data, to->len);
    *p++ = '\0';
    p = ngx_cpymem(p, nonce1, NGX_STREAM_HERD_NONCE_LEN);
    *p++ = '\0';
    p = ngx_cpymem(p, nonce2, NGX_STREAM_HERD_NONCE_LEN);

    n = 0;

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, msg, p - msg,
             mac, &n)
        == NULL
        || n * 2 != NGX_STREAM_HERD_MAC_LEN)
    {
        ngx_free(msg);
        return NGX_ERROR;
    }

    ngx_free(msg);

    ngx_hex_dump(hex, mac, n);

    return NGX_OK;
}


ngx_int_t
ngx_stream_herd_auth_verify(ngx_str_t *secret, u_char role, ngx_str_t *from,
    ngx_str_t *to, u_char *nonce1, u_char *nonce2, ngx_str_t *mac)
{
    u_char  expected[NGX_STREAM_HERD_MAC_LEN];

    if (mac->len != NGX_STREAM_HERD_MAC_LEN) {
        return NGX_DECLINED;
    }

    if (ngx_stream_herd_auth_mac(secret, role, from, to, nonce1, nonce2,
                                 expected)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(expected, mac->data, NGX_STREAM_HERD_MAC_LEN) != 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}
