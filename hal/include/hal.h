/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal.h
 *  @brief EdgeTune hardware abstraction: the one header applications and kernels include.
 *
 *  Each service has its own header (cluster, DMA, perf, UART, memory, board) and each target
 *  (`host`, `qemu`, `siracusa`) implements them in `hal/<target>/`, one .c per service.
 */
#ifndef HAL_H
#define HAL_H

#include "hal_board.h"
#include "hal_cluster.h"
#include "hal_dma.h"
#include "hal_mem.h"
#include "hal_perf.h"
#include "hal_uart.h"

#endif /* HAL_H */
