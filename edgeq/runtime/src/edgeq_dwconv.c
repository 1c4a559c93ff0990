/* edgeq runtime: DEPTHWISE_CONV_2D (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#ifndef EDGEQ_OVERRIDE_DEPTHWISE_CONV2D_S8
#ifdef EDGEQ_DSP
/* One tap of four channels: SXTB16 splits the input word into channels {c, c+2} and {c+1, c+3}, which meet the
 * weight pairs dw_w laid out the same way by the generator (no weight extraction on the device). */
#define EQ_DW_TAP4(xe_, xo_, wp_)                                                                          \
    do {                                                                                                   \
        const int32_t we_ = (wp_)[0], wo_ = (wp_)[1];                                                      \
        a0 = eq_smlabb((xe_), we_, a0);                                                                    \
        a2 = eq_smlatt((xe_), we_, a2);                                                                    \
        a1 = eq_smlabb((xo_), wo_, a1);                                                                    \
        a3 = eq_smlatt((xo_), wo_, a3);                                                                    \
    } while (0)
#define EQ_DW_TAP4_LOAD(xp_, wp_)                                                                          \
    do {                                                                                                   \
        const int32_t xv_ = eq_load32(xp_);                                                                \
        EQ_DW_TAP4(eq_sxtb16(xv_), eq_sxtb16_ror8(xv_), (wp_));                                            \
    } while (0)

#if defined(EDGEQ_DSP_ASM)
#define eq_sat8(v) __ssat((v), 8)
#else
#define eq_sat8(v) edgeq_clamp((v), -128, 127)
#endif
static inline void eq_dw_store4(const edgeq_conv_params *p, const int32_t *rq, int32_t a0, int32_t a1, int32_t a2,
                                int32_t a3, int8_t *restrict out)
{
    const int32_t zp = eq_rq_zp(p->rq, p->out_offset), lo = p->act_min, hi = p->act_max;
    if (lo == -128 && hi == 127) { /* no activation clamp (or one the int8 range covers): one SSAT each */
        out[0] = (int8_t)eq_sat8(eq_rq_fast(a0, rq) + zp);
        out[1] = (int8_t)eq_sat8(eq_rq_fast(a1, rq + 3) + zp);
        out[2] = (int8_t)eq_sat8(eq_rq_fast(a2, rq + 6) + zp);
        out[3] = (int8_t)eq_sat8(eq_rq_fast(a3, rq + 9) + zp);
        return;
    }
    out[0] = (int8_t)edgeq_clamp(eq_rq_fast(a0, rq) + zp, lo, hi);
    out[1] = (int8_t)edgeq_clamp(eq_rq_fast(a1, rq + 3) + zp, lo, hi);
    out[2] = (int8_t)edgeq_clamp(eq_rq_fast(a2, rq + 6) + zp, lo, hi);
    out[3] = (int8_t)edgeq_clamp(eq_rq_fast(a3, rq + 9) + zp, lo, hi);
}

#ifndef EDGEQ_MVE /* Helium has its own depthwise loops below */
/* The hand-scheduled 3x3 asm below needs the registers an optimising build for speed leaves free: GCC cannot
 * place its operands at -Os/-Oz (frame pointer, fewer freed registers) or -O0; those builds use the C loops. */
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS) && !defined(__OPTIMIZE_SIZE__)
#define EQ_DW_3X3_ASM 1
#endif
/* EDGEQ_DW_RELU_ONLY 1 (the generator's per-model config, edgeq/codegen/scratch.py: every 3x3 layer of the model the
 * assembly takes is ReLU-like): the assembly takes only ReLU-like layers (output zero point -128 = act_min, act_max
 * 127) and its requantization drops the "acc < 0" correction, one instruction an output. Exact: with m >= 0 a
 * negative sum gives at most (2^(e-1) + (-128 << e)) >> e = -128 before SSAT with or without it. The other layers
 * run the per-pixel C loop. */
#ifndef EDGEQ_DW_RELU_ONLY
#define EDGEQ_DW_RELU_ONLY 0
#endif
#if defined(EQ_DW_3X3_ASM) && EDGEQ_DW_RELU_ONLY
#define EQ_DW_RQ_CORR(t, h, a) /* the correction dropped: h as it is */ ""
#define EQ_DW_RQ_H(t, h) h
#else
#define EQ_DW_RQ_CORR(t, h, a) "add %[" t "], %[" h "], %[" a "], asr #31\n\t" /* t = h + (acc < 0 ? -1 : 0) */
#define EQ_DW_RQ_H(t, h) t
#endif
/* 3x3 window fully inside the input (any stride/dilation), depth multiplier 1, rq and dw_w present: the nine
 * taps unrolled, the folded bias_eff, no bounds checks and no input offset. Channels [c_begin, c_end) (multiples of
 * 4) whose first input is x0; taps xs bytes apart within a row, ys bytes between rows. */
static inline __attribute__((always_inline)) void eq_dw_full3x3_px(const edgeq_conv_params *p, const int8_t *x0,
                                                                   int32_t xs, int32_t ys, int32_t c_begin,
                                                                   int32_t c_end, int8_t *restrict out)
{
    const int32_t *w = p->dw_w + (c_begin >> 2) * 18;
    const int32_t *rq = p->rq + 3 * c_begin;
    const int32_t *be = p->bias_eff;
    int32_t c;
#if defined(EQ_DW_3X3_ASM)
    /* The nine taps and (no activation clamp: one SSAT each) the requantization scheduled by hand: GCC spills the
     * weight pairs and the loop's pointers otherwise. Per tap: LDR x then the two weight words, loads back to back
     * (pipelined: 4 cycles where LDR + LDRD take 5), 2 SXTB16, 4 SMLAxy. x0 steps 4 bytes per group inside the asm. */
    /* the assembly takes the fast requantization kind only (no activation clamp, the zero point folded into rq or
     * zero: edgeq_depthwise_conv2d_s8 checks; MLPerf Tiny's layers), the others the portable per-pixel path */
    const int8_t *r = x0;
    int8_t *o = out + c_begin;
    for (c = c_begin; c < c_end; c += 4, rq += 12, o += 4) {
        int32_t a0 = be[c], a1 = be[c + 1], a2 = be[c + 2], a3 = be[c + 3];
        int32_t xv, xe, we, wo;
#define EQ_DW_ASM_TAP(addr, wofs, wofs4)                                                                   \
    "ldr %[xv], " addr "\n\t"                                                                             \
    "ldr %[we], [%[wp], #" wofs "]\n\t"                                                                   \
    "ldr %[wo], [%[wp], #" wofs4 "]\n\t"                                                                  \
    "sxtb16 %[xe], %[xv]\n\t"                                                                             \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                                     \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                               \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                               \
    "smlabb %[a1], %[xv], %[wo], %[a1]\n\t"                                                               \
    "smlatt %[a3], %[xv], %[wo], %[a3]\n\t"
#define EQ_DW_ASM_ROW(w0, w1, w2, w3, w4, w5)                                                              \
    EQ_DW_ASM_TAP("[%[rp]]", w0, w1) EQ_DW_ASM_TAP("[%[rp], %[xs]]", w2, w3)                             \
    EQ_DW_ASM_TAP("[%[rp], %[xs], lsl #1]", w4, w5)
        __asm__(EQ_DW_ASM_ROW("0", "4", "8", "12", "16", "20") "add %[rp], %[rp], %[ys]\n\t"
                EQ_DW_ASM_ROW("24", "28", "32", "36", "40", "44") "add %[rp], %[rp], %[ys]\n\t"
                EQ_DW_ASM_ROW("48", "52", "56", "60", "64", "68")
                "sub %[rp], %[rp], %[ys], lsl #1\n\t"
                "adds %[rp], %[rp], #4\n\t"
                "adds %[wp], %[wp], #72\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [rp] "+&r"(r), [wp] "+&r"(w),
                  [xv] "=&r"(xv), [xe] "=&r"(xe), [we] "=&r"(we), [wo] "=&r"(wo)
                : [xs] "r"(xs), [ys] "r"(ys)
                : "cc", "memory");
#undef EQ_DW_ASM_ROW
#undef EQ_DW_ASM_TAP
        {
            /* per channel: acc * 2 SMMLAR m + (2^(e-1) - [acc < 0]), >> e, SSAT 8 (eq_rq_fast), two channels'
             * six constants loaded back to back (one pipelined run); the four bytes packed with BFI, one word stored */
            int32_t m, h, e, m2, h2, e2;
#define EQ_DW_ASM_RQ2(a, b, o0)                                                                            \
    "ldr %[m], [%[rq], #" o0 "]\n\t"                                                                      \
    "ldr %[h], [%[rq], #" o0 " + 4]\n\t"                                                                  \
    "ldr %[e], [%[rq], #" o0 " + 8]\n\t"                                                                  \
    "ldr %[m2], [%[rq], #" o0 " + 12]\n\t"                                                                \
    "ldr %[h2], [%[rq], #" o0 " + 16]\n\t"                                                                \
    "ldr %[e2], [%[rq], #" o0 " + 20]\n\t"                                                                \
    EQ_DW_RQ_CORR("h", "h", a)                                                                            \
    "lsls %[" a "], %[" a "], #1\n\t"                                                                     \
    "smmlar %[" a "], %[" a "], %[m], %[h]\n\t"                                                           \
    "asrs %[" a "], %[" a "], %[e]\n\t"                                                                   \
    "ssat %[" a "], #8, %[" a "]\n\t"                                                                     \
    EQ_DW_RQ_CORR("h2", "h2", b)                                                                          \
    "lsls %[" b "], %[" b "], #1\n\t"                                                                     \
    "smmlar %[" b "], %[" b "], %[m2], %[h2]\n\t"                                                         \
    "asrs %[" b "], %[" b "], %[e2]\n\t"                                                                  \
    "ssat %[" b "], #8, %[" b "]\n\t"
            __asm__ volatile(EQ_DW_ASM_RQ2("a0", "a1", "0") EQ_DW_ASM_RQ2("a2", "a3", "24")
                             "bfi %[a0], %[a1], #8, #8\n\t"
                             "bfi %[a0], %[a2], #16, #8\n\t"
                             "bfi %[a0], %[a3], #24, #8\n\t"
                             "str %[a0], [%[o]]\n\t"
                             : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [m] "=&r"(m),
                               [h] "=&r"(h), [e] "=&r"(e), [m2] "=&r"(m2), [h2] "=&r"(h2), [e2] "=&r"(e2)
                             : [rq] "r"(rq), [o] "r"(o)
                             : "cc", "memory");
#undef EQ_DW_ASM_RQ2
        }
    }
#else
    for (c = c_begin; c < c_end; c += 4, w += 18, rq += 12) {
        const int8_t *r = x0 + (c - c_begin);
        int32_t a0 = be[c], a1 = be[c + 1], a2 = be[c + 2], a3 = be[c + 3];
        EQ_DW_TAP4_LOAD(r, w);
        EQ_DW_TAP4_LOAD(r + xs, w + 2);
        EQ_DW_TAP4_LOAD(r + 2 * xs, w + 4);
        r += ys;
        EQ_DW_TAP4_LOAD(r, w + 6);
        EQ_DW_TAP4_LOAD(r + xs, w + 8);
        EQ_DW_TAP4_LOAD(r + 2 * xs, w + 10);
        r += ys;
        EQ_DW_TAP4_LOAD(r, w + 12);
        EQ_DW_TAP4_LOAD(r + xs, w + 14);
        EQ_DW_TAP4_LOAD(r + 2 * xs, w + 16);
        eq_dw_store4(p, rq, a0, a1, a2, a3, out + c);
    }
#endif
}

/* npix such pixels in a row: inputs pstep bytes apart, outputs in_c bytes apart (the per-layer setup and the call
 * once per run of full windows, not per pixel). */
