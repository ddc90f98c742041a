/* SPDX-License-Identifier: Apache-2.0 */
/* 2-D transpose and 4-D permute (contiguous writes, strided reads), output rows split over the cores (et_elementwise.h). */
#include <stdint.h>

#include "et_elementwise.h"
#include "et_team.h"

typedef struct {
    const float *x;
    float *y;
    size_t od[4];  /* output dims */
    size_t ist[4]; /* input stride (elements) of each output axis */
} perm_job;

/* Copy n floats with input stride s3 to contiguous y. Word copies through uint32_t (no FP
 * moves); inlined into perm_worker, whose attribute keeps gcc from turning the unit-stride
 * loop into the byte-wise libc memcpy of this target. */
static inline __attribute__((always_inline)) void perm_row(const uint32_t *x, uint32_t *y, size_t n, size_t s3)
{
    uint32_t *e = y + n;
    if (s3 == 1) {
        uint32_t *e16 = y + (n & ~(size_t)15);
        for (; y != e16; y += 16, x += 16) {
            uint32_t a = x[0], b = x[1], c = x[2], d = x[3];
            uint32_t f = x[4], g = x[5], h = x[6], k = x[7];
            y[0] = a, y[1] = b, y[2] = c, y[3] = d, y[4] = f, y[5] = g, y[6] = h, y[7] = k;
            a = x[8], b = x[9], c = x[10], d = x[11], f = x[12], g = x[13], h = x[14], k = x[15];
            y[8] = a, y[9] = b, y[10] = c, y[11] = d, y[12] = f, y[13] = g, y[14] = h, y[15] = k;
        }
        if (y + 8 <= e) {
            uint32_t a = x[0], b = x[1], c = x[2], d = x[3];
            uint32_t f = x[4], g = x[5], h = x[6], k = x[7];
            y[0] = a, y[1] = b, y[2] = c, y[3] = d, y[4] = f, y[5] = g, y[6] = h, y[7] = k;
            y += 8, x += 8;
        }
        for (; y != e; ++y, ++x) *y = *x;
        return;
    }
    uint32_t *e4 = y + (n & ~(size_t)3);
    for (; y != e4; y += 4) {
        uint32_t a = x[0], b = x[s3], c = x[2 * s3], d = x[3 * s3];
        y[0] = a, y[1] = b, y[2] = c, y[3] = d;
        x += 4 * s3;
    }
    for (; y != e; ++y, x += s3) *y = *x;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void perm_worker(void *arg)
{
    const perm_job *j = arg;
    size_t lo, hi, n_outer = j->od[0] * j->od[1] * j->od[2], n = j->od[3], s3 = j->ist[3];
    et_team_range(n_outer, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    if (lo >= hi) return;
    const size_t d1 = j->od[1], d2 = j->od[2], st0 = j->ist[0], st1 = j->ist[1], st2 = j->ist[2];
    const uint32_t *x0 = (const uint32_t *)j->x;
    size_t i2 = lo % d2, t = lo / d2; /* once per core, not in the loop */
    size_t i1 = t % d1, i0 = t / d1;
    const uint32_t *xr = x0 + i0 * st0 + i1 * st1 + i2 * st2;
    uint32_t *y = (uint32_t *)j->y + lo * n;
    for (size_t o = lo; o < hi; ++o, y += n) {
        perm_row(xr, y, n, s3);
        if (++i2 == d2) {
            i2 = 0;
            if (++i1 == d1) i1 = 0, ++i0;
            xr = x0 + i0 * st0 + i1 * st1;
        } else {
            xr += st2;
        }
    }
}

/* Both tensors in L2: stage them through the L1 scratch, x in by DMA, the cores permuting L1 to
 * L1, y out by DMA. Cores that read and write L2 word by word pay its latency on every element
 * (about 9 cycles per element on Siracusa's 8 cores in GVSoC; the DMA moves 6-7 bytes per cycle).
 * When the permutation keeps axis 0, its items go through in chunks of whatever fits half the
 * scratch; otherwise the whole tensor must fit. Returns 0 (nothing done) when it does not apply. */
static int perm_staged(const et_ctx *ctx, const perm_job *j, unsigned nc, et_status *st)
{
    if (!ctx->l1 || hal_mem_level_of(j->x) != HAL_MEM_L2 || hal_mem_level_of(j->y) != HAL_MEM_L2)
        return 0;
    size_t total = j->od[0] * j->od[1] * j->od[2] * j->od[3];
    size_t items = j->ist[0] * j->od[0] == total ? j->od[0] : 1, item = total / items; /* elements */
    size_t per = ctx->l1_bytes / 2 / (item * sizeof(float));
    if (!per) return 0;
    float *lx = ctx->l1, *ly = lx + per * item;
    for (size_t i = 0; i < items; i += per) {
        size_t n = items - i < per ? items - i : per, bytes = n * item * sizeof(float);
        hal_dma_wait(hal_dma_copy_1d(lx, j->x + i * item, bytes));
        perm_job c = *j;
        c.x = lx, c.y = ly, c.od[0] = items == 1 ? j->od[0] : n;
        *st = hal_cluster_fork(nc, perm_worker, &c);
        if (*st != ET_OK) return 1;
        hal_dma_wait(hal_dma_copy_1d(j->y + i * item, ly, bytes));
    }
    return 1;
}

static et_status perm_run(const et_ctx *ctx, const float *x, float *y, const size_t dims[4],
                          const unsigned perm[4], int inverse)
{
    if (!ctx || !x || !y || !dims || !perm || x == y) return ET_ERR_ARG;
    unsigned seen = 0;
    for (unsigned k = 0; k < 4; ++k) {
        if (!dims[k] || perm[k] > 3) return ET_ERR_ARG;
        seen |= 1u << perm[k];
    }
    if (seen != 0xfu) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    perm_job j = {x, y, {0}, {0}};
    et_status st = ET_OK;
    size_t xd[4], xs[4];
    if (!inverse) {
        for (unsigned k = 0; k < 4; ++k) xd[k] = dims[k];
    } else { /* x is the forward output: dims permuted */
        for (unsigned k = 0; k < 4; ++k) xd[k] = dims[perm[k]];
    }
    xs[3] = 1;
    for (int k = 2; k >= 0; --k) xs[k] = xs[k + 1] * xd[k + 1];
    for (unsigned k = 0; k < 4; ++k) {
        if (!inverse) { /* output axis k reads input axis perm[k] */
            j.od[k] = xd[perm[k]];
            j.ist[k] = xs[perm[k]];
        } else { /* output axis perm[k] is input axis k */
            j.od[perm[k]] = xd[k];
            j.ist[perm[k]] = xs[k];
        }
    }
    if (perm_staged(ctx, &j, nc, &st)) return st;
    return hal_cluster_fork(nc, perm_worker, &j);
}

et_status et_permute_fwd_f32(const et_ctx *ctx, const float *x, float *y, const size_t dims[4],
                             const unsigned perm[4])
{
    return perm_run(ctx, x, y, dims, perm, 0);
}

et_status et_permute_bwd_f32(const et_ctx *ctx, const float *dy, float *dx, const size_t dims[4],
                             const unsigned perm[4])
{
    return perm_run(ctx, dy, dx, dims, perm, 1);
}

et_status et_transpose_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t rows, size_t cols)
{
    static const unsigned perm[4] = {0, 1, 3, 2};
    size_t dims[4] = {1, 1, rows, cols};
    if (!rows || !cols) return ET_ERR_ARG;
    return perm_run(ctx, x, y, dims, perm, 0);
}
