/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa uDMA HyperBus driver (register layout in siracusa_l3.h): the transactions behind
 * L3 <-> L2 copies (dma.c), the boot-time L3 image copy (l3.c) and the serial bootloader's L3
 * writes (sdk/boot/board_siracusa.c). Integer-only: the bootloader runs it on the FC. */
#include <stdint.h>

#include "siracusa_board.h"
#include "siracusa_l3.h"

#define UDMA_CG 0x1A102000u        /* bit i: clock of uDMA peripheral i */
#define HYPER_UDMA_ID 4u
#define HYPER_BASE (0x1A102080u + 0x80u * HYPER_UDMA_ID)
#define HYPER_CH(ch) (HYPER_BASE + 0x80u * (ch))
#define HYPER_COMMON (HYPER_BASE + 0x80u * SIR_HYPER_CHANNELS)
#define CH_RX_SADDR 0x00u
#define CH_RX_SIZE 0x04u
#define CH_RX_CFG 0x08u
#define CH_TX_SADDR 0x0Cu
#define CH_TX_SIZE 0x10u
#define CH_TX_CFG 0x14u
#define CH_CA_SETUP 0x18u
#define CH_EXT_ADDR 0x1Cu
#define CH_STATUS 0x24u
#define CH_TWD_ACT_EXT 0x28u
#define CH_TWD_ACT_L2 0x34u
#define COM_PAGE_BOUND 0x00u
#define COM_T_LATENCY 0x04u
#define COM_EN_LATENCY_ADD 0x08u
#define COM_T_CS_MAX 0x0Cu
#define COM_MEM_SEL 0x20u
#define CFG_EN (1u << 4)
#define CA_READ 0x5u               /* read, memory space, linear burst */
#define CA_WRITE 0x1u              /* write, memory space, linear burst */
#define QUEUE_DEPTH 8u
#define MAX_XFER 0x8000u

static volatile uint32_t g_queued[SIR_HYPER_CHANNELS];

void sir_hyper_init(void)
{
    sir_write(UDMA_CG, sir_read(UDMA_CG) | (1u << HYPER_UDMA_ID));
    sir_write(HYPER_COMMON + COM_PAGE_BOUND, 4u);     /* no page boundary */
    sir_write(HYPER_COMMON + COM_T_CS_MAX, 0xFFFFFFFFu);
    for (unsigned ch = 0; ch < SIR_HYPER_CHANNELS; ++ch) {
        sir_write(HYPER_CH(ch) + CH_TWD_ACT_EXT, 0);
        sir_write(HYPER_CH(ch) + CH_TWD_ACT_L2, 0);
    }
}

uint32_t sir_hyper_pending(unsigned ch) { return (sir_read(HYPER_CH(ch) + CH_STATUS) >> 1) & 0xFFu; }

uint32_t sir_hyper_completed(unsigned ch)
{
    uint32_t queued = g_queued[ch]; /* first: a transfer queued meanwhile only lowers the result */
    return queued - sir_hyper_pending(ch);
}

uint32_t sir_hyper_queue(unsigned ch, unsigned cs, uint32_t ext, uint32_t l2, size_t bytes,
                         int read)
{
    /* Latency as the device needs it (HyperRAM: 6 cycles, doubled; HyperFlash: 15). The
     * controller takes memory select and latencies at each enqueue. */
    sir_write(HYPER_COMMON + COM_MEM_SEL, cs);
    sir_write(HYPER_COMMON + COM_T_LATENCY, cs == SIR_HYPER_CS_RAM ? 6u : 15u);
    sir_write(HYPER_COMMON + COM_EN_LATENCY_ADD, cs == SIR_HYPER_CS_RAM ? 1u : 0u);
    uint32_t base = HYPER_CH(ch);
    while (bytes) {
        uint32_t n = bytes > MAX_XFER ? MAX_XFER : (uint32_t)bytes;
        while (sir_hyper_pending(ch) >= QUEUE_DEPTH) {
        }
        sir_write(base + CH_CA_SETUP, read ? CA_READ : CA_WRITE);
        sir_write(base + CH_EXT_ADDR, ext);
        if (read) {
            sir_write(base + CH_RX_SADDR, l2);
            sir_write(base + CH_RX_SIZE, n);
            g_queued[ch] = g_queued[ch] + 1u;
            sir_write(base + CH_RX_CFG, CFG_EN);
        } else {
            sir_write(base + CH_TX_SADDR, l2);
            sir_write(base + CH_TX_SIZE, n);
            g_queued[ch] = g_queued[ch] + 1u;
            sir_write(base + CH_TX_CFG, CFG_EN);
        }
        ext += n;
        l2 += n;
        bytes -= n;
    }
    return g_queued[ch];
}

void sir_hyper_copy_sync(unsigned cs, uint32_t ext, void *l2, size_t bytes, int read)
{
    unsigned ch = read ? 0u : 1u;
    sir_fence();
    uint32_t seq = sir_hyper_queue(ch, cs, ext, (uint32_t)(uintptr_t)l2, bytes, read);
    while ((int32_t)(sir_hyper_completed(ch) - seq) < 0) {
    }
}
