/* SPDX-License-Identifier: Apache-2.0 */
/* The GEMM micro-kernels: for each layout (op(A) normal/transposed x op(B) normal/transposed)
 * a 4x6 block of C in 24 fp registers plus 4x4 and 4x2 variants for edge columns. k is
 * unrolled by GEMM_KU and every load is base + immediate (fixed L1 pitches), so a 4x6 k step
 * costs 24 fmadd.s + 10 flw plus 4 loop instructions per GEMM_KU steps. Accumulators start at
 * zero, so every output is the same chain of fmadd.s in k order whatever GEMM_KU is. Edge blocks
 * compute all 4 rows on whatever the tile holds there and store only the valid part, so the
 * loop never branches on shape.
 *
 * GEMM_KU: 8 on host and qemu (fewest instructions: 1.39 FLOP/instruction in the loop); 2 on
 * Siracusa, whose cores fetch through a 512-byte L0 instruction cache: the 8x loop (about
 * 1.1 KB) misses on every iteration there, the 2x loop fits (3% more instructions, measured
 * faster in GVSoC). Both sum every output in the same order: results are bit-identical. */
#include "gemm_internal.h"

/* Pre-register-allocation scheduling hoists the next step's loads and spills accumulators. */
#pragma GCC optimize("no-schedule-insns")

#define P GEMM_P
#define PX GEMM_PX

/* Element (i, k+u) of op(A) and (k+u, j) of op(B) relative to the block pointers. B transposed
 * is addressed from its block's third row so that all offsets fit the 12-bit immediate. */
#define A_N(i, u) pa[(i) * P + (u)]
#define A_T(i, u) pa[(u) * PX + (i)]
#define B_N(u, j) pb[(u) * PX + (j)]
#define B_T(u, j) pb[((int)(j) - 2) * (int)P + (u)]

/* OP is `+=` (accumulate) or `=` (the first k step initialises the accumulators). */
#define COL(u, j, BX, OP)                                                                      \
    b = BX(u, j);                                                                              \
    c0##j OP a0 * b;                                                                           \
    c1##j OP a1 * b;                                                                           \
    c2##j OP a2 * b;                                                                           \
    c3##j OP a3 * b;
#define COLS6(u, BX, OP)                                                                       \
    COL(u, 0, BX, OP) COL(u, 1, BX, OP) COL(u, 2, BX, OP) COL(u, 3, BX, OP) COL(u, 4, BX, OP)  \
    COL(u, 5, BX, OP)
#define COLS4(u, BX, OP) COL(u, 0, BX, OP) COL(u, 1, BX, OP) COL(u, 2, BX, OP) COL(u, 3, BX, OP)
#define COLS2(u, BX, OP) COL(u, 0, BX, OP) COL(u, 1, BX, OP)

#define STEP_OP(u, AX, BX, COLS, OP)                                                           \
    a0 = AX(0, u);                                                                             \
    a1 = AX(1, u);                                                                             \
    a2 = AX(2, u);                                                                             \
    a3 = AX(3, u);                                                                             \
    COLS(u, BX, OP)
#define STEP(u, AX, BX, COLS) STEP_OP(u, AX, BX, COLS, +=)
#ifndef GEMM_KU
#if defined(ET_TARGET_SIRACUSA)
#define GEMM_KU 2
#else
#define GEMM_KU 8
#endif
#endif
#if GEMM_KU == 8
#define STEPS_REST(AX, BX, COLS)                                                               \
    STEP(1, AX, BX, COLS) STEP(2, AX, BX, COLS) STEP(3, AX, BX, COLS) STEP(4, AX, BX, COLS)    \
    STEP(5, AX, BX, COLS) STEP(6, AX, BX, COLS) STEP(7, AX, BX, COLS)
#elif GEMM_KU == 4
#define STEPS_REST(AX, BX, COLS) STEP(1, AX, BX, COLS) STEP(2, AX, BX, COLS) STEP(3, AX, BX, COLS)
#elif GEMM_KU == 2
#define STEPS_REST(AX, BX, COLS) STEP(1, AX, BX, COLS)
#else
#error "GEMM_KU must be 2, 4 or 8"
#endif

#define FOR_COLS6(X, i) X(i, 0) X(i, 1) X(i, 2) X(i, 3) X(i, 4) X(i, 5)
#define FOR_COLS4(X, i) X(i, 0) X(i, 1) X(i, 2) X(i, 3)
#define FOR_COLS2(X, i) X(i, 0) X(i, 1)
#define FOR_ROWS(F, X) F(X, 0) F(X, 1) F(X, 2) F(X, 3)

#define DECL(i, j) float c##i##j;
#define ZERO(i, j) c##i##j = 0.0f;
#define DUMP(i, j) t[i][j] = c##i##j;

/* Full blocks in the common modes: straight-line stores from the accumulators (ACC_REG: the C
 * kernels' registers, ACC_MEM: the array the Siracusa k loop leaves). The bias is read once per
 * block (the stores to c could alias it, so a per-element read would be reloaded every row). */
