/* SPDX-License-Identifier: Apache-2.0 */
/* 2-D max-pool forward and backward, whole planes per core (see et_pool.h). */
#include <string.h>

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

static void mp_fwd_worker(void *arg)
{
    const mp_job *j = arg;
    size_t lo, hi, hw = j->a.h * j->a.w, ohw = j->ho * j->wo;
    et_team_range(j->a.planes, hal_cluster_core_id(), hal_cluster_num_cores(), &lo, &hi);
    for (size_t p = lo; p < hi; ++p) {
        const float *x = j->x + p * hw;
        float *y = j->out + p * ohw;
        int32_t *ix = j->idx ? j->idx + p * ohw : NULL;
        for (size_t oy = 0; oy < j->ho; ++oy)
            for (size_t ox = 0; ox < j->wo; ++ox) {
                float m;
                int32_t mi = window_argmax(j, x, oy, ox, &m);
                y[oy * j->wo + ox] = m;
                if (ix) ix[oy * j->wo + ox] = mi;
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
        memset(dx, 0, hw * sizeof(float));
        if (j->idx_in) {
            const int32_t *ix = j->idx_in + p * ohw;
            for (size_t o = 0; o < ohw; ++o) dx[ix[o]] += dy[o];
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
