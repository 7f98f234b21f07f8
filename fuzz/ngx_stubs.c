
/*
 * Copyright (C) The herd authors
 */


/*
 * The few nginx core functions that the pure herd sources call, for the
 * fuzz targets: the module's sources are compiled against the configured
 * nginx tree (its headers and objs/ngx_auto_config.h), not linked with
 * nginx.
 *
 * ngx_alloc() and cJSON's allocations can be made to fail: the Nth
 * allocation after ngx_fuzz_fail_at(N) returns NULL.  ngx_vslprintf()
 * knows the conversions the module uses and aborts on any other, so that a
 * log line whose arguments do not match its format is found too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <cJSON.h>
#include "ngx_stubs.h"


static void *ngx_fuzz_malloc(size_t size);
static u_char *ngx_fuzz_number(u_char *buf, u_char *last, uint64_t n,
    ngx_uint_t negative, ngx_uint_t hex, ngx_uint_t zero, ngx_uint_t width);


static ngx_uint_t  ngx_fuzz_fail_countdown;
static ngx_uint_t  ngx_fuzz_failed;


/*
 * ASan's defaults, unless ASAN_OPTIONS says otherwise: a smaller
 * quarantine and no filling of new blocks keep the targets fast (the
 * allocator, not the code under test, took most of the time).
 */

const char *__asan_default_options(void);


const char *
__asan_default_options(void)
{
    return "quarantine_size_mb=32:max_malloc_fill_size=0:detect_leaks=1";
}


void
ngx_fuzz_init(void)
{
    cJSON_Hooks  hooks;

    hooks.malloc_fn = ngx_fuzz_malloc;
    hooks.free_fn = free;

    cJSON_InitHooks(&hooks);
}


/* 0: no allocation fails; n: the nth allocation from now on fails */

void
ngx_fuzz_fail_at(ngx_uint_t n)
{
    ngx_fuzz_fail_countdown = n;
    ngx_fuzz_failed = 0;
}


ngx_uint_t
ngx_fuzz_allocation_failed(void)
{
    return ngx_fuzz_failed;
}


static void *
ngx_fuzz_malloc(size_t size)
{
    if (ngx_fuzz_fail_countdown && --ngx_fuzz_fail_countdown == 0) {
        ngx_fuzz_failed = 1;
        return NULL;
    }

    return malloc(size);
}


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    void  *p;

    p = ngx_fuzz_malloc(size);

    if (p == NULL) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "malloc(%uz) failed", size);
    }

    return p;
}


