/* SPDX-License-Identifier: Apache-2.0 */
/* Block copy between row pitches, rows split over the cores (see et_shape.h). */
#include "et_memops.h"
#include "et_shape.h"
#include "et_team.h"

typedef struct {
    const et_block_args *a;
    const float *src;
    float *dst;
} bc_job;

static void zero_worker(void *arg)
{
    const bc_job *j = arg;
    size_t lo, hi;
    et_team_range(j->a->dst_zero, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    if (hi > lo) et_zero_f32(j->dst + lo, hi - lo);
}

static void copy_worker(void *arg)
{
    const bc_job *j = arg;
    const et_block_args *a = j->a;
    size_t lo, hi;
    et_team_range(a->rows, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *s = j->src + a->src_off;
    float *d = j->dst + a->dst_off;
    for (size_t r = lo; r < hi; ++r) et_copy_f32(d + r * a->dst_ld, s + r * a->src_ld, a->cols);
}

et_status et_block_copy_f32(const et_ctx *ctx, const et_block_args *a, const float *src,
                            float *dst)
{
    if (!ctx || !a || !src || !dst || !a->rows || !a->cols || a->src_ld < a->cols ||
        a->dst_ld < a->cols)
        return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    bc_job j = {a, src, dst};
    if (a->dst_zero) {
        et_status st = hal_cluster_fork(nc, zero_worker, &j);
        if (st != ET_OK) return st;
    }
    return hal_cluster_fork(nc, copy_worker, &j);
}
