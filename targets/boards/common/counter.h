/* Free-running 64-bit event counter for the benchmark harness.
 *
 * EQ_COUNTER_SYSTICK (default; QEMU): SysTick on the processor clock, reload 2^24-1, one interrupt per wrap
 *   counted in software. Under `qemu-system-arm -icount shift=0` the virtual clock advances 1 ns per
 *   instruction, so SysTick ticks once per (1e9 / SysTick clock) instructions: the host calibrates that ratio
 *   per machine with eq_spin() (a loop of exactly 2 instructions per iteration).
 * EQ_COUNTER_DWT (real boards): DWT->CYCCNT core cycles, extended to 64 bits in software (read it at least
 *   once per 2^32 cycles, i.e. every ~35 s at 120 MHz: the harness reads it around every op). */
#ifndef EQ_COUNTER_H
#define EQ_COUNTER_H
#include <stdint.h>

void eq_counter_init(void);
uint64_t eq_counter_read(void);
const char *eq_counter_name(void);
/* Exactly 2*n instructions in the loop (SUBS + BNE), plus the call and return. n >= 1. */
void eq_spin(uint32_t n);

#endif
