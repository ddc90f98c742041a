/* SPDX-License-Identifier: Apache-2.0 */
/* Host model of the Siracusa registers the DMA service touches (hal/siracusa/dma.c + hyper.c
 * built natively with SIR_HOST_MODEL): every register write is printed as `W addr value`, reads
 * answer "done" (MCHAN TID 0 and idle status, HyperBus channels with nothing pending). A DMA
 * fault prints `FAULT why bytes` and exits 3. Scenario = argv[1]; see test_siracusa_dma_words.py. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal.h"
#include "hal_port.h"

uint32_t sir_model_read(uint32_t addr)
{
    (void)addr;
    return 0; /* MCHAN: TID 0 / no TID busy; HyperBus STATUS: idle, 0 queued; CG: all off */
}

void sir_model_write(uint32_t addr, uint32_t v) { printf("W %08x %08x\n", addr, v); }

uint32_t sir_model_hartid(void) { return 3; /* cluster 0, core 3 */ }

void hal_dma_fault(const char *why, const void *dst, const void *src, size_t bytes)
{
    (void)dst, (void)src;
    printf("FAULT %s %zu\n", why, bytes);
    exit(3);
}

#define P(a) ((void *)(uintptr_t)(a))

int main(int argc, char **argv)
{
    const char *s = argc > 1 ? argv[1] : "";
    hal_dma_id id = 0;
    if (!strcmp(s, "l2_to_l1")) id = hal_dma_copy_1d(P(0x10000100u), P(0x1C020000u), 64);
    else if (!strcmp(s, "l1_to_l2")) id = hal_dma_copy_1d(P(0x1C020000u), P(0x10000100u), 64);
    else if (!strcmp(s, "long")) id = hal_dma_copy_1d(P(0x10000000u), P(0x1C020000u), 200000);
    else if (!strcmp(s, "2d")) id = hal_dma_copy_2d(P(0x10000000u), P(0x1C020000u), 32, 4, 32, 128);
    else if (!strcmp(s, "l3_to_l2")) id = hal_dma_copy_1d(P(0x1C030000u), P(0x80001000u), 100000);
    else if (!strcmp(s, "l2_to_l3")) id = hal_dma_copy_1d(P(0x80002000u), P(0x1C030000u), 256);
    else if (!strcmp(s, "l3_to_l1")) id = hal_dma_copy_1d(P(0x10000000u), P(0x80000000u), 64);
    else if (!strcmp(s, "l2_to_l2")) id = hal_dma_copy_1d(P(0x1C030000u), P(0x1C020000u), 64);
    else if (!strcmp(s, "null")) id = hal_dma_copy_1d(0, P(0x1C020000u), 64);
    printf("ID %08x\n", id);
    hal_dma_wait(id);
    return 0;
}
