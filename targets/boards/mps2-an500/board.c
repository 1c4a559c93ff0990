/* UART console for -DEQ_IO_UART builds (the serial:PORT device path; QEMU: -serial pty / file / stdio):
 * CMSDK APB UART0 at 0x40004000 on the 25 MHz peripheral clock (QEMU hw/arm/mps2.c). The default console of
 * this board is semihosting; this file is empty then. */
#define EQ_UART_BASE 0x40004000u
#define EQ_UART_CLOCK_HZ 25000000u
#include "uart_cmsdk.h"
