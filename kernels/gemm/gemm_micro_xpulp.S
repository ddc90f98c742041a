/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa only: the k loop of the 4x6 GEMM micro-kernels as XpulpV2 hardware loops, one
 * function per layout: gemm_k6_<nn|nt|tn|tt>(pa, pb, kt, acc) leaves acc[i][j] = sum over the kt
 * steps of opA(i,k) * opB(k,j) (row-major, 4 x 6 floats); gemm_micro.c adds the epilogue.
 *
 * Why not C: gcc 12 knows no XpulpV2, so its loop pays a taken branch and a refetch of the loop
 * head every iteration, and its schedule puts some loads right before their use (a load-use
 * stall each). Here the loop is lp.setup (no branch), and every load has an independent
 * instruction after it: the B operand alternates between two registers, and the last column of a
 * step reloads A for the next step between its fmadds (each step reads one step ahead, so the
 * last step is peeled and never reads past the tiles).
 *
 * Each accumulator is the same chain of fmadd.s from zero in k order as the portable C kernel:
 * results are bit-identical to host and qemu. Offsets are bytes from the block pointers, with the
 * L1 pitches of gemm_internal.h (GEMM_P = 128 floats, GEMM_PX = 64); B transposed is addressed
 * from its block's third row, as in the C kernels. */
#if defined(ET_TARGET_SIRACUSA)

#include "et_xpulp_asm.h"

    .option norelax /* label differences in lp.setup stay constants */
    .option norvc   /* fixed 4-byte instructions in the loop bodies */
    .text

/* registers: A column fs0-fs3, B ping-pong fs4/fs5, accumulators c<i><j> below */
#define A0 fs0
#define A1 fs1
#define A2 fs2
#define A3 fs3
#define BA fs4
#define BB fs5

/* accumulators of column j: rows 0..3 */
#define C0 ft0, ft1, ft2, ft3
#define C1 ft4, ft5, ft6, ft7
#define C2 fa0, fa1, fa2, fa3
#define C3 fa4, fa5, fa6, fa7
#define C4 ft8, ft9, ft10, ft11
#define C5 fs6, fs7, fs8, fs9

/* byte offset of opA(i, u) from pa and of opB(u, j) from pb, for each layout */
#define AN(i,u) ((i)*512+(u)*4)
#define AT(i,u) ((u)*256+(i)*4)
#define BN(u,j) ((u)*256+(j)*4)
#define BT(u,j) (((j)-2)*512+(u)*4)

.macro COL b, c0, c1, c2, c3
    fmadd.s \c0, A0, \b, \c0
    fmadd.s \c1, A1, \b, \c1
    fmadd.s \c2, A2, \b, \c2
    fmadd.s \c3, A3, \b, \c3
.endm

/* the last column of a step: no look-ahead (LAST) or A and B(u+1, 0) reloaded in between */
.macro LASTCOL c0, c1, c2, c3
    COL BB, \c0, \c1, \c2, \c3
.endm
.macro NEXTCOL c0, c1, c2, c3, a0, a1, a2, a3, b0
    fmadd.s \c0, A0, BB, \c0
    flw A0, \a0(a0)
    fmadd.s \c1, A1, BB, \c1
    flw A1, \a1(a0)
    fmadd.s \c2, A2, BB, \c2
    flw A2, \a2(a0)
    fmadd.s \c3, A3, BB, \c3
    flw A3, \a3(a0)
    flw BA, \b0(a1)
.endm

/* one k step at offset u: on entry A0-A3 = opA(0..3, u), BA = opB(u, 0) */
.macro COLS5 b1, b2, b3, b4, b5
    flw BB, \b1(a1)
    COL BA, C0
    flw BA, \b2(a1)
    COL BB, C1
    flw BB, \b3(a1)
    COL BA, C2
    flw BA, \b4(a1)
    COL BB, C3
    flw BB, \b5(a1)
    COL BA, C4
.endm