static void eq_dw_full3x3_m1(const edgeq_conv_params *p, const int8_t *x0, int32_t xs, int32_t ys, int32_t c_begin,
                             int32_t c_end, int8_t *restrict out, int32_t npix, int32_t pstep)
{
    for (; npix > 0; --npix, x0 += pstep, out += p->in_c) {
        eq_dw_full3x3_px(p, x0, xs, ys, c_begin, c_end, out);
    }
}

#ifndef EDGEQ_DW_WINDOW_BYTES
#define EDGEQ_DW_WINDOW_BYTES 1152 /* 3x3 x 128 channels of stack */
#endif
/* A 3x3 window clipped by the border: gather it into a 3x3 x (in_c & ~3) buffer, the taps outside the input set to
 * the input zero point. Those taps then add w * (zero_point + in_offset) == 0, exactly what TFLM's skipped taps add,
 * so the unrolled full-window kernel and bias_eff apply. */
static __attribute__((noinline)) void eq_dw_clipped3x3_m1(const edgeq_conv_params *p, const int8_t *in_b,
                                                         int32_t iy0, int32_t ix0, int8_t *restrict out)
{
    int32_t win[EDGEQ_DW_WINDOW_BYTES / 4];
    const int32_t C = p->in_c, W4 = (p->in_c & ~3) >> 2;
    const uint32_t pad = 0x01010101u * (uint8_t)(int8_t)(-p->in_offset);
    int32_t *dst = win;
    int32_t ky, kx, i;
    for (ky = 0; ky < 3; ++ky) {
        const int32_t iy = iy0 + p->dil_h * ky;
        for (kx = 0; kx < 3; ++kx, dst += W4) {
            const int32_t ix = ix0 + p->dil_w * kx;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (i = 0; i < W4; ++i) {
                    dst[i] = (int32_t)pad;
                }
            } else {
                const int8_t *src = in_b + ((size_t)iy * p->in_w + ix) * C;
                for (i = 0; i < W4; ++i) {
                    dst[i] = eq_load32(src + 4 * i);
                }
            }
        }
    }
    eq_dw_full3x3_m1(p, (const int8_t *)win, 4 * W4, 12 * W4, 0, 4 * W4, out, 1, 0);
}
static void eq_dw_pixel_m1(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int32_t ky0,
                           int32_t ky1, int32_t kx0, int32_t kx1, int32_t c_start, int8_t *restrict out);

#ifndef EDGEQ_DW_PAD_BYTES
#define EDGEQ_DW_PAD_BYTES 4096 /* stack for the zero-point padded input rows of the 3x3 DSP path */
#endif
/* n words from src (any alignment) to dst: four per pass, loads grouped (pipelined on the M4). */
static void eq_copy_words(int32_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t v0 = eq_load32(src + 4 * i), v1 = eq_load32(src + 4 * i + 4);
        const int32_t v2 = eq_load32(src + 4 * i + 8), v3 = eq_load32(src + 4 * i + 12);
        dst[i] = v0;
        dst[i + 1] = v1;
        dst[i + 2] = v2;
        dst[i + 3] = v3;
    }
    for (; i < n; ++i) {
        dst[i] = eq_load32(src + 4 * i);
    }
}

/* ---------------------------------------------------------------- 3x3 depthwise, channel-planar int16 (DSP)
 * Per block of channels: each input row is copied once into a ring of three int16 rows per channel, holding
 * x + in_offset (SXTAB16, PKHBT/PKHTB split the pixel words into the channels' planes), zeros in the padding (the
 * raw bias applies: a zero adds nothing, like the taps TFLM skips). Each channel then runs along its output row with
 * SMLAD on taps paired along x: for outputs (o0, o1) of a row, words (x0, x1), (x2, x3), weights (w0, w1), (w2, 0):
 * o0 += SMLAD((x0, x1), (w0, w1)) + SMLABB((x2, x3), w2); o1 += SMLADX((x2 | x1), (w0, w1)) + SMLATB((x2, x3), w2)
 * with (x2 | x1) one PKHBT; stride 2 needs no repacking (o1 reads (x2, x3), (x4, x5)). The weights are doubled
 * (|2w| <= 256 fits the halfword) so the accumulator is the 2 * acc eq_rq_fast feeds SMMLAR: one shift less per
 * output. The rows run along x, or along y (the map and the window seen transposed) when the output has more rows
 * than columns. Layers with Xo outputs per row (Xo = max(out_w, out_h)), stride S along it (stride_w, or
 * stride_h when transposed).
 * Stack: EDGEQ_DW_PLANE_BYTES (default 3904: the stack peak stays that of eq_dw_padded3x3_m1's 4096-byte rows); a
 * 64-byte header (EQ_DWP_HDR words), then a block of n channels (a multiple of 4) needs n * (6 * WP + 40) bytes,
 * WP = 2 * S * ceil(Xo / 2) + 2 halfwords per plane row; all channels in one block (the fewest row copies):
 * 64 + in_c * (6 * WP + 40) bytes. Fewer than 4 channels'
 * worth: the layer takes the other paths (small maps: eq_dw_small, tried first). */
