/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the softmax kernels. */
#include "et_softmax.h"
#include "ktest.h"

/* ints: rows, cols; tensors: x, y */
static int op_softmax_fwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 2);
    return et_softmax_fwd_f32(c->ctx, c->t[0], c->t[1], (size_t)c->ints[0], (size_t)c->ints[1]);
}
KT_OP("softmax.fwd", op_softmax_fwd);

/* ints: rows, cols; tensors: y, dy, dx */
static int op_softmax_bwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 3);
    return et_softmax_bwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], (size_t)c->ints[0],
                              (size_t)c->ints[1]);
}
KT_OP("softmax.bwd", op_softmax_bwd);
