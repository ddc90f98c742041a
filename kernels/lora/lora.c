/* SPDX-License-Identifier: Apache-2.0 */
/* LoRA adapter forward and backward as a chain of GEMMs (the rank is small, so the adapter is
 * two thin products; each runs tiled and parallel in et_gemm_fwd_f32). Refer to et_lora.h. */
#include "et_gemm.h"
#include "et_lora.h"
#include "hal.h"

static int bad_args(const et_ctx *ctx, const et_lora_args *l)
{
    if (!ctx || !l || !ctx->l1 || ctx->l1_bytes < ET_GEMM_SCRATCH_MIN) return 1;
    if (ctx->ncores > hal_cluster_max_cores()) return 1;
    return !l->rows || !l->in || !l->out || !l->rank;
}

static et_gemm_args prod(unsigned m, unsigned n, unsigned k, int ta, int tb, float alpha, int acc)
{
    et_gemm_args g = et_gemm_args_init(m, n, k, ta, tb);
    g.alpha = alpha;
    g.accumulate = acc;
    return g;
}

et_status et_lora_fwd_f32(const et_ctx *ctx, const et_lora_args *l, const float *x,
                          const float *a, const float *b, float *h, float *y)
{
    if (bad_args(ctx, l) || !x || !a || !b || !h || !y) return ET_ERR_ARG;
    et_gemm_args g1 = prod(l->rows, l->rank, l->in, 0, 0, 1.0f, 0);       /* H = X·A */
    et_gemm_args g2 = prod(l->rows, l->out, l->rank, 0, 0, l->scale, 1); /* Y += s·H·B */
    et_status st = et_gemm_fwd_f32(ctx, &g1, x, a, NULL, h);
    return st != ET_OK ? st : et_gemm_fwd_f32(ctx, &g2, h, b, NULL, y);
}

et_status et_lora_bwd_f32(const et_ctx *ctx, const et_lora_args *l, const float *x,
                          const float *a, const float *b, const float *h, const float *dy,
                          float *dh, float *dx, float *da, float *db)
{
    if (bad_args(ctx, l) || !x || !a || !b || !h || !dy || !dh || !da || !db) return ET_ERR_ARG;
    int acc = l->accumulate != 0;
    et_gemm_args g_dh = prod(l->rows, l->rank, l->out, 0, 1, l->scale, 0); /* s·dY·B^T */
    et_gemm_args g_db = prod(l->rank, l->out, l->rows, 1, 0, l->scale, acc); /* s·H^T·dY */
    et_gemm_args g_da = prod(l->in, l->rank, l->rows, 1, 0, 1.0f, acc);    /* X^T·dH */
    et_gemm_args g_dx = prod(l->rows, l->in, l->rank, 0, 1, 1.0f, 1);      /* dX += dH·A^T */
    et_status st = et_gemm_fwd_f32(ctx, &g_dh, dy, b, NULL, dh);
    if (st == ET_OK) st = et_gemm_fwd_f32(ctx, &g_db, h, dy, NULL, db);
    if (st == ET_OK) st = et_gemm_fwd_f32(ctx, &g_da, x, dh, NULL, da);
    if (st == ET_OK && dx) st = et_gemm_fwd_f32(ctx, &g_dx, dh, a, NULL, dx);
    return st;
}
