/* SPDX-License-Identifier: Apache-2.0 */
/* GELU forward and backward, exact (erf) and tanh-approximate (see et_activations.h), using
 * the division-free approximations of et_fastmath.h. */
#include "et_activations.h"
#include "et_fastmath.h"
#include "et_team.h"

#define INV_SQRT2 0.707106781f
#define INV_SQRT_2PI 0.398942280f
#define SQRT_2_OVER_PI 0.797884561f
#define GELU_C 0.044715f

typedef struct {
    const float *x, *dy;
    float *out;
    size_t n;
    et_gelu_mode mode;
} gelu_job;

/* |v| and copysign in one instruction each (fabs.s / fsgnj.s on RISC-V). */
static inline float g_abs(float v) { return __builtin_fabsf(v); }
static inline float g_sign(float r, float v) { return __builtin_copysignf(r, v); }

/* et_fast_erff / et_fast_tanhf with the same arithmetic, minus the NaN test (a NaN runs into
 * the exp branch and comes out NaN) and with branch-free |x| and sign. For every non-NaN input
 * the GELU results are bit-identical: the only difference is the sign of erf/tanh at x = +-0,
 * which GELU only ever adds to 1. */
static inline float g_erf(float x) { return g_sign(et_fast_erff_abs_(g_abs(x)), x); }

static inline float g_tanh(float x) { return g_sign(et_fast_tanhf_abs_(g_abs(x)), x); }

static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + g_erf(x * INV_SQRT2)); }

static inline float gelu_tanh(float x)
{
    float u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
    return 0.5f * x * (1.0f + g_tanh(u));
}

static inline float dgelu_erf(float x)
{
    float cdf = 0.5f * (1.0f + g_erf(x * INV_SQRT2));
    float v = -0.5f * x * x; /* <= 0 or NaN; NaN gives a NaN result either way */
    float e = et_fast_expf_nonpos_(v);
    return cdf + x * INV_SQRT_2PI * e;
}

static inline float dgelu_tanh(float x)
{
    float x2 = x * x;
    float t = g_tanh(SQRT_2_OVER_PI * (x + GELU_C * x2 * x));
    float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x2);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

static void gelu_fwd_worker(void *arg)
{
    const gelu_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x;
    float *y = j->out;
    if (j->mode == ET_GELU_ERF)
        for (size_t i = lo; i < hi; ++i) y[i] = gelu_erf(x[i]);
    else
        for (size_t i = lo; i < hi; ++i) y[i] = gelu_tanh(x[i]);
}

static void gelu_bwd_worker(void *arg)
{
    const gelu_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x, *dy = j->dy;
    float *dx = j->out;
    if (j->mode == ET_GELU_ERF)
        for (size_t i = lo; i < hi; ++i) dx[i] = dy[i] * dgelu_erf(x[i]);
    else
        for (size_t i = lo; i < hi; ++i) dx[i] = dy[i] * dgelu_tanh(x[i]);
}

et_status et_gelu_fwd_f32(const et_ctx *ctx, et_gelu_mode mode, const float *x, float *y, size_t n)
{
    if (!ctx || !x || !y || n == 0 || (mode != ET_GELU_ERF && mode != ET_GELU_TANH)) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    gelu_job j = {x, NULL, y, n, mode};
    return hal_cluster_fork(nc, gelu_fwd_worker, &j);
}

et_status et_gelu_bwd_f32(const et_ctx *ctx, et_gelu_mode mode, const float *x, const float *dy,
                          float *dx, size_t n)
{
    if (!ctx || !x || !dy || !dx || n == 0 || (mode != ET_GELU_ERF && mode != ET_GELU_TANH))
        return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    gelu_job j = {x, dy, dx, n, mode};
    return hal_cluster_fork(nc, gelu_bwd_worker, &j);
}
