/* SPDX-License-Identifier: Apache-2.0 */
/* kbench measurement: per-core counters of one call through et_prof (see kbench.h). */
#include "kbench.h"

#include <string.h>

/* static: core 0 has a 2 KiB stack; the kernels' frames come on top of the caller's */
static et_prof g_prof;

void kb_measure_begin(unsigned nc)
{
    et_prof_init(&g_prof, nc);
    et_prof_begin(&g_prof);
}

void kb_measure_end(meas *m)
{
    et_prof_stop(&g_prof);
    memset(m, 0, sizeof *m);
    for (unsigned k = 0; k < g_prof.ncores; ++k) {
        m->core[k] = g_prof.last[k];
        if (m->core[k].instret > m->instr_max) m->instr_max = m->core[k].instret;
        if (m->core[k].cycles > m->cycles_max) m->cycles_max = m->core[k].cycles;
    }
}
