/* SPDX-License-Identifier: Apache-2.0 */
/* qemu perf service: per-hart counters kept by the cluster scheduler (see cluster.c). */
#include "hal.h"
#include "qemu_board.h"

void hal_perf_read(hal_perf_t *out)
{
    uint64_t instret, waited;
    qemu_hart_counters(&instret, &waited);
    out->instret = instret;
    out->cycles = instret + waited;
}

const char *hal_perf_source(void) { return "qemu-icount"; }
