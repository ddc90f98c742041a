/* SPDX-License-Identifier: Apache-2.0 */
/* kbench: GEMM benchmark on CCT shapes. For each case runs et_gemm_fwd_f32 and a plain
 * triple-loop reference on 1 and 8 cores, measures every core (probe forks around the call),
 * checks the result against the reference and prints @perf, @bench and a readable table. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench_ops.h"
#include "et_flop.h"
#include "et_gemm.h"
#include "et_log.h"
#include "hal.h"
#include "kbench.h"

#define MAXA (128u * 128u) /* largest operands of the cases below */
#define MAXB (128u * 384u)
#define MAXY (64u * 384u)
#define L1_BYTES (224u * 1024u)

static float g_a[MAXA] HAL_L2, g_b[MAXB] HAL_L2, g_y[MAXY] HAL_L2, g_r[MAXY] HAL_L2;
static uint64_t g_l1[L1_BYTES / 8] HAL_L1;

typedef struct {
    const char *name;
    unsigned m, n, k, batch;
    int ta, tb;
} bench_case;

static const bench_case g_cases[] = {
    {"linear_fwd_64x128x128", 64, 128, 128, 1, 0, 1},  /* tokens 64 x dim 128, MLP 128->128 */
    {"linear_igrad_64x128x128", 64, 128, 128, 1, 0, 0},
    {"linear_wgrad_128x128x64", 128, 128, 64, 1, 1, 0},
    {"qkv_fwd_64x384x128", 64, 384, 128, 1, 0, 1},
    {"attn_qk_2x64x64x64", 64, 64, 64, 2, 0, 1},       /* per head: Q·K^T */
    {"attn_av_2x64x64x64", 64, 64, 64, 2, 0, 0},       /* per head: P·V */
    {"odd_63x65x127_nn", 63, 65, 127, 1, 0, 0},        /* M=63, N=65, K=127 */
    {"odd_63x65x127_tn", 63, 65, 127, 1, 1, 0},
};

typedef struct {
    const bench_case *c;
} ref_job;

/* Plain triple loop, rows dealt round-robin to the cores, operands read from L2. */
static void ref_worker(void *arg)
{
    const bench_case *c = ((ref_job *)arg)->c;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    unsigned ars = c->ta ? 1 : c->k, acs = c->ta ? c->m : 1;
    unsigned brs = c->tb ? 1 : c->n, bcs = c->tb ? c->k : 1;
    for (unsigned bt = 0; bt < c->batch; ++bt) {
        const float *a = g_a + bt * c->m * c->k, *b = g_b + bt * c->k * c->n;
        float *y = g_r + bt * c->m * c->n;
        for (unsigned i = id; i < c->m; i += nc)
            for (unsigned j = 0; j < c->n; ++j) {
                float s = 0.0f;
                for (unsigned k = 0; k < c->k; ++k) s += a[i * ars + k * acs] * b[k * brs + j * bcs];
                y[i * c->n + j] = s;
            }
    }
}

/* Run the kernel (impl 0) or the reference (impl 1) on nc cores and measure every core. */
static int run(const bench_case *c, int impl, unsigned nc, meas *m)
{
    kb_measure_begin(nc);
    int st = 0;
    if (impl == 0) {
        et_ctx ctx = {g_l1, sizeof g_l1, nc};
        et_gemm_args g = et_gemm_args_init(c->m, c->n, c->k, c->ta, c->tb);
        g.batch = c->batch;
        g.stride_a = (size_t)c->m * c->k;
        g.stride_b = (size_t)c->k * c->n;
        st = et_gemm_fwd_f32(&ctx, &g, g_a, g_b, NULL, g_y);
    } else {
        ref_job j = {c};
        hal_cluster_fork(nc, ref_worker, &j);
    }
    kb_measure_end(m);
    return st;
}

static void fill(float *p, unsigned n, unsigned seed)
{
    for (unsigned i = 0; i < n; ++i) p[i] = (float)((int)((i * 2654435761u + seed) >> 24) - 128) / 128.0f;
}

/* DMA bandwidth between the levels the memory plan streams through: one 32 KiB copy per
 * direction, timed on core 0 from issue to completion (Siracusa: MCHAN for L2 <-> L1, the uDMA
 * HyperBus for L3 <-> L2; qemu: memcpy booked to the DMA, so ~0 core cycles). The L3 round trip
 * is checked byte for byte. */
#define BW_BYTES (32u * 1024u)
static float g_l3_bw[BW_BYTES / 4] HAL_L3;

static uint64_t timed_copy(void *dst, const void *src)
{
    hal_perf_t t0, t1;
    hal_perf_read(&t0);
    hal_dma_wait(hal_dma_copy_1d(dst, src, BW_BYTES));
    hal_perf_read(&t1);
    return t1.cycles - t0.cycles;
}

