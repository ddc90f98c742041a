/* SPDX-License-Identifier: Apache-2.0 */
/* kbench: plain references for the non-GEMM kernels. Written the straightforward way: nested
 * loops over the math definition, libm for exp/erf/tanh/sqrt/log, one core, no tiling, no
 * unrolling. Convolutions: batch 1, 3x3, stride 1, padding 1. */
#include "ref_ops.h"

#include <math.h>

void ref_conv_fwd(const float *x, const float *w, const float *b, float *y, unsigned ci, unsigned co,
                  unsigned h, unsigned wd)
{
    for (unsigned o = 0; o < co; ++o)
        for (unsigned oy = 0; oy < h; ++oy)
            for (unsigned ox = 0; ox < wd; ++ox) {
                float s = b[o];
                for (unsigned c = 0; c < ci; ++c)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            int iy = (int)oy - 1 + ky, ix = (int)ox - 1 + kx;
                            if (iy < 0 || ix < 0 || iy >= (int)h || ix >= (int)wd) continue;
                            s += x[(c * h + iy) * wd + ix] * w[((o * ci + c) * 3 + ky) * 3 + kx];
                        }
                y[(o * h + oy) * wd + ox] = s;
            }
}

void ref_conv_dx(const float *w, const float *dy, float *dx, unsigned ci, unsigned co, unsigned h,
                 unsigned wd)
{
    for (unsigned c = 0; c < ci; ++c)
        for (unsigned iy = 0; iy < h; ++iy)
            for (unsigned ix = 0; ix < wd; ++ix) {
                float s = 0.0f;
                for (unsigned o = 0; o < co; ++o)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            int oy = (int)iy + 1 - ky, ox = (int)ix + 1 - kx;
                            if (oy < 0 || ox < 0 || oy >= (int)h || ox >= (int)wd) continue;
                            s += dy[(o * h + oy) * wd + ox] * w[((o * ci + c) * 3 + ky) * 3 + kx];
                        }
                dx[(c * h + iy) * wd + ix] = s;
            }
}

void ref_conv_dw(const float *x, const float *dy, float *dw, unsigned ci, unsigned co, unsigned h,
                 unsigned wd)
{
    for (unsigned o = 0; o < co; ++o)
        for (unsigned c = 0; c < ci; ++c)
            for (int ky = 0; ky < 3; ++ky)
                for (int kx = 0; kx < 3; ++kx) {
                    float s = 0.0f;
                    for (unsigned oy = 0; oy < h; ++oy)
                        for (unsigned ox = 0; ox < wd; ++ox) {
                            int iy = (int)oy - 1 + ky, ix = (int)ox - 1 + kx;
                            if (iy < 0 || ix < 0 || iy >= (int)h || ix >= (int)wd) continue;
                            s += dy[(o * h + oy) * wd + ox] * x[(c * h + iy) * wd + ix];
                        }
                    dw[((o * ci + c) * 3 + ky) * 3 + kx] = s;
                }
}

void ref_conv_db(const float *dy, float *db, unsigned co, unsigned h, unsigned wd)
{
    for (unsigned o = 0; o < co; ++o) {
        float s = 0.0f;
        for (unsigned i = 0; i < h * wd; ++i) s += dy[o * h * wd + i];
        db[o] = s;
    }
}

/* 3x3, stride 2, padding 1 (padding acts as -inf). */
void ref_maxpool_fwd(const float *x, float *y, int32_t *idx, unsigned planes, unsigned h, unsigned w)
{
    unsigned ho = (h + 2 - 3) / 2 + 1, wo = (w + 2 - 3) / 2 + 1;
    for (unsigned p = 0; p < planes; ++p)
        for (unsigned oy = 0; oy < ho; ++oy)
            for (unsigned ox = 0; ox < wo; ++ox) {
                float m = -INFINITY;
                int32_t a = -1;
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        int iy = (int)(oy * 2) - 1 + ky, ix = (int)(ox * 2) - 1 + kx;
                        if (iy < 0 || ix < 0 || iy >= (int)h || ix >= (int)w) continue;
                        float v = x[(p * h + iy) * w + ix];
                        if (v > m) {
                            m = v;
                            a = iy * (int)w + ix;
                        }
                    }
                y[(p * ho + oy) * wo + ox] = m;
                idx[(p * ho + oy) * wo + ox] = a;
            }
}

void ref_maxpool_bwd(const int32_t *idx, const float *dy, float *dx, unsigned planes, unsigned h,
                     unsigned w)
{
    unsigned ho = (h + 2 - 3) / 2 + 1, wo = (w + 2 - 3) / 2 + 1;
    for (unsigned i = 0; i < planes * h * w; ++i) dx[i] = 0.0f;
    for (unsigned p = 0; p < planes; ++p)
        for (unsigned o = 0; o < ho * wo; ++o) dx[p * h * w + idx[p * ho * wo + o]] += dy[p * ho * wo + o];
}

