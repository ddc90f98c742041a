/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d bias gradient: each core owns output channels and streams their dy planes through
 * its own double-buffered L1 chunks (see et_conv2d.h). Accumulator lanes follow the element
 * index within a plane, so the sum order depends on neither the core count nor the chunk size. */
#include "conv2d_internal.h"

#define BG_MAX_CHUNK 1024u

typedef struct {
    const float *dy;
    float *db;
    size_t n, c_out, plane;
    float *l1;
    size_t chunk; /* floats per buffer, multiple of 16 */
    int accumulate;
} bg_job;

/* chunk k of core-owned channel co: image k / per_img, offset (k % per_img) * chunk */
static hal_dma_id bg_fetch(const bg_job *j, float *dst, size_t co, size_t k, size_t per_img, size_t *len)
{
    size_t n = k / per_img, off = (k % per_img) * j->chunk;
    *len = j->plane - off < j->chunk ? j->plane - off : j->chunk;
    return hal_dma_copy_1d(dst, j->dy + (n * j->c_out + co) * j->plane + off, *len * sizeof(float));
}

static void bg_worker(void *arg)
{
    const bg_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    float *buf[2] = {j->l1 + 2 * id * j->chunk, j->l1 + (2 * id + 1) * j->chunk};
    size_t per_img = (j->plane + j->chunk - 1) / j->chunk, nk = per_img * j->n;
    for (size_t co = id; co < j->c_out; co += nc) {
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
        size_t len, nlen = 0;
        hal_dma_id pend = bg_fetch(j, buf[0], co, 0, per_img, &len);
        for (size_t k = 0; k < nk; ++k) {
            hal_dma_wait(pend);
            if (k + 1 < nk) pend = bg_fetch(j, buf[(k + 1) & 1u], co, k + 1, per_img, &nlen);
            /* lane = element index mod 8 (chunk is a multiple of 16): 16 per step, pointer bump */
            const float *d = buf[k & 1u], *e16 = d + (len & ~(size_t)15), *end = d + len;
            while (d != e16) {
                s0 += d[0], s1 += d[1], s2 += d[2], s3 += d[3];
                s4 += d[4], s5 += d[5], s6 += d[6], s7 += d[7];
                s0 += d[8], s1 += d[9], s2 += d[10], s3 += d[11];
                s4 += d[12], s5 += d[13], s6 += d[14], s7 += d[15];
                d += 16;
            }
            if (end - d >= 8) {
                s0 += d[0], s1 += d[1], s2 += d[2], s3 += d[3];
                s4 += d[4], s5 += d[5], s6 += d[6], s7 += d[7];
                d += 8;
            }
            if (d < end) s0 += d[0];
            if (d + 1 < end) s1 += d[1];
            if (d + 2 < end) s2 += d[2];
            if (d + 3 < end) s3 += d[3];
            if (d + 4 < end) s4 += d[4];
            if (d + 5 < end) s5 += d[5];
            if (d + 6 < end) s6 += d[6];
            len = nlen;
        }
        float sum = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        j->db[co] = j->accumulate ? j->db[co] + sum : sum;
    }
}

et_status et_conv2d_bwd_bgrad_f32(const et_ctx *ctx, const et_conv2d_args *a, const float *dy,
                                  float *db)
{
    if (!ctx || !ctx->l1 || !dy || !db || !conv_geom_ok(a)) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    /* fixed split for the target's core count, so the chunking does not depend on nc */
    size_t chunk = ctx->l1_bytes / sizeof(float) / (2 * hal_cluster_max_cores()) & ~(size_t)15;
    if (chunk > BG_MAX_CHUNK) chunk = BG_MAX_CHUNK;
    if (chunk < 16) return ET_ERR_ARG;
    bg_job j = {dy, db, a->n, a->c_out, et_conv2d_out_h(a) * et_conv2d_out_w(a), ctx->l1, chunk,
                a->accumulate};
    return hal_cluster_fork(nc, bg_worker, &j);
}
