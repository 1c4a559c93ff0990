/* Arm semihosting (the "Semihosting for AArch32 and AArch64" spec, v2): console output and exit code
 * through the debugger / QEMU. Trapped by `BKPT 0xAB` on M-profile. Works only with a host attached
 * (QEMU -semihosting-config enable=on, or pyOCD with semihosting enabled); otherwise BKPT faults. */
#ifndef EQ_SEMIHOST_H
#define EQ_SEMIHOST_H
#include <stddef.h>
#include <stdint.h>

void sh_write0(const char *s);                  /* SYS_WRITE0: NUL-terminated string to the console */
void sh_write(const char *buf, size_t len);     /* SYS_WRITE to handle 1 (stdout, opened as ":tt") */
__attribute__((noreturn)) void sh_exit(int code); /* SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit */

#endif
