/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d building blocks: the double-buffered DMA tile pipeline, the zero-padded slab builder
 * and the 4x4 register-blocked forward/input-gradient micro-kernel (see et_conv2d.h). */
#include "conv2d_internal.h"
#include "et_memops.h"

static void conv_worker(void *arg) { conv_pipe_run(arg); }

et_status conv_run(const et_ctx *ctx, const et_conv2d_args *a, conv_dir dir, conv_pipe *job,
                   conv_place_fn place)
{
    conv_groups gs;
    if (!conv_groups_of(a, &gs)) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    for (size_t g = 0; g < gs.count; ++g) { /* every group plans alike: the first one checks */
        conv_plan *pl = place(job, g, &gs);
        if (!conv_plan_group(pl, a, &gs, dir, ctx->l1, ctx->l1_bytes)) return ET_ERR_ARG;
        job->ntiles = (unsigned)(a->n * pl->nc_blk * pl->nr_blk);
        et_status st = hal_cluster_fork(nc, conv_worker, job);
        if (st != ET_OK) return st;
    }
    return ET_OK;
}

void conv_pipe_run(conv_pipe *p)
{
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    if (id == 0 && p->ntiles) p->fetch(p, 0, 0);
    for (unsigned t = 0; t < p->ntiles; ++t) {
        unsigned b = t & 1u;
        if (id == 0) {
            hal_dma_wait(p->in_id[b][0]);
            hal_dma_wait(p->in_id[b][1]);
            p->in_id[b][0] = p->in_id[b][1] = 0;
            /* the other half was last read by tile t-1, which ended at a barrier */
            if (t + 1 < p->ntiles) p->fetch(p, t + 1, b ^ 1u);
            hal_dma_wait(p->out_id[b]); /* write-back of tile t-2 left this half's output */
            p->out_id[b] = 0;
        }
        hal_cluster_barrier();
        p->compute(p, t, b, id, nc);
        hal_cluster_barrier();
        if (id == 0 && p->flush) p->flush(p, t, b);
    }
    if (id == 0) {
        hal_dma_wait(p->out_id[0]);
        hal_dma_wait(p->out_id[1]);
        p->out_id[0] = p->out_id[1] = 0; /* the next group's run starts with none pending */
    }
}

hal_dma_id conv_otile_fetch_x(const conv_plan *pl, const float *x, size_t n, size_t cb, size_t rb,
                              unsigned buf, conv_otile *tl)
{
    const et_conv2d_args *a = &pl->a;
    tl->n = n;
    tl->c0 = cb * pl->tc;
    tl->tc = a->c_out - tl->c0 < pl->tc ? a->c_out - tl->c0 : pl->tc;
    tl->r0 = rb * pl->th;
    tl->th = pl->ho - tl->r0 < pl->th ? pl->ho - tl->r0 : pl->th;
    long top = (long)(tl->r0 * a->sh) - (long)a->ph;
    long bot = top + (long)((tl->th - 1) * a->sh + a->kh);
    tl->iy_lo = top < 0 ? 0 : (size_t)top;
    size_t iy_hi = bot > (long)a->h ? a->h : (size_t)bot;
    tl->nrows = iy_hi - tl->iy_lo;
    return hal_dma_copy_2d(pl->S[buf], x + (n * pl->xcs * a->h + tl->iy_lo) * a->w,
                           tl->nrows * a->w * sizeof(float), a->c_in,
                           pl->srows * a->w * sizeof(float), a->h * a->w * sizeof(float));
}

void conv_slab_build(const conv_slab *s, unsigned id, unsigned nc)
{
    size_t ngroups = (s->pch + 3) / 4;
    size_t ilim = s->t0 >= s->prow ? 0 : (s->prow - 1 - s->t0) / s->ts + 1;
    size_t jlim = s->u0 >= s->pcol ? 0 : (s->pcol - 1 - s->u0) / s->us + 1;
    size_t ni = s->ni < ilim ? s->ni : ilim, nj = s->nj < jlim ? s->nj : jlim;
    for (size_t g = id; g < ngroups; g += nc) {
        size_t cend = 4 * g + 4 < s->pch ? 4 * g + 4 : s->pch;
        float *base = s->P + g * s->ghi;
        et_zero_f32(base, s->interleaved ? s->ghi : (cend - 4 * g) * s->glo);
        for (size_t c = 4 * g; c < cend && c < s->nch; ++c) {
            float *pc = base + (c & 3u) * s->glo + s->t0 * s->rst + s->u0 * s->cst;
            const float *sc = s->S + c * s->sc;
            size_t rstep = s->ts * s->rst, cstep = s->us * s->cst;
            for (size_t i = 0; i < ni; ++i, pc += rstep, sc += s->sr) {
                float *d = pc;
                if (cstep == 1) {
                    et_copy_f32(d, sc, nj);
                } else {
                    for (size_t j = 0; j < nj; ++j, d += cstep) *d = sc[j];
                }
            }
        }
    }
}

