/* SPDX-License-Identifier: Apache-2.0 */
/* LayerNorm forward over the last axis, rows split over the cores (see et_layernorm.h).
 * Statistics per row (two passes, pointer-bumped 8x unrolled loops with the same 4 partial sums
 * as the plain loop), then the affine normalization of 4 rows at a time, so gamma and beta are
 * loaded once per 4 rows. Every element is computed by the same expression as a one-row loop. */
#include <math.h>

#include "et_layernorm.h"
#include "et_team.h"

typedef struct {
    const float *x, *gamma, *beta;
    float *y, *mean, *rstd;
    size_t rows, dim;
    float eps;
} ln_fwd_job;

/* Mean and 1/sqrt(var + eps) of one row: sum, then sum of squared deviations. */
static void ln_stats(const float *x, size_t n, float inv_n, float eps, float *mu_out,
                     float *rs_out)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    const float *p = x, *e8 = x + (n & ~(size_t)7), *e = x + n;
    for (; p != e8; p += 8) {
        s0 += p[0];
        s1 += p[1];
        s2 += p[2];
        s3 += p[3];
        s0 += p[4];
        s1 += p[5];
        s2 += p[6];
        s3 += p[7];
    }
    if (p + 4 <= e) {
        s0 += p[0];
        s1 += p[1];
        s2 += p[2];
        s3 += p[3];
        p += 4;
    }
    for (; p != e; ++p) s0 += *p;
    float mu = ((s0 + s1) + (s2 + s3)) * inv_n;
    s0 = s1 = s2 = s3 = 0.0f;
    for (p = x; p != e8; p += 8) {
        float a = p[0] - mu, b = p[1] - mu, c = p[2] - mu, d = p[3] - mu;
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += d * d;
        a = p[4] - mu, b = p[5] - mu, c = p[6] - mu, d = p[7] - mu;
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += d * d;
    }
    if (p + 4 <= e) {
        float a = p[0] - mu, b = p[1] - mu, c = p[2] - mu, d = p[3] - mu;
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += d * d;
        p += 4;
    }
    for (; p != e; ++p) s0 += (*p - mu) * (*p - mu);
    float var = ((s0 + s1) + (s2 + s3)) * inv_n;
    *mu_out = mu;
    *rs_out = 1.0f / sqrtf(var + eps); /* once per row */
}

/* y = (x - mu) * rs * g + b for 4 rows (row stride n) sharing the gamma/beta loads. */
static void ln_affine4(const float *x, float *y, size_t n, const float *g, const float *b,
                       const float mu[4], const float rs[4])
{
    const float *x0 = x, *x1 = x + n, *x2 = x + 2 * n, *x3 = x + 3 * n;
    float *y0 = y, *y1 = y + n, *y2 = y + 2 * n, *y3 = y + 3 * n;
    const float m0 = mu[0], m1 = mu[1], m2 = mu[2], m3 = mu[3];
    const float r0 = rs[0], r1 = rs[1], r2 = rs[2], r3 = rs[3];
    const float *ge = g + (n & ~(size_t)3);
    for (; g != ge; g += 4, b += 4, x0 += 4, x1 += 4, x2 += 4, x3 += 4, y0 += 4, y1 += 4, y2 += 4, y3 += 4) {
        float ga = g[0], gb = g[1], gc = g[2], gd = g[3];
        float ba = b[0], bb = b[1], bc = b[2], bd = b[3];
        float a0 = x0[0], a1 = x0[1], a2 = x0[2], a3 = x0[3];
        y0[0] = (a0 - m0) * r0 * ga + ba;
        y0[1] = (a1 - m0) * r0 * gb + bb;
        y0[2] = (a2 - m0) * r0 * gc + bc;
        y0[3] = (a3 - m0) * r0 * gd + bd;
        a0 = x1[0], a1 = x1[1], a2 = x1[2], a3 = x1[3];
        y1[0] = (a0 - m1) * r1 * ga + ba;
        y1[1] = (a1 - m1) * r1 * gb + bb;
        y1[2] = (a2 - m1) * r1 * gc + bc;
        y1[3] = (a3 - m1) * r1 * gd + bd;
        a0 = x2[0], a1 = x2[1], a2 = x2[2], a3 = x2[3];
        y2[0] = (a0 - m2) * r2 * ga + ba;
        y2[1] = (a1 - m2) * r2 * gb + bb;
        y2[2] = (a2 - m2) * r2 * gc + bc;
        y2[3] = (a3 - m2) * r2 * gd + bd;
        a0 = x3[0], a1 = x3[1], a2 = x3[2], a3 = x3[3];
        y3[0] = (a0 - m3) * r3 * ga + ba;
        y3[1] = (a1 - m3) * r3 * gb + bb;
        y3[2] = (a2 - m3) * r3 * gc + bc;
        y3[3] = (a3 - m3) * r3 * gd + bd;
    }
    for (size_t i = 0; i < (n & 3); ++i) {
        y0[i] = (x0[i] - m0) * r0 * g[i] + b[i];
        y1[i] = (x1[i] - m1) * r1 * g[i] + b[i];
        y2[i] = (x2[i] - m2) * r2 * g[i] + b[i];
        y3[i] = (x3[i] - m3) * r3 * g[i] + b[i];
    }
}

