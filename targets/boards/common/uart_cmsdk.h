/* Arm CMSDK APB UART (the UARTs of the MPS2/MPS3 FPGA images and of QEMU's models of them): transmit only.
 * Registers (Cortex-M System Design Kit TRM): DATA +0x00, STATE +0x04 (bit 0: TX buffer full), CTRL +0x08
 * (bit 0: TX enable), BAUDDIV +0x10 (>= 16). A board.c includes this with EQ_UART_BASE / EQ_UART_CLOCK_HZ set. */
#ifndef EQ_UART_CMSDK_H
#define EQ_UART_CMSDK_H
#include <stdint.h>

#include "eq_io.h"

#if defined(EQ_IO_UART)
#define EQ_UART_REG(off) (*(volatile uint32_t *)(EQ_UART_BASE + (off)))

void eq_board_uart_init(void) {
    EQ_UART_REG(0x10) = EQ_UART_CLOCK_HZ / 115200u; /* BAUDDIV */
    EQ_UART_REG(0x08) = 1u;                          /* CTRL: TX enable */
}

void eq_board_uart_putc(char c) {
    while (EQ_UART_REG(0x04) & 1u) { /* STATE: TX buffer full */
    }
    EQ_UART_REG(0x00) = (uint8_t)c;
}
#endif

#endif
