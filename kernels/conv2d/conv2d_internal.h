/* SPDX-License-Identifier: Apache-2.0 */
/* conv2d internals shared by the four directions: tile plan, L1 slots, the double-buffered
 * DMA pipeline, the padded-slab builder and the micro-kernels. Not a public header. */
#ifndef CONV2D_INTERNAL_H
#define CONV2D_INTERNAL_H

#include "et_conv2d.h"
#include "et_team.h"

typedef enum { CONV_FWD = 0, CONV_IGRAD = 1, CONV_WGRAD = 2 } conv_dir;

/* Tile plan of one direction. "c" is the channel axis that is blocked (c_out for fwd/wgrad,
 * c_in for igrad), "r" the row axis (output rows for fwd/wgrad, input rows for igrad). */
typedef struct {
    et_conv2d_args a;    /* dense geometry of one group */
    size_t xcs, ycs;     /* channels per image of the x (dx) and y (dy) buffers: a's own, or
                            the whole op's when a is one group of a grouped convolution */
    size_t ho, wo;
    conv_dir dir;
    size_t tc, th;       /* channel block and row block */
    size_t nc_blk, nr_blk;
    size_t srows;        /* rows per channel in the staging slot */
    size_t prow, pcol;   /* padded slab: rows and columns per channel */
    size_t pch;          /* padded slab channels */
    float *S[2], *A[2], *O[2], *P, *R; /* L1 slots: staging x/dy, staging w/dy, out, slab, repack */
} conv_plan;

/* Slot sizes in floats for a candidate (tc, th). */
typedef struct {
    size_t s, a, o, p, r;
    int o_double;
} conv_slots;

void conv_slot_sizes(const conv_plan *pl, size_t tc, size_t th, conv_slots *out);
size_t conv_bytes(const conv_slots *s);
int conv_geom_ok(const et_conv2d_args *a);

/* A grouped convolution as its groups: the dense geometry of one group and the element
 * offsets from one group's x, w, y (and bias) to the next's. */
typedef struct {
    et_conv2d_args a;
    size_t count, x_step, w_step, y_step, b_step;
} conv_groups;
/* 0 if the geometry (groups included) is invalid. */
int conv_groups_of(const et_conv2d_args *a, conv_groups *g);
/* conv_plan_make for group geometry g->a of the op `a`: the buffers' image strides are a's. */
int conv_plan_group(conv_plan *pl, const et_conv2d_args *a, const conv_groups *g, conv_dir dir,
                    void *l1, size_t l1_bytes);
/* Choose tc/th for l1_bytes and carve the slots out of l1; 0 if L1 is too small. */
int conv_plan_make(conv_plan *pl, const et_conv2d_args *a, conv_dir dir, void *l1, size_t l1_bytes);

/* Double-buffered tile pipeline run by every core of the team. fetch/flush run on core 0. */
typedef struct conv_pipe conv_pipe;
struct conv_pipe {
    unsigned ntiles;
    void (*fetch)(conv_pipe *p, unsigned t, unsigned buf);
    void (*compute)(conv_pipe *p, unsigned t, unsigned buf, unsigned id, unsigned nc);
    void (*flush)(conv_pipe *p, unsigned t, unsigned buf);
    hal_dma_id in_id[2][2], out_id[2];
};
void conv_pipe_run(conv_pipe *p);

/* Points a direction's job at group g's slices of its tensors; returns the job's plan. */
typedef conv_plan *(*conv_place_fn)(conv_pipe *job, size_t g, const conv_groups *gs);
/* Run a direction over every group of `a` (one fork each; the job's pipe callbacks set):
 * ET_ERR_ARG, with nothing written, if the geometry, the core count or L1 does not do. */
et_status conv_run(const et_ctx *ctx, const et_conv2d_args *a, conv_dir dir, conv_pipe *job,
                   conv_place_fn place);

/* A tile of output rows of fwd/wgrad: image n, output channels [c0, c0+tc), output rows
 * [r0, r0+th), and the input rows [iy_lo, iy_lo+nrows) (all c_in channels) it reads. */
typedef struct {
    size_t n, c0, tc, r0, th, iy_lo, nrows;
} conv_otile;
/* Place the tile (image n, channel block cb, row block rb) and start the DMA of its input rows
 * from x (L2) into the staging slot S[buf]; returns the transfer id. */
hal_dma_id conv_otile_fetch_x(const conv_plan *pl, const float *x, size_t n, size_t cb, size_t rb,
                              unsigned buf, conv_otile *tl);

/* Zero-filled slab P[off(c) + t * rst + u * cst] = S[c * sc + i * sr + j] for t = t0 + i * ts,
 * u = u0 + j * us (t0, u0 >= 0; out-of-range rows/columns dropped). off(c) = (c / 4) * ghi +
 * (c % 4) * glo; interleaved: 4 channels per column (glo = 1, cst = 4). */
typedef struct {
    float *P;
    size_t ghi, glo, rst, cst, pch, prow, pcol;
    int interleaved;
    const float *S;
    size_t nch, sc, sr, ni, nj, t0, ts, u0, us;
} conv_slab;
void conv_slab_build(const conv_slab *s, unsigned id, unsigned nc);

/* fwd/igrad compute of a tile: O[ch, r, ox] for ch < och, r < orows, ox < ocols. */
typedef struct {
    const float *P, *R, *bias;
    size_t C, pchs, pcol, rs, cs, kh, kw;
    size_t ngroups, och, orows, ocols;
    float *O;
} conv_mm;
void conv_mm_run(const conv_mm *m, unsigned id, unsigned nc);

#endif /* CONV2D_INTERNAL_H */
