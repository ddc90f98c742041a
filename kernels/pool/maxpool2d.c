/* SPDX-License-Identifier: Apache-2.0 */
/* 2-D max-pool forward and backward, whole planes per core (see et_pool.h). */
#include "et_memops.h"
#include "et_pool.h"
#include "et_team.h"

typedef struct {
    et_maxpool2d_args a;
    size_t ho, wo;
    const float *x, *dy;
    float *out;
    int32_t *idx;
    const int32_t *idx_in;
} mp_job;

size_t et_maxpool2d_out_h(const et_maxpool2d_args *a)
{
    if (!a || !a->sh || a->h + 2 * a->ph < a->kh) return 0;
    return (a->h + 2 * a->ph - a->kh) / a->sh + 1;
}

size_t et_maxpool2d_out_w(const et_maxpool2d_args *a)
{
    if (!a || !a->sw || a->w + 2 * a->pw < a->kw) return 0;
    return (a->w + 2 * a->pw - a->kw) / a->sw + 1;
}

/* Max over the window of output (oy, ox) of plane x; returns the flat index of the maximum. */
static inline int32_t window_argmax(const mp_job *j, const float *x, size_t oy, size_t ox, float *best)
{
    const et_maxpool2d_args *a = &j->a;
    long y0 = (long)(oy * a->sh) - (long)a->ph, x0 = (long)(ox * a->sw) - (long)a->pw;
    long ylo = y0 < 0 ? 0 : y0, yhi = y0 + (long)a->kh > (long)a->h ? (long)a->h : y0 + (long)a->kh;
    long xlo = x0 < 0 ? 0 : x0, xhi = x0 + (long)a->kw > (long)a->w ? (long)a->w : x0 + (long)a->kw;
    float m = x[ylo * (long)a->w + xlo];
    int32_t mi = (int32_t)(ylo * (long)a->w + xlo);
    for (long iy = ylo; iy < yhi; ++iy) {
        const float *row = x + iy * (long)a->w;
        for (long ix = xlo; ix < xhi; ++ix)
            if (row[ix] > m || (row[ix] != row[ix] && m == m)) { /* NaN propagates like PyTorch */
                m = row[ix];
                mi = (int32_t)(iy * (long)a->w + ix);
            }
    }
    *best = m;
    return mi;
}

/* 3x3 window with its top-left at r0 (all inside the plane), index of r0 = bi: max by `>` in
 * window order (first maximum wins, as window_argmax). Returns 0 if a NaN may be in the window
 * (the sum of the nine values is not a number, also for +inf + -inf): then the caller redoes
 * it with window_argmax, which propagates the NaN. */
static inline int win3x3(const float *r0, size_t w, int32_t bi, float *best, int32_t *bidx)
{
    const float *r1 = r0 + w, *r2 = r1 + w;
    int32_t wi = (int32_t)w;
    float v0 = r0[0], v1 = r0[1], v2 = r0[2], v3 = r1[0], v4 = r1[1], v5 = r1[2];
    float v6 = r2[0], v7 = r2[1], v8 = r2[2];
    float m = v0;
    int32_t o = bi;
    if (v1 > m) m = v1, o = bi + 1;
    if (v2 > m) m = v2, o = bi + 2;
    if (v3 > m) m = v3, o = bi + wi;
    if (v4 > m) m = v4, o = bi + wi + 1;
    if (v5 > m) m = v5, o = bi + wi + 2;
    if (v6 > m) m = v6, o = bi + 2 * wi;
    if (v7 > m) m = v7, o = bi + 2 * wi + 1;
    if (v8 > m) m = v8, o = bi + 2 * wi + 2;
    float t = ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)) + v8;
    *best = m;
    *bidx = o;
    return t == t;
}

