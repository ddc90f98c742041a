/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_sgd.h
 *  @brief SGD optimizer step with optional momentum, Nesterov and weight decay (PyTorch
 *  torch.optim.SGD semantics, dampening 0), fp32, in place on the parameters.
 *
 *  d = g + wd * p; if momentum: v = mu * v + d, and d = v (or d + mu * v with Nesterov);
 *  p -= lr * d. PyTorch initializes v to d on the first step; with v zero-initialized,
 *  mu * 0 + d is the same, so the caller zeroes v once before training.
 *  Elements are split in ranges over the cores (no reductions: results independent of the
 *  core count); the update streams p, g, v once where they live. ctx->l1 is unused.
 *  Called from core 0 outside a fork; nothing is modified on ET_ERR_ARG.
 */
#ifndef ET_SGD_H
#define ET_SGD_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/** Hyper-parameters of et_sgd_step_f32(). */
typedef struct {
    float lr;           /**< learning rate (> 0) */
    float momentum;     /**< mu >= 0; 0 disables the momentum buffer */
    float weight_decay; /**< wd >= 0 (L2 penalty added to the gradient) */
    int nesterov;       /**< non-zero: Nesterov momentum (needs momentum > 0) */
} et_sgd_args;

/**
 * @brief One SGD step on n parameters.
 * @param[in]     ctx  execution context
 * @param[in]     args hyper-parameters
 * @param[in,out] p    parameters, fp32 [n]
 * @param[in]     g    gradients, fp32 [n]
 * @param[in,out] v    momentum buffer, fp32 [n] (zeroed before the first step); may be NULL
 *                     when momentum == 0
 * @param[in]     n    number of parameters (> 0)
 * @return ET_OK, or ET_ERR_ARG (NULL p/g, NULL v with momentum, n == 0, lr <= 0, negative
 *         momentum/weight decay, Nesterov without momentum, bad ncores).
 */
et_status et_sgd_step_f32(const et_ctx *ctx, const et_sgd_args *args, float *p, const float *g,
                          float *v, size_t n);

/**
 * @brief et_sgd_step_f32() on an accumulated gradient, which it then sets to zero (gradient
 *        accumulation: the step's update and PyTorch's zero_grad() in one pass, so the
 *        accumulator is ready for the next step's first micro-batch).
 * @param[in,out] g accumulated gradients, fp32 [n]; 0.0f on return (ET_OK)
 * @return as et_sgd_step_f32(); nothing is modified on ET_ERR_ARG.
 */
et_status et_sgd_step_zero_grad_f32(const et_ctx *ctx, const et_sgd_args *args, float *p,
                                    float *g, float *v, size_t n);

#endif /* ET_SGD_H */
