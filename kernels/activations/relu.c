/* SPDX-License-Identifier: Apache-2.0 */
/* ReLU forward and backward (see et_activations.h): contiguous element ranges per core. */
#include <stdint.h>

#include "et_activations.h"
#include "et_team.h"

typedef struct {
    const float *x, *dy;
    float *out;
    size_t n;
} relu_job;

/* fmax.s(x, 0) equals `x > 0 ? x : 0` for every input: NaN gives 0 (fmax returns the number),
 * -0 gives +0. 8 per step, one pointer bump. */
static inline float relu_(float x)
{
#if defined(__riscv) && defined(__riscv_flen)
    float r; /* gcc 12 calls libm fmaxf for __builtin_fmaxf here */
    __asm__("fmax.s %0, %1, %2" : "=f"(r) : "f"(x), "f"(0.0f));
    return r;
#else
    return x > 0.0f ? x : 0.0f;
#endif
}

static void relu_fwd_worker(void *arg)
{
    const relu_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x + lo, *e8 = x + ((hi - lo) & ~(size_t)7), *e = j->x + hi;
    float *y = j->out + lo;
    while (x != e8) {
        float a0 = x[0], a1 = x[1], a2 = x[2], a3 = x[3], a4 = x[4], a5 = x[5], a6 = x[6], a7 = x[7];
        y[0] = relu_(a0), y[1] = relu_(a1);
        y[2] = relu_(a2), y[3] = relu_(a3);
        y[4] = relu_(a4), y[5] = relu_(a5);
        y[6] = relu_(a6), y[7] = relu_(a7);
        x += 8, y += 8;
    }
    while (x != e) *y++ = relu_(*x++);
}

/* dx = x > 0 ? dy : 0 without branches: dy's bits ANDed with -(x > 0) (flt.s gives 1 or 0,
 * NaN x gives 0). dx may be dy (each element is read before it is written). */
static inline uint32_t relu_mask_(float x) { return (uint32_t)0 - (uint32_t)(x > 0.0f); }

static void relu_bwd_worker(void *arg)
{
    const relu_job *j = arg;
    size_t lo, hi;
    et_team_range(j->n, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    const float *x = j->x + lo, *e4 = x + ((hi - lo) & ~(size_t)3), *e = j->x + hi;
    const uint32_t *dy = (const uint32_t *)j->dy + lo;
    uint32_t *dx = (uint32_t *)j->out + lo;
    while (x != e4) {
        uint32_t g0 = dy[0], g1 = dy[1], g2 = dy[2], g3 = dy[3];
        uint32_t m0 = relu_mask_(x[0]), m1 = relu_mask_(x[1]), m2 = relu_mask_(x[2]), m3 = relu_mask_(x[3]);
        dx[0] = g0 & m0, dx[1] = g1 & m1, dx[2] = g2 & m2, dx[3] = g3 & m3;
        x += 4, dy += 4, dx += 4;
    }
    while (x != e) *dx++ = *dy++ & relu_mask_(*x++);
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
