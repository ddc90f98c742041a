/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa cluster service: fork/join and team barrier on the cluster event unit (eu_v3).
 *
 * The cluster cores have no atomic instructions, so all synchronisation is done by the event
 * unit: core 0 publishes (fn, arg, team size, generation) in L1, then sends software event
 * SIR_EVT_FORK to the team's workers, which sleep on EVENT_WAIT_CLEAR (clock-gated, never
 * spinning). The team barrier, and the join at the end of a fork, is hardware barrier 0 with
 * trigger and target mask = the team's cores; core 0 reprograms both masks when the team size
 * changes (only between forks, when no core is in the barrier). Event masks: every core keeps
 * the barrier event (16) enabled, workers also the fork event; the DMA and mutex events are
 * enabled only while a core waits for them, so they can never end a barrier wait early.
 * The generation counter makes a worker ignore a wake-up that is not a new fork for it. */
#include <stdint.h>

#include "hal.h"
#include "siracusa_board.h"

typedef struct {
    void (*fn)(void *);
    void *arg;
    uint32_t gen;      /* incremented by core 0 for every fork */
    uint32_t team;     /* cores in the current fork, 1 outside */
    uint32_t in_fork;
    uint32_t bar_mask; /* trigger/target mask barrier 0 is programmed with */
} fork_state;

/* In L1: a store to the TCDM is complete when core 0 goes on to trigger the event. Set by
 * core 0 after it cleared the L1 data and before the boot barrier. */
static volatile fork_state g_fork HAL_L1;

static inline void bar0_set_mask(uint32_t mask)
{
    sir_write(SIR_EU_BAR0 + SIR_EU_BAR_TRIG_MASK, mask);
    sir_write(SIR_EU_BAR0 + SIR_EU_BAR_TARGET_MASK, mask);
}

static inline void bar0_wait(void) { (void)sir_read(SIR_EU_BAR0 + SIR_EU_BAR_WAIT_CLEAR); }

unsigned hal_cluster_core_id(void) { return sir_core_id(); }

unsigned hal_cluster_num_cores(void) { return g_fork.team ? g_fork.team : 1u; }

unsigned hal_cluster_max_cores(void) { return SIR_CL_CORES; }

void sir_cluster_core_init(unsigned core)
{
    uint32_t mask = 1u << SIR_EVT_BARRIER;
    if (core != 0) mask |= 1u << SIR_EVT_FORK;
    sir_write(SIR_EU_EVT_MASK, mask);
    /* Every core programs barrier 0 for the whole cluster before it arrives there (writing
     * the same masks again is harmless: it only re-checks completion). */
    bar0_set_mask((1u << SIR_CL_CORES) - 1u);
    if (core == 0) {
        g_fork.fn = 0;
        g_fork.arg = 0;
        g_fork.gen = 0;
        g_fork.team = 1;
        g_fork.in_fork = 0;
        g_fork.bar_mask = (1u << SIR_CL_CORES) - 1u;
    }
}

void sir_cluster_boot_barrier(void) { bar0_wait(); }

et_status hal_cluster_fork(unsigned ncores, void (*fn)(void *), void *arg)
{
    if (!fn || ncores == 0 || ncores > SIR_CL_CORES || g_fork.in_fork || sir_core_id() != 0)
        return ET_ERR_ARG;
    uint32_t mask = (1u << ncores) - 1u;
    g_fork.in_fork = 1;
    if (ncores > 1 && mask != g_fork.bar_mask) {
        bar0_set_mask(mask);
        g_fork.bar_mask = mask;
    }
    g_fork.fn = fn;
    g_fork.arg = arg;
    g_fork.team = ncores;
    g_fork.gen = g_fork.gen + 1u;
    sir_fence();
    if (ncores > 1) sir_write(SIR_EU_SW_TRIG(SIR_EVT_FORK), mask & ~1u);
    fn(arg);
    if (ncores > 1) bar0_wait(); /* join: every team core arrives once fn has returned */
    g_fork.team = 1;
    g_fork.in_fork = 0;
    return ET_OK;
}

void hal_cluster_barrier(void)
{
    if (g_fork.team > 1) bar0_wait();
}

void sir_cluster_worker(unsigned core)
{
    uint32_t seen = g_fork.gen;
    for (;;) {
        uint32_t gen = g_fork.gen;
        if (gen != seen) {
            seen = gen;
            if (core < g_fork.team) {
                void (*fn)(void *) = g_fork.fn;
                fn(g_fork.arg);
                bar0_wait(); /* join */
                continue;
            }
        }
        (void)sir_evt_wait_clear();
    }
}
