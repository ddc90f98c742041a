/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa DMA service: L2 <-> L1 copies on the cluster DMA (MCHAN v7) through the per-core
 * command port.
 *
 * Port choice: each cluster core uses its own MCHAN channel at 0x10204400 (event-unit demux),
 * so the multi-word command sequence of one core can never interleave with another core's
 * and no lock is needed (the shared port at 0x10201800 would need the event unit's single
 * hardware mutex around every enqueue). A copy allocates one transfer id (TID) by reading
 * the command register; all the commands it pushes afterwards on that port count on it, so
 * one id covers a copy split into several commands. hal_dma_copy_*() return TID + 1 (0 stays
 * "invalid"); hal_dma_wait() sleeps on the DMA event until the TID's bit in STATUS clears,
 * then frees the TID. MCHAN has 16 TIDs for the whole cluster and allocation stalls while none
 * is free: every copy must be waited for, by the core that issued it.
 *
 * Commands: LEN (16 bits) | TYPE (1 = L2->L1) | INC | 2D_EXT | ELE, then the L1 address, the
 * L2 address and, for 2D, the bytes per row and the L2 row stride. 2D only strides the L2
 * side: when the L1 side is strided, one 1D command per row is pushed. Longer pieces are split
 * into 65528-byte commands (a multiple of 8, so the pieces stay aligned). Row lengths and
 * strides above 0xFFFF are also done row by row (the 2D count/stride fields may be 16 bits).
 *
 * L3 (HyperRAM) is reached through the uDMA HyperBus channels, which this backend does not
 * implement yet: a copy from or to an L3 address returns 0, as does any pair other than
 * L2 <-> L1. */
#include <stdint.h>

#include "hal.h"
#include "siracusa_board.h"

#define MCHAN_CMD 0x10204400u    /* per-core port: read = allocate TID, write = push a word */
#define MCHAN_STATUS 0x10204404u /* bits 15:0: TID busy; write 1 << tid: free it */
#define CMD_L2_TO_L1 (1u << 16)
#define CMD_INC (1u << 17)
#define CMD_2D_EXT (1u << 18)
#define CMD_ELE (1u << 19)       /* completion event on line SIR_EVT_DMA */
#define MAX_CMD_LEN 0xFFF8u      /* <= 16-bit LEN, multiple of 8 */
#define MAX_2D_FIELD 0xFFFFu

#define L1_BASE 0x10000000u
#define L1_END 0x10040000u
#define L2_BASE 0x1C000000u      /* private banks + shared L2 */
#define L2_END 0x1C190000u

enum { LVL_L1, LVL_L2, LVL_NONE };

static hal_dma_stats_t g_stats[SIR_CL_CORES];
static uint32_t g_owned[SIR_CL_CORES]; /* TIDs a core allocated and has not freed */

static int level(uintptr_t a)
{
    if (a >= L1_BASE && a < L1_END) return LVL_L1;
    if (a >= L2_BASE && a < L2_END) return LVL_L2;
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

hal_dma_id hal_dma_copy_2d(void *dst, const void *src, size_t row_bytes, size_t rows,
                           size_t dst_stride, size_t src_stride)
{
    if (!dst || !src || !row_bytes || !rows || dst_stride < row_bytes || src_stride < row_bytes)
        return 0;
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    int dl = span_level(d, d + (rows - 1) * dst_stride + row_bytes - 1);
    int sl = span_level(s, s + (rows - 1) * src_stride + row_bytes - 1);
    uint32_t dir;
    uintptr_t loc, ext;
    size_t loc_stride, ext_stride;
    if (dl == LVL_L1 && sl == LVL_L2) {
        dir = CMD_L2_TO_L1, loc = d, ext = s, loc_stride = dst_stride, ext_stride = src_stride;
    } else if (dl == LVL_L2 && sl == LVL_L1) {
        dir = 0, loc = s, ext = d, loc_stride = src_stride, ext_stride = dst_stride;
    } else {
        return 0; /* L3 (uDMA HyperBus path not implemented), L2<->L2, L1<->L1, unknown */
    }

    unsigned core = sir_core_id();
    uint32_t tid = sir_read(MCHAN_CMD) & 0xFu; /* stalls while all 16 TIDs are taken */
    if (rows == 1 || (loc_stride == row_bytes && ext_stride == row_bytes)) {
        push_1d(dir, loc, ext, rows * row_bytes);
    } else if (loc_stride == row_bytes && row_bytes <= MAX_CMD_LEN && ext_stride <= MAX_2D_FIELD) {
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
