/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_link.h
 *  @brief Data over the serial link: the device asks the host for one item (a training sample)
 *         and receives it in blocks of ET_LINK_BLOCK bytes, each with its own CRC-32 (protocol:
 *         docs/devlog.md, "Samples over the link"). Blocks lost or corrupted on the way are
 *         asked for again, by number; nothing unchecked is ever handed to the caller.
 */
#ifndef ET_LINK_H
#define ET_LINK_H

#include "et_status.h"

/** First bytes of every block the host sends. */
#define ET_LINK_MAGIC "ETS1"
/** Payload bytes per block (the last block of an item holds the rest). */
#define ET_LINK_BLOCK 64u
/** Blocks an item may have (items of up to ET_LINK_BLOCK x this many bytes). */
#define ET_LINK_MAX_BLOCKS 1024u
/** How long the device waits for the frame's next byte before it asks again (microseconds of the target clock). */
#define ET_LINK_TIMEOUT_US 1000000u
/** Requests per item before the device gives up (ET_ERR_IO). */
#define ET_LINK_TRIES 32u

/**
 * @brief Ask for item `idx` (`@need idx= bytes= try=`, then `miss=` the blocks still missing)
 *        and receive its `bytes` bytes into `dst`.
 * @return ET_OK when every block arrived with a matching CRC-32; ET_ERR_ARG for a null `dst`,
 *         0 bytes or more than ET_LINK_MAX_BLOCKS blocks; ET_ERR_HW after ET_LINK_TRIES
 *         requests without all of them (`@link ok=0` says so).
 */
et_status et_link_fetch(unsigned idx, void *dst, unsigned bytes);

#endif /* ET_LINK_H */
