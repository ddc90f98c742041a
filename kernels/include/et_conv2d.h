/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_conv2d.h
 *  @brief 2-D convolution (NCHW, any KxK, stride, zero padding), fp32: forward, input gradient,
 *  weight gradient and bias gradient, L1-tiled with double-buffered DMA.
 *
 *  Layouts: x [n, c_in, h, w], weights [c_out, c_in / groups, kh, kw], bias [c_out],
 *  y [n, c_out, ho, wo] with ho = (h + 2 ph - kh) / sh + 1 (same for wo), all row-major fp32
 *  in L2 (or any memory the DMA reaches).
 *
 *  How it runs: the output is cut into tiles (a block of output channels x a block of output
 *  rows of one image for forward; input channels x input rows for dX; output channels for dW,
 *  accumulated over images and rows). Core 0 fetches the operands of tile k+1 into one half of
 *  ctx->l1 with hal_dma_copy_2d() while all cores compute tile k from the other half; the
 *  cores first build a zero-padded (dX: zero-dilated) slab and a repacked weight block in L1,
 *  then run a 4x4 register-blocked fmadd micro-kernel (4 channels x 4 output columns; dW:
 *  4 output x 4 input channels). Tile sizes are the largest that fit ctx->l1_bytes, chosen
 *  to minimise DMA traffic. Each output element is computed by one core with a fixed
 *  summation order, so results do not depend on the core count (dW sums images and rows in
 *  tile order, which depends on l1_bytes only). A grouped convolution runs group after group,
 *  each a dense one on its channel slices (one fork per group and direction).
 *
 *  Called from core 0 outside a fork. Arguments are validated first; on ET_ERR_ARG nothing is
 *  written. Gradients are overwritten (not accumulated).
 */
#ifndef ET_CONV2D_H
#define ET_CONV2D_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/** Geometry of a convolution. */
typedef struct {
    size_t n, c_in, h, w; /**< input batch, channels, height, width (> 0) */
    size_t c_out;         /**< output channels (> 0) */
    size_t kh, kw;        /**< kernel size (> 0) */
    size_t sh, sw;        /**< stride (> 0) */
    size_t ph, pw;        /**< zero padding, ph < kh and pw < kw */
    size_t groups;        /**< 0 or 1: dense; g > 1: grouped convolution, c_in and c_out
                               divisible by g, weights [c_out, c_in / g, kh, kw], output channel
                               group j reads input channel group j (ONNX Conv's group) */
    int accumulate;       /**< weight and bias gradients: 0 overwrite dw / db, else add to
                               them (the sums over a batch taken in chunks of images) */
} et_conv2d_args;

/** @brief Output height, or 0 if the geometry is invalid. */
size_t et_conv2d_out_h(const et_conv2d_args *a);
/** @brief Output width, or 0 if the geometry is invalid. */
size_t et_conv2d_out_w(const et_conv2d_args *a);

/**
 * @brief Smallest ctx->l1_bytes with which all four conv2d entry points run for this geometry
 *        (tiles of 1 row and up to 4 channels). More L1 gives larger tiles and less DMA traffic.
 * @return bytes, or 0 if the geometry is invalid.
 */
size_t et_conv2d_scratch_size(const et_conv2d_args *a);

/**
 * @brief y = conv(x, w) + b.
 * @param[in]  ctx  execution context: l1 (8-byte aligned) of at least et_conv2d_scratch_size() bytes
 * @param[in]  a    geometry
 * @param[in]  x    fp32 [n, c_in, h, w]
 * @param[in]  w    fp32 [c_out, c_in / groups, kh, kw]
 * @param[in]  b    fp32 [c_out], or NULL for no bias
 * @param[out] y    fp32 [n, c_out, ho, wo] (must not alias the inputs)
 * @return ET_OK, or ET_ERR_ARG (NULL tensor/ctx/l1, invalid geometry, L1 too small, bad ncores).
 */
et_status et_conv2d_fwd_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *x,
                            const float *w, const float *b, float *y);

