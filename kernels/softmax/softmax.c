/* SPDX-License-Identifier: Apache-2.0 */
/* Softmax over the last axis, forward and backward, rows split over the cores (see et_softmax.h). */
#include "et_softmax.h"
#include "et_team.h"

typedef struct {
    const float *a, *b;
    float *out;
    size_t rows, cols;
} sm_job;

static void sm_fwd_worker(void *arg)
{
    const sm_job *j = arg;
    size_t lo, hi;
    et_team_range(j->rows, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t r = lo; r < hi; ++r) et_softmax_row_f32(j->a + r * j->cols, j->out + r * j->cols, j->cols);
}

static void sm_bwd_worker(void *arg)
{
    const sm_job *j = arg;
    size_t lo, hi, n = j->cols;
    et_team_range(j->rows, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t r = lo; r < hi; ++r) {
        const float *y = j->a + r * n, *dy = j->b + r * n;
        float *dx = j->out + r * n;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            s0 += y[i] * dy[i];
            s1 += y[i + 1] * dy[i + 1];
            s2 += y[i + 2] * dy[i + 2];
            s3 += y[i + 3] * dy[i + 3];
        }
        for (; i < n; ++i) s0 += y[i] * dy[i];
        float s = (s0 + s1) + (s2 + s3);
        for (i = 0; i + 2 <= n; i += 2) {
            float a = y[i] * (dy[i] - s), b = y[i + 1] * (dy[i + 1] - s);
            dx[i] = a;
            dx[i + 1] = b;
        }
        for (; i < n; ++i) dx[i] = y[i] * (dy[i] - s);
    }
}

et_status et_softmax_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t rows, size_t cols)
{
    if (!ctx || !x || !y || !rows || !cols) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    sm_job j = {x, NULL, y, rows, cols};
    return hal_cluster_fork(nc, sm_fwd_worker, &j);
}

et_status et_softmax_bwd_f32(const et_ctx *ctx, const float *y, const float *dy, float *dx,
                             size_t rows, size_t cols)
{
    if (!ctx || !y || !dy || !dx || !rows || !cols) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    sm_job j = {y, dy, dx, rows, cols};
    return hal_cluster_fork(nc, sm_bwd_worker, &j);
}
