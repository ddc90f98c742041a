/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d tile planning: L1 slot sizes per direction, the tile-size search that minimises DMA
 * traffic within ctx->l1_bytes, and the public size queries (see et_conv2d.h). */
#include <stdint.h>

#include "conv2d_internal.h"

#define RU4(v) (((v) + 3u) & ~(size_t)3u)
#define RU2(v) (((v) + 1u) & ~(size_t)1u)
#define BGRAD_MIN_BYTES 1024u /* 2 buffers x 8 cores x 16 floats */

int conv_geom_ok(const et_conv2d_args *a)
{
    if (!a || !a->n || !a->c_in || !a->h || !a->w || !a->c_out || !a->kh || !a->kw || !a->sh ||
        !a->sw || a->ph >= a->kh || a->pw >= a->kw)
        return 0;
    if (a->h + 2 * a->ph < a->kh || a->w + 2 * a->pw < a->kw) return 0;
    if (a->n * a->c_in * a->h * a->w > SIZE_MAX / 64 || a->c_out * a->c_in * a->kh * a->kw > SIZE_MAX / 64)
        return 0;
    size_t g = a->groups ? a->groups : 1;
    return a->c_in % g == 0 && a->c_out % g == 0;
}

int conv_groups_of(const et_conv2d_args *a, conv_groups *g)
{
    if (!conv_geom_ok(a)) return 0;
    g->count = a->groups ? a->groups : 1;
    g->a = *a;
    g->a.groups = 1;
    g->a.c_in = a->c_in / g->count;
    g->a.c_out = a->c_out / g->count;
    g->x_step = g->a.c_in * a->h * a->w;
    g->y_step = g->a.c_out * et_conv2d_out_h(a) * et_conv2d_out_w(a);
    g->w_step = g->a.c_out * g->a.c_in * a->kh * a->kw;
    g->b_step = g->a.c_out;
    return 1;
}

int conv_plan_group(conv_plan *pl, const et_conv2d_args *a, const conv_groups *g, conv_dir dir,
                    void *l1, size_t l1_bytes)
{
    if (!conv_plan_make(pl, &g->a, dir, l1, l1_bytes)) return 0;
    pl->xcs = a->c_in;
    pl->ycs = a->c_out;
    return 1;
}

size_t et_conv2d_out_h(const et_conv2d_args *a)
{
    return conv_geom_ok(a) ? (a->h + 2 * a->ph - a->kh) / a->sh + 1 : 0;
}

size_t et_conv2d_out_w(const et_conv2d_args *a)
{
    return conv_geom_ok(a) ? (a->w + 2 * a->pw - a->kw) / a->sw + 1 : 0;
}

void conv_slot_sizes(const conv_plan *pl, size_t tc, size_t th, conv_slots *s)
{
    const et_conv2d_args *a = &pl->a;
    size_t kk = a->kh * a->kw;
    if (pl->dir == CONV_FWD) {
        size_t rows = (th - 1) * a->sh + a->kh, cols = (RU4(pl->wo) - 1) * a->sw + a->kw;
        *s = (conv_slots){a->c_in * rows * a->w, tc * a->c_in * kk, tc * th * pl->wo,
                          a->c_in * rows * cols, RU4(tc) * a->c_in * kk, 1};
    } else if (pl->dir == CONV_IGRAD) {
        size_t srows = (th + a->kh - 2) / a->sh + 1;
        size_t rows = th + a->kh - 1, cols = RU4(a->w) + a->kw - 1;
        *s = (conv_slots){a->c_out * srows * pl->wo, a->c_out * tc * kk, tc * th * a->w,
                          a->c_out * rows * cols, RU4(tc) * a->c_out * kk, 1};
    } else {
        size_t rows = (th - 1) * a->sh + a->kh, cols = (pl->wo - 1) * a->sw + a->kw;
        *s = (conv_slots){a->c_in * rows * a->w, tc * th * pl->wo, tc * a->c_in * kk,
                          RU4(a->c_in) * rows * cols, RU4(tc) * th * pl->wo, 0};
    }
}

size_t conv_bytes(const conv_slots *s)
{
    size_t f = 2 * RU2(s->s) + 2 * RU2(s->a) + (s->o_double ? 2 : 1) * RU2(s->o) + RU2(s->p) + RU2(s->r);
    return f * sizeof(float);
}

