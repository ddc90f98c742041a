/* SPDX-License-Identifier: Apache-2.0 */
/* Gradients of broadcast add and mul in one pass: every element of dy (and a) is read once,
 * and da and the db reduction are produced from the same loads (see et_elementwise.h).
 *
 * ET_BCAST_ROW: a core owns a column range and walks it in blocks of 8 (then 4, then 1)
 * columns; the block's accumulators (and, for mul, its 8 values of b) stay in registers while
 * the rows stream past with one pointer bump per row and base+immediate loads, so the column
 * sums keep the plain row order (independent of the core count). ET_BCAST_COL: a core owns
 * rows and sums each with 8 lanes. ET_BCAST_SCALAR: per-core partial sums (8 lanes each),
 * combined in core order by core 0 after the only barrier. da is written in the same pass from
 * the dy value just loaded, so da may be dy itself (same element, same core). */
#include "et_elementwise.h"
#include "et_team.h"

#define AI static inline __attribute__((always_inline))

typedef struct {
    const float *a, *b, *dy;
    float *da, *db;
    size_t rows, cols;
    et_bcast mode;
    int mul;
    float partial[HAL_CLUSTER_MAX_CORES];
} bwd_job;

/* Columns [0, W) of a ROW-mode block: db[k] = sum_r term(r, k), da[r, k] = dy * b[k] (mul) or
 * dy (add). W, mul and wda are compile-time constants in every call, so each variant is a
 * straight-line loop body. */
AI void row_block(const float *dy, const float *a, const float *b, float *da, float *db,
                  size_t rows, size_t n, const int W, const int mul, const int wda, const int wdb)
{
    float s[16], bb[16];
    const float *end = dy + rows * n;
#pragma GCC unroll 16
    for (int k = 0; k < W; ++k) s[k] = 0.0f, bb[k] = mul && wda ? b[k] : 0.0f;
    do {
#pragma GCC unroll 16
        for (int k = 0; k < W; ++k) {
            float t = dy[k];
            if (wda) da[k] = mul ? t * bb[k] : t;
            if (wdb) s[k] = mul ? s[k] + t * a[k] : s[k] + t;
        }
        dy += n;
        if (mul && wdb) a += n;
        if (wda) da += n;
    } while (dy != end);
    if (wdb) {
#pragma GCC unroll 16
        for (int k = 0; k < W; ++k) db[k] = s[k];
    }
}

/* Column range [lo, hi) of ROW mode: blocks of 16 (add) or 8 (mul: 8 sums and 8 values of b in
 * registers), then 4, then single columns. */
AI void row_cols(const bwd_job *j, size_t lo, size_t hi, const int mul, const int wda)
{
    size_t n = j->cols, c = lo;
    const float *a = j->a, *b = j->b;
#define RB(W) row_block(j->dy + c, mul ? a + c : 0, mul ? b + c : 0, wda ? j->da + c : 0, j->db + c, \
                        j->rows, n, W, mul, wda, 1)
    if (!mul)
        for (; c + 16 <= hi; c += 16) RB(16);
    for (; c + 8 <= hi; c += 8) RB(8);
    if (c + 4 <= hi) {
        RB(4);
        c += 4;
    }
    for (; c < hi; ++c) RB(1);
#undef RB
}

/* Sum over a contiguous run of len elements with 8 lanes: sum of dy (add) or dy * a (mul);
 * if wda, da = dy * bs (mul) or dy (add) from the same loads. */
AI float run_sum(const float *dy, const float *a, float *da, float bs, size_t len, const int mul,
                 const int wda, const int wdb)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;
    const float *end8 = dy + (len & ~(size_t)7), *end = dy + len;
#define RS_STEP(k, acc)                                                                             \
    do {                                                                                            \
        float t = dy[k];                                                                            \
        if (wda) da[k] = mul ? t * bs : t;                                                          \
        if (wdb) acc = mul ? acc + t * a[k] : acc + t;                                              \
    } while (0)
    while (dy != end8) {
        RS_STEP(0, s0); RS_STEP(1, s1); RS_STEP(2, s2); RS_STEP(3, s3);
        RS_STEP(4, s4); RS_STEP(5, s5); RS_STEP(6, s6); RS_STEP(7, s7);
        dy += 8;
        if (mul && wdb) a += 8;
        if (wda) da += 8;
    }
    while (dy != end) {
        RS_STEP(0, s0);
        dy += 1;
        if (mul && wdb) a += 1;
        if (wda) da += 1;
    }
#undef RS_STEP
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

/* ET_BCAST_NONE: db = term elementwise, da = dy * b (mul) or dy (add), on [lo, hi). */
AI void none_range(const bwd_job *j, size_t lo, size_t hi, const int mul, const int wda,
                   const int wdb)
{
    const float *dy = j->dy + lo, *a = mul ? j->a + lo : 0, *b = mul ? j->b + lo : 0;
    float *da = wda ? j->da + lo : 0, *db = wdb ? j->db + lo : 0;
    const float *end4 = dy + ((hi - lo) & ~(size_t)3), *end = dy + (hi - lo);
    while (dy != end4) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
            float t = dy[k];
            if (wda) da[k] = mul ? t * b[k] : t;
            if (wdb) db[k] = mul ? t * a[k] : t;
        }
        dy += 4, da += wda ? 4 : 0, db += wdb ? 4 : 0;
        if (mul) a += 4, b += 4;
    }
    while (dy != end) {
        float t = *dy;
        if (wda) *da = mul ? t * *b : t;
        if (wdb) *db = mul ? t * *a : t;
        dy += 1, da += wda ? 1 : 0, db += wdb ? 1 : 0;
        if (mul) a += 1, b += 1;
    }
}