#define ACC_REG(i, j) c##i##j
#define ACC_MEM(i, j) t[i][j]
#define BIAS(i, j) const float bias##j = ep->bias[j];
#define SET_REG(i, j) c[(i) * ldc + (j)] = al * ACC_REG(i, j) + bias##j;
#define SET_MEM(i, j) c[(i) * ldc + (j)] = al * ACC_MEM(i, j) + bias##j;
#define SCALE_REG(i, j) c[(i) * ldc + (j)] = al * ACC_REG(i, j);
#define SCALE_MEM(i, j) c[(i) * ldc + (j)] = al * ACC_MEM(i, j);
#define ADD_REG(i, j) c[(i) * ldc + (j)] += al * ACC_REG(i, j);
#define ADD_MEM(i, j) c[(i) * ldc + (j)] += al * ACC_MEM(i, j);
#define EPILOGUE(W, FOR_COLS, ACC, DUMP_FIRST)                                                   \
    const float al = ep->alpha;                                                                \
    if (ep->mr == GEMM_MR && ep->nr == (W) && ep->mode == GEMM_SET) {                          \
        FOR_COLS(BIAS, 0)                                                                      \
        FOR_ROWS(FOR_COLS, SET_##ACC)                                                          \
    } else if (ep->mr == GEMM_MR && ep->nr == (W) && ep->mode == GEMM_SCALE) {                 \
        FOR_ROWS(FOR_COLS, SCALE_##ACC)                                                        \
    } else if (ep->mr == GEMM_MR && ep->nr == (W) && ep->mode == GEMM_ADD) {                   \
        FOR_ROWS(FOR_COLS, ADD_##ACC)                                                          \
    } else {                                                                                   \
        DUMP_FIRST                                                                             \
        epilogue_generic(t, c, ldc, ep);                                                       \
    }

/* Edge blocks and the rare ADDB mode: generic epilogue from the dumped accumulators. */
static void epilogue_generic(float t[GEMM_MR][GEMM_NR], float *c, unsigned ldc, const gemm_ep *ep)
{
    for (unsigned i = 0; i < ep->mr; ++i) {
        float *r = c + i * ldc;
        for (unsigned j = 0; j < ep->nr; ++j) {
            float v = ep->alpha * t[i][j];
            if (ep->mode == GEMM_SET)
                r[j] = v + ep->bias[j];
            else if (ep->mode == GEMM_SCALE)
                r[j] = v;
            else if (ep->mode == GEMM_ADD)
                r[j] += v;
            else
                r[j] = (r[j] + ep->bias[j]) + v;
        }
    }
}

#define DEFINE_MICRO(name, AX, BX, A_STEP, B_STEP, W, COLS, FOR_COLS)                         \
    static void name(const float *pa, const float *pb, unsigned kt, float *c, unsigned ldc,    \
                     const gemm_ep *ep)                                                        \
    {                                                                                          \
        FOR_ROWS(FOR_COLS, DECL)                                                               \
        float a0, a1, a2, a3, b;                                                               \
        /* accumulators start at 0 and every k step is c += a * b (one fmadd.s): with a first  \
         * step `c = a * b` the compiler may fuse it into the next one the other way round     \
         * (fma(a0, b0, a1 * b1)), which differs with the unroll factor */                     \
        FOR_ROWS(FOR_COLS, ZERO)                                                               \
        for (const float *pend = pa + (kt / GEMM_KU) * GEMM_KU * (A_STEP); pa != pend;) {    \
            STEP(0, AX, BX, COLS) STEPS_REST(AX, BX, COLS)                                     \
            pa += GEMM_KU * (A_STEP);                                                          \
            pb += GEMM_KU * (B_STEP);                                                          \
        }                                                                                      \
        for (unsigned n1 = kt % GEMM_KU; n1; --n1) {                                         \
            STEP(0, AX, BX, COLS)                                                              \
            pa += (A_STEP);                                                                    \
            pb += (B_STEP);                                                                    \
        }                                                                                      \
        float t[GEMM_MR][GEMM_NR];                                                             \
        EPILOGUE(W, FOR_COLS, REG, FOR_ROWS(FOR_COLS, DUMP))                                   \
    }

#if defined(ET_TARGET_SIRACUSA)
/* Siracusa: the 4x6 k loop is an XpulpV2 hardware loop in gemm_micro_xpulp.S; the epilogue
 * reads its accumulators back (24 stores and loads on the L1 stack per block). */
#define DEFINE_MICRO6(name, core)                                                               \
    void core(const float *pa, const float *pb, unsigned kt, float t[GEMM_MR][GEMM_NR]);       \
    static void name(const float *pa, const float *pb, unsigned kt, float *c, unsigned ldc,    \
                     const gemm_ep *ep)                                                        \
    {                                                                                          \
        float t[GEMM_MR][GEMM_NR];                                                             \
        core(pa, pb, kt, t);                                                                   \
        EPILOGUE(GEMM_NR, FOR_COLS6, MEM, )                                                    \
    }
#define DEFINE_WIDE(nm, AX, BX, AS, BS) DEFINE_MICRO6(micro_##nm##_6, gemm_k6_##nm)
#else
#define DEFINE_WIDE(nm, AX, BX, AS, BS) DEFINE_MICRO(micro_##nm##_6, AX, BX, AS, BS, 6, COLS6, FOR_COLS6)
#endif

#define DEFINE_LAYOUT(nm, AX, BX, AS, BS)                                                      \
    DEFINE_WIDE(nm, AX, BX, AS, BS)                                                            \
    DEFINE_MICRO(micro_##nm##_4, AX, BX, AS, BS, 4, COLS4, FOR_COLS4)                          \
    DEFINE_MICRO(micro_##nm##_2, AX, BX, AS, BS, 2, COLS2, FOR_COLS2)

DEFINE_LAYOUT(nn, A_N, B_N, 1, PX)
DEFINE_LAYOUT(nt, A_N, B_T, 1, 1)
DEFINE_LAYOUT(tn, A_T, B_N, PX, PX)
DEFINE_LAYOUT(tt, A_T, B_T, PX, 1)

const gemm_mk_fn gemm_micro[4][3] = {
    {micro_nn_6, micro_nn_4, micro_nn_2},
    {micro_nt_6, micro_nt_4, micro_nt_2},
    {micro_tn_6, micro_tn_4, micro_tn_2},
    {micro_tt_6, micro_tt_4, micro_tt_2},
};
