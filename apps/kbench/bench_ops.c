/* SPDX-License-Identifier: Apache-2.0 */
/* kbench, part 2: every non-GEMM kernel family on CCT's shapes, forward and backward, against
 * the plain single-core C references of ref_ops.c in the same run.
 *
 * Per case: the reference runs once on 1 core, then the SDK kernel on 1 and on 8 cores; each
 * kernel result is checked against the reference (ok if |et - ref| <= tol * (1 + |ref|) for
 * every element; both runs checked). Inputs are re-filled before every run (some kernels work
 * in place). Kernel operands live in L2 (g_p); reference outputs are written to a separate
 * buffer in the L3 window (g_rr), which on qemu is plain RAM (instruction counts under -icount
 * do not depend on the memory level); this keeps the L2 budget. Siracusa's cores cannot
 * address L3 (HyperRAM is behind the uDMA), so this part is built for host and qemu only; on
 * siracusa kbench measures the GEMM part (main.c) and says that this part was left out.
 *
 * FLOP per case (`flop` column): the constants of et_flop.h, the one convention the compiler's
 * reports and the benchmark use too (generated from the op registry, tools/et/compiler/ops/). */
#include "bench_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "et_activations.h"
#include "et_conv2d.h"
#include "et_elementwise.h"
#include "et_flop.h"
#include "et_layernorm.h"
#include "et_log.h"
#include "et_lora.h"
#include "et_loss.h"
#include "et_pool.h"
#include "et_sgd.h"
#include "et_softmax.h"
#include "hal.h"
#include "kbench.h"
#include "ref_ops.h"

#if defined(ET_TARGET_SIRACUSA)
int bench_ops_run(void *l1, size_t l1_bytes, float *l2_spare, size_t spare_bytes)
{
    (void)l1, (void)l1_bytes, (void)l2_spare, (void)spare_bytes;
    printf("kbench: non-GEMM kernel cases not run on siracusa (their references are written to "
           "the L3 window, which the cores cannot address there); run them on qemu\n");
    return 1;
}
#else
#define PF (112u * 1024u) /* pool floats: 448 KiB of L2 (what the budget leaves next to main.c) */
static float g_p[PF] HAL_L2;
static float g_rr[PF] HAL_L3;
static int32_t g_ri[64u * 16u * 16u] HAL_L3;
static void *g_l1;
static float *g_sp; /* main.c's GEMM operand B, free after the GEMM part: 192 KiB */
static size_t g_l1_bytes;

/* Frames on core 0 are kept small and out of the kernel's call chain (noinline, statics):
 * core 0 has a 2 KiB stack and main() already takes 1 KiB of it. */
#define NOINLINE __attribute__((noinline))


enum {
    C1_FWD, C1_DX, C1_DW, C1_DB, C2_FWD, C2_DX, C2_DW, C2_DB, MP_FWD, MP_BWD, RELU_FWD, RELU_BWD,
    GE_FWD, GE_BWD, GT_FWD, GT_BWD, SM_FWD, SM_BWD, LN_FWD, LN_BWD, ADD_FWD, ADD_BWD, MUL_FWD,
    MUL_BWD, PERM_FWD, PERM_BWD, XE_FWD, XE_BWD, MSE_FWD, MSE_BWD, SGD_STEP, LORA_FWD, LORA_BWD,
    NCASES
};

typedef struct {
    const char *name, *shape;
    uint64_t flop;
    float tol;
} op_case;

