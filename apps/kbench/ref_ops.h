/* SPDX-License-Identifier: Apache-2.0 */
/* kbench: plain single-core C references for the non-GEMM kernels (naive loops, libm). */
#ifndef KBENCH_REF_OPS_H
#define KBENCH_REF_OPS_H

#include <stdint.h>

void ref_conv_fwd(const float *x, const float *w, const float *b, float *y, unsigned ci, unsigned co,
                  unsigned h, unsigned wd);
void ref_conv_dx(const float *w, const float *dy, float *dx, unsigned ci, unsigned co, unsigned h,
                 unsigned wd);
void ref_conv_dw(const float *x, const float *dy, float *dw, unsigned ci, unsigned co, unsigned h,
                 unsigned wd);
void ref_conv_db(const float *dy, float *db, unsigned co, unsigned h, unsigned wd);
void ref_maxpool_fwd(const float *x, float *y, int32_t *idx, unsigned planes, unsigned h, unsigned w);
void ref_maxpool_bwd(const int32_t *idx, const float *dy, float *dx, unsigned planes, unsigned h,
                     unsigned w);
void ref_relu_fwd(const float *x, float *y, unsigned n);
void ref_relu_bwd(const float *x, const float *dy, float *dx, unsigned n);
void ref_gelu_fwd(int tanh_mode, const float *x, float *y, unsigned n);
void ref_gelu_bwd(int tanh_mode, const float *x, const float *dy, float *dx, unsigned n);
void ref_softmax_fwd(const float *x, float *y, unsigned rows, unsigned cols);
void ref_softmax_bwd(const float *y, const float *dy, float *dx, unsigned rows, unsigned cols);
void ref_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *mean,
                       float *rstd, unsigned rows, unsigned dim, float eps);
void ref_layernorm_bwd(const float *x, const float *g, const float *mean, const float *rstd,
                       const float *dy, float *dx, float *dg, float *db, unsigned rows, unsigned dim);
void ref_add_row_fwd(const float *a, const float *b, float *y, unsigned rows, unsigned cols);
void ref_add_row_bwd(const float *dy, float *da, float *db, unsigned rows, unsigned cols);
void ref_mul_row_fwd(const float *a, const float *b, float *y, unsigned rows, unsigned cols);
void ref_mul_row_bwd(const float *a, const float *b, const float *dy, float *da, float *db,
                     unsigned rows, unsigned cols);
void ref_swap12(const float *x, float *y, unsigned d1, unsigned d2, unsigned d3);
void ref_xent_fwd(const float *x, const int32_t *lab, float *loss, unsigned batch, unsigned cls);
void ref_xent_bwd(const float *x, const int32_t *lab, float dloss, float *dx, unsigned batch,
                  unsigned cls);
void ref_mse_fwd(const float *p, const float *t, float *loss, unsigned n);
void ref_mse_bwd(const float *p, const float *t, float dloss, float *dp, unsigned n);
void ref_sgd(const float *p, const float *g, const float *v, float *po, float *vo, unsigned n,
             float lr, float mu, float wd);
void ref_lora_fwd(const float *x, const float *a, const float *b, float *h, const float *y0,
                  float *y, unsigned rows, unsigned in, unsigned out, unsigned r, float s);
void ref_lora_bwd(const float *x, const float *a, const float *b, const float *h, const float *dy,
                  float *dh, const float *dx0, float *dx, float *da, float *db, unsigned rows,
                  unsigned in, unsigned out, unsigned r, float s);

#endif