void ref_relu_fwd(const float *x, float *y, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ref_relu_bwd(const float *x, const float *dy, float *dx, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

#define GELU_K0 0.7978845608f /* sqrt(2/pi) */
#define GELU_K1 0.044715f

void ref_gelu_fwd(int tanh_mode, const float *x, float *y, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        float v = x[i];
        if (tanh_mode)
            y[i] = 0.5f * v * (1.0f + tanhf(GELU_K0 * (v + GELU_K1 * v * v * v)));
        else
            y[i] = 0.5f * v * (1.0f + erff(v / sqrtf(2.0f)));
    }
}

void ref_gelu_bwd(int tanh_mode, const float *x, const float *dy, float *dx, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        float v = x[i], d;
        if (tanh_mode) {
            float t = tanhf(GELU_K0 * (v + GELU_K1 * v * v * v));
            d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_K0 * (1.0f + 3.0f * GELU_K1 * v * v);
        } else {
            d = 0.5f * (1.0f + erff(v / sqrtf(2.0f))) + v * expf(-0.5f * v * v) / sqrtf(2.0f * (float)M_PI);
        }
        dx[i] = dy[i] * d;
    }
}

void ref_softmax_fwd(const float *x, float *y, unsigned rows, unsigned cols)
{
    for (unsigned r = 0; r < rows; ++r) {
        float m = x[r * cols];
        for (unsigned j = 1; j < cols; ++j)
            if (x[r * cols + j] > m) m = x[r * cols + j];
        float s = 0.0f;
        for (unsigned j = 0; j < cols; ++j) {
            y[r * cols + j] = expf(x[r * cols + j] - m);
            s += y[r * cols + j];
        }
        for (unsigned j = 0; j < cols; ++j) y[r * cols + j] = y[r * cols + j] / s;
    }
}

void ref_softmax_bwd(const float *y, const float *dy, float *dx, unsigned rows, unsigned cols)
{
    for (unsigned r = 0; r < rows; ++r) {
        float s = 0.0f;
        for (unsigned j = 0; j < cols; ++j) s += dy[r * cols + j] * y[r * cols + j];
        for (unsigned j = 0; j < cols; ++j) dx[r * cols + j] = y[r * cols + j] * (dy[r * cols + j] - s);
    }
}

void ref_layernorm_fwd(const float *x, const float *g, const float *b, float *y, float *mean,
                       float *rstd, unsigned rows, unsigned dim, float eps)
{
    for (unsigned r = 0; r < rows; ++r) {
        float m = 0.0f, v = 0.0f;
        for (unsigned j = 0; j < dim; ++j) m += x[r * dim + j];
        m /= (float)dim;
        for (unsigned j = 0; j < dim; ++j) v += (x[r * dim + j] - m) * (x[r * dim + j] - m);
        v /= (float)dim;
        float rs = 1.0f / sqrtf(v + eps);
        for (unsigned j = 0; j < dim; ++j) y[r * dim + j] = (x[r * dim + j] - m) * rs * g[j] + b[j];
        mean[r] = m;
        rstd[r] = rs;
    }
}

void ref_layernorm_bwd(const float *x, const float *g, const float *mean, const float *rstd,
                       const float *dy, float *dx, float *dg, float *db, unsigned rows, unsigned dim)
{
    for (unsigned r = 0; r < rows; ++r) {
        float s1 = 0.0f, s2 = 0.0f;
        for (unsigned j = 0; j < dim; ++j) {
            float xh = (x[r * dim + j] - mean[r]) * rstd[r];
            s1 += dy[r * dim + j] * g[j];
            s2 += dy[r * dim + j] * g[j] * xh;
        }
        for (unsigned j = 0; j < dim; ++j) {
            float xh = (x[r * dim + j] - mean[r]) * rstd[r];
            dx[r * dim + j] = rstd[r] * (dy[r * dim + j] * g[j] - s1 / (float)dim - xh * s2 / (float)dim);
        }
    }
    for (unsigned j = 0; j < dim; ++j) {
        float a = 0.0f, c = 0.0f;
        for (unsigned r = 0; r < rows; ++r) {
            a += dy[r * dim + j] * (x[r * dim + j] - mean[r]) * rstd[r];
            c += dy[r * dim + j];
        }
        dg[j] = a;
        db[j] = c;
    }
}

void ref_add_row_fwd(const float *a, const float *b, float *y, unsigned rows, unsigned cols)
{
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned j = 0; j < cols; ++j) y[i * cols + j] = a[i * cols + j] + b[j];
}

void ref_add_row_bwd(const float *dy, float *da, float *db, unsigned rows, unsigned cols)
{
    for (unsigned j = 0; j < cols; ++j) db[j] = 0.0f;
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned j = 0; j < cols; ++j) {
            da[i * cols + j] = dy[i * cols + j];
            db[j] += dy[i * cols + j];
        }
}

void ref_mul_row_fwd(const float *a, const float *b, float *y, unsigned rows, unsigned cols)
{
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned j = 0; j < cols; ++j) y[i * cols + j] = a[i * cols + j] * b[j];
}

