/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_pool.h
 *  @brief Pooling, fp32: 2-D max-pool (argmax saved or recomputed), average pooling over an
 *  axis (global average pooling), and CCT sequence pooling; forward and backward.
 *
 *  Max-pool works per plane ([N*C][H][W]): each core owns whole planes, so overlapping windows
 *  never race in the backward scatter and results are independent of the core count.
 *  Pooling reads each input a few times with no cross-plane reuse, so operands are used where
 *  they are (L2 or L1); ctx->l1 is unused. Called from core 0 outside a fork; outputs
 *  untouched on ET_ERR_ARG.
 */
#ifndef ET_POOL_H
#define ET_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "et_ctx.h"
#include "et_status.h"

/** Geometry of a 2-D max-pool over planes = N*C planes of h x w (NCHW). */
typedef struct {
    size_t planes;      /**< N * C */
    size_t h, w;        /**< input plane size */
    size_t kh, kw;      /**< window (> 0) */
    size_t sh, sw;      /**< stride (> 0) */
    size_t ph, pw;      /**< padding (acts as -inf), each <= window / 2 (PyTorch rule) */
} et_maxpool2d_args;

/** @brief Output height (h + 2 ph - kh) / sh + 1 (0 if the window does not fit). */
size_t et_maxpool2d_out_h(const et_maxpool2d_args *a);
/** @brief Output width (w + 2 pw - kw) / sw + 1 (0 if the window does not fit). */
size_t et_maxpool2d_out_w(const et_maxpool2d_args *a);

/**
 * @brief Max-pool forward (padding acts as -inf; first maximum in row-major window order wins).
 * @param[in]  ctx  execution context
 * @param[in]  a    geometry
 * @param[in]  x    fp32 [planes, h, w]
 * @param[out] y    fp32 [planes, ho, wo]
 * @param[out] idx  int32 [planes, ho, wo]: flat index iy * w + ix of the maximum in its plane
 *                  (PyTorch's return_indices), or NULL to recompute it in the backward pass
 * @return ET_OK, or ET_ERR_ARG (NULL x/y, zero size, window larger than the padded input,
 *         padding > window/2, bad ncores).
 */
et_status et_maxpool2d_fwd_f32(const et_ctx *ctx, const et_maxpool2d_args *a, const float *x,
                               float *y, int32_t *idx);

/**
 * @brief Max-pool backward: dx = 0, then dx[argmax] += dy for every output.
 * @param[in]  ctx  execution context
 * @param[in]  a    geometry
 * @param[in]  x    forward input fp32 [planes, h, w] (used only when idx is NULL; may be NULL otherwise)
 * @param[in]  idx  saved indices from the forward pass, or NULL to recompute from x
 * @param[in]  dy   fp32 [planes, ho, wo]
 * @param[out] dx   fp32 [planes, h, w] (must not alias x or dy)
 * @return ET_OK or ET_ERR_ARG (also when both x and idx are NULL).
 */
et_status et_maxpool2d_bwd_f32(const et_ctx *ctx, const et_maxpool2d_args *a, const float *x,
                               const int32_t *idx, const float *dy, float *dx);

/**
 * @brief Average over the middle axis: y[o, i] = mean_l x[o, l, i]. Global average pooling of
 *        NCHW is (outer = N*C, len = H*W, inner = 1); the token mean of [B, T, D] is
 *        (outer = B, len = T, inner = D).
 * @param[in]  ctx   execution context
 * @param[in]  x     fp32 [outer, len, inner]
 * @param[out] y     fp32 [outer, inner]
 * @param[in]  outer,len,inner sizes (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_avgpool_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t outer, size_t len,
                             size_t inner);

/**
 * @brief Average-pool backward: dx[o, l, i] = dy[o, i] / len.
 * @param[in]  ctx   execution context
 * @param[in]  dy    fp32 [outer, inner]
 * @param[out] dx    fp32 [outer, len, inner]
 * @param[in]  outer,len,inner sizes (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_avgpool_bwd_f32(const et_ctx *ctx, const float *dy, float *dx, size_t outer, size_t len,
                             size_t inner);

/**
 * @brief CCT sequence pooling forward: w[b, :] = softmax_t(s[b, :]), y[b, :] = sum_t w[b, t] x[b, t, :].
 *        The scores s come from the linear layer D -> 1 applied to every token (a GEMM).
 * @param[in]  ctx   execution context
 * @param[in]  x     tokens, fp32 [batch, tokens, dim]
 * @param[in]  s     scores, fp32 [batch, tokens]
 * @param[out] w     attention weights, fp32 [batch, tokens] (saved for backward)
 * @param[out] y     pooled, fp32 [batch, dim]
 * @param[in]  batch,tokens,dim sizes (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_seqpool_fwd_f32(const et_ctx *ctx, const float *x, const float *s, float *w, float *y,
                             size_t batch, size_t tokens, size_t dim);

/**
 * @brief Sequence pooling backward: dx[b, t, :] = w[b, t] dy[b, :];
 *        g[b, t] = <dy[b, :], x[b, t, :]>; ds[b, t] = w[b, t] (g[b, t] - sum_t' w[b, t'] g[b, t']).
 * @param[in]  ctx   execution context
 * @param[in]  x     forward tokens, fp32 [batch, tokens, dim]
 * @param[in]  w     saved weights, fp32 [batch, tokens]
 * @param[in]  dy    fp32 [batch, dim]
 * @param[out] dx    fp32 [batch, tokens, dim] (must not alias x)
 * @param[out] ds    gradient of the scores, fp32 [batch, tokens]
 * @param[in]  batch,tokens,dim sizes (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_seqpool_bwd_f32(const et_ctx *ctx, const float *x, const float *w, const float *dy,
                             float *dx, float *ds, size_t batch, size_t tokens, size_t dim);

#endif /* ET_POOL_H */
