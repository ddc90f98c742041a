/* SPDX-License-Identifier: Apache-2.0 */
/* Array evaluation of the et_fastmath.h approximations, so tests can measure their error. */
#include "et_fastmath.h"
#include "et_team.h"

typedef struct {
    const float *x;
    float *y;
    size_t n;
    et_fastmath_fn fn;
} fm_job;

static void fm_worker(void *arg)
{
    const fm_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x;
    float *y = j->y;
    switch (j->fn) {
    case ET_FM_EXP:
        for (size_t i = lo; i < hi; ++i) y[i] = et_fast_expf(x[i]);
        break;
    case ET_FM_ERF:
        for (size_t i = lo; i < hi; ++i) y[i] = et_fast_erff(x[i]);
        break;
    case ET_FM_TANH:
        for (size_t i = lo; i < hi; ++i) y[i] = et_fast_tanhf(x[i]);
        break;
    default:
        for (size_t i = lo; i < hi; ++i) y[i] = et_fast_recipf(x[i]);
        break;
    }
}

et_status et_fastmath_eval_f32(const et_ctx *ctx, et_fastmath_fn fn, const float *x, float *y,
                               size_t n)
{
    if (!ctx || !x || !y || n == 0 || (unsigned)fn > (unsigned)ET_FM_RECIP) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    fm_job j = {x, y, n, fn};
    return hal_cluster_fork(nc, fm_worker, &j);
}
