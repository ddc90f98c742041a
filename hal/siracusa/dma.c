/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa DMA service: L2 <-> L1 copies on the cluster DMA (MCHAN v7) through the per-core
 * command port, and L3 (HyperRAM) <-> L2 copies on the uDMA HyperBus channels.
 *
 * MCHAN. Each cluster core uses its own MCHAN channel at 0x10204400 (event-unit demux), so the
 * multi-word command sequence of one core can never interleave with another core's and no
 * lock is needed. A copy allocates one transfer id (TID) by reading the command register; all
 * the commands it pushes afterwards on that port count on it, so one id covers a copy split
 * into several commands. hal_dma_wait() sleeps on the DMA event until the TID's bit in STATUS
 * clears, then frees the TID. MCHAN has 16 TIDs for the whole cluster and allocation stalls
 * while none is free: every copy must be waited for, by the core that issued it.
 * Command word (MCHAN v7): LEN in bits 16:0 (17 bits), then TYPE (bit 17, 1 = L2->L1), INC
 * (18), 2D_EXT (19), ELE (20: completion event on line SIR_EVT_DMA); then the L1 address, the
 * L2 address and, for 2D, the bytes per row and the L2 row stride. 2D only strides the L2
 * side: when the L1 side is strided, one 1D command per row is pushed. Longer pieces are split
 * into MAX_CMD_LEN-byte commands (a multiple of 8, so the pieces stay aligned).
 *
 * uDMA HyperBus (v3, uDMA peripheral 4 at 0x1A102280). HyperRAM is chip-select 0, HyperFlash
 * chip-select 1; neither is memory-mapped. L3 addresses are the linker's window at 0x80000000
 * (tools/et/targets.py): HyperRAM byte = address - 0x80000000. Reads (L3 -> L2) are queued on
 * transaction channel 0, writes (L2 -> L3) on channel 1; each channel runs its queue (8 deep)
 * in order, so a transfer is done once the channel has completed as many transactions as had
 * been queued up to it: completed = queued - pending (STATUS bits 8:1). The register sequence
 * of one enqueue is made atomic across cores with the event unit's hardware mutex 0. The uDMA
 * reads and writes L2 only: an L3 <-> L1 copy is refused (stage it through L2). Strided L3
 * copies are queued row by row.
 *
 * A copy that no engine can make (invalid arguments, L2 <-> L2, L1 <-> L1, L3 <-> L1, an
 * address in no level) is reported by hal_dma_fault() and ends the program: never a silent 0.
 * The ids: MCHAN TID + 1 (1..16); L3 ids have bit 31 set, the channel in bit 28 and the
 * channel's transaction sequence number in bits 27:0. */
#include <stdint.h>

#include "hal.h"
#include "hal_port.h"
#include "siracusa_board.h"
#include "siracusa_l3.h"

#define MCHAN_CMD 0x10204400u    /* per-core port: read = allocate TID, write = push a word */
#define MCHAN_STATUS 0x10204404u /* bits 15:0: TID busy; write 1 << tid: free it */
#define CMD_L2_TO_L1 (1u << 17)
#define CMD_INC (1u << 18)
#define CMD_2D_EXT (1u << 19)
#define CMD_ELE (1u << 20)       /* completion event on line SIR_EVT_DMA */
#define MAX_CMD_LEN 0x1FFF8u     /* <= 17-bit LEN, multiple of 8 */
#define MAX_2D_FIELD 0xFFFFu

#define L1_BASE 0x10000000u
#define L1_END 0x10040000u
#define L2_BASE 0x1C000000u      /* private banks + shared L2 */
#define L2_END 0x1C190000u

enum { LVL_L1, LVL_L2, LVL_L3, LVL_NONE };

static hal_dma_stats_t g_stats[SIR_CL_CORES];
static uint32_t g_owned[SIR_CL_CORES]; /* TIDs a core allocated and has not freed */