static void mp_fwd_worker(void *arg)
{
    const mp_job *j = arg;
    const et_maxpool2d_args *a = &j->a;
    size_t lo, hi, hw = a->h * a->w, ohw = j->ho * j->wo;
    et_team_range(a->planes, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    /* interior outputs (window fully inside the plane): oy in [oy0, oy1), ox in [ox0, ox1) */
    size_t oy0 = (a->ph + a->sh - 1) / a->sh, ox0 = (a->pw + a->sw - 1) / a->sw;
    size_t oy1 = a->h + a->ph >= a->kh ? (a->h + a->ph - a->kh) / a->sh + 1 : 0;
    size_t ox1 = a->w + a->pw >= a->kw ? (a->w + a->pw - a->kw) / a->sw + 1 : 0;
    if (oy1 > j->ho) oy1 = j->ho;
    if (ox1 > j->wo) ox1 = j->wo;
    int fast3 = a->kh == 3 && a->kw == 3 && oy0 < oy1 && ox0 < ox1;
    for (size_t p = lo; p < hi; ++p) {
        const float *x = j->x + p * hw;
        float *y = j->out + p * ohw;
        int32_t *ix = j->idx ? j->idx + p * ohw : NULL;
        for (size_t oy = 0; oy < j->ho; ++oy) {
            size_t ox = 0;
            float *yr = y + oy * j->wo;
            int32_t *ir = ix ? ix + oy * j->wo : NULL;
            if (fast3 && oy >= oy0 && oy < oy1) {
                for (; ox < ox0; ++ox) {
                    float m;
                    int32_t mi = window_argmax(j, x, oy, ox, &m);
                    yr[ox] = m;
                    if (ir) ir[ox] = mi;
                }
                /* window top-left (oy*sh - ph, ox*sw - pw): pointer and index bumped by sw */
                int32_t bi = (int32_t)((oy * a->sh - a->ph) * a->w + ox0 * a->sw - a->pw);
                const float *r0 = x + bi;
                for (; ox < ox1; ++ox, r0 += a->sw, bi += (int32_t)a->sw) {
                    float m;
                    int32_t mi;
                    if (!win3x3(r0, a->w, bi, &m, &mi)) mi = window_argmax(j, x, oy, ox, &m);
                    yr[ox] = m;
                    if (ir) ir[ox] = mi;
                }
            }
            for (; ox < j->wo; ++ox) {
                float m;
                int32_t mi = window_argmax(j, x, oy, ox, &m);
                yr[ox] = m;
                if (ir) ir[ox] = mi;
            }
        }
    }
}

static void mp_bwd_worker(void *arg)
{
    const mp_job *j = arg;
    size_t lo, hi, hw = j->a.h * j->a.w, ohw = j->ho * j->wo;
    et_team_range(j->a.planes, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t p = lo; p < hi; ++p) {
        float *dx = j->out + p * hw;
        const float *dy = j->dy + p * ohw;
        et_zero_f32(dx, hw);
        if (j->idx_in) {
            const int32_t *ix = j->idx_in + p * ohw, *e4 = ix + (ohw & ~(size_t)3), *e = ix + ohw;
            while (ix != e4) { /* in order: indices may repeat */
                dx[ix[0]] += dy[0];
                dx[ix[1]] += dy[1];
                dx[ix[2]] += dy[2];
                dx[ix[3]] += dy[3];
                ix += 4, dy += 4;
            }
            while (ix != e) dx[*ix++] += *dy++;
        } else {
            const float *x = j->x + p * hw;
            for (size_t oy = 0; oy < j->ho; ++oy)
                for (size_t ox = 0; ox < j->wo; ++ox) {
                    float m;
                    dx[window_argmax(j, x, oy, ox, &m)] += dy[oy * j->wo + ox];
                }
        }
    }
}

static int mp_check(const et_ctx *ctx, const et_maxpool2d_args *a, unsigned *nc)
{
    if (!ctx || !a || !a->planes || !a->h || !a->w || !a->kh || !a->kw || !a->sh || !a->sw) return 0;
    if (2 * a->ph > a->kh || 2 * a->pw > a->kw) return 0;
    if (!et_maxpool2d_out_h(a) || !et_maxpool2d_out_w(a)) return 0;
    if ((a->h * a->w) > 0x7fffffffu) return 0;
    *nc = et_team_cores(ctx);
    return *nc != 0;
}

et_status et_maxpool2d_fwd_f32(const et_ctx *ctx, const et_maxpool2d_args *a, const float *x,
                               float *y, int32_t *idx)
{
    unsigned nc;
    if (!x || !y || !mp_check(ctx, a, &nc)) return ET_ERR_ARG;
    mp_job j = {*a, et_maxpool2d_out_h(a), et_maxpool2d_out_w(a), x, NULL, y, idx, NULL};
    return hal_cluster_fork(nc, mp_fwd_worker, &j);
}

et_status et_maxpool2d_bwd_f32(const et_ctx *ctx, const et_maxpool2d_args *a, const float *x,
                               const int32_t *idx, const float *dy, float *dx)
{
    unsigned nc;
    if ((!x && !idx) || !dy || !dx || !mp_check(ctx, a, &nc)) return ET_ERR_ARG;
    mp_job j = {*a, et_maxpool2d_out_h(a), et_maxpool2d_out_w(a), x, dy, dx, NULL, idx};
    return hal_cluster_fork(nc, mp_bwd_worker, &j);
}