#ifndef EDGEQ_DW_PLANE_BYTES
#define EDGEQ_DW_PLANE_BYTES 3904
#endif
#if defined(EDGEQ_DSP_ASM)
#define eq_smladx(a, b, acc) ((int32_t)__smladx((a), (b), (acc)))
#define eq_smlatb(a, b, acc) ((int32_t)__smlatb((a), (b), (acc)))
/* bottom halfword of lo, top halfword of hi */
static inline int32_t eq_pkhbt0(int32_t lo, int32_t hi)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}
/* bottom halfwords of lo (below) and hi (above) */
static inline int32_t eq_pkhbt16(int32_t lo, int32_t hi)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}
/* top halfwords of lo (below) and hi (above) */
static inline int32_t eq_pkhtb16(int32_t hi, int32_t lo)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
#else
static inline int32_t eq_smladx(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_bot(a) * eq_top(b)) + (uint32_t)(eq_top(a) * eq_bot(b)));
}
static inline int32_t eq_smlatb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(eq_top(a) * eq_bot(b)));
}
static inline int32_t eq_pkhbt0(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi & 0xffff0000u));
}
static inline int32_t eq_pkhbt16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
}
static inline int32_t eq_pkhtb16(int32_t hi, int32_t lo)
{
    return (int32_t)(((uint32_t)hi & 0xffff0000u) | ((uint32_t)lo >> 16));
}
#endif
static inline int32_t eq_ld2h(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void eq_st2h(int16_t *p, int32_t v) { memcpy(p, &v, 4); }
static inline void eq_st1h(int16_t *p, int32_t v)
{
    const int16_t h = (int16_t)v;
    memcpy(p, &h, 2);
}

/* Input columns [lo, hi) of one row (src: the pixel of column lo, channel c0; pixels C bytes apart) into the ring
 * slot at dst of planes k = 0..n-1 at dst + k * ps, n a multiple of 4. The three slots of a plane interleaved word by
 * word (eq_dw_planar3x3): column j at [6 * (j >> 1) + (j & 1)] (a word of two columns every 12 bytes). */
#if defined(EQ_DW_3X3_ASM)
/* The assembly builds: the pixel pairs of every 4 channels in one function (edgeq_dwp_fill_pairs: its own registers,
 * the callers' saved in the scratch header, no stack), the odd first and last columns here (eq_dwp_fill_col). Per
 * pair of 4 channels: the pair's halves of channels {0, 1} and {2, 3} packed (two PKH), sign-extended + offset
 * (SXTAB16) into the 4 planes' words; planes 0, 1 stored from d, 2, 3 from d2 (post-indexed stores step both); two
 * pairs an iteration (one SUBS/BNE for both), an odd count entering at the second. Header words 9..13: C (bytes
 * between pixels), the plane step in bytes, off2, the pairs, the groups of 4 channels. */
void edgeq_dwp_fill_pairs(int32_t *hdr, const int8_t *src, int16_t *dst);
#define EQ_DWP_PAIRS_STEP                                                                                  \
    "ldr r10, [r6]\n\t"                                                                                   \
    "ldr r11, [r6, r3]\n\t"                                                                               \
    "add r6, r6, r3, lsl #1\n\t"                                                                          \
    "pkhbt lr, r10, r11, lsl #16\n\t"                                                                     \
    "pkhtb r11, r11, r10, asr #16\n\t"                                                                    \
    "sxtab16 ip, r5, lr\n\t"                                                                              \
    "sxtab16 lr, r5, lr, ror #8\n\t"                                                                      \
    "sxtab16 r10, r5, r11\n\t"                                                                            \
    "sxtab16 r11, r5, r11, ror #8\n\t"                                                                    \
    "str lr, [r7, r4]\n\t"                                                                                \
    "str ip, [r7], #12\n\t"                                                                               \
    "str r11, [r8, r4]\n\t"                                                                               \
    "str r10, [r8], #12\n\t"
__asm__(".pushsection .text.edgeq_dwp_fill_pairs,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgeq_dwp_fill_pairs\n\t"
        ".type edgeq_dwp_fill_pairs, %function\n\t"
        ".thumb_func\n"
        "edgeq_dwp_fill_pairs:\n\t"
        "stm r0, {r4-r11, lr}\n\t"
        "ldr r3, [r0, #36]\n\t"
        "ldr r4, [r0, #40]\n\t"
        "ldr r5, [r0, #44]\n"
        "3:\n\t"
        "ldr r9, [r0, #48]\n\t"
        "mov r6, r1\n\t"
        "mov r7, r2\n\t"
        "add r8, r2, r4, lsl #1\n\t"
        "adds r9, r9, #1\n\t"
        "lsrs r9, r9, #1\n\t"
        "bcc 2f\n"
        "1:\n\t" EQ_DWP_PAIRS_STEP "2:\n\t" EQ_DWP_PAIRS_STEP
        "subs r9, r9, #1\n\t"
        "bne 1b\n\t"
        "adds r1, r1, #4\n\t"
        "add r2, r2, r4, lsl #2\n\t"
        "ldr ip, [r0, #52]\n\t"
        "subs ip, ip, #1\n\t"
        "str ip, [r0, #52]\n\t"
        "bne 3b\n\t"
        "ldm r0, {r4-r11, pc}\n\t"
        ".size edgeq_dwp_fill_pairs, . - edgeq_dwp_fill_pairs\n\t"
        ".popsection");
#undef EQ_DWP_PAIRS_STEP
/* one column of n channels (src: its pixel, channel c0) into the planes at dst + k * ps */
static inline __attribute__((always_inline)) void eq_dwp_fill_col(const int8_t *src, int16_t *dst, int32_t ps,
                                                                  int32_t n, int32_t off2)
{
    int32_t k;
    for (k = 0; k < n; k += 4, src += 4, dst += 4 * ps) {
        const int32_t v = eq_load32(src), e = eq_sxtab16(off2, v), o = eq_sxtab16_ror8(off2, v);
        eq_st1h(dst, e);
        eq_st1h(dst + ps, o);
        eq_st1h(dst + 2 * ps, e >> 16);
        eq_st1h(dst + 3 * ps, o >> 16);
    }
}
static void eq_dwp_fill_row(int32_t *hdr, const int8_t *src, int32_t C, int16_t *dst, int32_t ps, int32_t n,
                            int32_t lo, int32_t hi, int32_t off2)
{
    int32_t j = lo, np;
    if (j & 1) { /* one pixel to reach a word boundary */
        eq_dwp_fill_col(src, dst + 6 * (j >> 1) + 1, ps, n, off2);
        ++j, src += C;
    }
    np = (hi - j) >> 1;
    if (np > 0) {
        hdr[9] = C, hdr[10] = 2 * ps, hdr[11] = off2, hdr[12] = np, hdr[13] = n >> 2;
        edgeq_dwp_fill_pairs(hdr, src, dst + 6 * (j >> 1));
        j += 2 * np, src += (size_t)2 * np * C;
    }
    if (j < hi) {
        eq_dwp_fill_col(src, dst + 6 * (j >> 1), ps, n, off2);
    }
}
#else
static void eq_dwp_fill_row(int32_t *hdr, const int8_t *src, int32_t C, int16_t *dst, int32_t ps, int32_t n,
                            int32_t lo, int32_t hi, int32_t off2)
{
    int32_t k, j;
    (void)hdr;
    for (k = 0; k < n; k += 4) {
        const int8_t *s = src + k;
        int16_t *d = dst + (size_t)k * ps + 6 * (lo >> 1) + (lo & 1);
        j = lo;
        if (j & 1) { /* one pixel to reach a word boundary */
            const int32_t v = eq_load32(s), e = eq_sxtab16(off2, v), o = eq_sxtab16_ror8(off2, v);
            eq_st1h(d, e);
            eq_st1h(d + ps, o);
            eq_st1h(d + 2 * ps, e >> 16);
            eq_st1h(d + 3 * ps, o >> 16);
            ++j, d += 5, s += C;
        }
        for (; j + 2 <= hi; j += 2, d += 6, s += 2 * C) {
            const int32_t va = eq_load32(s), vb = eq_load32(s + C);
            const int32_t ea = eq_sxtab16(off2, va), oa = eq_sxtab16_ror8(off2, va);
            const int32_t eb = eq_sxtab16(off2, vb), ob = eq_sxtab16_ror8(off2, vb);
            eq_st2h(d, eq_pkhbt16(ea, eb));
            eq_st2h(d + ps, eq_pkhbt16(oa, ob));
            eq_st2h(d + 2 * ps, eq_pkhtb16(eb, ea));
            eq_st2h(d + 3 * ps, eq_pkhtb16(ob, oa));
        }
        if (j < hi) {
            const int32_t v = eq_load32(s), e = eq_sxtab16(off2, v), o = eq_sxtab16_ror8(off2, v);
            eq_st1h(d, e);
            eq_st1h(d + ps, o);
            eq_st1h(d + 2 * ps, e >> 16);
            eq_st1h(d + 3 * ps, o >> 16);
        }
    }
}
#endif

/* A channel's block in the scratch (10 words): its doubled weights {(w0, w1), (w2, 0)} per row of the 3x3 window
 * (the first w2 word's top half: the output step), its doubled bias, its rq {m, h, e}. */
#define EQ_DWP_WK 10
/* words ahead of the channel blocks in eq_dw_planar3x3's scratch (the row assembly's state and saved registers) */
#define EQ_DWP_HDR 16

#if !defined(EQ_DW_3X3_ASM)
/* Outputs [ox, X) of one channel's row, plain C (any activation range and zero point): q0..q2 at column 0 of its
 * three input planes, column j (even) at q + cs * j (cs 1: contiguous rows; 3: eq_dw_planar3x3's interleaved ring),
 * outputs os bytes apart from o (output 0). Groups of four, then pairs (the last may be half-used: the planes hold
 * the columns it reads). */
static void eq_dwp_chan_cs(const int16_t *q0, const int16_t *q1, const int16_t *q2, const int32_t *wk, int32_t zq,
                           int32_t lo, int32_t hi, int8_t *o, int32_t os, int32_t ox, int32_t X, int32_t S, int32_t cs)
{
    const int32_t *rq = wk + 7, bias = wk[6], cS = cs * S;
    int32_t k, j, n;
    q0 += cS * ox, q1 += cS * ox, q2 += cS * ox, o += (size_t)ox * os;
    for (; ox < X; ox += n, q0 += n * cS, q1 += n * cS, q2 += n * cS, o += (size_t)n * os) {
        int32_t s[4];
        n = X - ox >= 4 ? 4 : 2;
        for (j = 0; j < n; ++j) {
            s[j] = bias;
        }
        for (k = 0; k < 3; ++k) {
            const int16_t *q = k == 0 ? q0 : k == 1 ? q1 : q2;
            const int32_t w01 = wk[2 * k], w2 = wk[2 * k + 1];
            for (j = 0; j < n; j += 2) {
                const int32_t xa = eq_ld2h(q + cS * j), xb = eq_ld2h(q + cS * j + 2 * cs);
                s[j] = eq_smlabb(xb, w2, eq_smlad(xa, w01, s[j]));
                if (S == 1) { /* (x2 | x1) against (w0, w1) exchanged, x3 against w2 */
                    s[j + 1] = eq_smlatb(xb, w2, eq_smladx(eq_pkhbt0(xb, xa), w01, s[j + 1]));
                } else {
                    s[j + 1] = eq_smlabb(eq_ld2h(q + cS * j + 4 * cs), w2, eq_smlad(xb, w01, s[j + 1]));
                }
            }
        }
        for (j = 0; j < n && ox + j < X; ++j) {
            int32_t v = eq_smmlar(s[j], rq[0], rq[1] + (s[j] >> 31)) >> rq[2];
            v = eq_sat8(v + zq);
            v = v < lo ? lo : v;
            o[(size_t)j * os] = (int8_t)(v > hi ? hi : v);
        }
    }
}
static inline void eq_dwp_chan_c(const int16_t *q0, const int16_t *q1, const int16_t *q2, const int32_t *wk,
                                 int32_t zq, int32_t lo, int32_t hi, int8_t *o, int32_t os, int32_t ox, int32_t X,
                                 int32_t S)
{
    eq_dwp_chan_cs(q0, q1, q2, wk, zq, lo, hi, o, os, ox, X, S, 1);
}
#endif

#if defined(EQ_DW_3X3_ASM)
/* The fast kind (no activation clamp, zero point folded into rq or zero): each group of four outputs one block of
 * hand-scheduled code (GCC spills the weights and row pointers otherwise). Per row the two weight words and the
 * first two x words loaded back to back (pipelined), the third x word where it is used; q0..q2 step along with
 * pre-indexed loads; the doubled bias loaded into s3 with the first row's loads (pipelined) and the first row's
 * taps add it (a0..a3: the addends of each sum's first tap of the row). Then per output: SMMLAR of the doubled
 * accumulator with m and h + [acc < 0], >> e, SSAT 8, STRB; m, h, e, the output step from wk (registers the taps
 * freed). Then pairs for the rest of the row. */
#define EQ_DWP_ASM_S1(q, w, a0, a1, a2, a3)                                                               \
    "ldr %[w01], [%[wk], #" w "]\n\t"                                                                     \
    "ldr %[w2], [%[wk], #" w " + 4]\n\t"                                                                  \
    "ldr %[xa], [%[" q "]]\n\t"                                                                          \
    "ldr %[xb], [%[" q "], #12]\n\t"                                                                     \
    "smlad %[s0], %[xa], %[w01], %[" a0 "]\n\t"                                                          \
    "smlabb %[s0], %[xb], %[w2], %[s0]\n\t"                                                              \
    "pkhbt %[xa], %[xb], %[xa]\n\t"                                                                      \
    "smladx %[s1], %[xa], %[w01], %[" a1 "]\n\t"                                                         \
    "smlatb %[s1], %[xb], %[w2], %[s1]\n\t"                                                              \
    "smlad %[s2], %[xb], %[w01], %[" a2 "]\n\t"                                                          \
    "ldr %[xa], [%[" q "], #24]!\n\t"                                                                     \
    "smlabb %[s2], %[xa], %[w2], %[s2]\n\t"                                                              \
    "pkhbt %[xb], %[xa], %[xb]\n\t"                                                                      \
    "smladx %[s3], %[xb], %[w01], %[" a3 "]\n\t"                                                         \
    "smlatb %[s3], %[xa], %[w2], %[s3]\n\t"
#define EQ_DWP_ASM_S2(q, w, a0, a1, a2, a3)                                                               \
    "ldr %[w01], [%[wk], #" w "]\n\t"                                                                     \
    "ldr %[w2], [%[wk], #" w " + 4]\n\t"                                                                  \
    "ldr %[xa], [%[" q "]]\n\t"                                                                          \
    "ldr %[xb], [%[" q "], #12]\n\t"                                                                     \
    "smlad %[s0], %[xa], %[w01], %[" a0 "]\n\t"                                                          \
    "smlabb %[s0], %[xb], %[w2], %[s0]\n\t"                                                              \
    "smlad %[s1], %[xb], %[w01], %[" a1 "]\n\t"                                                          \
    "ldr %[xa], [%[" q "], #24]\n\t"                                                                     \
    "ldr %[xb], [%[" q "], #36]\n\t"                                                                     \
    "smlabb %[s1], %[xa], %[w2], %[s1]\n\t"                                                              \
    "smlad %[s2], %[xa], %[w01], %[" a2 "]\n\t"                                                          \
    "smlabb %[s2], %[xb], %[w2], %[s2]\n\t"                                                              \
    "smlad %[s3], %[xb], %[w01], %[" a3 "]\n\t"                                                          \
    "ldr %[xa], [%[" q "], #48]!\n\t"                                                                    \
    "smlabb %[s3], %[xa], %[w2], %[s3]\n\t"
#define EQ_DWP_ASM_RQ(a, store)                                                                            \
    EQ_DW_RQ_CORR("w2", "xb", a)                                                                          \
    "smmlar %[" a "], %[" a "], %[xa], %[" EQ_DW_RQ_H("w2", "xb") "]\n\t"                                 \
    "asrs %[" a "], %[" a "], %[w01]\n\t"                                                                 \
    "ssat %[" a "], #8, %[" a "]\n\t"                                                                     \
    "strb %[" a "], " store "\n\t"
/* The output step (wk's top half of word 1): with the correction dropped w2 is free in the requantization, and the
 * step loads with m, h, e (pipelined) instead of into s0 after its store (no pipelining after a store). */
#if defined(EQ_DW_3X3_ASM) && EDGEQ_DW_RELU_ONLY
#define EQ_DWP_STEP "w2"
#define EQ_DWP_STEP_EARLY "ldrh %[w2], [%[wk], #6]\n\t"
#define EQ_DWP_STEP_LATE ""
#else
#define EQ_DWP_STEP "s0"
#define EQ_DWP_STEP_EARLY ""
#define EQ_DWP_STEP_LATE "ldrh %[s0], [%[wk], #6]\n\t"
#endif
#define EQ_DWP_ASM_GROUP(taps)                                                                             \
    __asm__ volatile("ldr %[s3], [%[wk], #24]\n\t"                                                        \
                     taps("q0", "0", "s3", "s3", "s3", "s3") taps("q1", "8", "s0", "s1", "s2", "s3")        \
                     taps("q2", "16", "s0", "s1", "s2", "s3")                                             \
                     "ldr %[xa], [%[wk], #28]\n\t"                                                        \
                     "ldr %[xb], [%[wk], #32]\n\t"                                                        \
                     "ldr %[w01], [%[wk], #36]\n\t" EQ_DWP_STEP_EARLY EQ_DWP_ASM_RQ("s0", "[%[o]]")       \
                     EQ_DWP_STEP_LATE EQ_DWP_ASM_RQ("s1", "[%[o], %[" EQ_DWP_STEP "]]")                   \
                     "add %[o], %[o], %[" EQ_DWP_STEP "], lsl #1\n\t" EQ_DWP_ASM_RQ("s2", "[%[o]]")       \
                     EQ_DWP_ASM_RQ("s3", "[%[o], %[" EQ_DWP_STEP "]]")                                    \
                     "add %[o], %[o], %[" EQ_DWP_STEP "], lsl #1\n\t"                                     \
                     : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [q0] "+&r"(q0),     \
                       [q1] "+&r"(q1), [q2] "+&r"(q2), [xa] "=&r"(xa), [xb] "=&r"(xb), [w01] "=&r"(w01),   \
                       [w2] "=&r"(w2), [o] "+&r"(o)                                                       \
                     : [wk] "r"(wk)                                                                       \
                     : "cc", "memory")
#define EQ_DWP_ASM_PAIR_S1(q, w, a0, a1)                                                                  \
    "ldr %[w01], [%[wk], #" w "]\n\t"                                                                     \
    "ldr %[w2], [%[wk], #" w " + 4]\n\t"                                                                  \
    "ldr %[xa], [%[" q "]]\n\t"                                                                          \
    "ldr %[xb], [%[" q "], #12]\n\t"                                                                     \
    "smlad %[s0], %[xa], %[w01], %[" a0 "]\n\t"                                                          \
    "smlabb %[s0], %[xb], %[w2], %[s0]\n\t"                                                              \
    "pkhbt %[xa], %[xb], %[xa]\n\t"                                                                      \
    "smladx %[s1], %[xa], %[w01], %[" a1 "]\n\t"                                                         \
    "smlatb %[s1], %[xb], %[w2], %[s1]\n\t"
#define EQ_DWP_ASM_PAIR_S2(q, w, a0, a1)                                                                  \
    "ldr %[w01], [%[wk], #" w "]\n\t"                                                                     \
    "ldr %[w2], [%[wk], #" w " + 4]\n\t"                                                                  \
    "ldr %[xa], [%[" q "]]\n\t"                                                                          \
    "ldr %[xb], [%[" q "], #12]\n\t"                                                                     \
    "smlad %[s0], %[xa], %[w01], %[" a0 "]\n\t"                                                          \
    "smlabb %[s0], %[xb], %[w2], %[s0]\n\t"                                                              \
    "smlad %[s1], %[xb], %[w01], %[" a1 "]\n\t"                                                          \
    "ldr %[xa], [%[" q "], #24]\n\t"                                                                     \
    "smlabb %[s1], %[xa], %[w2], %[s1]\n\t"
#define EQ_DWP_ASM_RQ2(a)                                                                                  \
    EQ_DW_RQ_CORR("w2", "xb", a)                                                                          \
    "smmlar %[" a "], %[" a "], %[xa], %[" EQ_DW_RQ_H("w2", "xb") "]\n\t"                                 \
    "asrs %[" a "], %[" a "], %[w01]\n\t"                                                                 \
    "ssat %[" a "], #8, %[" a "]\n\t"
#define EQ_DWP_ASM_PAIR(taps)                                                                              \
    __asm__("ldr %[s1], [%[wk], #24]\n\t" /* the bias: the first row's taps add it */                  \
            taps("q0", "0", "s1", "s1") taps("q1", "8", "s0", "s1") taps("q2", "16", "s0", "s1")         \
            "ldr %[xa], [%[wk], #28]\n\t"                                                                 \
            "ldr %[xb], [%[wk], #32]\n\t"                                                                 \
            "ldr %[w01], [%[wk], #36]\n\t" EQ_DWP_ASM_RQ2("s0") EQ_DWP_ASM_RQ2("s1")                      \
            : [s0] "=&r"(s0), [s1] "=&r"(s1), [xa] "=&r"(xa), [xb] "=&r"(xb), [w01] "=&r"(w01),           \
              [w2] "=&r"(w2)                                                                              \
            : [wk] "r"(wk), [q0] "r"(q0), [q1] "r"(q1), [q2] "r"(q2)                                      \
            : "cc", "memory")
/* A row of six outputs, stride 1, of eq_dw_planar3x3's whole-map planes (x0..x7: four words of each input row, the
 * rows 16 bytes apart from q):
 * one block of code with the 3 x 6 taps and the requantization. Per input row its weight pair and w2 and two x words
 * loaded back to back, the other two x words where they are needed, 12 SMLAxy + 3 PKHBT; the first row starts the
 * sums from the doubled bias (in s5 until its own tap). Then per output as EQ_DWP_ASM_RQ (m, h, e, the output step in
 * the registers the taps freed); o advances by six outputs. */
#define EQ_DWP_ASM_T6(r, w, a0, a1, a2, a3, a4, a5)                                                        \
    "ldr %[w01], [%[wk], #" w "]\n\t"                                                                     \
    "ldr %[w2], [%[wk], #" w " + 4]\n\t"                                                                  \
    "ldr %[xa], [%[q], #" r "]\n\t"                                                                       \
    "ldr %[xb], [%[q], #" r " + 4]\n\t"                                                                   \
    "smlad %[s0], %[xa], %[w01], %[" a0 "]\n\t"                                                          \
    "smlabb %[s0], %[xb], %[w2], %[s0]\n\t"                                                              \
    "pkhbt %[xa], %[xb], %[xa]\n\t"                                                                      \
    "smladx %[s1], %[xa], %[w01], %[" a1 "]\n\t"                                                         \
    "smlatb %[s1], %[xb], %[w2], %[s1]\n\t"                                                              \
    "smlad %[s2], %[xb], %[w01], %[" a2 "]\n\t"                                                          \
    "ldr %[xa], [%[q], #" r " + 8]\n\t"                                                                   \
    "smlabb %[s2], %[xa], %[w2], %[s2]\n\t"                                                              \
    "pkhbt %[xb], %[xa], %[xb]\n\t"                                                                      \
    "smladx %[s3], %[xb], %[w01], %[" a3 "]\n\t"                                                         \
    "smlatb %[s3], %[xa], %[w2], %[s3]\n\t"                                                              \
    "smlad %[s4], %[xa], %[w01], %[" a4 "]\n\t"                                                          \
    "ldr %[xb], [%[q], #" r " + 12]\n\t"                                                                  \
    "smlabb %[s4], %[xb], %[w2], %[s4]\n\t"                                                              \
    "pkhbt %[xa], %[xb], %[xa]\n\t"                                                                      \
    "smladx %[s5], %[xa], %[w01], %[" a5 "]\n\t"                                                         \
    "smlatb %[s5], %[xb], %[w2], %[s5]\n\t"
#define EQ_DWP_ASM_RQ6(a, store)                                                                           \
    EQ_DW_RQ_CORR("w2", "xa", a)                                                                          \
    "smmlar %[" a "], %[" a "], %[w01], %[" EQ_DW_RQ_H("w2", "xa") "]\n\t"                                \
    "asrs %[" a "], %[" a "], %[xb]\n\t"                                                                  \
    "ssat %[" a "], #8, %[" a "]\n\t"                                                                     \
    "strb %[" a "], " store "\n\t"
/* n >= 1 rows of six (eq_dw_small's 6 x 6 maps at stride 1) in one loop: the output step loaded into s0 once its
 * output is stored (q stays the plane row pointer, 16 bytes a row). */
static inline __attribute__((always_inline)) void eq_dwp_group6(const int16_t *q, const int32_t *wk, int8_t *o,
                                                               int32_t n)
{
    int32_t s0, s1, s2, s3, s4, s5, xa, xb, w01, w2;
    __asm__ volatile(".p2align 2\n"
                     "1:\n\t"
                     "ldr %[s5], [%[wk], #24]\n\t" EQ_DWP_ASM_T6("0", "0", "s5", "s5", "s5", "s5", "s5", "s5")
                     EQ_DWP_ASM_T6("16", "8", "s0", "s1", "s2", "s3", "s4", "s5")
                     EQ_DWP_ASM_T6("32", "16", "s0", "s1", "s2", "s3", "s4", "s5")
                     "ldr %[w01], [%[wk], #28]\n\t"
                     "ldr %[xa], [%[wk], #32]\n\t"
                     "ldr %[xb], [%[wk], #36]\n\t" EQ_DWP_ASM_RQ6("s0", "[%[o]]")
                     "ldrh %[s0], [%[wk], #6]\n\t"
                     EQ_DWP_ASM_RQ6("s1", "[%[o], %[s0]]") "add %[o], %[o], %[s0], lsl #1\n\t"
                     EQ_DWP_ASM_RQ6("s2", "[%[o]]") EQ_DWP_ASM_RQ6("s3", "[%[o], %[s0]]")
                     "add %[o], %[o], %[s0], lsl #1\n\t" EQ_DWP_ASM_RQ6("s4", "[%[o]]")
                     EQ_DWP_ASM_RQ6("s5", "[%[o], %[s0]]") "add %[o], %[o], %[s0], lsl #1\n\t"
                     "adds %[q], %[q], #16\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [s4] "=&r"(s4),
                       [s5] "=&r"(s5), [xa] "=&r"(xa), [xb] "=&r"(xb), [w01] "=&r"(w01), [w2] "=&r"(w2),
                       [q] "+&r"(q), [o] "+&r"(o), [n] "+&r"(n)
                     : [wk] "r"(wk)
                     : "cc", "memory");
}
/* Three outputs of a row of eq_dw_small's whole-map planes, stride 1 or 2 (the small maps' rows of 3 or 6 outputs):
 * per input row its weight pair and w2 and two x words loaded back to back, the rest where needed (S1: 6 SMLAxy +
 * PKHBT over three x words, S2: 6 SMLAxy over four); q steps one plane row (rs bytes, in a register: the row length
 * depends on the map) after the row's last load, not just before a load (no address stall). The first row starts
 * the sums from the doubled bias (in s2 until its own tap). Then EQ_DWP_ASM_RQ6 per output (the step in q). */
#define EQ_DWS_ASM_R3(w, a0) /* both strides: the row's weights, two x words, the first output's first two taps */ \
    "ldr %[w01], [%[wk], #" w "]\n\t"                                                                     \
    "ldr %[w2], [%[wk], #" w " + 4]\n\t"                                                                  \
    "ldr %[xa], [%[q]]\n\t"                                                                               \
    "ldr %[xb], [%[q], #4]\n\t"                                                                           \
    "smlad %[s0], %[xa], %[w01], %[" a0 "]\n\t"                                                          \
    "smlabb %[s0], %[xb], %[w2], %[s0]\n\t"
#define EQ_DWS_ASM_R3S1(w, a0, a1, a2)                                                                    \
    EQ_DWS_ASM_R3(w, a0)                                                                                  \
    "pkhbt %[xa], %[xb], %[xa]\n\t"                                                                      \
    "smladx %[s1], %[xa], %[w01], %[" a1 "]\n\t"                                                         \
    "smlatb %[s1], %[xb], %[w2], %[s1]\n\t"                                                              \
    "smlad %[s2], %[xb], %[w01], %[" a2 "]\n\t"                                                          \
    "ldr %[xa], [%[q], #8]\n\t"                                                                           \
    "add %[q], %[q], %[rs]\n\t"                                                                           \
    "smlabb %[s2], %[xa], %[w2], %[s2]\n\t"
#define EQ_DWS_ASM_R3S2(w, a0, a1, a2)                                                                    \
    EQ_DWS_ASM_R3(w, a0)                                                                                  \
    "smlad %[s1], %[xb], %[w01], %[" a1 "]\n\t"                                                          \
    "ldr %[xa], [%[q], #8]\n\t"                                                                           \
    "ldr %[xb], [%[q], #12]\n\t"                                                                          \
    "add %[q], %[q], %[rs]\n\t"                                                                           \
    "smlabb %[s1], %[xa], %[w2], %[s1]\n\t"                                                              \
    "smlad %[s2], %[xa], %[w01], %[" a2 "]\n\t"                                                          \
    "smlabb %[s2], %[xb], %[w2], %[s2]\n\t"
/* A channel's Y output rows, three outputs each, in one loop: the step (C) in st, outputs at [o], [o, st],
 * [o, st, lsl #1]; then o to the next row's first output (oadv) and q back to the next row's first plane row
 * (qback: q has stepped three rows). */
#define EQ_DWS_ASM_CHAN3(row, qback, oadv)                                                                 \
    __asm__ volatile("ldrh %[st], [%[wk], #6]\n\t"                                                        \
                     ".p2align 2\n"                                                                        \
                     "1:\n\t"                                                                              \
                     "ldr %[s2], [%[wk], #24]\n\t" row("0", "s2", "s2", "s2") row("8", "s0", "s1", "s2")  \
                     row("16", "s0", "s1", "s2")                                                          \
                     "ldr %[w01], [%[wk], #28]\n\t"                                                       \
                     "ldr %[xa], [%[wk], #32]\n\t"                                                        \
                     "ldr %[xb], [%[wk], #36]\n\t" qback EQ_DWP_ASM_RQ6("s0", "[%[o]]")                   \
                     EQ_DWP_ASM_RQ6("s1", "[%[o], %[st]]") EQ_DWP_ASM_RQ6("s2", "[%[o], %[st], lsl #1]")  \
                     oadv                                                                                  \
                     "subs %[n], %[n], #1\n\t"                                                            \
                     "bne 1b\n\t"                                                                          \
                     : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [xa] "=&r"(xa), [xb] "=&r"(xb),      \
                       [w01] "=&r"(w01), [w2] "=&r"(w2), [q] "+&r"(q), [o] "+&r"(o), [n] "+&r"(n),         \
                       [st] "=&r"(st)                                                                     \
                     : [wk] "r"(wk), [rs] "r"(rs)                                                         \
                     : "cc", "memory")
/* Channels [0, nch) of a block (planes PS halfwords apart from q0, rows rs bytes apart; their blocks from wk; output
 * 0 of channel 0 at o0), Y >= 1 output rows each: S = 0 six outputs a row at stride 1 (eq_dwp_group6), S = 1 three,
 * S = 2 the first or second half of a row of six at stride 2 (q0 and o0 at that half's first input and output). Its
 * own function with the channel loop inside: eq_dw_small's registers stay out of the asm's way (one call a block; a
 * call a channel cost ~28 cycles of saved registers, the asm inlined three times 260 B more code). `unused`: a
 * config with EDGEQ_DW_SMALL 0 compiles its only caller out. */
static __attribute__((noinline, unused)) void eq_dws_chan3(const int16_t *q0, int32_t rs, const int32_t *wk,
                                                          int8_t *o0, int32_t Y, int32_t S, int32_t nch, int32_t PS)
{
    for (; nch > 0; --nch, q0 += PS, wk += EQ_DWP_WK, ++o0) {
        int32_t s0, s1, s2, xa, xb, w01, w2, st, n = Y;
        const int16_t *q = q0;
        int8_t *o = o0;
        if (S == 0) { /* six outputs a row at stride 1 */
            eq_dwp_group6(q, wk, o, Y);
        } else if (S == 1) {
            EQ_DWS_ASM_CHAN3(EQ_DWS_ASM_R3S1, "sub %[q], %[q], %[rs], lsl #1\n\t",
                             "add %[o], %[o], %[st], lsl #1\n\tadd %[o], %[o], %[st]\n\t");
        } else {
            EQ_DWS_ASM_CHAN3(EQ_DWS_ASM_R3S2, "sub %[q], %[q], %[rs]\n\t",
                             "add %[o], %[o], %[st], lsl #2\n\tadd %[o], %[o], %[st], lsl #1\n\t");
        }
    }
}
#undef EQ_DWS_ASM_CHAN3
#undef EQ_DWS_ASM_R3
#undef EQ_DWS_ASM_R3S1
#undef EQ_DWS_ASM_R3S2
#undef EQ_DWP_ASM_T6
#undef EQ_DWP_ASM_RQ6
static inline __attribute__((always_inline)) void eq_dwp_chan_fast(const int16_t *q0, const int16_t *q1,
                                                                  const int16_t *q2, const int32_t *wk, int8_t *o,
                                                                  int32_t X, int32_t S, int32_t groups)
{
    int32_t ox;
    for (ox = 0; groups && ox + 4 <= X; ox += 4) {
        int32_t s0, s1, s2, s3, xa, xb, w01, w2;
        if (S == 1) {
            EQ_DWP_ASM_GROUP(EQ_DWP_ASM_S1);
        } else {
            EQ_DWP_ASM_GROUP(EQ_DWP_ASM_S2);
        }
    }
    const int32_t os = (int32_t)((uint32_t)wk[1] >> 16); /* the output step, above w2 */
    for (; ox < X; ox += 2, q0 += 6 * S, q1 += 6 * S, q2 += 6 * S, o += 2 * os) {
        /* pairs (fewer than 4 left), the second output of the last stored if inside the row */
        int32_t s0, s1, xa, xb, w01, w2;
        if (S == 1) {
            EQ_DWP_ASM_PAIR(EQ_DWP_ASM_PAIR_S1);
        } else {
            EQ_DWP_ASM_PAIR(EQ_DWP_ASM_PAIR_S2);
        }
        o[0] = (int8_t)s0;
        if (ox + 1 < X) {
            o[os] = (int8_t)s1;
        }
    }
}
#undef EQ_DWP_ASM_GROUP
#undef EQ_DWP_STEP
#undef EQ_DWP_STEP_EARLY
#undef EQ_DWP_STEP_LATE
#undef EQ_DWP_ASM_PAIR
#undef EQ_DWP_ASM_PAIR_S1
#undef EQ_DWP_ASM_PAIR_S2
#undef EQ_DWP_ASM_RQ2
#undef EQ_DWP_ASM_RQ
#undef EQ_DWP_ASM_S1
#undef EQ_DWP_ASM_S2
#endif

#if defined(EQ_DW_3X3_ASM) && EDGEQ_DW_RELU_ONLY
/* The groups of four outputs of n channels' output row (stride 1 or 2) in one assembly function each: a channel's
 * weights RESIDENT in registers for its whole row (no reloads per group; ReLU-like layers only: the requantization
 * without the correction leaves no register for it). The ring of three plane rows interleaved word by word (row slot
 * s, word j at 12 j + 4 s bytes) so one pointer (r0) with immediate offsets reaches every tap; the ring's rotation is
 * which weight row goes with which slot (header words 9..11: the byte offset in the channel block of slot s's row).
 * Registers in the loop: r0 q (group base + 8), r1 wk, r2 o, r3..r5 the (w0, w1) pairs of slots 0..2, r6 the w2 of
 * slots 0 (bottom) and 1 (top), r7 slot 2's w2 (bottom) and the groups left (top: SUBS #0x10000, BHS), r8..r11 the
 * sums (the doubled bias their first addend), ip/lr x words, then m, h and e, the output step. Per channel its
 * weights from the block (wo), then q, o and wk step to the next channel. */
/* The header (EQ_DWP_HDR words at the start of the planar scratch): words 0..8 the callers' r4..r11, lr (saved there,
 * not on the stack), 9..11 wo, 12 the channel blocks' end, 13 the plane step less the groups' advance, 14 (groups -
 * 1) << 16, 15 1 less the groups' output advance. */
void edgeq_dwp_rows_s1(int32_t *hdr, const int32_t *wk, const int16_t *q, int8_t *o);
void edgeq_dwp_rows_s2(int32_t *hdr, const int32_t *wk, const int16_t *q, int8_t *o);
/* stride 1, slot with pair register W and w2 in half h ("b"/"t") of H: words at x0, x1, x2 (x2: "off]" or "off]!") */
#define EQ_DWR_T1(x0, x1, x2, W, H, h, a0, a1, a2, a3)                                                     \
    "ldr ip, [r0, #" x0 "]\n\t"                                                                           \
    "ldr lr, [r0, #" x1 "]\n\t"                                                                           \
    "smlad r8, ip, " W ", " a0 "\n\t"                                                                     \
    "smlab" h " r8, lr, " H ", r8\n\t"                                                                    \
    "pkhbt ip, lr, ip\n\t"                                                                                \
    "smladx r9, ip, " W ", " a1 "\n\t"                                                                    \
    "smlat" h " r9, lr, " H ", r9\n\t"                                                                    \
    "smlad r10, lr, " W ", " a2 "\n\t"                                                                    \
    "ldr ip, [r0, #" x2 "\n\t"                                                                            \
    "smlab" h " r10, ip, " H ", r10\n\t"                                                                  \
    "pkhbt lr, ip, lr\n\t"                                                                                \
    "smladx r11, lr, " W ", " a3 "\n\t"                                                                   \
    "smlat" h " r11, ip, " H ", r11\n\t"
#define EQ_DWR_G1                                                                                          \
    EQ_DWR_T1("-8", "4", "16]", "r3", "r6", "b", "r11", "r11", "r11", "r11")                              \
    EQ_DWR_T1("-4", "8", "20]", "r4", "r6", "t", "r8", "r9", "r10", "r11")                                \
    EQ_DWR_T1("0", "12", "24]!", "r5", "r7", "b", "r8", "r9", "r10", "r11")
/* stride 2: five words a slot */
#define EQ_DWR_T2(x0, x1, x2, x3, x4, W, H, h, a0, a1, a2, a3)                                             \
    "ldr ip, [r0, #" x0 "]\n\t"                                                                           \
    "ldr lr, [r0, #" x1 "]\n\t"                                                                           \
    "smlad r8, ip, " W ", " a0 "\n\t"                                                                     \
    "smlab" h " r8, lr, " H ", r8\n\t"                                                                    \
    "smlad r9, lr, " W ", " a1 "\n\t"                                                                     \
    "ldr ip, [r0, #" x2 "]\n\t"                                                                           \
    "ldr lr, [r0, #" x3 "]\n\t"                                                                           \
    "smlab" h " r9, ip, " H ", r9\n\t"                                                                    \
    "smlad r10, ip, " W ", " a2 "\n\t"                                                                    \
    "smlab" h " r10, lr, " H ", r10\n\t"                                                                  \
    "smlad r11, lr, " W ", " a3 "\n\t"                                                                    \
    "ldr ip, [r0, #" x4 "\n\t"                                                                            \
    "smlab" h " r11, ip, " H ", r11\n\t"
#define EQ_DWR_G2                                                                                          \
    EQ_DWR_T2("-8", "4", "16", "28", "40]", "r3", "r6", "b", "r11", "r11", "r11", "r11")                  \
    EQ_DWR_T2("-4", "8", "20", "32", "44]", "r4", "r6", "t", "r8", "r9", "r10", "r11")                    \
    EQ_DWR_T2("0", "12", "24", "36", "48]!", "r5", "r7", "b", "r8", "r9", "r10", "r11")
#define EQ_DWR_FUNC(name, group)                                                                           \
    __asm__(".pushsection .text." name ",\"ax\",%progbits\n\t"                                             \
            ".balign 4\n\t"                                                                               \
            ".global " name "\n\t"                                                                        \
            ".type " name ", %function\n\t"                                                               \
            ".thumb_func\n" name ":\n\t"                                                                  \
            "stm r0, {r4-r11, lr}\n\t"                                                                    \
            "push {r0}\n\t"                                                                               \
            "mov lr, r0\n\t"                                                                              \
            "mov r0, r2\n\t"                                                                              \
            "mov r2, r3\n"                                                                                 \
            "2:\n\t"                                                                                      \
            "ldr r9, [lr, #36]\n\t"                                                                       \
            "ldr r10, [lr, #40]\n\t"                                                                      \
            "ldr r11, [lr, #44]\n\t"                                                                      \
            "ldr r7, [lr, #56]\n\t"                                                                       \
            "ldr r3, [r1, r9]\n\t"                                                                        \
            "ldr r4, [r1, r10]\n\t"                                                                       \
            "ldr r5, [r1, r11]\n\t"                                                                       \
            "add r9, r9, #4\n\t"                                                                          \
            "add r10, r10, #4\n\t"                                                                        \
            "add r11, r11, #4\n\t"                                                                        \
            "ldr r6, [r1, r9]\n\t"                                                                        \
            "ldr r8, [r1, r10]\n\t"                                                                       \
            "ldr ip, [r1, r11]\n\t"                                                                       \
            "pkhbt r6, r6, r8, lsl #16\n\t"                                                               \
            "pkhbt r7, ip, r7\n\t"                                                                        \
            ".balign 4\n"                                                                                 \
            "1:\n\t"                                                                                      \
            "ldr r11, [r1, #24]\n\t" group                                                                \
            "ldr ip, [r1, #28]\n\t"                                                                       \
            "ldr lr, [r1, #32]\n\t"                                                                       \
            "smmlar r8, r8, ip, lr\n\t"                                                                   \
            "smmlar r9, r9, ip, lr\n\t"                                                                   \
            "smmlar r10, r10, ip, lr\n\t"                                                                 \
            "smmlar r11, r11, ip, lr\n\t"                                                                 \
            "ldr ip, [r1, #36]\n\t"                                                                       \
            "ldrh lr, [r1, #6]\n\t"                                                                       \
            "asr r8, r8, ip\n\t"                                                                          \
            "asr r9, r9, ip\n\t"                                                                          \
            "asr r10, r10, ip\n\t"                                                                        \
            "asr r11, r11, ip\n\t"                                                                        \
            "ssat r8, #8, r8\n\t"                                                                         \
            "ssat r9, #8, r9\n\t"                                                                         \
            "strb r8, [r2]\n\t"                                                                           \
            "strb r9, [r2, lr]\n\t"                                                                       \
            "add r2, r2, lr, lsl #1\n\t"                                                                  \
            "ssat r10, #8, r10\n\t"                                                                       \
            "ssat r11, #8, r11\n\t"                                                                       \
            "strb r10, [r2]\n\t"                                                                          \
            "strb r11, [r2, lr]\n\t"                                                                      \
            "add r2, r2, lr, lsl #1\n\t"                                                                  \
            "subs r7, r7, #0x10000\n\t"                                                                   \
            "bhs 1b\n\t"                                                                                  \
            "add r1, r1, #40\n\t"                                                                         \
            "ldr lr, [sp]\n\t"                                                                            \
            "ldr ip, [lr, #52]\n\t"                                                                       \
            "ldr r8, [lr, #60]\n\t"                                                                       \
            "ldr r9, [lr, #48]\n\t"                                                                       \
            "add r0, r0, ip\n\t"                                                                          \
            "add r2, r2, r8\n\t"                                                                          \
            "cmp r1, r9\n\t"                                                                              \
            "bne 2b\n\t"                                                                                  \
            "pop {r0}\n\t"                                                                                \
            "ldm r0, {r4-r11, pc}\n\t"                                                                    \
            ".size " name ", . - " name "\n\t"                                                            \
            ".popsection");
EQ_DWR_FUNC("edgeq_dwp_rows_s1", EQ_DWR_G1)
EQ_DWR_FUNC("edgeq_dwp_rows_s2", EQ_DWR_G2)
#undef EQ_DWR_FUNC
#undef EQ_DWR_G1
#undef EQ_DWR_G2
#undef EQ_DWR_T1
#undef EQ_DWR_T2
#endif

/* n channels' output row of X outputs, stride S along it, outputs os bytes apart: the planes at pl (channel k at
 * + k * ps; the ring's three slots interleaved word by word, eq_dw_planar3x3), input row r of the window in slot
 * (rot + r) % 3, the channels' blocks at wb, the scratch's header at hdr. */
static void eq_dwp_row(int32_t *hdr, const int16_t *pl, int32_t rot, int32_t ps, const int32_t *wb, int32_t n,
                       int8_t *o, int32_t os, int32_t X, int32_t S, int32_t zq, int32_t lo, int32_t hi)
{
    const int32_t s1 = rot == 2 ? 0 : rot + 1, s2 = rot == 0 ? 2 : rot - 1; /* the slots of rows 1 and 2 */
    const int16_t *r0 = pl + 2 * rot, *r1 = pl + 2 * s1, *r2 = pl + 2 * s2;
    int32_t k;
#if defined(EQ_DW_3X3_ASM) && EDGEQ_DW_RELU_ONLY
    const int32_t G = X >> 2, t = 12 * S * G; /* the groups; the tail's first column (halfword offset) */
    (void)zq, (void)lo, (void)hi;
    hdr[9 + rot] = 0, hdr[9 + s1] = 8, hdr[9 + s2] = 16;
    hdr[12] = (int32_t)(intptr_t)(wb + EQ_DWP_WK * n), hdr[13] = 2 * ps - 24 * S * G, hdr[14] = (G - 1) << 16;
    hdr[15] = 1 - 4 * G * os;
    if (S == 1) {
        edgeq_dwp_rows_s1(hdr, wb, pl + 4, o);
    } else {
        edgeq_dwp_rows_s2(hdr, wb, pl + 4, o);
    }
    if (X & 3) { /* the pairs after the groups */
        o += (size_t)4 * G * os, r0 += t, r1 += t, r2 += t;
        for (k = 0; k < n; ++k, r0 += ps, r1 += ps, r2 += ps, wb += EQ_DWP_WK, ++o) {
            eq_dwp_chan_fast(r0, r1, r2, wb, o, X & 3, S, 0);
        }
    }
#elif defined(EQ_DW_3X3_ASM) /* the fast kind only (eq_dw_planar3x3 checks) */
    (void)hdr, (void)os, (void)zq, (void)lo, (void)hi;
    if (S == 1) {
        for (k = 0; k < n; ++k, r0 += ps, r1 += ps, r2 += ps, wb += EQ_DWP_WK, ++o) {
            eq_dwp_chan_fast(r0, r1, r2, wb, o, X, 1, 1);
        }
    } else {
        for (k = 0; k < n; ++k, r0 += ps, r1 += ps, r2 += ps, wb += EQ_DWP_WK, ++o) {
            eq_dwp_chan_fast(r0, r1, r2, wb, o, X, 2, 1);
        }
    }
#else
    (void)hdr;
    for (k = 0; k < n; ++k, r0 += ps, r1 += ps, r2 += ps, wb += EQ_DWP_WK, ++o) {
        eq_dwp_chan_cs(r0, r1, r2, wb, zq, lo, hi, o, os, 0, X, S, 3);
    }
#endif
}

/* The channel blocks (EQ_DWP_WK words each) of channels [c0, c0 + n) (c0 and n multiples of 4): the doubled weight
 * pairs from dw_w (channels 4g..4g + 3, tap t: word 18g + 2t holds channels 4g (low half) and 4g + 2 (top half),
 * word 18g + 2t + 1 channels 4g + 1 and 4g + 3; tap (ky, kx) of the map seen transposed (T) is (kx, ky)), the
 * doubled bias, rq; the output step oxs (at most 65535) in the top half of word 1 (the SMLAxB taps read only w2's
 * bottom half). Four channels at a time: each dw_w word read once, both its halves doubled in place. */
static inline __attribute__((always_inline)) void eq_dwp_weights(const edgeq_conv_params *p, int32_t *wb,
                                                                 int32_t c0, int32_t n, int32_t T, int32_t oxs)
{
    const int32_t ty = T ? 2 : 6, tx = T ? 6 : 2; /* word steps of the taps */
    const uint32_t *ww = (const uint32_t *)p->dw_w + 18 * (c0 >> 2);
    int32_t *d = wb, *end = wb + EQ_DWP_WK * n, r;
    for (; d < end; ww += 18, d += 4 * EQ_DWP_WK) {
        for (r = 0; r < 6; ++r) { /* row r >> 1 of channels (r & 1) (low halves) and (r & 1) + 2 (top halves) */
            const uint32_t *w = ww + ty * (r >> 1) + (r & 1);
            const uint32_t a = w[0], b = w[tx], c = w[2 * tx];
            int32_t *lo = d + EQ_DWP_WK * (r & 1) + 2 * (r >> 1);
            lo[0] = (int32_t)(((a << 17) >> 16) | (b << 17));
            lo[1] = (int32_t)((c << 17) >> 16);
            lo[2 * EQ_DWP_WK] = (int32_t)(((a >> 15) & 0xfffeu) | ((b >> 16) << 17));
            lo[2 * EQ_DWP_WK + 1] = (int32_t)((c >> 15) & 0xfffeu);
        }
    }
    for (d = wb, r = c0; d < end; d += EQ_DWP_WK, ++r) {
        d[6] = (int32_t)(2u * (uint32_t)(p->bias ? p->bias[r] : 0));
        memcpy(d + 7, p->rq + 3 * r, 12);
        d[1] |= (int32_t)((uint32_t)oxs << 16);
    }
}

/* 3x3, depth multiplier 1, no dilation, in_c a multiple of 4, rq and dw_w, stride 1 or 2 along the plane rows
 * (any stride across them): returns 0 where it does not apply or EDGEQ_DW_PLANE_BYTES holds fewer than 4
 * channels. The plane rows run along x, or along y (the map seen transposed, the weights too) when the output has
 * more rows than columns: fewer, longer rows per channel (KWS's 25 x 5 maps: 5 passes of 25 instead of 25 of 5). */
/* noinline: its stack buffer and eq_dw_padded3x3_m1's are never live together */
static __attribute__((noinline)) int eq_dw_planar3x3(const edgeq_conv_params *p, const int8_t *in,
                                                    int8_t *restrict out)
{
    int32_t buf[EDGEQ_DW_PLANE_BYTES / 4];
    const int32_t C = p->in_c, T = p->out_h > p->out_w; /* T: transposed */
    /* along the plane rows (x) and across them (y): sizes, stride, padding, byte steps of input and output */
    const int32_t Xo = T ? p->out_h : p->out_w, Yo = T ? p->out_w : p->out_h;
    const int32_t S = T ? p->stride_h : p->stride_w, SY = T ? p->stride_w : p->stride_h;
    const int32_t pad_x = T ? p->pad_h : p->pad_w, pad_y = T ? p->pad_w : p->pad_h;
    const int32_t in_x = T ? p->in_h : p->in_w, in_y = T ? p->in_w : p->in_h;
    const int32_t row_px = p->in_w * C; /* bytes between input rows */
    const int32_t ixs = T ? row_px : C, iys = T ? C : row_px;
    const int32_t oxs = T ? p->out_w * C : C, oys = T ? C : p->out_w * C;
    const int32_t WP = 2 * S * ((Xo + 1) >> 1) + 2;
    const int32_t per_ch = 6 * WP + 4 * EQ_DWP_WK;
    const int32_t lo = pad_x, hi = pad_x + in_x < WP ? pad_x + in_x : WP;
    const int32_t off2 = eq_dup16(p->in_offset);
    const int32_t zq = eq_rq_zp(p->rq, p->out_offset);
    int32_t nb = ((EDGEQ_DW_PLANE_BYTES - 4 * EQ_DWP_HDR) / per_ch) & ~3;
    int32_t b, c0, oy;
    /* Measured on MLPerf Tiny (est. M4 cycles per layer against eq_dw_padded3x3_m1 / the per-pixel kernel): pays
     * from 8 outputs per plane row at stride 1 (KWS 25 x 5 seen transposed, VWW 48/24/12-wide maps), from 12 at
     * stride 2 (VWW 24 -> 12 x 32: 220.7k -> 207.0k; 12 -> 6 x 64 and 6 -> 3 x 128 lose: 113.5k -> 139.1k,
     * 58.6k -> 121.5k); on shorter rows the per-row setup and the partial groups cost more than the per-pixel
     * kernel. */
    if ((C & 3) || (S != 1 && S != 2) || Xo < 8 + 4 * (S - 1) || p->dil_h != 1 || p->dil_w != 1 || nb < 4 ||
        !p->rq || !p->dw_w || oxs > 65535) {
        return 0;
    }
#if defined(EQ_DW_3X3_ASM)
    if (zq != 0 || p->act_min != -128 || p->act_max != 127 || (EDGEQ_DW_RELU_ONLY && p->out_offset != -128)) {
        /* the assembly's kind only; C builds take any */
        return 0;
    }
#endif
    nb = nb < C ? nb : C;
    for (c0 = 0; c0 < C; c0 += nb) {
        const int32_t n = C - c0 < nb ? C - c0 : nb;
        int32_t *wb = buf + EQ_DWP_HDR;
        /* channel k's plane: pl + 3 * WP * k, the ring's three slots interleaved word by word (slot s, column j at
         * [6 * (j >> 1) + 2 * s + (j & 1)]) */
        int16_t *pl = (int16_t *)(wb + EQ_DWP_WK * n);
        eq_dwp_weights(p, wb, c0, n, T, oxs);
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (size_t)b * p->in_h * row_px;
            int8_t *out_b = out + (size_t)b * p->out_h * p->out_w * C;
            int32_t last = -pad_y - 1; /* the last input row in the ring */
            memset(pl, 0, (size_t)3 * n * WP * 2);
            for (oy = 0; oy < Yo; ++oy) {
                const int32_t iy0 = oy * SY - pad_y;
                const int32_t rot = ((iy0 % 3) + 3) % 3; /* the ring's slot of the window's first row */
                int32_t iy;
                for (iy = iy0; iy < iy0 + 3; ++iy) {
                    const int32_t s = ((iy % 3) + 3) % 3;
                    if (iy <= last) {
                        continue;
                    }
                    last = iy;
                    if (iy >= 0 && iy < in_y) {
                        if (hi > lo) {
                            eq_dwp_fill_row(buf, in_b + (size_t)iy * iys + (size_t)(lo - pad_x) * ixs + c0,
                                            ixs, pl + 2 * s, 3 * WP, n, lo, hi, off2);
                        }
                    } else if (oy > 0) { /* a padding row below the map (above it: the slot is still clear) */
                        int32_t *d = (int32_t *)(void *)(pl + 2 * s), *e = d + (size_t)3 * (WP >> 1) * n;
                        for (; d < e; d += 3) { /* the slot's words of every channel (its columns outside [lo, hi)
                                                 * are zero too) */
                            *d = 0;
                        }
                    }
                }
                eq_dwp_row(buf, pl, rot, 3 * WP, wb, n, out_b + (size_t)oy * oys + c0, oxs, Xo, S, zq, p->act_min,
                           p->act_max);
            }
        }
    }
    return 1;
}

