/* SPDX-License-Identifier: Apache-2.0 */
/* Siracusa board service: FC boot (memory, caches, cluster start, wait, CORESTATUS), cluster
 * core start-up, program exit and fatal-trap reports.
 *
 * Roles: the ELF entry runs on the fabric controller (FC, RV32IMC without FPU). Everything the
 * FC executes sits in section .text.fc, is integer-only and calls nothing outside that section
 * (no libc: its memset/memcpy are not checked); tools/et/fccheck.py verifies both after every
 * siracusa link. The FC clears .bss, sets up the TLS block, enables both instruction caches,
 * starts the 8 cluster cores at et_cluster_boot and polls an L2 word until cluster core 0
 * posts (SIR_END_FLAG | exit code) in it; it then forwards that word to CORESTATUS, which ends
 * the program (simulator exit status = code). Cluster core 0 copies the L3 image into
 * HyperRAM (l3.c) and runs main(); cores 1..7 serve forks (cluster.c). The FC polls with a
 * pause between reads instead of sleeping in wfi, as the reference runtime does: waking the FC from the cluster would need an ITC line and an
 * interrupt-enable setup that could not be verified here. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "siracusa_board.h"
#include "siracusa_l3.h"

#define FC_CODE __attribute__((section(".text.fc"), noinline))
#define FC_STDOUT (SIR_STDOUT_BASE + (SIR_FC_CLUSTER_ID << 7))
#define FC_POLL_PAUSE 256u /* nops between two polls of the exit word (L2 traffic) */

extern char __bss_start[], __bss_end[], __l1_bss_start[], __l1_bss_end[];
extern char __tdata_source[], __tdata_size[], __tbss_size[], __tls_base[];
extern char et_cluster_boot[];
extern int main(void);

void et_fc_boot(void) __attribute__((noreturn));
void et_fc_trap(uint32_t cause, uint32_t epc, uint32_t tval) __attribute__((noreturn));
void et_cluster_main(unsigned core) __attribute__((noreturn));
void et_cl_trap(uint32_t cause, uint32_t epc, uint32_t tval, uint32_t hart)
    __attribute__((noreturn));

/* Exit word in L2: 0 while running, then SIR_END_FLAG | code (cleared by the FC with .bss
 * before the cluster starts, written once by the cluster). */
static volatile uint32_t g_exit_word;

const char *hal_board_name(void) { return "siracusa"; }

/* ---------------------------------- fabric controller ---------------------------------- */

/* Volatile byte/word loops: gcc must not turn them into memset/memcpy calls (libc code). */
static FC_CODE void fc_zero(char *start, char *end)
{
    volatile char *p = start;
    while (p < end && ((uintptr_t)p & 3u)) *p++ = 0;
    for (; p + 4 <= end; p += 4) *(volatile uint32_t *)p = 0;
    while (p < end) *p++ = 0;
}

static FC_CODE void fc_copy(char *dst, const char *src, uintptr_t n)
{
    volatile char *d = dst;
    const volatile char *s = src;
    if (d == s) return;
    for (uintptr_t i = 0; i < n; ++i) d[i] = s[i];
}

static FC_CODE void fc_puts(const char *s)
{
    for (; *s; ++s) sir_write(FC_STDOUT, (uint8_t)*s);
}

static FC_CODE void fc_puthex(uint32_t v)
{
    for (int sh = 28; sh >= 0; sh -= 4) {
        uint32_t d = (v >> sh) & 0xFu;
        sir_write(FC_STDOUT, d < 10u ? '0' + d : 'a' + d - 10u);
    }
}

FC_CODE void et_fc_boot(void)
{
    sir_write(SIR_FC_ICACHE_CTRL, 0xFFFFFFFFu);
    fc_zero(__bss_start, __bss_end); /* the loader does not zero NOLOAD sections */
    fc_copy(__tls_base, __tdata_source, (uintptr_t)__tdata_size);
    fc_zero(__tls_base + (uintptr_t)__tdata_size,
            __tls_base + (uintptr_t)__tdata_size + (uintptr_t)__tbss_size);
    sir_fence();

    sir_write(SIR_CL_ICACHE_CTRL, 0xFFFFFFFFu);
    for (uint32_t i = 0; i < SIR_CL_CORES; ++i)
        sir_write(SIR_CL_BOOTADDR(i), (uint32_t)(uintptr_t)et_cluster_boot);
    sir_fence();
    sir_write(SIR_CL_FETCH_EN, (1u << SIR_CL_CORES) - 1u);

    uint32_t w;
    while (!((w = g_exit_word) & SIR_END_FLAG))
        for (uint32_t i = 0; i < FC_POLL_PAUSE; ++i) __asm__ volatile("nop");
    sir_write(SIR_APB_CORESTATUS, w);
    for (;;) __asm__ volatile("wfi");
}

FC_CODE void et_fc_trap(uint32_t cause, uint32_t epc, uint32_t tval)
{
    fc_puts("\n@fault cause=0x");
    fc_puthex(cause);
    fc_puts(" epc=0x");
    fc_puthex(epc);
    fc_puts(" tval=0x");
    fc_puthex(tval);
    fc_puts(" core=fc\n");
    sir_write(SIR_APB_CORESTATUS, SIR_END_FLAG | (128u + (cause & 0x3Fu)));
    for (;;) __asm__ volatile("wfi");
}

/* ------------------------------------- cluster side ------------------------------------- */

/* Hand the exit word to the FC, then put the calling cluster core to sleep for good. */
static __attribute__((noreturn)) void post_exit_and_stop(uint32_t code)
{
    g_exit_word = SIR_END_FLAG | (code & ~SIR_END_FLAG);
    sir_fence();
    (void)g_exit_word; /* read back: the store has reached L2 */
    sir_write(SIR_EU_EVT_MASK, 0);
    for (;;) {
        (void)sir_read(SIR_EU_EVT_WAIT); /* empty mask: never wakes */
        __asm__ volatile("wfi");
    }
}

void et_cluster_main(unsigned core)
{
    sir_perf_core_init();
    if (core == 0) memset(__l1_bss_start, 0, (size_t)(__l1_bss_end - __l1_bss_start));
    sir_cluster_core_init(core);
    sir_cluster_boot_barrier(); /* every core is ready to sleep on a fork from here on */
    if (core != 0) sir_cluster_worker(core);
    sir_uart_init();
    sir_l3_boot(); /* HyperFlash -> HyperRAM: the program's L3 image, CRC-checked */
    hal_exit(main());
}

void hal_exit(int code)
{
    fflush(stdout);
    hal_uart_flush();
    post_exit_and_stop((uint32_t)code);
}

void et_cl_trap(uint32_t cause, uint32_t epc, uint32_t tval, uint32_t hart)
{
    /* Byte by byte, without printf: the trap may have hit inside stdio. */
    static const char hex[] = "0123456789abcdef";
    const uint32_t vals[3] = {cause, epc, tval};
    const char *const keys[3] = {"\n@fault cause=0x", " epc=0x", " tval=0x"};
    for (int v = 0; v < 3; ++v) {
        for (const char *p = keys[v]; *p; ++p) hal_uart_putc(*p);
        for (int s = 28; s >= 0; s -= 4) hal_uart_putc(hex[(vals[v] >> s) & 0xFu]);
    }
    for (const char *p = " core="; *p; ++p) hal_uart_putc(*p);
    hal_uart_putc((char)('0' + (hart & 0x1Fu) % 10u));
    hal_uart_putc('\n');
    hal_uart_flush();
    post_exit_and_stop(128u + (cause & 0x3Fu));
}
