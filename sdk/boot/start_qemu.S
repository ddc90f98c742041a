/* SPDX-License-Identifier: Apache-2.0 */
/* Bootloader entry on qemu `virt`: every hart starts here (qemu -kernel, via _boot_reset). Hart 0 runs the
 * loader on its own stack; the other harts sleep in wfi until hart 0 publishes the program's
 * entry and wakes them through the CLINT, then all jump there with a0 = hart id. */
    .section .boot_reset, "ax"
    .global _boot_reset
_boot_reset:                        /* qemu -bios none: every hart resets to the RAM base */
    lui     t0, %hi(_boot_start)
    jalr    zero, %lo(_boot_start)(t0)

    .section .text.init, "ax"
    .global _boot_start
_boot_start:
    csrw    mie, zero
    csrw    mstatus, zero
    la      t0, .Ltrap
    csrw    mtvec, t0
.option push
.option norelax
    la      gp, __global_pointer$
.option pop
    csrr    a0, mhartid
    bnez    a0, .Lsleep
    la      sp, __boot_stack_top
    call    main
.Lhang:
    wfi
    j       .Lhang
.Lsleep:
    li      t0, 8                   /* mie.MSIE: a software interrupt ends wfi */
    csrw    mie, t0
    la      t1, boot_release_entry
1:  wfi
    lw      t2, 0(t1)
    beqz    t2, 1b
    li      t3, 0x02000000          /* clear this hart's MSIP */
    slli    t4, a0, 2
    add     t3, t3, t4
    sw      zero, 0(t3)
    csrw    mie, zero
    fence   rw, rw
    .word   0x0000100f              /* fence.i */
    jr      t2
    .align 4
.Ltrap:                             /* a trap in the loader: stop, the host times out */
    wfi
    j       .Ltrap
