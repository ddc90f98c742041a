/* SPDX-License-Identifier: Apache-2.0 */
/* LayerNorm backward: dx by rows, then dgamma/dbeta by column ranges (see et_layernorm.h); each
 * part only when its outputs are asked for.
 * Pointer-bumped unrolled loops, the gamma == NULL case hoisted out of the element loops, and
 * dgamma/dbeta for 8 columns at a time (mean/rstd loaded once per row and block); every sum
 * keeps the order of the plain loops. */
#include "et_layernorm.h"
#include "et_team.h"

typedef struct {
    const float *x, *gamma, *mean, *rstd, *dy;
    float *dx, *dgamma, *dbeta;
    size_t rows, dim;
    int accumulate; /* dgamma/dbeta continue the sums they hold */
} ln_bwd_job;

/* Keeps a product in its own rounding step (no fmsub contraction of dy * gamma - mean(g)),
 * as in the plain loop, so dx is bit-identical to it. */
#if defined(__riscv)
#define LN_ROUNDED(v) __asm__("" : "+f"(v))
#else
#define LN_ROUNDED(v) ((void)0)
#endif

/* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma. */
static void ln_bwd_row_g(const float *x, const float *dy, const float *gm, float *dx, size_t n,
                         float inv_n, float mu, float rs)
{
    float sg0 = 0.0f, sg1 = 0.0f, sgx0 = 0.0f, sgx1 = 0.0f;
    const float *px = x, *pd = dy, *pg = gm, *e4 = gm + (n & ~(size_t)3), *e = gm + n;
    for (; pg != e4; pg += 4, pd += 4, px += 4) {
        float g0 = pd[0] * pg[0], g1 = pd[1] * pg[1];
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * (px[0] - mu);
        sgx1 += g1 * (px[1] - mu);
        g0 = pd[2] * pg[2], g1 = pd[3] * pg[3];
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * (px[2] - mu);
        sgx1 += g1 * (px[3] - mu);
    }
    if (pg + 2 <= e) {
        float g0 = pd[0] * pg[0], g1 = pd[1] * pg[1];
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * (px[0] - mu);
        sgx1 += g1 * (px[1] - mu);
        pg += 2, pd += 2, px += 2;
    }
    if (pg != e) {
        float g0 = pd[0] * pg[0];
        sg0 += g0;
        sgx0 += g0 * (px[0] - mu);
    }
    float mg = (sg0 + sg1) * inv_n;
    float mgx = (sgx0 + sgx1) * inv_n * rs; /* mean(g * xhat) */
    float c = rs * mgx;                    /* xhat * mgx = (x - mu) * c */
    float *q = dx;
    for (px = x, pd = dy, pg = gm; pg != e4; pg += 4, pd += 4, px += 4, q += 4) {
        float g0 = pd[0] * pg[0], g1 = pd[1] * pg[1], g2 = pd[2] * pg[2], g3 = pd[3] * pg[3];
        LN_ROUNDED(g0);
        LN_ROUNDED(g1);
        LN_ROUNDED(g2);
        LN_ROUNDED(g3);
        float a = rs * (g0 - mg - (px[0] - mu) * c);
        float b = rs * (g1 - mg - (px[1] - mu) * c);
        float d = rs * (g2 - mg - (px[2] - mu) * c);
        float f = rs * (g3 - mg - (px[3] - mu) * c);
        q[0] = a, q[1] = b, q[2] = d, q[3] = f;
    }
    for (; pg != e; ++pg, ++pd, ++px, ++q) {
        float g0 = pd[0] * pg[0];
        LN_ROUNDED(g0);
        *q = rs * (g0 - mg - (px[0] - mu) * c);
    }
}

static void ln_bwd_row_nog(const float *x, const float *dy, float *dx, size_t n, float inv_n,
                           float mu, float rs)
{
    float sg0 = 0.0f, sg1 = 0.0f, sgx0 = 0.0f, sgx1 = 0.0f;
    const float *px = x, *pd = dy, *e4 = dy + (n & ~(size_t)3), *e = dy + n;
    for (; pd != e4; pd += 4, px += 4) {
        float g0 = pd[0], g1 = pd[1];
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * (px[0] - mu);
        sgx1 += g1 * (px[1] - mu);
        g0 = pd[2], g1 = pd[3];
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * (px[2] - mu);
        sgx1 += g1 * (px[3] - mu);
    }
    if (pd + 2 <= e) {
        float g0 = pd[0], g1 = pd[1];
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * (px[0] - mu);
        sgx1 += g1 * (px[1] - mu);
        pd += 2, px += 2;
    }
    if (pd != e) {
        float g0 = pd[0];
        sg0 += g0;
        sgx0 += g0 * (px[0] - mu);
    }
    float mg = (sg0 + sg1) * inv_n;
    float mgx = (sgx0 + sgx1) * inv_n * rs;
    float c = rs * mgx;
    float *q = dx;
    for (px = x, pd = dy; pd != e4; pd += 4, px += 4, q += 4) {
        float a = rs * (pd[0] - mg - (px[0] - mu) * c);
        float b = rs * (pd[1] - mg - (px[1] - mu) * c);
        float d = rs * (pd[2] - mg - (px[2] - mu) * c);
        float f = rs * (pd[3] - mg - (px[3] - mu) * c);
        q[0] = a, q[1] = b, q[2] = d, q[3] = f;
    }
    for (; pd != e; ++pd, ++px, ++q) *q = rs * (pd[0] - mg - (px[0] - mu) * c);
}

