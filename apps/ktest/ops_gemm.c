/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the GEMM family (et_gemm.h): gemm.fwd and the linear layer's four
 * products. Argument order is documented per op; tests/kernels/test_gemm.py is the client. */
#include "et_gemm.h"
#include "ktest.h"

/* ints: m n k batch trans_a trans_b lda ldb ldy stride_a stride_b stride_y accumulate;
 * floats: alpha; tensors: a, b, bias (size 0: NULL), y */
static int op_gemm_fwd(const kt_call *c)
{
    KT_EXPECT(c, 13, 4);
    if (c->nfloats != 1) return KT_ERR_PROTO;
    const int32_t *v = c->ints;
    et_gemm_args g = et_gemm_args_init((unsigned)v[0], (unsigned)v[1], (unsigned)v[2], v[4], v[5]);
    g.batch = (unsigned)v[3];
    g.lda = (unsigned)v[6];
    g.ldb = (unsigned)v[7];
    g.ldy = (unsigned)v[8];
    g.stride_a = (size_t)v[9];
    g.stride_b = (size_t)v[10];
    g.stride_y = (size_t)v[11];
    g.accumulate = v[12];
    g.alpha = c->floats[0];
    return et_gemm_fwd_f32(c->ctx, &g, c->t[0], c->t[1], c->t[2], c->t[3]);
}
KT_OP("gemm.fwd", op_gemm_fwd);

static et_linear_args linear_args(const kt_call *c)
{
    et_linear_args l = {(unsigned)c->ints[0], (unsigned)c->ints[1], (unsigned)c->ints[2], c->ints[3]};
    return l;
}

/* ints: rows in out accumulate; tensors: x [rows][in], w [out][in], b [out] or empty, y */
static int op_linear_fwd(const kt_call *c)
{
    KT_EXPECT(c, 4, 4);
    et_linear_args l = linear_args(c);
    return et_linear_fwd_f32(c->ctx, &l, c->t[0], c->t[1], c->t[2], c->t[3]);
}
KT_OP("linear.fwd", op_linear_fwd);

/* ints: rows in out accumulate; tensors: dy [rows][out], w [out][in], dx [rows][in] */
static int op_linear_igrad(const kt_call *c)
{
    KT_EXPECT(c, 4, 3);
    et_linear_args l = linear_args(c);
    return et_linear_bwd_igrad_f32(c->ctx, &l, c->t[1], c->t[0], c->t[2]);
}
KT_OP("linear.bwd_igrad", op_linear_igrad);

/* ints: rows in out accumulate; tensors: dy [rows][out], x [rows][in], dw [out][in] */
static int op_linear_wgrad(const kt_call *c)
{
    KT_EXPECT(c, 4, 3);
    et_linear_args l = linear_args(c);
    return et_linear_bwd_wgrad_f32(c->ctx, &l, c->t[1], c->t[0], c->t[2]);
}
KT_OP("linear.bwd_wgrad", op_linear_wgrad);

/* ints: rows in out accumulate; tensors: dy [rows][out], db [out] */
static int op_linear_bgrad(const kt_call *c)
{
    KT_EXPECT(c, 4, 2);
    et_linear_args l = linear_args(c);
    return et_linear_bwd_bgrad_f32(c->ctx, &l, c->t[0], c->t[1]);
}
KT_OP("linear.bwd_bgrad", op_linear_bgrad);