#if defined(EQ_DW_3X3_ASM)
/* Four channels' input map into their planes (eq_dw_small) where each row is whole pixel pairs from an even column
 * (12 -> 6 at stride 2: six pairs a row): s at channel c of pixel (0, 0), d at plane 0's row pad_h, column pad_w
 * (planes PS halfwords apart, rows WP), np pairs a row. Per pair: two words each
 * sign-extended + offset into two halves, packed into the four planes, stored with the four plane pointers
 * stepping (post-indexed: one cycle each; the C loop pays two for each halfword store at a register offset).
 * `unused`: as eq_dws_chan3. */
static __attribute__((noinline, unused)) void eq_dws_fill_pairs(const edgeq_conv_params *p, const int8_t *s,
                                                               int16_t *d, int32_t PS, int32_t WP, int32_t rows,
                                                               int32_t np)
{
    const int32_t C = p->in_c, P = 2 * PS, rpx = p->in_w * C, WB = 2 * WP, off2 = eq_dup16(p->in_offset);
    int32_t r;
    char *row = (char *)d;
    for (r = rows; r > 0; --r, s += rpx, row += WB) {
        const int8_t *x = s;
        char *d0 = row, *d1 = row + P, *d2 = row + 2 * P, *d3 = row + 3 * P;
        int32_t va, vb, ea, eb, t, n = np;
        __asm__ volatile("1:\n\t"
                         "ldr %[va], [%[x]]\n\t"
                         "ldr %[vb], [%[x], %[C]]\n\t"
                         "add %[x], %[x], %[C], lsl #1\n\t"
                         "sxtab16 %[ea], %[off2], %[va]\n\t"
                         "sxtab16 %[va], %[off2], %[va], ror #8\n\t"
                         "sxtab16 %[eb], %[off2], %[vb]\n\t"
                         "sxtab16 %[vb], %[off2], %[vb], ror #8\n\t"
                         "pkhbt %[t], %[ea], %[eb], lsl #16\n\t"
                         "str %[t], [%[d0]], #4\n\t"
                         "pkhtb %[eb], %[eb], %[ea], asr #16\n\t"
                         "str %[eb], [%[d2]], #4\n\t"
                         "pkhbt %[t], %[va], %[vb], lsl #16\n\t"
                         "str %[t], [%[d1]], #4\n\t"
                         "pkhtb %[vb], %[vb], %[va], asr #16\n\t"
                         "str %[vb], [%[d3]], #4\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [x] "+&r"(x), [d0] "+&r"(d0), [d1] "+&r"(d1), [d2] "+&r"(d2), [d3] "+&r"(d3), [n] "+&r"(n),
                           [va] "=&r"(va), [vb] "=&r"(vb), [ea] "=&r"(ea), [eb] "=&r"(eb), [t] "=&r"(t)
                         : [C] "r"(C), [off2] "r"(off2)
                         : "cc", "memory");
    }
}
#endif

