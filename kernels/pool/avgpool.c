/* SPDX-License-Identifier: Apache-2.0 */
/* Average over the middle axis of [outer, len, inner] (global average pooling), forward and
 * backward, outer*inner outputs split over the cores (see et_pool.h). */
#include "et_pool.h"
#include "et_team.h"

typedef struct {
    const float *in;
    float *out;
    size_t outer, len, inner;
    float scale;
} avg_job;

static void avg_fwd_worker(void *arg)
{
    const avg_job *j = arg;
    size_t lo, hi, in = j->inner, len = j->len;
    et_team_range(j->outer * in, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    size_t o = lo / in, i = lo % in; /* once per core */
    for (size_t k = lo; k < hi; ++k) {
        const float *x = j->in + o * len * in + i;
        float s0 = 0.0f, s1 = 0.0f;
        size_t l = 0;
        for (; l + 2 <= len; l += 2) {
            s0 += x[l * in];
            s1 += x[(l + 1) * in];
        }
        if (l < len) s0 += x[l * in];
        j->out[k] = (s0 + s1) * j->scale;
        if (++i == in) i = 0, ++o;
    }
}

static void avg_bwd_worker(void *arg)
{
    const avg_job *j = arg;
    size_t lo, hi, in = j->inner, len = j->len;
    et_team_range(j->outer * len, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    size_t o = lo / len, l = lo % len;
    for (size_t k = lo; k < hi; ++k) {
        const float *dy = j->in + o * in;
        float *dx = j->out + k * in;
        for (size_t i = 0; i < in; ++i) dx[i] = dy[i] * j->scale;
        if (++l == len) l = 0, ++o;
    }
}

static et_status avg_run(const et_ctx *ctx, const float *in, float *out, size_t outer, size_t len,
                         size_t inner, void (*fn)(void *))
{
    if (!ctx || !in || !out || !outer || !len || !inner) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    avg_job j = {in, out, outer, len, inner, 1.0f / (float)len};
    return hal_cluster_fork(nc, fn, &j);
}

et_status et_avgpool_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t outer, size_t len,
                             size_t inner)
{
    return avg_run(ctx, x, y, outer, len, inner, avg_fwd_worker);
}

et_status et_avgpool_bwd_f32(const et_ctx *ctx, const float *dy, float *dx, size_t outer, size_t len,
                             size_t inner)
{
    return avg_run(ctx, dy, dx, outer, len, inner, avg_bwd_worker);
}
