/* SPDX-License-Identifier: Apache-2.0 */
/* ktest: serves kernel calls framed on the console (stdin/stdout on host, the UART on qemu):
 * decodes a request, runs the registered op on the requested cores, answers with status,
 * per-core perf counters and the output tensors. Protocol: apps/ktest/README.md. */
#include <stdio.h>
#include <string.h>

#include "et_log.h"
#include "et_prof.h"
#include "hal.h"
#include "ktest.h"

#define KT_MAGIC_REQ 0x514b5445u /* "ETKQ" little-endian */
#define KT_MAGIC_RSP 0x524b5445u /* "ETKR" */
#define KT_F_DATA 1u             /* tensor contents follow in the request */
#define KT_F_RETURN 2u           /* send the tensor back in the response */
#define KT_MAX_T 16u
#define KT_MAX_NAME 64u

#if defined(ET_TARGET_HOST)
#define KT_ARENA_WORDS (16u * 1024u * 1024u) /* 64 MiB */
#else
#define KT_ARENA_WORDS (128u * 1024u) /* 512 KiB of L2 */
#endif
#define KT_L1_BYTES (224u * 1024u)

static uint32_t g_arena[KT_ARENA_WORDS] HAL_L2;
static uint64_t g_l1[KT_L1_BYTES / 8] HAL_L1;

extern const kt_op __start_et_ktest_ops[], __stop_et_ktest_ops[];

static uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static int read_exact(void *dst, size_t n) { return fread(dst, 1, n, stdin) == n ? 0 : -1; }

static int read_word(uint32_t *w) { return read_exact(w, 4); }

/* Skip input until the request magic has been seen; -1 at end of input. */
static int sync_magic(void)
{
    uint32_t w = 0;
    for (;;) {
        int c = getchar();
        if (c == EOF) return -1;
        w = (w >> 8) | ((uint32_t)c << 24);
        if (w == KT_MAGIC_REQ) return 0;
    }
}

typedef struct {
    uint32_t crc, words;
} tx_state;

static void tx(tx_state *s, const void *p, size_t bytes)
{
    fwrite(p, 1, bytes, stdout);
    s->crc = crc32_update(s->crc, p, bytes);
}

static void tx_word(tx_state *s, uint32_t w) { tx(s, &w, 4); }

/* Response: status, per-core perf, returned tensors. Words are counted before sending. */
static void respond(int status, unsigned nperf, const hal_perf_t *perf, const kt_call *c,
                    const uint32_t *flags)
{
    uint32_t words = 2 + 4 * nperf + 1;
    unsigned nret = 0;
    for (unsigned i = 0; c && i < c->ntensors; ++i)
        if (flags[i] & KT_F_RETURN) words += 1 + c->tlen[i], ++nret;
    uint32_t head[2] = {KT_MAGIC_RSP, words};
    fwrite(head, 1, sizeof head, stdout);
    tx_state s = {0, 0};
    tx_word(&s, (uint32_t)status);
    tx_word(&s, nperf);
    for (unsigned k = 0; k < nperf; ++k) {
        uint64_t v[2] = {perf[k].cycles, perf[k].instret};
        tx(&s, v, sizeof v);
    }
    tx_word(&s, nret);
    for (unsigned i = 0; c && i < c->ntensors; ++i) {
        if (!(flags[i] & KT_F_RETURN)) continue;
        tx_word(&s, c->tlen[i]);
        if (c->tlen[i]) tx(&s, c->t[i], c->tlen[i] * 4u);
    }
    fwrite(&s.crc, 1, 4, stdout);
    fflush(stdout);
}

static const kt_op *find_op(const char *name)
{
    for (const kt_op *op = __start_et_ktest_ops; op < __stop_et_ktest_ops; ++op)
        if (strcmp(op->name, name) == 0) return op;
    return NULL;
}

/* Run c on the cores of its ctx and measure every core with et_prof (probe forks around the
 * call, minus an empty probe pair, so that only the call's own instructions remain). */
static int run_measured(const kt_op *op, const kt_call *c, unsigned *nperf, hal_perf_t *perf)
{
    static et_prof prof;
    *nperf = 0;
    if (et_prof_init(&prof, c->ctx->ncores) != ET_OK) return op->fn(c);
    et_prof_begin(&prof);
    int st = op->fn(c);
    et_prof_stop(&prof);
    if (prof.enabled) {
        *nperf = prof.ncores;
        memcpy(perf, prof.last, prof.ncores * sizeof *perf);
    }
    return st;
}

