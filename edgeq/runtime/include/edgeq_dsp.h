/* edgeq runtime, internal: the Arm DSP primitives (SXTB16/SMLAD/SMMLAR, or C models of them with
 * -DEDGEQ_EMULATE_DSP), the short requantization and small helpers shared by the kernel files.
 * Included by the runtime sources only; not part of the generated model's API. */
#ifndef EDGEQ_DSP_H
#define EDGEQ_DSP_H

#include "edgeq_core.h"

#include <string.h>

/* ---------------------------------------------------------------------------------- DSP primitives
 * The multiply-accumulate loops below are written once against these helpers: SXTB16 sign-extends bytes
 * 0 and 2 of a word into two halfwords (with a rotate by 8: bytes 1 and 3), SMLAD adds both halfword
 * products to an accumulator, SMLABB/SMLATT add the bottom/top product. All wrap modulo 2^32 exactly like
 * the int32 sums of the reference kernels, so the results are bit-identical. */
#if !defined(EDGEQ_NO_DSP) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define EDGEQ_DSP 1
#define EDGEQ_DSP_ASM 1 /* real SXTB16/SMLAD/SMMLAR instructions: inline assembly allowed */
#define eq_sxtb16(x) ((int32_t)__sxtb16(x))
#define eq_sxtab16(off, x) ((int32_t)__sxtab16((off), (x)))
#define eq_smlad(a, b, acc) ((int32_t)__smlad((a), (b), (acc)))
#define eq_smlabb(a, b, acc) ((int32_t)__smlabb((a), (b), (acc)))
#define eq_smlatt(a, b, acc) ((int32_t)__smlatt((a), (b), (acc)))
/* GCC does not fold a rotate into SXTB16/SXTAB16 by itself; bytes 1 and 3 in one instruction. */
static inline int32_t eq_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t eq_sxtab16_ror8(int32_t off, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(off), "r"(x));
    return r;
}
/* SMMLAR: acc + the high word of a * b, rounded (bits 63..32 of (acc << 32) + a * b + 2^31). */
static inline int32_t eq_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#elif defined(EDGEQ_EMULATE_DSP)
#define EDGEQ_DSP 1
static inline int32_t eq_sxtb16(int32_t x)
{
    const uint32_t u = (uint32_t)x;
    const uint32_t lo = (uint32_t)(uint16_t)(int16_t)(int8_t)(u & 0xffu);
    const uint32_t hi = (uint32_t)(uint16_t)(int16_t)(int8_t)((u >> 16) & 0xffu);
    return (int32_t)(lo | (hi << 16));
}
static inline int32_t eq_bot(int32_t x) { return (int32_t)(int16_t)((uint32_t)x & 0xffffu); }
static inline int32_t eq_top(int32_t x) { return (int32_t)(int16_t)((uint32_t)x >> 16); }
static inline int32_t eq_sxtab16(int32_t off, int32_t x)
{
    const int32_t e = eq_sxtb16(x);
    const uint32_t lo = (uint32_t)(eq_bot(off) + eq_bot(e)) & 0xffffu;
    const uint32_t hi = (uint32_t)(eq_top(off) + eq_top(e)) & 0xffffu;
    return (int32_t)(lo | (hi << 16));
}
static inline int32_t eq_ror8_(int32_t x)
{
    const uint32_t u = (uint32_t)x;
    return (int32_t)((u >> 8) | (u << 24));
}
static inline int32_t eq_sxtb16_ror8(int32_t x) { return eq_sxtb16(eq_ror8_(x)); }
static inline int32_t eq_sxtab16_ror8(int32_t off, int32_t x) { return eq_sxtab16(off, eq_ror8_(x)); }
static inline int32_t eq_smlad(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_bot(a) * eq_bot(b)) + (uint32_t)(eq_top(a) * eq_top(b)));
}
static inline int32_t eq_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_bot(a) * eq_bot(b)));
}
static inline int32_t eq_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_top(a) * eq_top(b)));
}
static inline int32_t eq_smmlar(int32_t a, int32_t b, int32_t acc)
{
    const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) + 0x80000000u;
    return (int32_t)(uint32_t)(sum >> 32);
}
#endif

#ifdef EDGEQ_DSP
static inline int32_t eq_load32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4); /* one (unaligned) LDR on Armv7-M/v8-M */
    return v;
}
/* in_offset in both halfwords, for SXTAB16 (x + offset fits int16: |x| <= 128, |offset| <= 128) */
static inline int32_t eq_dup16(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xffffu) | ((uint32_t)v << 16));
}
#endif

