/* SPDX-License-Identifier: Apache-2.0 */
/* One softmax row on the calling core: max, exp and sum, then scale (see et_softmax.h). */
#include "et_fastmath.h"
#include "et_softmax.h"

void et_softmax_row_f32(const float *x, float *y, size_t cols)
{
    float m = x[0];
    for (size_t i = 1; i < cols; ++i) m = x[i] > m ? x[i] : m;
    float s0 = 0.0f, s1 = 0.0f;
    size_t i = 0;
    for (; i + 2 <= cols; i += 2) {
        float e0 = et_fast_expf(x[i] - m), e1 = et_fast_expf(x[i + 1] - m);
        y[i] = e0;
        y[i + 1] = e1;
        s0 += e0;
        s1 += e1;
    }
    for (; i < cols; ++i) {
        float e = et_fast_expf(x[i] - m);
        y[i] = e;
        s0 += e;
    }
    float inv = 1.0f / (s0 + s1); /* one division per row, outside the element loops */
    i = 0;
    for (; i + 4 <= cols; i += 4) {
        y[i] *= inv;
        y[i + 1] *= inv;
        y[i + 2] *= inv;
        y[i + 3] *= inv;
    }
    for (; i < cols; ++i) y[i] *= inv;
}
