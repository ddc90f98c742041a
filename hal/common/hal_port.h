/* SPDX-License-Identifier: Apache-2.0 */
/* Private hooks between the shared HAL code in hal/common/ and each target backend. */
#ifndef HAL_PORT_H
#define HAL_PORT_H

#include <stdint.h>

/** Mark the start of a memcpy-emulated DMA copy; returns a token for hal_port_dma_end(). */
uint64_t hal_port_dma_begin(void);
/** Mark its end: the backend books the copy to the DMA engine, not to the core. */
void hal_port_dma_end(uint64_t token);

#endif /* HAL_PORT_H */