/* One row, any combination of gamma/beta (NULL = 1 / 0). */
static void ln_affine1(const float *x, float *y, size_t n, const float *g, const float *b,
                       float mu, float rs)
{
    size_t i;
    if (g && b)
        for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs * g[i] + b[i];
    else if (g)
        for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs * g[i];
    else if (b)
        for (i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs + b[i];
    else {
        const float *p = x, *e4 = x + (n & ~(size_t)3), *e = x + n;
        float *q = y;
        for (; p != e4; p += 4, q += 4) {
            float a = (p[0] - mu) * rs, c = (p[1] - mu) * rs, d = (p[2] - mu) * rs, f = (p[3] - mu) * rs;
            q[0] = a, q[1] = c, q[2] = d, q[3] = f;
        }
        for (; p != e; ++p, ++q) *q = (*p - mu) * rs;
    }
}

static void ln_fwd_worker(void *arg)
{
    const ln_fwd_job *j = arg;
    size_t lo, hi, n = j->dim;
    et_team_range(j->rows, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    float inv_n = 1.0f / (float)n;
    const float *g = j->gamma, *b = j->beta;
    size_t r = lo;
    if (g && b)
        for (; r + 4 <= hi; r += 4) {
            float mu[4], rs[4];
            for (unsigned k = 0; k < 4; ++k) {
                ln_stats(j->x + (r + k) * n, n, inv_n, j->eps, &mu[k], &rs[k]);
                j->mean[r + k] = mu[k];
                j->rstd[r + k] = rs[k];
            }
            ln_affine4(j->x + r * n, j->y + r * n, n, g, b, mu, rs);
        }
    for (; r < hi; ++r) {
        float mu, rs;
        ln_stats(j->x + r * n, n, inv_n, j->eps, &mu, &rs);
        j->mean[r] = mu;
        j->rstd[r] = rs;
        ln_affine1(j->x + r * n, j->y + r * n, n, g, b, mu, rs);
    }
}

et_status et_layernorm_fwd_f32(const et_ctx *ctx, const float *x, const float *gamma,
                               const float *beta, float *y, float *mean, float *rstd, size_t rows,
                               size_t dim, float eps)
{
    if (!ctx || !x || !y || !mean || !rstd || !rows || !dim || !(eps >= 0.0f)) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    ln_fwd_job j = {x, gamma, beta, y, mean, rstd, rows, dim, eps};
    return hal_cluster_fork(nc, ln_fwd_worker, &j);
}