static int dma_bandwidth(void)
{
    static const char *names[4] = {"dma_l2_to_l1", "dma_l1_to_l2", "dma_l2_to_l3", "dma_l3_to_l2"};
    float *l2 = g_y, *back = g_r; /* GEMM operands, free before the first case */
    fill(l2, BW_BYTES / 4, 5u);
    memset(back, 0, BW_BYTES);
    uint64_t cyc[4];
    cyc[0] = timed_copy(g_l1, l2);
    cyc[1] = timed_copy(back, g_l1);
    cyc[2] = timed_copy(g_l3_bw, l2);
    int ok = !memcmp(back, l2, BW_BYTES);
    memset(back, 0, BW_BYTES);
    cyc[3] = timed_copy(back, g_l3_bw);
    ok &= !memcmp(back, l2, BW_BYTES);
    for (int i = 0; i < 4; ++i)
        et_rec("@bench kernel=%s impl=hal bytes=%u cycles=%llu bytes_per_cycle=%.3f", names[i],
               BW_BYTES, (unsigned long long)cyc[i], cyc[i] ? (double)BW_BYTES / (double)cyc[i] : 0.0);
    et_log_result("dma_roundtrip", ok, 0.0, 0.0);
    return ok;
}

int main(void)
{
    et_log_start(ET_APP_NAME);
    static const char *impl_name[2] = {"et", "ref"};
    static double fpi[sizeof g_cases / sizeof g_cases[0]][2][2];
    static double spd[sizeof g_cases / sizeof g_cases[0]][2];
    static uint64_t ins[sizeof g_cases / sizeof g_cases[0]][2][2];
    static double fpc[sizeof g_cases / sizeof g_cases[0]][2][2]; /* FLOP per cycle, cluster */
    int all_ok = dma_bandwidth();
    unsigned ncases = sizeof g_cases / sizeof g_cases[0];
    for (unsigned ci = 0; ci < ncases; ++ci) {
        const bench_case *c = &g_cases[ci];
        unsigned elems_y = c->batch * c->m * c->n;
        fill(g_a, c->batch * c->m * c->k, 11u + ci);
        fill(g_b, c->batch * c->k * c->n, 977u + ci);
        uint64_t flop = (uint64_t)ET_FLOP_MAC * c->batch * c->m * c->n * c->k;
        for (int impl = 0; impl < 2; ++impl) {
            meas m1, m8;
            const unsigned ncs[2] = {1, 8};
            for (int q = 0; q < 2; ++q) {
                meas *m = q ? &m8 : &m1;
                if (run(c, impl, ncs[q], m) != 0) all_ok = 0;
                char layer[48];
                snprintf(layer, sizeof layer, "%s.%s", c->name, impl_name[impl]);
                char phase[16];
                snprintf(phase, sizeof phase, "c%u", ncs[q] & 15u);
                for (unsigned k = 0; k < ncs[q]; ++k) {
                    et_perf_record r = {layer, phase, k, m->core[k], flop / ncs[q], 0, 0};
                    et_log_perf(&r);
                }
                fpi[ci][impl][q] = (double)flop / ((double)m->instr_max * ncs[q]);
                ins[ci][impl][q] = m->instr_max;
                fpc[ci][impl][q] = (double)flop / (double)m->cycles_max;
            }
            spd[ci][impl] = (double)m1.cycles_max / (double)m8.cycles_max;
            et_rec("@bench kernel=%s impl=%s m=%u n=%u k=%u batch=%u flop=%llu instr1=%llu "
                   "instr8=%llu fpi1=%.4f fpi8=%.4f fpc1=%.4f fpc8=%.4f speedup=%.3f", c->name,
                   impl_name[impl], c->m, c->n, c->k, c->batch, (unsigned long long)flop,
                   (unsigned long long)ins[ci][impl][0], (unsigned long long)ins[ci][impl][1],
                   fpi[ci][impl][0], fpi[ci][impl][1], fpc[ci][impl][0], fpc[ci][impl][1],
                   spd[ci][impl]);
        }
        float err = 0.0f;
        for (unsigned i = 0; i < elems_y; ++i) {
            float d = fabsf(g_y[i] - g_r[i]);
            if (d > err) err = d;
        }
        int ok = err <= 1e-3f;
        all_ok &= ok;
        et_log_result(c->name, ok, err, 0.0);
    }
    /* F/I: FLOP per instruction per core; F/c: FLOP per cycle of the cluster (hal_perf cycles:
     * measured mcycle on siracusa, the IPC = 1 estimate on qemu: perf= in @start says which) */
    printf("\n%-26s %8s %9s %9s %6s %6s %7s %7s %6s | %10s %6s %7s %6s\n", "kernel (MxNxK)",
           "MFLOP", "instr1", "instr8", "F/I/c1", "F/I/c8", "F/c 1", "F/c 8", "x8", "ref instr1",
           "F/c 1", "F/c 8", "gain8");
    for (unsigned ci = 0; ci < ncases; ++ci) {
        const bench_case *c = &g_cases[ci];
        double mflop = (double)ET_FLOP_MAC * c->batch * c->m * c->n * c->k / 1e6;
        printf("%-26s %8.3f %9llu %9llu %6.3f %6.3f %7.3f %7.3f %6.2f | %10llu %6.3f %7.3f %5.1fx\n",
               c->name, mflop, (unsigned long long)ins[ci][0][0], (unsigned long long)ins[ci][0][1],
               fpi[ci][0][0], fpi[ci][0][1], fpc[ci][0][0], fpc[ci][0][1], spd[ci][0],
               (unsigned long long)ins[ci][1][0], fpc[ci][1][0], fpc[ci][1][1],
               fpc[ci][0][1] / fpc[ci][1][1]);
    }
    all_ok &= bench_ops_run(g_l1, sizeof g_l1, g_b, sizeof g_b); /* non-GEMM kernels (bench_ops.c) */
    et_log_done(all_ok ? 0 : 1);
    return all_ok ? 0 : 1;
}
