/* SPDX-License-Identifier: Apache-2.0 */
/** @file ktest.h
 *  @brief Kernel-test firmware: the op registry that `ops_<family>.c` files plug into.
 *
 *  Each kernel family adds one `apps/ktest/ops_<family>.c` that defines handlers and
 *  registers them with KT_OP(); no shared file is edited. The registry is a table in the
 *  linker section `et_ktest_ops` (host: collected by GNU ld's __start_/__stop_ symbols;
 *  RISC-V: a KEEP line in sdk/ld/edgetune.ld.j2). The wire protocol is in README.md.
 */
#ifndef KTEST_H
#define KTEST_H

#include <stdint.h>

#include "et_ctx.h"
#include "et_status.h"

/** ktest-level errors (never produced by kernels, which return et_status >= -3). */
#define KT_ERR_PROTO (-100) /**< malformed request, or a handler got the wrong argument count */
#define KT_ERR_NOOP (-101)  /**< no op registered under that name */
#define KT_ERR_NOMEM (-102) /**< tensors do not fit the arena */
#define KT_ERR_CRC (-103)   /**< checksum mismatch */

/** One kernel call as decoded from a request frame. */
typedef struct {
    const int32_t *ints;  /**< integer arguments (shapes, flags) */
    unsigned nints;       /**< how many */
    const float *floats;  /**< float arguments (alpha, scale, eps) */
    unsigned nfloats;     /**< how many */
    float *const *t;      /**< tensors in L2, in request order; NULL where the host sent size 0 */
    const uint32_t *tlen; /**< element count of each tensor */
    unsigned ntensors;    /**< how many */
    et_ctx *ctx;          /**< L1 scratch and core count requested by the host */
} kt_call;

/** A handler runs one kernel; returns its et_status (or a KT_ERR_* code). */
typedef int (*kt_fn)(const kt_call *c);

/** Registry entry. */
typedef struct {
    const char *name; /**< op name on the wire, e.g. "gemm.fwd" */
    kt_fn fn;         /**< handler */
} kt_op;

/** Register handler `fn` under `name` (a string literal); use once per op at file scope. */
#define KT_OP(name, fn)                                                                         \
    static const kt_op kt_op_##fn __attribute__((used, section("et_ktest_ops"),                \
                                                  aligned(sizeof(void *)))) = {name, fn}

/** In a handler: fail with KT_ERR_PROTO unless the call has exactly ni ints and nt tensors. */
#define KT_EXPECT(c, ni, nt)                                                                    \
    do {                                                                                        \
        if ((c)->nints != (ni) || (c)->ntensors != (nt)) return KT_ERR_PROTO;                  \
    } while (0)

#endif /* KTEST_H */
