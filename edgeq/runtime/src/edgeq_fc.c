/* edgeq runtime: FULLY_CONNECTED (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#ifndef EDGEQ_OVERRIDE_FULLY_CONNECTED_S8
/* EDGEQ_FC_UNROLL 2: the DSP asm groups loop (eq_fc_w16_groups) runs two pairs of input words a pass instead of one:
 * 1.5 cycles less per pair (the loop's SUBS / taken BNE), 116 B more code. The generated edgeq_config.h sets it for
 * models whose fully connected layers are a large part of the work (edgeq/codegen/scratch.py). */
#ifndef EDGEQ_FC_UNROLL
#define EDGEQ_FC_UNROLL 1
#endif
#ifdef EDGEQ_FC_W16
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
/* Full groups of four rows of a layer with rq and in_depth % 4 == 0 (the MLPerf Tiny autoencoder's layers, the
 * classifier heads): registers pinned (all fourteen) so that LDM loads weight words in order. Per two input words
 * (32 MACs): both input words and rows 0-1's four weight words of the first by six pipelined LDRs, then per word
 * SXTB16 / SXTB16 ROR #8 and, per pair of rows, four weight words (LDM after the first) met by four SMLADs: 42
 * cycles, 29 instructions (one LDR of the input and four LDRs a word: 32). An odd word count runs one word first.
 * The bias is one LDM, the four rows are requantized in one asm run (LDM of each {m, 2^(e-1), e}) and stored as
 * one word: ~80 cycles a group where the generic loop below takes ~135; a clamp narrower than int8 is a pass over
 * the stored words after the groups. */
static void eq_fc_w16_groups(const edgeq_fc_params *p, const int8_t *x, int8_t *out)
{
    const int32_t n4 = p->in_depth >> 2, zp = p->out_offset;
    const int32_t *bias = p->bias_eff, *rq = p->rq, *w = p->w16;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t o;
    for (o = p->out_depth >> 2; o > 0; --o, bias += 4, out += 4) {
        int32_t a0, a1, a2, a3;
        uint32_t v;
        {
        register int32_t r0 __asm__("r0"), r1 __asm__("r1"), r2 __asm__("r2"), r3 __asm__("r3");
        register const int32_t *xe __asm__("r4") = bias; /* the bias pointer, then the even input halfwords */
        register int32_t xo __asm__("r5");
        register const int8_t *xp __asm__("r6") = x;
        register int32_t xb __asm__("r7");
        register int32_t w0 __asm__("r8"), w1 __asm__("r9"), w2 __asm__("r10"), w3 __asm__("r11");
        register const int32_t *wp __asm__("r12") = w;
        register int32_t n __asm__("lr") = n4;
#define EQ_FC16_ROWS01(xw)                                                                                 \
    "sxtb16 r4, " xw "\n\t"                                                                                  \
    "sxtb16 r5, " xw ", ror #8\n\t"                                                                          \
    "smlad r0, r8, r4, r0\n\t"                                                                               \
    "smlad r0, r9, r5, r0\n\t"                                                                               \
    "smlad r1, r10, r4, r1\n\t"                                                                              \
    "smlad r1, r11, r5, r1\n\t"
#define EQ_FC16_ROWS23                                                                                     \
    "ldm r12!, {r8, r9, r10, r11}\n\t"                                                                       \
    "smlad r2, r8, r4, r2\n\t"                                                                               \
    "smlad r2, r9, r5, r2\n\t"                                                                               \
    "smlad r3, r10, r4, r3\n\t"                                                                              \
    "smlad r3, r11, r5, r3\n\t"
#define EQ_FC16_W01                                                                                        \
    "ldr r8, [r12], #4\n\t"                                                                                  \
    "ldr r9, [r12], #4\n\t"                                                                                  \
    "ldr r10, [r12], #4\n\t"                                                                                 \
    "ldr r11, [r12], #4\n\t"
#define EQ_FC16_PAIR                                                                                       \
    "ldr r5, [r6], #4\n\t"                                                                                   \
    "ldr r7, [r6], #4\n\t" EQ_FC16_W01 EQ_FC16_ROWS01("r5") EQ_FC16_ROWS23                                   \
    "ldm r12!, {r8, r9, r10, r11}\n\t" EQ_FC16_ROWS01("r7") EQ_FC16_ROWS23
        __asm__("ldm r4, {r0, r1, r2, r3}\n\t"
                "lsrs lr, lr, #1\n\t" /* C: an odd word first; Z: no pair */
                "bcc 1f\n\t"
                "ldr r5, [r6], #4\n\t" EQ_FC16_W01 EQ_FC16_ROWS01("r5") EQ_FC16_ROWS23
                "1:\n\t"
                "beq 3f\n\t"
#if EDGEQ_FC_UNROLL > 1
                "adds lr, lr, #1\n\t" /* two pairs a pass; an odd pair count enters at the second */
                "lsrs lr, lr, #1\n\t"
                "bcc 5f\n\t"
#endif
                ".p2align 2\n" /* the loop head word-aligned: a taken branch to a 32-bit instruction at a
                                    halfword address costs one more fetch */
                "2:\n\t" EQ_FC16_PAIR
#if EDGEQ_FC_UNROLL > 1
                "5:\n\t" EQ_FC16_PAIR
#endif
                "subs lr, lr, #1\n\t"
                "bne 2b\n\t"
                "3:"
                : "=&r"(r0), "=&r"(r1), "=&r"(r2), "=&r"(r3), "+&r"(xe), "=&r"(xo), "+&r"(xp), "=&r"(xb),
                  "=&r"(w0), "=&r"(w1), "=&r"(w2), "=&r"(w3), "+&r"(wp), "+&r"(n)
                :
                : "cc", "memory");
#undef EQ_FC16_ROWS01
#undef EQ_FC16_ROWS23
#undef EQ_FC16_W01
#undef EQ_FC16_PAIR
        w = wp;
        a0 = r0;
        a1 = r1;
        a2 = r2;
        a3 = r3;
        }
        {
        register int32_t m __asm__("r4"), c __asm__("r5"), e __asm__("r6");
#define EQ_FC16_RQ_ROW(a)                                                                                  \
    "ldm %[rq]!, {r4, r5, r6}\n\t"                                                                           \
    "add r5, r5, %[" a "], asr #31\n\t"                                                                      \
    "lsl %[" a "], %[" a "], #1\n\t"                                                                         \
    "smmlar %[" a "], %[" a "], r4, r5\n\t"                                                                  \
    "asr %[" a "], %[" a "], r6\n\t"                                                                         \
    "add %[" a "], %[" a "], %[zp]\n\t"                                                                      \
    "ssat %[" a "], #8, %[" a "]\n\t"
        __asm__(EQ_FC16_RQ_ROW("a0") EQ_FC16_RQ_ROW("a1") EQ_FC16_RQ_ROW("a2") EQ_FC16_RQ_ROW("a3")
                "bfi %[a0], %[a1], #8, #8\n\t"
                "bfi %[a0], %[a2], #16, #8\n\t"
                "bfi %[a0], %[a3], #24, #8"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [rq] "+r"(rq),
                  "=&r"(m), "=&r"(c), "=&r"(e)
                : [zp] "r"(zp)
                : "memory");
#undef EQ_FC16_RQ_ROW
        }
        v = (uint32_t)a0;
        memcpy(out, &v, 4); /* little-endian: row o first */
    }
    if (lo > -128 || hi < 127) { /* an activation narrower than int8: the words just stored, per byte max with
                                  * act_min and min with act_max (SSUB8 sets GE per byte, SEL picks) */
        const uint32_t lov = (uint32_t)(uint8_t)lo * 0x01010101u, hiv = (uint32_t)(uint8_t)hi * 0x01010101u;
        for (o = p->out_depth >> 2, out -= 4 * o; o > 0; --o, out += 4) {
            uint32_t v, t;
            memcpy(&v, out, 4);
            __asm__("ssub8 %[t], %[v], %[lo]\n\t"
                    "sel %[v], %[v], %[lo]\n\t"
                    "ssub8 %[t], %[hi], %[v]\n\t"
                    "sel %[v], %[v], %[hi]"
                    : [v] "+&r"(v), [t] "=&r"(t)
                    : [lo] "r"(lov), [hi] "r"(hiv)
                    : "cc");
            memcpy(out, &v, 4);
        }
    }
}
#endif

