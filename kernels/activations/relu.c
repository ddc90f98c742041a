/* SPDX-License-Identifier: Apache-2.0 */
/* ReLU forward and backward (see et_activations.h): contiguous element ranges per core. */
#include "et_activations.h"
#include "et_team.h"

typedef struct {
    const float *x, *dy;
    float *out;
    size_t n;
} relu_job;

static void relu_fwd_worker(void *arg)
{
    const relu_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x;
    float *y = j->out;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        float a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
        y[i] = a > 0.0f ? a : 0.0f;
        y[i + 1] = b > 0.0f ? b : 0.0f;
        y[i + 2] = c > 0.0f ? c : 0.0f;
        y[i + 3] = d > 0.0f ? d : 0.0f;
    }
    for (; i < hi; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_bwd_worker(void *arg)
{
    const relu_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x, *dy = j->dy;
    float *dx = j->out;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        float a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
        float ga = dy[i], gb = dy[i + 1], gc = dy[i + 2], gd = dy[i + 3];
        dx[i] = a > 0.0f ? ga : 0.0f;
        dx[i + 1] = b > 0.0f ? gb : 0.0f;
        dx[i + 2] = c > 0.0f ? gc : 0.0f;
        dx[i + 3] = d > 0.0f ? gd : 0.0f;
    }
    for (; i < hi; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

et_status et_relu_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t n)
{
    if (!ctx || !x || !y || n == 0) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    relu_job j = {x, NULL, y, n};
    return hal_cluster_fork(nc, relu_fwd_worker, &j);
}

et_status et_relu_bwd_f32(const et_ctx *ctx, const float *x, const float *dy, float *dx, size_t n)
{
    if (!ctx || !x || !dy || !dx || n == 0) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    relu_job j = {x, dy, dx, n};
    return hal_cluster_fork(nc, relu_bwd_worker, &j);
}