static void plan_rows_cols(conv_plan *pl, size_t *rows_total, size_t *c_total)
{
    *rows_total = pl->dir == CONV_IGRAD ? pl->a.h : pl->ho;
    *c_total = pl->dir == CONV_IGRAD ? pl->a.c_in : pl->a.c_out;
}

/* Largest th in [1, rows] whose slots fit `bytes` for channel block tc; 0 if none. */
static size_t max_rows(const conv_plan *pl, size_t tc, size_t rows, size_t bytes)
{
    conv_slots s;
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        conv_slot_sizes(pl, tc, mid, &s);
        if (conv_bytes(&s) <= bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int conv_plan_make(conv_plan *pl, const et_conv2d_args *a, conv_dir dir, void *l1, size_t l1_bytes)
{
    pl->a = *a;
    pl->xcs = a->c_in;
    pl->ycs = a->c_out;
    pl->dir = dir;
    pl->ho = et_conv2d_out_h(a);
    pl->wo = et_conv2d_out_w(a);
    size_t rows, ctot, best_tc = 0, best_th = 0, best_cost = SIZE_MAX;
    plan_rows_cols(pl, &rows, &ctot);
    for (size_t tc = ctot;;) {
        size_t th = max_rows(pl, tc, rows, l1_bytes);
        if (th) {
            conv_slots s;
            conv_slot_sizes(pl, tc, th, &s);
            size_t nblk = ((ctot + tc - 1) / tc) * ((rows + th - 1) / th);
            size_t cost = nblk * (s.s + s.a); /* floats fetched per image */
            if (cost < best_cost) best_cost = cost, best_tc = tc, best_th = th;
        }
        if (tc <= 4) break;
        size_t next = RU4((tc + 1) / 2);
        tc = next < tc ? next : 4;
    }
    if (!best_th) return 0;
    pl->tc = best_tc;
    pl->th = best_th;
    pl->nc_blk = (ctot + best_tc - 1) / best_tc;
    pl->nr_blk = (rows + best_th - 1) / best_th;
    conv_slots s;
    conv_slot_sizes(pl, best_tc, best_th, &s);
    if (dir == CONV_FWD) {
        pl->srows = (best_th - 1) * a->sh + a->kh;
        pl->prow = pl->srows;
        pl->pcol = (RU4(pl->wo) - 1) * a->sw + a->kw;
        pl->pch = a->c_in;
    } else if (dir == CONV_IGRAD) {
        pl->srows = (best_th + a->kh - 2) / a->sh + 1;
        pl->prow = best_th + a->kh - 1;
        pl->pcol = RU4(a->w) + a->kw - 1;
        pl->pch = a->c_out;
    } else {
        pl->srows = (best_th - 1) * a->sh + a->kh;
        pl->prow = pl->srows;
        pl->pcol = (pl->wo - 1) * a->sw + a->kw;
        pl->pch = RU4(a->c_in);
    }
    float *f = l1;
    for (int b = 0; b < 2; ++b) pl->S[b] = f, f += RU2(s.s);
    for (int b = 0; b < 2; ++b) pl->A[b] = f, f += RU2(s.a);
    pl->O[0] = f, f += RU2(s.o);
    pl->O[1] = s.o_double ? f : pl->O[0];
    if (s.o_double) f += RU2(s.o);
    pl->P = f, f += RU2(s.p);
    pl->R = f;
    return 1;
}

size_t et_conv2d_scratch_size(const et_conv2d_args *a_op)
{
    conv_groups gs;
    if (!conv_groups_of(a_op, &gs)) return 0;
    const et_conv2d_args *a = &gs.a; /* every group has the same dense geometry */
    size_t need = BGRAD_MIN_BYTES;
    for (int d = CONV_FWD; d <= CONV_WGRAD; ++d) {
        conv_plan pl = {.a = *a, .dir = (conv_dir)d, .ho = et_conv2d_out_h(a), .wo = et_conv2d_out_w(a)};
        size_t ctot = d == CONV_IGRAD ? a->c_in : a->c_out;
        conv_slots s;
        conv_slot_sizes(&pl, ctot < 4 ? ctot : 4, 1, &s);
        size_t b = conv_bytes(&s);
        need = b > need ? b : need;
    }
    return need;
}