void ref_mul_row_bwd(const float *a, const float *b, const float *dy, float *da, float *db,
                     unsigned rows, unsigned cols)
{
    for (unsigned j = 0; j < cols; ++j) db[j] = 0.0f;
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned j = 0; j < cols; ++j) {
            da[i * cols + j] = dy[i * cols + j] * b[j];
            db[j] += dy[i * cols + j] * a[i * cols + j];
        }
}

/* y[j][i][k] = x[i][j][k] with x [d1][d2][d3] (swap of the two leading axes). */
void ref_swap12(const float *x, float *y, unsigned d1, unsigned d2, unsigned d3)
{
    for (unsigned i = 0; i < d1; ++i)
        for (unsigned j = 0; j < d2; ++j)
            for (unsigned k = 0; k < d3; ++k) y[(j * d1 + i) * d3 + k] = x[(i * d2 + j) * d3 + k];
}

void ref_xent_fwd(const float *x, const int32_t *lab, float *loss, unsigned batch, unsigned cls)
{
    float l = 0.0f;
    for (unsigned b = 0; b < batch; ++b) {
        float m = x[b * cls];
        for (unsigned j = 1; j < cls; ++j)
            if (x[b * cls + j] > m) m = x[b * cls + j];
        float s = 0.0f;
        for (unsigned j = 0; j < cls; ++j) s += expf(x[b * cls + j] - m);
        l += logf(s) + m - x[b * cls + lab[b]];
    }
    *loss = l / (float)batch;
}

void ref_xent_bwd(const float *x, const int32_t *lab, float dloss, float *dx, unsigned batch,
                  unsigned cls)
{
    for (unsigned b = 0; b < batch; ++b) {
        float m = x[b * cls];
        for (unsigned j = 1; j < cls; ++j)
            if (x[b * cls + j] > m) m = x[b * cls + j];
        float s = 0.0f;
        for (unsigned j = 0; j < cls; ++j) s += expf(x[b * cls + j] - m);
        for (unsigned j = 0; j < cls; ++j) {
            float p = expf(x[b * cls + j] - m) / s;
            dx[b * cls + j] = dloss * (p - ((int32_t)j == lab[b] ? 1.0f : 0.0f)) / (float)batch;
        }
    }
}

void ref_mse_fwd(const float *p, const float *t, float *loss, unsigned n)
{
    float s = 0.0f;
    for (unsigned i = 0; i < n; ++i) s += (p[i] - t[i]) * (p[i] - t[i]);
    *loss = s / (float)n;
}

void ref_mse_bwd(const float *p, const float *t, float dloss, float *dp, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) dp[i] = dloss * 2.0f * (p[i] - t[i]) / (float)n;
}

void ref_sgd(const float *p, const float *g, const float *v, float *po, float *vo, unsigned n,
             float lr, float mu, float wd)
{
    for (unsigned i = 0; i < n; ++i) {
        float d = g[i] + wd * p[i];
        vo[i] = mu * v[i] + d;
        po[i] = p[i] - lr * vo[i];
    }
}

/* x [rows][in], a [in][r], b [r][out], h [rows][r], y [rows][out]. */
void ref_lora_fwd(const float *x, const float *a, const float *b, float *h, const float *y0,
                  float *y, unsigned rows, unsigned in, unsigned out, unsigned r, float s)
{
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned k = 0; k < r; ++k) {
            float t = 0.0f;
            for (unsigned j = 0; j < in; ++j) t += x[i * in + j] * a[j * r + k];
            h[i * r + k] = t;
        }
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned o = 0; o < out; ++o) {
            float t = 0.0f;
            for (unsigned k = 0; k < r; ++k) t += h[i * r + k] * b[k * out + o];
            y[i * out + o] = y0[i * out + o] + s * t;
        }
}

void ref_lora_bwd(const float *x, const float *a, const float *b, const float *h, const float *dy,
                  float *dh, const float *dx0, float *dx, float *da, float *db, unsigned rows,
                  unsigned in, unsigned out, unsigned r, float s)
{
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned k = 0; k < r; ++k) {
            float t = 0.0f;
            for (unsigned o = 0; o < out; ++o) t += dy[i * out + o] * b[k * out + o];
            dh[i * r + k] = s * t;
        }
    for (unsigned k = 0; k < r; ++k)
        for (unsigned o = 0; o < out; ++o) {
            float t = 0.0f;
            for (unsigned i = 0; i < rows; ++i) t += h[i * r + k] * dy[i * out + o];
            db[k * out + o] = s * t;
        }
    for (unsigned j = 0; j < in; ++j)
        for (unsigned k = 0; k < r; ++k) {
            float t = 0.0f;
            for (unsigned i = 0; i < rows; ++i) t += x[i * in + j] * dh[i * r + k];
            da[j * r + k] = t;
        }
    for (unsigned i = 0; i < rows; ++i)
        for (unsigned j = 0; j < in; ++j) {
            float t = 0.0f;
            for (unsigned k = 0; k < r; ++k) t += dh[i * r + k] * a[j * r + k];
            dx[i * in + j] = dx0[i * in + j] + t;
        }
}
