/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_shape.h
 *  @brief Data movement between tensors, fp32: a block of rows copied from one row pitch to
 *  another. Concatenation (one call per input), slicing along an axis and its gradient (the
 *  slice written into a zeroed tensor) are this copy on the [outer, axis * inner] view.
 *
 *  Rows are split over the cores; operands are used where they are (L2 or L1), ctx->l1 is
 *  unused. Called from core 0 outside a fork; nothing is written on ET_ERR_ARG.
 */
#ifndef ET_SHAPE_H
#define ET_SHAPE_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/** A block of rows x cols floats, read at src_off with row pitch src_ld and written at dst_off
 *  with row pitch dst_ld. */
typedef struct {
    size_t rows, cols;       /**< block size (> 0) */
    size_t src_ld, dst_ld;   /**< row pitches in floats (>= cols) */
    size_t src_off, dst_off; /**< first float of the block in src and in dst */
    size_t dst_zero;         /**< floats of dst set to 0 before the copy (0: none; the slice
                                  gradient zeroes the whole input gradient) */
} et_block_args;

/**
 * @brief dst[dst_off + r * dst_ld + c] = src[src_off + r * src_ld + c] for r < rows, c < cols
 *        (after zeroing dst[0 .. dst_zero) when asked).
 * @param[in]  ctx execution context
 * @param[in]  a   block geometry
 * @param[in]  src fp32, rows rows of pitch src_ld
 * @param[out] dst fp32, rows rows of pitch dst_ld (must not overlap src)
 * @return ET_OK or ET_ERR_ARG (NULL pointers, zero size, a pitch smaller than cols).
 */
et_status et_block_copy_f32(const et_ctx *ctx, const et_block_args *a, const float *src,
                            float *dst);

#endif /* ET_SHAPE_H */
