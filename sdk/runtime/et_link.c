/* SPDX-License-Identifier: Apache-2.0 */
/* Data over the serial link (et_link.h): the request record, the host's blocks, their CRC-32
 * checks, and the requests for what is still missing. */
#include "et_link.h"

#include <stdint.h>
#include <string.h>

#include "et_log.h"
#include "hal.h"

static int get_byte(void) { return hal_uart_getc(ET_LINK_TIMEOUT_US); }

/* n bytes off the link into b; -1 on a timeout. */
static int get_bytes(unsigned char *b, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        int c = get_byte();
        if (c < 0) return -1;
        b[i] = (unsigned char)c;
    }
    return 0;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

/* Blocks until every one of item idx has arrived (1) or the link stays quiet for
 * ET_LINK_TIMEOUT_US (0). A block is taken only whole and with a matching CRC, into its place in
 * dst, and marked in `have`; anything before a magic is noise, a block whose header does not fit
 * this item is skipped (resync at the next magic), a block of another item (a late answer to an
 * earlier request) is read and dropped. */
static int receive(unsigned idx, unsigned char *dst, unsigned bytes, uint8_t *have, unsigned *left)
{
    static const char magic[4] = ET_LINK_MAGIC;
    unsigned nblk = (bytes + ET_LINK_BLOCK - 1u) / ET_LINK_BLOCK;
    unsigned char head[8], data[ET_LINK_BLOCK], tail[4];
    while (*left) {
        unsigned matched = 0;
        while (matched < 4) {
            int c = get_byte();
            if (c < 0) return 0;
            matched = c == (unsigned char)magic[matched] ? matched + 1 : (c == magic[0] ? 1 : 0);
        }
        if (get_bytes(head, 8)) return 0;
        unsigned blk = head[4] | (head[5] << 8), n = head[6] | (head[7] << 8);
        if (blk >= nblk || n != (blk + 1u < nblk ? ET_LINK_BLOCK : bytes - blk * ET_LINK_BLOCK))
            continue;
        if (get_bytes(data, n) || get_bytes(tail, 4)) return 0;
        uint32_t crc = et_crc32(et_crc32(0, head, 8), data, n);
        if (le32(head) != idx || le32(tail) != crc || (have[blk >> 3] >> (blk & 7) & 1)) continue;
        memcpy(dst + blk * ET_LINK_BLOCK, data, n);
        have[blk >> 3] |= (uint8_t)(1u << (blk & 7));
        --*left;
    }
    return 1;
}

et_status et_link_fetch(unsigned idx, void *dst, unsigned bytes)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t have[ET_LINK_MAX_BLOCKS / 8];
    unsigned nblk = (bytes + ET_LINK_BLOCK - 1u) / ET_LINK_BLOCK, left = nblk;
    if (!dst || !bytes || nblk > ET_LINK_MAX_BLOCKS) return ET_ERR_ARG;
    memset(have, 0, sizeof have);
    for (unsigned t = 1; t <= ET_LINK_TRIES; ++t) {
        if (t == 1) {
            et_rec("@need idx=%u bytes=%u try=1", idx, bytes);
        } else { /* the blocks still missing, a bit per block (block 0 = bit 0 of byte 0) */
            et_rec_begin("@need idx=%u bytes=%u try=%u miss=", idx, bytes, t);
            for (unsigned b = 0; b < (nblk + 7u) / 8u; ++b) {
                unsigned m = (unsigned)(uint8_t)~have[b];
                if (b == nblk / 8u) m &= (1u << (nblk & 7u)) - 1u;
                et_rec_add("%c%c", hex[m >> 4], hex[m & 15u]);
            }
            et_rec_end();
        }
        hal_uart_flush();
        if (receive(idx, dst, bytes, have, &left)) return ET_OK;
    }
    et_rec("@link idx=%u ok=0 tries=%u missing=%u", idx, ET_LINK_TRIES, left);
    return ET_ERR_HW;
}
