/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the LoRA kernels (et_lora.h); client: tests/kernels/test_lora.py. */
#include "et_lora.h"
#include "ktest.h"

static et_lora_args lora_args(const kt_call *c)
{
    et_lora_args l = {(unsigned)c->ints[0], (unsigned)c->ints[1], (unsigned)c->ints[2],
                      (unsigned)c->ints[3], c->floats[0], c->ints[4]};
    return l;
}

/* ints: rows in out rank accumulate; floats: scale; tensors: x, a, b, h, y */
static int op_lora_fwd(const kt_call *c)
{
    KT_EXPECT(c, 5, 5);
    if (c->nfloats != 1) return KT_ERR_PROTO;
    et_lora_args l = lora_args(c);
    return et_lora_fwd_f32(c->ctx, &l, c->t[0], c->t[1], c->t[2], c->t[3], c->t[4]);
}
KT_OP("lora.fwd", op_lora_fwd);

/* ints: rows in out rank accumulate; floats: scale;
 * tensors: x, a, b, h, dy, dh, dx (size 0: NULL), da, db */
static int op_lora_bwd(const kt_call *c)
{
    KT_EXPECT(c, 5, 9);
    if (c->nfloats != 1) return KT_ERR_PROTO;
    et_lora_args l = lora_args(c);
    float *const *t = c->t;
    return et_lora_bwd_f32(c->ctx, &l, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]);
}
KT_OP("lora.bwd", op_lora_bwd);