#define CONV1_MAC (64ull * 32 * 32 * 3 * 9)
#define CONV1_Y (64ull * 32 * 32)
#define CONV2_MAC (128ull * 16 * 16 * 64 * 9)
#define CONV2_Y (128ull * 16 * 16)
#define NA (64u * 128u)
#define RB_N (48u * 32u * 32u) /* ReLU bwd: x + dy of 64x32x32 (512 KiB) do not fit the L2 left */ /* 64 tokens x 128 dims */
static const op_case g_cases[NCASES] = {
    /* convolutions: a multiply-add per MAC; the bias gradient one add per dY element */
    [C1_FWD] = {"conv_3_64_fwd", "1x3x32x32_k3p1_co64", ET_FLOP_MAC * CONV1_MAC + ET_FLOP_BIAS * CONV1_Y, 1e-4f},
    [C1_DX] = {"conv_3_64_dx", "1x3x32x32_k3p1_co64", ET_FLOP_MAC * CONV1_MAC, 1e-4f},
    [C1_DW] = {"conv_3_64_dw", "1x3x32x32_k3p1_co64", ET_FLOP_MAC * CONV1_MAC, 1e-4f},
    [C1_DB] = {"conv_3_64_db", "1x64x32x32", ET_FLOP_BIAS * CONV1_Y, 1e-4f},
    [C2_FWD] = {"conv_64_128_fwd", "1x64x16x16_k3p1_co128", ET_FLOP_MAC * CONV2_MAC + ET_FLOP_BIAS * CONV2_Y, 1e-4f},
    [C2_DX] = {"conv_64_128_dx", "1x64x16x16_k3p1_co128", ET_FLOP_MAC * CONV2_MAC, 1e-4f},
    [C2_DW] = {"conv_64_128_dw", "1x64x16x16_k3p1_co128", ET_FLOP_MAC * CONV2_MAC, 1e-4f},
    [C2_DB] = {"conv_64_128_db", "1x128x16x16", ET_FLOP_BIAS * CONV2_Y, 1e-4f},
    /* max-pool 3x3: 8 compares per output; backward: 1 add per output */
    [MP_FWD] = {"maxpool_fwd", "64x32x32_k3s2p1", 64ull * 256 * 8 * ET_FLOP_MAXPOOL_COMPARE, 0.0f},
    [MP_BWD] = {"maxpool_bwd", "64x32x32_k3s2p1", 64ull * 256 * ET_FLOP_MAXPOOL_SCATTER, 0.0f},
    [RELU_FWD] = {"relu_fwd", "64x32x32", 65536ull * ET_FLOP_RELU, 0.0f},
    [RELU_BWD] = {"relu_bwd", "48x32x32(L2_budget)", (uint64_t)RB_N * ET_FLOP_RELU, 0.0f},
    [GE_FWD] = {"gelu_erf_fwd", "64x128", (uint64_t)ET_FLOP_GELU_ERF_FWD * NA, 1e-5f},
    [GE_BWD] = {"gelu_erf_bwd", "64x128", (uint64_t)ET_FLOP_GELU_ERF_BWD * NA, 1e-5f},
    [GT_FWD] = {"gelu_tanh_fwd", "64x128", (uint64_t)ET_FLOP_GELU_TANH_FWD * NA, 1e-5f},
    [GT_BWD] = {"gelu_tanh_bwd", "64x128", (uint64_t)ET_FLOP_GELU_TANH_BWD * NA, 1e-5f},
    [SM_FWD] = {"softmax_fwd", "2x64x64", (uint64_t)ET_FLOP_SOFTMAX_FWD * 8192, 1e-5f},
    [SM_BWD] = {"softmax_bwd", "2x64x64", (uint64_t)ET_FLOP_SOFTMAX_BWD * 8192, 1e-5f},
    /* layernorm backward: dx, dgamma and dbeta in one call; per-row sqrt/div not counted */
    [LN_FWD] = {"layernorm_fwd", "64x128", (uint64_t)ET_FLOP_LAYERNORM_FWD * NA, 1e-4f},
    [LN_BWD] = {"layernorm_bwd", "64x128",
                (uint64_t)(ET_FLOP_LAYERNORM_DX + ET_FLOP_LAYERNORM_DGAMMA + ET_FLOP_LAYERNORM_DBETA) * NA, 1e-4f},
    /* broadcast add/mul of a [128] row: fwd 1 per element; add bwd: db column sum (da = dy
     * copy 0); mul bwd: da = dy*b (1), db = sum dy*a (2) */
    [ADD_FWD] = {"add_bcast_fwd", "64x128+128", (uint64_t)ET_FLOP_ELEM * NA, 1e-6f},
    [ADD_BWD] = {"add_bcast_bwd", "64x128+128", (uint64_t)ET_FLOP_ELEM * NA, 1e-5f},
    [MUL_FWD] = {"mul_bcast_fwd", "64x128*128", (uint64_t)ET_FLOP_ELEM * NA, 1e-6f},
    [MUL_BWD] = {"mul_bcast_bwd", "64x128*128", 3ull * ET_FLOP_ELEM * NA, 1e-5f},
    /* head split [T=64,H=2,Dh=64] -> [H,T,Dh] and its backward: data movement, 0 FLOP */
    [PERM_FWD] = {"permute_fwd", "64x2x64_0213", 0, 0.0f},
    [PERM_BWD] = {"permute_bwd", "64x2x64_0213", 0, 0.0f},
    [XE_FWD] = {"xent_fwd", "8x10", (uint64_t)ET_FLOP_XENT_FWD * 80 + ET_FLOP_XENT_FWD_ROW * 8, 1e-5f},
    [XE_BWD] = {"xent_bwd", "8x10", (uint64_t)ET_FLOP_XENT_BWD * 80, 1e-5f},
    [MSE_FWD] = {"mse_fwd", "640", (uint64_t)ET_FLOP_MSE_FWD * 640, 1e-5f},
    [MSE_BWD] = {"mse_bwd", "640", (uint64_t)ET_FLOP_MSE_BWD * 640, 1e-6f},
    /* SGD with momentum and weight decay */
    [SGD_STEP] = {"sgd_momentum", "128x128",
                  (uint64_t)(ET_FLOP_SGD_STEP + ET_FLOP_SGD_DECAY + ET_FLOP_SGD_MOMENTUM) * 16384, 1e-6f},
    /* LoRA: its GEMMs' multiply-adds + 1 add per accumulated output (scale multiplies not counted) */
    [LORA_FWD] = {"lora_fwd", "64x128_r4", ET_FLOP_MAC * 2ull * 64 * 128 * 4 + ET_FLOP_ELEM * NA, 1e-4f},
    [LORA_BWD] = {"lora_bwd", "64x128_r4", ET_FLOP_MAC * 4ull * 64 * 128 * 4 + ET_FLOP_ELEM * NA, 1e-4f},
};

