/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_loss.h
 *  @brief Losses, fp32: softmax cross-entropy with integer labels (mean over the batch) and
 *  mean squared error (mean over all elements), forward (loss value) and backward.
 *
 *  Rows (cross-entropy) or element ranges (MSE) are split over ctx->ncores cores; the loss is
 *  the in-order sum of per-core partial sums made by core 0, so it depends on the core count
 *  only through fp summation order. Gradients are exact per element (no reductions across
 *  cores). Operands are used where they are (streamed once or twice); ctx->l1 is unused.
 *  Called from core 0 outside a fork; outputs untouched on ET_ERR_ARG.
 */
#ifndef ET_LOSS_H
#define ET_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "et_ctx.h"
#include "et_status.h"

/**
 * @brief loss = mean_b (logsumexp(logits[b, :]) - logits[b, labels[b]]) (PyTorch CrossEntropyLoss).
 * @param[in]  ctx     execution context
 * @param[in]  logits  fp32 [batch, classes]
 * @param[in]  labels  int32 [batch], each in [0, classes)
 * @param[out] loss    fp32 scalar
 * @param[in]  batch   rows (> 0)
 * @param[in]  classes columns (> 0)
 * @return ET_OK, or ET_ERR_ARG (NULL, zero size, a label out of range, bad ncores).
 */
et_status et_softmax_xent_fwd_f32(const et_ctx *ctx, const float *logits, const int32_t *labels,
                                  float *loss, size_t batch, size_t classes);

/**
 * @brief dlogits = dloss * (softmax(logits) - onehot(labels)) / batch.
 * @param[in]  ctx     execution context
 * @param[in]  logits  fp32 [batch, classes]
 * @param[in]  labels  int32 [batch], each in [0, classes)
 * @param[in]  dloss   gradient of the loss (1 for loss.backward())
 * @param[out] dlogits fp32 [batch, classes]; may be logits
 * @param[in]  batch   rows (> 0)
 * @param[in]  classes columns (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_softmax_xent_bwd_f32(const et_ctx *ctx, const float *logits, const int32_t *labels,
                                  float dloss, float *dlogits, size_t batch, size_t classes);

/**
 * @brief loss = mean((pred - target)^2) over n elements (PyTorch MSELoss, reduction='mean').
 * @param[in]  ctx    execution context
 * @param[in]  pred   fp32 [n]
 * @param[in]  target fp32 [n]
 * @param[out] loss   fp32 scalar
 * @param[in]  n      elements (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_mse_fwd_f32(const et_ctx *ctx, const float *pred, const float *target, float *loss,
                         size_t n);

/**
 * @brief dpred = dloss * 2 (pred - target) / n.
 * @param[in]  ctx    execution context
 * @param[in]  pred   fp32 [n]
 * @param[in]  target fp32 [n]
 * @param[in]  dloss  gradient of the loss (1 for loss.backward())
 * @param[out] dpred  fp32 [n]; may be pred
 * @param[in]  n      elements (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_mse_bwd_f32(const et_ctx *ctx, const float *pred, const float *target, float dloss,
                         float *dpred, size_t n);

#endif /* ET_LOSS_H */
