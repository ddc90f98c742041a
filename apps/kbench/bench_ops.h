/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KBENCH_BENCH_OPS_H
#define KBENCH_BENCH_OPS_H

#include <stddef.h>

/** Benchmark every non-GEMM kernel family against ref_ops.c; returns 1 if all checks pass.
 *  l1/l1_bytes: L1 scratch for the kernels that tile (conv2d, LoRA); l2_spare: an L2 buffer
 *  of >= 192 KiB the caller no longer needs (main.c's GEMM operand B). */
int bench_ops_run(void *l1, size_t l1_bytes, float *l2_spare, size_t spare_bytes);

#endif
