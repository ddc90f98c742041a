/* SPDX-License-Identifier: Apache-2.0 */
/* DMA service for boards without a DMA engine model (host, qemu): the copy is done at issue
 * time with memcpy, booked to the DMA engine through the backend hooks, and counted by level. */
#include <string.h>

#include "hal.h"
#include "hal_port.h"

static hal_dma_stats_t g_stats[HAL_CLUSTER_MAX_CORES];
static hal_dma_id g_last_id[HAL_CLUSTER_MAX_CORES];

static void count(const void *dst, const void *src, size_t bytes)
{
    hal_mem_level d = hal_mem_level_of(dst), s = hal_mem_level_of(src);
    hal_dma_stats_t *st = &g_stats[hal_cluster_core_id()];
    if (d == HAL_MEM_L1 && s != HAL_MEM_L1)
        st->l2_to_l1 += bytes;
    else if (s == HAL_MEM_L1 && d != HAL_MEM_L1)
        st->l1_to_l2 += bytes;
    else if (s == HAL_MEM_L3 && d == HAL_MEM_L2)
        st->l3_to_l2 += bytes;
    else
        st->other += bytes;
}

hal_dma_id hal_dma_copy_2d(void *dst, const void *src, size_t row_bytes, size_t rows,
                           size_t dst_stride, size_t src_stride)
{
    if (!dst || !src || !row_bytes || !rows || dst_stride < row_bytes || src_stride < row_bytes)
        hal_dma_fault("invalid-arguments", dst, src, row_bytes * rows);
    uint64_t token = hal_port_dma_begin();
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t r = 0; r < rows; ++r) memcpy(d + r * dst_stride, s + r * src_stride, row_bytes);
    count(dst, src, row_bytes * rows);
    hal_port_dma_end(token);
    hal_dma_id *last = &g_last_id[hal_cluster_core_id()];
    *last = (*last == UINT32_MAX) ? 1u : *last + 1u;
    return *last;
}

hal_dma_id hal_dma_copy_1d(void *dst, const void *src, size_t bytes)
{
    return hal_dma_copy_2d(dst, src, bytes, 1, bytes, bytes);
}

void hal_dma_wait(hal_dma_id id) { (void)id; /* copies complete at issue time */ }

void hal_dma_stats(hal_dma_stats_t *out) { *out = g_stats[hal_cluster_core_id()]; }