#define STEP_NEXT(AX, BX, u)                                                                       \
    COLS5 BX(u,1), BX(u,2), BX(u,3), BX(u,4), BX(u,5);                                        \
    NEXTCOL C5, AX(0,(u)+1), AX(1,(u)+1), AX(2,(u)+1), AX(3,(u)+1), BX((u)+1,0)
#define STEP_LAST(AX, BX)                                                                          \
    COLS5 BX(0,1), BX(0,2), BX(0,3), BX(0,4), BX(0,5);                                        \
    LASTCOL C5

/* void gemm_k6_<nm>(const float *pa, const float *pb, unsigned kt, float acc[4][6]);
 * a0 = pa, a1 = pb, a2 = kt, a3 = acc; t0 = hardware-loop count */
#define DEFINE_K6(nm, AX, BX, ASTEP, BSTEP)                                                        \
    .globl gemm_k6_##nm;                                                                           \
    .type gemm_k6_##nm, @function;                                                                 \
    .section .text.gemm_k6_##nm, "ax", @progbits;                                                  \
    .balign 16;                                                                                    \
gemm_k6_##nm:                                                                                      \
    addi sp, sp, -48;                                                                              \
    FS_SAVE fs0, fs1, fs2, fs3, fs4, fs5, fs6, fs7, fs8, fs9;                                      \
    ZERO_ACC;                                                                                      \
    beqz a2, 3f;                                                                                   \
    flw A0, AX(0,0)(a0); flw A1, AX(1,0)(a0); flw A2, AX(2,0)(a0); flw A3, AX(3,0)(a0);        \
    flw BA, BX(0,0)(a1);                                                                          \
    addi a2, a2, -1;                                                                               \
    srli t0, a2, 1;                                                                                \
    andi a2, a2, 1;                                                                                \
    beqz t0, 2f;                                                                                   \
1:  LP_SETUP(0, 5, 4f, 1b);                                                                       \
    STEP_NEXT(AX, BX, 0);                                                                          \
    STEP_NEXT(AX, BX, 1);                                                                          \
    addi a0, a0, 2 * (ASTEP);                                                                      \
4:  addi a1, a1, 2 * (BSTEP);                                                                      \
2:  beqz a2, 5f;                                                                                   \
    STEP_NEXT(AX, BX, 0);                                                                          \
    addi a0, a0, ASTEP;                                                                            \
    addi a1, a1, BSTEP;                                                                            \
5:  STEP_LAST(AX, BX);                                                                             \
3:  STORE_ACC;                                                                                     \
    FS_RESTORE fs0, fs1, fs2, fs3, fs4, fs5, fs6, fs7, fs8, fs9;                                   \
    addi sp, sp, 48;                                                                               \
    ret;                                                                                           \
    .size gemm_k6_##nm, . - gemm_k6_##nm

#define ZERO_ACC ZERO4 C0; ZERO4 C1; ZERO4 C2; ZERO4 C3; ZERO4 C4; ZERO4 C5

/* column j of acc[4][6] (row pitch 24 bytes) */
.macro STORECOL j, c0, c1, c2, c3
    fsw \c0, (\j*4)(a3)
    fsw \c1, (24+\j*4)(a3)
    fsw \c2, (48+\j*4)(a3)
    fsw \c3, (72+\j*4)(a3)
.endm
#define STORE_ACC STORECOL 0, C0; STORECOL 1, C1; STORECOL 2, C2; STORECOL 3, C3; STORECOL 4, C4; STORECOL 5, C5

DEFINE_K6(nn, AN, BN, 4, 256)
DEFINE_K6(nt, AN, BT, 4, 4)
DEFINE_K6(tn, AT, BN, 256, 256)
DEFINE_K6(tt, AT, BT, 256, 4)

#endif /* ET_TARGET_SIRACUSA */
#if defined(__linux__) && defined(__ELF__) /* host builds: the empty object needs no exec stack */
    .section .note.GNU-stack, "", %progbits
#endif
