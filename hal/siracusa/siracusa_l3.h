/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the siracusa backend: the uDMA HyperBus (v3) driver behind L3 (hyper.c) and the
 * boot-time copy of the program's L3 image into HyperRAM (l3.c).
 *
 * Register layout (uDMA peripheral 4, 0x1A102280; the controller spans uDMA ids 4-6): two
 * transaction channels of 0x80 bytes each, then the common registers. Per channel: RX
 * (external -> L2) SADDR/SIZE/CFG at +0x00/+0x04/+0x08, TX (L2 -> external) at +0x0C/+0x10/
 * +0x14, CA_SETUP +0x18 (bit 2 read, bit 1 register space, bit 0 linear burst), external
 * address +0x1C, STATUS +0x24 (bit 0 busy, bits 8:1 queued transactions), 2D enables +0x28
 * (external side) and +0x34 (L2 side). Common: page boundary +0x00, access latency +0x04,
 * additional latency +0x08, max CS time +0x0C, memory select +0x20 (0 = HyperRAM on CS0,
 * 1 = HyperFlash on CS1). Writing a channel's RX/TX CFG with EN queues one transaction. */
#ifndef SIRACUSA_L3_H
#define SIRACUSA_L3_H

#include <stddef.h>
#include <stdint.h>

#define SIR_L3_BASE 0x80000000u /* link address of HyperRAM byte 0 */
#define SIR_L3_BYTES ET_L3_BYTES /* the build's L3 budget (HyperRAM: 8 MiB) */
#define SIR_HYPER_CHANNELS 2u
#define SIR_HYPER_CS_RAM 0u
#define SIR_HYPER_CS_FLASH 1u

/* L3 image in HyperFlash, as tools/et/l3image.py writes it: a header at flash offset 0, the
 * bytes of the ELF's .l3 section at SIR_L3_IMAGE_DATA. */
#define SIR_L3_IMAGE_MAGIC 0x334C5445u /* "ETL3" */
#define SIR_L3_IMAGE_DATA 256u

/** Clock the HyperBus controller and program its timing (idempotent). */
void sir_hyper_init(void);

/** Transactions queued on channel `ch` that have not completed yet. */
uint32_t sir_hyper_pending(unsigned ch);

/** Queue a copy of `bytes` between external byte address `ext` of chip-select `cs` and L2
 * address `l2` (`read`: external -> L2) on channel `ch`, in transactions of at most 32 KiB,
 * waiting for room in the channel's 8-deep queue. The caller makes the call atomic against
 * other cores. Returns the sequence number of the last transaction queued on `ch`; the copy
 * is done once sir_hyper_completed(ch) has reached it. */
uint32_t sir_hyper_queue(unsigned ch, unsigned cs, uint32_t ext, uint32_t l2, size_t bytes,
                         int read);

/** Transactions channel `ch` has completed since boot (never more than the truth). */
uint32_t sir_hyper_completed(unsigned ch);

/** Copy and wait for it (one user of the controller at a time: boot, bootloader). */
void sir_hyper_copy_sync(unsigned cs, uint32_t ext, void *l2, size_t bytes, int read);

/** Make sure the program's L3 image is in HyperRAM (cluster core 0, before main): copied from
 * HyperFlash when the flash holds it, else checked where the serial bootloader wrote it. A
 * missing, foreign or corrupt image ends the program with an `@fault cause=dma` record. */
void sir_l3_boot(void);

#endif /* SIRACUSA_L3_H */
