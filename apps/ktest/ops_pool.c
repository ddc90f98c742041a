/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for max-pool, average pooling and sequence pooling. Max-pool indices travel
 * in a float tensor used as int32 storage (the host views the returned bytes as int32). */
#include "et_pool.h"
#include "ktest.h"

static et_maxpool2d_args mp_args(const int32_t *i)
{
    et_maxpool2d_args a = {(size_t)i[0], (size_t)i[1], (size_t)i[2], (size_t)i[3], (size_t)i[4],
                           (size_t)i[5], (size_t)i[6], (size_t)i[7], (size_t)i[8]};
    return a;
}

/* ints: planes, h, w, kh, kw, sh, sw, ph, pw; tensors: x, y, idx (or NULL) */
static int op_mp_fwd(const kt_call *c)
{
    KT_EXPECT(c, 9, 3);
    et_maxpool2d_args a = mp_args(c->ints);
    return et_maxpool2d_fwd_f32(c->ctx, &a, c->t[0], c->t[1], (int32_t *)(void *)c->t[2]);
}
KT_OP("maxpool2d.fwd", op_mp_fwd);

/* ints: as forward; tensors: x (or NULL), idx (or NULL), dy, dx */
static int op_mp_bwd(const kt_call *c)
{
    KT_EXPECT(c, 9, 4);
    et_maxpool2d_args a = mp_args(c->ints);
    return et_maxpool2d_bwd_f32(c->ctx, &a, c->t[0], (const int32_t *)(const void *)c->t[1], c->t[2],
                                c->t[3]);
}
KT_OP("maxpool2d.bwd", op_mp_bwd);

/* ints: outer, len, inner; tensors: x, y */
static int op_avg_fwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 2);
    return et_avgpool_fwd_f32(c->ctx, c->t[0], c->t[1], (size_t)c->ints[0], (size_t)c->ints[1],
                              (size_t)c->ints[2]);
}
KT_OP("avgpool.fwd", op_avg_fwd);

/* ints: outer, len, inner; tensors: dy, dx */
static int op_avg_bwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 2);
    return et_avgpool_bwd_f32(c->ctx, c->t[0], c->t[1], (size_t)c->ints[0], (size_t)c->ints[1],
                              (size_t)c->ints[2]);
}
KT_OP("avgpool.bwd", op_avg_bwd);

/* ints: batch, tokens, dim; tensors: x, s, w, y */
static int op_sp_fwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 4);
    return et_seqpool_fwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], c->t[3], (size_t)c->ints[0],
                              (size_t)c->ints[1], (size_t)c->ints[2]);
}
KT_OP("seqpool.fwd", op_sp_fwd);

/* ints: batch, tokens, dim; tensors: x, w, dy, dx, ds */
static int op_sp_bwd(const kt_call *c)
{
    KT_EXPECT(c, 3, 5);
    return et_seqpool_bwd_f32(c->ctx, c->t[0], c->t[1], c->t[2], c->t[3], c->t[4],
                              (size_t)c->ints[0], (size_t)c->ints[1], (size_t)c->ints[2]);
}
KT_OP("seqpool.bwd", op_sp_bwd);
