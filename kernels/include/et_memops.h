/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_memops.h
 *  @brief Word-wise fp32 fill and copy for kernels. picolibc's memset/memcpy move one byte at a
 *  time on the RV32 targets (4-6 instructions per byte), so kernels use these instead.
 */
#ifndef ET_MEMOPS_H
#define ET_MEMOPS_H

#include <stddef.h>

/** @brief d[0..n) = 0.0f. */
void et_zero_f32(float *d, size_t n);

/** @brief d[0..n) = s[0..n) (the ranges must not overlap). */
void et_copy_f32(float *d, const float *s, size_t n);

#endif /* ET_MEMOPS_H */
