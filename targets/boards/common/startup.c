/* Reset and fault handling shared by every board (ARMv6-M, ARMv7-M, ARMv8-M; secure state on the TrustZone
 * machines, which boot secure and are simply left there).
 *
 * The linker script provides: __stack_top / __stack_limit, __data_load / __data_start / __data_end,
 * __bss_start / __bss_end. Fault handlers report through eq_fault_report() (io.c): on QEMU that prints over
 * semihosting and exits with status 3, so a crash is never mistaken for a hang. */
#include <stdint.h>

#include "eq_io.h"

extern uint32_t __stack_top[], __stack_limit[];
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SecureFault_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

#ifndef EQ_NUM_IRQS
#define EQ_NUM_IRQS 32 /* external interrupts: none is enabled, any stray one lands in Default_Handler */
#endif

typedef void (*eq_vector)(void);

__attribute__((section(".vectors"), used)) const eq_vector eq_vector_table[16 + EQ_NUM_IRQS] = {
    [0] = (eq_vector)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [7] = SecureFault_Handler, /* ARMv8-M Mainline; reserved elsewhere */
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + EQ_NUM_IRQS - 1] = Default_Handler,
};

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CCR (*(volatile uint32_t *)0xE000ED14u)

__attribute__((noreturn)) void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CP10/CP11 full access before any floating-point or Helium instruction (the compiler may emit them
     * anywhere once -mfloat-abi=hard is used). */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#if !defined(__ARM_ARCH_6M__)
    SCB_VTOR = (uint32_t)(uintptr_t)eq_vector_table;
    /* Separate MemManage / BusFault / UsageFault handlers, and trap divide by zero, so a fault names itself. */
    SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);
    SCB_CCR |= 1u << 4;
#endif
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end;) *dst++ = 0;
    eq_exit(main());
}

void Default_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    eq_fault_report("UnexpectedException", (const uint32_t *)0, ipsr & 0x1FFu);
}

/* Naked trampolines: find the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2) and pass it on. */
#define EQ_FAULT_TRAMPOLINE(handler, cname)                                                                 \
    __attribute__((noreturn)) void cname##_c(const uint32_t *frame);                                       \
    __attribute__((noreturn)) void cname##_c(const uint32_t *frame) { eq_fault_report(#handler, frame, 0); } \
    __attribute__((naked, noreturn)) void handler(void) {                                                   \
        __asm__ volatile("mov r0, lr\n\t"                                                                   \
                         "movs r1, #4\n\t"                                                                  \
                         "tst r0, r1\n\t"                                                                   \
                         "bne 1f\n\t"                                                                       \
                         "mrs r0, msp\n\t"                                                                  \
                         "b " #cname "_c\n"                                                                 \
                         "1:\n\t"                                                                           \
                         "mrs r0, psp\n\t"                                                                  \
                         "b " #cname "_c\n");                                                               \
    }

EQ_FAULT_TRAMPOLINE(HardFault_Handler, eq_hardfault)
EQ_FAULT_TRAMPOLINE(MemManage_Handler, eq_memmanage)
EQ_FAULT_TRAMPOLINE(BusFault_Handler, eq_busfault)
EQ_FAULT_TRAMPOLINE(UsageFault_Handler, eq_usagefault)
EQ_FAULT_TRAMPOLINE(SecureFault_Handler, eq_securefault)
