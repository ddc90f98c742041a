/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa L3: the uDMA HyperBus driver (siracusa_l3.h has the register layout) and the
 * boot-time copy of the program's L3 image (weights, bundled samples: the ELF's non-loadable
 * .l3 section) from HyperFlash into HyperRAM, CRC-checked. The image reaches the flash from
 * the runner: tools/runners/gvsoc.py preloads GVSoC's HyperFlash with it; on a board it is
 * programmed into the flash once (docs/boot-protocol.md). */
#include <stdint.h>

#include "hal.h"
#include "hal_port.h"
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
#define BOUNCE_BYTES 4096u

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

/* Copy and wait (boot only: the calling core is the only user of the controller). */
static void hyper_copy_sync(unsigned cs, uint32_t ext, void *l2, size_t bytes, int read)
{
    unsigned ch = read ? 0u : 1u;
    sir_fence();
    uint32_t seq = sir_hyper_queue(ch, cs, ext, (uint32_t)(uintptr_t)l2, bytes, read);
    while ((int32_t)(sir_hyper_completed(ch) - seq) < 0) {
    }
}

/* CRC-32 (IEEE 802.3, as zlib.crc32), four bits at a time from a 16-entry table. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 0xFu];
        crc = (crc >> 4) ^ t[crc & 0xFu];
    }
    return ~crc;
}

extern char __l3_start[], __l3_used_end[];
static uint32_t g_bounce[BOUNCE_BYTES / 4u]; /* L2: the uDMA reads and writes L2 only */

void sir_l3_boot(void)
{
    sir_hyper_init();
    uint32_t size = (uint32_t)(__l3_used_end - __l3_start);
    if (!size) return;
    hyper_copy_sync(SIR_HYPER_CS_FLASH, 0, g_bounce, 16, 1);
    uint32_t magic = g_bounce[0], img_size = g_bounce[1], img_crc = g_bounce[2];
    if (magic != SIR_L3_IMAGE_MAGIC)
        hal_dma_fault("no-L3-image-in-HyperFlash", __l3_start, 0, size);
    if (img_size != size)
        hal_dma_fault("L3-image-in-HyperFlash-has-the-wrong-size", __l3_start, 0, img_size);
    uint32_t crc = 0;
    for (uint32_t off = 0; off < size; off += BOUNCE_BYTES) {
        uint32_t n = size - off < BOUNCE_BYTES ? size - off : BOUNCE_BYTES;
        hyper_copy_sync(SIR_HYPER_CS_FLASH, SIR_L3_IMAGE_DATA + off, g_bounce, n, 1);
        crc = crc32_update(crc, (const uint8_t *)g_bounce, n);
        hyper_copy_sync(SIR_HYPER_CS_RAM, (uint32_t)(__l3_start - (char *)SIR_L3_BASE) + off,
                        g_bounce, n, 0);
    }
    if (crc != img_crc)
        hal_dma_fault("L3-image-in-HyperFlash-fails-its-CRC", __l3_start, 0, size);
}
