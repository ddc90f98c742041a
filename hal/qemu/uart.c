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
    /* The timeout is the host's wall time: the other end of the link lives in it (under -icount
     * the instruction clock of a polling loop runs at the simulator's pace, far from it). */
    if (!(REG(LSR) & LSR_DR)) { /* the clock is read only when there is a wait */
        uint64_t deadline = qemu_wall_ns() + (uint64_t)timeout_us * 1000u;
        while (!(REG(LSR) & LSR_DR))
            if (timeout_us && qemu_wall_ns() > deadline) return -1;
    }
    return REG(RBR_THR);
}

void hal_uart_flush(void)
{
    while (!(REG(LSR) & LSR_TEMT)) {
    }
}
