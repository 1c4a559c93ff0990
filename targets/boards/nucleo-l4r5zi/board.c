/* NUCLEO-L4R5ZI console UART for the serial:PORT device (-DEQ_IO_UART): LPUART1 on PG7 (TX, AF8), wired to
 * the ST-LINK virtual COM port. Clocks stay at their reset values (MSI 4 MHz); LPUART1 runs from PCLK1.
 * Register addresses: STM32L4+ reference manual RM0432 (RCC 0x40021000, PWR 0x40007000, GPIOG 0x48001800,
 * LPUART1 0x40008000). Not exercised in CI (no board attached): the tests marked `hardware` cover it. */
#include <stdint.h>

#include "eq_io.h"

#if defined(EQ_IO_UART)

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_AHB2ENR REG(0x4002104Cu)
#define RCC_APB1ENR1 REG(0x40021058u)
#define RCC_APB1ENR2 REG(0x4002105Cu)
#define PWR_CR2 REG(0x40007004u)
#define GPIOG_MODER REG(0x48001800u)
#define GPIOG_AFRL REG(0x48001820u)
#define LPUART1_CR1 REG(0x40008000u)
#define LPUART1_BRR REG(0x4000800Cu)
#define LPUART1_ISR REG(0x4000801Cu)
#define LPUART1_TDR REG(0x40008028u)

#define EQ_PCLK_HZ 4000000u
#define EQ_UART_BAUD 115200u

void eq_board_uart_init(void) {
    RCC_APB1ENR1 |= 1u << 28; /* PWREN */
    PWR_CR2 |= 1u << 9;       /* IOSV: port G pins 2..15 are powered from VDDIO2, which must be declared valid */
    RCC_AHB2ENR |= 1u << 6;   /* GPIOGEN */
    RCC_APB1ENR2 |= 1u << 0;  /* LPUART1EN */
    (void)RCC_APB1ENR2;       /* read back: the clock is on before the peripheral is touched */
    GPIOG_MODER = (GPIOG_MODER & ~(3u << 14)) | (2u << 14);  /* PG7 alternate function */
    GPIOG_AFRL = (GPIOG_AFRL & ~(0xFu << 28)) | (8u << 28);  /* AF8 = LPUART1_TX */
    LPUART1_BRR = (uint32_t)(((uint64_t)EQ_PCLK_HZ * 256u + EQ_UART_BAUD / 2) / EQ_UART_BAUD);
    LPUART1_CR1 = (1u << 3) | (1u << 0); /* TE, UE; 8N1 */
}

void eq_board_uart_putc(char c) {
    while (!(LPUART1_ISR & (1u << 7))) { /* TXE */
    }
    LPUART1_TDR = (uint8_t)c;
}

#endif
