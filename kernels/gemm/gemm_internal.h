/* SPDX-License-Identifier: Apache-2.0 */
/* Private to kernels/gemm: L1 tile layout, the 4x6 register-blocked micro-kernels and the
 * tile planner shared by the GEMM driver and the linear-layer wrappers. */
#ifndef GEMM_INTERNAL_H
#define GEMM_INTERNAL_H

#include <stddef.h>

#include "et_gemm.h"

/* Every operand tile in L1 keeps the layout it has in L2 (the DMA copies 2D sub-blocks) with a
 * fixed row pitch, so the micro-kernels address all loads as base + 12-bit immediate:
 * k-contiguous tiles, A normal [mt][GEMM_P] and B transposed [nt][GEMM_P], have pitch GEMM_P;
 * m/n-contiguous tiles, A transposed [kt][GEMM_PX] and B normal [kt][GEMM_PX], pitch GEMM_PX.
 * Hence kt <= GEMM_P, and mt (A transposed) / nt (B normal) <= GEMM_PX. */
#define GEMM_P 128u
#define GEMM_PX 64u
#define GEMM_MR 4u /* rows of C per micro-kernel block */
#define GEMM_NR 6u /* columns of C per block: 24 accumulators + 4 + 1 operands in 32 f-regs */
#define GEMM_SLACK 8u

/* Epilogue modes: how a block's k-tile sum `acc` reaches C (c: the L1 Y tile). */
enum { GEMM_SET = 0,   /* c = alpha*acc + bias */
       GEMM_ADD = 1,   /* c = c + alpha*acc */
       GEMM_ADDB = 2,  /* c = (c + bias) + alpha*acc */
       GEMM_SCALE = 3 /* c = alpha*acc (no bias: nothing to read) */ };

typedef struct {
    float alpha;
    unsigned mode;
    unsigned mr, nr;    /* valid rows/columns of this block (edges: < 4 / < 6) */
    const float *bias;  /* GEMM_NR readable floats (SET, ADDB; unused otherwise) */
} gemm_ep;

/* acc(i,j) = sum_k opA(i,k) opB(k,j) over kt steps, then the epilogue into c (row pitch ldc).
 * `a` points at the block's first row (A normal) / column (A transposed) in its tile, `b` at
 * the block's first column (B normal) / row (B transposed). */
typedef void (*gemm_mk_fn)(const float *a, const float *b, unsigned kt, float *c, unsigned ldc,
                           const gemm_ep *ep);

/* Indexed by [trans_a * 2 + trans_b][width], width 0: 6 columns, 1: 4 columns, 2: 2 columns
 * (edge blocks of 1..2 or 3..4 valid columns use the narrower kernels). */
extern const gemm_mk_fn gemm_micro[4][3];

/* Tile plan: sizes chosen from the L1 scratch, and the scratch carve-up (floats). */
typedef struct {
    unsigned mt, nt, kt;
    size_t a_words, b_words, y_words, bias_words; /* per buffer (two of each) */
} gemm_tiles;

/* Plan tiles for `g` within `l1_bytes`; returns 0, or -1 if even the smallest tiles do not fit. */
int gemm_plan(const et_gemm_args *g, size_t l1_bytes, gemm_tiles *t);

#endif /* GEMM_INTERNAL_H */