/* DSP path on the pre-extended weights (w16): eq_fc_w16_groups takes the full groups of four rows where it applies,
 * the loop below the rest (each input word sign-extended by SXTB16 / SXTB16 ROR #8 and met by the row's two weight
 * words in two SMLADs). */
static void eq_fc_w16(const edgeq_fc_params *p, const int8_t *x, int8_t *restrict out)
{
    const int32_t n4 = p->in_depth >> 2, kt = p->in_depth & 3, group = 8 * n4 + 4 * kt;
    const int8_t *xt = x + 4 * n4;
    int32_t o = 0, t;
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
    if (p->rq && kt == 0 && p->out_depth >= 4) {
        eq_fc_w16_groups(p, x, out);
        o = p->out_depth & ~3;
    }
#endif
    for (; o < p->out_depth; ++o) { /* one row at a time (the rest of a layer: compact code) */
        const int32_t *w = p->w16 + (size_t)(o >> 2) * group + 2 * (o & 3);
        const int32_t *wt = p->w16 + (size_t)(o >> 2) * group + 8 * n4 + (o & 3) * kt;
        int32_t acc = p->bias_eff[o], i, v;
        for (i = 0; i < n4; ++i, w += 8) {
            const int32_t xv = eq_load32(x + 4 * i);
            acc = eq_smlad(w[1], eq_sxtb16_ror8(xv), eq_smlad(w[0], eq_sxtb16(xv), acc));
        }
        for (t = 0; t < kt; ++t) {
            acc += wt[t] * xt[t];
        }
        if (p->rq) {
            v = eq_rq_fast(acc, p->rq + 3 * o);
        } else {
            const int32_t c = p->per_channel ? o : 0;
            v = edgeq_mbqm(acc, p->mult[c], (int)p->shift[c]);
        }
        out[o] = (int8_t)edgeq_clamp(v + p->out_offset, p->act_min, p->act_max);
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
