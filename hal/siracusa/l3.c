/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa L3 at boot: the program's L3 image (weights, bundled samples: the ELF's
 * non-loadable .l3 section) must be in HyperRAM, whole and of this build, before main runs.
 * Two ways in (docs/boot-protocol.md): HyperFlash holds it (GVSoC's flash preloaded by
 * tools/runners/gvsoc.py, or a board's flash programmed once) and it is copied into HyperRAM
 * here; or the serial bootloader wrote it straight into HyperRAM. Either way its size and
 * CRC-32 must equal the ones the build recorded in the ELF (et_l3_meta), or the program ends
 * with an @fault naming what is wrong: it never trains on stale or missing weights. */
#include <stdint.h>

#include "hal.h"
#include "hal_port.h"
#include "siracusa_board.h"
#include "siracusa_l3.h"

#define BOUNCE_BYTES 4096u

/* CRC-32 (IEEE 802.3, as zlib.crc32), four bits at a time from a 16-entry table. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 0xFu];
        crc = (crc >> 4) ^ t[crc & 0xFu];
    }
    return ~crc;
}

extern char __l3_start[], __l3_used_end[];
/* L2 (the uDMA reads and writes L2 only) outside the application region: the linker script
 * puts it in the private bank the serial bootloader ran from (tools/et/targets.py). */
extern uint32_t __l3_boot_buffer[];
#define g_bounce __l3_boot_buffer

/* Size and CRC-32 of this program's .l3 bytes, written into the linked ELF by the build
 * (tools/et/l3image.py): what the image found at boot must match, whoever loaded it. */
const volatile uint32_t et_l3_meta[2] __attribute__((section(".l3_meta"), used)) = {0, 0};

/* CRC-32 of `size` bytes at external address `ext` of chip-select `cs`; with `copy_to_ram`,
 * each chunk is also written to HyperRAM at `ram` + its offset. */
static uint32_t stream(unsigned cs, uint32_t ext, uint32_t size, int copy_to_ram, uint32_t ram)
{
    uint32_t crc = 0;
    for (uint32_t off = 0; off < size; off += BOUNCE_BYTES) {
        uint32_t n = size - off < BOUNCE_BYTES ? size - off : BOUNCE_BYTES;
        sir_hyper_copy_sync(cs, ext + off, g_bounce, n, 1);
        crc = crc32_update(crc, (const uint8_t *)g_bounce, n);
        if (copy_to_ram) sir_hyper_copy_sync(SIR_HYPER_CS_RAM, ram + off, g_bounce, n, 0);
    }
    return crc;
}

void sir_l3_boot(void)
{
    sir_hyper_init();
    uint32_t size = (uint32_t)(__l3_used_end - __l3_start);
    uint32_t ram = (uint32_t)(__l3_start - (char *)SIR_L3_BASE);
    if (!size) return;
    if (et_l3_meta[0] != size) /* the ELF was not finished by the EdgeTune build */
        hal_dma_fault("L3-size-and-CRC-not-recorded-in-the-ELF", __l3_start, 0, size);
    uint32_t want = et_l3_meta[1];
    sir_hyper_copy_sync(SIR_HYPER_CS_FLASH, 0, g_bounce, 16, 1);
    if (g_bounce[0] == SIR_L3_IMAGE_MAGIC) { /* preloaded flash (GVSoC) or a programmed board */
        if (g_bounce[1] != size || g_bounce[2] != want || g_bounce[3] != ram)
            hal_dma_fault("HyperFlash-holds-the-L3-image-of-another-build", __l3_start, 0, size);
        if (stream(SIR_HYPER_CS_FLASH, SIR_L3_IMAGE_DATA, size, 1, ram) != want)
            hal_dma_fault("L3-image-in-HyperFlash-fails-its-CRC", __l3_start, 0, size);
        return;
    }
    /* No flash image: the serial bootloader must have written it into HyperRAM. */
    if (stream(SIR_HYPER_CS_RAM, ram, size, 0, 0) != want)
        hal_dma_fault("L3-image-neither-in-HyperFlash-nor-in-HyperRAM", __l3_start, 0, size);
}
