/* SPDX-License-Identifier: Apache-2.0 */
/* Mean squared error forward (per-core partial sums) and backward (et_loss.h). */
#include "et_loss.h"
#include "et_team.h"

typedef struct {
    const float *pred, *target;
    float *dpred;
    size_t n;
    float scale;
    float partial[HAL_CLUSTER_MAX_CORES];
} mse_job;

static void mse_fwd_worker(void *arg)
{
    mse_job *j = arg;
    unsigned id = hal_cluster_core_id();
    size_t lo, hi;
    et_team_range(j->n, id, hal_cluster_num_cores(), &lo, &hi);
    const float *p = j->pred + lo, *t = j->target + lo, *e4 = p + ((hi - lo) & ~(size_t)3);
    const float *e = j->pred + hi;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    while (p != e4) {
        float a = p[0] - t[0], b = p[1] - t[1], c = p[2] - t[2], d = p[3] - t[3];
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += d * d;
        p += 4, t += 4;
    }
    for (; p != e; ++p, ++t) s0 += (*p - *t) * (*p - *t);
    j->partial[id] = (s0 + s1) + (s2 + s3);
}

static void mse_bwd_worker(void *arg)
{
    mse_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *p = j->pred + lo, *t = j->target + lo, *e4 = p + ((hi - lo) & ~(size_t)3);
    const float *e = j->pred + hi;
    float k = j->scale, *d = j->dpred + lo;
    while (p != e4) {
        float a = p[0] - t[0], b = p[1] - t[1], c = p[2] - t[2], f = p[3] - t[3];
        d[0] = a * k, d[1] = b * k, d[2] = c * k, d[3] = f * k;
        p += 4, t += 4, d += 4;
    }
    while (p != e) *d++ = (*p++ - *t++) * k;
}

et_status et_mse_fwd_f32(const et_ctx *ctx, const float *pred, const float *target, float *loss,
                         size_t n)
{
    if (!ctx || !pred || !target || !loss || !n) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    static mse_job j;
    j = (mse_job){pred, target, NULL, n, 0.0f, {0}};
    et_status st = hal_cluster_fork(nc, mse_fwd_worker, &j);
    if (st != ET_OK) return st;
    float s = 0.0f;
    for (unsigned c = 0; c < nc; ++c) s += j.partial[c];
    *loss = s / (float)n;
    return ET_OK;
}

et_status et_mse_bwd_f32(const et_ctx *ctx, const float *pred, const float *target, float dloss,
                         float *dpred, size_t n)
{
    if (!ctx || !pred || !target || !dpred || !n) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    static mse_job j;
    j = (mse_job){pred, target, dpred, n, 2.0f * dloss / (float)n, {0}};
    return hal_cluster_fork(nc, mse_bwd_worker, &j);
}
