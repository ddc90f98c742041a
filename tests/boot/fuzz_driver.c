/* SPDX-License-Identifier: Apache-2.0 */
/* Native driver of the boot frame parser for the fuzz and link tests: feeds stdin records to
 * it and aborts on any write or CRC read outside the application regions or inside a protected
 * range. Input records: 0x00 len_lo len_hi bytes... (received bytes) or 0x01 (inter-byte
 * timeout). Output (stdout, flushed after every record, so a test can talk to it as to a
 * board): every response frame the parser sent, back to back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot_proto.h"

#define MEM_BASE 0x1000u
#define MEM_SIZE 0x9000u /* simulated memory 0x1000..0xA000 */
#define BIG_BASE 0x100000u
#define BIG_SIZE 0x100000u /* and a 1 MiB region at 0x100000 */
static uint8_t g_mem[MEM_SIZE], g_big[BIG_SIZE];
static unsigned g_writes;

static const boot_config g_cfg = {
    "fuzz",
    {{0x1000u, 0x1000u}, {0x8000u, 0x100u}, {0x9000u, 0x1000u}, {BIG_BASE, BIG_SIZE}},
    4,
    {{0x1F00u, 0x80u}, {0x9800u, 0x800u}},
    2,
};

static int legal(uint32_t addr, uint32_t size)
{
    uint64_t lo = addr, hi = (uint64_t)addr + size;
    int inside = 0;
    for (unsigned i = 0; i < g_cfg.nregions; ++i)
        if (lo >= g_cfg.regions[i].base && hi <= (uint64_t)g_cfg.regions[i].base + g_cfg.regions[i].size)
            inside = 1;
    for (unsigned i = 0; i < g_cfg.nprotect; ++i)
        if (lo < (uint64_t)g_cfg.protect[i].base + g_cfg.protect[i].size && g_cfg.protect[i].base < hi)
            return 0;
    return inside && size > 0;
}

static uint8_t *at(uint32_t addr)
{
    return addr >= BIG_BASE ? g_big + (addr - BIG_BASE) : g_mem + (addr - MEM_BASE);
}

static void do_send(void *u, const uint8_t *buf, unsigned len)
{
    (void)u;
    fwrite(buf, 1, len, stdout);
}

static void do_write(void *u, uint32_t addr, const uint8_t *data, unsigned len)
{
    (void)u;
    if (!legal(addr, len)) {
        fprintf(stderr, "ILLEGAL WRITE 0x%x+%u\n", addr, len);
        abort();
    }
    memcpy(at(addr), data, len);
    g_writes++;
}

static uint32_t do_crc(void *u, uint32_t addr, uint32_t size)
{
    (void)u;
    if (!legal(addr, size)) {
        fprintf(stderr, "ILLEGAL CRC 0x%x+%u\n", addr, size);
        abort();
    }
    return boot_crc32(0, at(addr), size);
}

int main(void)
{
    static boot_parser p;
    static const boot_ops ops = {do_send, do_write, do_crc, 0};
    static uint8_t buf[1 << 16];
    boot_init(&p, &g_cfg, &ops);
    int kind;
    while ((kind = getchar()) != EOF) {
        if (kind == 1) {
            boot_timeout(&p);
        } else {
            int lo = getchar(), hi = getchar();
            if (lo == EOF || hi == EOF) break;
            size_t n = fread(buf, 1, (size_t)(lo | (hi << 8)), stdin);
            for (size_t i = 0; i < n; ++i) boot_feed(&p, buf[i]);
        }
        fflush(stdout);
    }
    fprintf(stderr, "ok=%u bad=%u writes=%u blocks=%u/%u\n", p.frames_ok, p.frames_bad, g_writes,
            p.blocks_ok, p.blocks_bad);
    return 0;
}
