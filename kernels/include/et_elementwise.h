/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_elementwise.h
 *  @brief Elementwise add/mul with broadcasting and their gradient reductions; transpose and
 *  4-D permute (the attention head split/merge), fp32.
 *
 *  Shapes: `a` and `y` are [rows, cols] row-major; `b` is broadcast according to et_bcast.
 *  Reductions of the backward passes are split so that each core owns whole outputs (columns
 *  for ET_BCAST_ROW, rows for ET_BCAST_COL), which keeps them independent of the core count;
 *  only ET_BCAST_SCALAR combines per-core partial sums (fp summation order differs).
 *  The kernels read and write operands where they are (L2 or L1) and use no L1 scratch
 *  (ctx->l1 is unused); a training program runs them on L1 copies of their rows, tile by tile
 *  (sdk/include/et_tile.h). Called from core 0 outside a fork; outputs untouched on ET_ERR_ARG.
 */
#ifndef ET_ELEMENTWISE_H
#define ET_ELEMENTWISE_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/** How operand b is broadcast against a [rows, cols] operand. */
typedef enum {
    ET_BCAST_NONE = 0,   /**< b is [rows, cols] (same shape) */
    ET_BCAST_ROW = 1,    /**< b is [cols], the same row added to every row (bias) */
    ET_BCAST_COL = 2,    /**< b is [rows], one value per row */
    ET_BCAST_SCALAR = 3, /**< b is [1] */
} et_bcast;

/**
 * @brief y = a + bcast(b).
 * @param[in]  ctx  execution context
 * @param[in]  mode broadcast of b
 * @param[in]  a    fp32 [rows, cols]
 * @param[in]  b    fp32, shape per mode
 * @param[out] y    fp32 [rows, cols]; may be a
 * @param[in]  rows,cols sizes (> 0)
 * @return ET_OK, or ET_ERR_ARG (NULL, zero size, unknown mode, bad ncores).
 */
et_status et_add_fwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols);

/**
 * @brief y = a * bcast(b) (elementwise).
 * @param ... as et_add_fwd_f32()
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_mul_fwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols);

/**
 * @brief Gradients of y = a + bcast(b): da = dy, db = dy summed over the broadcast axes.
 * @param[in]  ctx  execution context
 * @param[in]  mode broadcast of b in the forward call
 * @param[in]  dy   fp32 [rows, cols]
 * @param[out] da   fp32 [rows, cols], or NULL to skip (then dy itself is da)
 * @param[out] db   fp32, shape of b per mode, or NULL to skip
 * @param[in]  rows,cols sizes (> 0)
 * @return ET_OK or ET_ERR_ARG (also when both da and db are NULL).
 */
et_status et_add_bwd_f32(const et_ctx *ctx, et_bcast mode, const float *dy, float *da, float *db,
                         size_t rows, size_t cols);

/**
 * @brief Gradients of y = a * bcast(b): da = dy * bcast(b), db = sum over broadcast axes of dy * a.
 * @param[in]  ctx  execution context
 * @param[in]  mode broadcast of b in the forward call
 * @param[in]  a    forward operand a, fp32 [rows, cols]
 * @param[in]  b    forward operand b, shape per mode
 * @param[in]  dy   fp32 [rows, cols]
 * @param[out] da   fp32 [rows, cols], or NULL to skip (must not alias a, b)
 * @param[out] db   fp32, shape of b, or NULL to skip (must not alias a, b, dy)
 * @param[in]  rows,cols sizes (> 0)
 * @return ET_OK or ET_ERR_ARG (also when both da and db are NULL).
 */
et_status et_mul_bwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b,
                         const float *dy, float *da, float *db, size_t rows, size_t cols);

/**
 * @brief 2-D transpose y[c, r] = x[r, c]; it is also its own backward (transpose dy).
 * @param[in]  ctx  execution context
 * @param[in]  x    fp32 [rows, cols]
 * @param[out] y    fp32 [cols, rows] (must not alias x)
 * @param[in]  rows,cols sizes (> 0)
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_transpose_fwd_f32(const et_ctx *ctx, const float *x, float *y, size_t rows, size_t cols);

/**
 * @brief 4-D permute: y has dims (d[perm[0]], .., d[perm[3]]) and
 *        y[i0, i1, i2, i3] = x at index j with j[perm[k]] = i_k.
 *        Attention head split [B, T, H, Dh] -> [B, H, T, Dh] and merge [B, H, T, Dh] ->
 *        [B, T, H, Dh] are both perm = {0, 2, 1, 3}; a 2-D transpose is {0, 1, 3, 2}.
 * @param[in]  ctx  execution context
 * @param[in]  x    fp32, dims d[0..3] row-major
 * @param[out] y    fp32, permuted dims (must not alias x)
 * @param[in]  dims the four dims of x (each > 0; pad lower ranks with leading 1s)
 * @param[in]  perm a permutation of {0, 1, 2, 3}
 * @return ET_OK or ET_ERR_ARG (NULL, zero dim, perm not a permutation).
 */
et_status et_permute_fwd_f32(const et_ctx *ctx, const float *x, float *y, const size_t dims[4],
                             const unsigned perm[4]);

/**
 * @brief Backward of et_permute_fwd_f32(): dx = permute(dy, inverse(perm)).
 * @param[in]  ctx  execution context
 * @param[in]  dy   fp32 with the permuted dims of the forward output
 * @param[out] dx   fp32 with dims `dims` (must not alias dy)
 * @param[in]  dims the dims of the forward input x
 * @param[in]  perm the forward permutation
 * @return ET_OK or ET_ERR_ARG.
 */
et_status et_permute_bwd_f32(const et_ctx *ctx, const float *dy, float *dx, const size_t dims[4],
                             const unsigned perm[4]);

#endif /* ET_ELEMENTWISE_H */
