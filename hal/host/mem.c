/* SPDX-License-Identifier: Apache-2.0 */
/* host memory service: the levels are plain process memory; capacities are the emulated
 * target's (Siracusa's budget by default, ET_L1_BYTES/ET_L2_BYTES/ET_L3_BYTES from the build),
 * so host runs see the same limits the planner uses. HAL_L1/HAL_L3 data sit in the named
 * sections et_l1/et_l3; any other address counts as L2. */
#include <stdint.h>

#include "hal.h"

/* Defined by the linker when the section exists; weak so that an empty section is fine. */
extern char __start_et_l1[] __attribute__((weak)), __stop_et_l1[] __attribute__((weak));
extern char __start_et_l3[] __attribute__((weak)), __stop_et_l3[] __attribute__((weak));

#ifndef ET_L1_BYTES
#define ET_L1_BYTES (256u * 1024u)
#endif
#ifndef ET_L2_BYTES
#define ET_L2_BYTES (1024u * 1024u)
#endif
#ifndef ET_L3_BYTES
#define ET_L3_BYTES (8u * 1024u * 1024u)
#endif

size_t hal_mem_capacity(hal_mem_level l)
{
    static const size_t caps[HAL_MEM_LEVELS] = {ET_L1_BYTES, ET_L2_BYTES, ET_L3_BYTES};
    return l < HAL_MEM_LEVELS ? caps[l] : 0;
}

size_t hal_mem_static_used(hal_mem_level l)
{
    if (l == HAL_MEM_L1) return __start_et_l1 ? (size_t)(__stop_et_l1 - __start_et_l1) : 0;
    if (l == HAL_MEM_L3) return __start_et_l3 ? (size_t)(__stop_et_l3 - __start_et_l3) : 0;
    return 0; /* L2: the whole process image; not meaningful natively */
}

static int within(const void *a, const char *lo, const char *hi)
{
    return lo && (uintptr_t)a >= (uintptr_t)lo && (uintptr_t)a < (uintptr_t)hi;
}

hal_mem_level hal_mem_level_of(const void *addr)
{
    if (!addr) return HAL_MEM_LEVELS;
    if (within(addr, __start_et_l1, __stop_et_l1)) return HAL_MEM_L1;
    if (within(addr, __start_et_l3, __stop_et_l3)) return HAL_MEM_L3;
    return HAL_MEM_L2;
}
