/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_gemm.h
 *  @brief fp32 GEMM / MatMul and the linear layer's training products (forward, dX, dW, db).
 *
 *  All kernels run on ctx->ncores cluster cores (0 = all). Operands and results live in L2;
 *  the kernels tile them into ctx->l1 with the DMA (double-buffered: the tile of step s+1 is
 *  fetched while step s is computed) and compute 4x6 register blocks with fmadd.s. Results do
 *  not depend on the core count (every output element is summed in the same order).
 *  Matrices are row-major fp32.
 *
 *  Linear layer convention (PyTorch nn.Linear and ONNX Gemm transB=1): weight W is
 *  [out][in], Y = X·W^T + b with X [rows][in], Y [rows][out]. Backward: dX = dY·W,
 *  dW = dY^T·X, db = column sums of dY. Gradient kernels overwrite their output, or add to
 *  it when `accumulate` is set (the usual training convention: gradient buffers are zeroed
 *  once per step and every use of a weight adds its contribution).
 */
#ifndef ET_GEMM_H
#define ET_GEMM_H

#include <stddef.h>

#include "et_ctx.h"
#include "et_status.h"

/** Scratch with which every kernel of this header accepts any shape (smallest tiles). */
#define ET_GEMM_SCRATCH_MIN 12288u

/** Shape and options of Y = alpha·op(A)·op(B) + bias (+ Y). */
typedef struct {
    unsigned m;        /**< rows of op(A) and Y (> 0) */
    unsigned n;        /**< columns of op(B) and Y (> 0) */
    unsigned k;        /**< columns of op(A) = rows of op(B) (> 0) */
    unsigned batch;    /**< independent products (>= 1; 0 is treated as an error) */
    int trans_a;       /**< 0: A stored [m][k]; 1: A stored [k][m] and op(A) = A^T */
    int trans_b;       /**< 0: B stored [k][n]; 1: B stored [n][k] and op(B) = B^T */
    unsigned lda;      /**< row pitch of A in elements (0: dense, k or m) */
    unsigned ldb;      /**< row pitch of B in elements (0: dense, n or k) */
    unsigned ldy;      /**< row pitch of Y in elements (0: dense, n) */
    size_t stride_a;   /**< elements between batch items of A (0: the same A for all) */
    size_t stride_b;   /**< elements between batch items of B (0: the same B for all) */
    size_t stride_y;   /**< elements between batch items of Y (0: dense, m*ldy) */
    float alpha;       /**< scale of the product (1 for a plain product) */
    int accumulate;    /**< 0: Y = ...; 1: Y += ... (Y is read) */
} et_gemm_args;

/** @brief Arguments of a plain dense product Y[m][n] = op(A)·op(B) (alpha 1, batch 1). */
et_gemm_args et_gemm_args_init(unsigned m, unsigned n, unsigned k, int trans_a, int trans_b);

/**
 * @brief L1 scratch that gives et_gemm_fwd_f32() its largest useful tiles for these arguments.
 * Less also works down to ET_GEMM_SCRATCH_MIN; below it the kernel returns ET_ERR_ARG.
 * @param[in] args shape and options
 * @return bytes of ctx->l1 (0 when args is NULL)
 */
size_t et_gemm_scratch_size(const et_gemm_args *args);

/**
 * @brief Y = alpha·op(A)·op(B) + bias + (accumulate ? Y : 0), for every batch item.
 * @param[in]     ctx  L1 scratch (8-byte aligned) and core count
 * @param[in]     args shapes, transposes, pitches, batch strides, alpha, accumulate
 * @param[in]     a    A, fp32, [m][k] (trans_a = 0) or [k][m] (trans_a = 1) per batch item
 * @param[in]     b    B, fp32, [k][n] (trans_b = 0) or [n][k] (trans_b = 1) per batch item
 * @param[in]     bias [n] fp32 added to every row (shared by all batch items), or NULL
 * @param[in,out] y    Y, fp32, [m][n] per batch item
 * @return ET_OK; ET_ERR_ARG for NULL pointers, zero sizes, pitches smaller than a row, an
 *         invalid core count or too little scratch (Y untouched); ET_ERR_HW if a DMA fails.
 */
et_status et_gemm_fwd_f32(const et_ctx *ctx, const et_gemm_args *args, const float *a,
                          const float *b, const float *bias, float *y);

/** Shape of a linear layer's call. */
typedef struct {
    unsigned rows;  /**< rows of X and Y (tokens x batch) */
    unsigned in;    /**< input features */
    unsigned out;   /**< output features */
    int accumulate; /**< add into the output instead of overwriting it */
} et_linear_args;

/**
 * @brief Forward: Y = X·W^T + b (+ Y when accumulate).
 * @param[in]     ctx  scratch and cores (size with et_linear_scratch_size())
 * @param[in]     args rows, in, out, accumulate
 * @param[in]     x    [rows][in] fp32
 * @param[in]     w    [out][in] fp32
 * @param[in]     b    [out] fp32, or NULL
 * @param[in,out] y    [rows][out] fp32
 * @return ET_OK or ET_ERR_ARG (NULL, zero size, too little scratch; y untouched).
 */
et_status et_linear_fwd_f32(const et_ctx *ctx, const et_linear_args *args, const float *x,
                            const float *w, const float *b, float *y);

/**
 * @brief Input gradient: dX = dY·W (+ dX when accumulate).
 * @param[in]     w  [out][in] fp32
 * @param[in]     dy [rows][out] fp32
 * @param[in,out] dx [rows][in] fp32
 * @return ET_OK or ET_ERR_ARG (dx untouched). Other parameters as et_linear_fwd_f32().
 */
et_status et_linear_bwd_igrad_f32(const et_ctx *ctx, const et_linear_args *args,
                                  const float *w, const float *dy, float *dx);

/**
 * @brief Weight gradient: dW = dY^T·X (+ dW when accumulate).
 * @param[in]     x  [rows][in] fp32 (the forward input)
 * @param[in]     dy [rows][out] fp32
 * @param[in,out] dw [out][in] fp32
 * @return ET_OK or ET_ERR_ARG (dw untouched). Other parameters as et_linear_fwd_f32().
 */
et_status et_linear_bwd_wgrad_f32(const et_ctx *ctx, const et_linear_args *args,
                                  const float *x, const float *dy, float *dw);

/**
 * @brief Bias gradient: db[j] = sum over rows of dY[r][j] (+ db when accumulate). The rows are
 * summed in order, so the result is bit-identical for every core count.
 * @param[in]     ctx  scratch (at least et_linear_scratch_size()) and cores
 * @param[in]     args rows, out, accumulate (in is ignored)
 * @param[in]     dy   [rows][out] fp32
 * @param[in,out] db   [out] fp32
 * @return ET_OK or ET_ERR_ARG (db untouched).
 */
et_status et_linear_bwd_bgrad_f32(const et_ctx *ctx, const et_linear_args *args,
                                  const float *dy, float *db);

/** @brief Scratch for the largest tiles of any linear-layer kernel with these arguments. */
size_t et_linear_scratch_size(const et_linear_args *args);

#endif /* ET_GEMM_H */
