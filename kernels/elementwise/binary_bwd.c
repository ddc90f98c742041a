/* SPDX-License-Identifier: Apache-2.0 */
/* Gradients of broadcast add and mul: the db reduction first (owned outputs per core), then da
 * after a barrier, so da may overwrite dy (see et_elementwise.h). */
#include "et_elementwise.h"
#include "et_team.h"

typedef struct {
    const float *a, *b, *dy;
    float *da, *db;
    size_t rows, cols;
    et_bcast mode;
    int mul;
    float partial[HAL_CLUSTER_MAX_CORES];
} bwd_job;

/* dy[r, c] times a[r, c] (mul) or 1 (add) */
static inline float term(const bwd_job *j, size_t k) { return j->mul ? j->dy[k] * j->a[k] : j->dy[k]; }

static void bwd_db(bwd_job *j, unsigned id, unsigned nc)
{
    size_t lo, hi, n = j->cols;
    switch (j->mode) {
    case ET_BCAST_NONE:
        et_team_range(j->rows * n, id, nc, &lo, &hi);
        for (size_t k = lo; k < hi; ++k) j->db[k] = term(j, k);
        break;
    case ET_BCAST_ROW: /* columns owned per core, rows summed in order */
        et_team_range(n, id, nc, &lo, &hi);
        for (size_t c = lo; c < hi; ++c) {
            float s = 0.0f;
            for (size_t r = 0; r < j->rows; ++r) s += term(j, r * n + c);
            j->db[c] = s;
        }
        break;
    case ET_BCAST_COL:
        et_team_range(j->rows, id, nc, &lo, &hi);
        for (size_t r = lo; r < hi; ++r) {
            float s0 = 0.0f, s1 = 0.0f;
            size_t c = 0;
            for (; c + 2 <= n; c += 2) {
                s0 += term(j, r * n + c);
                s1 += term(j, r * n + c + 1);
            }
            if (c < n) s0 += term(j, r * n + c);
            j->db[r] = s0 + s1;
        }
        break;
    default: { /* scalar: per-core partials, combined in core order by core 0 */
        et_team_range(j->rows * n, id, nc, &lo, &hi);
        float s0 = 0.0f, s1 = 0.0f;
        size_t k = lo;
        for (; k + 2 <= hi; k += 2) {
            s0 += term(j, k);
            s1 += term(j, k + 1);
        }
        if (k < hi) s0 += term(j, k);
        j->partial[id] = s0 + s1;
        hal_cluster_barrier();
        if (id == 0) {
            float s = 0.0f;
            for (unsigned c = 0; c < nc; ++c) s += j->partial[c];
            j->db[0] = s;
        }
    }
    }
}

static void bwd_worker(void *arg)
{
    bwd_job *j = arg;
    unsigned id = hal_cluster_core_id(), nc = hal_cluster_num_cores();
    if (j->db) bwd_db(j, id, nc);
    if (!j->da) return;
    hal_cluster_barrier(); /* da may alias dy, which the db pass reads */
    size_t lo, hi, n = j->cols;
    et_team_range(j->rows, id, nc, &lo, &hi);
    for (size_t r = lo; r < hi; ++r) {
        const float *dy = j->dy + r * n;
        float *da = j->da + r * n;
        if (!j->mul) {
            if (da != dy)
                for (size_t c = 0; c < n; ++c) da[c] = dy[c];
        } else if (j->mode == ET_BCAST_NONE || j->mode == ET_BCAST_ROW) {
            const float *b = j->mode == ET_BCAST_NONE ? j->b + r * n : j->b;
            for (size_t c = 0; c < n; ++c) da[c] = dy[c] * b[c];
        } else {
            float s = j->mode == ET_BCAST_COL ? j->b[r] : j->b[0];
            for (size_t c = 0; c < n; ++c) da[c] = dy[c] * s;
        }
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
