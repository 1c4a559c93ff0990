/* Line-buffered formatted output for the harness, without newlib's printf (keeps firmware small and the
 * instruction counts free of libc). */
#include <stdarg.h>
#include <stddef.h>

#include "eq_io.h"
#if !defined(EQ_IO_UART) && !defined(EQ_IO_MEMLOG)
#include "semihost.h"
#endif

#if defined(EQ_IO_MEMLOG)
/* Real boards under a debug probe: the console is a RAM mailbox the host reads through the probe once
 * eq_log_done holds EQ_LOG_DONE (no semihosting or RTT support needed on the host side). */
#ifndef EQ_LOG_BYTES
#define EQ_LOG_BYTES 16384
#endif
#define EQ_LOG_DONE 0xE0D0E0D0u
volatile char eq_log_buf[EQ_LOG_BYTES];
volatile uint32_t eq_log_len;
volatile uint32_t eq_log_done;
volatile int32_t eq_log_exit_code;
#endif

static char line[161]; /* one spare byte for the terminating NUL of SYS_WRITE0 */
static size_t line_len;

static void flush_line(void) {
    if (!line_len) return;
#if defined(EQ_IO_UART)
    for (size_t i = 0; i < line_len; i++) {
        if (line[i] == '\n') eq_board_uart_putc('\r');
        eq_board_uart_putc(line[i]);
    }
#elif defined(EQ_IO_MEMLOG)
    for (size_t i = 0; i < line_len && eq_log_len < EQ_LOG_BYTES; i++) eq_log_buf[eq_log_len++] = line[i];
#else
    line[line_len] = '\0';
    sh_write0(line);
#endif
    line_len = 0;
}

static void put_char(char c) {
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof line - 1) flush_line();
}

static void put_str(const char *s) {
    while (*s) put_char(*s++);
}

static void put_uint(unsigned long long v, unsigned base, int width) {
    char buf[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (n < width) buf[n++] = '0';
    while (n) put_char(buf[--n]);
}

void eq_io_init(void) {
    line_len = 0;
#if defined(EQ_IO_MEMLOG)
    eq_log_len = 0;
    eq_log_done = 0;
#endif
#if defined(EQ_IO_UART)
    eq_board_uart_init();
#endif
}

void eq_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put_char(*fmt);
            continue;
        }
        fmt++;
        int width = 0;
        if (*fmt == '0') fmt++;
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        int longlong = 0;
        while (*fmt == 'l') {
            longlong += 1;
            fmt++;
        }
        switch (*fmt) {
        case 's': put_str(va_arg(ap, const char *)); break;
        case 'c': put_char((char)va_arg(ap, int)); break;
        case 'd': {
            long long v = longlong >= 2 ? va_arg(ap, long long) : va_arg(ap, int);
            if (v < 0) {
                put_char('-');
                v = -v;
            }
            put_uint((unsigned long long)v, 10, width);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longlong >= 2 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            put_uint(v, *fmt == 'x' ? 16 : 10, width);
            break;
        }
        case '%': put_char('%'); break;
        case '\0': fmt--; break;
        default: put_char('?'); break;
        }
    }
    va_end(ap);
}

void eq_exit(int code) {
    flush_line();
#if defined(EQ_IO_UART) || defined(EQ_IO_MEMLOG)
    eq_printf("EQ exit %d\n", code);
    flush_line();
#if defined(EQ_IO_MEMLOG)
    eq_log_exit_code = code;
    eq_log_done = EQ_LOG_DONE;
#endif
    for (;;) __asm__ volatile("wfi");
#else
    sh_exit(code);
#endif
}

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

void eq_fault_report(const char *name, const uint32_t *frame, uint32_t extra) {
    flush_line();
    eq_printf("\nEQ fault %s", name);
    if (frame) eq_printf(" pc=0x%08lx lr=0x%08lx xpsr=0x%08lx", frame[6], frame[5], frame[7]);
    if (extra) eq_printf(" exception=%lu", extra);
#if !defined(__ARM_ARCH_6M__)
    eq_printf(" cfsr=0x%08lx hfsr=0x%08lx mmfar=0x%08lx bfar=0x%08lx", SCB_CFSR, SCB_HFSR, SCB_MMFAR, SCB_BFAR);
#endif
    eq_printf("\n");
    eq_exit(3);
}
