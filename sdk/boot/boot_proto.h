/* SPDX-License-Identifier: Apache-2.0 */
/** @file boot_proto.h
 *  @brief Serial bootloader protocol: frame parser and command checks, portable C without any
 *  hardware access (built for the boards and natively for fuzzing). Wire format and error
 *  codes: docs/boot-protocol.md.
 *
 *  The parser takes one received byte at a time (boot_feed) and the receive timeouts
 *  (boot_timeout); a complete, checked frame is executed through the callbacks of
 *  boot_ops. Memory is never touched here: writes, CRC reads and the start go through the
 *  callbacks, and only after the range check against the application regions (and against
 *  the protected ranges: the bootloader's own image and stack) has passed.
 *
 *  Version 2 adds windowed writes for noisy links: WINDOW checks a whole range once and
 *  splits it into blocks; BLOCK frames (each with its own CRC) are written as they arrive and
 *  never answered, so the host sends them back to back; BITMAP tells which blocks arrived.
 */
#ifndef BOOT_PROTO_H
#define BOOT_PROTO_H

#include <stdint.h>

#define BOOT_PROTO_VERSION 2u /* 2 = 1 + windowed writes (WINDOW, BLOCK, BITMAP) */
#define BOOT_SYNC0 0xA5u /* host -> board frame */
#define BOOT_SYNC1 0x5Au
#define BOOT_RSYNC0 0x5Au /* board -> host frame */
#define BOOT_RSYNC1 0xA5u
#define BOOT_HDR_BYTES 6u  /* sync0 sync1 cmd seq len_lo len_hi */
#define BOOT_CRC_BYTES 4u
#define BOOT_MAX_PAYLOAD 4100u /* write: 4-byte address + up to 4096 data bytes */
#define BOOT_MAX_REGIONS 4u
#define BOOT_MAX_PROTECT 4u
#define BOOT_WIN_MAX_BLOCKS 256u /* blocks per window (bitmap of 32 bytes) */
#define BOOT_WIN_MIN_BLOCK 16u
#define BOOT_WIN_MAX_BLOCK 4096u
#define BOOT_BLOCK_HDR 4u        /* BLOCK payload: tag u16, idx u16, then the data */

/** Commands (host -> board). */
enum boot_cmd {
    BOOT_CMD_IDENTIFY = 0x01, /**< -> version, max payload, regions, board name */
    BOOT_CMD_WRITE = 0x02,    /**< addr u32, data[len-4] */
    BOOT_CMD_CRC = 0x03,      /**< addr u32, size u32 -> crc32 u32 */
    BOOT_CMD_START = 0x04,    /**< entry u32: acknowledged, then started after a quiet period */
    BOOT_CMD_WINDOW = 0x05,   /**< addr u32, size u32, block u16, tag u16: open a window */
    BOOT_CMD_BLOCK = 0x06,    /**< tag u16, idx u16, data: one block of the window; never answered */
    BOOT_CMD_BITMAP = 0x07,   /**< -> count u16, received u16, bitmap of the window's blocks */
};

/** Status byte of a response (0 = ACK, anything else = NAK with this reason). */
enum boot_status {
    BOOT_OK = 0x00,
    BOOT_ERR_CRC = 0x01,     /**< frame CRC mismatch */
    BOOT_ERR_LEN = 0x02,     /**< length over the limit or wrong for the command */
    BOOT_ERR_TIMEOUT = 0x03, /**< frame incomplete: inter-byte timeout */
    BOOT_ERR_CMD = 0x04,     /**< unknown command */
    BOOT_ERR_RANGE = 0x05,   /**< address range not wholly inside an application region */
    BOOT_ERR_PROTECT = 0x06, /**< range touches the bootloader's image or stack */
};

/** A memory range [base, base + size). */
typedef struct {
    uint32_t base;
    uint32_t size;
} boot_range;

/** What the board provides. All pointers must stay valid while the parser is used. */
typedef struct {
    const char *board;                        /**< board name (<= 32 chars) */
    boot_range regions[BOOT_MAX_REGIONS];     /**< writable application regions */
    unsigned nregions;
    boot_range protect[BOOT_MAX_PROTECT];     /**< never written: bootloader image, stack */
    unsigned nprotect;
} boot_config;

/** The board's side of the commands. `user` is passed through. */
typedef struct {
    void (*send)(void *user, const uint8_t *buf, unsigned len);              /**< to the host */
    void (*write)(void *user, uint32_t addr, const uint8_t *data, unsigned len); /**< checked */
    uint32_t (*crc)(void *user, uint32_t addr, uint32_t size);               /**< checked */
    void *user;
} boot_ops;

/** Parser state (caller-owned; no heap). */
typedef struct {
    const boot_config *cfg;
    const boot_ops *ops;
    unsigned state;   /* index of the next byte within the frame; 0 = hunting for sync */
    uint8_t cmd, seq;
    uint16_t len;
    uint32_t got;     /* payload + crc bytes received */
    uint8_t payload[BOOT_MAX_PAYLOAD + BOOT_CRC_BYTES] __attribute__((aligned(4))); /* DMA-able */
    uint8_t start_pending;
    uint32_t start_entry;
    uint32_t frames_ok, frames_bad;
    /* the open window (version 2): blocks of win_block bytes from win_addr, the last shorter */
    uint8_t win_open;
    uint16_t win_tag, win_block, win_count, win_received;
    uint32_t win_addr, win_size;
    uint8_t win_bits[BOOT_WIN_MAX_BLOCKS / 8u];
    uint32_t blocks_ok, blocks_bad;
} boot_parser;

/** @brief CRC-32 (IEEE 802.3, as zlib.crc32): continue `crc` (0 to begin) over `n` bytes. */
uint32_t boot_crc32(uint32_t crc, const uint8_t *buf, uint32_t n);

/** @brief Reset the parser. @param[in] cfg regions @param[in] ops callbacks */
void boot_init(boot_parser *p, const boot_config *cfg, const boot_ops *ops);

/** @brief Take one received byte; a completed frame is checked, executed and answered. */
void boot_feed(boot_parser *p, uint8_t byte);

/** @brief The receive timeout expired: a partial frame is dropped with a NAK (resync). */
void boot_timeout(boot_parser *p);

/** @brief 1 while a frame is partly received (the caller then applies the inter-byte timeout). */
int boot_in_frame(const boot_parser *p);

/**
 * @brief Whether a START was accepted and not superseded by a later command.
 * @param[out] entry  the entry point (inside an application region)
 * @return 1 if the caller should start the program after the quiet period, else 0.
 */
int boot_start_pending(const boot_parser *p, uint32_t *entry);

/**
 * @brief Whether [addr, addr+size) lies wholly inside one region and touches no protected range.
 * @return BOOT_OK, BOOT_ERR_RANGE, BOOT_ERR_PROTECT or BOOT_ERR_LEN (size 0).
 */
int boot_check_range(const boot_config *cfg, uint32_t addr, uint32_t size);

#endif /* BOOT_PROTO_H */
