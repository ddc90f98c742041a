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
    size_t n8 = n & ~(size_t)7;
    for (size_t r = lo; r < hi; ++r) {
        const float *y = j->a + r * n, *dy = j->b + r * n;
        float *dx = j->out + r * n;
        /* the 4 partial sums of a 4-unrolled loop, in the same order, 8 elements per step */
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        const float *py = y, *pd = dy, *e8 = y + n8, *e = y + n;
        for (; py != e8; py += 8, pd += 8) {
            s0 += py[0] * pd[0];
            s1 += py[1] * pd[1];
            s2 += py[2] * pd[2];
            s3 += py[3] * pd[3];
            s0 += py[4] * pd[4];
            s1 += py[5] * pd[5];
            s2 += py[6] * pd[6];
            s3 += py[7] * pd[7];
        }
        if (py + 4 <= e) {
            s0 += py[0] * pd[0];
            s1 += py[1] * pd[1];
            s2 += py[2] * pd[2];
            s3 += py[3] * pd[3];
            py += 4, pd += 4;
        }
        for (; py != e; ++py, ++pd) s0 += py[0] * pd[0];
        float s = (s0 + s1) + (s2 + s3);
        float *q = dx;
        for (py = y, pd = dy; py != e8; py += 8, pd += 8, q += 8) {
            float a = py[0] * (pd[0] - s), b = py[1] * (pd[1] - s);
            float c = py[2] * (pd[2] - s), d = py[3] * (pd[3] - s);
            float f = py[4] * (pd[4] - s), g = py[5] * (pd[5] - s);
            float h = py[6] * (pd[6] - s), k = py[7] * (pd[7] - s);
            q[0] = a, q[1] = b, q[2] = c, q[3] = d, q[4] = f, q[5] = g, q[6] = h, q[7] = k;
        }
        for (; py != e; ++py, ++pd, ++q) *q = py[0] * (pd[0] - s);
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
