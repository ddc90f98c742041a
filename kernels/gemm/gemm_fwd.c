/* SPDX-License-Identifier: Apache-2.0 */
/* et_gemm_fwd_f32: the GEMM driver. Steps (batch, row tile, column tile, k tile) run in the
 * same order on every core; core 0 drives the DMA (double-buffered: the operands of step s+1
 * are fetched while step s is computed; each finished Y tile is written back while the next
 * is computed) and the team shares each step's 4x6 blocks round-robin, one barrier per step.
 * Refer to et_gemm.h for the API. */
#include <stdint.h>

#include "gemm_internal.h"
#include "hal.h"

typedef struct {
    const et_gemm_args *g;
    const float *a, *b, *bias;
    float *y;
    unsigned lda, ldb, ldy;
    size_t sa, sb, sy;
    gemm_tiles t;
    unsigned nm, nn, nk, steps;
    float *abuf[2], *bbuf[2], *ybuf[2], *qbuf[2];
    hal_dma_id in_pend[2][4], out_pend[2];
    volatile int dma_err;
} gemm_job;

/* Position of a step; every core advances its own copy identically. */
typedef struct {
    unsigned bt, im, in, ik, tile; /* tile: output tiles completed before this step */
} step_pos;

static unsigned min_u(unsigned a, unsigned b) { return a < b ? a : b; }

static void advance(const gemm_job *j, step_pos *p)
{
    if (++p->ik < j->nk) return;
    p->ik = 0;
    p->tile++;
    if (++p->in < j->nn) return;
    p->in = 0;
    if (++p->im < j->nm) return;
    p->im = 0;
    p->bt++;
}

static hal_dma_id dma2d(gemm_job *j, void *dst, const void *src, unsigned row_bytes, unsigned rows,
                        unsigned dst_pitch, unsigned src_pitch)
{
    hal_dma_id id = hal_dma_copy_2d(dst, src, row_bytes, rows, dst_pitch * 4u, src_pitch * 4u);
    if (!id) j->dma_err = 1;
    return id;
}

/* Core 0: start the input copies of step p into buffer set `buf`. */
static void fetch(gemm_job *j, const step_pos *p, unsigned buf)
{
    const et_gemm_args *g = j->g;
    unsigned m0 = p->im * j->t.mt, n0 = p->in * j->t.nt, k0 = p->ik * j->t.kt;
    unsigned mc = min_u(j->t.mt, g->m - m0), nc = min_u(j->t.nt, g->n - n0);
    unsigned kc = min_u(j->t.kt, g->k - k0);
    const float *a = j->a + p->bt * j->sa, *b = j->b + p->bt * j->sb;
    hal_dma_id *pend = j->in_pend[buf];
    if (g->trans_a)
        pend[0] = dma2d(j, j->abuf[buf], a + (size_t)k0 * j->lda + m0, mc * 4u, kc, GEMM_PX, j->lda);
    else
        pend[0] = dma2d(j, j->abuf[buf], a + (size_t)m0 * j->lda + k0, kc * 4u, mc, GEMM_P, j->lda);
    if (g->trans_b)
        pend[1] = dma2d(j, j->bbuf[buf], b + (size_t)n0 * j->ldb + k0, kc * 4u, nc, GEMM_P, j->ldb);
    else
        pend[1] = dma2d(j, j->bbuf[buf], b + (size_t)k0 * j->ldb + n0, nc * 4u, kc, GEMM_PX, j->ldb);
    pend[2] = pend[3] = 0;
    if (p->ik != 0) return;
    if (j->bias) pend[2] = hal_dma_copy_1d(j->qbuf[buf], j->bias + n0, nc * 4u);
    if (g->accumulate) { /* the Y tile's old contents, into the Y buffer once it is free */
        unsigned yb = p->tile & 1u;
        hal_dma_wait(j->out_pend[yb]);
        j->out_pend[yb] = 0;
        pend[3] = dma2d(j, j->ybuf[yb], j->y + p->bt * j->sy + (size_t)m0 * j->ldy + n0, nc * 4u,
                        mc, j->t.nt, j->ldy);
    }
}

/* Core 0: write back the finished output tile of step p. */
static void store(gemm_job *j, const step_pos *p)
{
    const et_gemm_args *g = j->g;
    unsigned m0 = p->im * j->t.mt, n0 = p->in * j->t.nt;
    unsigned mc = min_u(j->t.mt, g->m - m0), nc = min_u(j->t.nt, g->n - n0);
    unsigned yb = p->tile & 1u;
    j->out_pend[yb] = dma2d(j, j->y + p->bt * j->sy + (size_t)m0 * j->ldy + n0, j->ybuf[yb],
                            nc * 4u, mc, j->ldy, j->t.nt);
}

