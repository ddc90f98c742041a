/* SPDX-License-Identifier: Apache-2.0 */
/* Names of the memory levels, shared by every target. */
#include "hal.h"

const char *hal_mem_level_name(hal_mem_level l)
{
    static const char *const names[HAL_MEM_LEVELS] = {"L1", "L2", "L3"};
    return l < HAL_MEM_LEVELS ? names[l] : "?";
}
