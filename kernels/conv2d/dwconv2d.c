/* SPDX-License-Identifier: Apache-2.0 */
/* Depthwise 2-D convolution, forward and backward (see et_conv2d.h): whole planes per core for
 * the forward and the input gradient, whole channels per core for the weight gradients; every
 * sum in a fixed order, so results do not depend on the core count. Windows are clipped to
 * the plane once per output row and column range (padding contributes zeros). */
#include "et_conv2d.h"
#include "et_team.h"

typedef struct {
    const et_dwconv2d_args *a;
    size_t ho, wo;
    const float *x, *w, *b, *dy;
    float *out, *db;
} dw_job;

size_t et_dwconv2d_out_h(const et_dwconv2d_args *a)
{
    if (!a || !a->sh || !a->kh || a->ph >= a->kh || a->h + 2 * a->ph < a->kh) return 0;
    return (a->h + 2 * a->ph - a->kh) / a->sh + 1;
}

size_t et_dwconv2d_out_w(const et_dwconv2d_args *a)
{
    if (!a || !a->sw || !a->kw || a->pw >= a->kw || a->w + 2 * a->pw < a->kw) return 0;
    return (a->w + 2 * a->pw - a->kw) / a->sw + 1;
}

/* The filter taps [*k0, *k1) of output index o that fall inside [0, n) of the input. */
static inline void taps(size_t o, size_t s, size_t p, size_t k, size_t n, size_t *k0, size_t *k1)
{
    long i0 = (long)(o * s) - (long)p;
    *k0 = i0 < 0 ? (size_t)(-i0) : 0;
    *k1 = i0 + (long)k > (long)n ? (size_t)((long)n - i0) : k;
}

/* y of plane p (channel ch): the window sum of every output, plus the bias. */
static void fwd_plane(const dw_job *j, size_t p, size_t ch)
{
    const et_dwconv2d_args *a = j->a;
    const float *x = j->x + p * a->h * a->w, *wt = j->w + ch * a->kh * a->kw;
    float bias = j->b ? j->b[ch] : 0.0f, *y = j->out + p * j->ho * j->wo;
    for (size_t oy = 0; oy < j->ho; ++oy) {
        size_t ky0, ky1;
        taps(oy, a->sh, a->ph, a->kh, a->h, &ky0, &ky1);
        const float *xr = x + (long)(oy * a->sh + ky0 - a->ph) * (long)a->w;
        for (size_t ox = 0; ox < j->wo; ++ox) {
            size_t kx0, kx1;
            taps(ox, a->sw, a->pw, a->kw, a->w, &kx0, &kx1);
            long ix0 = (long)(ox * a->sw + kx0) - (long)a->pw;
            float s = 0.0f;
            const float *xi = xr + ix0;
            for (size_t ky = ky0; ky < ky1; ++ky, xi += a->w) {
                const float *wk = wt + ky * a->kw;
                for (size_t kx = kx0; kx < kx1; ++kx) s += wk[kx] * xi[kx - kx0];
            }
            y[oy * j->wo + ox] = s + bias;
        }
    }
}

/* dx of plane p (channel ch): zeroed, then every output's gradient spread over its window. */
static void igrad_plane(const dw_job *j, size_t p, size_t ch)
{
    const et_dwconv2d_args *a = j->a;
    const float *wt = j->w + ch * a->kh * a->kw, *dy = j->dy + p * j->ho * j->wo;
    float *dx = j->out + p * a->h * a->w;
    for (size_t i = 0; i < a->h * a->w; ++i) dx[i] = 0.0f;
    for (size_t oy = 0; oy < j->ho; ++oy) {
        size_t ky0, ky1;
        taps(oy, a->sh, a->ph, a->kh, a->h, &ky0, &ky1);
        for (size_t ox = 0; ox < j->wo; ++ox) {
            size_t kx0, kx1;
            taps(ox, a->sw, a->pw, a->kw, a->w, &kx0, &kx1);
            float d = dy[oy * j->wo + ox];
            float *xi = dx + (long)(oy * a->sh + ky0 - a->ph) * (long)a->w
                        + (long)(ox * a->sw + kx0) - (long)a->pw;
            for (size_t ky = ky0; ky < ky1; ++ky, xi += a->w) {
                const float *wk = wt + ky * a->kw;
                for (size_t kx = kx0; kx < kx1; ++kx) xi[kx - kx0] += wk[kx] * d;
            }
        }
    }
}

