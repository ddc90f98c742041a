/* SPDX-License-Identifier: Apache-2.0 */
/* Memory service for linked RISC-V targets: level bounds and static use from the symbols that
 * the generated linker script (sdk/ld/edgetune.ld.j2) defines. */
#include <stdint.h>

#include "hal.h"

extern char __l1_start[], __l1_end[], __l1_used_end[];
extern char __l2_start[], __l2_end[], __l2_used_end[];
extern char __l3_start[], __l3_end[], __l3_used_end[];

static char *const g_bounds[HAL_MEM_LEVELS][3] = {
    {__l1_start, __l1_end, __l1_used_end},
    {__l2_start, __l2_end, __l2_used_end},
    {__l3_start, __l3_end, __l3_used_end},
};

size_t hal_mem_capacity(hal_mem_level l)
{
    return l < HAL_MEM_LEVELS ? (size_t)(g_bounds[l][1] - g_bounds[l][0]) : 0;
}

size_t hal_mem_static_used(hal_mem_level l)
{
    return l < HAL_MEM_LEVELS ? (size_t)(g_bounds[l][2] - g_bounds[l][0]) : 0;
}

hal_mem_level hal_mem_level_of(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    for (int l = 0; l < HAL_MEM_LEVELS; ++l)
        if (a >= (uintptr_t)g_bounds[l][0] && a < (uintptr_t)g_bounds[l][1]) return (hal_mem_level)l;
    return HAL_MEM_LEVELS;
}
