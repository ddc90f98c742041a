/* SPDX-License-Identifier: Apache-2.0 */
/* LayerNorm backward: dx by rows, then dgamma/dbeta by column ranges (see et_layernorm.h). */
#include "et_layernorm.h"
#include "et_team.h"

typedef struct {
    const float *x, *gamma, *mean, *rstd, *dy;
    float *dx, *dgamma, *dbeta;
    size_t rows, dim;
} ln_bwd_job;

/* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma. */
static void ln_bwd_rows(const ln_bwd_job *j, size_t lo, size_t hi)
{
    size_t n = j->dim;
    float inv_n = 1.0f / (float)n;
    const float *gm = j->gamma;
    for (size_t r = lo; r < hi; ++r) {
        const float *x = j->x + r * n, *dy = j->dy + r * n;
        float *dx = j->dx + r * n;
        float mu = j->mean[r], rs = j->rstd[r];
        float sg0 = 0.0f, sg1 = 0.0f, sgx0 = 0.0f, sgx1 = 0.0f;
        size_t i = 0;
        for (; i + 2 <= n; i += 2) {
            float g0 = gm ? dy[i] * gm[i] : dy[i], g1 = gm ? dy[i + 1] * gm[i + 1] : dy[i + 1];
            sg0 += g0;
            sg1 += g1;
            sgx0 += g0 * (x[i] - mu);
            sgx1 += g1 * (x[i + 1] - mu);
        }
        for (; i < n; ++i) {
            float g0 = gm ? dy[i] * gm[i] : dy[i];
            sg0 += g0;
            sgx0 += g0 * (x[i] - mu);
        }
        float mg = (sg0 + sg1) * inv_n;
        float mgx = (sgx0 + sgx1) * inv_n * rs; /* mean(g * xhat) */
        float c = rs * mgx;                    /* xhat * mgx = (x - mu) * c */
        for (i = 0; i < n; ++i) {
            float g = gm ? dy[i] * gm[i] : dy[i];
            dx[i] = rs * (g - mg - (x[i] - mu) * c);
        }
    }
}

static void ln_bwd_worker(void *arg)
{
    const ln_bwd_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    size_t lo, hi, n = j->dim;
    et_team_range(j->rows, id, nc, &lo, &hi);
    ln_bwd_rows(j, lo, hi);
    if (!j->dgamma && !j->dbeta) return;
    et_team_range(n, id, nc, &lo, &hi);
    for (size_t i = lo; i < hi; ++i) { /* each core owns columns lo..hi of dgamma/dbeta */
        float sg = 0.0f, sb = 0.0f;
        for (size_t r = 0; r < j->rows; ++r) {
            float d = j->dy[r * n + i];
            sb += d;
            sg += d * (j->x[r * n + i] - j->mean[r]) * j->rstd[r];
        }
        if (j->dgamma) j->dgamma[i] = sg;
        if (j->dbeta) j->dbeta[i] = sb;
    }
}

et_status et_layernorm_bwd_f32(const et_ctx *ctx, const float *x, const float *gamma,
                               const float *mean, const float *rstd, const float *dy, float *dx,
                               float *dgamma, float *dbeta, size_t rows, size_t dim)
{
    if (!ctx || !x || !mean || !rstd || !dy || !dx || !rows || !dim) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    ln_bwd_job j = {x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, dim};
    return hal_cluster_fork(nc, ln_bwd_worker, &j);
}
