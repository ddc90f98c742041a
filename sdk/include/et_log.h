/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_log.h
 *  @brief Writers for the device log records (format: docs/devlog.md). Call from one core at a
 *         time (core 0 or the fabric controller): records are assembled in one buffer.
 *
 *  Every record is sealed: the writer appends ` q=<seq> c=<crc>` (its sequence number since
 *  `@start`, and the CRC-32 of the line up to the seal), so that the host drops a record a noisy
 *  link corrupted and counts the ones it lost.
 */
#ifndef ET_LOG_H
#define ET_LOG_H

#include <stdint.h>

#include "hal_perf.h"

/** Version of the device log format written by this SDK. */
#define ET_LOG_VERSION 2

/** Longest record line the writers assemble (a longer one is cut and goes out unsealed). */
#define ET_REC_MAX 2560

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

/** @brief One whole record: `fmt` starts with `@<type>` and has no newline; sealed and written. */
void et_rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** @brief Start a record assembled piece by piece: `et_rec_begin`, `et_rec_add`..., `et_rec_end`. */
void et_rec_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** @brief Append formatted text to the record being assembled. */
void et_rec_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** @brief Seal the record being assembled (sequence number, CRC-32) and write it with its newline. */
void et_rec_end(void);

/** @brief CRC-32 (IEEE 802.3, as zlib.crc32): continue `crc` (0 to begin) over `n` bytes. */
uint32_t et_crc32(uint32_t crc, const void *buf, unsigned n);

/** @brief Difference b - a of two counter snapshots. */
hal_perf_t et_perf_diff(const hal_perf_t *a, const hal_perf_t *b);

#endif /* ET_LOG_H */
