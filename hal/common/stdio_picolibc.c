/* SPDX-License-Identifier: Apache-2.0 */
/* Routes picolibc's tinystdio (stdin, stdout, stderr) to the HAL console UART. */
#include <stdio.h>

#include "hal.h"

static int uart_put(char c, FILE *f)
{
    (void)f;
    hal_uart_putc(c);
    return (unsigned char)c;
}

static int uart_get(FILE *f)
{
    (void)f;
    int c = hal_uart_getc(0);
    return c < 0 ? _FDEV_EOF : c;
}

static int uart_flush(FILE *f)
{
    (void)f;
    hal_uart_flush();
    return 0;
}

static FILE g_console = FDEV_SETUP_STREAM(uart_put, uart_get, uart_flush, _FDEV_SETUP_RW);

FILE *const stdin = &g_console;
FILE *const stdout = &g_console;
FILE *const stderr = &g_console;
