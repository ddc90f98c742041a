/* SPDX-License-Identifier: Apache-2.0 */
/* Serial bootloader protocol: byte-wise frame parser, range checks and command execution
 * through callbacks; no hardware access (see boot_proto.h, docs/boot-protocol.md). */
#include "boot_proto.h"

#include <stddef.h>

#define RESP_MAX (BOOT_HDR_BYTES + 6u + 8u * BOOT_MAX_REGIONS + 32u + BOOT_CRC_BYTES)

static uint32_t g_crc_table[256];
static int g_crc_ready;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256u; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        g_crc_table[i] = c;
    }
    g_crc_ready = 1;
}

uint32_t boot_crc32(uint32_t crc, const uint8_t *buf, uint32_t n)
{
    if (!g_crc_ready) crc_table_init();
    crc = ~crc;
    for (uint32_t i = 0; i < n; ++i) crc = g_crc_table[(crc ^ buf[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static uint16_t get_u16(const uint8_t *b) { return (uint16_t)(b[0] | (b[1] << 8)); }

static uint32_t get_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void put_u32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
}

void boot_init(boot_parser *p, const boot_config *cfg, const boot_ops *ops)
{
    p->cfg = cfg;
    p->ops = ops;
    p->state = 0;
    p->got = 0;
    p->start_pending = 0;
    p->start_entry = 0;
    p->frames_ok = p->frames_bad = 0;
    p->win_open = 0;
    p->blocks_ok = p->blocks_bad = 0;
    if (!g_crc_ready) crc_table_init();
}

int boot_check_range(const boot_config *cfg, uint32_t addr, uint32_t size)
{
    if (size == 0) return BOOT_ERR_LEN;
    uint64_t lo = addr, hi = (uint64_t)addr + size; /* no 32-bit wrap-around */
    int inside = 0;
    for (unsigned i = 0; i < cfg->nregions && i < BOOT_MAX_REGIONS; ++i) {
        uint64_t rlo = cfg->regions[i].base, rhi = rlo + cfg->regions[i].size;
        if (lo >= rlo && hi <= rhi) inside = 1;
    }
    if (!inside) return BOOT_ERR_RANGE;
    for (unsigned i = 0; i < cfg->nprotect && i < BOOT_MAX_PROTECT; ++i) {
        uint64_t plo = cfg->protect[i].base, phi = plo + cfg->protect[i].size;
        if (lo < phi && plo < hi) return BOOT_ERR_PROTECT;
    }
    return BOOT_OK;
}

/* Send one response frame: status, the request's sequence number, payload, CRC. */
static void respond(boot_parser *p, uint8_t status, const uint8_t *data, unsigned n)
{
    uint8_t buf[RESP_MAX];
    if (n > RESP_MAX - BOOT_HDR_BYTES - BOOT_CRC_BYTES) n = 0; /* cannot happen; stay safe */
    buf[0] = BOOT_RSYNC0;
    buf[1] = BOOT_RSYNC1;
    buf[2] = status;
    buf[3] = p->seq;
    buf[4] = (uint8_t)n;
    buf[5] = (uint8_t)(n >> 8);
    for (unsigned i = 0; i < n; ++i) buf[BOOT_HDR_BYTES + i] = data[i];
    put_u32(buf + BOOT_HDR_BYTES + n, boot_crc32(0, buf + 2, 4u + n));
    p->ops->send(p->ops->user, buf, BOOT_HDR_BYTES + n + BOOT_CRC_BYTES);
    if (status == BOOT_OK) p->frames_ok++; else p->frames_bad++;
}

static void cmd_identify(boot_parser *p)
{
    const boot_config *c = p->cfg;
    uint8_t out[6u + 8u * BOOT_MAX_REGIONS + 32u];
    unsigned nreg = c->nregions < BOOT_MAX_REGIONS ? c->nregions : BOOT_MAX_REGIONS;
    unsigned nlen = 0;
    while (c->board[nlen] && nlen < 32u) nlen++;
    out[0] = (uint8_t)BOOT_PROTO_VERSION;
    out[1] = (uint8_t)(BOOT_PROTO_VERSION >> 8);
    out[2] = (uint8_t)BOOT_MAX_PAYLOAD;
    out[3] = (uint8_t)(BOOT_MAX_PAYLOAD >> 8);
    out[4] = (uint8_t)nreg;
    out[5] = (uint8_t)nlen;
    unsigned o = 6;
    for (unsigned i = 0; i < nreg; ++i, o += 8) {
        put_u32(out + o, c->regions[i].base);
        put_u32(out + o + 4, c->regions[i].size);
    }
    for (unsigned i = 0; i < nlen; ++i) out[o++] = (uint8_t)c->board[i];
    respond(p, BOOT_OK, out, o);
}

/* Length of block `idx` of the open window (0 if there is no such block). */
static unsigned block_len(const boot_parser *p, unsigned idx)
{
    if (!p->win_open || idx >= p->win_count) return 0;
    uint32_t off = (uint32_t)idx * p->win_block, rest = p->win_size - off;
    return rest < p->win_block ? rest : p->win_block;
}

/* WINDOW: addr u32, size u32, block u16, tag u16. The whole range is checked here, once; the
 * window's blocks are then written without further checks. */
static int cmd_window(boot_parser *p, const uint8_t *pl)
{
    uint32_t addr = get_u32(pl), size = get_u32(pl + 4);
    uint16_t block = get_u16(pl + 8);
    p->win_open = 0;
    if (block < BOOT_WIN_MIN_BLOCK || block > BOOT_WIN_MAX_BLOCK || size == 0u ||
        (size - 1u) / block >= BOOT_WIN_MAX_BLOCKS)
        return BOOT_ERR_LEN;
    int st = boot_check_range(p->cfg, addr, size);
    if (st != BOOT_OK) return st;
    p->win_addr = addr;
    p->win_size = size;
    p->win_block = block;
    p->win_tag = get_u16(pl + 10);
    p->win_count = (uint16_t)((size - 1u) / block + 1u);
    p->win_received = 0;
    for (unsigned i = 0; i < sizeof p->win_bits; ++i) p->win_bits[i] = 0;
    p->win_open = 1;
    return BOOT_OK;
}

/* BLOCK: tag u16, idx u16, data (the block's exact length). Written once per window. */
static void cmd_block(boot_parser *p, const uint8_t *pl, unsigned len)
{
    unsigned idx = get_u16(pl + 2), n = block_len(p, idx);
    if (n == 0 || get_u16(pl) != p->win_tag || len != BOOT_BLOCK_HDR + n) {
        p->blocks_bad++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (idx & 7u));
    if (!(p->win_bits[idx >> 3] & bit)) {
        p->ops->write(p->ops->user, p->win_addr + (uint32_t)idx * p->win_block,
                      pl + BOOT_BLOCK_HDR, n);
        p->win_bits[idx >> 3] |= bit;
        p->win_received++;
    }
    p->blocks_ok++;
}

/* BITMAP: count u16, received u16, then bit i of byte i/8 set when block i arrived. */
static void cmd_bitmap(boot_parser *p)
{
    uint8_t out[4u + BOOT_WIN_MAX_BLOCKS / 8u];
    unsigned count = p->win_open ? p->win_count : 0u, nb = (count + 7u) / 8u;
    out[0] = (uint8_t)count;
    out[1] = (uint8_t)(count >> 8);
    out[2] = (uint8_t)(p->win_open ? p->win_received : 0u);
    out[3] = (uint8_t)((p->win_open ? p->win_received : 0u) >> 8);
    for (unsigned i = 0; i < nb; ++i) out[4u + i] = p->win_bits[i];
    respond(p, BOOT_OK, out, 4u + nb);
}

static void execute(boot_parser *p)
{
    const uint8_t *pl = p->payload;
    unsigned len = p->len;
    int st;
    if (p->cmd != BOOT_CMD_START && p->cmd <= BOOT_CMD_BITMAP) p->start_pending = 0;
    switch (p->cmd) {
    case BOOT_CMD_IDENTIFY:
        if (len != 0) break;
        cmd_identify(p);
        return;
    case BOOT_CMD_WRITE: {
        if (len < 5u) break;
        uint32_t addr = get_u32(pl);
        st = boot_check_range(p->cfg, addr, len - 4u);
        if (st == BOOT_OK) p->ops->write(p->ops->user, addr, pl + 4, len - 4u);
        respond(p, (uint8_t)st, NULL, 0);
        return;
    }
    case BOOT_CMD_CRC: {
        if (len != 8u) break;
        uint32_t addr = get_u32(pl), size = get_u32(pl + 4);
        st = boot_check_range(p->cfg, addr, size);
        if (st != BOOT_OK) {
            respond(p, (uint8_t)st, NULL, 0);
            return;
        }
        uint8_t out[4];
        put_u32(out, p->ops->crc(p->ops->user, addr, size));
        respond(p, BOOT_OK, out, 4);
        return;
    }
    case BOOT_CMD_START: {
        if (len != 4u) break;
        uint32_t entry = get_u32(pl);
        st = boot_check_range(p->cfg, entry, 2u); /* at least one compressed instruction */
        if (st == BOOT_OK) {
            p->start_pending = 1;
            p->start_entry = entry;
        }
        respond(p, (uint8_t)st, NULL, 0);
        return;
    }
    case BOOT_CMD_WINDOW:
        if (len != 12u) break;
        respond(p, (uint8_t)cmd_window(p, pl), NULL, 0);
        return;
    case BOOT_CMD_BLOCK:
        cmd_block(p, pl, len);
        return;
    case BOOT_CMD_BITMAP:
        if (len != 0) break;
        cmd_bitmap(p);
        return;
    default:
        respond(p, BOOT_ERR_CMD, NULL, 0);
        return;
    }
    respond(p, BOOT_ERR_LEN, NULL, 0);
}

void boot_feed(boot_parser *p, uint8_t byte)
{
    switch (p->state) {
    case 0:
        if (byte == BOOT_SYNC0) p->state = 1;
        return;
    case 1:
        if (byte == BOOT_SYNC1) p->state = 2;
        else if (byte != BOOT_SYNC0) p->state = 0;
        return;
    case 2: p->cmd = byte; p->seq = 0; p->state = 3; return;
    case 3: p->seq = byte; p->state = 4; return;
    case 4: p->len = byte; p->state = 5; return;
    case 5:
        p->len = (uint16_t)(p->len | ((uint16_t)byte << 8));
        p->got = 0;
        if (p->cmd == BOOT_CMD_BLOCK) {
            /* Only a length that fits a block of the open window can be a BLOCK: any other is
             * damaged, and dropping it now keeps the frames behind it. Never answered. */
            unsigned n = p->len > BOOT_BLOCK_HDR ? p->len - BOOT_BLOCK_HDR : 0u;
            if (!p->win_open || n == 0 ||
                (n != p->win_block && n != block_len(p, p->win_count - 1u))) {
                p->state = 0;
                p->blocks_bad++;
                return;
            }
        } else if (p->len > BOOT_MAX_PAYLOAD) { /* refuse before buffering anything */
            p->state = 0;
            respond(p, BOOT_ERR_LEN, NULL, 0);
            return;
        }
        p->state = 6;
        return;
    default:
        break;
    }
    p->payload[p->got++] = byte; /* got < len + 4 <= sizeof payload here */
    if (p->got < (uint32_t)p->len + BOOT_CRC_BYTES) return;
    p->state = 0;
    uint8_t hdr[4] = {p->cmd, p->seq, (uint8_t)p->len, (uint8_t)(p->len >> 8)};
    uint32_t crc = boot_crc32(boot_crc32(0, hdr, 4), p->payload, p->len);
    if (crc != get_u32(p->payload + p->len)) {
        /* A frame that lost a byte ends on the next frame's first sync byte: keep it. */
        if (byte == BOOT_SYNC0) p->state = 1;
        if (p->cmd == BOOT_CMD_BLOCK) p->blocks_bad++;
        else respond(p, BOOT_ERR_CRC, NULL, 0);
        return;
    }
    execute(p);
}

void boot_timeout(boot_parser *p)
{
    unsigned was = p->state;
    p->state = 0;
    if (was >= 3 && p->cmd == BOOT_CMD_BLOCK) p->blocks_bad++; /* BLOCKs are never answered */
    else if (was >= 2) respond(p, BOOT_ERR_TIMEOUT, NULL, 0);
}

int boot_in_frame(const boot_parser *p) { return p->state != 0; }

int boot_start_pending(const boot_parser *p, uint32_t *entry)
{
    if (!p->start_pending) return 0;
    *entry = p->start_entry;
    return 1;
}
