
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STREAM_HERD_AUTH_H_INCLUDED_
#define _NGX_STREAM_HERD_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Peer authentication with a shared secret (herd_peer_secret): each side
 * proves it knows the secret with an HMAC-SHA256 over both names and both
 * sides' fresh nonces, so a proof cannot be replayed on another link.
 */


#define NGX_STREAM_HERD_NONCE_LEN  32              /* hex digits */
#define NGX_STREAM_HERD_MAC_LEN    64              /* hex digits */


ngx_int_t ngx_stream_herd_auth_nonce(u_char *hex);
ngx_int_t ngx_stream_herd_auth_mac(ngx_str_t *secret, u_char role,
    ngx_str_t *from, ngx_str_t *to, u_char *nonce1, u_char *nonce2,
    u_char *hex);
ngx_int_t ngx_stream_herd_auth_verify(ngx_str_t *secret, u_char role,
    ngx_str_t *from, ngx_str_t *to, u_char *nonce1, u_char *nonce2,
    ngx_str_t *mac);


#endif /* _NGX_STREAM_HERD_AUTH_H_INCLUDED_ */