static void fill(float *p, unsigned n, unsigned seed)
{
    for (unsigned i = 0; i < n; ++i) p[i] = (float)((int)((i * 2654435761u + seed) >> 24) - 128) / 128.0f;
}

/* Layout of the pool per family (offsets in floats). */
#define P g_p
#define R g_rr
/* conv: x at 0, w after x, b after w, y/dy after b; dX goes to x, dW to w, dB to b */
typedef struct {
    unsigned ci, co, h, w;
    float *x, *wt, *b, *y;
} conv_lay;

static NOINLINE conv_lay conv_layout(int big)
{
    conv_lay c = {big ? 64u : 3u, big ? 128u : 64u, big ? 16u : 32u, big ? 16u : 32u, 0, 0, 0, 0};
    if (big) { /* w, b in the pool (288.5 KiB); x, y/dy in the spare buffer (64 + 128 KiB) */
        c.wt = P;
        c.b = P + c.co * c.ci * 9;
        c.x = g_sp;
        c.y = g_sp + c.ci * c.h * c.w;
    } else {
        c.x = P;
        c.wt = c.x + c.ci * c.h * c.w;
        c.b = c.wt + c.co * c.ci * 9;
        c.y = c.b + c.co;
    }
    return c;
}

/* maxpool / relu */
#define MP_X P
#define MP_Y (P + 65536)
#define MP_IDX ((int32_t *)(P + 65536 + 16384))
#define MP_DY (P + 65536 + 32768)
/* [64, 128] families */
#define A0 P
#define A1 (P + NA)
#define A2 (P + 2 * NA)
#define A3 (P + 3 * NA)
#define V0 (P + 4 * NA) /* [128]-sized vectors */
#define V1 (P + 4 * NA + 128)
#define V2 (P + 4 * NA + 256)
#define V3 (P + 4 * NA + 384)
#define LAB ((int32_t *)(P + 4 * NA + 512))
/* lora */
#define LX P
#define LA (P + 8192)
#define LB (P + 8704)
#define LH (P + 9216)
#define LY (P + 9472)
#define LDY (P + 17664)
#define LDH (P + 25856)
#define LDX (P + 26112)
#define LDA (P + 34304)
#define LDB (P + 34816)
static const size_t g_pdims[4] = {1, 64, 2, 64};
static const unsigned g_perm[4] = {0, 2, 1, 3};
static const et_sgd_args g_sgd = {0.01f, 0.9f, 1e-4f, 0};
static const et_lora_args g_lora = {64, 128, 128, 4, 2.0f, 0};

