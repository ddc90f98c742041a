/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the qemu backend: the virt board's device addresses and cross-service hooks. */
#ifndef QEMU_BOARD_H
#define QEMU_BOARD_H

#include <stdint.h>

#define QEMU_UART0 0x10000000u         /* NS16550A */
#define QEMU_TEST_FINISHER 0x00100000u /* sifive_test: 0x5555 pass, 0x3333|code<<16 fail */
#define QEMU_CLINT_MSIP 0x02000000u    /* + 4*hart: machine software interrupt pending */
#define QEMU_RTC 0x00101000u           /* goldfish RTC: the host's wall clock in ns */

/** Global virtual instruction clock (minstret under -icount). */
static inline uint64_t qemu_clock(void)
{
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
        __asm__ volatile("csrr %0, minstret" : "=r"(lo));
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

/** The host's wall clock in ns (goldfish RTC; reading the low word latches the high one).
 *  Timeouts that wait for the host, which lives in wall time, use it: the instruction clock
 *  runs as fast or as slow as the polling loop. */
static inline uint64_t qemu_wall_ns(void)
{
    volatile uint32_t *rtc = (volatile uint32_t *)QEMU_RTC;
    uint32_t lo = rtc[0];
    return ((uint64_t)rtc[1] << 32) | lo;
}

void qemu_cluster_init(void);
void qemu_cluster_worker(void) __attribute__((noreturn));
/** The calling hart's own instructions and its barrier waiting time (IPC=1 cycles). */
void qemu_hart_counters(uint64_t *instret, uint64_t *waited);
/** Exclude the instructions between two clock readings from the calling hart's count. */
void qemu_perf_exclude(uint64_t t_start, uint64_t t_end);

#endif /* QEMU_BOARD_H */
