/* SPDX-License-Identifier: Apache-2.0 */
/* kbench's measurement of one kernel call on every core, shared by the GEMM part (main.c) and
 * the other families (bench_ops.c): et_prof probe forks around the call. */
#ifndef KBENCH_H
#define KBENCH_H

#include <stdint.h>

#include "et_prof.h"

/** Per-core counters of one measured call, and their maxima over the cores. */
typedef struct {
    uint64_t instr_max, cycles_max;
    hal_perf_t core[HAL_CLUSTER_MAX_CORES];
} meas;

/** @brief Start measuring a call on nc cores (measures the empty probe pair first). */
void kb_measure_begin(unsigned nc);

/** @brief End the measurement started by kb_measure_begin() into *m. */
void kb_measure_end(meas *m);

#endif /* KBENCH_H */
