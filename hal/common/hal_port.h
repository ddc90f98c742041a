/* SPDX-License-Identifier: Apache-2.0 */
/* Private hooks between the shared HAL code in hal/common/ and each target backend. */
#ifndef HAL_PORT_H
#define HAL_PORT_H

#include <stddef.h>
#include <stdint.h>

/** Mark the start of a memcpy-emulated DMA copy; returns a token for hal_port_dma_end(). */
uint64_t hal_port_dma_begin(void);
/** Mark its end: the backend books the copy to the DMA engine, not to the core. */
void hal_port_dma_end(uint64_t token);

/** Exit code of a program ended by a DMA failure (the harness's crash code). */
#define HAL_DMA_FAULT_EXIT 134
/** Report a copy that cannot be made (`why`: one word, no spaces) as an `@fault cause=dma`
 * record naming the transfer and the calling core, then end the program. Never returns. */
void hal_dma_fault(const char *why, const void *dst, const void *src, size_t bytes)
    __attribute__((noreturn));

#endif /* HAL_PORT_H */
