/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the activation kernels (ReLU, GELU) and the fast-math evaluators. */
#include "et_activations.h"
#include "et_fastmath.h"
#include "ktest.h"

/* ints: n; tensors: x, y */
static int op_relu_fwd(const kt_call *c)
{
    KT_EXPECT(c, 1, 2);
    return et_relu_fwd_f32(c->ctx, c->t[0], c->t[1], (size_t)c->ints[0]);
}
KT_OP("relu.fwd", op_relu_fwd);

/* ints: n; tensors: x, dy, dx */
static int op_relu_bwd(const kt_call *c)
{
    KT_EXPECT(c, 1, 3);
    return et_relu_bwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], (size_t)c->ints[0]);
}
KT_OP("relu.bwd", op_relu_bwd);

/* ints: n, mode; tensors: x, y */
static int op_gelu_fwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 2);
    return et_gelu_fwd_f32(c->ctx, (et_gelu_mode)c->ints[1], c->t[0], c->t[1], (size_t)c->ints[0]);
}
KT_OP("gelu.fwd", op_gelu_fwd);

/* ints: n, mode; tensors: x, dy, dx */
static int op_gelu_bwd(const kt_call *c)
{
    KT_EXPECT(c, 2, 3);
    return et_gelu_bwd_f32(c->ctx, (et_gelu_mode)c->ints[1], c->t[0], c->t[1], c->t[2],
                           (size_t)c->ints[0]);
}
KT_OP("gelu.bwd", op_gelu_bwd);

/* ints: n, fn (0 exp, 1 erf, 2 tanh, 3 recip); tensors: x, y */
static int op_fastmath(const kt_call *c)
{
    KT_EXPECT(c, 2, 2);
    return et_fastmath_eval_f32(c->ctx, (et_fastmath_fn)c->ints[1], c->t[0], c->t[1], (size_t)c->ints[0]);
}
KT_OP("fastmath.eval", op_fastmath);
