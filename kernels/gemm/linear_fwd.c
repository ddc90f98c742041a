/* SPDX-License-Identifier: Apache-2.0 */
/* Linear layer forward, input gradient and weight gradient as GEMM calls (W is [out][in]):
 * Y = X·W^T + b (NT), dX = dY·W (NN), dW = dY^T·X (TN). Refer to et_gemm.h for the API. */
#include "et_gemm.h"
#include "gemm_internal.h"

static int bad(const et_linear_args *l) { return !l || !l->rows || !l->in || !l->out; }

et_status et_linear_fwd_f32(const et_ctx *ctx, const et_linear_args *l, const float *x,
                            const float *w, const float *b, float *y)
{
    if (bad(l)) return ET_ERR_ARG;
    et_gemm_args g = et_gemm_args_init(l->rows, l->out, l->in, 0, 1);
    g.accumulate = l->accumulate;
    return et_gemm_fwd_f32(ctx, &g, x, w, b, y);
}

et_status et_linear_bwd_igrad_f32(const et_ctx *ctx, const et_linear_args *l, const float *w,
                                  const float *dy, float *dx)
{
    if (bad(l)) return ET_ERR_ARG;
    et_gemm_args g = et_gemm_args_init(l->rows, l->in, l->out, 0, 0);
    g.accumulate = l->accumulate;
    return et_gemm_fwd_f32(ctx, &g, dy, w, NULL, dx);
}

et_status et_linear_bwd_wgrad_f32(const et_ctx *ctx, const et_linear_args *l, const float *x,
                                  const float *dy, float *dw)
{
    if (bad(l)) return ET_ERR_ARG;
    et_gemm_args g = et_gemm_args_init(l->out, l->in, l->rows, 1, 0);
    g.accumulate = l->accumulate;
    return et_gemm_fwd_f32(ctx, &g, dy, x, NULL, dw);
}

size_t et_linear_scratch_size(const et_linear_args *l)
{
    if (bad(l)) return 0;
    et_gemm_args f = et_gemm_args_init(l->rows, l->out, l->in, 0, 1);
    et_gemm_args i = et_gemm_args_init(l->rows, l->in, l->out, 0, 0);
    et_gemm_args w = et_gemm_args_init(l->out, l->in, l->rows, 1, 0);
    size_t s = et_gemm_scratch_size(&f), t = et_gemm_scratch_size(&i), u = et_gemm_scratch_size(&w);
    s = s > t ? s : t;
    return s > u ? s : u;
}