/* 3x3, no dilation, small maps (VWW's 6 x 6 x 128 s1, 3 x 3 x 256 s1, 12 -> 6 x 64 s2): 6 outputs a row at stride
 * 1 or 2, or 3 at stride 1, at most 8 rows, the same stride both ways, in_c a multiple of 4, rq and the generated
 * channel blocks dwp (ops_core._dw_small_blocks: EQ_DWP_WK words a channel, read in place: no per-layer weight
 * construction). Per block of channels each channel's whole input map (zeros around it: the raw bias applies) as
 * one PH x WP int16 plane of x + in_offset (rows of whole pixel pairs: eq_dws_fill_pairs), then each channel's
 * rows in one loop (eq_dws_chan3): six outputs at stride 1 eq_dwp_group6, otherwise three (a row of six at stride 2
 * as two halves); the C builds eq_dwp_chan_c. The planes sit at one place for every block, zeroed once per layer
 * (the copies rewrite only the inside). Stack: EDGEQ_DW_PLANE_BYTES, 2 PH WP bytes a channel (scratch.py
 * _dsp_small). Its own function: eq_dw_planar3x3's frame stays as it was (the stack peak of KWS). Measured (est. M4
 * cycles a layer, against eq_dw_small's predecessor (6 x 6 s1 only, building the blocks at run time), the padded
 * rows and the per-pixel kernel): 6 x 6 x 128 s1 123.9k -> 115.8k, 3 x 3 x 256 s1 104.4k -> 77.0k, 12 -> 6 x 64
 * s2 109.8k -> 88.5k; 6 -> 3 x 128 s2 took it at 58.1k against 55.5k on the padded rows (the plane copies of a
 * stride-2 map: four inputs an output) and does not. */
