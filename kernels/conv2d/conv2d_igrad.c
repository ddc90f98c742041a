/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d input gradient: dx = correlation of the zero-dilated, padded dy with the flipped,
 * transposed weights; tiles of (image, input-channel block, input-row block) (et_conv2d.h). */
#include "conv2d_internal.h"

typedef struct {
    size_t n, c0, tc, r0, th, oy_lo, nrows;
} ig_tile;

typedef struct {
    conv_pipe pipe;
    conv_plan pl;
    const float *w, *dy;
    float *dx;
    const float *w0, *dy0; /* the whole op's tensors (w, dy, dx: one group's) */
    float *dx0;
    ig_tile tile[2];
} ig_job;

static void ig_fetch(conv_pipe *p, unsigned t, unsigned buf)
{
    ig_job *j = (ig_job *)p;
    const conv_plan *pl = &j->pl;
    const et_conv2d_args *a = &pl->a;
    ig_tile *tl = &j->tile[buf];
    size_t per_n = pl->nc_blk * pl->nr_blk, kk = a->kh * a->kw;
    tl->n = t / per_n;
    size_t cb = (t % per_n) / pl->nr_blk, rb = t % pl->nr_blk;
    tl->c0 = cb * pl->tc;
    tl->tc = a->c_in - tl->c0 < pl->tc ? a->c_in - tl->c0 : pl->tc;
    tl->r0 = rb * pl->th;
    tl->th = a->h - tl->r0 < pl->th ? a->h - tl->r0 : pl->th;
    /* dy rows oy with oy*sh - ph + ky in [r0, r0 + th) for some ky */
    long lo_num = (long)tl->r0 + (long)a->ph - (long)a->kh + 1;
    size_t oy_lo = lo_num <= 0 ? 0 : ((size_t)lo_num + a->sh - 1) / a->sh;
    size_t oy_hi = (tl->r0 + tl->th - 1 + a->ph) / a->sh + 1;
    if (oy_hi > pl->ho) oy_hi = pl->ho;
    tl->oy_lo = oy_lo;
    tl->nrows = oy_hi > oy_lo ? oy_hi - oy_lo : 0;
    if (tl->nrows)
        p->in_id[buf][0] = hal_dma_copy_2d(pl->S[buf], j->dy + (tl->n * pl->ycs * pl->ho + oy_lo) * pl->wo,
                                           tl->nrows * pl->wo * sizeof(float), a->c_out,
                                           pl->srows * pl->wo * sizeof(float),
                                           pl->ho * pl->wo * sizeof(float));
    p->in_id[buf][1] = hal_dma_copy_2d(pl->A[buf], j->w + tl->c0 * kk, tl->tc * kk * sizeof(float),
                                       a->c_out, tl->tc * kk * sizeof(float),
                                       a->c_in * kk * sizeof(float));
}

static void ig_compute(conv_pipe *p, unsigned t, unsigned buf, unsigned id, unsigned nc)
{
    (void)t;
    ig_job *j = (ig_job *)p;
    const conv_plan *pl = &j->pl;
    const et_conv2d_args *a = &pl->a;
    const ig_tile *tl = &j->tile[buf];
    size_t plane = pl->prow * pl->pcol, kk = a->kh * a->kw, ngroups = (tl->tc + 3) / 4;
    /* slab row t <-> dilated dy row r0 + t + ph - kh + 1; column u <-> u + pw - kw + 1 */
    conv_slab s = {pl->P, 4 * plane, plane, pl->pcol, 1, a->c_out, pl->prow, pl->pcol, 0,
                   pl->S[buf], a->c_out, pl->srows * pl->wo, pl->wo, tl->nrows, pl->wo,
                   tl->oy_lo * a->sh + a->kh - 1 - a->ph - tl->r0, a->sh, a->kw - 1 - a->pw, a->sw};
    conv_slab_build(&s, id, nc);
    /* R[g][co][q][j] = w[co][c0 + 4g + j][kk - 1 - q] (flipped), zero past the block */
    const float *wa = pl->A[buf];
    for (size_t gc = id; gc < ngroups * a->c_out; gc += nc) {
        size_t g = gc / a->c_out, co = gc % a->c_out;
        float *r = pl->R + (g * a->c_out + co) * kk * 4;
        for (size_t k = 0; k < kk; ++k)
            for (size_t q = 0; q < 4; ++q)
                r[4 * k + q] = 4 * g + q < tl->tc ? wa[(co * tl->tc + 4 * g + q) * kk + kk - 1 - k] : 0.0f;
    }
    hal_cluster_barrier();
    conv_mm m = {pl->P, pl->R, NULL, a->c_out, plane, pl->pcol, 1, 1,
                 a->kh, a->kw, ngroups, tl->tc, tl->th, a->w, pl->O[buf]};
    conv_mm_run(&m, id, nc);
}

static void ig_flush(conv_pipe *p, unsigned t, unsigned buf)
{
    (void)t;
    ig_job *j = (ig_job *)p;
    const et_conv2d_args *a = &j->pl.a;
    const ig_tile *tl = &j->tile[buf];
    size_t row = tl->th * a->w * sizeof(float);
    p->out_id[buf] = hal_dma_copy_2d(j->dx + ((tl->n * j->pl.xcs + tl->c0) * a->h + tl->r0) * a->w,
                                     j->pl.O[buf], row, tl->tc, a->h * a->w * sizeof(float), row);
}

static conv_plan *ig_place(conv_pipe *p, size_t g, const conv_groups *gs)
{
    ig_job *j = (ig_job *)p;
    j->w = j->w0 + g * gs->w_step;
    j->dy = j->dy0 + g * gs->y_step;
    j->dx = j->dx0 + g * gs->x_step;
    return &j->pl;
}

et_status et_conv2d_bwd_igrad_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *w,
                                  const float *dy, float *dx)
{
    if (!ctx || !ctx->l1 || !w || !dy || !dx) return ET_ERR_ARG;
    static ig_job j;
    j = (ig_job){.pipe = {.fetch = ig_fetch, .compute = ig_compute, .flush = ig_flush},
                 .w0 = w, .dy0 = dy, .dx0 = dx};
    return conv_run(ctx, a, CONV_IGRAD, &j.pipe, ig_place);
}
