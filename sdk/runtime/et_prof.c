/* SPDX-License-Identifier: Apache-2.0 */
/* Per-core profiling around kernel calls with probe forks; writes @perf records (et_prof.h). */
#include "et_prof.h"

#include <stdio.h>
#include <string.h>

#include "et_log.h"
#include "hal.h"

static hal_perf_t g_probe[HAL_CLUSTER_MAX_CORES];

static void probe(void *arg)
{
    (void)arg;
    hal_perf_read(&g_probe[hal_cluster_core_id()]);
}

static int snap(unsigned nc, hal_perf_t *out)
{
    if (hal_cluster_fork(nc, probe, NULL) != ET_OK) return -1;
    memcpy(out, g_probe, nc * sizeof *out);
    return 0;
}

et_status et_prof_init(et_prof *p, unsigned ncores)
{
    if (!p) return ET_ERR_ARG;
    memset(p, 0, sizeof *p);
    unsigned nc = ncores ? ncores : hal_cluster_max_cores();
    if (nc > hal_cluster_max_cores() || nc > HAL_CLUSTER_MAX_CORES) return ET_ERR_ARG;
    p->ncores = nc;
    hal_perf_t a[HAL_CLUSTER_MAX_CORES], b[HAL_CLUSTER_MAX_CORES];
    if (snap(nc, a) || snap(nc, b)) return ET_ERR_HW;
    for (unsigned k = 0; k < nc; ++k) p->zero[k] = et_perf_diff(&a[k], &b[k]);
    p->enabled = 1;
    return ET_OK;
}

void et_prof_begin(et_prof *p)
{
    if (p && p->enabled && snap(p->ncores, p->start)) p->enabled = 0;
}

uint64_t et_prof_stop(et_prof *p)
{
    if (!p || !p->enabled) return 0;
    hal_perf_t end[HAL_CLUSTER_MAX_CORES];
    if (snap(p->ncores, end)) {
        p->enabled = 0;
        return 0;
    }
    uint64_t span = 0;
    for (unsigned k = 0; k < p->ncores; ++k) {
        hal_perf_t d = et_perf_diff(&p->start[k], &end[k]), z = p->zero[k];
        d.cycles = d.cycles > z.cycles ? d.cycles - z.cycles : 0;
        d.instret = d.instret > z.instret ? d.instret - z.instret : 0;
        p->last[k] = d;
        if (d.cycles > span) span = d.cycles;
    }
    return span;
}

uint64_t et_prof_end(et_prof *p, const char *layer, const char *phase, unsigned step,
                     uint64_t flop)
{
    uint64_t span = et_prof_stop(p);
    if (!p || !p->enabled) return 0;
    for (unsigned k = 0; k < p->ncores; ++k) {
        const hal_perf_t *d = &p->last[k];
        et_rec_begin("@perf layer=%s phase=%s core=%u cycles=%llu instret=%llu", layer, phase, k,
                     (unsigned long long)d->cycles, (unsigned long long)d->instret);
        if (flop && k == 0) et_rec_add(" flop=%llu", (unsigned long long)flop);
        if (step) et_rec_add(" step=%u", step);
        et_rec_end();
    }
    return span;
}
