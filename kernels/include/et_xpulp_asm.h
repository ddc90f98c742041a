/* SPDX-License-Identifier: Apache-2.0 */
/* Assembler macros shared by the Siracusa (XpulpV2) kernels in kernels/<family>/*_xpulp.S;
 * include it inside their `#if defined(ET_TARGET_SIRACUSA)`. Not a C header. */
#ifndef ET_XPULP_ASM_H
#define ET_XPULP_ASM_H

/* lp.setup L, rs1, END (XpulpV2 hardware loop L = 0 inner / 1 outer): the loop body runs from the
 * next instruction to END, the address of its last instruction, rs1 times (x register number).
 * Emitted as a word because binutils does not know the instruction; HERE is the label on it.
 * Bodies must be at least 3 uncompressed instructions without branches (.option norvc), and an
 * outer loop must end at least one instruction after its inner loop. */
#define LP_SETUP(L, RS1, END, HERE)                                                                \
    .word 0x7b + ((L) << 7) + (4 << 12) + ((RS1) << 15) + ((((END) - (HERE)) >> 1) << 20)

/* fp registers to/from consecutive words at sp (the caller sizes the frame) */
.macro FS_SAVE regs:vararg
    .set .Let_off, 0
    .irp r, \regs
    fsw \r, .Let_off(sp)
    .set .Let_off, .Let_off + 4
    .endr
.endm
.macro FS_RESTORE regs:vararg
    .set .Let_off, 0
    .irp r, \regs
    flw \r, .Let_off(sp)
    .set .Let_off, .Let_off + 4
    .endr
.endm

.macro ZERO4 c0, c1, c2, c3
    fmv.w.x \c0, zero
    fmv.w.x \c1, zero
    fmv.w.x \c2, zero
    fmv.w.x \c3, zero
.endm

/* 4 consecutive floats at off(base) to/from 4 registers */
.macro LOAD4 base, off, c0, c1, c2, c3
    flw \c0, (\off)(\base)
    flw \c1, (\off+4)(\base)
    flw \c2, (\off+8)(\base)
    flw \c3, (\off+12)(\base)
.endm
.macro STORE4 base, off, c0, c1, c2, c3
    fsw \c0, (\off)(\base)
    fsw \c1, (\off+4)(\base)
    fsw \c2, (\off+8)(\base)
    fsw \c3, (\off+12)(\base)
.endm

#endif /* ET_XPULP_ASM_H */
