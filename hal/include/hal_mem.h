/* SPDX-License-Identifier: Apache-2.0 */
/** @file hal_mem.h
 *  @brief Memory levels: where data lives (L1 TCDM, L2 SoC SRAM, L3 off-chip) and how much fits.
 *
 *  Place a static buffer with HAL_L1 / HAL_L2 / HAL_L3. L1 buffers are zero at boot. L3 data
 *  must only be reached with the DMA (into L2); on `qemu` it is ordinary RAM in its own linker
 *  region, on `siracusa` it is HyperRAM, on `host` plain memory. Capacities come from the
 *  target's linker script (the same numbers `tools/et/targets.py` holds).
 */
#ifndef HAL_MEM_H
#define HAL_MEM_H

#include <stddef.h>

typedef enum { HAL_MEM_L1 = 0, HAL_MEM_L2 = 1, HAL_MEM_L3 = 2, HAL_MEM_LEVELS = 3 } hal_mem_level;

#if defined(ET_TARGET_HOST) /* named sections: the host backend finds them by __start_/__stop_ */
#define HAL_L1 __attribute__((section("et_l1"), aligned(8)))
#define HAL_L2 __attribute__((aligned(8)))
#define HAL_L3 __attribute__((section("et_l3"), aligned(8)))
#else
#define HAL_L1 __attribute__((section(".l1.bss"), aligned(8)))
#define HAL_L2 __attribute__((aligned(8)))
#define HAL_L3 __attribute__((section(".l3.data"), aligned(8)))
#endif

/** @brief Capacity in bytes of a level on this target (0 for an invalid level). */
size_t hal_mem_capacity(hal_mem_level level);

/** @brief Bytes of a level taken by the program's static image (code, data, stacks). */
size_t hal_mem_static_used(hal_mem_level level);

/** @brief Level an address belongs to, or HAL_MEM_LEVELS when it is in none. */
hal_mem_level hal_mem_level_of(const void *addr);

/** @brief Short name of a level ("L1", "L2", "L3"). */
const char *hal_mem_level_name(hal_mem_level level);

#endif /* HAL_MEM_H */
