/* SPDX-License-Identifier: Apache-2.0 */
/* ktest handler for the data-movement kernels (et_shape.h). */
#include "et_shape.h"
#include "ktest.h"

/* ints: rows, cols, src_ld, dst_ld, src_off, dst_off, dst_zero; tensors: src, dst (in/out) */
static int op_block_copy(const kt_call *c)
{
    KT_EXPECT(c, 7, 2);
    et_block_args a = {(size_t)c->ints[0], (size_t)c->ints[1], (size_t)c->ints[2],
                       (size_t)c->ints[3], (size_t)c->ints[4], (size_t)c->ints[5],
                       (size_t)c->ints[6]};
    return et_block_copy_f32(c->ctx, &a, c->t[0], c->t[1]);
}
KT_OP("block.copy", op_block_copy);
