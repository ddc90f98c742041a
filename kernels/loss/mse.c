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
    const float *p = j->pred, *t = j->target;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        float a = p[i] - t[i], b = p[i + 1] - t[i + 1], c = p[i + 2] - t[i + 2], d = p[i + 3] - t[i + 3];
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += d * d;
    }
    for (; i < hi; ++i) s0 += (p[i] - t[i]) * (p[i] - t[i]);
    j->partial[id] = (s0 + s1) + (s2 + s3);
}

static void mse_bwd_worker(void *arg)
{
    mse_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *p = j->pred, *t = j->target;
    float k = j->scale;
    for (size_t i = lo; i < hi; ++i) j->dpred[i] = (p[i] - t[i]) * k;
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