static NOINLINE void setup(int id)
{
    conv_lay c = conv_layout(id >= C2_FWD && id <= C2_DB);
    switch (id) {
    case C1_FWD: case C1_DX: case C1_DW: case C1_DB: case C2_FWD: case C2_DX: case C2_DW: case C2_DB:
        fill(c.x, c.ci * c.h * c.w, 11u);
        fill(c.wt, c.co * c.ci * 9, 29u);
        fill(c.b, c.co, 37u);
        fill(c.y, c.co * c.h * c.w, 53u); /* dy for the backward cases */
        break;
    case MP_FWD:
        fill(MP_X, 65536, 7u);
        break;
    case MP_BWD:
        fill(MP_X, 65536, 7u);
        ref_maxpool_fwd(MP_X, MP_Y, MP_IDX, 64, 32, 32); /* saved indices */
        fill(MP_DY, 16384, 13u);
        break;
    case RELU_FWD:
        fill(P, 65536, 3u);
        break;
    case RELU_BWD:
        fill(P, RB_N, 3u);
        fill(P + 65536, RB_N, 5u);
        break;
    case GE_FWD: case GT_FWD: case GE_BWD: case GT_BWD:
        fill(A0, NA, 17u);
        for (unsigned i = 0; i < NA; ++i) A0[i] *= 4.0f; /* [-4, 4) covers GELU's curved part */
        fill(A1, NA, 19u);
        break;
    case SM_FWD: case SM_BWD:
        fill(A0, NA, 23u);
        for (unsigned i = 0; i < NA; ++i) A0[i] *= 8.0f; /* attention-score range */
        ref_softmax_fwd(A0, A2, 128, 64);                /* y for the backward */
        fill(A1, NA, 31u);
        break;
    case LN_FWD: case LN_BWD:
        fill(A0, NA, 41u);
        fill(V0, 128, 43u);
        for (unsigned i = 0; i < 128; ++i) V0[i] += 1.0f; /* gamma around 1 */
        fill(V1, 128, 47u);
        ref_layernorm_fwd(A0, V0, V1, A2, V2, V3, 64, 128, 1e-5f); /* mean (V2), rstd (V3) */
        fill(A1, NA, 59u);                                         /* dy */
        break;
    case ADD_FWD: case ADD_BWD: case MUL_FWD: case MUL_BWD: case PERM_FWD: case PERM_BWD:
    case MSE_FWD: case MSE_BWD:
        fill(A0, NA, 61u);
        fill(A1, NA, 67u);
        fill(V0, 128, 71u);
        break;
    case XE_FWD: case XE_BWD:
        fill(A0, 80, 73u);
        for (unsigned i = 0; i < 80; ++i) A0[i] *= 4.0f;
        for (unsigned b = 0; b < 8; ++b) LAB[b] = (int32_t)((b * 7u + 3u) % 10u);
        break;
    case SGD_STEP:
        fill(A0, 16384, 79u); /* p */
        fill(A2, 16384, 83u); /* g */
        fill(P + 32768, 16384, 89u); /* v */
        break;
    case LORA_FWD: case LORA_BWD:
        fill(LX, 8192, 97u);
        fill(LA, 512, 101u);
        fill(LB, 512, 103u);
        fill(LY, 8192, 107u);
        ref_lora_fwd(LX, LA, LB, LH, LY, LY + 0, 64, 128, 128, 4, 0.0f); /* H = X A (y unchanged) */
        fill(LY, 8192, 107u);
        fill(LDY, 8192, 109u);
        fill(LDX, 8192, 113u);
        break;
    default: break;
    }
}

