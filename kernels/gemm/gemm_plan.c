/* SPDX-License-Identifier: Apache-2.0 */
/* GEMM tile planner: picks the L1 tile sizes (mt x nt x kt) from the scratch size, and the
 * scratch size that gives the largest useful tiles. Refer to et_gemm.h for the public API. */
#include "gemm_internal.h"

static unsigned min_u(unsigned a, unsigned b) { return a < b ? a : b; }
static unsigned up(unsigned v, unsigned q) { return (v + q - 1) / q * q; }

/* Words of each buffer for tiles mt x nt x kt (buffers are rounded to 8 bytes). */
static void sizes(const et_gemm_args *g, gemm_tiles *t)
{
    unsigned a_rows = g->trans_a ? t->kt : up(t->mt, GEMM_MR);
    unsigned b_rows = g->trans_b ? up(t->nt, GEMM_NR) : t->kt;
    t->a_words = (size_t)a_rows * (g->trans_a ? GEMM_PX : GEMM_P) + GEMM_SLACK;
    t->b_words = (size_t)b_rows * (g->trans_b ? GEMM_P : GEMM_PX) + GEMM_SLACK;
    t->y_words = up(t->mt * t->nt, 2);
    t->bias_words = up(t->nt, GEMM_NR) + GEMM_SLACK;
}

static size_t total_bytes(const gemm_tiles *t)
{
    return 2u * 4u * (t->a_words + t->b_words + t->y_words + t->bias_words);
}

/* Largest mt (a multiple of 4, <= cap) that fits with nt, kt; 0 if not even 4. Bytes grow
 * linearly in mt, so evaluate at mt = 4 and mt = 8 and solve. */
static unsigned fit_mt(const et_gemm_args *g, gemm_tiles *t, size_t bytes, unsigned cap)
{
    t->mt = 4;
    sizes(g, t);
    size_t b4 = total_bytes(t);
    if (b4 > bytes) return 0;
    t->mt = 8;
    sizes(g, t);
    size_t per4 = total_bytes(t) - b4; /* bytes per 4 more rows */
    unsigned mt = 4 + (unsigned)((bytes - b4) / (per4 ? per4 : 1)) * 4u;
    return min_u(mt, cap);
}

int gemm_plan(const et_gemm_args *g, size_t l1_bytes, gemm_tiles *t)
{
    unsigned mcap = min_u(up(g->m, GEMM_MR), g->trans_a ? GEMM_PX : GEMM_P);
    unsigned ncap = g->trans_b ? GEMM_P : GEMM_PX;
    t->kt = min_u(g->k, GEMM_P);
    t->nt = min_u(g->n, ncap);
    for (;;) {
        unsigned mt = fit_mt(g, t, l1_bytes, mcap);
        if (mt >= min_u(mcap, 16u) || (mt && t->kt <= 4 && t->nt <= GEMM_NR)) {
            unsigned tiles = (g->m + mt - 1) / mt; /* even out the row tiles */
            t->mt = min_u(up((g->m + tiles - 1) / tiles, GEMM_MR), mt);
            unsigned ntl = (g->n + t->nt - 1) / t->nt;
            unsigned nt = up((g->n + ntl - 1) / ntl, GEMM_NR);
            t->nt = min_u(nt, t->nt);
            sizes(g, t);
            return 0;
        }
        if (t->kt > 4)
            t->kt = (t->kt + 1) / 2;
        else if (t->nt > GEMM_NR)
            t->nt = up(t->nt / 2, GEMM_NR);
        else if (!mt)
            return -1;
    }
}

size_t et_gemm_scratch_size(const et_gemm_args *args)
{
    if (!args) return 0;
    gemm_tiles t;
    t.mt = min_u(up(args->m, GEMM_MR), args->trans_a ? GEMM_PX : GEMM_P);
    t.nt = min_u(args->n, args->trans_b ? GEMM_P : GEMM_PX);
    t.kt = min_u(args->k, GEMM_P);
    sizes(args, &t);
    return total_bytes(&t);
}

et_gemm_args et_gemm_args_init(unsigned m, unsigned n, unsigned k, int trans_a, int trans_b)
{
    et_gemm_args g = {0};
    g.m = m;
    g.n = n;
    g.k = k;
    g.batch = 1;
    g.trans_a = trans_a;
    g.trans_b = trans_b;
    g.alpha = 1.0f;
    return g;
}
