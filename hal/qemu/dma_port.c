/* SPDX-License-Identifier: Apache-2.0 */
/* qemu DMA hooks: a memcpy-emulated copy is booked to the DMA engine, not to the hart. */
#include "hal_port.h"
#include "qemu_board.h"

uint64_t hal_port_dma_begin(void) { return qemu_clock(); }

void hal_port_dma_end(uint64_t token) { qemu_perf_exclude(token, qemu_clock()); }
