/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa only: the conv2d 4x4 micro-kernel (4 output channels x 4 output columns) for 3-wide
 * kernels at column stride 1, the shape of every 3x3 stride-1 convolution and of the input
 * gradient of any 3x3 one, as nested XpulpV2 hardware loops (channels outside, kernel rows
 * inside, the 3 kernel columns unrolled):
 *
 *   void conv_k4x4_k3s1(const float *p, const float *w, unsigned C, unsigned kh,
 *                       unsigned row_bytes, unsigned chan_skip_bytes, float acc[16]);
 *
 * acc[4 j + i] += sum over c < C, ky < kh, kx < 3 of w[j] * p[kx + i] at the (c, ky, kx) step,
 * where w advances 4 floats per step and p one padded row (row_bytes) per ky and chan_skip_bytes
 * more per channel: conv2d_core.c's mk4x4 with cs = 1, kw = 3. The 6 input columns of a kernel
 * row are loaded once for its 3 steps (the C kernel loads 12), the weights of the next step
 * are loaded while the current one computes (two register sets), no load is used by the
 * instruction right after it, and there is no branch in the loop. Each accumulator is the same
 * chain of fmadd.s in (c, ky, kx) order as the C kernel: bit-identical results.
 *
 * The weight gradient's kernel (conv2d_wgrad.c's mk_wgrad) stays in C: written the same way it
 * measured no faster in GVSoC (8,179,167 against 7,961,096 cycles for CCT-2's 64->128 layer);
 * with 16 fmadd.s to 8 loads it already waits on the FPU two cores share. */
#if defined(ET_TARGET_SIRACUSA)

#include "et_xpulp_asm.h"

    .option norelax /* label differences in lp.setup stay constants */
    .option norvc   /* fixed 4-byte instructions in the loop bodies */

#define X0 ft8
#define X1 ft9
#define X2 ft10
#define X3 ft11
#define X4 fs0
#define X5 fs1
#define WA0 fs2
#define WA1 fs3
#define WA2 fs4
#define WA3 fs5
#define WB0 fs6
#define WB1 fs7
#define WB2 fs8
#define WB3 fs9
/* accumulators of output channel j, columns 0..3 */
#define ACC0 ft0, ft1, ft2, ft3
#define ACC1 ft4, ft5, ft6, ft7
#define ACC2 fa0, fa1, fa2, fa3
#define ACC3 fa4, fa5, fa6, fa7

/* channel j's 4 columns += w * (x_a, x_b, x_c, x_d) */
.macro CH w, xa, xb, xc, xd, c0, c1, c2, c3
    fmadd.s \c0, \w, \xa, \c0
    fmadd.s \c1, \w, \xb, \c1
    fmadd.s \c2, \w, \xc, \c2
    fmadd.s \c3, \w, \xd, \c3
.endm

/* one kernel row (3 steps); a0 = p at the row, a1 = w at its first step */
.macro ROW
    flw X0, 0(a0)
    flw X1, 4(a0)
    flw X2, 8(a0)
    flw X3, 12(a0)
    flw WA0, 0(a1)
    flw WA1, 4(a1)
    flw WA2, 8(a1)
    flw WA3, 12(a1)
    CH WA0, X0, X1, X2, X3, ACC0
    flw WB0, 16(a1)
    CH WA1, X0, X1, X2, X3, ACC1
    flw WB1, 20(a1)
    CH WA2, X0, X1, X2, X3, ACC2
    flw WB2, 24(a1)
    CH WA3, X0, X1, X2, X3, ACC3
    flw WB3, 28(a1)
    flw X4, 16(a0)
    CH WB0, X1, X2, X3, X4, ACC0
    flw WA0, 32(a1)
    CH WB1, X1, X2, X3, X4, ACC1
    flw WA1, 36(a1)
    CH WB2, X1, X2, X3, X4, ACC2
    flw WA2, 40(a1)
    CH WB3, X1, X2, X3, X4, ACC3
    flw WA3, 44(a1)
    flw X5, 20(a0)
    CH WA0, X2, X3, X4, X5, ACC0
    CH WA1, X2, X3, X4, X5, ACC1
    CH WA2, X2, X3, X4, X5, ACC2
    CH WA3, X2, X3, X4, X5, ACC3
    addi a1, a1, 48
.endm

/* acc[16] (a6) to/from the accumulators */
.macro ACC_LOAD
    LOAD4 a6, 0, ACC0
    LOAD4 a6, 16, ACC1
    LOAD4 a6, 32, ACC2
    LOAD4 a6, 48, ACC3
.endm
.macro ACC_STORE
    STORE4 a6, 0, ACC0
    STORE4 a6, 16, ACC1
    STORE4 a6, 32, ACC2
    STORE4 a6, 48, ACC3
.endm

    .globl conv_k4x4_k3s1
    .type conv_k4x4_k3s1, @function
    .section .text.conv_k4x4_k3s1, "ax", @progbits
    .balign 16
/* a0 p, a1 w, a2 C (>= 1), a3 kh (>= 1), a4 row bytes, a5 channel skip bytes (even), a6 acc */
conv_k4x4_k3s1:
    addi sp, sp, -48
    FS_SAVE fs0, fs1, fs2, fs3, fs4, fs5, fs6, fs7, fs8, fs9
    ACC_LOAD
    srli a5, a5, 1             /* the channel skip in two halves: see the end of loop 1 */
1:  LP_SETUP(1, 12, 4f, 1b)   /* loop 1: channels, count a2 (x12) */
2:  LP_SETUP(0, 13, 3f, 2b)   /* loop 0: kernel rows, count a3 (x13) */
    ROW
3:  add a0, a0, a4
    /* nested loops need an instruction between the two loop ends: the skip is added twice */
    add a0, a0, a5
4:  add a0, a0, a5
    ACC_STORE
    FS_RESTORE fs0, fs1, fs2, fs3, fs4, fs5, fs6, fs7, fs8, fs9
    addi sp, sp, 48
    ret
    .size conv_k4x4_k3s1, . - conv_k4x4_k3s1

#endif /* ET_TARGET_SIRACUSA */
#if defined(__linux__) && defined(__ELF__) /* host builds: the empty object needs no exec stack */
    .section .note.GNU-stack, "", %progbits
#endif
