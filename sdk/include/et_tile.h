/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_tile.h
 *  @brief Row tiling through L1 for the kernels that do not tile themselves: element-wise and
 *  row-wise kernels (activations, broadcast add/mul, softmax, layernorm, max-pool planes, SGD).
 *  A kernel call over `rows` rows becomes one call per tile of at most `tile_rows` rows whose
 *  operands the DMA copies from L2 into L1 buffers (double-buffered: the next tile's inputs are
 *  fetched while the current tile is computed, its outputs written back while the next one is).
 *  The compiler picks `tile_rows` from the L1 scratch and writes it into the memory plan.
 *
 *  Use (core 0, outside a fork):
 *  @code
 *  et_tiler t;
 *  et_tile_stream s[2] = {{x, 512, ET_TILE_IN}, {y, 512, ET_TILE_OUT}};
 *  et_status st = et_tile_begin(&t, &ctx, s, 2, rows, tile_rows);
 *  while (st == ET_OK && et_tile_next(&t)) {
 *      st = et_relu_fwd_f32(&t.ctx, t.p[0], t.p[1], t.nr * 128u);
 *      et_tile_done(&t);
 *  }
 *  st = et_tile_end(&t, st);
 *  @endcode
 *  Row r of a stream lives at `l2 + r * row_bytes`; an input that is not split (a bias row,
 *  layernorm's gamma) is ET_TILE_WHOLE with `row_bytes` = its size. An output may alias an
 *  input in L2 (in place): tiles cover disjoint rows and each tile's inputs are read before its
 *  outputs are written back. The kernel gets `t.ctx`: the L1 left after the tile buffers.
 */
#ifndef ET_TILE_H
#define ET_TILE_H

#include <stddef.h>
#include <stdint.h>

#include "et_ctx.h"
#include "et_status.h"
#include "hal.h"

#define ET_TILE_MAX_STREAMS 6u

typedef enum {
    ET_TILE_IN = 0,    /**< rows copied L2 -> L1 */
    ET_TILE_OUT = 1,   /**< rows copied L1 -> L2 after the kernel */
    ET_TILE_INOUT = 2, /**< both (an operand updated in place, e.g. SGD's parameter) */
    ET_TILE_WHOLE = 3  /**< copied to L1 once, not split (row_bytes = its size) */
} et_tile_dir;

typedef struct {
    void *l2;           /**< address of row 0 (or of the whole operand) */
    uint32_t row_bytes; /**< bytes per row; the whole size for ET_TILE_WHOLE */
    uint32_t dir;       /**< et_tile_dir */
} et_tile_stream;

typedef struct {
    float *p[ET_TILE_MAX_STREAMS]; /**< L1 address of each stream's current tile */
    unsigned r0, nr;               /**< first row and row count of the current tile */
    et_ctx ctx;                    /**< context for the kernel: the rest of the L1 scratch */
    /* private */
    const et_tile_stream *s;
    unsigned ns, rows, tile_rows, cur;
    uint8_t *buf[ET_TILE_MAX_STREAMS][2];
    hal_dma_id in_id[2][ET_TILE_MAX_STREAMS], out_id[2][ET_TILE_MAX_STREAMS];
} et_tiler;

/**
 * @brief Lay out the tile buffers in ctx's L1 scratch and start fetching the first tile.
 * @param[out] t         tiler state
 * @param[in]  ctx       the L1 scratch and cores (the kernel's context)
 * @param[in]  s         ns streams (must stay valid until et_tile_end)
 * @param[in]  rows      rows to process (0: nothing to do)
 * @param[in]  tile_rows rows per tile (> 0)
 * @return ET_OK; ET_ERR_ARG (bad arguments, or the buffers do not fit the scratch: two per
 *         split stream of tile_rows rows, one per whole stream, 8-byte aligned).
 */
et_status et_tile_begin(et_tiler *t, const et_ctx *ctx, const et_tile_stream *s, unsigned ns,
                        unsigned rows, unsigned tile_rows);

/**
 * @brief Move to the next tile: wait for its inputs (and for the write-back that last used its
 *        output buffers), start fetching the tile after it, set p[], r0 and nr.
 * @return 1 while there is a tile to compute, 0 at the end.
 */
int et_tile_next(et_tiler *t);

/** @brief Start writing back the current tile's outputs (call after the kernel). */
void et_tile_done(et_tiler *t);

/**
 * @brief Wait for every outstanding copy. A copy the target cannot make never gets here: like
 *        every DMA of the program it is an @fault record that ends the run (hal_dma.h).
 * @param[in] t   tiler state
 * @param[in] st  the status of the kernel calls so far
 * @return st.
 */
et_status et_tile_end(et_tiler *t, et_status st);

#endif /* ET_TILE_H */
