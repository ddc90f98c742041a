/* SPDX-License-Identifier: Apache-2.0 */
/* Bootloader board part for Siracusa: runs on the fabric controller from L2 private bank 0,
 * loads into the application L2 and the cluster L1, then jumps to the program on the FC (the
 * program's own start-up boots the cluster). The console is the HAL's uDMA UART. */
#include <stdint.h>
#include <string.h>

#include "boot_board.h"
#include "boot_regions.h"
#include "siracusa_board.h"

extern char __boot_bss_start[], __boot_bss_end[];

void boot_board_init(void)
{
    memset(__boot_bss_start, 0, (size_t)(__boot_bss_end - __boot_bss_start));
    sir_perf_core_init(); /* the cycle counter behind the UART timeouts */
    sir_uart_init();
}

void boot_board_start(uint32_t entry)
{
    __asm__ volatile(
        "fence rw, rw\n"
        ".word 0x0000100f\n" /* fence.i */
        "jr %0\n" ::"r"(entry) : "memory");
    __builtin_unreachable();
}
