/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for broadcast add/mul, their gradients, transpose and permute. */
#include "et_elementwise.h"
#include "ktest.h"

/* ints: mode, rows, cols; tensors: a, b, y */
static int op_add_fwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 3);
    return et_add_fwd_f32(c->ctx, (et_bcast)c->ints[0], c->t[0], c->t[1], c->t[2],
                          (size_t)c->ints[1], (size_t)c->ints[2]);
}
KT_OP("add.fwd", op_add_fwd);

static int op_mul_fwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 3);
    return et_mul_fwd_f32(c->ctx, (et_bcast)c->ints[0], c->t[0], c->t[1], c->t[2],
                          (size_t)c->ints[1], (size_t)c->ints[2]);
}
KT_OP("mul.fwd", op_mul_fwd);

/* ints: mode, rows, cols; tensors: dy, da, db */
static int op_add_bwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 3);
    return et_add_bwd_f32(c->ctx, (et_bcast)c->ints[0], c->t[0], c->t[1], c->t[2],
                          (size_t)c->ints[1], (size_t)c->ints[2]);
}
KT_OP("add.bwd", op_add_bwd);

/* ints: mode, rows, cols; tensors: a, b, dy, da, db */
static int op_mul_bwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 5);
    return et_mul_bwd_f32(c->ctx, (et_bcast)c->ints[0], c->t[0], c->t[1], c->t[2], c->t[3], c->t[4],
                          (size_t)c->ints[1], (size_t)c->ints[2]);
}
KT_OP("mul.bwd", op_mul_bwd);

/* ints: rows, cols; tensors: x, y */
static int op_transpose(const kt_call *c)
{
    KT_EXPECT(c, 2, 2);
    return et_transpose_fwd_f32(c->ctx, c->t[0], c->t[1], (size_t)c->ints[0], (size_t)c->ints[1]);
}
KT_OP("transpose.fwd", op_transpose);

/* ints: d0..d3, p0..p3; tensors: in, out */
static int op_permute(const kt_call *c, int bwd)
{
    KT_EXPECT(c, 8, 2);
    size_t d[4];
    unsigned p[4];
    for (unsigned k = 0; k < 4; ++k) d[k] = (size_t)c->ints[k], p[k] = (unsigned)c->ints[4 + k];
    return bwd ? et_permute_bwd_f32(c->ctx, c->t[0], c->t[1], d, p)
               : et_permute_fwd_f32(c->ctx, c->t[0], c->t[1], d, p);
}

static int op_permute_fwd(const kt_call *c) { return op_permute(c, 0); }
KT_OP("permute.fwd", op_permute_fwd);

static int op_permute_bwd(const kt_call *c) { return op_permute(c, 1); }
KT_OP("permute.bwd", op_permute_bwd);