static NOINLINE int run_et(int id, const et_ctx *ctx)
{
    static conv_lay c;
    static et_conv2d_args ca;
    static const et_maxpool2d_args ma = {64, 32, 32, 3, 3, 2, 2, 1, 1};
    c = conv_layout(id >= C2_FWD && id <= C2_DB);
    ca = (et_conv2d_args){1, c.ci, c.h, c.w, c.co, 3, 3, 1, 1, 1, 1, 1, 0};
    switch (id) {
    case C1_FWD: case C2_FWD: return et_conv2d_fwd_f32(ctx, &ca, c.x, c.wt, c.b, c.y);
    case C1_DX: case C2_DX: return et_conv2d_bwd_igrad_f32(ctx, &ca, c.wt, c.y, c.x);
    case C1_DW: case C2_DW: return et_conv2d_bwd_wgrad_f32(ctx, &ca, c.x, c.y, c.wt);
    case C1_DB: case C2_DB: return et_conv2d_bwd_bgrad_f32(ctx, &ca, c.y, c.b);
    case MP_FWD: return et_maxpool2d_fwd_f32(ctx, &ma, MP_X, MP_Y, MP_IDX);
    case MP_BWD: return et_maxpool2d_bwd_f32(ctx, &ma, NULL, MP_IDX, MP_DY, MP_X);
    case RELU_FWD: return et_relu_fwd_f32(ctx, P, P, 65536); /* in place */
    case RELU_BWD: return et_relu_bwd_f32(ctx, P, P + 65536, P + 65536, RB_N); /* dx in place */
    case GE_FWD: return et_gelu_fwd_f32(ctx, ET_GELU_ERF, A0, A2, NA);
    case GT_FWD: return et_gelu_fwd_f32(ctx, ET_GELU_TANH, A0, A2, NA);
    case GE_BWD: return et_gelu_bwd_f32(ctx, ET_GELU_ERF, A0, A1, A2, NA);
    case GT_BWD: return et_gelu_bwd_f32(ctx, ET_GELU_TANH, A0, A1, A2, NA);
    case SM_FWD: return et_softmax_fwd_f32(ctx, A0, A3, 128, 64);
    case SM_BWD: return et_softmax_bwd_f32(ctx, A2, A1, A3, 128, 64);
    case LN_FWD: return et_layernorm_fwd_f32(ctx, A0, V0, V1, A3, V2, V3, 64, 128, 1e-5f);
    case LN_BWD: return et_layernorm_bwd_f32(ctx, A0, V0, V2, V3, A1, A3, A2, A2 + 128, 64,
                                             128);
    case ADD_FWD: return et_add_fwd_f32(ctx, ET_BCAST_ROW, A0, V0, A2, 64, 128);
    case ADD_BWD: return et_add_bwd_f32(ctx, ET_BCAST_ROW, A1, A2, V1, 64, 128);
    case MUL_FWD: return et_mul_fwd_f32(ctx, ET_BCAST_ROW, A0, V0, A2, 64, 128);
    case MUL_BWD: return et_mul_bwd_f32(ctx, ET_BCAST_ROW, A0, V0, A1, A2, V1, 64, 128);
    case PERM_FWD: return et_permute_fwd_f32(ctx, A0, A2, g_pdims, g_perm);
    case PERM_BWD: return et_permute_bwd_f32(ctx, A1, A2, g_pdims, g_perm);
    case XE_FWD: return et_softmax_xent_fwd_f32(ctx, A0, LAB, A2, 8, 10);
    case XE_BWD: return et_softmax_xent_bwd_f32(ctx, A0, LAB, 1.0f, A2, 8, 10);
    case MSE_FWD: return et_mse_fwd_f32(ctx, A0, A1, A2, 640);
    case MSE_BWD: return et_mse_bwd_f32(ctx, A0, A1, 1.0f, A2, 640);
    case SGD_STEP: return et_sgd_step_f32(ctx, &g_sgd, A0, A2, P + 32768, 16384);
    case LORA_FWD: return et_lora_fwd_f32(ctx, &g_lora, LX, LA, LB, LDH, LY); /* H into LDH */
    case LORA_BWD: return et_lora_bwd_f32(ctx, &g_lora, LX, LA, LB, LH, LDY, LDH, LDX, LDA, LDB);
    default: return -1;
    }
}