#ifndef EDGEQ_DW_SMALL
#define EDGEQ_DW_SMALL 1 /* 0: the generator's per-model config, no layer holds dwp (scratch.py dw_small) */
#endif
#if EDGEQ_DW_SMALL /* (called for the layers with dwp only: the generator's blocks mark the layers it takes) */
static __attribute__((noinline)) int eq_dw_small(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t buf[EDGEQ_DW_PLANE_BYTES / 4];
    const int32_t C = p->in_c, row_px = p->in_w * C, off2 = eq_dup16(p->in_offset);
    const int32_t S = p->stride_w, X = p->out_w, Y = p->out_h;
    const int32_t WP = 2 * S * ((X + 1) >> 1) + 2, PH = (Y - 1) * S + 3, PS = PH * WP; /* plane: PH rows of WP */
    const int32_t lo = p->pad_w, hi = p->pad_w + p->in_w < WP ? p->pad_w + p->in_w : WP;
    const int32_t iy1 = p->pad_h + p->in_h < PH ? p->in_h : PH - p->pad_h; /* input rows [0, iy1) in the plane */
#if !defined(EQ_DW_3X3_ASM)
    const int32_t zq = eq_rq_zp(p->rq, p->out_offset);
#endif
    int32_t nb = (EDGEQ_DW_PLANE_BYTES / (2 * PS)) & ~3;
    int32_t b, c0, k, iy;
    if ((C & 3) || (X != 3 && X != 6) || (X == 3 && S != 1) || Y > 8 || (S != 1 && S != 2) ||
        p->stride_h != S || p->dil_h != 1 || p->dil_w != 1 || nb < 4 || C > 65535 || hi <= lo || iy1 <= 0) {
        return 0;
    }
    /* (the assembly builds call it for the fast requantization kind only: edgeq_depthwise_conv2d_s8) */
    nb = nb < C ? nb : C;
    for (c0 = 0; c0 < C; c0 += nb) {
        const int32_t n = C - c0 < nb ? C - c0 : nb;
        int16_t *pl = (int16_t *)buf; /* channel k's plane: pl + PS k, row r at + WP r */
        const int32_t *wb = p->dwp + EQ_DWP_WK * c0;
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (size_t)b * p->in_h * row_px + c0;
            int8_t *out_b = out + (size_t)b * X * Y * C + c0;
            if (c0 == 0 && b == 0) {
                memset(pl, 0, (size_t)nb * PS * 2);
            }
#if defined(EQ_DW_3X3_ASM)
            if (!(lo & 1) && !((hi - lo) & 1) && hi - lo >= 8) { /* whole pairs: 12 -> 6 x 64 s2 -15k cycles */
                for (k = 0; k < n; k += 4) {
                    eq_dws_fill_pairs(p, in_b + k, pl + PS * k + WP * p->pad_h + lo, PS, WP, iy1, (hi - lo) >> 1);
                }
            } else
#endif
            for (iy = 0; iy < iy1; ++iy) { /* input row iy at plane row pad_h + iy: four channels a pixel */
                for (k = 0; k < n; k += 4) {
                    const int8_t *s = in_b + (size_t)iy * row_px + k;
                    int16_t *d = pl + PS * k + WP * (p->pad_h + iy) + lo, *e = d + (hi - lo);
                    for (; d < e; s += C, ++d) {
                        const int32_t v = eq_load32(s), ev = eq_sxtab16(off2, v), od = eq_sxtab16_ror8(off2, v);
                        eq_st1h(d, ev);
                        eq_st1h(d + PS, od);
                        eq_st1h(d + 2 * PS, ev >> 16);
                        eq_st1h(d + 3 * PS, od >> 16);
                    }
                }
            }
#if defined(EQ_DW_3X3_ASM)
            eq_dws_chan3(pl, 2 * WP, wb, out_b, Y, X == 6 && S == 1 ? 0 : S, n, PS);
            if (X == 6 && S == 2) { /* a row of six at stride 2: two halves */
                eq_dws_chan3(pl + 6, 2 * WP, wb, out_b + 3 * C, Y, 2, n, PS);
            }
#else
            for (k = 0; k < n; ++k) {
                const int16_t *q = pl + PS * k;
                const int32_t *wk = wb + EQ_DWP_WK * k;
                int8_t *o = out_b + k;
                for (int32_t oy = 0; oy < Y; ++oy, q += S * WP) {
                    eq_dwp_chan_c(q, q + WP, q + 2 * WP, wk, zq, p->act_min, p->act_max, o, C, 0, X, S);
                    o += X * C;
                }
            }
#endif
        }
    }
    return 1;
}
#else
#define eq_dw_small(p, in, out) 0
#endif

