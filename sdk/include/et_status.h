/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_status.h
 *  @brief The one status vocabulary of EdgeTune: every kernel and runtime call returns et_status.
 */
#ifndef ET_STATUS_H
#define ET_STATUS_H

/** Status returned by every EdgeTune C API. Outputs are left untouched when a call fails. */
typedef enum {
    ET_OK = 0,           /**< success */
    ET_ERR_ARG = -1,     /**< invalid argument: null pointer, zero or mismatched size */
    ET_ERR_NO_IMPL = -2, /**< valid request that this build/target does not implement */
    ET_ERR_HW = -3,      /**< hardware or resource failure (DMA, memory, timeout) */
} et_status;

#endif /* ET_STATUS_H */