/* This core's range of planes, each with its channel. */
static void each_plane(const dw_job *j, void (*plane)(const dw_job *, size_t, size_t))
{
    size_t lo, hi;
    et_team_range(j->a->planes, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t p = lo; p < hi; ++p) plane(j, p, (j->a->c0 + p) % j->a->c);
}

static void fwd_worker(void *arg) { each_plane(arg, fwd_plane); }
static void igrad_worker(void *arg) { each_plane(arg, igrad_plane); }

static void wgrad_worker(void *arg)
{
    const dw_job *j = arg;
    const et_dwconv2d_args *a = j->a;
    size_t lo, hi, kk = a->kh * a->kw;
    et_team_range(a->c, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t ch = lo; ch < hi; ++ch) {
        float *dw = j->out ? j->out + ch * kk : NULL;
        float sb = a->accumulate && j->db ? j->db[ch] : 0.0f;
        if (dw && !a->accumulate)
            for (size_t k = 0; k < kk; ++k) dw[k] = 0.0f;
        /* the planes of channel ch, in plane order */
        for (size_t p = (ch + a->c - a->c0) % a->c; p < a->planes; p += a->c) {
            const float *x = j->x + p * a->h * a->w, *dy = j->dy + p * j->ho * j->wo;
            for (size_t oy = 0; oy < j->ho; ++oy) {
                size_t ky0, ky1;
                taps(oy, a->sh, a->ph, a->kh, a->h, &ky0, &ky1);
                for (size_t ox = 0; ox < j->wo; ++ox) {
                    float d = dy[oy * j->wo + ox];
                    sb += d;
                    if (!dw) continue;
                    size_t kx0, kx1;
                    taps(ox, a->sw, a->pw, a->kw, a->w, &kx0, &kx1);
                    const float *xi = x + (long)(oy * a->sh + ky0 - a->ph) * (long)a->w
                                      + (long)(ox * a->sw + kx0) - (long)a->pw;
                    for (size_t ky = ky0; ky < ky1; ++ky, xi += a->w) {
                        float *dk = dw + ky * a->kw;
                        for (size_t kx = kx0; kx < kx1; ++kx) dk[kx] += d * xi[kx - kx0];
                    }
                }
            }
        }
        if (j->db) j->db[ch] = sb;
    }
}

static et_status run(const et_ctx *ctx, dw_job *j, void (*fn)(void *))
{
    const et_dwconv2d_args *a = j->a;
    if (!ctx || !a || !a->planes || !a->c || a->c0 >= a->c || !a->h || !a->w) return ET_ERR_ARG;
    j->ho = et_dwconv2d_out_h(a);
    j->wo = et_dwconv2d_out_w(a);
    unsigned nc = et_team_cores(ctx);
    if (!j->ho || !j->wo || !nc) return ET_ERR_ARG;
    return hal_cluster_fork(nc, fn, j);
}

et_status et_dwconv2d_fwd_f32(const et_ctx *ctx, const et_dwconv2d_args *a, const float *x,
                              const float *w, const float *b, float *y)
{
    if (!x || !w || !y) return ET_ERR_ARG;
    dw_job j = {a, 0, 0, x, w, b, NULL, y, NULL};
    return run(ctx, &j, fwd_worker);
}

et_status et_dwconv2d_bwd_igrad_f32(const et_ctx *ctx, const et_dwconv2d_args *a, const float *w,
                                    const float *dy, float *dx)
{
    if (!w || !dy || !dx) return ET_ERR_ARG;
    dw_job j = {a, 0, 0, NULL, w, NULL, dy, dx, NULL};
    return run(ctx, &j, igrad_worker);
}

et_status et_dwconv2d_bwd_wgrad_f32(const et_ctx *ctx, const et_dwconv2d_args *a, const float *x,
                                    const float *dy, float *dw, float *db)
{
    if (!x || !dy || (!dw && !db)) return ET_ERR_ARG;
    dw_job j = {a, 0, 0, x, NULL, NULL, dy, dw, db};
    return run(ctx, &j, wgrad_worker);
}
