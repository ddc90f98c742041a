/* SPDX-License-Identifier: Apache-2.0 */
/* Linear layer bias gradient: column sums of dY. Each core owns a range of columns, streams
 * row chunks of it into its share of L1 (double-buffered DMA) and sums 8 columns at a time in
 * registers, rows in order (bit-identical for any core count). Refer to et_gemm.h. */
#include <stdint.h>

#include "et_gemm.h"
#include "hal.h"

#define COLS_MAX 64u /* columns per pass and core */

typedef struct {
    const float *dy;
    float *db;
    unsigned rows, cols, accumulate;
    float *l1;
    size_t words_per_core;
    volatile int err;
} bgrad_job;

/* acc[0..w) += column sums of `rows` rows of x (pitch w). */
static void colsum(float *acc, const float *x, unsigned rows, unsigned w)
{
    unsigned j = 0;
    for (; j + 8 <= w; j += 8) {
        float s0 = acc[j], s1 = acc[j + 1], s2 = acc[j + 2], s3 = acc[j + 3];
        float s4 = acc[j + 4], s5 = acc[j + 5], s6 = acc[j + 6], s7 = acc[j + 7];
        const float *p = x + j;
        for (unsigned r = rows; r; --r, p += w) {
            s0 += p[0], s1 += p[1], s2 += p[2], s3 += p[3];
            s4 += p[4], s5 += p[5], s6 += p[6], s7 += p[7];
        }
        acc[j] = s0, acc[j + 1] = s1, acc[j + 2] = s2, acc[j + 3] = s3;
        acc[j + 4] = s4, acc[j + 5] = s5, acc[j + 6] = s6, acc[j + 7] = s7;
    }
    for (; j < w; ++j) {
        float s = acc[j];
        const float *p = x + j;
        for (unsigned r = rows; r; --r, p += w) s += *p;
        acc[j] = s;
    }
}

static void bgrad_worker(void *arg)
{
    bgrad_job *jb = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    unsigned per = (jb->cols + nc - 1) / nc, c_begin = id * per;
    unsigned c_end = c_begin + per < jb->cols ? c_begin + per : jb->cols;
    float *mine = jb->l1 + id * jb->words_per_core;
    for (unsigned c0 = c_begin; c0 < c_end; c0 += COLS_MAX) {
        unsigned w = c_end - c0 < COLS_MAX ? c_end - c0 : COLS_MAX;
        float *acc = mine;
        float *buf[2] = {mine + COLS_MAX, mine + COLS_MAX + (jb->words_per_core - COLS_MAX) / 2};
        unsigned chunk = (unsigned)((jb->words_per_core - COLS_MAX) / 2 / w);
        for (unsigned j = 0; j < w; ++j) acc[j] = 0.0f;
        if (jb->accumulate) {
            hal_dma_id id_in = hal_dma_copy_1d(acc, jb->db + c0, w * 4u);
            hal_dma_wait(id_in);
        }
        unsigned r0 = 0, n0 = chunk < jb->rows ? chunk : jb->rows, k = 0;
        hal_dma_id pend = hal_dma_copy_2d(buf[0], jb->dy + c0, w * 4u, n0, w * 4u, jb->cols * 4u);
        if (!pend) jb->err = 1;
        while (r0 < jb->rows) {
            unsigned n = chunk < jb->rows - r0 ? chunk : jb->rows - r0, r1 = r0 + n;
            hal_dma_wait(pend);
            if (r1 < jb->rows) { /* prefetch the next chunk */
                unsigned n1 = chunk < jb->rows - r1 ? chunk : jb->rows - r1;
                pend = hal_dma_copy_2d(buf[k ^ 1], jb->dy + (size_t)r1 * jb->cols + c0, w * 4u, n1,
                                       w * 4u, jb->cols * 4u);
                if (!pend) jb->err = 1;
            }
            colsum(acc, buf[k], n, w);
            r0 = r1;
            k ^= 1;
        }
        hal_dma_wait(hal_dma_copy_1d(jb->db + c0, acc, w * 4u));
    }
}

et_status et_linear_bwd_bgrad_f32(const et_ctx *ctx, const et_linear_args *l, const float *dy,
                                  float *db)
{
    if (!ctx || !l || !dy || !db || !ctx->l1 || !l->rows || !l->out) return ET_ERR_ARG;
    unsigned nc = ctx->ncores ? ctx->ncores : hal_cluster_max_cores();
    if (nc > hal_cluster_max_cores()) return ET_ERR_ARG;
    static bgrad_job jb;
    jb.words_per_core = (ctx->l1_bytes / 4u / nc) & ~(size_t)1;
    if (jb.words_per_core < 3u * COLS_MAX) return ET_ERR_ARG; /* >= 1 row of 64 per buffer */
    jb.dy = dy;
    jb.db = db;
    jb.rows = l->rows;
    jb.cols = l->out;
    jb.accumulate = l->accumulate != 0;
    jb.l1 = ctx->l1;
    jb.err = 0;
    if (hal_cluster_fork(nc, bgrad_worker, &jb) != ET_OK) return ET_ERR_ARG;
    return jb.err ? ET_ERR_HW : ET_OK;
}
