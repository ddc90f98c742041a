/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal_board.h
 *  @brief Board identity and program end.
 */
#ifndef HAL_BOARD_H
#define HAL_BOARD_H

/** @brief Name of the target this binary was built for ("host", "qemu", "siracusa"). */
const char *hal_board_name(void);

/**
 * @brief End the program with an exit code (0 = success). Flushes the console first.
 * @param[in] code  exit code; qemu's process exit status and Siracusa's CORESTATUS carry it.
 * Must be called from cluster core 0 (the core running main) outside a fork.
 */
void hal_exit(int code) __attribute__((noreturn));

#endif /* HAL_BOARD_H */
