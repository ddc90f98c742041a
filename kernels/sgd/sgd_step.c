/* SPDX-License-Identifier: Apache-2.0 */
/* SGD step with momentum, Nesterov and weight decay, element ranges per core, optionally zeroing
 * the (accumulated) gradient after use (see et_sgd.h). */
#include "et_sgd.h"
#include "et_team.h"

typedef struct {
    et_sgd_args a;
    float *p, *v;
    const float *g;
    float *zero; /* the gradient again, zeroed after the update (or NULL) */
    size_t n;
} sgd_job;

static void sgd_worker(void *arg)
{
    const sgd_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    float *p = j->p, *v = j->v;
    const float *g = j->g;
    float lr = j->a.lr, mu = j->a.momentum, wd = j->a.weight_decay;
    if (mu == 0.0f) {
        for (size_t i = lo; i < hi; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (!j->a.nesterov) { /* 4 per step, pointers bumped once per step */
        float *pp = p + lo, *vp = v + lo, *pe4 = pp + ((hi - lo) & ~(size_t)3), *pe = p + hi;
        const float *gp = g + lo;
        while (pp != pe4) {
            float p0 = pp[0], p1 = pp[1], p2 = pp[2], p3 = pp[3];
            float v0 = mu * vp[0] + (gp[0] + wd * p0), v1 = mu * vp[1] + (gp[1] + wd * p1);
            float v2 = mu * vp[2] + (gp[2] + wd * p2), v3 = mu * vp[3] + (gp[3] + wd * p3);
            vp[0] = v0, vp[1] = v1, vp[2] = v2, vp[3] = v3;
            pp[0] = p0 - lr * v0, pp[1] = p1 - lr * v1, pp[2] = p2 - lr * v2, pp[3] = p3 - lr * v3;
            pp += 4, vp += 4, gp += 4;
        }
        for (; pp != pe; ++pp, ++vp, ++gp) {
            float vi = mu * *vp + (*gp + wd * *pp);
            *vp = vi;
            *pp -= lr * vi;
        }
    } else {
        for (size_t i = lo; i < hi; ++i) {
            float d = g[i] + wd * p[i];
            float vi = mu * v[i] + d;
            v[i] = vi;
            p[i] -= lr * (d + mu * vi);
        }
    }
    if (j->zero)
        for (size_t i = lo; i < hi; ++i) j->zero[i] = 0.0f;
}

static et_status sgd_run(const et_ctx *ctx, const et_sgd_args *args, float *p, const float *g,
                         float *zero, float *v, size_t n)
{
    if (!ctx || !args || !p || !g || !n) return ET_ERR_ARG;
    if (!(args->lr > 0.0f) || !(args->momentum >= 0.0f) || !(args->weight_decay >= 0.0f))
        return ET_ERR_ARG;
    if (args->momentum > 0.0f && !v) return ET_ERR_ARG;
    if (args->nesterov && args->momentum == 0.0f) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    sgd_job j = {*args, p, v, g, zero, n};
    return hal_cluster_fork(nc, sgd_worker, &j);
}

et_status et_sgd_step_f32(const et_ctx *ctx, const et_sgd_args *args, float *p, const float *g,
                          float *v, size_t n)
{
    return sgd_run(ctx, args, p, g, NULL, v, n);
}

et_status et_sgd_step_zero_grad_f32(const et_ctx *ctx, const et_sgd_args *args, float *p,
                                    float *g, float *v, size_t n)
{
    return sgd_run(ctx, args, p, g, g, v, n);
}