static NOINLINE void run_ref(int id)
{
    conv_lay c = conv_layout(id >= C2_FWD && id <= C2_DB);
    switch (id) {
    case C1_FWD: case C2_FWD: ref_conv_fwd(c.x, c.wt, c.b, R, c.ci, c.co, c.h, c.w); break;
    case C1_DX: case C2_DX: ref_conv_dx(c.wt, c.y, R, c.ci, c.co, c.h, c.w); break;
    case C1_DW: case C2_DW: ref_conv_dw(c.x, c.y, R, c.ci, c.co, c.h, c.w); break;
    case C1_DB: case C2_DB: ref_conv_db(c.y, R, c.co, c.h, c.w); break;
    case MP_FWD: ref_maxpool_fwd(MP_X, R, g_ri, 64, 32, 32); break;
    case MP_BWD: ref_maxpool_bwd(MP_IDX, MP_DY, R, 64, 32, 32); break;
    case RELU_FWD: ref_relu_fwd(P, R, 65536); break;
    case RELU_BWD: ref_relu_bwd(P, P + 65536, R, RB_N); break;
    case GE_FWD: ref_gelu_fwd(0, A0, R, NA); break;
    case GT_FWD: ref_gelu_fwd(1, A0, R, NA); break;
    case GE_BWD: ref_gelu_bwd(0, A0, A1, R, NA); break;
    case GT_BWD: ref_gelu_bwd(1, A0, A1, R, NA); break;
    case SM_FWD: ref_softmax_fwd(A0, R, 128, 64); break;
    case SM_BWD: ref_softmax_bwd(A2, A1, R, 128, 64); break;
    case LN_FWD: ref_layernorm_fwd(A0, V0, V1, R, R + NA, R + NA + 64, 64, 128, 1e-5f); break;
    case LN_BWD: ref_layernorm_bwd(A0, V0, V2, V3, A1, R, R + NA, R + NA + 128, 64, 128); break;
    case ADD_FWD: ref_add_row_fwd(A0, V0, R, 64, 128); break;
    case ADD_BWD: ref_add_row_bwd(A1, R, R + NA, 64, 128); break;
    case MUL_FWD: ref_mul_row_fwd(A0, V0, R, 64, 128); break;
    case MUL_BWD: ref_mul_row_bwd(A0, V0, A1, R, R + NA, 64, 128); break;
    case PERM_FWD: ref_swap12(A0, R, 64, 2, 64); break;
    case PERM_BWD: ref_swap12(A1, R, 2, 64, 64); break;
    case XE_FWD: ref_xent_fwd(A0, LAB, R, 8, 10); break;
    case XE_BWD: ref_xent_bwd(A0, LAB, 1.0f, R, 8, 10); break;
    case MSE_FWD: ref_mse_fwd(A0, A1, R, 640); break;
    case MSE_BWD: ref_mse_bwd(A0, A1, 1.0f, R, 640); break;
    case SGD_STEP: ref_sgd(A0, A2, P + 32768, R, R + 16384, 16384, 0.01f, 0.9f, 1e-4f); break;
    case LORA_FWD: ref_lora_fwd(LX, LA, LB, R, LY, R + 256, 64, 128, 128, 4, 2.0f); break;
    case LORA_BWD:
        ref_lora_bwd(LX, LA, LB, LH, LDY, R, LDX, R + 256, R + 256 + 8192, R + 256 + 8192 + 512,
                     64, 128, 128, 4, 2.0f);
        break;
    default: break;
    }
}

typedef struct {
    double abs, rel, mixed;
} errs;

static void cmp(errs *e, const float *et, const float *ref, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        double d = fabs((double)et[i] - (double)ref[i]), r = fabs((double)ref[i]);
        if (!(d == d) || isinf(et[i])) d = INFINITY; /* NaN/inf in the kernel output */
        if (d > e->abs) e->abs = d;
        if (r > 0.0 && d / r > e->rel) e->rel = d / r;
        if (d / (1.0 + r) > e->mixed) e->mixed = d / (1.0 + r);
    }
}

