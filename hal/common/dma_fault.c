/* SPDX-License-Identifier: Apache-2.0 */
/* DMA failure report shared by every backend: a copy the target cannot make (invalid
 * arguments, a pair of levels its engines cannot move, a transfer the engine reports as
 * failed) is never silent. The record is written byte by byte (no stdio: the failing copy may
 * have been issued inside a kernel or while stdio is busy), then the program ends with
 * HAL_DMA_FAULT_EXIT, like a trap. */
#include <stdint.h>

#include "hal.h"
#include "hal_port.h"

static void put_str(const char *s)
{
    for (; *s; ++s) hal_uart_putc(*s);
}

static void put_hex(uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int sh = 28; sh >= 0; sh -= 4) hal_uart_putc(hex[(v >> sh) & 0xFu]);
}

static void put_dec(uint32_t v)
{
    char buf[10];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) hal_uart_putc(buf[--n]);
}

void hal_dma_fault(const char *why, const void *dst, const void *src, size_t bytes)
{
    put_str("\n@fault cause=dma dst=0x");
    put_hex((uint32_t)(uintptr_t)dst);
    put_str(" src=0x");
    put_hex((uint32_t)(uintptr_t)src);
    put_str(" bytes=");
    put_dec((uint32_t)bytes);
    put_str(" core=");
    put_dec(hal_cluster_core_id());
    put_str(" why=");
    put_str(why);
    hal_uart_putc('\n');
    hal_exit(HAL_DMA_FAULT_EXIT);
}
