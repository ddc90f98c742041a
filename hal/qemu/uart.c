/* SPDX-License-Identifier: Apache-2.0 */
/* qemu UART service: the virt board's NS16550A at 0x10000000, polled. */
#include <stdint.h>

#include "hal.h"
#include "qemu_board.h"

#define REG(off) (((volatile uint8_t *)QEMU_UART0)[off])
#define RBR_THR 0
#define LSR 5
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define LSR_TEMT 0x40u

void hal_uart_putc(char c)
{
    while (!(REG(LSR) & LSR_THRE)) {
    }
    REG(RBR_THR) = (uint8_t)c;
}

int hal_uart_getc(unsigned timeout_us)
{
    /* Under -icount shift=0 one instruction is one virtual nanosecond. */
    uint64_t deadline = qemu_clock() + (uint64_t)timeout_us * 1000u;
    while (!(REG(LSR) & LSR_DR))
        if (timeout_us && qemu_clock() > deadline) return -1;
    return REG(RBR_THR);
}

void hal_uart_flush(void)
{
    while (!(REG(LSR) & LSR_TEMT)) {
    }
}
