/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_lora.h
 *  @brief fp32 LoRA adapter path: Y += scale·(X·A)·B, forward and backward.
 *
 *  Layouts (row-major): X [rows][in], A [in][rank], B [rank][out], Y [rows][out]; the
 *  intermediate H = X·A [rows][rank] is kept by the caller between forward and backward.
 *  (PEFT stores lora_A.weight as [rank][in] = A^T and lora_B.weight as [out][rank] = B^T.)
 *  Built on et_gemm_fwd_f32: tiled, double-buffered, on ctx->ncores cores.
 */
#ifndef ET_LORA_H
#define ET_LORA_H

#include "et_ctx.h"
#include "et_status.h"

/** Shape of a LoRA call. */
typedef struct {
    unsigned rows;  /**< rows of X (tokens x batch), > 0 */
    unsigned in;    /**< input features, > 0 */
    unsigned out;   /**< output features, > 0 */
    unsigned rank;  /**< adapter rank r, > 0 */
    float scale;    /**< alpha / r in LoRA's notation */
    int accumulate; /**< backward: add into dA and dB instead of overwriting them */
} et_lora_args;

/**
 * @brief Forward: H = X·A, then Y += scale·H·B (Y holds the base layer's output).
 * @param[in]     ctx  L1 scratch (>= ET_GEMM_SCRATCH_MIN bytes) and cores
 * @param[in]     args shape and scale
 * @param[in]     x    [rows][in] fp32
 * @param[in]     a    [in][rank] fp32
 * @param[in]     b    [rank][out] fp32
 * @param[out]    h    [rows][rank] fp32, saved for the backward pass
 * @param[in,out] y    [rows][out] fp32
 * @return ET_OK or ET_ERR_ARG (NULL, zero size, too little scratch; outputs untouched).
 */
et_status et_lora_fwd_f32(const et_ctx *ctx, const et_lora_args *args, const float *x,
                          const float *a, const float *b, float *h, float *y);

/**
 * @brief Backward: dH = scale·dY·B^T, dB (+)= scale·H^T·dY, dA (+)= X^T·dH, dX += dH·A^T.
 * @param[in]     ctx  L1 scratch (>= ET_GEMM_SCRATCH_MIN bytes) and cores
 * @param[in]     args shape, scale, accumulate (for dA and dB)
 * @param[in]     x    [rows][in] fp32, the forward input
 * @param[in]     a    [in][rank] fp32
 * @param[in]     b    [rank][out] fp32
 * @param[in]     h    [rows][rank] fp32 from et_lora_fwd_f32()
 * @param[in]     dy   [rows][out] fp32
 * @param[out]    dh   [rows][rank] fp32 work buffer in L2 (holds dH afterwards)
 * @param[in,out] dx   [rows][in] fp32: the adapter's contribution is always added (the base
 *                     layer's dX is computed separately); NULL skips it (frozen input)
 * @param[in,out] da   [in][rank] fp32
 * @param[in,out] db   [rank][out] fp32
 * @return ET_OK or ET_ERR_ARG (outputs untouched).
 */
et_status et_lora_bwd_f32(const et_ctx *ctx, const et_lora_args *args, const float *x,
                          const float *a, const float *b, const float *h, const float *dy,
                          float *dh, float *dx, float *da, float *db);

#endif /* ET_LORA_H */
