/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handlers for the conv2d kernels (geometry in ints: n, c_in, h, w, c_out, kh, kw, sh,
 * sw, ph, pw[, groups[, accumulate]]). */
#include "et_conv2d.h"
#include "ktest.h"

/* 11 geometry ints, 12 with groups, 13 with accumulate */
#define CV_EXPECT(c, nt)                                                                        \
    do {                                                                                        \
        if ((c)->nints < 11 || (c)->nints > 13 || (c)->ntensors != (nt)) return KT_ERR_PROTO;   \
    } while (0)

static et_conv2d_args cv_args(const kt_call *c)
{
    const int32_t *i = c->ints;
    et_conv2d_args a = {(size_t)i[0], (size_t)i[1], (size_t)i[2], (size_t)i[3], (size_t)i[4],
                        (size_t)i[5], (size_t)i[6], (size_t)i[7], (size_t)i[8], (size_t)i[9],
                        (size_t)i[10], c->nints > 11 ? (size_t)i[11] : 0, c->nints > 12 ? i[12] : 0};
    return a;
}

/* tensors: x, w, b (or NULL), y */
static int op_cv_fwd(const kt_call *c)
{
    CV_EXPECT(c, 4);
    et_conv2d_args a = cv_args(c);
    return et_conv2d_fwd_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2], c->t[3]);
}
KT_OP("conv2d.fwd", op_cv_fwd);

/* tensors: w, dy, dx */
static int op_cv_igrad(const kt_call *c)
{
    CV_EXPECT(c, 3);
    et_conv2d_args a = cv_args(c);
    return et_conv2d_bwd_igrad_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2]);
}
KT_OP("conv2d.bwd_igrad", op_cv_igrad);

/* tensors: x, dy, dw */
static int op_cv_wgrad(const kt_call *c)
{
    CV_EXPECT(c, 3);
    et_conv2d_args a = cv_args(c);
    return et_conv2d_bwd_wgrad_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2]);
}
KT_OP("conv2d.bwd_wgrad", op_cv_wgrad);

/* tensors: dy, db */
static int op_cv_bgrad(const kt_call *c)
{
    CV_EXPECT(c, 2);
    et_conv2d_args a = cv_args(c);
    return et_conv2d_bwd_bgrad_f32(c->ctx, &a, c->t[0], c->t[1]);
}
KT_OP("conv2d.bwd_bgrad", op_cv_bgrad);

/* tensors: out[1] = et_conv2d_scratch_size() in bytes */
static int op_cv_scratch(const kt_call *c)
{
    CV_EXPECT(c, 1);
    et_conv2d_args a = cv_args(c);
    if (!c->t[0] || c->tlen[0] < 1) return ET_ERR_ARG;
    c->t[0][0] = (float)et_conv2d_scratch_size(&a);
    return ET_OK;
}
KT_OP("conv2d.scratch", op_cv_scratch);

/* depthwise: ints planes, c, c0, h, w, kh, kw, sh, sw, ph, pw */
static et_dwconv2d_args dw_args(const int32_t *i)
{
    et_dwconv2d_args a = {(size_t)i[0], (size_t)i[1], (size_t)i[2], (size_t)i[3], (size_t)i[4],
                          (size_t)i[5], (size_t)i[6], (size_t)i[7], (size_t)i[8], (size_t)i[9],
                          (size_t)i[10], 0};
    return a;
}

/* tensors: x, w, b (or NULL), y */
static int op_dw_fwd(const kt_call *c)
{
    KT_EXPECT(c, 11, 4);
    et_dwconv2d_args a = dw_args(c->ints);
    return et_dwconv2d_fwd_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2], c->t[3]);
}
KT_OP("dwconv2d.fwd", op_dw_fwd);

/* tensors: w, dy, dx */
static int op_dw_igrad(const kt_call *c)
{
    KT_EXPECT(c, 11, 3);
    et_dwconv2d_args a = dw_args(c->ints);
    return et_dwconv2d_bwd_igrad_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2]);
}
KT_OP("dwconv2d.bwd_igrad", op_dw_igrad);

/* ints: the geometry[, accumulate]; tensors: x, dy, dw (or NULL), db (or NULL) */
static int op_dw_wgrad(const kt_call *c)
{
    if ((c->nints != 11 && c->nints != 12) || c->ntensors != 4) return KT_ERR_PROTO;
    et_dwconv2d_args a = dw_args(c->ints);
    a.accumulate = c->nints > 11 ? c->ints[11] : 0;
    return et_dwconv2d_bwd_wgrad_f32(c->ctx, &a, c->t[0], c->t[1], c->t[2], c->t[3]);
}
KT_OP("dwconv2d.bwd_wgrad", op_dw_wgrad);
