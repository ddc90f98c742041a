/* SPDX-License-Identifier: Apache-2.0 */
/* Row tiling through L1 by DMA, double-buffered, for kernels that work on L2 operands
 * otherwise (et_tile.h). Runs on core 0 between kernel calls; the kernels fork as usual. */
#include "et_tile.h"

#include <string.h>

static size_t up8(size_t v) { return (v + 7u) & ~(size_t)7u; }

static int split(const et_tile_stream *s) { return s->dir != ET_TILE_WHOLE; }
static int reads(const et_tile_stream *s) { return s->dir == ET_TILE_IN || s->dir == ET_TILE_INOUT; }
static int writes(const et_tile_stream *s) { return s->dir == ET_TILE_OUT || s->dir == ET_TILE_INOUT; }

static void wait_all(hal_dma_id *ids, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        hal_dma_wait(ids[i]);
        ids[i] = 0;
    }
}

static unsigned tile_rows_at(const et_tiler *t, unsigned tile)
{
    unsigned r0 = tile * t->tile_rows;
    return t->rows - r0 < t->tile_rows ? t->rows - r0 : t->tile_rows;
}

/* A copy the target cannot make never returns (hal_dma.h: an @fault record ends the program),
 * so every id is valid and the tiler has no error state of its own. */
static void copy(hal_dma_id *id, void *dst, const void *src, size_t bytes)
{
    *id = hal_dma_copy_1d(dst, src, bytes);
}

/* Start the copies L2 -> L1 of the split inputs of `tile` into buffer slot tile & 1. */
static void fetch(et_tiler *t, unsigned tile)
{
    unsigned b = tile & 1u, nr = tile_rows_at(t, tile);
    for (unsigned i = 0; i < t->ns; ++i) {
        const et_tile_stream *s = &t->s[i];
        if (!split(s) || !reads(s)) continue;
        if (s->dir == ET_TILE_INOUT) { /* the slot's last write-back must be out first */
            hal_dma_wait(t->out_id[b][i]);
            t->out_id[b][i] = 0;
        }
        copy(&t->in_id[b][i], t->buf[i][b],
             (const uint8_t *)s->l2 + (size_t)tile * t->tile_rows * s->row_bytes,
             (size_t)nr * s->row_bytes);
    }
}

et_status et_tile_begin(et_tiler *t, const et_ctx *ctx, const et_tile_stream *s, unsigned ns,
                        unsigned rows, unsigned tile_rows)
{
    if (!t || !ctx || !s || !ns || ns > ET_TILE_MAX_STREAMS || !tile_rows || !ctx->l1)
        return ET_ERR_ARG;
    memset(t, 0, sizeof *t);
    t->s = s;
    t->ns = ns;
    t->rows = rows;
    t->tile_rows = tile_rows < rows ? tile_rows : (rows ? rows : 1u);
    uint8_t *p = (uint8_t *)ctx->l1, *end = p + ctx->l1_bytes;
    for (unsigned i = 0; i < ns; ++i) {
        if (!s[i].l2 || !s[i].row_bytes || s[i].dir > ET_TILE_WHOLE) return ET_ERR_ARG;
        size_t bytes = up8(split(&s[i]) ? (size_t)t->tile_rows * s[i].row_bytes : s[i].row_bytes);
        for (unsigned b = 0; b < (split(&s[i]) ? 2u : 1u); ++b) {
            if ((size_t)(end - p) < bytes) return ET_ERR_ARG;
            t->buf[i][b] = p;
            p += bytes;
        }
    }
    t->ctx = *ctx;
    t->ctx.l1 = p;
    t->ctx.l1_bytes = (size_t)(end - p);
    for (unsigned i = 0; i < ns; ++i)
        if (!split(&s[i])) copy(&t->in_id[0][i], t->buf[i][0], s[i].l2, s[i].row_bytes);
    if (rows) fetch(t, 0);
    return ET_OK;
}

int et_tile_next(et_tiler *t)
{
    unsigned ntiles = (t->rows + t->tile_rows - 1u) / t->tile_rows;
    if (t->cur >= ntiles) return 0;
    unsigned b = t->cur & 1u;
    wait_all(t->in_id[b], t->ns);
    if (t->cur + 1u < ntiles) fetch(t, t->cur + 1u);
    t->r0 = t->cur * t->tile_rows;
    t->nr = tile_rows_at(t, t->cur);
    for (unsigned i = 0; i < t->ns; ++i) {
        const et_tile_stream *s = &t->s[i];
        if (split(s) && writes(s)) { /* the write-back that last used this buffer */
            hal_dma_wait(t->out_id[b][i]);
            t->out_id[b][i] = 0;
        }
        t->p[i] = (float *)(split(s) ? t->buf[i][b] : t->buf[i][0]);
    }
    return 1;
}

void et_tile_done(et_tiler *t)
{
    unsigned b = t->cur & 1u;
    for (unsigned i = 0; i < t->ns; ++i) {
        const et_tile_stream *s = &t->s[i];
        if (split(s) && writes(s))
            copy(&t->out_id[b][i], (uint8_t *)s->l2 + (size_t)t->r0 * s->row_bytes,
                 t->buf[i][b], (size_t)t->nr * s->row_bytes);
    }
    t->cur++;
}

et_status et_tile_end(et_tiler *t, et_status st)
{
    for (unsigned b = 0; b < 2u; ++b) {
        wait_all(t->in_id[b], t->ns);
        wait_all(t->out_id[b], t->ns);
    }
    return st;
}
