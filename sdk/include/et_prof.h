/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_prof.h
 *  @brief Per-core profiling of one stretch of cluster work (a kernel call) from core 0.
 *
 *  A kernel forks its own team, so core 0 alone cannot read the other cores' counters around
 *  the call. et_prof_begin()/et_prof_end() fork a tiny probe on every core before and after the
 *  stretch (as apps/ktest does) and subtract the cost of an empty probe pair, measured once by
 *  et_prof_init(), so each core's delta holds the stretch's own instructions and cycles.
 *  et_prof_end() writes one `@perf` record per core (docs/devlog.md). Call from core 0 only,
 *  outside a fork. Not reentrant: one stretch at a time per et_prof.
 */
#ifndef ET_PROF_H
#define ET_PROF_H

#include <stdint.h>

#include "et_status.h"
#include "hal_cluster.h"
#include "hal_perf.h"

/** Profiler state: core count, the empty probe pair's cost, the snapshot at the start. */
typedef struct {
    unsigned ncores;                        /**< cores measured (1..HAL_CLUSTER_MAX_CORES) */
    int enabled;                            /**< 0: begin/end do nothing (no records) */
    hal_perf_t zero[HAL_CLUSTER_MAX_CORES]; /**< counters of an empty begin/end pair */
    hal_perf_t start[HAL_CLUSTER_MAX_CORES];/**< snapshot taken by et_prof_begin() */
    hal_perf_t last[HAL_CLUSTER_MAX_CORES]; /**< deltas of the last et_prof_end() */
} et_prof;

/**
 * @brief Set up a profiler for `ncores` cores and measure the empty probe pair.
 * @param[out] p      profiler
 * @param[in]  ncores cores the measured kernels run on (0 = all)
 * @return ET_OK, or ET_ERR_ARG (NULL, ncores out of range; p is then disabled).
 */
et_status et_prof_init(et_prof *p, unsigned ncores);

/** @brief Snapshot every core's counters (start of a stretch). */
void et_prof_begin(et_prof *p);

/**
 * @brief Snapshot again and keep each core's counters for the stretch since et_prof_begin() in
 *        p->last (minus the empty probe pair); writes no record.
 * @return the largest cycle count over the cores (the stretch's makespan); 0 when disabled.
 */
uint64_t et_prof_stop(et_prof *p);

/**
 * @brief et_prof_stop(), then write one `@perf` record per core for the stretch since
 *        et_prof_begin(): `layer`, `phase`, `step` and, on core 0's record, `flop`.
 * @param[in] p     profiler
 * @param[in] layer what ran (no spaces)
 * @param[in] phase fwd, bwd, update, ...
 * @param[in] step  training step (1-based; 0 omits the field)
 * @param[in] flop  floating-point operations of the whole stretch (0 omits the field)
 * @return the largest cycle count over the cores (the stretch's makespan).
 */
uint64_t et_prof_end(et_prof *p, const char *layer, const char *phase, unsigned step,
                     uint64_t flop);

#endif /* ET_PROF_H */