static int level(uintptr_t a)
{
    if (a >= L1_BASE && a < L1_END) return LVL_L1;
    if (a >= L2_BASE && a < L2_END) return LVL_L2;
    if (a >= SIR_L3_BASE && a < SIR_L3_BASE + SIR_L3_BYTES) return LVL_L3;
    return LVL_NONE;
}

/* Level of a whole [first, last] span, LVL_NONE if it leaves one level. */
static int span_level(uintptr_t first, uintptr_t last)
{
    int l = level(first);
    return (last >= first && level(last) == l) ? l : LVL_NONE;
}

static void push_1d(uint32_t dir, uintptr_t loc, uintptr_t ext, size_t bytes)
{
    while (bytes) {
        uint32_t n = bytes > MAX_CMD_LEN ? MAX_CMD_LEN : (uint32_t)bytes;
        sir_write(MCHAN_CMD, n | dir | CMD_INC | CMD_ELE);
        sir_write(MCHAN_CMD, (uint32_t)loc);
        sir_write(MCHAN_CMD, (uint32_t)ext);
        loc += n;
        ext += n;
        bytes -= n;
    }
}

/* rows x row_bytes, contiguous in L1, ext_stride apart in L2 (row_bytes <= MAX_CMD_LEN). */
static void push_2d(uint32_t dir, uintptr_t loc, uintptr_t ext, size_t row_bytes, size_t rows,
                    size_t ext_stride)
{
    size_t per_cmd = MAX_CMD_LEN / row_bytes;
    while (rows) {
        size_t n = rows > per_cmd ? per_cmd : rows;
        sir_write(MCHAN_CMD, (uint32_t)(n * row_bytes) | dir | CMD_INC | CMD_2D_EXT | CMD_ELE);
        sir_write(MCHAN_CMD, (uint32_t)loc);
        sir_write(MCHAN_CMD, (uint32_t)ext);
        sir_write(MCHAN_CMD, (uint32_t)row_bytes);
        sir_write(MCHAN_CMD, (uint32_t)ext_stride);
        loc += n * row_bytes;
        ext += n * ext_stride;
        rows -= n;
    }
}

/* ------------------------------------ uDMA HyperBus ------------------------------------ */

#define L3_ID_FLAG 0x80000000u
#define L3_ID_CH_SHIFT 28u
#define L3_SEQ_MASK 0x0FFFFFFFu
#define L3_CH_READ 0u  /* HyperRAM -> L2 */
#define L3_CH_WRITE 1u /* L2 -> HyperRAM */

static hal_dma_id l3_copy_2d(uintptr_t d, uintptr_t s, size_t row_bytes, size_t rows,
                             size_t dst_stride, size_t src_stride, int to_l2)
{
    unsigned ch = to_l2 ? L3_CH_READ : L3_CH_WRITE;
    uint32_t seq = 0;
    sir_fence(); /* the uDMA reads L2: earlier stores first */
    sir_mutex_lock();
    for (size_t r = 0; r < rows; ++r) {
        uintptr_t l2 = to_l2 ? d + r * dst_stride : s + r * src_stride;
        uintptr_t l3 = to_l2 ? s + r * src_stride : d + r * dst_stride;
        seq = sir_hyper_queue(ch, SIR_HYPER_CS_RAM, (uint32_t)(l3 - SIR_L3_BASE),
                              (uint32_t)l2, row_bytes, to_l2);
    }
    sir_mutex_unlock();
    uint64_t bytes = (uint64_t)rows * row_bytes;
    if (to_l2)
        g_stats[sir_core_id()].l3_to_l2 += bytes;
    else
        g_stats[sir_core_id()].other += bytes; /* L2 -> L3, as the memcpy backends count it */
    return L3_ID_FLAG | ((hal_dma_id)ch << L3_ID_CH_SHIFT) | (seq & L3_SEQ_MASK);
}

static void l3_wait(hal_dma_id id)
{
    unsigned ch = (id >> L3_ID_CH_SHIFT) & 1u;
    uint32_t seq = id & L3_SEQ_MASK;
    while (((sir_hyper_completed(ch) - seq) & L3_SEQ_MASK) >= ((L3_SEQ_MASK + 1u) >> 1)) {
    }
}