void *
ngx_calloc(size_t size, ngx_log_t *log)
{
    void  *p;

    p = ngx_alloc(size, log);

    if (p) {
        ngx_memzero(p, size);
    }

    return p;
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    errstr[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + sizeof(errstr), fmt, args);
    va_end(args);

    if (getenv("FUZZ_LOG")) {
        fprintf(stderr, "[%d] %.*s\n", (int) level, (int) (p - errstr),
                errstr);
    }
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


/* %[0][width][u][x|X][m]{i,d,l,z,D,L,O,T,P,M,p,s,*s,V,c,Z,N,%} */

u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *s;
    size_t       len;
    int64_t      i64;
    uint64_t     u64;
    ngx_str_t   *v;
    ngx_uint_t   zero, width, sign, hex, star;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = (u_char) *fmt++;
            continue;
        }

        fmt++;

        zero = (*fmt == '0');
        width = 0;
        sign = 1;
        hex = 0;
        star = 0;
        len = 0;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {

            case 'u':
                sign = 0;
                fmt++;
                continue;

            case 'm':
                fmt++;
                continue;

            case 'x':
                hex = 1;
                sign = 0;
                fmt++;
                continue;

            case 'X':
                hex = 2;
                sign = 0;
                fmt++;
                continue;

            case '*':
                len = va_arg(args, size_t);
                star = 1;
                fmt++;
                continue;

            default:
                break;
            }

            break;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - buf), v->len);
            buf = ngx_cpymem(buf, v->data, len);
            fmt++;
            continue;

        case 's':
            s = va_arg(args, u_char *);

            if (star) {
                len = ngx_min((size_t) (last - buf), len);
                buf = ngx_cpymem(buf, s, len);

            } else {
                while (buf < last && *s) {
                    *buf++ = *s++;
                }
            }

            fmt++;
            continue;

        case 'c':
            *buf++ = (u_char) va_arg(args, int);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        case 'p':
            u64 = (uintptr_t) va_arg(args, void *);
            hex = 2;
            sign = 0;
            zero = 1;
            width = 2 * sizeof(void *);
            break;

        case 'i':
            i64 = sign ? (int64_t) va_arg(args, ngx_int_t)
                       : (int64_t) va_arg(args, ngx_uint_t);
            u64 = (uint64_t) i64;
            break;

        case 'd':
            i64 = sign ? (int64_t) va_arg(args, int)
                       : (int64_t) va_arg(args, u_int);
            u64 = (uint64_t) i64;
            break;

        case 'l':
            i64 = sign ? (int64_t) va_arg(args, long)
                       : (int64_t) va_arg(args, u_long);
            u64 = (uint64_t) i64;
            break;

        case 'z':
            i64 = sign ? (int64_t) va_arg(args, ssize_t)
                       : (int64_t) va_arg(args, size_t);
            u64 = (uint64_t) i64;
            break;

        case 'D':
            i64 = sign ? (int64_t) va_arg(args, int32_t)
                       : (int64_t) va_arg(args, uint32_t);
            u64 = (uint64_t) i64;
            break;

        case 'L':
            i64 = va_arg(args, int64_t);
            u64 = (uint64_t) i64;
            break;

        case 'O':
            i64 = (int64_t) va_arg(args, off_t);
            u64 = (uint64_t) i64;
            break;

        case 'T':
            i64 = (int64_t) va_arg(args, time_t);
            u64 = (uint64_t) i64;
            break;

        case 'P':
            i64 = (int64_t) va_arg(args, ngx_pid_t);
            u64 = (uint64_t) i64;
            break;

        case 'M':
            u64 = (uint64_t) va_arg(args, ngx_msec_t);
            i64 = (int64_t) u64;
            sign = 0;
            break;

        default:
            fprintf(stderr, "ngx_vslprintf: unknown conversion in \"%s\"\n",
                    fmt);
            abort();
        }

        fmt++;

        if (sign && i64 < 0) {
            buf = ngx_fuzz_number(buf, last, (uint64_t) 0 - u64, 1, hex,
                                  zero, width);

        } else {
            buf = ngx_fuzz_number(buf, last, u64, 0, hex, zero, width);
        }
    }

    return buf;
}


static u_char *
ngx_fuzz_number(u_char *buf, u_char *last, uint64_t n, ngx_uint_t negative,
    ngx_uint_t hex, ngx_uint_t zero, ngx_uint_t width)
{
    u_char   *p;
    size_t    len;
    u_char    tmp[NGX_INT64_LEN + 1];

    static u_char  lower[] = "0123456789abcdef";
    static u_char  upper[] = "0123456789ABCDEF";

    p = tmp + sizeof(tmp);

    do {
        if (hex) {
            *--p = (hex == 1 ? lower : upper)[n & 0xf];
            n >>= 4;

        } else {
            *--p = (u_char) (n % 10 + '0');
            n /= 10;
        }
    } while (n);

    len = tmp + sizeof(tmp) - p;

    if (negative && buf < last) {
        *buf++ = '-';
    }

    while (len < width-- && buf < last) {
        *buf++ = zero ? '0' : ' ';
    }

    while (p < tmp + sizeof(tmp) && buf < last) {
        *buf++ = *p++;
    }

    return buf;
}
