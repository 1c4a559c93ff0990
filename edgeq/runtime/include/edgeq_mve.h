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

/* eq_mve_mbqm with a multiplier and a shift per lane (per-channel requantization). The "x - 1 for negative x"
 * step applies only to lanes that shift right (VRSHL by 0 would keep it). */
static inline int32x4_t eq_mve_mbqm_lanes(int32x4_t x, int32x4_t mult, int32x4_t shift)
{
    const int32x4_t right = vminq_s32(shift, vdupq_n_s32(0));
    x = vshlq_s32(x, vmaxq_s32(shift, vdupq_n_s32(0)));
    x = vqrdmulhq_s32(x, mult);
    x = vqaddq_s32(x, vandq_s32(vshrq_n_s32(x, 31), vshrq_n_s32(right, 31)));
    return vrshlq_s32(x, right);
}

/* The short exact requantization (eq_rq_fast in edgeq_dsp.h) on four channels whose rq triples {m, 2^(e-1), e}
 * are consecutive: VQRDMULH is SRDHM, adding acc >> 31 (-1 for negative accumulators) before VRSHL's rounding
 * right shift reproduces RoundingDivideByPOT. Valid where the generator emitted rq (|acc| < 2^30, e >= 1). */
static inline int32x4_t eq_mve_rq_fast4(int32x4_t acc, const int32_t *rq)
{
    const uint32x4_t triple = vmulq_n_u32(vidupq_n_u32(0, 1), 3u);
    const int32x4_t m = vldrwq_gather_shifted_offset_s32(rq, triple);
    const int32x4_t e = vldrwq_gather_shifted_offset_s32(rq + 2, triple);
    const int32x4_t h = vaddq_s32(vqrdmulhq_s32(acc, m), vshrq_n_s32(acc, 31));
    return vrshlq_s32(h, vnegq_s32(e));
}
#endif

#endif /* EDGEQ_MVE_H */
