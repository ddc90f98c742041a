/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_fastmath.h
 *  @brief Division-free, libm-free fp32 exp, erf, tanh and reciprocal for kernel inner loops.
 *
 *  All functions are `static inline` so that kernels (softmax, GELU, losses, layernorm)
 *  inline them into their loops; they use only fadd/fmul/fmadd, comparisons and integer bit
 *  manipulation (no fdiv, no calls). Coefficients are this project's own least-squares fits
 *  on Chebyshev nodes in double precision (see the comments at each polynomial).
 *
 *  Measured maximum errors against double-precision references (Python math.exp/erf/tanh),
 *  on dense grids of 2^20 points per function plus special values
 *  (tests/kernels/test_activations.py, test_fastmath_* cases):
 *  - et_fast_expf(x):  relative error <= 2.5e-7 (about 2 ulp) for x in [-87.3, 88.7];
 *                      returns 0 for x < -87.33 (true value < 1.2e-38), +inf for x > 88.72.
 *  - et_fast_erff(x):  absolute error <= 2.5e-7, relative error <= 3e-7 for all finite x.
 *  - et_fast_tanhf(x): absolute error <= 2.5e-7, relative error <= 3e-7 for all finite x.
 *  - et_fast_recipf(d): relative error <= 1.5e-7 for d in [1e-36, 1e36] (4 Newton steps).
 *  The test file asserts these bounds; the exact measured numbers are in its report.
 *  NaN inputs give NaN (exp, erf, tanh).
 */
#ifndef ET_FASTMATH_H
#define ET_FASTMATH_H

#include <stddef.h>
#include <stdint.h>

#include "et_ctx.h"
#include "et_status.h"

/** Function selector of et_fastmath_eval_f32(). */
typedef enum { ET_FM_EXP = 0, ET_FM_ERF = 1, ET_FM_TANH = 2, ET_FM_RECIP = 3 } et_fastmath_fn;

/**
 * @brief Evaluate one approximation on an array (for accuracy tests and benchmarks).
 * @param[in]  ctx execution context (ncores; elements are split in ranges over the cores)
 * @param[in]  fn  which function
 * @param[in]  x   arguments, fp32 [n]
 * @param[out] y   results, fp32 [n]
 * @param[in]  n   number of elements (> 0)
 * @return ET_OK, or ET_ERR_ARG (NULL pointer, n == 0, unknown fn, bad ncores).
 */
et_status et_fastmath_eval_f32(const et_ctx *ctx, et_fastmath_fn fn, const float *x, float *y,
                               size_t n);

static inline uint32_t et_f2u_(float f)
{
    union { float f; uint32_t u; } v = {.f = f};
    return v.u;
}

static inline float et_u2f_(uint32_t u)
{
    union { uint32_t u; float f; } v = {.u = u};
    return v.f;
}

/** @brief e^x in fp32 (range reduction x = k ln2 + r, |r| <= ln2/2, degree-6 polynomial). */
static inline float et_fast_expf(float x)
{
    if (!(x == x)) return x;
    if (x > 88.72283f) return et_u2f_(0x7f800000u);
    if (x < -87.33654f) return 0.0f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504f + magic;
    int32_t k = (int32_t)(et_f2u_(t) - et_f2u_(magic));
    float kf = t - magic;
    float r = x - kf * 0.693145752f; /* ln2 split in a high part (exact product) ... */
    r = r - kf * 1.42860677e-06f;     /* ... and a low part (Cody-Waite) */
    /* e^r = 1 + r + r^2 q(r), q fitted on [-ln2/2, ln2/2] */
    float q = 0.00139336414f;
    q = q * r + 0.00836317557f;
    q = q * r + 0.041666465f;
    q = q * r + 0.16666577f;
    q = q * r + 0.500000001f;
    float p = (r * r) * q + r + 1.0f;
    int32_t k1 = k >> 1, k2 = k - k1; /* two scalings keep 2^k normal for k in [-126, 128] */
    return p * et_u2f_((uint32_t)(k1 + 127) << 23) * et_u2f_((uint32_t)(k2 + 127) << 23);
}

/** @brief et_fast_expf() without its NaN and range checks, for arguments known to be in
 *  [-87.33654, 88.3] (internal: used by erf, tanh and kernels that bound their argument).
 *  Same arithmetic; 2^k is applied in one multiply, which is exact there (k + 127 in
 *  [1, 254]), so the result is bit-identical to et_fast_expf(x) on that domain. */
