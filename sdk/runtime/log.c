/* SPDX-License-Identifier: Apache-2.0 */
/* Device log writers: formats the @-records of docs/devlog.md on stdout (the HAL UART). */
#include "et_log.h"

#include <stdio.h>

#include "hal.h"

void et_log_start(const char *app)
{
    printf("@start app=%s target=%s cores=%u perf=%s log=%d\n", app, hal_board_name(),
           hal_cluster_max_cores(), hal_perf_source(), ET_LOG_VERSION);
}

void et_log_perf(const et_perf_record *r)
{
    printf("@perf layer=%s phase=%s core=%u cycles=%llu instret=%llu", r->layer, r->phase, r->core,
           (unsigned long long)r->delta.cycles, (unsigned long long)r->delta.instret);
    if (r->flop) printf(" flop=%llu", (unsigned long long)r->flop);
    if (r->dma_in) printf(" dma_in=%llu", (unsigned long long)r->dma_in);
    if (r->dma_out) printf(" dma_out=%llu", (unsigned long long)r->dma_out);
    putchar('\n');
}

void et_log_loss(unsigned step, float value)
{
    printf("@loss step=%u value=%.9g\n", step, (double)value);
}

void et_log_mem(const uint64_t peak[3])
{
    for (int l = 0; l < HAL_MEM_LEVELS; ++l) {
        printf("@mem level=%s cap=%lu static=%lu", hal_mem_level_name((hal_mem_level)l),
               (unsigned long)hal_mem_capacity((hal_mem_level)l),
               (unsigned long)hal_mem_static_used((hal_mem_level)l));
        if (peak && peak[l]) printf(" peak=%llu", (unsigned long long)peak[l]);
        putchar('\n');
    }
}

void et_log_result(const char *name, int ok, double value, double ref)
{
    printf("@result name=%s ok=%d value=%.9g ref=%.9g\n", name, ok ? 1 : 0, value, ref);
}

void et_log_done(int code)
{
    printf("@done code=%d\n", code);
}

hal_perf_t et_perf_diff(const hal_perf_t *a, const hal_perf_t *b)
{
    hal_perf_t d = {b->cycles - a->cycles, b->instret - a->instret};
    return d;
}
