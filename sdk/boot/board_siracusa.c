/* SPDX-License-Identifier: Apache-2.0 */
/* Bootloader board part for Siracusa: runs on the fabric controller from L2 private bank 0,
 * loads into the application L2, the cluster L1 and L3 (HyperRAM, written through the uDMA
 * HyperBus: the frame payload is in L2, which the uDMA reads directly), then jumps to the
 * program on the FC (the program's own start-up boots the cluster and checks the L3 image's
 * size and CRC before main). The console is the HAL's uDMA UART. */
#include <stdint.h>
#include <string.h>

#include "boot_board.h"
#include "boot_regions.h"
#include "siracusa_board.h"
#include "siracusa_l3.h"

#define L3_BOUNCE 256u
static uint32_t g_l3_bounce[L3_BOUNCE / 4u]; /* L2: CRC reads of HyperRAM */

static int in_l3(uint32_t addr) { return addr >= SIR_L3_BASE; }

extern char __boot_bss_start[], __boot_bss_end[];

void boot_board_init(void)
{
    memset(__boot_bss_start, 0, (size_t)(__boot_bss_end - __boot_bss_start));
    sir_perf_core_init(); /* the cycle counter behind the UART timeouts */
    sir_uart_init();
    sir_hyper_init();
}

void boot_board_write(uint32_t addr, const uint8_t *data, unsigned len)
{
    if (in_l3(addr)) /* the payload buffer is word-aligned L2 */
        sir_hyper_copy_sync(SIR_HYPER_CS_RAM, addr - SIR_L3_BASE, (void *)data, len, 0);
    else
        memcpy((void *)(uintptr_t)addr, data, len);
}

uint32_t boot_board_crc(uint32_t addr, uint32_t size)
{
    if (!in_l3(addr)) return boot_crc32(0, (const uint8_t *)(uintptr_t)addr, size);
    uint32_t crc = 0;
    for (uint32_t off = 0; off < size; off += L3_BOUNCE) {
        uint32_t n = size - off < L3_BOUNCE ? size - off : L3_BOUNCE;
        sir_hyper_copy_sync(SIR_HYPER_CS_RAM, addr - SIR_L3_BASE + off, g_l3_bounce, n, 1);
        crc = boot_crc32(crc, (const uint8_t *)g_l3_bounce, n);
    }
    return crc;
}

void boot_board_start(uint32_t entry)
{
    __asm__ volatile(
        "fence rw, rw\n"
        ".word 0x0000100f\n" /* fence.i */
        "jr %0\n" ::"r"(entry) : "memory");
    __builtin_unreachable();
}
