/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal_perf.h
 *  @brief Performance counters of the calling core: cycles and retired instructions.
 *
 *  What the numbers mean per target (hal_perf_source() names it in every @perf record):
 *  - `qemu-icount`: qemu runs with `-icount shift=0`, harts execute one at a time, and the HAL
 *    books every instruction on the global virtual clock to the hart that executed it.
 *    `instret` is exact per core; `cycles` is the core's time in an IPC=1 parallel model
 *    (its own instructions plus the time it waited at barriers/joins for slower cores).
 *    DMA copies and HAL scheduling bookkeeping are not counted as core instructions.
 *  - `mcycle`: Siracusa (GVSoC or the chip): `cycles` is the core's wall-clock `mcycle` (asleep
 *    in a barrier or DMA wait included), `instret` its PULP instruction counter (PCCR1).
 *  - `host-clock`: cycles are CLOCK_MONOTONIC nanoseconds; instret is 0 (not available).
 */
#ifndef HAL_PERF_H
#define HAL_PERF_H

#include <stdint.h>

/** A snapshot of the calling core's counters. */
typedef struct {
    uint64_t cycles;  /**< cycles (see file comment for the model per target) */
    uint64_t instret; /**< retired instructions of this core only */
} hal_perf_t;

/** @brief Read the calling core's counters. Monotonic; subtract two snapshots for a stretch. */
void hal_perf_read(hal_perf_t *out);

/** @brief Name of the counter source ("qemu-icount", "mcycle", "host-clock"). */
const char *hal_perf_source(void);

#endif /* HAL_PERF_H */
