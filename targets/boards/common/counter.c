/* SysTick / DWT counters; register addresses from the ARMv7-M / ARMv8-M Architecture Reference Manuals
 * (System Control Space at 0xE000E000). */
#include "counter.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE_CPU (1u << 2)
#define ICSR_PENDSTSET (1u << 26)
#ifndef EQ_SYST_RELOAD
#define EQ_SYST_RELOAD 0x00FFFFFFu /* the full 24 bits; tests set a small value to exercise wrap counting */
#endif
#define SYST_RELOAD ((uint32_t)(EQ_SYST_RELOAD))

__attribute__((noinline)) void eq_spin(uint32_t n) {
    __asm__ volatile(".syntax unified\n1:\n\tsubs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
}

#if defined(EQ_COUNTER_DWT)

static uint32_t dwt_last;
static uint32_t dwt_high;

void eq_counter_init(void) {
    SCB_DEMCR |= 1u << 24; /* TRCENA: power the DWT */
    DWT_LAR = 0xC5ACCE55u; /* unlock on cores with a lock access register (M7); ignored elsewhere */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
    dwt_last = 0;
    dwt_high = 0;
}

uint64_t eq_counter_read(void) {
    uint32_t now = DWT_CYCCNT;
    if (now < dwt_last) dwt_high++;
    dwt_last = now;
    return ((uint64_t)dwt_high << 32) | now;
}

const char *eq_counter_name(void) { return "dwt_cyccnt"; }

#else

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void eq_counter_init(void) {
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0; /* any write clears the current value; it reloads on the next tick */
    systick_wraps = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;
    /* The first tick loads the reload value without counting a wrap: wait for it so reads are monotonic. */
    while (SYST_CVR == 0) {
    }
}

uint64_t eq_counter_read(void) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    uint32_t wraps = systick_wraps;
    uint32_t val = SYST_CVR;
    /* A wrap that happened while interrupts were masked is pending but not yet counted. The counter counts
     * down: if it wrapped before we read it, the value is near the reload value; if after, near zero. */
    if ((SCB_ICSR & ICSR_PENDSTSET) && val > SYST_RELOAD / 2) wraps++;
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - val);
}

const char *eq_counter_name(void) { return "systick"; }

#endif
