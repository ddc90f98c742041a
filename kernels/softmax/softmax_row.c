/* SPDX-License-Identifier: Apache-2.0 */
/* One softmax row on the calling core: max, exp and sum, then scale (see et_softmax.h). */
#include "et_fastmath.h"
#include "et_softmax.h"

void et_softmax_row_f32(const float *x, float *y, size_t cols)
{
    const float *p = x + 1, *e = x + cols, *e4 = x + 1 + ((cols - 1) & ~(size_t)3);
    float m = x[0], m1 = x[0];
    for (; p != e4; p += 4) {
        m = et_fmax_nonnan_(m, p[0]);
        m1 = et_fmax_nonnan_(m1, p[1]);
        m = et_fmax_nonnan_(m, p[2]);
        m1 = et_fmax_nonnan_(m1, p[3]);
    }
    for (; p != e; ++p) m = et_fmax_nonnan_(m, *p);
    m = et_fmax_nonnan_(m, m1);
    float s0 = 0.0f, s1 = 0.0f;
    float *q = y;
    const float *e2 = x + (cols & ~(size_t)1);
    for (p = x; p != e2; p += 2, q += 2) {
        float e0 = et_fast_expf_nonpos_(p[0] - m), e1 = et_fast_expf_nonpos_(p[1] - m);
        q[0] = e0;
        q[1] = e1;
        s0 += e0;
        s1 += e1;
    }
    if (p != e) {
        float e0 = et_fast_expf_nonpos_(p[0] - m);
        q[0] = e0;
        s0 += e0;
    }
    float inv = 1.0f / (s0 + s1); /* one division per row, outside the element loops */
    float *f = y + cols, *f4 = y + (cols & ~(size_t)3);
    for (q = y; q != f4; q += 4) {
        float a = q[0] * inv, b = q[1] * inv, c = q[2] * inv, d = q[3] * inv;
        q[0] = a, q[1] = b, q[2] = c, q[3] = d;
    }
    for (; q != f; ++q) *q *= inv;
}
