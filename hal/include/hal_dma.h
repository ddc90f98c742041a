/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal_dma.h
 *  @brief DMA service: asynchronous 1D and 2D copies between memory levels (L2 <-> L1, L3 -> L2).
 *
 *  A copy is started by the calling core and completes asynchronously; hal_dma_wait() blocks
 *  until it is done. On `host` and `qemu` the copy is a memcpy done at issue time and its
 *  instructions are attributed to the DMA engine, not to the core (see hal_perf.h). On
 *  `siracusa` L1 <-> L2 copies use the cluster DMA (MCHAN), L3 <-> L2 copies the uDMA HyperBus
 *  channels (L3 <-> L1 is not possible there: stage through L2).
 *
 *  A copy is never refused silently: invalid arguments, a pair of levels the target cannot
 *  move, or a transfer its engine reports as failed end the program with one device-log
 *  record `@fault cause=dma dst=0x... src=0x... bytes=N core=C why=...` (docs/devlog.md) and
 *  exit code 134, on every target. A returned id is therefore always valid.
 */
#ifndef HAL_DMA_H
#define HAL_DMA_H

#include <stddef.h>
#include <stdint.h>

#include "et_status.h"

/** Transfer id returned by a copy, to pass to hal_dma_wait(). */
typedef uint32_t hal_dma_id;

/** Per-core DMA traffic counters, by direction (bytes since boot). */
typedef struct {
    uint64_t l2_to_l1;  /**< bytes moved from L2 (or L3) into L1 */
    uint64_t l1_to_l2;  /**< bytes moved from L1 into L2 */
    uint64_t l3_to_l2;  /**< bytes moved from L3 into L2 */
    uint64_t other;     /**< any other pair of levels (e.g. L2 -> L2) */
} hal_dma_stats_t;

/**
 * @brief Start a contiguous copy of `bytes` bytes from `src` to `dst`.
 * @return a transfer id (never 0). Invalid arguments (NULL pointer, zero length) or a level
 *         pair the target cannot move: `@fault cause=dma`, the program ends (see above).
 */
hal_dma_id hal_dma_copy_1d(void *dst, const void *src, size_t bytes);

/**
 * @brief Start a strided copy of `rows` rows of `row_bytes` bytes each.
 * @param[out] dst        first byte of row 0 at the destination
 * @param[in]  src        first byte of row 0 at the source
 * @param[in]  row_bytes  bytes per row (> 0)
 * @param[in]  rows       number of rows (> 0)
 * @param[in]  dst_stride bytes between row starts at dst (>= row_bytes)
 * @param[in]  src_stride bytes between row starts at src (>= row_bytes)
 * @return a transfer id (never 0); invalid arguments end the program as above.
 */
hal_dma_id hal_dma_copy_2d(void *dst, const void *src, size_t row_bytes, size_t rows,
                           size_t dst_stride, size_t src_stride);

/** @brief Block until transfer `id` has completed (id 0 returns at once). */
void hal_dma_wait(hal_dma_id id);

/** @brief Copy this core's DMA traffic counters into *out. */
void hal_dma_stats(hal_dma_stats_t *out);

#endif /* HAL_DMA_H */