/* This core's blocks of step p. */
static void compute(const gemm_job *j, const step_pos *p, unsigned buf, unsigned id, unsigned ncores)
{
    const et_gemm_args *g = j->g;
    unsigned m0 = p->im * j->t.mt, n0 = p->in * j->t.nt, k0 = p->ik * j->t.kt;
    unsigned mc = min_u(j->t.mt, g->m - m0), nc = min_u(j->t.nt, g->n - n0);
    unsigned kc = min_u(j->t.kt, g->k - k0);
    unsigned nbm = (mc + GEMM_MR - 1) / GEMM_MR, nbn = (nc + GEMM_NR - 1) / GEMM_NR;
    gemm_ep ep;
    ep.alpha = g->alpha;
    const float *bias = j->bias && !p->ik ? j->qbuf[buf] : NULL;
    ep.mode = p->ik ? GEMM_ADD
                    : (g->accumulate ? (bias ? GEMM_ADDB : GEMM_ADD) : (bias ? GEMM_SET : GEMM_SCALE));
    const gemm_mk_fn *mks = gemm_micro[(g->trans_a ? 2 : 0) + (g->trans_b ? 1 : 0)];
    float *ytile = j->ybuf[p->tile & 1u];
    unsigned ldc = j->t.nt;
    unsigned bi = 0, bj = id;
    while (bj >= nbn) bj -= nbn, ++bi;
    for (; bi < nbm;) {
        unsigned r0 = bi * GEMM_MR, c0 = bj * GEMM_NR;
        const float *pa = g->trans_a ? j->abuf[buf] + r0 : j->abuf[buf] + r0 * GEMM_P;
        const float *pb = g->trans_b ? j->bbuf[buf] + (c0 + 2) * GEMM_P : j->bbuf[buf] + c0;
        ep.mr = min_u(GEMM_MR, mc - r0);
        ep.nr = min_u(GEMM_NR, nc - c0);
        ep.bias = bias ? bias + c0 : NULL;
        mks[ep.nr > 4 ? 0 : ep.nr > 2 ? 1 : 2](pa, pb, kc, ytile + r0 * ldc + c0, ldc, &ep);
        bj += ncores;
        while (bj >= nbn) bj -= nbn, ++bi;
    }
}

static void gemm_worker(void *arg)
{
    gemm_job *j = arg;
    unsigned id = hal_cluster_core_id(), ncores = hal_cluster_num_cores();
    step_pos cur = {0}, next = {0}, prev = {0};
    if (id == 0) fetch(j, &cur, 0);
    for (unsigned s = 0; s < j->steps; ++s) {
        unsigned buf = s & 1u;
        if (id == 0) {
            for (unsigned q = 0; q < 4; ++q) hal_dma_wait(j->in_pend[buf][q]);
            if (cur.ik == 0 && !j->g->accumulate) { /* Y buffer must have been written back */
                hal_dma_wait(j->out_pend[cur.tile & 1u]);
                j->out_pend[cur.tile & 1u] = 0;
            }
        }
        hal_cluster_barrier(); /* step s is in L1 and every core is done with step s-1 */
        next = cur;
        advance(j, &next);
        if (id == 0) {
            if (s && prev.tile != cur.tile) store(j, &prev);
            if (s + 1 < j->steps) fetch(j, &next, buf ^ 1u);
        }
        compute(j, &cur, buf, id, ncores);
        prev = cur;
        cur = next;
    }
    hal_cluster_barrier();
    if (id == 0) {
        store(j, &prev);
        hal_dma_wait(j->out_pend[0]);
        hal_dma_wait(j->out_pend[1]);
    }
}

et_status et_gemm_fwd_f32(const et_ctx *ctx, const et_gemm_args *g, const float *a,
                          const float *b, const float *bias, float *y)
{
    if (!ctx || !g || !a || !b || !y || !ctx->l1 || ((uintptr_t)ctx->l1 & 7u)) return ET_ERR_ARG;
    if (!g->m || !g->n || !g->k || !g->batch) return ET_ERR_ARG;
    unsigned ncores = ctx->ncores ? ctx->ncores : hal_cluster_max_cores();
    if (ncores > hal_cluster_max_cores()) return ET_ERR_ARG;
    static gemm_job j; /* shared with the team; forks do not nest */
    j.lda = g->lda ? g->lda : (g->trans_a ? g->m : g->k);
    j.ldb = g->ldb ? g->ldb : (g->trans_b ? g->k : g->n);
    j.ldy = g->ldy ? g->ldy : g->n;
    if (j.lda < (g->trans_a ? g->m : g->k) || j.ldb < (g->trans_b ? g->k : g->n) || j.ldy < g->n)
        return ET_ERR_ARG;
    if (gemm_plan(g, ctx->l1_bytes, &j.t)) return ET_ERR_ARG;
    j.g = g;
    j.a = a;
    j.b = b;
    j.bias = bias;
    j.y = y;
    j.sa = g->stride_a;
    j.sb = g->stride_b;
    j.sy = g->stride_y ? g->stride_y : (size_t)g->m * j.ldy;
    j.nm = (g->m + j.t.mt - 1) / j.t.mt;
    j.nn = (g->n + j.t.nt - 1) / j.t.nt;
    j.nk = (g->k + j.t.kt - 1) / j.t.kt;
    j.steps = g->batch * j.nm * j.nn * j.nk;
    float *p = ctx->l1;
    for (unsigned q = 0; q < 2; ++q) {
        j.abuf[q] = p, p += j.t.a_words;
        j.bbuf[q] = p, p += j.t.b_words;
        j.ybuf[q] = p, p += j.t.y_words;
        j.qbuf[q] = p, p += j.t.bias_words;
        j.out_pend[q] = 0;
    }
    j.dma_err = 0;
    if (hal_cluster_fork(ncores, gemm_worker, &j) != ET_OK) return ET_ERR_ARG;
    return j.dma_err ? ET_ERR_HW : ET_OK;
}
