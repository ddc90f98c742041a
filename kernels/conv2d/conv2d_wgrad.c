/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d weight gradient: tiles of (output-channel block, image, output-row block); the dW
 * block stays in L1 and accumulates over images and rows (from dw's values with accumulate); 4x4 (c_out x c_in) register
 * blocking over output positions, with a 4-channel-interleaved input slab (et_conv2d.h). */
#include <string.h>

#include "conv2d_internal.h"
#include "et_memops.h"

typedef struct {
    conv_otile g; /* the output rows and input rows of the tile */
    int first, last;
} wg_tile;

typedef struct {
    conv_pipe pipe;
    conv_plan pl;
    const float *x, *dy;
    float *dw;
    const float *x0, *dy0; /* the whole op's tensors (x, dy, dw: one group's) */
    float *dw0;
    wg_tile tile[2];
} wg_job;

static void wg_fetch(conv_pipe *p, unsigned t, unsigned buf)
{
    wg_job *j = (wg_job *)p;
    const conv_plan *pl = &j->pl;
    const et_conv2d_args *a = &pl->a;
    wg_tile *tl = &j->tile[buf];
    size_t per_c = a->n * pl->nr_blk, cb = t / per_c, rb = t % pl->nr_blk, n = (t % per_c) / pl->nr_blk;
    tl->first = n == 0 && rb == 0;
    tl->last = n == a->n - 1 && rb == pl->nr_blk - 1;
    p->in_id[buf][0] = conv_otile_fetch_x(pl, j->x, n, cb, rb, buf, &tl->g);
    size_t row = tl->g.th * pl->wo * sizeof(float);
    p->in_id[buf][1] = hal_dma_copy_2d(pl->A[buf],
                                       j->dy + ((tl->g.n * pl->ycs + tl->g.c0) * pl->ho + tl->g.r0) * pl->wo,
                                       row, tl->g.tc, row, pl->ho * pl->wo * sizeof(float));
}

/* acc[j][i] += sum over positions of d[pos][j] * p[pos][i] (4 c_out x 4 c_in). */
static void mk_wgrad(const float *d, const float *p, size_t th, size_t wo, size_t rstep, size_t cstep,
                     float acc[16])
{
    float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
    float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
    for (size_t r = 0; r < th; ++r, p += rstep) {
        const float *x = p;
        for (size_t ox = 0; ox < wo; ++ox, d += 4, x += cstep) {
            float d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
            float x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
            a00 += d0 * x0, a01 += d0 * x1, a02 += d0 * x2, a03 += d0 * x3;
            a10 += d1 * x0, a11 += d1 * x1, a12 += d1 * x2, a13 += d1 * x3;
            a20 += d2 * x0, a21 += d2 * x1, a22 += d2 * x2, a23 += d2 * x3;
            a30 += d3 * x0, a31 += d3 * x1, a32 += d3 * x2, a33 += d3 * x3;
        }
    }
    acc[0] = a00, acc[1] = a01, acc[2] = a02, acc[3] = a03;
    acc[4] = a10, acc[5] = a11, acc[6] = a12, acc[7] = a13;
    acc[8] = a20, acc[9] = a21, acc[10] = a22, acc[11] = a23;
    acc[12] = a30, acc[13] = a31, acc[14] = a32, acc[15] = a33;
}

static void wg_compute(conv_pipe *p, unsigned t, unsigned buf, unsigned id, unsigned nc)
{
    (void)t;
    wg_job *j = (wg_job *)p;
    const conv_plan *pl = &j->pl;
    const et_conv2d_args *a = &pl->a;
    const wg_tile *tl = &j->tile[buf];
    size_t kk = a->kh * a->kw, plane = pl->prow * pl->pcol, npos = tl->g.th * pl->wo;
    size_t gco = (tl->g.tc + 3) / 4, gci = (a->c_in + 3) / 4;
    float *blk = pl->O[0];
    if (tl->first) { /* the block's dW starts from 0, or from dw's values (accumulate) */
        size_t lo, hi;
        et_team_range(tl->g.tc * a->c_in * kk, id, nc, &lo, &hi);
        if (hi > lo && a->accumulate)
            et_copy_f32(blk + lo, j->dw + tl->g.c0 * a->c_in * kk + lo, hi - lo);
        else if (hi > lo)
            et_zero_f32(blk + lo, hi - lo);
    }
    conv_slab s = {pl->P, 4 * plane, 1, 4 * pl->pcol, 4, pl->pch, pl->prow, pl->pcol, 1,
                   pl->S[buf], a->c_in, pl->srows * a->w, a->w, tl->g.nrows, a->w,
                   tl->g.iy_lo + a->ph - tl->g.r0 * a->sh, 1, a->pw, 1};
    conv_slab_build(&s, id, nc);
    const float *da = pl->A[buf]; /* R[g][pos][q] = dy[c0 + 4g + q][pos] */
    for (size_t k = id; k < gco * npos; k += nc) {
        size_t g = k / npos, pos = k % npos;
        for (size_t q = 0; q < 4; ++q)
            pl->R[4 * k + q] = 4 * g + q < tl->g.tc ? da[(4 * g + q) * npos + pos] : 0.0f;
    }
    hal_cluster_barrier();
    size_t items = gco * gci * kk;
    for (size_t it = id; it < items; it += nc) {
        size_t tap = it % kk, gi = (it / kk) % gci, go = it / (kk * gci);
        size_t ky = tap / a->kw, kx = tap % a->kw;
        float acc[16];
        mk_wgrad(pl->R + go * npos * 4, pl->P + gi * 4 * plane + (ky * pl->pcol + kx) * 4, tl->g.th,
                 pl->wo, a->sh * pl->pcol * 4, a->sw * 4, acc);
        size_t njo = tl->g.tc - 4 * go < 4 ? tl->g.tc - 4 * go : 4;
        size_t nji = a->c_in - 4 * gi < 4 ? a->c_in - 4 * gi : 4;
        for (size_t jo = 0; jo < njo; ++jo)
            for (size_t ji = 0; ji < nji; ++ji)
                blk[((4 * go + jo) * a->c_in + 4 * gi + ji) * kk + tap] += acc[4 * jo + ji];
    }
}

static void wg_flush(conv_pipe *p, unsigned t, unsigned buf)
{
    (void)t;
    wg_job *j = (wg_job *)p;
    const et_conv2d_args *a = &j->pl.a;
    const wg_tile *tl = &j->tile[buf];
    if (!tl->last) return;
    size_t kk = a->kh * a->kw;
    /* waited at once: the next block zeroes the same L1 block in its first tile */
    hal_dma_wait(hal_dma_copy_1d(j->dw + tl->g.c0 * a->c_in * kk, j->pl.O[0],
                                 tl->g.tc * a->c_in * kk * sizeof(float)));
}

static conv_plan *wg_place(conv_pipe *p, size_t g, const conv_groups *gs)
{
    wg_job *j = (wg_job *)p;
    j->x = j->x0 + g * gs->x_step;
    j->dy = j->dy0 + g * gs->y_step;
    j->dw = j->dw0 + g * gs->w_step;
    return &j->pl;
}

et_status et_conv2d_bwd_wgrad_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *x,
                                  const float *dy, float *dw)
{
    if (!ctx || !ctx->l1 || !x || !dy || !dw) return ET_ERR_ARG;
    static wg_job j;
    j = (wg_job){.pipe = {.fetch = wg_fetch, .compute = wg_compute, .flush = wg_flush},
                 .x0 = x, .dy0 = dy, .dw0 = dw};
    return conv_run(ctx, a, CONV_WGRAD, &j.pipe, wg_place);
}
