/* SPDX-License-Identifier: Apache-2.0 */
/* Device log writers: assembles the @-records of docs/devlog.md, seals each one (sequence number
 * and CRC-32) and writes it on stdout (the HAL UART). */
#include "et_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"

static char s_rec[ET_REC_MAX];
static unsigned s_len;   /* bytes assembled in s_rec */
static int s_cut;        /* the record did not fit s_rec: it goes out unsealed */
static unsigned s_seq;   /* sequence number of the next record; @start is 0 */

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32), four bits at a time: a 64-byte table. */
uint32_t et_crc32(uint32_t crc, const void *buf, unsigned n)
{
    const unsigned char *p = buf;
    static const uint32_t t[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};
    uint32_t c = ~crc;
    for (unsigned i = 0; i < n; ++i) {
        c ^= p[i];
        c = (c >> 4) ^ t[c & 15];
        c = (c >> 4) ^ t[c & 15];
    }
    return ~c;
}

static void rec_vadd(const char *fmt, va_list ap)
{
    unsigned room = sizeof s_rec - s_len;
    int n = vsnprintf(s_rec + s_len, room, fmt, ap);
    if (n < 0 || (unsigned)n >= room) {
        s_cut = 1;
        s_len = sizeof s_rec - 1;
    } else {
        s_len += (unsigned)n;
    }
}

static void rec_vbegin(const char *fmt, va_list ap)
{
    s_len = 0;
    s_cut = 0;
    rec_vadd(fmt, ap);
}

void et_rec_begin(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rec_vbegin(fmt, ap);
    va_end(ap);
}

void et_rec_add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rec_vadd(fmt, ap);
    va_end(ap);
}

void et_rec_end(void)
{
    if (s_len >= 6 && s_rec[0] == '@' && !strncmp(s_rec, "@start", 6)) s_seq = 0;
    if (!s_cut) {
        int n = snprintf(s_rec + s_len, sizeof s_rec - s_len, " q=%u", s_seq);
        if (n > 0 && (unsigned)n < sizeof s_rec - s_len - 12) {
            s_len += (unsigned)n;
            uint32_t c = et_crc32(0, s_rec, s_len);
            s_len += (unsigned)snprintf(s_rec + s_len, sizeof s_rec - s_len, " c=%08lx",
                                        (unsigned long)c);
        }
    }
    ++s_seq;
    fwrite(s_rec, 1, s_len, stdout);
    putchar('\n');
    s_len = 0;
}

void et_rec(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rec_vbegin(fmt, ap);
    va_end(ap);
    et_rec_end();
}

void et_log_start(const char *app)
{
    et_rec("@start app=%s target=%s cores=%u perf=%s log=%d", app, hal_board_name(),
           hal_cluster_max_cores(), hal_perf_source(), ET_LOG_VERSION);
}

void et_log_perf(const et_perf_record *r)
{
    et_rec_begin("@perf layer=%s phase=%s core=%u cycles=%llu instret=%llu", r->layer, r->phase,
                 r->core, (unsigned long long)r->delta.cycles, (unsigned long long)r->delta.instret);
    if (r->flop) et_rec_add(" flop=%llu", (unsigned long long)r->flop);
    if (r->dma_in) et_rec_add(" dma_in=%llu", (unsigned long long)r->dma_in);
    if (r->dma_out) et_rec_add(" dma_out=%llu", (unsigned long long)r->dma_out);
    et_rec_end();
}

void et_log_loss(unsigned step, float value)
{
    et_rec("@loss step=%u value=%.9g", step, (double)value);
}

void et_log_mem(const uint64_t peak[3])
{
    for (int l = 0; l < HAL_MEM_LEVELS; ++l) {
        et_rec_begin("@mem level=%s cap=%lu static=%lu", hal_mem_level_name((hal_mem_level)l),
                     (unsigned long)hal_mem_capacity((hal_mem_level)l),
                     (unsigned long)hal_mem_static_used((hal_mem_level)l));
        if (peak && peak[l]) et_rec_add(" peak=%llu", (unsigned long long)peak[l]);
        et_rec_end();
    }
}

void et_log_result(const char *name, int ok, double value, double ref)
{
    et_rec("@result name=%s ok=%d value=%.9g ref=%.9g", name, ok ? 1 : 0, value, ref);
}

void et_log_done(int code)
{
    et_rec("@done code=%d", code);
}

hal_perf_t et_perf_diff(const hal_perf_t *a, const hal_perf_t *b)
{
    hal_perf_t d = {b->cycles - a->cycles, b->instret - a->instret};
    return d;
}
