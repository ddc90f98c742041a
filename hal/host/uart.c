/* SPDX-License-Identifier: Apache-2.0 */
/* host UART service: the process's stdin/stdout. */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "hal.h"

void hal_uart_putc(char c) { putchar(c); }

int hal_uart_getc(unsigned timeout_us)
{
    if (timeout_us) {
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&p, 1, (int)((timeout_us + 999u) / 1000u)) <= 0) return -1;
    }
    int c = getchar();
    return c == EOF ? -1 : c;
}

void hal_uart_flush(void) { fflush(stdout); }
