/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_ctx.h
 *  @brief Execution context every kernel entry point takes: caller-owned L1 scratch and the
 *  number of cluster cores to run on. Kernels never allocate; they size their scratch with
 *  `et_<op>_scratch_size()` and fail with ET_ERR_ARG if `l1_bytes` is too small.
 */
#ifndef ET_CTX_H
#define ET_CTX_H

#include <stddef.h>

#include "et_status.h"

typedef struct {
    void *l1;        /**< L1 scratch (HAL_L1 buffer), 8-byte aligned; tiles live here */
    size_t l1_bytes; /**< its size in bytes */
    unsigned ncores; /**< cluster cores to use, 1..hal_cluster_max_cores(); 0 = all */
} et_ctx;

#endif /* ET_CTX_H */
