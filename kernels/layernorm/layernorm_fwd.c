/* SPDX-License-Identifier: Apache-2.0 */
/* LayerNorm forward over the last axis, rows split over the cores (see et_layernorm.h). */
#include <math.h>

#include "et_layernorm.h"
#include "et_team.h"

typedef struct {
    const float *x, *gamma, *beta;
    float *y, *mean, *rstd;
    size_t rows, dim;
    float eps;
} ln_fwd_job;

static void ln_fwd_worker(void *arg)
{
    const ln_fwd_job *j = arg;
    size_t lo, hi, n = j->dim;
    et_team_range(j->rows, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    float inv_n = 1.0f / (float)n;
    for (size_t r = lo; r < hi; ++r) {
        const float *x = j->x + r * n;
        float *y = j->y + r * n;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        for (; i < n; ++i) s0 += x[i];
        float mu = ((s0 + s1) + (s2 + s3)) * inv_n;
        s0 = s1 = s2 = s3 = 0.0f;
        for (i = 0; i + 4 <= n; i += 4) {
            float a = x[i] - mu, b = x[i + 1] - mu, c = x[i + 2] - mu, d = x[i + 3] - mu;
            s0 += a * a;
            s1 += b * b;
            s2 += c * c;
            s3 += d * d;
        }
        for (; i < n; ++i) s0 += (x[i] - mu) * (x[i] - mu);
        float var = ((s0 + s1) + (s2 + s3)) * inv_n;
        float rs = 1.0f / sqrtf(var + j->eps); /* once per row */
        j->mean[r] = mu;
        j->rstd[r] = rs;
        const float *g = j->gamma, *b = j->beta;
        if (g && b)
            for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs * g[i] + b[i];
        else if (g)
            for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs * g[i];
        else if (b)
            for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs + b[i];
        else
            for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs;
    }
}

et_status et_layernorm_fwd_f32(const et_ctx *ctx, const float *x, const float *gamma,
                               const float *beta, float *y, float *mean, float *rstd, size_t rows,
                               size_t dim, float eps)
{
    if (!ctx || !x || !y || !mean || !rstd || !rows || !dim || !(eps >= 0.0f)) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    ln_fwd_job j = {x, gamma, beta, y, mean, rstd, rows, dim, eps};
    return hal_cluster_fork(nc, ln_fwd_worker, &j);
}
