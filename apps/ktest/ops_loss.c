/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the losses (labels travel as a tensor of int32 bit patterns, since the
 * request carries at most 64 ints). */
#include "et_loss.h"
#include "ktest.h"

/* ints: batch, classes; tensors: logits, labels (int32 bits), loss[1] */
static int op_xent_fwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 3);
    return et_softmax_xent_fwd_f32(c->ctx, c->t[0], (const int32_t *)(const void *)c->t[1], c->t[2],
                                   (size_t)c->ints[0], (size_t)c->ints[1]);
}
KT_OP("xent.fwd", op_xent_fwd);

/* ints: batch, classes; floats: dloss; tensors: logits, labels (int32 bits), dlogits */
static int op_xent_bwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 3);
    if (c->nfloats != 1) return KT_ERR_PROTO;
    return et_softmax_xent_bwd_f32(c->ctx, c->t[0], (const int32_t *)(const void *)c->t[1],
                                   c->floats[0], c->t[2], (size_t)c->ints[0], (size_t)c->ints[1]);
}
KT_OP("xent.bwd", op_xent_bwd);

/* ints: n; tensors: pred, target, loss[1] */
static int op_mse_fwd(const kt_call *c)
{
    KT_EXPECT(c, 1, 3);
    return et_mse_fwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], (size_t)c->ints[0]);
}
KT_OP("mse.fwd", op_mse_fwd);

/* ints: n; floats: dloss; tensors: pred, target, dpred */
static int op_mse_bwd(const kt_call *c)
{
    KT_EXPECT(c, 1, 3);
    if (c->nfloats != 1) return KT_ERR_PROTO;
    return et_mse_bwd_f32(c->ctx, c->t[0], c->t[1], c->floats[0], c->t[2], (size_t)c->ints[0]);
}
KT_OP("mse.bwd", op_mse_bwd);
