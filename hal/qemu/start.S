/* SPDX-License-Identifier: Apache-2.0 */
/* qemu `virt` start-up: every hart enters here; per-hart L1 stacks, FPU on, trap vector,
 * hart 0 prepares memory and runs main, harts 1..7 become cluster workers. */
    .section .text.init, "ax"
    .global _start
_start:
    csrw    mie, zero
    csrw    mstatus, zero
    la      t0, et_trap_entry
    csrw    mtvec, t0
    li      t0, 0x2000              /* mstatus.FS = initial: enables the FPU */
    csrs    mstatus, t0
    fscsr   zero
.option push
.option norelax
    la      gp, __global_pointer$
.option pop
    la      tp, __tls_base
    csrr    a0, mhartid
    li      t1, 8
    bgeu    a0, t1, .Lpark          /* harts beyond the cluster size never run */
    la      sp, __stack_top         /* stacks grow down from the top of the L1 stack area */
    la      t1, __stack_size_per_core
    mul     t1, t1, a0
    sub     sp, sp, t1
    bnez    a0, .Lworker
    call    et_boot_primary         /* hart 0: clear .bss, init TLS and console; then main */
    /* not reached */
.Lworker:
    call    et_boot_worker          /* waits for hart 0, then serves forks forever */
.Lpark:
    wfi
    j       .Lpark

    .align 4
    .global et_trap_entry
et_trap_entry:                      /* any trap is fatal: report it and stop */
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    csrr    a3, mhartid
    call    et_trap_report
1:  j       1b
