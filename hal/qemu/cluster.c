/* SPDX-License-Identifier: Apache-2.0 */
/* qemu cluster service: fork/join and barrier over harts 0..7, with exact per-hart accounting.
 *
 * Under `-icount` qemu runs harts one at a time and minstret is one global virtual clock. To
 * book every instruction to the hart that ran it, exactly one hart of the team holds the
 * "baton" (is awake) at a time: a hart that blocks (barrier, join, idle) hands the baton to a
 * runnable hart through its CLINT software interrupt and sleeps in wfi. A hart's own count is
 * then (clock now - clock when it woke) + what it had before. Scheduling bookkeeping is
 * excluded. `cycles` adds the time a hart waited for slower team members (IPC=1 model).
 * The serialisation is a property of this simulated board only; semantics are plain SPMD. */
#include <stdint.h>
#include <stdio.h>

#include "hal.h"
#include "qemu_board.h"

typedef struct {
    volatile uint32_t go;  /* set by the hart that hands over the baton */
    uint64_t own;          /* own instructions booked before awake_since */
    uint64_t awake_since;  /* clock when the current awake stretch began */
    int64_t waited;        /* cycles spent waiting at barriers/joins (IPC=1 model) */
    uint64_t arrival;      /* virtual time at the last barrier arrival */
} hart_state;

/* In .data: workers read their state before hart 0 has cleared .bss. */
static hart_state g_hart[HAL_CLUSTER_MAX_CORES] __attribute__((section(".data")));
static uint32_t g_runnable;    /* harts released and waiting for the baton */
static uint32_t g_arrived;     /* barrier/join arrivals of the current episode */
static unsigned g_team = 1;    /* cores in the current fork (1 outside) */
static int g_in_fork;
static void (*g_fn)(void *);
static void *g_arg;

static inline unsigned hart_id(void)
{
    unsigned id;
    __asm__ volatile("csrr %0, mhartid" : "=r"(id));
    return id;
}

unsigned hal_cluster_core_id(void) { return hart_id(); }
unsigned hal_cluster_num_cores(void) { return g_team; }
unsigned hal_cluster_max_cores(void) { return HAL_CLUSTER_MAX_CORES; }

static inline void msip_write(unsigned hart, uint32_t v)
{
    ((volatile uint32_t *)QEMU_CLINT_MSIP)[hart] = v;
}

/* Stop booking instructions to `me` (start of bookkeeping). */
static inline void account_pause(unsigned me)
{
    g_hart[me].own += qemu_clock() - g_hart[me].awake_since;
}

/* Resume booking instructions to `me` (end of bookkeeping). */
static inline void account_resume(unsigned me) { g_hart[me].awake_since = qemu_clock(); }

static inline uint64_t vtime(unsigned me) { return g_hart[me].own + (uint64_t)g_hart[me].waited; }

void qemu_perf_exclude(uint64_t t_start, uint64_t t_end)
{
    g_hart[hart_id()].awake_since += t_end - t_start;
}

void qemu_hart_counters(uint64_t *instret, uint64_t *waited)
{
    unsigned me = hart_id();
    *instret = g_hart[me].own + (qemu_clock() - g_hart[me].awake_since);
    *waited = (uint64_t)g_hart[me].waited;
}

static void wait_for_baton(unsigned me)
{
    while (!g_hart[me].go) __asm__ volatile("wfi");
    g_hart[me].go = 0;
    msip_write(me, 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Hand the baton to the next runnable hart and sleep until it comes back. */
static void handover(unsigned me)
{
    uint32_t r = g_runnable;
    if (!r) {
        printf("@fault cause=deadlock epc=0x0 tval=0x0 core=%u\n", me);
        hal_exit(125);
    }
    unsigned next = (unsigned)__builtin_ctz(r);
    for (unsigned k = 1; k < HAL_CLUSTER_MAX_CORES; ++k) { /* round-robin after `me` */
        unsigned c = (me + k) % HAL_CLUSTER_MAX_CORES;
        if (r & (1u << c)) { next = c; break; }
    }
    g_runnable = r & ~(1u << next);
    g_hart[next].go = 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    msip_write(next, 1);
    wait_for_baton(me);
}

/* Record `me`'s arrival; returns 1 if it was the last of the team (and settles the waits). */
static int arrive(unsigned me)
{
    uint32_t team_mask = (1u << g_team) - 1u;
    g_hart[me].arrival = vtime(me);
    g_arrived |= 1u << me;
    if (g_arrived != team_mask) return 0;
    uint64_t t_max = 0;
    for (unsigned c = 0; c < g_team; ++c)
        if (g_hart[c].arrival > t_max) t_max = g_hart[c].arrival;
    for (unsigned c = 0; c < g_team; ++c) g_hart[c].waited += (int64_t)(t_max - g_hart[c].arrival);
    g_arrived = 0;
    return 1;
}

void hal_cluster_barrier(void)
{
    unsigned me = hart_id();
    if (g_team == 1) return;
    account_pause(me);
    if (arrive(me))
        g_runnable |= ((1u << g_team) - 1u) & ~(1u << me);
    else
        handover(me);
    account_resume(me);
}

/* Join at the end of a fork: workers go idle, core 0 continues once all have arrived. */
static void join(unsigned me)
{
    if (arrive(me)) {
        if (me == 0) return;
        g_runnable |= 1u;
    }
    handover(me);
}

et_status hal_cluster_fork(unsigned ncores, void (*fn)(void *), void *arg)
{
    unsigned me = hart_id();
    if (!fn || ncores == 0 || ncores > HAL_CLUSTER_MAX_CORES || g_in_fork || me != 0) return ET_ERR_ARG;
    account_pause(me);
    g_in_fork = 1;
    g_team = ncores;
    g_fn = fn;
    g_arg = arg;
    uint64_t t0 = vtime(0);
    for (unsigned c = 1; c < ncores; ++c) g_hart[c].waited = (int64_t)(t0 - g_hart[c].own);
    g_runnable |= ((1u << ncores) - 1u) & ~1u;
    account_resume(me);
    fn(arg);
    account_pause(me);
    if (ncores > 1) join(me);
    g_team = 1;
    g_in_fork = 0;
    account_resume(me);
    return ET_OK;
}

void qemu_cluster_init(void)
{
    __asm__ volatile("csrs mie, %0" ::"r"(1u << 3)); /* MSIE: wfi wakes on a software IRQ */
    g_hart[0].awake_since = qemu_clock();
    g_hart[0].own = 0;
}

void qemu_cluster_worker(void)
{
    unsigned me = hart_id();
    __asm__ volatile("csrs mie, %0" ::"r"(1u << 3)); /* MSIE: wfi wakes on a software IRQ */
    wait_for_baton(me);
    for (;;) {
        account_resume(me);
        g_fn(g_arg);
        account_pause(me);
        join(me);
    }
}