/* acc0 += w0 . x, acc1 += w1 . x over n bytes (two filter rows share each input load). */
static inline void eq_dot2(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n, int32_t *acc0,
                           int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1, i = 0;
#ifdef EDGEQ_DSP
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = eq_load32(x + i), a = eq_load32(w0 + i), b = eq_load32(w1 + i);
        const int32_t xe = eq_sxtb16(xv), xo = eq_sxtb16_ror8((xv));
        s0 = eq_smlad(eq_sxtb16(a), xe, s0);
        s0 = eq_smlad(eq_sxtb16_ror8((a)), xo, s0);
        s1 = eq_smlad(eq_sxtb16(b), xe, s1);
        s1 = eq_smlad(eq_sxtb16_ror8((b)), xo, s1);
    }
#endif
    for (; i < n; ++i) {
        s0 += (int32_t)w0[i] * x[i];
        s1 += (int32_t)w1[i] * x[i];
    }
    *acc0 = s0;
    *acc1 = s1;
}

/* MultiplyByQuantizedMultiplier for the common case the generator proves at code-generation time (rq != NULL):
 * multiplier m >= 0, right shift e >= 1, |acc| < 2^30. rq = {m, 2^(e-1), e}.
 * TFLM computes h = SRDHM(acc, m) = floor((acc * m + 2^30) / 2^31) (m >= 0: never saturates), then
 * RDBPOT(h, e) = floor((h + 2^(e-1) - [h < 0]) / 2^e) (gemmlowp's mask/threshold test, rewritten). [h < 0] may be
 * replaced by [acc < 0]: they differ only when h == 0, where both give 0. With |acc| < 2^30, 2 * acc fits, and
 * SMMLAR(2 * acc, m, c) = c + floor((2 * acc * m + 2^31) / 2^32) = c + h exactly; |c + h| < 2^31. So with
 * c = 2^(e-1) - [acc < 0] the whole double rounding is one SMMLAR and one arithmetic shift. */
static inline int32_t eq_rq_fast(int32_t acc, const int32_t *rq)
{
    const int32_t c = rq[1] + (acc >> 31);
#ifdef EDGEQ_DSP
    return eq_smmlar(acc * 2, rq[0], c) >> rq[2];
#else
    return (c + (int32_t)(((int64_t)acc * rq[0] + ((int64_t)1 << 30)) >> 31)) >> rq[2];
#endif
}

/* The output zero point still to add after eq_rq_fast for a layer's rq: its first triple tells. Unfolded
 * {m, 2^(e-1), e}: zp. Folded {m, 2^(e-1) + (zp << e), e} (the generator's choice where it fits int32; adding
 * zp * 2^e before the arithmetic shift adds exactly zp after it): 0. The two agree where zp == 0. */
static inline int32_t eq_rq_zp(const int32_t *rq, int32_t zp)
{
    return rq[1] == (int32_t)(1u << (rq[2] - 1)) ? zp : 0;
}
/* eq_requant with the zero point to add given: zq = eq_rq_zp(p->rq, p->out_offset) with rq, p->out_offset
 * without (the general path adds it after edgeq_mbqm). */
static inline int8_t eq_requant_zq(int32_t acc, const edgeq_conv_params *p, int32_t ch, int32_t zq)
{
    int32_t v;
    if (p->rq) {
        v = eq_rq_fast(acc, p->rq + 3 * ch);
    } else {
        const int32_t c = p->per_channel ? ch : 0;
        v = edgeq_mbqm(acc, p->mult[c], (int)p->shift[c]);
    }
    return (int8_t)edgeq_clamp(v + zq, p->act_min, p->act_max);
}

/* The requantization of a layer whose rq (if any) is unfolded: the output zero point added after it. */
static inline int8_t eq_requant(int32_t acc, const edgeq_conv_params *p, int32_t ch)
{
    return eq_requant_zq(acc, p, ch, p->out_offset);
}

/* Range [*k0, *k1) of filter taps that land inside [0, size) for origin o and dilation d. */
static inline void eq_valid_taps(int32_t o, int32_t d, int32_t k, int32_t size, int32_t *k0, int32_t *k1)
{
    int32_t a = o < 0 ? (-o + d - 1) / d : 0;
    int32_t b = size - o > 0 ? (size - o + d - 1) / d : 0;
    if (b > k) {
        b = k;
    }
    *k0 = a;
    *k1 = b > a ? b : a;
}


#endif /* EDGEQ_DSP_H */
