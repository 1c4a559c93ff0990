/* edgeq runtime: shared fixed-point helpers for the generated C models.
 *
 * Every int8 kernel requantizes through edgeq_mbqm(), which reproduces TFLite's
 * MultiplyByQuantizedMultiplier (the double-rounding variant TFLM builds by default):
 * a saturating rounding doubling high multiply followed by a rounding right shift.
 * Bit-exactness with TFLM depends on this being identical, so it lives here once, as
 * static inline, for every kernel (portable or Arm-optimized) to share.
 */
#ifndef EDGEQ_COMMON_H
#define EDGEQ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "edgeq_config.h" /* stack scratch sizes: the defaults, or the generator's per-model ones */

/* The hand-scheduled inline assembly of the fast kernels takes up to 14 general registers: it needs an optimising
 * build, and one that does not keep a frame pointer (r7 on Thumb). GCC has no macro for -fno-omit-frame-pointer, so
 * builds that keep it (profilers, some RTOS debug configurations) define EDGEQ_NO_ASM and get the C twins: the
 * same output bytes, somewhat slower. Without it GCC stops with "'asm' operand has impossible constraints". */
#if defined(__OPTIMIZE__) && !defined(EDGEQ_NO_ASM)
#define EDGEQ_ASM_REGS 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EDGEQ_ALIGNED(n) __attribute__((aligned(n)))
#else
#define EDGEQ_ALIGNED(n)
#endif

/* gemmlowp SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31 rounded toward zero, nudge = 2^30 for
 * a non-negative product and 1 - 2^30 otherwise; saturates the one overflowing case. For every product that
 * equals floor((a * b + 2^30) / 2^31), so one arithmetic shift replaces the sign branch and the 64-bit
 * division (SMULL + ADDS/ADC + shift on Cortex-M). */
static inline int32_t edgeq_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded to nearest, ties away from zero (gemmlowp RoundingDivideByPOT). */
static inline int32_t edgeq_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u); /* exponent <= 31 */
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
    return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier: x * mult * 2^(shift - 31), rounded twice like TFLite. */
static inline int32_t edgeq_mbqm(int32_t x, int32_t mult, int shift)
{
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    return edgeq_rdbpot(edgeq_srdhm((int32_t)((uint32_t)x << left_shift), mult), right_shift);
}

static inline int32_t edgeq_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* roundf() semantics (half away from zero) without libm, for QUANTIZE from float (edgeq_core.c). */
int32_t edgeq_round_f32(float r);

#endif /* EDGEQ_COMMON_H */
