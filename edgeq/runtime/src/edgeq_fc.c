/* edgeq runtime: FULLY_CONNECTED (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#ifndef EDGEQ_OVERRIDE_FULLY_CONNECTED_S8
#ifdef EDGEQ_FC_W16
#if defined(EDGEQ_DSP_ASM)
/* eq_rq_fast(acc, rq) + zp saturated to int8 (SSAT; a narrower activation range is clamped after): the triple
 * {m, 2^(e-1), e} read by pipelined LDRs, add, shift, SMMLAR, shift, add, SSAT. */
static inline int32_t eq_fc_rq_sat(int32_t acc, const int32_t *rq, int32_t zp)
{
    int32_t m, c, e, t;
    __asm__("ldr %[m], [%[rq]]\n\t"
            "ldr %[c], [%[rq], #4]\n\t"
            "ldr %[e], [%[rq], #8]\n\t"
            "add %[t], %[c], %[a], asr #31\n\t"
            "lsl %[a], %[a], #1\n\t"
            "smmlar %[t], %[a], %[m], %[t]\n\t"
            "asr %[t], %[t], %[e]\n\t"
            "add %[t], %[t], %[zp]\n\t"
            "ssat %[t], #8, %[t]"
            : [t] "=&r"(t), [a] "+&r"(acc), [m] "=&r"(m), [c] "=&r"(c), [e] "=&r"(e)
            : [rq] "r"(rq), [zp] "r"(zp), "m"(*(const int32_t(*)[3])rq));
    return t;
}
#endif

/* DSP path on the pre-extended weights (w16): four rows per pass over the input, each input word sign-extended once
 * (SXTB16, SXTB16 ROR #8) and met by each row's two weight words (one LDRD) in two SMLADs: 15 instructions per 16
 * MACs instead of 23 with int8 weights. Rows past out_depth have zero weights and are not stored. */
