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
/** Word-interleaved banks of the cluster's L1 (Siracusa: 16 banks of 32-bit words). */
#define ET_TEAM_L1_BANKS 16u

/* Start of core id's share: the even split's start moved down to the nearest index that is
 * 2 * id modulo ET_TEAM_L1_BANKS (core 0 starts at 0), for shares of at least 32 banks' worth
 * (the shares then differ by at most 3%). */
static inline size_t et_team_start(size_t n, unsigned id, unsigned nc)
{
    size_t q = n / nc, r = n % nc, lo = id * q + (id < r ? id : r);
    if (id == 0 || q < 32u * ET_TEAM_L1_BANKS) return lo;
    return lo - (lo + ET_TEAM_L1_BANKS - (2u * id) % ET_TEAM_L1_BANKS) % ET_TEAM_L1_BANKS;
}

/**
 * @brief Contiguous share [*lo, *hi) of n items for core id of nc, even but for fewer than
 * ET_TEAM_L1_BANKS items: each large share (but core 0's) starts 2 * id items past a multiple of
 * ET_TEAM_L1_BANKS, so cores walking their shares of a float array in step touch different
 * L1 banks (shares of a power-of-two size would all start in the same bank; GVSoC: 8 cores
 * adding 8192 floats in L1, 9,070 -> 8,209 cycles). The shares only partition the range: no
 * kernel's results depend on them.
 */
static inline void et_team_range(size_t n, unsigned id, unsigned nc, size_t *lo, size_t *hi)
{
    *lo = et_team_start(n, id, nc);
    *hi = id + 1 < nc ? et_team_start(n, id + 1, nc) : n;
}

#endif /* ET_TEAM_H */
