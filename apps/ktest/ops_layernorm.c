/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the layernorm kernels. */
#include "et_layernorm.h"
#include "ktest.h"

/* ints: rows, dim; floats: eps; tensors: x, gamma, beta, y, mean, rstd */
static int op_ln_fwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 6);
    if (c->nfloats != 1) return KT_ERR_PROTO;
    return et_layernorm_fwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], c->t[3], c->t[4], c->t[5],
                                (size_t)c->ints[0], (size_t)c->ints[1], c->floats[0]);
}
KT_OP("layernorm.fwd", op_ln_fwd);

/* ints: rows, dim; tensors: x, gamma, mean, rstd, dy, dx, dgamma, dbeta */
static int op_ln_bwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 8);
    return et_layernorm_bwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], c->t[3], c->t[4], c->t[5],
                                c->t[6], c->t[7], (size_t)c->ints[0], (size_t)c->ints[1]);
}
KT_OP("layernorm.bwd", op_ln_bwd);

/* ints: rows, dim, accumulate; tensors: x, mean, rstd, dy, dgamma, dbeta (in, out) */
static int op_ln_wgrad(const kt_call *c)
{
    KT_EXPECT(c, 3, 6);
    return et_layernorm_bwd_wgrad_f32(c->ctx, c->t[0], c->t[1], c->t[2], c->t[3], c->t[4],
                                      c->t[5], (size_t)c->ints[0], (size_t)c->ints[1],
                                      (int)c->ints[2]);
}
KT_OP("layernorm.wgrad", op_ln_wgrad);
