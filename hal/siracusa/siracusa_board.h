/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the siracusa backend: Siracusa register addresses, event-unit helpers and the
 * hooks between the backend's services.
 *
 * Addresses are the global (0x1xxxxxxx) ones; the per-core "demux" windows (event unit at
 * 0x10204000, DMA at 0x10204400) show each cluster core its own registers and can only be
 * reached from cluster cores, never from the fabric controller (FC). */
#ifndef SIRACUSA_BOARD_H
#define SIRACUSA_BOARD_H

#include <stdint.h>

/* SoC */
#define SIR_APB_CORESTATUS 0x1A1040A0u  /* write 0x80000000 | code: end of program */
#define SIR_FC_ICACHE_CTRL 0x1A108800u  /* +0: enable (non-zero) */
#define SIR_STDOUT_BASE 0x1A10F000u     /* + (cluster << 7) + (core << 3), one byte a write */
#define SIR_FC_CLUSTER_ID 31u           /* the FC's cluster id in mhartid */
#define SIR_END_FLAG 0x80000000u        /* CORESTATUS "end" bit, also the exit-word valid bit */

/* Cluster control unit, icache and the global event unit view (reachable from the FC). */
#define SIR_CL_FETCH_EN 0x10200008u     /* bit i: core i fetches */
#define SIR_CL_BOOTADDR(i) (0x10200040u + 4u * (i))
#define SIR_CL_ICACHE_CTRL 0x10201400u  /* write 0xFFFFFFFF: enable */

/* Cluster event unit, per-core demux view (cluster cores only). */
#define SIR_EU 0x10204000u
#define SIR_EU_EVT_MASK (SIR_EU + 0x00u)
#define SIR_EU_EVT_MASK_AND (SIR_EU + 0x04u)   /* clears the bits written as 1 */
#define SIR_EU_EVT_MASK_OR (SIR_EU + 0x08u)    /* sets the bits written as 1 */
#define SIR_EU_EVT_WAIT (SIR_EU + 0x38u)       /* read: sleep until buffer & mask != 0 */
#define SIR_EU_EVT_WAIT_CLEAR (SIR_EU + 0x3Cu) /* same, then clears the masked buffer bits */
#define SIR_EU_MUTEX0 (SIR_EU + 0xC0u)         /* read: lock (sleeps on event 17); write: unlock */
#define SIR_EU_SW_TRIG(evt) (SIR_EU + 0x100u + 4u * (evt)) /* write a core mask */
#define SIR_EU_BAR0 (SIR_EU + 0x200u)           /* hardware barrier 0 */
#define SIR_EU_BAR_TRIG_MASK 0x00u
#define SIR_EU_BAR_TARGET_MASK 0x0Cu
#define SIR_EU_BAR_WAIT_CLEAR 0x1Cu             /* read: arrive, sleep, clear masked events */

/* Cluster event lines used by this backend. */
#define SIR_EVT_FORK 1u     /* software event: core 0 -> workers, "a fork is published" */
#define SIR_EVT_DMA 8u      /* MCHAN transfer-complete event */
#define SIR_EVT_BARRIER 16u /* hardware barrier completed */
#define SIR_EVT_MUTEX 17u   /* hardware mutex released */

#define SIR_CL_CORES 8u

#if defined(SIR_HOST_MODEL)
/* tests/hal/test_siracusa_dma_words.py: this backend's register traffic, built natively,
 * goes to a host model that records it (tests/hal/siracusa_model.c). */
uint32_t sir_model_read(uint32_t addr);
void sir_model_write(uint32_t addr, uint32_t v);
uint32_t sir_model_hartid(void);
static inline uint32_t sir_read(uint32_t addr) { return sir_model_read(addr); }
static inline void sir_write(uint32_t addr, uint32_t v) { sir_model_write(addr, v); }
static inline uint32_t sir_hartid(void) { return sir_model_hartid(); }
#else
static inline uint32_t sir_read(uint32_t addr) { return *(volatile uint32_t *)addr; }
static inline void sir_write(uint32_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

static inline uint32_t sir_hartid(void)
{
    uint32_t id;
    __asm__ volatile("csrr %0, mhartid" : "=r"(id));
    return id;
}
#endif

/** Core id inside the cluster (mhartid bits 4:0). */
static inline unsigned sir_core_id(void) { return sir_hartid() & 0x1Fu; }
/** Cluster id (mhartid bits 10:5); 31 on the FC. */
static inline unsigned sir_cluster_id(void) { return (sir_hartid() >> 5) & 0x3Fu; }

/** Sleep until an event in the calling core's mask is pending, then clear the masked ones.
 * A plain load: the pending read stalls the core clock-gated. (The XpulpV2 `p.elw` form only
 * differs for interrupts taken while asleep, and this backend runs with interrupts off.) */
static inline uint32_t sir_evt_wait_clear(void) { return sir_read(SIR_EU_EVT_WAIT_CLEAR); }

/** Take the event unit's hardware mutex 0 (cluster cores; sleeps on SIR_EVT_MUTEX only while
 * locking). Guards the register sequences of shared uDMA channels (UART TX, HyperBus). */
static inline void sir_mutex_lock(void)
{
    sir_write(SIR_EU_EVT_MASK_OR, 1u << SIR_EVT_MUTEX);
    (void)sir_read(SIR_EU_MUTEX0);
    sir_write(SIR_EU_EVT_MASK_AND, 1u << SIR_EVT_MUTEX);
}

static inline void sir_mutex_unlock(void) { sir_write(SIR_EU_MUTEX0, 0); }

/** Order the calling core's earlier memory accesses before its later ones (incl. devices). */
#if defined(SIR_HOST_MODEL)
static inline void sir_fence(void) { __asm__ volatile("" ::: "memory"); }
#else
static inline void sir_fence(void) { __asm__ volatile("fence" ::: "memory"); }
#endif

/* Hooks between the services (cluster side). */
void sir_cluster_core_init(unsigned core); /* event masks + barrier 0 for all 8 cores */
void sir_cluster_boot_barrier(void);       /* all 8 cores meet once after init */
void sir_cluster_worker(unsigned core) __attribute__((noreturn));
void sir_perf_core_init(void);
void sir_uart_init(void);
/** Raw 32-bit wall-clock cycle counter (mcycle) of the calling core, for timeouts. */
uint32_t sir_cycles32(void);

#endif /* SIRACUSA_BOARD_H */
