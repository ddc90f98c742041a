/* SPDX-License-Identifier: Apache-2.0 */
/* Elementwise add and mul forward with broadcasting; rows split over the cores (et_elementwise.h). */
#include "et_elementwise.h"
#include "et_team.h"

typedef struct {
    const float *a, *b;
    float *y;
    size_t rows, cols;
    et_bcast mode;
    int mul;
} bin_job;

static void bin_worker(void *arg)
{
    const bin_job *j = arg;
    size_t lo, hi, n = j->cols;
    et_team_range(j->rows, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t r = lo; r < hi; ++r) {
        const float *a = j->a + r * n;
        float *y = j->y + r * n;
        if (j->mode == ET_BCAST_NONE || j->mode == ET_BCAST_ROW) {
            const float *b = j->mode == ET_BCAST_NONE ? j->b + r * n : j->b;
            size_t i = 0;
            if (j->mul) {
                for (; i + 4 <= n; i += 4) {
                    float y0 = a[i] * b[i], y1 = a[i + 1] * b[i + 1];
                    float y2 = a[i + 2] * b[i + 2], y3 = a[i + 3] * b[i + 3];
                    y[i] = y0, y[i + 1] = y1, y[i + 2] = y2, y[i + 3] = y3;
                }
                for (; i < n; ++i) y[i] = a[i] * b[i];
            } else {
                for (; i + 4 <= n; i += 4) {
                    float y0 = a[i] + b[i], y1 = a[i + 1] + b[i + 1];
                    float y2 = a[i + 2] + b[i + 2], y3 = a[i + 3] + b[i + 3];
                    y[i] = y0, y[i + 1] = y1, y[i + 2] = y2, y[i + 3] = y3;
                }
                for (; i < n; ++i) y[i] = a[i] + b[i];
            }
        } else {
            float s = j->mode == ET_BCAST_COL ? j->b[r] : j->b[0];
            if (j->mul)
                for (size_t i = 0; i < n; ++i) y[i] = a[i] * s;
            else
                for (size_t i = 0; i < n; ++i) y[i] = a[i] + s;
        }
    }
}

static et_status bin_run(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols, int mul)
{
    if (!ctx || !a || !b || !y || !rows || !cols || (unsigned)mode > (unsigned)ET_BCAST_SCALAR)
        return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    bin_job j = {a, b, y, rows, cols, mode, mul};
    return hal_cluster_fork(nc, bin_worker, &j);
}

et_status et_add_fwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols)
{
    return bin_run(ctx, mode, a, b, y, rows, cols, 0);
}

et_status et_mul_fwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols)
{
    return bin_run(ctx, mode, a, b, y, rows, cols, 1);
}
