/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa UART service: the simulator's per-core stdout (default) or the real uDMA UART0.
 *
 * Selection at build time with the define ET_SIRACUSA_UART:
 *   - `sim` (default): each byte is one 32-bit store to the calling core's simulation stdout,
 *     0x1A10F000 + (cluster << 7) + (core << 3); GVSoC prints a line at '\n'. The register does
 *     not exist on silicon, and there is no receive path (hal_uart_getc() returns -1).
 *   - `udma`: the board's serial port, uDMA UART0 (udma_v3 / udma_uart_v1), 8N1, polled. Select
 *     it with `-DET_SIRACUSA_UART=udma` in the compiler flags, e.g. from an app's SConscript:
 *     `env.Append(CPPDEFINES=["ET_SIRACUSA_UART=udma"])` (the define must reach this file).
 *     The divider is computed from ET_SIRACUSA_PERIPH_HZ (default 50 MHz: the peripheral clock
 *     of the GVSoC model; set it to the board's real SoC peripheral clock) and ET_SIRACUSA_BAUD
 *     (default 115200): CLKDIV = round(f / baud) - 1. Receive timeouts count cluster cycles at
 *     ET_SIRACUSA_CLUSTER_HZ (default 400 MHz, an assumption used for timeouts only).
 *     Bytes are collected per core in an L2 line buffer (the uDMA reads L2 only) and sent at
 *     '\n', when the buffer is full, or on hal_uart_flush(). The single TX channel is shared
 *     by all cores under the event unit's hardware mutex 0 (the DMA service uses no mutex). */
#include <stdint.h>

#include "hal.h"
#include "siracusa_board.h"

#define SIR_UART_KIND_sim 1
#define SIR_UART_KIND_udma 2
#define SIR_CAT_(a, b) a##b
#define SIR_CAT(a, b) SIR_CAT_(a, b)
#ifndef ET_SIRACUSA_UART
#define ET_SIRACUSA_UART sim
#endif
#define SIR_UART_KIND SIR_CAT(SIR_UART_KIND_, ET_SIRACUSA_UART)
#if SIR_UART_KIND != SIR_UART_KIND_sim && SIR_UART_KIND != SIR_UART_KIND_udma
#error "ET_SIRACUSA_UART must be sim or udma"
#endif

#if SIR_UART_KIND == SIR_UART_KIND_sim

void sir_uart_init(void) {}

void hal_uart_putc(char c)
{
    uint32_t addr = SIR_STDOUT_BASE + (sir_cluster_id() << 7) + (sir_core_id() << 3);
    sir_write(addr, (uint8_t)c);
}

int hal_uart_getc(unsigned timeout_us)
{
    (void)timeout_us;
    return -1; /* the simulation stdout has no input */
}

void hal_uart_flush(void) {} /* the model flushes each line at '\n' */

#else /* udma */

#ifndef ET_SIRACUSA_PERIPH_HZ
#define ET_SIRACUSA_PERIPH_HZ 50000000u
#endif
#ifndef ET_SIRACUSA_BAUD
#define ET_SIRACUSA_BAUD 115200u
#endif
#ifndef ET_SIRACUSA_CLUSTER_HZ
#define ET_SIRACUSA_CLUSTER_HZ 400000000u
#endif
#define UART_CLKDIV ((ET_SIRACUSA_PERIPH_HZ + ET_SIRACUSA_BAUD / 2u) / ET_SIRACUSA_BAUD - 1u)

#define UDMA_CG 0x1A102000u       /* peripheral clock enables; UART0 = bit 0 */
#define UART0 0x1A102080u         /* uDMA peripheral 0 */
#define UART_RX_SADDR (UART0 + 0x00u)
#define UART_RX_SIZE (UART0 + 0x04u)
#define UART_RX_CFG (UART0 + 0x08u)
#define UART_TX_SADDR (UART0 + 0x10u)
#define UART_TX_SIZE (UART0 + 0x14u)
#define UART_TX_CFG (UART0 + 0x18u)
#define UART_STATUS (UART0 + 0x20u) /* bit 0: TX busy */
#define UART_SETUP (UART0 + 0x24u)
#define CH_CFG_EN (1u << 4)         /* write: start (8-bit words); read: transfer pending */
#define SETUP_8N1_TX_RX 0x0306u     /* 8 data bits, TX enable (bit 8), RX enable (bit 9) */
#define LINE_BYTES 64u
#define CYCLES_PER_CHAR ((uint64_t)ET_SIRACUSA_CLUSTER_HZ * 10u / ET_SIRACUSA_BAUD)

static uint8_t g_line[SIR_CL_CORES][LINE_BYTES]; /* L2: the uDMA cannot read L1 */
static unsigned g_len[SIR_CL_CORES];
static volatile uint8_t g_rx_byte;
static int g_rx_pending;

void sir_uart_init(void)
{
    sir_write(UDMA_CG, sir_read(UDMA_CG) | 1u);
    sir_write(UART_SETUP, SETUP_8N1_TX_RX | ((uint32_t)UART_CLKDIV << 16));
}

/* Send one core's buffered bytes and wait until the uDMA has read them all. */
static void send_line(unsigned core)
{
    if (!g_len[core]) return;
    sir_mutex_lock();
    while (sir_read(UART_TX_CFG) & CH_CFG_EN) {
    }
    sir_fence();
    sir_write(UART_TX_SADDR, (uint32_t)(uintptr_t)g_line[core]);
    sir_write(UART_TX_SIZE, g_len[core]);
    sir_write(UART_TX_CFG, CH_CFG_EN);
    while (sir_read(UART_TX_CFG) & CH_CFG_EN) {
    }
    sir_mutex_unlock();
    g_len[core] = 0;
}

void hal_uart_putc(char c)
{
    unsigned core = sir_core_id() & (SIR_CL_CORES - 1u);
    g_line[core][g_len[core]++] = (uint8_t)c;
    if (c == '\n' || g_len[core] == LINE_BYTES) send_line(core);
}

/* Cycles elapsed since *since (updated), on the 32-bit cycle counter, wrap-safe. */
static uint32_t cycles_step(uint32_t *since)
{
    uint32_t now = sir_cycles32(), d = now - *since;
    *since = now;
    return d;
}

int hal_uart_getc(unsigned timeout_us)
{
    if (!g_rx_pending) { /* one byte into L2; stays queued across a timeout */
        sir_write(UART_RX_SADDR, (uint32_t)(uintptr_t)&g_rx_byte);
        sir_write(UART_RX_SIZE, 1);
        sir_write(UART_RX_CFG, CH_CFG_EN);
        g_rx_pending = 1;
    }
    uint64_t limit = (uint64_t)timeout_us * (ET_SIRACUSA_CLUSTER_HZ / 1000000u), waited = 0;
    uint32_t t = sir_cycles32();
    while (sir_read(UART_RX_CFG) & CH_CFG_EN) {
        waited += cycles_step(&t);
        if (timeout_us && waited >= limit) return -1;
    }
    g_rx_pending = 0;
    return g_rx_byte;
}

void hal_uart_flush(void)
{
    send_line(sir_core_id() & (SIR_CL_CORES - 1u));
    /* The UART can report "idle" between two bytes: require one character time of idle. */
    uint64_t idle = 0;
    uint32_t t = sir_cycles32();
    while (idle < CYCLES_PER_CHAR) {
        uint32_t d = cycles_step(&t);
        idle = (sir_read(UART_STATUS) & 1u) ? 0 : idle + d;
    }
}

#endif