/* dgamma/dbeta of columns [lo, hi): sums over all rows in row order, from 0 or (accumulate)
 * from the values they hold, so chunks of rows one after the other give the whole call's bits. */
static void ln_bwd_cols(const ln_bwd_job *j, size_t lo, size_t hi)
{
    size_t n = j->dim, rows = j->rows;
    const float *mean = j->mean, *rstd = j->rstd;
    const float *ag = j->accumulate ? j->dgamma : NULL, *ab = j->accumulate ? j->dbeta : NULL;
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        float g0 = 0.0f, g1 = 0.0f, g2 = 0.0f, g3 = 0.0f, g4 = 0.0f, g5 = 0.0f, g6 = 0.0f, g7 = 0.0f;
        float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f, b4 = 0.0f, b5 = 0.0f, b6 = 0.0f, b7 = 0.0f;
        if (ag) {
            const float *o = ag + i;
            g0 = o[0], g1 = o[1], g2 = o[2], g3 = o[3], g4 = o[4], g5 = o[5], g6 = o[6], g7 = o[7];
        }
        if (ab) {
            const float *o = ab + i;
            b0 = o[0], b1 = o[1], b2 = o[2], b3 = o[3], b4 = o[4], b5 = o[5], b6 = o[6], b7 = o[7];
        }
        const float *pd = j->dy + i, *px = j->x + i, *pm = mean, *pr = rstd, *pe = mean + rows;
        for (; pm != pe; ++pm, ++pr, pd += n, px += n) {
            float m = *pm, s = *pr, d;
            d = pd[0], b0 += d, g0 += d * (px[0] - m) * s;
            d = pd[1], b1 += d, g1 += d * (px[1] - m) * s;
            d = pd[2], b2 += d, g2 += d * (px[2] - m) * s;
            d = pd[3], b3 += d, g3 += d * (px[3] - m) * s;
            d = pd[4], b4 += d, g4 += d * (px[4] - m) * s;
            d = pd[5], b5 += d, g5 += d * (px[5] - m) * s;
            d = pd[6], b6 += d, g6 += d * (px[6] - m) * s;
            d = pd[7], b7 += d, g7 += d * (px[7] - m) * s;
        }
        if (j->dgamma) {
            float *o = j->dgamma + i;
            o[0] = g0, o[1] = g1, o[2] = g2, o[3] = g3, o[4] = g4, o[5] = g5, o[6] = g6, o[7] = g7;
        }
        if (j->dbeta) {
            float *o = j->dbeta + i;
            o[0] = b0, o[1] = b1, o[2] = b2, o[3] = b3, o[4] = b4, o[5] = b5, o[6] = b6, o[7] = b7;
        }
    }
    for (; i < hi; ++i) {
        float sg = ag ? ag[i] : 0.0f, sb = ab ? ab[i] : 0.0f;
        const float *pd = j->dy + i, *px = j->x + i;
        for (size_t r = 0; r < rows; ++r, pd += n, px += n) {
            float d = *pd;
            sb += d;
            sg += d * (*px - mean[r]) * rstd[r];
        }
        if (j->dgamma) j->dgamma[i] = sg;
        if (j->dbeta) j->dbeta[i] = sb;
    }
}

static void ln_bwd_worker(void *arg)
{
    const ln_bwd_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    size_t lo, hi, n = j->dim;
    float inv_n = 1.0f / (float)n;
    et_team_range(j->rows, id, nc, &lo, &hi);
    for (size_t r = lo; j->dx && r < hi; ++r) {
        if (j->gamma)
            ln_bwd_row_g(j->x + r * n, j->dy + r * n, j->gamma, j->dx + r * n, n, inv_n,
                         j->mean[r], j->rstd[r]);
        else
            ln_bwd_row_nog(j->x + r * n, j->dy + r * n, j->dx + r * n, n, inv_n, j->mean[r],
                           j->rstd[r]);
    }
    if (!j->dgamma && !j->dbeta) return;
    et_team_range(n, id, nc, &lo, &hi);
    ln_bwd_cols(j, lo, hi);
}

et_status et_layernorm_bwd_f32(const et_ctx *ctx, const float *x, const float *gamma,
                               const float *mean, const float *rstd, const float *dy, float *dx,
                               float *dgamma, float *dbeta, size_t rows, size_t dim)
{
    if (!ctx || !x || !mean || !rstd || !dy || !rows || !dim) return ET_ERR_ARG;
    if (!dx && !dgamma && !dbeta) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    ln_bwd_job j = {x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, dim, 0};
    return hal_cluster_fork(nc, ln_bwd_worker, &j);
}

et_status et_layernorm_bwd_wgrad_f32(const et_ctx *ctx, const float *x, const float *mean,
                                     const float *rstd, const float *dy, float *dgamma,
                                     float *dbeta, size_t rows, size_t dim, int accumulate)
{
    if (!ctx || !x || !mean || !rstd || !dy || !rows || !dim) return ET_ERR_ARG;
    if (!dgamma && !dbeta) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    ln_bwd_job j = {x, NULL, mean, rstd, dy, NULL, dgamma, dbeta, rows, dim, accumulate != 0};
    return hal_cluster_fork(nc, ln_bwd_worker, &j);
}
