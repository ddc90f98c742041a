/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_activations.h
 *  @brief Elementwise activations (ReLU, GELU exact and tanh-approximate), forward and backward, fp32.
 *
 *  All tensors are flat fp32 arrays of n elements in any layout. The kernels stream each
 *  element once with no reuse, so they work on the operands where they are (L2 or L1): staging
 *  through L1 with the DMA would add a copy per element in each direction and save nothing.
 *  Work is split in contiguous ranges over ctx->ncores cores (0 = all); results are
 *  independent of the core count (no reductions). ctx->l1 is not used.
 *  Every entry point is called from core 0 outside a fork; on ET_ERR_ARG outputs are untouched.
 */
#ifndef ET_ACTIVATIONS_H
#define ET_ACTIVATIONS_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/** GELU variant (PyTorch's `approximate` argument). */
typedef enum {
    ET_GELU_ERF = 0,  /**< exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) */
    ET_GELU_TANH = 1, /**< 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} et_gelu_mode;

/**
 * @brief ReLU forward: y = max(x, 0).
 * @param[in]  ctx execution context (ncores)
 * @param[in]  x   input, fp32 [n]
 * @param[out] y   output, fp32 [n]; may be x (in place)
 * @param[in]  n   number of elements (> 0)
 * @return ET_OK, or ET_ERR_ARG (NULL pointer, n == 0, ncores out of range).
 */
et_status et_relu_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t n);

/**
 * @brief ReLU backward: dx = dy where x > 0, else 0 (PyTorch's gradient at 0 is 0).
 * @param[in]  ctx execution context
 * @param[in]  x   forward input (or output: same sign test), fp32 [n]
 * @param[in]  dy  gradient of the output, fp32 [n]
 * @param[out] dx  gradient of the input, fp32 [n]; may be dy
 * @param[in]  n   number of elements (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_relu_bwd_f32(const et_ctx *ctx, const float *x, const float *dy, float *dx, size_t n);

/**
 * @brief GELU forward, exact (erf) or tanh approximation, with et_fastmath.h's erf/tanh
 *        (absolute error of y about 3e-7 * (1 + |x|) against a double reference).
 * @param[in]  ctx  execution context
 * @param[in]  mode ET_GELU_ERF or ET_GELU_TANH
 * @param[in]  x    input, fp32 [n]
 * @param[out] y    output, fp32 [n]; may be x
 * @param[in]  n    number of elements (> 0)
 * @return ET_OK or ET_ERR_ARG (also for an unknown mode).
 */
et_status et_gelu_fwd_f32(const et_ctx *ctx, et_gelu_mode mode, const float *x, float *y, size_t n);

/**
 * @brief GELU backward: dx = dy * gelu'(x) for the chosen mode.
 * @param[in]  ctx  execution context
 * @param[in]  mode ET_GELU_ERF or ET_GELU_TANH
 * @param[in]  x    forward input, fp32 [n]
 * @param[in]  dy   gradient of the output, fp32 [n]
 * @param[out] dx   gradient of the input, fp32 [n]; may be dy
 * @param[in]  n    number of elements (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_gelu_bwd_f32(const et_ctx *ctx, et_gelu_mode mode, const float *x, const float *dy,
                          float *dx, size_t n);

#endif /* ET_ACTIVATIONS_H */
