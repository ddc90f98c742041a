/* SPDX-License-Identifier: Apache-2.0 */
/* Bootloader board part for qemu `virt`: regions from the build, the loader's own image and
 * stack protected, and the start that releases harts 1..7 from wfi through the CLINT. */
#include <stdint.h>
#include <string.h>

#include "boot_board.h"
#include "boot_regions.h"

#define UART0 0x10000000u
#define UART_RBR 0u
#define UART_FCR 2u
#define CLINT_MSIP 0x02000000u /* + 4*hart */
#define HARTS 8u

extern char __boot_bss_start[], __boot_bss_end[];

/* Read by the sleeping harts; in .data so that it is 0 from the ELF image, before any code. */
volatile uint32_t boot_release_entry __attribute__((section(".data"))) = 0;

void boot_board_init(void)
{
    memset(__boot_bss_start, 0, (size_t)(__boot_bss_end - __boot_bss_start));
    /* Receive FIFO on (trigger level 14): qemu then delivers up to 14 bytes per poll of its
     * socket instead of one, which multiplies the serial throughput. */
    ((volatile uint8_t *)UART0)[UART_FCR] = 0xC7u;
    /* A byte that came before this point waited in the holding register, so qemu stopped
     * reading its socket; the FIFO reset above dropped that byte without telling qemu, which
     * then stays deaf until something reads the data register (a host that talks as soon as it
     * connects hit this: seconds of silence). This read tells it to read on. */
    (void)((volatile uint8_t *)UART0)[UART_RBR];
}

void boot_board_write(uint32_t addr, const uint8_t *data, unsigned len)
{
    memcpy((void *)(uintptr_t)addr, data, len); /* every qemu region is RAM */
}

uint32_t boot_board_crc(uint32_t addr, uint32_t size)
{
    return boot_crc32(0, (const uint8_t *)(uintptr_t)addr, size);
}

void boot_board_start(uint32_t entry)
{
    ((volatile uint8_t *)UART0)[UART_FCR] = 0x00u; /* the app finds the UART as at reset */
    (void)((volatile uint8_t *)UART0)[UART_RBR];   /* and qemu reading on (see above) */
    boot_release_entry = entry;
    __asm__ volatile("fence rw, rw" ::: "memory");
    for (unsigned h = 1; h < HARTS; ++h) ((volatile uint32_t *)CLINT_MSIP)[h] = 1u;
    __asm__ volatile(
        "csrw mie, zero\n"
        ".word 0x0000100f\n" /* fence.i: the loaded code was written as data */
        "li a0, 0\n"
        "jr %0\n" ::"r"(entry) : "a0", "memory");
    __builtin_unreachable();
}