/* 3x3, no dilation, narrow rows: per output row, the three input rows it reads copied into the stack with the input
 * zero point in the padding (taps there add w * (zp + in_offset) == 0, like the taps TFLM skips), so every window is
 * full and takes the unrolled kernel with bias_eff: no clipped windows, no border cases. Channels in_c & ~3 (the
 * rest one pixel at a time); returns 0 where it does not apply. */
static __attribute__((noinline)) int eq_dw_padded3x3_m1(const edgeq_conv_params *p, const int8_t *in,
                                                       int8_t *restrict out)
{
    int32_t buf[EDGEQ_DW_PAD_BYTES / 4];
    const int32_t C = p->in_c, C4 = p->in_c & ~3, S = p->stride_w;
    const int32_t wp = (p->out_w - 1) * S + 3;
    const int32_t cb = (EDGEQ_DW_PAD_BYTES / (3 * wp)) & ~3;
    const int32_t zpw = (int32_t)(0x01010101u * (uint8_t)(int8_t)(-p->in_offset));
    int32_t b, oy, ox, c0, ky, col, i;
    /* One block must hold every channel. Measured on MLPerf Tiny (est. cycles per layer): pays for every stride-1
     * layer (VWW's 48- to 3-wide maps, KWS's 5-wide ones) and narrow stride-2 rows; on stride-2 rows wider than 4
     * the copies cost more than the clipped windows they save. */
    if (cb < C4 || (S != 1 && p->out_w > 4) || p->dil_h != 1 || p->dil_w != 1) {
        return 0;
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * C;
        for (oy = 0; oy < p->out_h; ++oy, out += (size_t)p->out_w * C) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (c0 = 0; c0 < C4; c0 += cb) {
                const int32_t nb = C4 - c0 < cb ? C4 - c0 : cb, nw = nb >> 2;
                int32_t *dst = buf;
                for (ky = 0; ky < 3; ++ky, dst += wp * nw) {
                    const int32_t iy = iy0 + ky;
                    const int32_t lo = iy < 0 || iy >= p->in_h ? wp : (p->pad_w < wp ? p->pad_w : wp);
                    const int32_t hi = lo == wp ? wp : (p->pad_w + p->in_w < wp ? p->pad_w + p->in_w : wp);
                    for (i = 0; i < lo * nw; ++i) {
                        dst[i] = zpw;
                    }
                    for (i = hi * nw; i < wp * nw; ++i) {
                        dst[i] = zpw;
                    }
                    if (hi > lo && nb == C) { /* the inside of the row is one contiguous run */
                        eq_copy_words(dst + lo * nw, in_b + ((size_t)iy * p->in_w + lo - p->pad_w) * C,
                                      (hi - lo) * nw);
                    } else {
                        for (col = lo; col < hi; ++col) {
                            eq_copy_words(dst + col * nw, in_b + ((size_t)iy * p->in_w + col - p->pad_w) * C, nw);
                        }
                    }
                }
                eq_dw_full3x3_m1(p, (const int8_t *)buf, nb, wp * nb, c0, c0 + nb, out, p->out_w, S * nb);
            }
            if (C4 < C) {
                for (ox = 0; ox < p->out_w; ++ox) {
                    const int32_t ix0 = ox * S - p->pad_w;
                    int32_t ky0, ky1, kx0, kx1;
                    eq_valid_taps(iy0, 1, 3, p->in_h, &ky0, &ky1);
                    eq_valid_taps(ix0, 1, 3, p->in_w, &kx0, &kx1);
                    eq_dw_pixel_m1(p, in_b, iy0, ix0, ky0, ky1, kx0, kx1, C4, out + (size_t)ox * C);
                }
            }
        }
    }
    return 1;
}