/* Serve one request; returns 1 when the host asked to quit, -1 at end of input. */
static int serve_one(void)
{
    if (sync_magic()) return -1;
    uint32_t words;
    if (read_word(&words)) return -1;
    if (words < 5 || words > KT_ARENA_WORDS / 2) {
        respond(KT_ERR_PROTO, 0, NULL, NULL, NULL);
        return 0;
    }
    uint32_t *p = g_arena, crc;
    if (read_exact(p, words * 4u) || read_word(&crc)) return -1;
    if (crc32_update(0, p, words * 4u) != crc) {
        respond(KT_ERR_CRC, 0, NULL, NULL, NULL);
        return 0;
    }
    uint32_t *end = p + words, *top = end;
    static float *tens[KT_MAX_T];
    static uint32_t tlen[KT_MAX_T], tflags[KT_MAX_T];
    static int32_t ints[64];
    static float floats[16];
    static et_ctx ctx;
    char name[KT_MAX_NAME + 1];
    kt_call c = {0};
#define NEED(n) if (p + (n) > end) goto bad
    NEED(3);
    ctx.ncores = p[0];
    ctx.l1_bytes = p[1] && p[1] < sizeof g_l1 ? p[1] : sizeof g_l1;
    ctx.l1 = g_l1;
    uint32_t nlen = p[2];
    p += 3;
    if (nlen > KT_MAX_NAME) goto bad;
    NEED((nlen + 3) / 4 + 1);
    memcpy(name, p, nlen);
    name[nlen] = 0;
    p += (nlen + 3) / 4;
    c.nints = *p++;
    if (c.nints > 64) goto bad;
    NEED(c.nints + 1);
    memcpy(ints, p, c.nints * 4u);
    p += c.nints;
    c.nfloats = *p++;
    if (c.nfloats > 16) goto bad;
    NEED(c.nfloats + 1);
    memcpy(floats, p, c.nfloats * 4u);
    p += c.nfloats;
    c.ntensors = *p++;
    if (c.ntensors > KT_MAX_T) goto bad;
    NEED(2 * c.ntensors);
    for (unsigned i = 0; i < c.ntensors; ++i) tlen[i] = p[2 * i], tflags[i] = p[2 * i + 1];
    p += 2 * c.ntensors;
    for (unsigned i = 0; i < c.ntensors; ++i) {
        tens[i] = NULL;
        if (!tlen[i]) continue;
        if (tflags[i] & KT_F_DATA) {
            NEED(tlen[i]);
            tens[i] = (float *)p;
            p += tlen[i];
        } else {
            if (tlen[i] + 2 > (size_t)(g_arena + KT_ARENA_WORDS - top)) {
                respond(KT_ERR_NOMEM, 0, NULL, NULL, NULL);
                return 0;
            }
            top += (uintptr_t)top & 4u ? 1 : 0; /* 8-byte aligned */
            tens[i] = (float *)top;
            memset(top, 0, tlen[i] * 4u);
            top += tlen[i];
        }
    }
    if (p != end) goto bad;
#undef NEED
    c.ints = ints;
    c.floats = floats;
    c.t = tens;
    c.tlen = tlen;
    c.ctx = &ctx;
    if (strcmp(name, "quit") == 0) {
        respond(ET_OK, 0, NULL, NULL, NULL);
        return 1;
    }
    const kt_op *op = find_op(name);
    if (!op) {
        respond(KT_ERR_NOOP, 0, NULL, NULL, NULL);
        return 0;
    }
    hal_perf_t perf[HAL_CLUSTER_MAX_CORES];
    unsigned nperf = 0;
    int st = run_measured(op, &c, &nperf, perf);
    respond(st, nperf, perf, &c, tflags);
    return 0;
bad:
    respond(KT_ERR_PROTO, 0, NULL, NULL, NULL);
    return 0;
}

int main(void)
{
    et_log_start(ET_APP_NAME);
    unsigned nops = (unsigned)(__stop_et_ktest_ops - __start_et_ktest_ops);
    printf("@ktest ops=%u l1=%u arena=%u\n", nops, (unsigned)sizeof g_l1,
           (unsigned)sizeof g_arena);
    fflush(stdout);
    int r;
    while ((r = serve_one()) == 0) {
    }
    et_log_done(0);
    return 0;
}