static NOINLINE void check(int id, errs *e)
{
    conv_lay c = conv_layout(id >= C2_FWD && id <= C2_DB);
    switch (id) {
    case C1_FWD: case C2_FWD: cmp(e, c.y, R, c.co * c.h * c.w); break;
    case C1_DX: case C2_DX: cmp(e, c.x, R, c.ci * c.h * c.w); break;
    case C1_DW: case C2_DW: cmp(e, c.wt, R, c.co * c.ci * 9); break;
    case C1_DB: case C2_DB: cmp(e, c.b, R, c.co); break;
    case MP_FWD:
        cmp(e, MP_Y, R, 16384);
        for (unsigned i = 0; i < 16384; ++i)
            if (MP_IDX[i] != g_ri[i]) e->abs = e->mixed = INFINITY;
        break;
    case MP_BWD: cmp(e, MP_X, R, 65536); break;
    case RELU_FWD: cmp(e, P, R, 65536); break;
    case RELU_BWD: cmp(e, P + 65536, R, RB_N); break;
    case GE_FWD: case GT_FWD: case GE_BWD: case GT_BWD: cmp(e, A2, R, NA); break;
    case SM_FWD: case SM_BWD: cmp(e, A3, R, NA); break;
    case LN_FWD: cmp(e, A3, R, NA); cmp(e, V2, R + NA, 64); cmp(e, V3, R + NA + 64, 64); break;
    case LN_BWD: cmp(e, A3, R, NA); cmp(e, A2, R + NA, 128); cmp(e, A2 + 128, R + NA + 128, 128); break;
    case ADD_FWD: case MUL_FWD: case PERM_FWD: case PERM_BWD: cmp(e, A2, R, NA); break;
    case ADD_BWD: case MUL_BWD: cmp(e, A2, R, NA); cmp(e, V1, R + NA, 128); break;
    case XE_FWD: case MSE_FWD: cmp(e, A2, R, 1); break;
    case XE_BWD: cmp(e, A2, R, 80); break;
    case MSE_BWD: cmp(e, A2, R, 640); break;
    case SGD_STEP: cmp(e, A0, R, 16384); cmp(e, P + 32768, R + 16384, 16384); break;
    case LORA_FWD: cmp(e, LDH, R, 256); cmp(e, LY, R + 256, 8192); break;
    case LORA_BWD:
        cmp(e, LDH, R, 256);
        cmp(e, LDX, R + 256, 8192);
        cmp(e, LDA, R + 256 + 8192, 512);
        cmp(e, LDB, R + 256 + 8192 + 512, 512);
        break;
    default: break;
    }
}

static NOINLINE void ref_worker(void *arg)
{
    run_ref(*(const int *)arg);
}

/* The kernel (ref = 0) on nc cores, or the reference (ref = 1) on core 0 alone; every core
 * measured, the cost of an empty fork subtracted (as in main.c). */
static NOINLINE int measure(int id, int ref, unsigned nc, meas *m)
{
    kb_measure_begin(nc);
    int st = 0;
    if (!ref) {
        static et_ctx ctx;
        ctx = (et_ctx){g_l1, g_l1_bytes, nc};
        st = run_et(id, &ctx);
    } else {
        hal_cluster_fork(1, ref_worker, &id);
    }
    kb_measure_end(m);
    return st;
}

static NOINLINE void log_perf(const char *name, const char *impl, unsigned nc, const meas *m, uint64_t flop)
{
    char layer[48], phase[8];
    snprintf(layer, sizeof layer, "%s.%s", name, impl);
    snprintf(phase, sizeof phase, "c%u", nc);
    for (unsigned k = 0; k < nc; ++k) {
        et_perf_record r = {layer, phase, k, m->core[k], flop / nc, 0, 0};
        et_log_perf(&r);
    }
}

typedef struct {
    uint64_t ins1, ins8, ref1;
    double spd, err;
    int ok;
} row;

static NOINLINE int bench_case(int id, row *rw);
static NOINLINE void print_table(const row *rows);

