/* SPDX-License-Identifier: Apache-2.0 */
/* Elementwise add and mul forward with broadcasting; elements (same shape, scalar) or rows
 * (row and column broadcasts) split over the cores (et_elementwise.h). */
#include "et_elementwise.h"
#include "et_team.h"

typedef struct {
    const float *a, *b;
    float *y;
    size_t rows, cols;
    et_bcast mode;
    int mul;
} bin_job;

#define BIN_OP(u, v) (mul ? (u) * (v) : (u) + (v))

/* y = a op b for the same-shape rows [lo, hi) (contiguous: one stream of elements). */
static inline __attribute__((always_inline)) void bin_same(const float *a, const float *b, float *y,
                                                           size_t cnt, int mul)
{
    const float *e8 = a + (cnt & ~(size_t)7), *e = a + cnt;
    for (; a != e8; a += 8, b += 8, y += 8) {
        float y0 = BIN_OP(a[0], b[0]), y1 = BIN_OP(a[1], b[1]), y2 = BIN_OP(a[2], b[2]);
        float y3 = BIN_OP(a[3], b[3]), y4 = BIN_OP(a[4], b[4]), y5 = BIN_OP(a[5], b[5]);
        float y6 = BIN_OP(a[6], b[6]), y7 = BIN_OP(a[7], b[7]);
        y[0] = y0, y[1] = y1, y[2] = y2, y[3] = y3, y[4] = y4, y[5] = y5, y[6] = y6, y[7] = y7;
    }
    for (; a != e; ++a, ++b, ++y) *y = BIN_OP(*a, *b);
}

/* y = a op s for cnt contiguous elements. */
static inline __attribute__((always_inline)) void bin_scalar(const float *a, float s, float *y,
                                                             size_t cnt, int mul)
{
    const float *e8 = a + (cnt & ~(size_t)7), *e = a + cnt;
    for (; a != e8; a += 8, y += 8) {
        float y0 = BIN_OP(a[0], s), y1 = BIN_OP(a[1], s), y2 = BIN_OP(a[2], s);
        float y3 = BIN_OP(a[3], s), y4 = BIN_OP(a[4], s), y5 = BIN_OP(a[5], s);
        float y6 = BIN_OP(a[6], s), y7 = BIN_OP(a[7], s);
        y[0] = y0, y[1] = y1, y[2] = y2, y[3] = y3, y[4] = y4, y[5] = y5, y[6] = y6, y[7] = y7;
    }
    for (; a != e; ++a, ++y) *y = BIN_OP(*a, s);
}

/* Broadcast row b[n] over rows [lo, hi): 8 columns of b held in registers while the block
 * walks down the rows (register-blocked broadcast). */
static inline __attribute__((always_inline)) void bin_row(const float *a, const float *b, float *y,
                                                          size_t n, size_t lo, size_t hi, int mul)
{
    size_t c = 0;
    for (; c + 8 <= n; c += 8) {
        const float b0 = b[c], b1 = b[c + 1], b2 = b[c + 2], b3 = b[c + 3];
        const float b4 = b[c + 4], b5 = b[c + 5], b6 = b[c + 6], b7 = b[c + 7];
        const float *pa = a + lo * n + c, *pe = a + hi * n + c;
        float *py = y + lo * n + c;
        for (; pa != pe; pa += n, py += n) {
            float y0 = BIN_OP(pa[0], b0), y1 = BIN_OP(pa[1], b1), y2 = BIN_OP(pa[2], b2);
            float y3 = BIN_OP(pa[3], b3), y4 = BIN_OP(pa[4], b4), y5 = BIN_OP(pa[5], b5);
            float y6 = BIN_OP(pa[6], b6), y7 = BIN_OP(pa[7], b7);
            py[0] = y0, py[1] = y1, py[2] = y2, py[3] = y3;
            py[4] = y4, py[5] = y5, py[6] = y6, py[7] = y7;
        }
    }
    for (; c < n; ++c) {
        const float bc = b[c];
        const float *pa = a + lo * n + c, *pe = a + hi * n + c;
        float *py = y + lo * n + c;
        for (; pa != pe; pa += n, py += n) *py = BIN_OP(*pa, bc);
    }
}

/* [lo, hi): elements for ET_BCAST_NONE and ET_BCAST_SCALAR (whatever the rows), else rows */
static inline __attribute__((always_inline)) void bin_rows(const bin_job *j, size_t lo, size_t hi,
                                                           int mul)
{
    size_t n = j->cols;
    if (j->mode == ET_BCAST_NONE)
        bin_same(j->a + lo, j->b + lo, j->y + lo, hi - lo, mul);
    else if (j->mode == ET_BCAST_ROW)
        bin_row(j->a, j->b, j->y, n, lo, hi, mul);
    else if (j->mode == ET_BCAST_SCALAR)
        bin_scalar(j->a + lo, j->b[0], j->y + lo, hi - lo, mul);
    else
        for (size_t r = lo; r < hi; ++r) bin_scalar(j->a + r * n, j->b[r], j->y + r * n, n, mul);
}

static void bin_worker(void *arg)
{
    const bin_job *j = arg;
    size_t lo, hi; /* elementwise modes split elements: one long row (rows = 1) too */
    int flat = j->mode == ET_BCAST_NONE || j->mode == ET_BCAST_SCALAR;
    et_team_range(flat ? j->rows * j->cols : j->rows, hal_cluster_core_id(),
                  hal_cluster_num_cores(), &lo, &hi);
    if (lo >= hi) return;
    if (j->mul)
        bin_rows(j, lo, hi, 1);
    else
        bin_rows(j, lo, hi, 0);
}

static et_status bin_run(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols, int mul)
{
    if (!ctx || !a || !b || !y || !rows || !cols || (unsigned)mode > (unsigned)ET_BCAST_SCALAR)
        return ET_ERR_ARG;
    unsigned nc = et_team_cores(ctx);
    if (!nc) return ET_ERR_ARG;
    bin_job j = {a, b, y, rows, cols, mode, mul};
    return hal_cluster_fork(nc, bin_worker, &j);
}

et_status et_add_fwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols)
{
    return bin_run(ctx, mode, a, b, y, rows, cols, 0);
}

et_status et_mul_fwd_f32(const et_ctx *ctx, et_bcast mode, const float *a, const float *b, float *y,
                         size_t rows, size_t cols)
{
    return bin_run(ctx, mode, a, b, y, rows, cols, 1);
}