static void eq_fc_w16(const edgeq_fc_params *p, const int8_t *x, int8_t *restrict out)
{
    const int32_t K = p->in_depth, n4 = K >> 2, kt = K & 3;
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *w = p->w16;
    const int8_t *xt = x + 4 * n4;
    int32_t o, r, t;
    for (o = 0; o < p->out_depth; o += 4) {
        const int32_t rows = p->out_depth - o < 4 ? p->out_depth - o : 4;
        int32_t acc[4] = {0, 0, 0, 0};
        int32_t a0, a1, a2, a3;
        if (rows == 4) { /* (the loop below becomes a memcpy call) */
            a0 = p->bias_eff[o];
            a1 = p->bias_eff[o + 1];
            a2 = p->bias_eff[o + 2];
            a3 = p->bias_eff[o + 3];
        } else {
            for (r = 0; r < rows; ++r) {
                acc[r] = p->bias_eff[o + r];
            }
            a0 = acc[0];
            a1 = acc[1];
            a2 = acc[2];
            a3 = acc[3];
        }
        if (n4 > 0) {
            const int8_t *xp = x;
#if defined(EDGEQ_DSP_ASM)
            /* in registers (GCC spills an accumulator otherwise), two input words per pass: the input word and the
             * four weight words of rows 0-1 are loaded back to back (pipelined LDRs: 6 cycles where LDR + 2 LDRD
             * take 8), then those of rows 2-3. An odd word count enters the loop at its second half. */
            int32_t n = n4, xe, xo, w0, w1, w2, w3;
#define EQ_FC16_ASM_WORD                                                                                   \
    "ldr %[xo], [%[xp]], #4\n\t"                                                                             \
    "ldr %[w0], [%[w]], #4\n\t"                                                                              \
    "ldr %[w1], [%[w]], #4\n\t"                                                                              \
    "ldr %[w2], [%[w]], #4\n\t"                                                                              \
    "ldr %[w3], [%[w]], #4\n\t"                                                                              \
    "sxtb16 %[xe], %[xo]\n\t"                                                                                \
    "sxtb16 %[xo], %[xo], ror #8\n\t"                                                                        \
    "smlad %[a0], %[w0], %[xe], %[a0]\n\t"                                                                   \
    "smlad %[a0], %[w1], %[xo], %[a0]\n\t"                                                                   \
    "smlad %[a1], %[w2], %[xe], %[a1]\n\t"                                                                   \
    "smlad %[a1], %[w3], %[xo], %[a1]\n\t"                                                                   \
    "ldr %[w0], [%[w]], #4\n\t"                                                                              \
    "ldr %[w1], [%[w]], #4\n\t"                                                                              \
    "ldr %[w2], [%[w]], #4\n\t"                                                                              \
    "ldr %[w3], [%[w]], #4\n\t"                                                                              \
    "smlad %[a2], %[w0], %[xe], %[a2]\n\t"                                                                   \
    "smlad %[a2], %[w1], %[xo], %[a2]\n\t"                                                                   \
    "smlad %[a3], %[w2], %[xe], %[a3]\n\t"                                                                   \
    "smlad %[a3], %[w3], %[xo], %[a3]\n\t"
            __asm__("adds %[n], %[n], #1\n\t"
                    "lsrs %[n], %[n], #1\n\t"
                    "bcc 2f\n\t"
                    "1:\n\t" EQ_FC16_ASM_WORD
                    "2:\n\t" EQ_FC16_ASM_WORD
                    "subs %[n], %[n], #1\n\t"
                    "bne 1b\n\t"
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+&r"(xp), [w] "+&r"(w),
                      [n] "+&r"(n), [xe] "=&r"(xe), [xo] "=&r"(xo), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),
                      [w3] "=&r"(w3)
                    :
                    : "cc", "memory");
#undef EQ_FC16_ASM_WORD
#else
            int32_t i;
            for (i = 0; i < n4; ++i, xp += 4, w += 8) {
                const int32_t xv = eq_load32(xp);
                const int32_t xe = eq_sxtb16(xv), xo = eq_sxtb16_ror8(xv);
                a0 = eq_smlad(w[1], xo, eq_smlad(w[0], xe, a0));
                a1 = eq_smlad(w[3], xo, eq_smlad(w[2], xe, a1));
                a2 = eq_smlad(w[5], xo, eq_smlad(w[4], xe, a2));
                a3 = eq_smlad(w[7], xo, eq_smlad(w[6], xe, a3));
            }
#endif
        }
        for (t = 0; t < kt; ++t) {
            const int32_t xv = xt[t];
            a0 += w[t] * xv;
            a1 += w[kt + t] * xv;
            a2 += w[2 * kt + t] * xv;
            a3 += w[3 * kt + t] * xv;
        }
        w += 4 * kt;
#if defined(EDGEQ_DSP_ASM)
        if (p->rq && rows == 4) { /* four rows at once, one word store (the generic loop below: ~150 cycles) */
            const int32_t *const rq = p->rq + 3 * o;
            uint32_t packed;
            a0 = eq_fc_rq_sat(a0, rq, zp);
            a1 = eq_fc_rq_sat(a1, rq + 3, zp);
            a2 = eq_fc_rq_sat(a2, rq + 6, zp);
            a3 = eq_fc_rq_sat(a3, rq + 9, zp);
            if (lo > -128 || hi < 127) {
                a0 = edgeq_clamp(a0, lo, hi);
                a1 = edgeq_clamp(a1, lo, hi);
                a2 = edgeq_clamp(a2, lo, hi);
                a3 = edgeq_clamp(a3, lo, hi);
            }
            packed = ((uint32_t)a0 & 0xffu) | (((uint32_t)a1 & 0xffu) << 8) | (((uint32_t)a2 & 0xffu) << 16) |
                     ((uint32_t)a3 << 24);
            memcpy(out + o, &packed, 4); /* little-endian: row o first */
            continue;
        }
#endif
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        for (r = 0; r < rows; ++r) {
            int32_t v;
            if (p->rq) {
                v = eq_rq_fast(acc[r], p->rq + 3 * (o + r));
            } else {
                const int32_t c = p->per_channel ? o + r : 0;
                v = edgeq_mbqm(acc[r], p->mult[c], (int)p->shift[c]);
            }
            out[o + r] = (int8_t)edgeq_clamp(v + zp, lo, hi);
        }
    }
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
#elif defined(EDGEQ_FC_W16)
        if (p->w16) {
            eq_fc_w16(p, x, out);
            out += p->out_depth;
            continue;
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
