/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_log.h
 *  @brief Writers for the device log records (format: docs/devlog.md). Call from core 0.
 */
#ifndef ET_LOG_H
#define ET_LOG_H

#include <stdint.h>

#include "hal_perf.h"

/** Version of the device log format written by this SDK. */
#define ET_LOG_VERSION 1

/** One @perf record: a measured stretch of one core. Unused optional fields stay 0. */
typedef struct {
    const char *layer; /**< what ran (no spaces) */
    const char *phase; /**< fwd, bwd, update, total, ... */
    unsigned core;     /**< cluster core id */
    hal_perf_t delta;  /**< counters at the end minus at the start */
    uint64_t flop;     /**< floating-point operations of this core's share (0: not given) */
    uint64_t dma_in;   /**< bytes moved into L1 (0: not given) */
    uint64_t dma_out;  /**< bytes moved out of L1 (0: not given) */
} et_perf_record;

/** @brief `@start`: app name, target, core count, counter source, log version. */
void et_log_start(const char *app);
/** @brief `@perf` from a filled record. */
void et_log_perf(const et_perf_record *rec);
/** @brief `@loss` for one training step. */
void et_log_loss(unsigned step, float value);
/** @brief `@mem` for every level: capacity and static use (peak if nonzero). */
void et_log_mem(const uint64_t peak[3]);
/** @brief `@result`: a value checked on the device against a reference. */
void et_log_result(const char *name, int ok, double value, double ref);
/** @brief `@done` with the exit code. */
void et_log_done(int code);

/** @brief Difference b - a of two counter snapshots. */
hal_perf_t et_perf_diff(const hal_perf_t *a, const hal_perf_t *b);

#endif /* ET_LOG_H */
