/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa perf service: elapsed cycles from `mcycle` (CSR 0xB00, wall clock: it keeps counting
 * while the core sleeps in a barrier or a DMA wait) and retired instructions from the PULP
 * counter PCCR1 (CSR 0x781), both extended to 64 bits.
 *
 * The PULP cycle counter PCCR0 (0x780) is not used for time: it counts only the cycles the
 * core is awake, so barrier and DMA sleeps would be missing from every stretch. `minstret`
 * reads 0 in the GVSoC model, hence PCCR1 for instructions. Every cluster core enables and
 * zeroes its PULP counters at start-up (PCER = cycles|instructions, reset all through PCCR31,
 * PCMR = active, wrapping). The counters are 32 bits wide; hal_perf_read() extends them with a
 * per-core high word bumped whenever a reading is below the previous one, exact as long as a
 * core reads its counters at least once every 2^32 cycles (about 11 s at 370 MHz). */
#include <stdint.h>

#include "hal.h"
#include "siracusa_board.h"

#define PCER_CYCLES (1u << 0)
#define PCER_INSTR (1u << 1)
#define PCMR_ACTIVE (1u << 0)

typedef struct {
    uint32_t last; /* previous 32-bit reading */
    uint32_t high; /* wraps seen so far */
} counter_ext;

/* In L2 .bss: zeroed by the FC before the cluster starts, one slot per core. */
static counter_ext g_ext[SIR_CL_CORES][2];

void sir_perf_core_init(void)
{
    __asm__ volatile("csrw 0xCC1, zero");                     /* PCMR: stop */
    __asm__ volatile("csrw 0xCC0, %0" ::"r"(PCER_CYCLES | PCER_INSTR));
    __asm__ volatile("csrw 0x79F, zero");                     /* PCCR31: reset all counters */
    __asm__ volatile("csrw 0xCC1, %0" ::"r"(PCMR_ACTIVE));
}

uint32_t sir_cycles32(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, mcycle" : "=r"(v));
    return v;
}

static inline uint32_t instr32(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, 0x781" : "=r"(v));
    return v;
}

static uint64_t extend(counter_ext *e, uint32_t now)
{
    if (now < e->last) e->high++;
    e->last = now;
    return ((uint64_t)e->high << 32) | now;
}

void hal_perf_read(hal_perf_t *out)
{
    counter_ext *e = g_ext[sir_core_id() & (SIR_CL_CORES - 1u)];
    uint32_t cyc = sir_cycles32();
    uint32_t ins = instr32();
    out->cycles = extend(&e[0], cyc);
    out->instret = extend(&e[1], ins);
}

const char *hal_perf_source(void) { return "mcycle"; }
