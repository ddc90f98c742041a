/* SPDX-License-Identifier: Apache-2.0 */
/* The four GEMM micro-kernels (op(A) normal/transposed x op(B) normal/transposed): a 4x6 block
 * of C in 24 fp registers, k unrolled by 4, every load base + immediate (fixed L1 pitch), so a
 * k step costs 24 fmadd.s + 10 flw and the loop adds 3 instructions per 4 steps:
 * 48 FLOP / 34.75 instructions = 1.38 FLOP/instruction in the loop. Edge blocks (fewer valid
 * rows or columns) compute the full block on whatever the tile holds there and store only the
 * valid part, so the loop never branches on shape. */
#include "gemm_internal.h"

/* Pre-register-allocation scheduling hoists the next step's loads and spills accumulators. */
#pragma GCC optimize("no-schedule-insns")

#define P GEMM_P

/* Element (i, k+u) of op(A) and (k+u, j) of op(B) relative to the block pointers. B transposed
 * is addressed from its block's third row so that all offsets fit the 12-bit immediate. */
#define A_N(i, u) pa[(i) * P + (u)]
#define A_T(i, u) pa[(u) * P + (i)]
#define B_N(u, j) pb[(u) * P + (j)]
#define B_T(u, j) pb[((int)(j) - 2) * (int)P + (u)]

#define COL(u, j, BX)                                                                          \
    b = BX(u, j);                                                                              \
    c0##j += a0 * b;                                                                           \
    c1##j += a1 * b;                                                                           \
    c2##j += a2 * b;                                                                           \
    c3##j += a3 * b;

#define STEP(u, AX, BX)                                                                        \
    a0 = AX(0, u);                                                                             \
    a1 = AX(1, u);                                                                             \
    a2 = AX(2, u);                                                                             \
    a3 = AX(3, u);                                                                             \
    COL(u, 0, BX) COL(u, 1, BX) COL(u, 2, BX) COL(u, 3, BX) COL(u, 4, BX) COL(u, 5, BX)

#define ROW_DECL(i) float c##i##0 = 0, c##i##1 = 0, c##i##2 = 0, c##i##3 = 0, c##i##4 = 0, c##i##5 = 0;

/* Epilogue of one full row i of the block, per mode. */
#define ROW_SET(i)                                                                             \
    r = c + (i) * ldc;                                                                         \
    r[0] = al * c##i##0 + q0; r[1] = al * c##i##1 + q1; r[2] = al * c##i##2 + q2;               \
    r[3] = al * c##i##3 + q3; r[4] = al * c##i##4 + q4; r[5] = al * c##i##5 + q5;
#define ROW_ADD(i)                                                                             \
    r = c + (i) * ldc;                                                                         \
    r[0] += al * c##i##0; r[1] += al * c##i##1; r[2] += al * c##i##2;                           \
    r[3] += al * c##i##3; r[4] += al * c##i##4; r[5] += al * c##i##5;
#define ROW_DUMP(i)                                                                            \
    t[i][0] = c##i##0; t[i][1] = c##i##1; t[i][2] = c##i##2;                                    \
    t[i][3] = c##i##3; t[i][4] = c##i##4; t[i][5] = c##i##5;

/* Edge blocks and the rare ADDB mode: generic epilogue from the dumped accumulators. */
static void epilogue_generic(float t[GEMM_MR][GEMM_NR], float *c, unsigned ldc, const gemm_ep *ep)
{
    for (unsigned i = 0; i < ep->mr; ++i) {
        float *r = c + i * ldc;
        for (unsigned j = 0; j < ep->nr; ++j) {
            float v = ep->alpha * t[i][j];
            if (ep->mode == GEMM_SET)
                r[j] = v + ep->bias[j];
            else if (ep->mode == GEMM_ADD)
                r[j] += v;
            else
                r[j] = (r[j] + ep->bias[j]) + v;
        }
    }
}

#define DEFINE_MICRO(name, AX, BX, A_STEP, B_STEP)                                             \
    static void name(const float *pa, const float *pb, unsigned kt, float *c, unsigned ldc,    \
                     const gemm_ep *ep)                                                        \
    {                                                                                          \
        ROW_DECL(0) ROW_DECL(1) ROW_DECL(2) ROW_DECL(3)                                        \
        float a0, a1, a2, a3, b;                                                               \
        for (unsigned n4 = kt >> 2; n4; --n4) {                                                \
            STEP(0, AX, BX) STEP(1, AX, BX) STEP(2, AX, BX) STEP(3, AX, BX)                    \
            pa += 4 * (A_STEP);                                                                \
            pb += 4 * (B_STEP);                                                                \
        }                                                                                      \
        for (unsigned n1 = kt & 3u; n1; --n1) {                                                \
            STEP(0, AX, BX)                                                                    \
            pa += (A_STEP);                                                                    \
            pb += (B_STEP);                                                                    \
        }                                                                                      \
        const float al = ep->alpha;                                                            \
        float *r;                                                                              \
        if (ep->mr == GEMM_MR && ep->nr == GEMM_NR && ep->mode == GEMM_SET) {                  \
            const float *q = ep->bias;                                                         \
            float q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5];            \
            ROW_SET(0) ROW_SET(1) ROW_SET(2) ROW_SET(3)                                        \
        } else if (ep->mr == GEMM_MR && ep->nr == GEMM_NR && ep->mode == GEMM_ADD) {           \
            ROW_ADD(0) ROW_ADD(1) ROW_ADD(2) ROW_ADD(3)                                        \
        } else {                                                                               \
            float t[GEMM_MR][GEMM_NR];                                                         \
            ROW_DUMP(0) ROW_DUMP(1) ROW_DUMP(2) ROW_DUMP(3)                                    \
            epilogue_generic(t, c, ldc, ep);                                                   \
        }                                                                                      \
        (void)r;                                                                               \
    }

DEFINE_MICRO(micro_nn, A_N, B_N, 1, P)
DEFINE_MICRO(micro_nt, A_N, B_T, 1, 1)
DEFINE_MICRO(micro_tn, A_T, B_N, P, P)
DEFINE_MICRO(micro_tt, A_T, B_T, P, 1)

const gemm_mk_fn gemm_micro[4] = {micro_nn, micro_nt, micro_tn, micro_tt};
