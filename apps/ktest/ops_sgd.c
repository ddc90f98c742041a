/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handler for the SGD step. */
#include "et_sgd.h"
#include "ktest.h"

/* ints: n, nesterov[, zero_grad]; floats: lr, momentum, weight_decay; tensors: p (in/out), g (in,
 * or in/out zeroed with zero_grad = 1: et_sgd_step_zero_grad_f32), v (in/out or NULL) */
static int op_sgd(const kt_call *c)
{
    KT_EXPECT(c, c->nints == 3 ? 3 : 2, 3);
    if (c->nfloats != 3) return KT_ERR_PROTO;
    et_sgd_args a = {c->floats[0], c->floats[1], c->floats[2], c->ints[1]};
    if (c->nints == 3 && c->ints[2])
        return et_sgd_step_zero_grad_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2], (size_t)c->ints[0]);
    return et_sgd_step_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2], (size_t)c->ints[0]);
}
KT_OP("sgd.step", op_sgd);