int bench_ops_run(void *l1, size_t l1_bytes, float *l2_spare, size_t spare_bytes)
{
    static row rows[NCASES];
    if (spare_bytes < 192u * 1024u) {
        et_log_result("bench_ops_spare", 0, (double)spare_bytes, 192.0 * 1024.0);
        return 0;
    }
    g_sp = l2_spare;
    g_l1 = l1;
    g_l1_bytes = l1_bytes;
    int all_ok = 1;
    for (int id = 0; id < NCASES; ++id) all_ok &= bench_case(id, &rows[id]);
    print_table(rows);
    return all_ok;
}

static NOINLINE void report(int id, const row *rw, const errs *e);

/* One case: reference on 1 core, kernel on 1 and 8 cores, checks; returns ok. */
static NOINLINE int bench_case(int id, row *rw)
{
    {
        const op_case *c = &g_cases[id];
        static meas mr, m1, m8;
        setup(id);
        measure(id, 1, 1, &mr);
        log_perf(c->name, "ref", 1, &mr, c->flop);
        errs e = {0, 0, 0};
        int st = 0;
        setup(id);
        st |= measure(id, 0, 1, &m1);
        log_perf(c->name, "et", 1, &m1, c->flop);
        check(id, &e);
        setup(id);
        st |= measure(id, 0, 8, &m8);
        log_perf(c->name, "et", 8, &m8, c->flop);
        check(id, &e);
        rw->ins1 = m1.instr_max;
        rw->ins8 = m8.instr_max;
        rw->ref1 = mr.instr_max;
        rw->spd = (double)m1.cycles_max / (double)m8.cycles_max;
        rw->err = e.mixed;
        rw->ok = st == 0 && e.mixed <= c->tol;
        report(id, rw, &e);
        return rw->ok;
    }
}

static NOINLINE void report(int id, const row *rw, const errs *ep)
{
    {
        const op_case *c = &g_cases[id];
        errs e = *ep;
        double f = (double)c->flop;
        et_rec("@bench kernel=%s impl=ref shape=%s flop=%llu instr1=%llu fpi1=%.4f", c->name,
               c->shape, (unsigned long long)c->flop, (unsigned long long)rw->ref1, f / rw->ref1);
        et_rec("@bench kernel=%s impl=et shape=%s flop=%llu instr1=%llu instr8=%llu fpi1=%.4f "
               "fpi8=%.4f speedup=%.3f gain1=%.3f gain8=%.3f abs_err=%.3g rel_err=%.3g tol=%.3g",
               c->name, c->shape, (unsigned long long)c->flop, (unsigned long long)rw->ins1,
               (unsigned long long)rw->ins8, f / rw->ins1, f / (8.0 * rw->ins8), rw->spd,
               (double)rw->ref1 / rw->ins1, (double)rw->ref1 / rw->ins8, e.abs, e.rel,
               (double)c->tol);
        et_log_result(c->name, rw->ok, e.mixed, c->tol);
    }
}

static NOINLINE void print_table(const row *rows)
{
    printf("\nnon-GEMM kernels vs plain C reference (ref: 1 core, libm). err = max |et-ref|/(1+|ref|) "
           "over the 1- and 8-core runs; F/I/c = FLOP / (instr max over cores * cores)\n");
    printf("%-16s %-22s %8s %9s %8s %6s %6s %5s | %10s %6s %7s %7s | %8s %s\n", "kernel", "shape",
           "MFLOP", "instr1", "instr8", "F/I/c1", "F/I/c8", "x8", "ref instr1", "F/I", "gain1",
           "gain8", "err", "ok");
    for (int id = 0; id < NCASES; ++id) {
        const op_case *c = &g_cases[id];
        const row *rw = &rows[id];
        double f = (double)c->flop;
        printf("%-16s %-22s %8.4f %9llu %8llu %6.3f %6.3f %5.2f | %10llu %6.3f %6.2fx %6.2fx | "
               "%8.1e %d\n", c->name, c->shape, f / 1e6, (unsigned long long)rw->ins1,
               (unsigned long long)rw->ins8, f / rw->ins1, f / (8.0 * rw->ins8), rw->spd,
               (unsigned long long)rw->ref1, f / rw->ref1, (double)rw->ref1 / rw->ins1,
               (double)rw->ref1 / rw->ins8, rw->err, rw->ok);
    }
}
#endif /* !ET_TARGET_SIRACUSA */
