/* SPDX-License-Identifier: Apache-2.0 */
/* 2-D transpose and 4-D permute (contiguous writes, strided reads), output rows split over the cores (et_elementwise.h). */
#include "et_elementwise.h"
#include "et_team.h"

typedef struct {
    const float *x;
    float *y;
    size_t od[4];  /* output dims */
    size_t ist[4]; /* input stride (elements) of each output axis */
} perm_job;

static void perm_worker(void *arg)
{
    const perm_job *j = arg;
    size_t lo, hi, n_outer = j->od[0] * j->od[1] * j->od[2], n = j->od[3], s3 = j->ist[3];
    et_team_range(n_outer, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    if (lo >= hi) return;
    size_t i2 = lo % j->od[2], t = lo / j->od[2]; /* once per core, not in the loop */
    size_t i1 = t % j->od[1], i0 = t / j->od[1];
    for (size_t o = lo; o < hi; ++o) {
        const float *x = j->x + i0 * j->ist[0] + i1 * j->ist[1] + i2 * j->ist[2];
        float *y = j->y + o * n;
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            float a = x[0], b = x[s3], c = x[2 * s3], d = x[3 * s3];
            y[i] = a, y[i + 1] = b, y[i + 2] = c, y[i + 3] = d;
            x += 4 * s3;
        }
        for (; i < n; ++i, x += s3) y[i] = *x;
        if (++i2 == j->od[2]) {
            i2 = 0;
            if (++i1 == j->od[1]) i1 = 0, ++i0;
        }
    }
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
