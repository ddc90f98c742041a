/* SPDX-License-Identifier: Apache-2.0 */
/* Softmax cross-entropy with integer labels: loss (per-core partials) and dlogits (et_loss.h). */
#include <math.h>

#include "et_fastmath.h"
#include "et_loss.h"
#include "et_team.h"

typedef struct {
    const float *logits;
    const int32_t *labels;
    float *out; /* loss (fwd) or dlogits (bwd) */
    size_t batch, classes;
    float scale; /* bwd: dloss / batch */
    float partial[HAL_CLUSTER_MAX_CORES];
} xent_job;

/* max of one row, then sum of exp(x - max); the exps are stored to e when it is not NULL */
static void row_lse(const float *x, size_t n, float *e, float *m_out, float *s_out)
{
    float m = x[0];
    for (size_t i = 1; i < n; ++i) m = et_fmax_nonnan_(m, x[i]);
    float s0 = 0.0f, s1 = 0.0f;
    size_t i = 0;
    if (e) {
        for (; i + 2 <= n; i += 2) {
            float e0 = et_fast_expf_nonpos_(x[i] - m), e1 = et_fast_expf_nonpos_(x[i + 1] - m);
            e[i] = e0, e[i + 1] = e1;
            s0 += e0;
            s1 += e1;
        }
        if (i < n) s0 += e[i] = et_fast_expf_nonpos_(x[i] - m);
    } else {
        for (; i + 2 <= n; i += 2) {
            s0 += et_fast_expf_nonpos_(x[i] - m);
            s1 += et_fast_expf_nonpos_(x[i + 1] - m);
        }
        if (i < n) s0 += et_fast_expf_nonpos_(x[i] - m);
    }
    *m_out = m;
    *s_out = s0 + s1;
}

static void xent_fwd_worker(void *arg)
{
    xent_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    size_t lo, hi, n = j->classes;
    et_team_range(j->batch, id, nc, &lo, &hi);
    float acc = 0.0f;
    for (size_t r = lo; r < hi; ++r) {
        const float *x = j->logits + r * n;
        float m, s;
        row_lse(x, n, NULL, &m, &s);
        acc += m + logf(s) - x[j->labels[r]]; /* one log per row, outside the element loops */
    }
    j->partial[id] = acc;
}

static void xent_bwd_worker(void *arg)
{
    xent_job *j = arg;
    size_t lo, hi, n = j->classes;
    et_team_range(j->batch, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t r = lo; r < hi; ++r) {
        const float *x = j->logits + r * n;
        float *d = j->out + r * n;
        float m, s;
        row_lse(x, n, d, &m, &s); /* d = exp(x - max), then scaled in place */
        float k = j->scale / s; /* once per row */
        size_t lab = (size_t)j->labels[r];
        for (size_t i = 0; i < n; ++i) d[i] *= k;
        d[lab] -= j->scale;
    }
}

static et_status xent_check(const et_ctx *ctx, const float *logits, const int32_t *labels,
                            const float *out, size_t batch, size_t classes, unsigned *nc)
{
    if (!ctx || !logits || !labels || !out || !batch || !classes) return ET_ERR_ARG;
    for (size_t r = 0; r < batch; ++r)
        if (labels[r] < 0 || (size_t)labels[r] >= classes) return ET_ERR_ARG;
    *nc = et_team_cores(ctx);
    return *nc ? ET_OK : ET_ERR_ARG;
}

et_status et_softmax_xent_fwd_f32(const et_ctx *ctx, const float *logits, const int32_t *labels,
                                  float *loss, size_t batch, size_t classes)
{
    unsigned nc;
    if (xent_check(ctx, logits, labels, loss, batch, classes, &nc) != ET_OK) return ET_ERR_ARG;
    static xent_job j;
    j = (xent_job){logits, labels, loss, batch, classes, 0.0f, {0}};
    et_status st = hal_cluster_fork(nc, xent_fwd_worker, &j);
    if (st != ET_OK) return st;
    float s = 0.0f;
    for (unsigned c = 0; c < nc; ++c) s += j.partial[c];
    *loss = s / (float)batch;
    return ET_OK;
}

et_status et_softmax_xent_bwd_f32(const et_ctx *ctx, const float *logits, const int32_t *labels,
                                  float dloss, float *dlogits, size_t batch, size_t classes)
{
    unsigned nc;
    if (xent_check(ctx, logits, labels, dlogits, batch, classes, &nc) != ET_OK) return ET_ERR_ARG;
    static xent_job j;
    j = (xent_job){logits, labels, dlogits, batch, classes, dloss / (float)batch, {0}};
    return hal_cluster_fork(nc, xent_bwd_worker, &j);
}
