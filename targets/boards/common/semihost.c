/* Semihosting calls: r0 = operation number, r1 = parameter (a value or a pointer to a parameter block),
 * result in r0. Operation numbers and reason codes from the Arm semihosting specification. */
#include "semihost.h"

#define SYS_OPEN 0x01
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023u

static inline uintptr_t sh_call(uintptr_t op, uintptr_t arg) {
    register uintptr_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_write0(const char *s) { sh_call(SYS_WRITE0, (uintptr_t)s); }

static int sh_stdout = -1;

void sh_write(const char *buf, size_t len) {
    if (sh_stdout < 0) {
        /* ":tt" opened for writing ("w" = mode 4) is the console's stdout. */
        uintptr_t args[3] = {(uintptr_t)":tt", 4, 3};
        sh_stdout = (int)sh_call(SYS_OPEN, (uintptr_t)args);
    }
    uintptr_t args[3] = {(uintptr_t)sh_stdout, (uintptr_t)buf, len};
    sh_call(SYS_WRITE, (uintptr_t)args);
}

void sh_exit(int code) {
    /* SYS_EXIT_EXTENDED takes a {reason, subcode} block on AArch32 too, so the exit status reaches the host
     * (QEMU exits with `code`). Plain AArch32 SYS_EXIT only carries the reason (success / failure): it is the
     * fallback if a host does not implement the extended call. */
    uintptr_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)code};
    sh_call(SYS_EXIT_EXTENDED, (uintptr_t)block);
    sh_call(SYS_EXIT, code == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR_UNKNOWN);
    for (;;) {
    }
}