#define FMA4(w, x0, x1, x2, x3, r0, r1, r2, r3) \
    r0 += (w) * (x0), r1 += (w) * (x1), r2 += (w) * (x2), r3 += (w) * (x3)

/* acc[j][i] += sum_c,ky,kx R[c][ky][kx][j] * P[c][ky][kx + i*cs] for 4 channels j, 4 columns i. */
static inline __attribute__((always_inline)) void mk4x4(const float *p, const float *w, size_t C,
                                                        size_t pchs, size_t pcol, size_t kh,
                                                        size_t kw, size_t cs, float acc[16])
{
    float a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3];
    float a10 = acc[4], a11 = acc[5], a12 = acc[6], a13 = acc[7];
    float a20 = acc[8], a21 = acc[9], a22 = acc[10], a23 = acc[11];
    float a30 = acc[12], a31 = acc[13], a32 = acc[14], a33 = acc[15];
    for (size_t c = 0; c < C; ++c, p += pchs) {
        const float *pr = p;
        for (size_t ky = 0; ky < kh; ++ky, pr += pcol) {
            const float *x = pr;
            for (size_t kx = 0; kx < kw; ++kx, ++x, w += 4) {
                float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
                float x0 = x[0], x1 = x[cs], x2 = x[2 * cs], x3 = x[3 * cs];
                FMA4(w0, x0, x1, x2, x3, a00, a01, a02, a03);
                FMA4(w1, x0, x1, x2, x3, a10, a11, a12, a13);
                FMA4(w2, x0, x1, x2, x3, a20, a21, a22, a23);
                FMA4(w3, x0, x1, x2, x3, a30, a31, a32, a33);
            }
        }
    }
    acc[0] = a00, acc[1] = a01, acc[2] = a02, acc[3] = a03;
    acc[4] = a10, acc[5] = a11, acc[6] = a12, acc[7] = a13;
    acc[8] = a20, acc[9] = a21, acc[10] = a22, acc[11] = a23;
    acc[12] = a30, acc[13] = a31, acc[14] = a32, acc[15] = a33;
}

#if defined(ET_TARGET_SIRACUSA)
/* mk4x4 for cs = 1, kw = 3 as XpulpV2 hardware loops (conv2d_micro_xpulp.S), bit-identical */
void conv_k4x4_k3s1(const float *p, const float *w, unsigned C, unsigned kh, unsigned row_bytes,
                    unsigned chan_skip_bytes, float acc[16]);
#endif

void conv_mm_run(const conv_mm *m, unsigned id, unsigned nc)
{
    /* work items: (channel group, output row), or (group, row, 4-column block) when the rows x
     * groups of the tile do not split evenly over the cores (igrad's 4- and 6-row tiles with a
     * single channel group would leave cores idle) */
    size_t nxb = (m->ocols + 3) / 4, rows = m->ngroups * m->orows;
    size_t bpi = rows % nc == 0 ? nxb : 1; /* column blocks per item */
    size_t ipr = nxb / bpi, items = rows * ipr, plane = m->orows * m->ocols;
    size_t ck = m->C * m->kh * m->kw * 4;
    for (size_t it = id; it < items; it += nc) {
        size_t gr = it / ipr, g = gr / m->orows, r = gr % m->orows, xb = (it % ipr) * bpi;
        const float *w = m->R + g * ck, *prow = m->P + r * m->rs * m->pcol;
        size_t nch = m->och - 4 * g < 4 ? m->och - 4 * g : 4;
        for (size_t ox = xb * 4; ox < (xb + bpi) * 4; ox += 4) {
            float acc[16];
            for (unsigned j = 0; j < 4; ++j) {
                float b0 = (m->bias && j < nch) ? m->bias[4 * g + j] : 0.0f;
                acc[4 * j] = acc[4 * j + 1] = acc[4 * j + 2] = acc[4 * j + 3] = b0;
            }
            const float *p = prow + ox * m->cs;
#if defined(ET_TARGET_SIRACUSA)
            if (m->cs == 1 && m->kw == 3 && m->kh && m->C)
                conv_k4x4_k3s1(p, w, (unsigned)m->C, (unsigned)m->kh, (unsigned)(m->pcol * 4),
                               (unsigned)((m->pchs - m->kh * m->pcol) * 4), acc);
            else
#endif
            if (m->cs == 1)
                mk4x4(p, w, m->C, m->pchs, m->pcol, m->kh, m->kw, 1, acc);
            else if (m->cs == 2)
                mk4x4(p, w, m->C, m->pchs, m->pcol, m->kh, m->kw, 2, acc);
            else
                mk4x4(p, w, m->C, m->pchs, m->pcol, m->kh, m->kw, m->cs, acc);
            size_t ncol = m->ocols - ox < 4 ? m->ocols - ox : 4;
            for (size_t j = 0; j < nch; ++j) {
                float *o = m->O + (4 * g + j) * plane + r * m->ocols + ox;
                for (size_t i = 0; i < ncol; ++i) o[i] = acc[4 * j + i];
            }
        }
    }
}
