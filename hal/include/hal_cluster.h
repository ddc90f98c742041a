/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal_cluster.h
 *  @brief Cluster service: core identity, fork/join of a function on a team of cores, barrier.
 *
 *  Execution model (PULP-like SPMD): `main` runs on cluster core 0. hal_cluster_fork() runs
 *  `fn(arg)` on cores 0..ncores-1 (core 0 included) and returns when all have returned.
 *  Inside `fn`, hal_cluster_barrier() synchronizes the team. Waiting cores sleep (wfi or
 *  event unit), they never spin. Forks do not nest.
 */
#ifndef HAL_CLUSTER_H
#define HAL_CLUSTER_H

#include "et_status.h"

/** Hard upper bound on cluster cores of any target (Siracusa: 8). */
#define HAL_CLUSTER_MAX_CORES 8

/** @brief Id of the calling cluster core, 0..hal_cluster_max_cores()-1. */
unsigned hal_cluster_core_id(void);

/** @brief Cores in the current team (inside a fork), 1 outside a fork. */
unsigned hal_cluster_num_cores(void);

/** @brief Cluster cores available on this target (qemu/siracusa: 8; host: ET_HOST_CORES). */
unsigned hal_cluster_max_cores(void);

/**
 * @brief Run fn(arg) on cores 0..ncores-1 and join.
 * @param[in] ncores 1..hal_cluster_max_cores()
 * @param[in] fn     function every team core runs; must not fork again
 * @param[in] arg    passed unchanged to every core
 * @return ET_OK, or ET_ERR_ARG (ncores out of range, fn NULL, nested fork) without running fn.
 */
et_status hal_cluster_fork(unsigned ncores, void (*fn)(void *arg), void *arg);

/** @brief Team barrier: returns when every core of the current team has called it. */
void hal_cluster_barrier(void);

#endif /* HAL_CLUSTER_H */
