/* SPDX-License-Identifier: Apache-2.0 */
/* host perf service: CLOCK_MONOTONIC nanoseconds as "cycles"; instructions are not available. */
#include <time.h>

#include "hal.h"
#include "hal_port.h"

void hal_perf_read(hal_perf_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    out->cycles = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    out->instret = 0;
}

const char *hal_perf_source(void) { return "host-clock"; }

uint64_t hal_port_dma_begin(void) { return 0; }

void hal_port_dma_end(uint64_t token) { (void)token; /* wall-clock time includes the copy */ }
