/* SPDX-License-Identifier: Apache-2.0 */
/* ktest built-in ops that test the harness itself: "echo" copies tensor 0 into tensor 1 scaled
 * by floats[0] and adds ints[0] to element 0; "cores" writes each core's id into tensor 0. */
#include "hal.h"
#include "ktest.h"

static int op_echo(const kt_call *c)
{
    KT_EXPECT(c, 1, 2);
    if (c->nfloats != 1 || c->tlen[0] != c->tlen[1]) return KT_ERR_PROTO;
    if (!c->t[0]) return ET_ERR_ARG;
    for (uint32_t i = 0; i < c->tlen[0]; ++i) c->t[1][i] = c->t[0][i] * c->floats[0];
    c->t[1][0] += (float)c->ints[0];
    return ET_OK;
}
KT_OP("echo", op_echo);

static float *g_cores_out;

static void cores_worker(void *arg)
{
    (void)arg;
    unsigned id = hal_cluster_core_id();
    g_cores_out[id] = (float)(id + 1);
}

static int op_cores(const kt_call *c)
{
    KT_EXPECT(c, 0, 1);
    unsigned nc = c->ctx->ncores ? c->ctx->ncores : hal_cluster_max_cores();
    if (c->tlen[0] < nc) return ET_ERR_ARG;
    g_cores_out = c->t[0];
    return hal_cluster_fork(nc, cores_worker, NULL);
}
KT_OP("cores", op_cores);
