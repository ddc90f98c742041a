/* SPDX-License-Identifier: Apache-2.0 */
/** @file boot_board.h
 *  @brief What a board gives the bootloader's main loop (boot_main.c): its configuration
 *  (name, application regions, protected ranges), console set-up, memory access for the
 *  commands and the program start.
 *  The console bytes go through the HAL's UART (hal_uart.h).
 */
#ifndef BOOT_BOARD_H
#define BOOT_BOARD_H

#include <stdint.h>

#include "boot_proto.h"

/** @brief Prepare the console UART and anything else the loader needs. */
void boot_board_init(void);

/** @brief Write `len` bytes at `addr` (already range-checked): memory-mapped regions by the
 *  CPU, others (Siracusa's HyperRAM) by the board's engine; complete when it returns. */
void boot_board_write(uint32_t addr, const uint8_t *data, unsigned len);

/** @brief CRC-32 (boot_crc32) of `size` bytes at `addr` (already range-checked). */
uint32_t boot_board_crc(uint32_t addr, uint32_t size);

/** @brief Start the loaded program at `entry` on every core that must run it; never returns. */
void boot_board_start(uint32_t entry) __attribute__((noreturn));

#endif /* BOOT_BOARD_H */
