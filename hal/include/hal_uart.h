/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal_uart.h
 *  @brief Console UART: byte I/O. stdout/stdin (printf, getchar) are routed here.
 */
#ifndef HAL_UART_H
#define HAL_UART_H

/** @brief Send one byte (blocks while the transmitter is full). */
void hal_uart_putc(char c);

/**
 * @brief Receive one byte.
 * @param[in] timeout_us  how long to wait; 0 waits forever
 * @return the byte (0..255), or -1 on timeout or when the target has no receive path.
 */
int hal_uart_getc(unsigned timeout_us);

/** @brief Wait until every byte handed to hal_uart_putc() has left the transmitter. */
void hal_uart_flush(void);

#endif /* HAL_UART_H */
