/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d forward: tiles of (image, output-channel block, output-row block) through the DMA
 * pipeline; per tile a zero-padded input slab and 4-channel-interleaved weights (et_conv2d.h). */
#include "conv2d_internal.h"

typedef struct {
    conv_pipe pipe; /* first member: the callbacks cast back */
    conv_plan pl;
    const float *x, *w, *b;
    float *y;
    const float *x0, *w0, *b0; /* the whole op's tensors (x, w, b, y: one group's) */
    float *y0;
    conv_otile tile[2];
} fwd_job;

static void fwd_fetch(conv_pipe *p, unsigned t, unsigned buf)
{
    fwd_job *j = (fwd_job *)p;
    const conv_plan *pl = &j->pl;
    const et_conv2d_args *a = &pl->a;
    conv_otile *tl = &j->tile[buf];
    size_t per_n = pl->nc_blk * pl->nr_blk, kk = a->kh * a->kw;
    p->in_id[buf][0] = conv_otile_fetch_x(pl, j->x, t / per_n, (t % per_n) / pl->nr_blk, t % pl->nr_blk,
                                          buf, tl);
    p->in_id[buf][1] = hal_dma_copy_1d(pl->A[buf], j->w + tl->c0 * a->c_in * kk,
                                       tl->tc * a->c_in * kk * sizeof(float));
}

static void fwd_compute(conv_pipe *p, unsigned t, unsigned buf, unsigned id, unsigned nc)
{
    (void)t;
    fwd_job *j = (fwd_job *)p;
    const conv_plan *pl = &j->pl;
    const et_conv2d_args *a = &pl->a;
    const conv_otile *tl = &j->tile[buf];
    size_t plane = pl->prow * pl->pcol, kk = a->kh * a->kw, ngroups = (tl->tc + 3) / 4;
    conv_slab s = {pl->P, 4 * plane, plane, pl->pcol, 1, a->c_in, pl->prow, pl->pcol, 0,
                   pl->S[buf], a->c_in, pl->srows * a->w, a->w, tl->nrows, a->w,
                   tl->iy_lo + a->ph - tl->r0 * a->sh, 1, a->pw, 1};
    conv_slab_build(&s, id, nc);
    /* R[g][c][k][j] = w[c0 + 4g + j][c][k], zero for channels past the block */
    const float *wa = pl->A[buf];
    for (size_t gc = id; gc < ngroups * a->c_in; gc += nc) {
        size_t g = gc / a->c_in, c = gc % a->c_in;
        float *r = pl->R + (g * a->c_in + c) * kk * 4;
        for (size_t k = 0; k < kk; ++k)
            for (size_t q = 0; q < 4; ++q)
                r[4 * k + q] = 4 * g + q < tl->tc ? wa[((4 * g + q) * a->c_in + c) * kk + k] : 0.0f;
    }
    hal_cluster_barrier();
    conv_mm m = {pl->P, pl->R, j->b ? j->b + tl->c0 : NULL, a->c_in, plane, pl->pcol, a->sh, a->sw,
                 a->kh, a->kw, ngroups, tl->tc, tl->th, pl->wo, pl->O[buf]};
    conv_mm_run(&m, id, nc);
}

static void fwd_flush(conv_pipe *p, unsigned t, unsigned buf)
{
    (void)t;
    fwd_job *j = (fwd_job *)p;
    const conv_plan *pl = &j->pl;
    const conv_otile *tl = &j->tile[buf];
    size_t row = tl->th * pl->wo * sizeof(float);
    p->out_id[buf] = hal_dma_copy_2d(j->y + ((tl->n * pl->ycs + tl->c0) * pl->ho + tl->r0) * pl->wo,
                                     pl->O[buf], row, tl->tc, pl->ho * pl->wo * sizeof(float), row);
}

static conv_plan *fwd_place(conv_pipe *p, size_t g, const conv_groups *gs)
{
    fwd_job *j = (fwd_job *)p;
    j->x = j->x0 + g * gs->x_step;
    j->w = j->w0 + g * gs->w_step;
    j->b = j->b0 ? j->b0 + g * gs->b_step : NULL;
    j->y = j->y0 + g * gs->y_step;
    return &j->pl;
}

et_status et_conv2d_fwd_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *x,
                            const float *w, const float *b, float *y)
{
    if (!ctx || !ctx->l1 || !x || !w || !y) return ET_ERR_ARG;
    static fwd_job j;
    j = (fwd_job){.pipe = {.fetch = fwd_fetch, .compute = fwd_compute, .flush = fwd_flush},
                  .x0 = x, .w0 = w, .b0 = b, .y0 = y};
    return conv_run(ctx, a, CONV_FWD, &j.pipe, fwd_place);
}
