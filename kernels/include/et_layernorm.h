/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_layernorm.h
 *  @brief Layer normalization over the last axis of a [rows, dim] fp32 matrix, forward and backward.
 *
 *  Forward: y = (x - mean) * rstd * gamma + beta with rstd = 1/sqrt(var + eps), var biased
 *  (PyTorch nn.LayerNorm). mean and rstd per row are saved for the backward pass. Mean and
 *  variance use two passes over the row (no cancellation of E[x^2] - E[x]^2).
 *  Backward: dx by rows, dgamma/dbeta by columns (each core owns a column range and sums
 *  over all rows in order), so every output is independent of the core count.
 *  BatchNorm in training mode reuses the forward over channel rows; et_batchnorm_running_f32
 *  then updates the running statistics from the saved mean and rstd.
 *  Operands are used where they are (L2 or L1): each row is touched 2-3 times in a streaming
 *  pattern; ctx->l1 is unused. Called from core 0 outside a fork; outputs untouched on error.
 */
#ifndef ET_LAYERNORM_H
#define ET_LAYERNORM_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/**
 * @brief LayerNorm forward.
 * @param[in]  ctx   execution context
 * @param[in]  x     input, fp32 [rows, dim]
 * @param[in]  gamma scale, fp32 [dim], or NULL for 1 (no affine scale)
 * @param[in]  beta  shift, fp32 [dim], or NULL for 0
 * @param[out] y     output, fp32 [rows, dim]; may be x
 * @param[out] mean  per-row mean, fp32 [rows] (saved for backward)
 * @param[out] rstd  per-row 1/sqrt(var + eps), fp32 [rows] (saved for backward)
 * @param[in]  rows  number of rows (> 0)
 * @param[in]  dim   normalized length (> 0)
 * @param[in]  eps   variance epsilon (>= 0; PyTorch default 1e-5)
 * @return ET_OK, or ET_ERR_ARG (NULL x/y/mean/rstd, zero size, eps < 0, bad ncores).
 */
et_status et_layernorm_fwd_f32(const et_ctx *ctx, const float *x, const float *gamma,
                               const float *beta, float *y, float *mean, float *rstd, size_t rows,
                               size_t dim, float eps);

/**
 * @brief LayerNorm backward: any of dx, dgamma and dbeta (overwritten, not accumulated). The
 *        weight gradients alone (dx NULL) read neither gamma nor rows of dx: the training
 *        graph's weight-gradient call.
 * @param[in]  ctx    execution context
 * @param[in]  x      forward input, fp32 [rows, dim]
 * @param[in]  gamma  scale, fp32 [dim], or NULL for 1 (unused when dx is NULL)
 * @param[in]  mean   saved mean, fp32 [rows]
 * @param[in]  rstd   saved rstd, fp32 [rows]
 * @param[in]  dy     gradient of y, fp32 [rows, dim]
 * @param[out] dx     gradient of x, fp32 [rows, dim] (must not alias x or dy), or NULL to skip
 * @param[out] dgamma gradient of gamma, fp32 [dim], or NULL to skip
 * @param[out] dbeta  gradient of beta, fp32 [dim], or NULL to skip
 * @param[in]  rows   number of rows (> 0)
 * @param[in]  dim    normalized length (> 0)
 * @return ET_OK or ET_ERR_ARG (also when dx, dgamma and dbeta are all NULL).
 */
et_status et_layernorm_bwd_f32(const et_ctx *ctx, const float *x, const float *gamma,
                               const float *mean, const float *rstd, const float *dy, float *dx,
                               float *dgamma, float *dbeta, size_t rows, size_t dim);

/**
 * @brief LayerNorm weight gradients alone: dgamma = sum over rows of dy * xhat, dbeta = sum of
 *        dy, overwritten or, with @p accumulate, added to what they hold. The sums run over the
 *        rows in order, so calls on consecutive chunks of rows (the first without accumulate,
 *        the others with) give bit for bit the result of one call on all rows.
 * @param[in]     ctx        execution context
 * @param[in]     x          forward input, fp32 [rows, dim]
 * @param[in]     mean       saved mean, fp32 [rows]
 * @param[in]     rstd       saved rstd, fp32 [rows]
 * @param[in]     dy         gradient of y, fp32 [rows, dim]
 * @param[in,out] dgamma     gradient of gamma, fp32 [dim], or NULL to skip
 * @param[in,out] dbeta      gradient of beta, fp32 [dim], or NULL to skip
 * @param[in]     rows       number of rows (> 0)
 * @param[in]     dim        normalized length (> 0)
 * @param[in]     accumulate 0: overwrite; else add to dgamma and dbeta
 * @return ET_OK or ET_ERR_ARG (also when dgamma and dbeta are both NULL).
 */
et_status et_layernorm_bwd_wgrad_f32(const et_ctx *ctx, const float *x, const float *mean,
                                     const float *rstd, const float *dy, float *dgamma,
                                     float *dbeta, size_t rows, size_t dim, int accumulate);

/**
 * @brief BatchNorm's running statistics in training mode, from the statistics a layernorm
 *        forward saved over the channel rows [channels, count] (PyTorch's update):
 *        running = (1 - momentum) running + momentum * batch, with the unbiased batch variance
 *        (1/rstd^2 - eps) * count / (count - 1).
 * @param[in]     ctx          execution context (core 0 computes; no fork)
 * @param[in]     mean         saved mean per channel, fp32 [channels]
 * @param[in]     rstd         saved 1/sqrt(var + eps) per channel, fp32 [channels]
 * @param[in]     channels     number of channels (> 0)
 * @param[in]     count        values per channel the statistics came from (>= 2)
 * @param[in]     eps          the layernorm's epsilon (>= 0)
 * @param[in]     momentum     PyTorch's momentum, in [0, 1] (ONNX's is 1 - it)
 * @param[in,out] running_mean fp32 [channels]
 * @param[in,out] running_var  fp32 [channels]
 * @return ET_OK or ET_ERR_ARG (NULL pointer, zero channels, count < 2, bad eps or momentum).
 */
et_status et_batchnorm_running_f32(const et_ctx *ctx, const float *mean, const float *rstd,
                                   size_t channels, size_t count, float eps, float momentum,
                                   float *running_mean, float *running_var);

#endif /* ET_LAYERNORM_H */
