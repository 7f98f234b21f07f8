
/*
 * Copyright (C) The herd authors
 */


#ifndef _NGX_STUBS_H_INCLUDED_
#define _NGX_STUBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the fuzz targets' side of fuzz/ngx_stubs.c */

void ngx_fuzz_init(void);
void ngx_fuzz_fail_at(ngx_uint_t n);
ngx_uint_t ngx_fuzz_allocation_failed(void);

/* an invariant of the code under test: a failure is a crash */
#define ngx_fuzz_check(expr)                                                  \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n",                  \
                    __FILE__, __LINE__, #expr);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)


#endif /* _NGX_STUBS_H_INCLUDED_ */
