/* edgeq runtime, internal: Helium (MVE) helpers shared by the kernel files; only with __ARM_FEATURE_MVE
 * (integer MVE) and without -DEDGEQ_NO_MVE, when it defines EDGEQ_MVE. Not part of the generated model's API. */
#ifndef EDGEQ_MVE_H
#define EDGEQ_MVE_H

#include "edgeq_common.h"

#if !defined(EDGEQ_NO_MVE) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define EDGEQ_MVE 1

/* TFLite MultiplyByQuantizedMultiplier on four lanes, bit-exact with edgeq_mbqm():
 * - left shift: x * 2^shift wraps like TFLM's int32 multiply (VSHL);
 * - SaturatingRoundingDoublingHighMul is VQRDMULH: floor((2 * x * m + 2^31) / 2^32), saturating INT32_MIN^2;
 * - RoundingDivideByPOT rounds ties away from zero, VRSHL (negative shift) rounds them up: subtracting 1 from
 *   negative lanes first turns one into the other (floor((x - 1 + 2^(e-1)) / 2^e) for x < 0), saturating only at
 *   INT32_MIN, where both give INT32_MIN >> e. VRSHL computes x + 2^(e-1) without overflow. */
static inline int32x4_t eq_mve_mbqm(int32x4_t x, int32_t mult, int32_t shift)
{
    if (shift > 0) {
        x = vshlq_s32(x, vdupq_n_s32(shift));
    }
    x = vqrdmulhq_n_s32(x, mult);
    if (shift < 0) {
        x = vqaddq_s32(x, vshrq_n_s32(x, 31));
        x = vrshlq_s32(x, vdupq_n_s32(shift));
    }
    return x;
}
#endif

#endif /* EDGEQ_MVE_H */