/* Any window (clipped by the border or not), depth multiplier 1, dw_w present: taps [ky0, ky1) x [kx0, kx1),
 * SXTAB16 adds in_offset while sign-extending, so the raw bias applies (TFLM skips the taps outside). Returns
 * the number of channels done (in_c & ~3). */
static int32_t eq_dw_window4_m1(const edgeq_conv_params *p, const int8_t *x_base, int32_t ky0, int32_t ky1,
                                int32_t kx0, int32_t kx1, int8_t *restrict out)
{
    const int32_t C4 = p->in_c & ~3;
    const int32_t off2 = eq_dup16(p->in_offset);
    const int32_t xs = p->dil_w * p->in_c;
    const int32_t ys = p->dil_h * p->in_w * p->in_c;
    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
    const int32_t taps2 = 2 * p->k_h * p->k_w;
    const int32_t *wg = p->dw_w + 2 * (ky0 * p->k_w + kx0);
    const int32_t zq = p->rq ? eq_rq_zp(p->rq, p->out_offset) : p->out_offset;
    int32_t c, ky, kx;
    for (c = 0; c < C4; c += 4, wg += taps2) {
        const int8_t *xr = x_base + c;
        const int32_t *wr = wg;
        int32_t a0 = p->bias[c], a1 = p->bias[c + 1], a2 = p->bias[c + 2], a3 = p->bias[c + 3];
        for (ky = 0; ky < n_ky; ++ky, xr += ys, wr += 2 * p->k_w) {
            const int8_t *xp = xr;
            const int32_t *wp = wr;
            for (kx = 0; kx < n_kx; ++kx, xp += xs, wp += 2) {
                const int32_t xv = eq_load32(xp);
                EQ_DW_TAP4(eq_sxtab16(off2, xv), eq_sxtab16_ror8(off2, xv), wp);
            }
        }
        out[c] = eq_requant_zq(a0, p, c, zq);
        out[c + 1] = eq_requant_zq(a1, p, c + 1, zq);
        out[c + 2] = eq_requant_zq(a2, p, c + 2, zq);
        out[c + 3] = eq_requant_zq(a3, p, c + 3, zq);
    }
    return C4;
}
#endif /* !EDGEQ_MVE */
#endif

/* Depth multiplier 1: four channels at a time, taps inner, so the accumulators stay in registers and
 * every load brings four channels. Channels from c_start on. */
static void eq_dw_pixel_m1(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int32_t ky0,
                           int32_t ky1, int32_t kx0, int32_t kx1, int32_t c_start, int8_t *restrict out)
{
    const int32_t C = p->in_c;
    const int32_t full = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w;
    const int32_t zq = p->rq ? eq_rq_zp(p->rq, p->out_offset) : p->out_offset;
    int32_t c = c_start, ky, kx, j;
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE) /* Helium: its own loops; the tail channels in plain C */
    /* dw_w (generated for every depth multiplier 1 layer with 4+ channels): four channels at a time, SXTAB16 adding
     * in_offset while sign-extending; the tail channels (and parameters without dw_w) in plain C below. */
    if (p->dw_w && c == 0) {
        c = eq_dw_window4_m1(p, in_b + ((size_t)(iy0 + p->dil_h * ky0) * p->in_w + ix0 + p->dil_w * kx0) * C, ky0, ky1,
                             kx0, kx1, out);
    }
#endif
    for (; c < C; c += 4) {
        const int32_t n = C - c < 4 ? C - c : 4;
        int32_t acc[4] = {0, 0, 0, 0}, ws[4] = {0, 0, 0, 0};
        for (j = 0; j < n; ++j) {
            acc[j] = full ? p->bias_eff[c + j] : (p->bias ? p->bias[c + j] : 0);
        }
        for (ky = ky0; ky < ky1; ++ky) {
            for (kx = kx0; kx < kx1; ++kx) {
                const int8_t *xp = in_b + ((size_t)(iy0 + p->dil_h * ky) * p->in_w + (ix0 + p->dil_w * kx)) * C + c;
                const int8_t *wp = p->filter + ((size_t)ky * p->k_w + kx) * C + c;
                for (j = 0; j < n; ++j) {
                    acc[j] += (int32_t)wp[j] * xp[j];
                    ws[j] += wp[j];
                }
            }
        }
        for (j = 0; j < n; ++j) {
            out[c + j] = eq_requant_zq(full ? acc[j] : acc[j] + ws[j] * p->in_offset, p, c + j, zq);
        }
    }
}


void edgeq_depthwise_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, ic, m, ky, kx;
    int32_t zq;
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
    /* the 3x3 paths; the assembly builds' only for the fast requantization kind (no activation clamp, the zero point
     * folded into rq or zero: every MLPerf Tiny layer), the rarer layers take the per-pixel path (code size) */
    const int32_t fast3x3 = p->dw_w && p->rq && p->depth_mult == 1 && p->k_h == 3 && p->k_w == 3
#if defined(EQ_DW_3X3_ASM)
                            && eq_rq_zp(p->rq, p->out_offset) == 0 && p->act_min == -128 && p->act_max == 127
                            && (!EDGEQ_DW_RELU_ONLY || p->out_offset == -128)
#endif
        ;
#endif
#ifdef EDGEQ_MVE
    if (edgeq_dw_mve(p, in, out)) { /* edgeq_dwconv_mve.c */
        return;
    }
#elif defined(EDGEQ_DSP)
    if (fast3x3 && ((p->dwp && eq_dw_small(p, in, out)) || eq_dw_planar3x3(p, in, out) ||
                     eq_dw_padded3x3_m1(p, in, out))) {
        return;
    }
#endif
    zq = p->rq ? eq_rq_zp(p->rq, p->out_offset) : p->out_offset; /* zp folded into rq or not (after the fast paths) */
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            eq_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                eq_valid_taps(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                if (p->depth_mult == 1) {
                    int32_t c0 = 0;
#if defined(EDGEQ_MVE)
                    c0 = edgeq_dw_mve_pixel(p, in_b + ((size_t)(iy0 + p->dil_h * ky0) * p->in_w + ix0 +
                                                       p->dil_w * kx0) * p->in_c,
                                            p->dil_h * p->in_w * p->in_c, ky0, ky1, kx0, kx1, out);
#elif defined(EDGEQ_DSP)
                    if (fast3x3) {
                        if (ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
                            /* no tail channels: the whole run of full windows in this row in one call */
                            int32_t n = 1;
                            if (!(p->in_c & 3)) {
                                n = (p->in_w - 1 - 2 * p->dil_w + p->pad_w) / p->stride_w + 1;
                                n = (n < p->out_w ? n : p->out_w) - ox;
                            }
                            eq_dw_full3x3_m1(p, in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c, p->dil_w * p->in_c,
                                             p->dil_h * p->in_w * p->in_c, 0, p->in_c & ~3, out, n,
                                             p->stride_w * p->in_c);
                            ox += n - 1;
                            out += (size_t)(n - 1) * p->out_c;
                            c0 = p->in_c & ~3;
                        } else if (9 * p->in_c <= EDGEQ_DW_WINDOW_BYTES) {
                            eq_dw_clipped3x3_m1(p, in_b, iy0, ix0, out);
                            c0 = p->in_c & ~3;
                        }
                    }
#endif
                    if (c0 < p->in_c) {
                        eq_dw_pixel_m1(p, in_b, iy0, ix0, ky0, ky1, kx0, kx1, c0, out);
                    }
                    out += p->out_c;
                    continue;
                }
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_mult; ++m) {
                        const int32_t oc = ic * p->depth_mult + m;
                        int32_t acc = p->bias ? p->bias[oc] : 0;
                        for (ky = ky0; ky < ky1; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            for (kx = kx0; kx < kx1; ++kx) {
                                const int32_t x = in_b[((size_t)iy * p->in_w + ix0 + p->dil_w * kx) * p->in_c + ic];
                                acc += (int32_t)p->filter[((size_t)ky * p->k_w + kx) * p->out_c + oc] *
                                       (x + p->in_offset);
                            }
                        }
                        out[oc] = eq_requant_zq(acc, p, oc, zq);
                    }
                }
                out += p->out_c;
            }
        }
    }
}
#endif
