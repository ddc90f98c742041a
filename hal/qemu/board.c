/* SPDX-License-Identifier: Apache-2.0 */
/* qemu board service: boot of hart 0 and the workers, fatal-trap report, exit via the virt
 * test finisher (qemu's exit status is the app's exit code). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "et_log.h"
#include "hal.h"
#include "qemu_board.h"

extern char __bss_start[], __bss_end[], __l1_bss_start[], __l1_bss_end[];
extern char __tdata_source[], __tdata_size[], __tbss_size[], __tls_base[];
extern int main(void);

/* Kept in .data, not .bss: hart 0 clears .bss while the workers already poll this flag. */
volatile uint32_t et_booted __attribute__((section(".data"))) = 0;

const char *hal_board_name(void) { return "qemu"; }

void et_boot_primary(void)
{
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    memset(__l1_bss_start, 0, (size_t)(__l1_bss_end - __l1_bss_start));
    memcpy(__tls_base, __tdata_source, (size_t)__tdata_size);
    memset(__tls_base + (size_t)__tdata_size, 0, (size_t)__tbss_size);
    qemu_cluster_init();
    __atomic_store_n(&et_booted, 1, __ATOMIC_RELEASE);
    hal_exit(main());
}

void et_boot_worker(void)
{
    while (!__atomic_load_n(&et_booted, __ATOMIC_ACQUIRE)) __asm__ volatile("nop");
    qemu_cluster_worker(); /* never returns */
}

void hal_exit(int code)
{
    fflush(stdout);
    hal_uart_flush();
    volatile uint32_t *finisher = (volatile uint32_t *)QEMU_TEST_FINISHER;
    if (code == 0)
        *finisher = 0x5555u;
    else
        *finisher = 0x3333u | ((uint32_t)(code & 0xffff) << 16);
    for (;;) __asm__ volatile("wfi");
}

void et_trap_report(uint32_t cause, uint32_t epc, uint32_t tval, uint32_t hart)
{
    /* Written byte by byte, without printf: the trap may have hit inside stdio. */
    static const char hex[] = "0123456789abcdef";
    const char *head = "\n@fault cause=0x";
    uint32_t vals[3] = {cause, epc, tval};
    const char *keys[3] = {"", " epc=0x", " tval=0x"};
    for (const char *p = head; *p; ++p) hal_uart_putc(*p);
    for (int v = 0; v < 3; ++v) {
        for (const char *p = keys[v]; *p; ++p) hal_uart_putc(*p);
        for (int s = 28; s >= 0; s -= 4) hal_uart_putc(hex[(vals[v] >> s) & 0xf]);
    }
    const char *tail = " core=";
    for (const char *p = tail; *p; ++p) hal_uart_putc(*p);
    hal_uart_putc((char)('0' + (hart % 10)));
    hal_uart_putc('\n');
    hal_exit(128 + (int)(cause & 0x3f));
}
