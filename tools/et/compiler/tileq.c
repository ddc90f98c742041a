/* SPDX-License-Identifier: Apache-2.0 */
/* Host helper of the code generator (tiles.py): asks the GEMM and conv2d kernels' own tile
 * planners (kernels/gemm/gemm_plan.c, kernels/conv2d/conv2d_plan.c, compiled for the host)
 * which L1 tiles a call will use, so memplan.json shows the tiles the firmware runs.
 *
 * stdin, one query per line:
 *   gemm M N K BATCH TRANS_A TRANS_B L1_BYTES
 *   conv DIR N C_IN H W C_OUT KH KW SH SW PH PW L1_BYTES      (DIR 0 fwd, 1 igrad, 2 wgrad)
 * stdout, one line per query:
 *   gemm MT NT KT STEPS L1_USED       (STEPS: batch x row x column x k tiles)
 *   conv TC TH NC_BLK NR_BLK          (channel block, row block, and their counts)
 *   none                              (the planner refuses: L1 too small or bad geometry) */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conv2d_internal.h"
#include "gemm_internal.h"

static unsigned cdiv(unsigned a, unsigned b) { return (a + b - 1) / b; }

static void gemm_query(const char *line)
{
    unsigned m, n, k, batch, ta, tb;
    unsigned long l1;
    if (sscanf(line, "gemm %u %u %u %u %u %u %lu", &m, &n, &k, &batch, &ta, &tb, &l1) != 7) {
        puts("none");
        return;
    }
    et_gemm_args g = et_gemm_args_init(m, n, k, (int)ta, (int)tb);
    gemm_tiles t;
    if (!m || !n || !k || gemm_plan(&g, l1, &t)) {
        puts("none");
        return;
    }
    unsigned long steps = (unsigned long)batch * cdiv(m, t.mt) * cdiv(n, t.nt) * cdiv(k, t.kt);
    unsigned long used = 2ul * 4ul * (t.a_words + t.b_words + t.y_words + t.bias_words);
    printf("gemm %u %u %u %lu %lu\n", t.mt, t.nt, t.kt, steps, used);
}

static void conv_query(const char *line)
{
    unsigned d;
    unsigned long v[11], l1;
    if (sscanf(line, "conv %u %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu", &d, &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &l1) != 13 || d > 2) {
        puts("none");
        return;
    }
    et_conv2d_args a = {.n = v[0], .c_in = v[1], .h = v[2], .w = v[3], .c_out = v[4], .kh = v[5],
                        .kw = v[6], .sh = v[7], .sw = v[8], .ph = v[9], .pw = v[10]};
    static uint64_t l1buf[(1u << 20) / 8]; /* carve-up only: the planner writes no data */
    conv_plan pl;
    memset(&pl, 0, sizeof pl);
    if (l1 > sizeof l1buf || !conv_geom_ok(&a) || !conv_plan_make(&pl, &a, (conv_dir)d, l1buf, l1)) {
        puts("none");
        return;
    }
    printf("conv %lu %lu %lu %lu\n", (unsigned long)pl.tc, (unsigned long)pl.th,
           (unsigned long)pl.nc_blk, (unsigned long)pl.nr_blk);
}

int main(void)
{
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "gemm ", 5))
            gemm_query(line);
        else if (!strncmp(line, "conv ", 5))
            conv_query(line);
        else
            puts("none");
        fflush(stdout);
    }
    return 0;
}