/* One mode / op / output combination; mul and wda are constants at every call site. */
AI void bwd_do(bwd_job *j, unsigned id, unsigned nc, const int mul, const int wda)
{
    size_t lo, hi, n = j->cols;
    int wdb = j->db != 0;
    if (!wda && !wdb) return; /* add with da == dy and no db */
    switch (j->mode) {
    case ET_BCAST_NONE:
        et_team_range(j->rows * n, id, nc, &lo, &hi);
        if (wdb)
            none_range(j, lo, hi, mul, wda, 1);
        else
            none_range(j, lo, hi, mul, wda, 0);
        return;
    case ET_BCAST_ROW:
        et_team_range(n, id, nc, &lo, &hi);
        if (wdb) {
            row_cols(j, lo, hi, mul, wda);
            return;
        }
        break; /* da only: the row split below */
    case ET_BCAST_COL:
        et_team_range(j->rows, id, nc, &lo, &hi);
        for (size_t r = lo; r < hi; ++r) {
            if (wdb)
                j->db[r] = run_sum(j->dy + r * n, mul ? j->a + r * n : 0, wda ? j->da + r * n : 0,
                                   mul && wda ? j->b[r] : 0.0f, n, mul, wda, 1);
            else
                run_sum(j->dy + r * n, 0, j->da + r * n, mul ? j->b[r] : 0.0f, n, mul, 1, 0);
        }
        return;
    default: { /* scalar */
        et_team_range(j->rows * n, id, nc, &lo, &hi);
        if (!wdb) {
            run_sum(j->dy + lo, 0, j->da + lo, mul ? j->b[0] : 0.0f, hi - lo, mul, 1, 0);
            return;
        }
        j->partial[id] = run_sum(j->dy + lo, mul ? j->a + lo : 0, wda ? j->da + lo : 0,
                                 mul && wda ? j->b[0] : 0.0f, hi - lo, mul, wda, 1);
        hal_cluster_barrier();
        if (id == 0) {
            float t = 0.0f;
            for (unsigned c = 0; c < nc; ++c) t += j->partial[c];
            j->db[0] = t;
        }
        return;
    }
    }
    /* ET_BCAST_ROW without db: da = dy * b over whole rows, split over the cores */
    et_team_range(j->rows, id, nc, &lo, &hi);
    if (lo < hi) {
        const float *dy = j->dy + lo * n, *a = 0;
        float *da = j->da + lo * n;
        for (size_t c = 0; c < n; c += 8) { /* rows of one 8-column block at a time */
            size_t w = n - c < 8 ? n - c : 8;
            if (w == 8)
                row_block(dy + c, a, mul ? j->b + c : 0, da + c, 0, hi - lo, n, 8, mul, 1, 0);
            else
                for (size_t k = 0; k < w; ++k)
                    row_block(dy + c + k, a, mul ? j->b + c + k : 0, da + c + k, 0, hi - lo, n,
                              1, mul, 1, 0);
        }
    }
}

static void bwd_worker(void *arg)
{
    bwd_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    /* add: da == dy needs no copy */
    int wda = j->da && (j->mul || j->da != j->dy);
    if (j->mul) {
        if (wda)
            bwd_do(j, id, nc, 1, 1);
        else
            bwd_do(j, id, nc, 1, 0);
    } else {
        if (wda)
            bwd_do(j, id, nc, 0, 1);
        else
            bwd_do(j, id, nc, 0, 0);
    }
}

static et_status bwd_run(const et_ctx *ctx, et_bcast mode, const float *a, const float *b,
                         const float *dy, float *da, float *db, size_t rows, size_t cols, int mul)
{
    if (!ctx || !dy || (!da && !db) || !rows || !cols || (unsigned)mode > (unsigned)ET_BCAST_SCALAR)
        return ET_ERR_ARG;
    if (mul && ((da && !b) || (db && !a))) return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    static bwd_job j; /* static: holds the per-core partials, shared by the team */
    j = (bwd_job){a, b, dy, da, db, rows, cols, mode, mul, {0}};
    return hal_cluster_fork(nc, bwd_worker, &j);
}

et_status et_add_bwd_f32(const et_ctx *ctx, et_bcast mode, const float *dy, float *da, float *db,
                         size_t rows, size_t cols)
{
    return bwd_run(ctx, mode, NULL, NULL, dy, da, db, rows, cols, 0);
}

et_status et_mul_bwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b,
                         const float *dy, float *da, float *db, size_t rows, size_t cols)
{
    return bwd_run(ctx, mode, a, b, dy, da, db, rows, cols, 1);
}