/**
 * @brief dx = conv_transpose(dy, w): the gradient of the input.
 * @param[in]  ctx  execution context (as for the forward pass)
 * @param[in]  a    geometry
 * @param[in]  w    fp32 [c_out, c_in / groups, kh, kw]
 * @param[in]  dy   fp32 [n, c_out, ho, wo]
 * @param[out] dx   fp32 [n, c_in, h, w] (input positions no window covers get 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_conv2d_bwd_igrad_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *w,
                                  const float *dy, float *dx);

/**
 * @brief dw[co, ci, ky, kx] = sum over images and output positions of dy * x (the weight gradient).
 * @param[in]  ctx  execution context (as for the forward pass)
 * @param[in]  a    geometry
 * @param[in]  x    fp32 [n, c_in, h, w]
 * @param[in]  dy   fp32 [n, c_out, ho, wo]
 * @param[in,out] dw fp32 [c_out, c_in / groups, kh, kw] (read when a->accumulate)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_conv2d_bwd_wgrad_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *x,
                                  const float *dy, float *dw);

/**
 * @brief db[co] = sum over images and output positions of dy (channels split over the cores,
 *        dy streamed through per-core double-buffered L1 chunks).
 * @param[in]  ctx  execution context (l1 of at least et_conv2d_scratch_size() bytes)
 * @param[in]  a    geometry
 * @param[in]  dy   fp32 [n, c_out, ho, wo]
 * @param[in,out] db fp32 [c_out] (read when a->accumulate)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_conv2d_bwd_bgrad_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *dy,
                                  float *db);

/* --- depthwise convolution (groups = channels, one filter per channel) ---------------------- */

/**
 * Geometry of a depthwise 2-D convolution over `planes` planes of h x w (NCHW: n * c planes):
 * plane p is channel (c0 + p) % c, filtered by its own kh x kw weights w[channel] and bias
 * b[channel] (PyTorch nn.Conv2d with groups = in_channels = out_channels). A training program
 * runs it plane range by plane range through L1 (et_tile.h) with `planes` and `c0` of the
 * range; a whole call has planes = n * c, c0 = 0.
 *
 * Each plane is computed by one core (planes split over the cores), operands are used where
 * they are (L2 or L1) and ctx->l1 is unused; results do not depend on the core count.
 */
typedef struct {
    size_t planes, c, c0; /**< planes, channels (> 0), channel of plane 0 (< c) */
    size_t h, w;          /**< plane size (> 0) */
    size_t kh, kw;        /**< filter size (> 0) */
    size_t sh, sw;        /**< stride (> 0) */
    size_t ph, pw;        /**< zero padding, ph < kh and pw < kw */
    int accumulate;       /**< weight gradient: 0 overwrite dw / db, else add to them */
} et_dwconv2d_args;

/** @brief Output height (h + 2 ph - kh) / sh + 1, or 0 if the geometry is invalid. */
size_t et_dwconv2d_out_h(const et_dwconv2d_args *a);
/** @brief Output width, or 0 if the geometry is invalid. */
size_t et_dwconv2d_out_w(const et_dwconv2d_args *a);

/**
 * @brief Depthwise forward: y[p] = x[p] (*) w[ch(p)] + b[ch(p)].
 * @param[in]  x fp32 [planes, h, w]
 * @param[in]  w fp32 [c, kh, kw]
 * @param[in]  b fp32 [c], or NULL
 * @param[out] y fp32 [planes, ho, wo]
 * @return ET_OK or ET_ERR_ARG (NULL x/w/y, invalid geometry, bad ncores).
 */
et_status et_dwconv2d_fwd_f32(const et_ctx *ctx, const et_dwconv2d_args *a, const float *x,
                              const float *w, const float *b, float *y);

/**
 * @brief Depthwise input gradient: dx[p] = sum of w[ch(p)] * dy[p] over the windows covering
 *        each input (overwritten).
 * @param[in]  w  fp32 [c, kh, kw]
 * @param[in]  dy fp32 [planes, ho, wo]
 * @param[out] dx fp32 [planes, h, w] (must not alias dy)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_dwconv2d_bwd_igrad_f32(const et_ctx *ctx, const et_dwconv2d_args *a, const float *w,
                                    const float *dy, float *dx);

/**
 * @brief Depthwise weight and bias gradients, each summed over all planes of its channel in
 *        plane order: dw[ch] = sum_p dy[p] (x) x[p], db[ch] = sum_p sum dy[p], overwritten or
 *        (a->accumulate) added to what dw and db hold. Channels are split over the cores.
 * @param[in]  x  fp32 [planes, h, w] (the forward input)
 * @param[in]  dy fp32 [planes, ho, wo]
 * @param[in,out] dw fp32 [c, kh, kw], or NULL to skip
 * @param[in,out] db fp32 [c], or NULL to skip
 * @return ET_OK or ET_ERR_ARG (also when dw and db are both NULL).
 */
et_status et_dwconv2d_bwd_wgrad_f32(const et_ctx *ctx, const et_dwconv2d_args *a, const float *x,
                                    const float *dy, float *dw, float *db);

#endif /* ET_CONV2D_H */