static inline float et_fast_expf_inrange_(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504f + magic;
    /* (k + 127) << 23 with k = bits(t) - bits(magic), in two integer operations */
    uint32_t kb = (et_f2u_(t) << 23) + ((127u - 0x4b400000u) << 23);
    float kf = t - magic;
    float r = x - kf * 0.693145752f;
    r = r - kf * 1.42860677e-06f;
    float q = 0.00139336414f;
    q = q * r + 0.00836317557f;
    q = q * r + 0.041666465f;
    q = q * r + 0.16666577f;
    q = q * r + 0.500000001f;
    float p = (r * r) * q + r + 1.0f;
    return p * et_u2f_(kb);
}

/* max(a, b) for a non-NaN b: fmax.s on RISC-V (gcc 12 turns fmaxf into a libm call), C on the
 * host. A NaN a gives b here; callers whose rows then sum exp() still end in NaN. */
static inline float et_fmax_nonnan_(float a, float b)
{
#if defined(__riscv)
    float r;
    __asm__("fmax.s %0, %1, %2" : "=f"(r) : "f"(a), "f"(b));
    return r;
#else
    return b > a ? b : a;
#endif
}

/* et_fast_expf(x) for x <= 0 (or NaN), bit-identical there: no overflow branch (x = v - max). */
static inline float et_fast_expf_nonpos_(float x)
{
    return x < -87.33654f ? 0.0f : et_fast_expf_inrange_(x);
}

/** @brief 1/d in fp32 without fdiv: magic-constant seed and 4 Newton steps. d > 0 finite. */
static inline float et_fast_recipf(float d)
{
    float y = et_u2f_(0x7ef311c7u - et_f2u_(d));
    float e = 1.0f - d * y;
    y = y + y * e;
    e = 1.0f - d * y;
    y = y + y * e;
    e = 1.0f - d * y;
    y = y + y * e;
    e = 1.0f - d * y;
    return y + y * e;
}

/* erf(a) for a = |x| >= 0 (not NaN): odd polynomial below 1, 1 - exp(Q(a)) above (Q fits log erfc). */
static inline float et_fast_erff_abs_(float a)
{
    if (a < 1.0f) {
        float z = a * a; /* erf(a)/a = P(a^2), fitted on [0, 1] */
        float p = 7.93348598e-05f;
        p = p * z - 0.000803484398f;
        p = p * z + 0.00519121803f;
        p = p * z - 0.0268553992f;
        p = p * z + 0.112836257f;
        p = p * z - 0.376126299f;
        p = p * z + 1.12837917f;
        return a * p;
    }
    if (a > 4.0f) a = 4.0f; /* erf(4) rounds to 1 in fp32 */
    float t = a - 2.5f;     /* log(erfc(a)) = Q(a - 2.5), fitted on [1, 4] */
    float q = 1.61406164e-06f;
    q = q * t - 1.33093904e-05f;
    q = q * t + 7.73944254e-05f;
    q = q * t - 0.000420144568f;
    q = q * t + 0.00216516031f;
    q = q * t - 0.010858517f;
    q = q * t - 0.94389364f;
    q = q * t - 5.35268068f;
    q = q * t - 7.80681528f;
    return 1.0f - et_fast_expf_inrange_(q); /* q = log erfc(a) in [-16.9, -1.8] */
}

/** @brief erf(x) in fp32: odd polynomial for |x| < 1, 1 - exp(Q(|x|)) for 1 <= |x| (Q fits log erfc). */
static inline float et_fast_erff(float x)
{
    if (!(x == x)) return x;
    float r = et_fast_erff_abs_(x < 0.0f ? -x : x);
    return x < 0.0f ? -r : r;
}

/* tanh(a) for a = |x| >= 0 (not NaN): odd polynomial below 0.625, else 1 - 2/(e^{2a} + 1). */
static inline float et_fast_tanhf_abs_(float a)
{
    if (a < 0.625f) {
        float z = a * a; /* (tanh(a) - a)/a^3 = P(a^2), fitted on [0, 0.625] */
        float p = -0.00615521281f;
        p = p * z + 0.0210456999f;
        p = p * z - 0.0538639211f;
        p = p * z + 0.133328907f;
        p = p * z - 0.333333314f;
        return a + a * z * p;
    }
    if (a > 9.5f) a = 9.5f; /* tanh(9.5) rounds to 1 in fp32 */
    return 1.0f - 2.0f * et_fast_recipf(et_fast_expf_inrange_(2.0f * a) + 1.0f); /* 2a in [1.25, 19] */
}

/** @brief tanh(x) in fp32: odd polynomial for |x| < 0.625, else 1 - 2/(e^{2|x|} + 1). */
static inline float et_fast_tanhf(float x)
{
    if (!(x == x)) return x;
    float r = et_fast_tanhf_abs_(x < 0.0f ? -x : x);
    return x < 0.0f ? -r : r;
}

#endif /* ET_FASTMATH_H */
