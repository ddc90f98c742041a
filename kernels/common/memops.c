/* SPDX-License-Identifier: Apache-2.0 */
/* Word-wise fp32 fill and copy shared by the kernel families (see et_memops.h). */
#include "et_memops.h"

/* no-tree-loop-distribute-patterns: keep gcc from turning these loops back into libc calls */
#define ET_NO_LIBC_PATTERNS __attribute__((optimize("no-tree-loop-distribute-patterns")))

ET_NO_LIBC_PATTERNS void et_zero_f32(float *d, size_t n)
{
    float *e8 = d + (n & ~(size_t)7), *e = d + n;
    while (d != e8) {
        d[0] = 0.0f, d[1] = 0.0f, d[2] = 0.0f, d[3] = 0.0f;
        d[4] = 0.0f, d[5] = 0.0f, d[6] = 0.0f, d[7] = 0.0f;
        d += 8;
    }
    while (d != e) *d++ = 0.0f;
}

ET_NO_LIBC_PATTERNS void et_copy_f32(float *d, const float *s, size_t n)
{
    float *e8 = d + (n & ~(size_t)7), *e = d + n;
    while (d != e8) {
        float a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4], a5 = s[5], a6 = s[6], a7 = s[7];
        d[0] = a0, d[1] = a1, d[2] = a2, d[3] = a3, d[4] = a4, d[5] = a5, d[6] = a6, d[7] = a7;
        d += 8, s += 8;
    }
    while (d != e) *d++ = *s++;
}
