/* edgeq runtime: FULLY_CONNECTED (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#ifndef EDGEQ_OVERRIDE_FULLY_CONNECTED_S8
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
/* Four weight rows against one input vector (n4 >= 1 words of it, then a tail of in_depth - 4 * n4 bytes): each
 * input word is sign-extended once and feeds 8 SMLADs. acc[0..3] in and out. */
static void eq_fc_rows4(const int8_t *w0, int32_t K, const int8_t *x, int32_t n4, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i;
    const int8_t *w2 = w0 + 2 * K;
    const int8_t *xp = x;
#if defined(EDGEQ_DSP_ASM)
    {
        /* In registers (GCC spills an accumulator otherwise): rows 1 and 3 are addressed as rows 0 and 2 plus K,
         * so two weight pointers suffice. */
        int32_t n = n4, xe, xo, v, t;
#define EQ_FC_ASM_ROW(acc, addr)                                                                           \
    "ldr %[v], " addr "\n\t"                                                                               \
    "sxtb16 %[t], %[v]\n\t"                                                                                \
    "smlad %[" acc "], %[t], %[xe], %[" acc "]\n\t"                                                        \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                                        \
    "smlad %[" acc "], %[v], %[xo], %[" acc "]\n\t"
        __asm__("1:\n\t"
                "ldr %[xo], [%[xp]], #4\n\t"
                "sxtb16 %[xe], %[xo]\n\t"
                "sxtb16 %[xo], %[xo], ror #8\n\t"
                EQ_FC_ASM_ROW("a1", "[%[w0], %[K]]") EQ_FC_ASM_ROW("a0", "[%[w0]], #4")
                EQ_FC_ASM_ROW("a3", "[%[w2], %[K]]") EQ_FC_ASM_ROW("a2", "[%[w2]], #4")
                "subs %[n], %[n], #1\n\t"
                "bne 1b\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+&r"(xp), [w0] "+&r"(w0),
                  [w2] "+&r"(w2), [n] "+&r"(n), [xe] "=&r"(xe), [xo] "=&r"(xo), [v] "=&r"(v), [t] "=&r"(t)
                : [K] "r"(K)
                : "cc", "memory");
#undef EQ_FC_ASM_ROW
    }
#else
    for (i = 0; i < n4; ++i, xp += 4, w0 += 4, w2 += 4) {
        const int32_t xv = eq_load32(xp);
        const int32_t xe = eq_sxtb16(xv), xo = eq_sxtb16_ror8(xv);
        int32_t v = eq_load32(w0);
        a0 = eq_smlad(eq_sxtb16(v), xe, a0);
        a0 = eq_smlad(eq_sxtb16_ror8(v), xo, a0);
        v = eq_load32(w0 + K);
        a1 = eq_smlad(eq_sxtb16(v), xe, a1);
        a1 = eq_smlad(eq_sxtb16_ror8(v), xo, a1);
        v = eq_load32(w2);
        a2 = eq_smlad(eq_sxtb16(v), xe, a2);
        a2 = eq_smlad(eq_sxtb16_ror8(v), xo, a2);
        v = eq_load32(w2 + K);
        a3 = eq_smlad(eq_sxtb16(v), xe, a3);
        a3 = eq_smlad(eq_sxtb16_ror8(v), xo, a3);
    }
#endif
    for (i = 0; i < K - 4 * n4; ++i) {
        const int32_t xv = xp[i];
        a0 += xv * w0[i];
        a1 += xv * w0[K + i];
        a2 += xv * w2[i];
        a3 += xv * w2[K + i];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

#ifdef EDGEQ_MVE
/* Helium: four weight rows against one input vector, each 16-byte input vector feeding four VMLADAVAs (16 MACs
 * each); the tail loads zero the lanes past the end, which then add nothing. The four sums are requantized as one
 * vector. No scratch: TFLM's Helium FC needs extra arena for its kernel sums, bias_eff replaces them here. */
static void eq_mve_fc_rows4(const edgeq_fc_params *p, const int8_t *x, int32_t o, int8_t *restrict out)
{
    const int32_t K = p->in_depth;
    const int8_t *w0 = p->filter + (size_t)o * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
    int32_t a0 = p->bias_eff[o], a1 = p->bias_eff[o + 1], a2 = p->bias_eff[o + 2], a3 = p->bias_eff[o + 3], i;
    int32x4_t acc;
    for (i = 0; i + 16 <= K; i += 16) {
        const int8x16_t xv = vldrbq_s8(x + i);
        a0 = vmladavaq_s8(a0, vldrbq_s8(w0 + i), xv);
        a1 = vmladavaq_s8(a1, vldrbq_s8(w1 + i), xv);
        a2 = vmladavaq_s8(a2, vldrbq_s8(w2 + i), xv);
        a3 = vmladavaq_s8(a3, vldrbq_s8(w3 + i), xv);
    }
    if (i < K) {
        const mve_pred16_t pr = vctp8q((uint32_t)(K - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, pr);
        a0 = vmladavaq_s8(a0, vldrbq_z_s8(w0 + i, pr), xv);
        a1 = vmladavaq_s8(a1, vldrbq_z_s8(w1 + i, pr), xv);
        a2 = vmladavaq_s8(a2, vldrbq_z_s8(w2 + i, pr), xv);
        a3 = vmladavaq_s8(a3, vldrbq_z_s8(w3 + i, pr), xv);
    }
    acc = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
    if (p->rq) {
        acc = eq_mve_rq_fast4(acc, p->rq + 3 * o);
    } else if (p->per_channel) {
        acc = eq_mve_mbqm_lanes(acc, vldrwq_s32(p->mult + o), vldrwq_s32(p->shift + o));
    } else {
        acc = eq_mve_mbqm(acc, p->mult[0], p->shift[0]);
    }
    acc = vaddq_n_s32(acc, p->out_offset);
    acc = vminq_s32(vmaxq_s32(acc, vdupq_n_s32(p->act_min)), vdupq_n_s32(p->act_max));
    vstrbq_s32(out, acc);
}
#endif

void edgeq_fully_connected_s8(const edgeq_fc_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, o;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + (size_t)b * p->in_depth;
        o = 0;
#if defined(EDGEQ_MVE)
        for (; o + 4 <= p->out_depth; o += 4, out += 4) {
            eq_mve_fc_rows4(p, x, o, out);
        }
#elif defined(EDGEQ_DSP)
        if (p->rq && p->in_depth >= 4) {
            const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
            for (; o + 4 <= p->out_depth; o += 4, out += 4) {
                const int32_t *rq = p->rq + 3 * o;
                int32_t acc[4];
                acc[0] = p->bias_eff[o];
                acc[1] = p->bias_eff[o + 1];
                acc[2] = p->bias_eff[o + 2];
                acc[3] = p->bias_eff[o + 3];
                eq_fc_rows4(p->filter + (size_t)o * p->in_depth, p->in_depth, x, p->in_depth >> 2, acc);
                out[0] = (int8_t)edgeq_clamp(eq_rq_fast(acc[0], rq) + zp, lo, hi);
                out[1] = (int8_t)edgeq_clamp(eq_rq_fast(acc[1], rq + 3) + zp, lo, hi);
                out[2] = (int8_t)edgeq_clamp(eq_rq_fast(acc[2], rq + 6) + zp, lo, hi);
                out[3] = (int8_t)edgeq_clamp(eq_rq_fast(acc[3], rq + 9) + zp, lo, hi);
            }
        }
#endif
        for (; o < p->out_depth; o += 2) {
            const int32_t pair = o + 1 < p->out_depth;
            const int8_t *w0 = p->filter + (size_t)o * p->in_depth;
            const int8_t *w1 = pair ? w0 + p->in_depth : w0;
            int32_t acc0 = p->bias_eff[o], acc1 = pair ? p->bias_eff[o + 1] : 0;
            int32_t c0, c1;
            eq_dot2(w0, w1, x, p->in_depth, &acc0, &acc1);
            if (p->rq) {
                acc0 = eq_rq_fast(acc0, p->rq + 3 * o);
                acc1 = pair ? eq_rq_fast(acc1, p->rq + 3 * (o + 1)) : 0;
            } else {
                c0 = p->per_channel ? o : 0;
                c1 = p->per_channel ? o + 1 : 0;
                acc0 = edgeq_mbqm(acc0, p->mult[c0], (int)p->shift[c0]);
                acc1 = pair ? edgeq_mbqm(acc1, p->mult[c1], (int)p->shift[c1]) : 0;
            }
            *out++ = (int8_t)edgeq_clamp(acc0 + p->out_offset, p->act_min, p->act_max);
            if (pair) {
                *out++ = (int8_t)edgeq_clamp(acc1 + p->out_offset, p->act_min, p->act_max);
            }
        }
    }
}
#endif
