/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_softmax.h
 *  @brief Softmax over the last axis of a [rows, cols] fp32 matrix, forward and backward.
 *
 *  Rows are split over ctx->ncores cores (0 = all); a row is never split, so results do not
 *  depend on the core count. exp is et_fast_expf (relative error <= 2.5e-7), so y matches a
 *  double reference to about 1e-6 relative. Rows are read twice and written once where they
 *  are (L2 or L1): a row-streaming kernel has no reuse to gain from L1 staging. ctx->l1 unused.
 *  Called from core 0 outside a fork; on ET_ERR_ARG outputs are untouched.
 */
#ifndef ET_SOFTMAX_H
#define ET_SOFTMAX_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/**
 * @brief y[r, :] = exp(x[r, :] - max) / sum(exp(x[r, :] - max)).
 * @param[in]  ctx  execution context
 * @param[in]  x    input, fp32 [rows, cols] row-major
 * @param[out] y    output, fp32 [rows, cols]; may be x (in place)
 * @param[in]  rows number of rows (> 0)
 * @param[in]  cols softmax length (> 0)
 * @return ET_OK, or ET_ERR_ARG (NULL pointer, zero size, ncores out of range).
 */
et_status et_softmax_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t rows, size_t cols);

/**
 * @brief dx[r, :] = y[r, :] * (dy[r, :] - sum_j dy[r, j] y[r, j]).
 * @param[in]  ctx  execution context
 * @param[in]  y    forward output, fp32 [rows, cols]
 * @param[in]  dy   gradient of y, fp32 [rows, cols]
 * @param[out] dx   gradient of x, fp32 [rows, cols]; may be dy
 * @param[in]  rows number of rows (> 0)
 * @param[in]  cols softmax length (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_softmax_bwd_f32(const et_ctx *ctx, const float *y, const float *dy, float *dx,
                             size_t rows, size_t cols);

/** @brief One row of softmax on the calling core (used by other kernels inside their forks). */
void et_softmax_row_f32(const float *x, float *y, size_t cols);

#endif /* ET_SOFTMAX_H */
