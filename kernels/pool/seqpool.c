/* SPDX-License-Identifier: Apache-2.0 */
/* CCT sequence pooling (softmax over token scores, weighted token sum), forward and backward
 * (see et_pool.h). Phase 1 works per batch row or per token, phase 2 per feature range. */
#include "et_pool.h"
#include "et_softmax.h"
#include "et_team.h"

typedef struct {
    const float *x, *s, *w, *dy;
    float *wout, *y, *dx, *ds;
    size_t b, t, d;
} sp_job;

static void sp_fwd_worker(void *arg)
{
    const sp_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    size_t lo, hi, T = j->t, D = j->d;
    et_team_range(j->b, id, nc, &lo, &hi);
    for (size_t b = lo; b < hi; ++b) et_softmax_row_f32(j->s + b * T, j->wout + b * T, T);
    hal_cluster_barrier();
    et_team_range(j->b * D, id, nc, &lo, &hi); /* (batch, feature) outputs, tokens summed in order */
    size_t b = lo / D, i = lo % D;
    while (lo < hi) {
        size_t end = (hi - lo < D - i) ? i + (hi - lo) : D; /* run of features in batch row b */
        const float *w = j->wout + b * T;
        float *y = j->y + b * D;
        for (size_t k = i; k < end; ++k) y[k] = 0.0f;
        for (size_t t = 0; t < T; ++t) {
            const float *x = j->x + (b * T + t) * D;
            float wt = w[t];
            for (size_t k = i; k < end; ++k) y[k] += wt * x[k];
        }
        lo += end - i;
        i = 0;
        ++b;
    }
}

static void sp_bwd_worker(void *arg)
{
    const sp_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    size_t lo, hi, T = j->t, D = j->d;
    et_team_range(j->b * T, id, nc, &lo, &hi); /* one token row each */
    for (size_t r = lo; r < hi; ++r) {
        size_t b = r / T; /* per token row, not per element */
        const float *x = j->x + r * D, *dy = j->dy + b * D;
        float *dx = j->dx + r * D;
        float wt = j->w[r], g0 = 0.0f, g1 = 0.0f;
        size_t k = 0;
        for (; k + 2 <= D; k += 2) {
            g0 += dy[k] * x[k];
            g1 += dy[k + 1] * x[k + 1];
            dx[k] = wt * dy[k];
            dx[k + 1] = wt * dy[k + 1];
        }
        if (k < D) {
            g0 += dy[k] * x[k];
            dx[k] = wt * dy[k];
        }
        j->ds[r] = g0 + g1; /* g, turned into ds below */
    }
    hal_cluster_barrier();
    et_team_range(j->b, id, nc, &lo, &hi);
    for (size_t b = lo; b < hi; ++b) {
        const float *w = j->w + b * T;
        float *g = j->ds + b * T, s = 0.0f;
        for (size_t t = 0; t < T; ++t) s += w[t] * g[t];
        for (size_t t = 0; t < T; ++t) g[t] = w[t] * (g[t] - s);
    }
}

et_status et_seqpool_fwd_f32(const et_ctx *ctx, const float *x, const float *s, float *w, float *y,
                             size_t batch, size_t tokens, size_t dim)
{
    if (!ctx || !x || !s || !w || !y || !batch || !tokens || !dim) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    sp_job j = {x, s, NULL, NULL, w, y, NULL, NULL, batch, tokens, dim};
    return hal_cluster_fork(nc, sp_fwd_worker, &j);
}

et_status et_seqpool_bwd_f32(const et_ctx *ctx, const float *x, const float *w, const float *dy,
                             float *dx, float *ds, size_t batch, size_t tokens, size_t dim)
{
    if (!ctx || !x || !w || !dy || !dx || !ds || !batch || !tokens || !dim) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    sp_job j = {x, NULL, w, dy, NULL, NULL, dx, ds, batch, tokens, dim};
    return hal_cluster_fork(nc, sp_bwd_worker, &j);
}
