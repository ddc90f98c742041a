/* SPDX-License-Identifier: Apache-2.0 */
/* hello: every cluster core reports in, then the team computes a fp32 dot product of two
 * arrays in L2, streamed tile by tile into per-core L1 buffers with the DMA (double
 * buffered). Core 0 checks the result against a sequential sum and prints @perf per core.
 * A second phase ("sync") gives core c (c+1) units of work between barriers, to show how the
 * counters treat waiting: instructions grow with c, cycles are equal after each barrier. */
#include <stdint.h>
#include <stdio.h>

#include "et_log.h"
#include "hal.h"

#ifndef ET_APP_CORES
#define ET_APP_CORES 8
#endif
#define N 8192   /* elements per vector */
#define TILE 256 /* elements per DMA tile */

/* Values are multiples of 1/4 with small magnitude, so every partial sum is exact in fp32
 * and the parallel result must equal the sequential one bit for bit, whatever the order. */
static float g_x[N] HAL_L2;
static float g_y[N] HAL_L2;
static float g_l1_x[HAL_CLUSTER_MAX_CORES][2][TILE] HAL_L1;
static float g_l1_y[HAL_CLUSTER_MAX_CORES][2][TILE] HAL_L1;

typedef struct {
    float partial[HAL_CLUSTER_MAX_CORES];
    unsigned seen[HAL_CLUSTER_MAX_CORES];
    hal_perf_t perf[HAL_CLUSTER_MAX_CORES];
    uint64_t flop[HAL_CLUSTER_MAX_CORES];
    uint64_t dma_in[HAL_CLUSTER_MAX_CORES];
} dot_job;

static void dot_worker(void *arg)
{
    dot_job *job = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    job->seen[id] = id + 1;
    hal_perf_t t0, t1;
    hal_dma_stats_t d0, d1;
    hal_dma_stats(&d0);
    hal_perf_read(&t0);

    unsigned ntiles = (N + TILE - 1) / TILE;
    float acc = 0.0f;
    unsigned n_mine = 0, k = 0;
    hal_dma_id pend_x = 0, pend_y = 0;
    unsigned tile = id; /* tiles are dealt round-robin: tile id, id+nc, ... */
    if (tile < ntiles) {
        unsigned len = (N - tile * TILE) < TILE ? N - tile * TILE : TILE;
        pend_x = hal_dma_copy_1d(g_l1_x[id][0], &g_x[tile * TILE], len * sizeof(float));
        pend_y = hal_dma_copy_1d(g_l1_y[id][0], &g_y[tile * TILE], len * sizeof(float));
    }
    for (; tile < ntiles; tile += nc, k ^= 1) {
        unsigned len = (N - tile * TILE) < TILE ? N - tile * TILE : TILE;
        hal_dma_wait(pend_x);
        hal_dma_wait(pend_y);
        unsigned next = tile + nc;
        if (next < ntiles) { /* prefetch the next tile into the other buffer */
            unsigned nlen = (N - next * TILE) < TILE ? N - next * TILE : TILE;
            pend_x = hal_dma_copy_1d(g_l1_x[id][k ^ 1], &g_x[next * TILE], nlen * sizeof(float));
            pend_y = hal_dma_copy_1d(g_l1_y[id][k ^ 1], &g_y[next * TILE], nlen * sizeof(float));
        }
        const float *x = g_l1_x[id][k], *y = g_l1_y[id][k];
        float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
        unsigned i = 0, len4 = len & ~3u;
        for (; i < len4; i += 4) {
            a0 += x[i] * y[i];
            a1 += x[i + 1] * y[i + 1];
            a2 += x[i + 2] * y[i + 2];
            a3 += x[i + 3] * y[i + 3];
        }
        for (; i < len; ++i) a0 += x[i] * y[i];
        acc += (a0 + a1) + (a2 + a3);
        n_mine += len;
    }
    hal_perf_read(&t1);
    hal_dma_stats(&d1);
    job->partial[id] = acc;
    job->perf[id] = et_perf_diff(&t0, &t1);
    job->flop[id] = 2ull * n_mine;
    job->dma_in[id] = d1.l2_to_l1 - d0.l2_to_l1 + d1.other - d0.other;
}

#define SYNC_ROUNDS 3
#define SYNC_UNIT 200 /* loop iterations per unit of work */

static hal_perf_t g_sync_perf[HAL_CLUSTER_MAX_CORES];

static void sync_worker(void *arg)
{
    (void)arg;
    unsigned id = hal_cluster_core_id();
    hal_perf_t t0, t1;
    hal_perf_read(&t0);
    for (unsigned r = 0; r < SYNC_ROUNDS; ++r) {
        for (volatile unsigned i = 0; i < (id + 1) * SYNC_UNIT; i = i + 1) {
        }
        hal_cluster_barrier();
    }
    hal_perf_read(&t1);
    g_sync_perf[id] = et_perf_diff(&t0, &t1);
}

int main(void)
{
    et_log_start(ET_APP_NAME);
    for (unsigned i = 0; i < N; ++i) {
        g_x[i] = (float)((int)((i * 7u) % 13u) - 6) * 0.25f;
        g_y[i] = (float)((int)((i * 3u) % 11u) - 4) * 0.5f;
    }
    float ref = 0.0f;
    for (unsigned i = 0; i < N; ++i) ref += g_x[i] * g_y[i];

    static dot_job job;
    unsigned nc = ET_APP_CORES;
    if (hal_cluster_fork(nc, dot_worker, &job) != ET_OK) {
        printf("fork on %u cores failed\n", nc);
        et_log_done(2);
        return 2;
    }
    float sum = 0.0f;
    int all_seen = 1;
    for (unsigned c = 0; c < nc; ++c) {
        printf("core %u of %u reporting\n", job.seen[c] - 1, nc);
        all_seen &= job.seen[c] == c + 1;
        sum += job.partial[c];
    }
    for (unsigned c = 0; c < nc; ++c) {
        et_perf_record r = {"dot", "fwd", c, job.perf[c], job.flop[c], job.dma_in[c], 0};
        et_log_perf(&r);
    }
    if (hal_cluster_fork(nc, sync_worker, NULL) != ET_OK) return 2;
    for (unsigned c = 0; c < nc; ++c) {
        et_perf_record r = {"sync", "barrier", c, g_sync_perf[c], 0, 0, 0};
        et_log_perf(&r);
    }
    et_log_mem(NULL);
    int ok = all_seen && sum == ref;
    et_log_result("dot", ok, sum, ref);
    et_log_done(ok ? 0 : 1);
    return ok ? 0 : 1;
}
