/* SPDX-License-Identifier: Apache-2.0 */
/* host UART service: the process's stdin/stdout. */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "hal.h"

void hal_uart_putc(char c) { putchar(c); }

/* Bytes read from stdin and not handed out yet: read(2) directly, not stdio, so that poll(2)
 * sees every byte still to come (stdio would keep some in its own buffer, out of poll's sight). */
static unsigned char s_in[4096];
static unsigned s_pos, s_len;

int hal_uart_getc(unsigned timeout_us)
{
    if (s_pos == s_len) {
        if (timeout_us) {
            struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
            if (poll(&p, 1, (int)((timeout_us + 999u) / 1000u)) <= 0) return -1;
        }
        ssize_t n = read(STDIN_FILENO, s_in, sizeof s_in);
        if (n <= 0) return -1;
        s_pos = 0;
        s_len = (unsigned)n;
    }
    return s_in[s_pos++];
}

void hal_uart_flush(void) { fflush(stdout); }