/* ----------------------------------------- API ----------------------------------------- */

hal_dma_id hal_dma_copy_2d(void *dst, const void *src, size_t row_bytes, size_t rows,
                           size_t dst_stride, size_t src_stride)
{
    if (!dst || !src || !row_bytes || !rows || dst_stride < row_bytes || src_stride < row_bytes)
        hal_dma_fault("invalid-arguments", dst, src, row_bytes * rows);
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    int dl = span_level(d, d + (rows - 1) * dst_stride + row_bytes - 1);
    int sl = span_level(s, s + (rows - 1) * src_stride + row_bytes - 1);
    if ((dl == LVL_L3 && sl == LVL_L2) || (dl == LVL_L2 && sl == LVL_L3))
        return l3_copy_2d(d, s, row_bytes, rows, dst_stride, src_stride, dl == LVL_L2);
    uint32_t dir;
    uintptr_t loc, ext;
    size_t loc_stride, ext_stride;
    if (dl == LVL_L1 && sl == LVL_L2) {
        dir = CMD_L2_TO_L1, loc = d, ext = s, loc_stride = dst_stride, ext_stride = src_stride;
    } else if (dl == LVL_L2 && sl == LVL_L1) {
        dir = 0, loc = s, ext = d, loc_stride = src_stride, ext_stride = dst_stride;
    } else {
        hal_dma_fault(dl == LVL_NONE || sl == LVL_NONE ? "address-outside-L1-L2-L3"
                      : (dl == LVL_L3 || sl == LVL_L3) ? "L3-L1-not-supported-stage-through-L2"
                                                       : "no-engine-for-this-level-pair",
                      dst, src, rows * row_bytes);
    }

    unsigned core = sir_core_id();
    uint32_t tid = sir_read(MCHAN_CMD) & 0xFu; /* stalls while all 16 TIDs are taken */
    if (rows == 1 || (loc_stride == row_bytes && ext_stride == row_bytes)) {
        push_1d(dir, loc, ext, rows * row_bytes);
    } else if (loc_stride == row_bytes && row_bytes <= MAX_2D_FIELD && ext_stride <= MAX_2D_FIELD) {
        push_2d(dir, loc, ext, row_bytes, rows, ext_stride);
    } else {
        for (size_t r = 0; r < rows; ++r)
            push_1d(dir, loc + r * loc_stride, ext + r * ext_stride, row_bytes);
    }
    g_owned[core] |= 1u << tid;

    uint64_t bytes = (uint64_t)rows * row_bytes;
    if (dir == CMD_L2_TO_L1)
        g_stats[core].l2_to_l1 += bytes;
    else
        g_stats[core].l1_to_l2 += bytes;
    return tid + 1u;
}

hal_dma_id hal_dma_copy_1d(void *dst, const void *src, size_t bytes)
{
    return hal_dma_copy_2d(dst, src, bytes, 1, bytes, bytes);
}

void hal_dma_wait(hal_dma_id id)
{
    if (id & L3_ID_FLAG) {
        l3_wait(id);
        return;
    }
    if (id == 0 || id > 16u) return;
    unsigned core = sir_core_id();
    uint32_t bit = 1u << (id - 1u);
    if (!(g_owned[core] & bit)) return; /* not this core's, or already waited for */
    /* The event is only in the mask while waiting, so it never ends a barrier wait. A stale
     * pending DMA event (another core's transfer) just costs one more status check. */
    sir_write(SIR_EU_EVT_MASK_OR, 1u << SIR_EVT_DMA);
    while (sir_read(MCHAN_STATUS) & bit) (void)sir_evt_wait_clear();
    sir_write(SIR_EU_EVT_MASK_AND, 1u << SIR_EVT_DMA);
    sir_write(MCHAN_STATUS, bit); /* free the TID */
    g_owned[core] &= ~bit;
}

void hal_dma_stats(hal_dma_stats_t *out) { *out = g_stats[sir_core_id()]; }
