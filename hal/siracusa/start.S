/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa start-up: the FC entry (_start, integer-only, section .text.fc) and the cluster
 * cores' boot block, trap vectors and entry (per-core L1 stacks, FPU on, then board.c).
 *
 * Vector tables are 256-byte aligned and hold 36 jumps, so they work whether the core uses
 * CV32E40P/standard vectored mode (exceptions at +0, interrupt i at +4i) or the older RI5CY
 * layout (reset at +0x80, exceptions at +0x84..+0x8C). The cluster boot block jumps to the
 * entry from both +0 and +0x80, because the boot-address offset of a core model varies. */

/* ------------------------------------------------------------------------------------------
 * Fabric controller (RV32IMC, no FPU): nothing in .text.fc may use F instructions; the build
 * checks it (tools/et/fccheck.py).
 * ---------------------------------------------------------------------------------------- */
    .section .text.fc, "ax"
    .balign 256
    .type   et_fc_vectors, @function
et_fc_vectors:
.option push
.option norvc
.option norelax
    .rept   36
    j       et_fc_trap_entry
    .endr
.option pop
    .size   et_fc_vectors, . - et_fc_vectors

et_fc_trap_entry:                   /* any FC trap is fatal: report, end the program */
    la      sp, __fc_stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    et_fc_trap              /* board.c: never returns */
2:  j       2b

    .global _start
    .type   _start, @function
_start:
    csrw    mie, zero
    csrw    mstatus, zero
.option push
.option norelax
    la      gp, __global_pointer$
.option pop
    la      sp, __fc_stack_top
    la      tp, __tls_base
    la      t0, et_fc_vectors
    ori     t0, t0, 1               /* vectored mode (read-only 1 on CV32E40P) */
    csrw    mtvec, t0
    call    et_fc_boot              /* board.c: never returns */
1:  wfi
    j       1b
    .size   _start, . - _start

/* ------------------------------------------------------------------------------------------
 * Cluster cores (RV32IMFC + XpulpV2)
 * ---------------------------------------------------------------------------------------- */
    .section .text.et_cluster, "ax"
    .balign 256
    .global et_cluster_boot
    .type   et_cluster_boot, @function
et_cluster_boot:                    /* BOOTADDR(i) of every cluster core */
.option push
.option norvc
.option norelax
    .rept   33                      /* +0x00 .. +0x80 */
    j       et_cluster_start
    .endr
.option pop
    .size   et_cluster_boot, . - et_cluster_boot

    .balign 256
    .type   et_cl_vectors, @function
et_cl_vectors:
.option push
.option norvc
.option norelax
    .rept   36
    j       et_cl_trap_entry
    .endr
.option pop
    .size   et_cl_vectors, . - et_cl_vectors

    .global et_cluster_start
    .type   et_cluster_start, @function
et_cluster_start:
    csrw    mie, zero
    csrw    mstatus, zero
    la      t0, et_cl_vectors
    ori     t0, t0, 1
    csrw    mtvec, t0
    li      t0, 0x2000              /* mstatus.FS = initial: FPU on */
    csrs    mstatus, t0
    fscsr   zero
.option push
.option norelax
    la      gp, __global_pointer$
.option pop
    la      tp, __tls_base          /* one TLS block, as on qemu (picolibc's errno) */
    csrr    a0, mhartid
    andi    a0, a0, 0x1f            /* core id: mhartid bits 4:0 */
    li      t1, 8
    bgeu    a0, t1, .Lpark          /* a 9th PE (the model's) never runs the program */
    la      sp, __stack_top         /* L1 stacks grow down: core i below core i-1 */
    la      t1, __stack_size_per_core
    mul     t1, t1, a0
    sub     sp, sp, t1
    call    et_cluster_main         /* board.c: never returns */
.Lpark:
    wfi
    j       .Lpark
    .size   et_cluster_start, . - et_cluster_start

et_cl_trap_entry:                   /* fatal: fresh stack of this core, report, post code */
    csrr    a3, mhartid
    andi    t0, a3, 0x1f
    la      sp, __stack_top
    la      t1, __stack_size_per_core
    mul     t1, t1, t0
    sub     sp, sp, t1
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    et_cl_trap              /* board.c: never returns */
3:  j       3b
