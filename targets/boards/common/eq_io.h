/* Harness console: semihosting (default: QEMU), a board UART (-DEQ_IO_UART; the board's board.c provides
 * eq_board_uart_init / eq_board_uart_putc), or a RAM mailbox read by a debug probe (-DEQ_IO_MEMLOG: pyOCD). Lines starting with "EQ " are parsed by
 * edgeq/harness/cortexm.py; keep their format in step with it. */
#ifndef EQ_IO_H
#define EQ_IO_H
#include <stdint.h>

void eq_io_init(void);
/* printf subset: %s %c %d %u %x %02x %08x, `l` is accepted and ignored (32-bit), %llu / %llx are 64-bit. */
void eq_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void eq_exit(int code);
/* Prints "EQ fault NAME pc=... lr=... xpsr=... cfsr=... hfsr=... mmfar=... bfar=..." and exits with 3.
 * frame: the stacked r0-r3, r12, lr, pc, xpsr (or NULL); extra: e.g. the exception number. */
__attribute__((noreturn)) void eq_fault_report(const char *name, const uint32_t *frame, uint32_t extra);

#if defined(EQ_IO_UART)
void eq_board_uart_init(void);
void eq_board_uart_putc(char c);
#endif

#endif
