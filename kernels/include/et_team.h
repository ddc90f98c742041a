/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_team.h
 *  @brief Small inline helpers the non-GEMM kernel families share to run on the cluster team:
 *  resolving ctx->ncores and splitting an index range evenly over the cores.
 */
#ifndef ET_TEAM_H
#define ET_TEAM_H

#include <stddef.h>

#include "et_ctx.h"
#include "hal.h"

/**
 * @brief Cores a kernel runs on for this context.
 * @param[in] ctx execution context (not NULL); ncores 0 means all cores of the target
 * @return 1..hal_cluster_max_cores(), or 0 if ctx->ncores exceeds the target's cores.
 */
static inline unsigned et_team_cores(const et_ctx *ctx)
{
    unsigned max = hal_cluster_max_cores();
    if (ctx->ncores == 0) return max;
    return ctx->ncores <= max ? ctx->ncores : 0;
}

/**
 * @brief Contiguous share [*lo, *hi) of n items for core id of nc (sizes differ by at most 1).
 */
static inline void et_team_range(size_t n, unsigned id, unsigned nc, size_t *lo, size_t *hi)
{
    size_t q = n / nc, r = n % nc;
    *lo = id * q + (id < r ? id : r);
    *hi = *lo + q + (id < r ? 1 : 0);
}

#endif /* ET_TEAM_H */
