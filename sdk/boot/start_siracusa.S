/* SPDX-License-Identifier: Apache-2.0 */
/* Bootloader entry on Siracusa: the fabric controller starts here; its own stack, then main. */
    .section .text.init, "ax"
    .global _boot_start
_boot_start:
    csrw    mie, zero
    la      t0, .Ltrap
    csrw    mtvec, t0
.option push
.option norelax
    la      gp, __global_pointer$
.option pop
    la      sp, __boot_stack_top
    call    main
.Lhang:
    j       .Lhang
    .align 4
.Ltrap:
    j       .Ltrap
