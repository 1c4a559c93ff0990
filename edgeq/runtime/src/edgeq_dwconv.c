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
#if defined(EDGEQ_DSP_ASM) && defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
#define EQ_DW_3X3_ASM 1
#endif
/* 3x3 window fully inside the input (any stride/dilation), depth multiplier 1, rq and dw_w present: the nine
 * taps unrolled, the folded bias_eff, no bounds checks and no input offset. Channels [c_begin, c_end) (multiples of
 * 4) whose first input is x0; taps xs bytes apart within a row, ys bytes between rows. */
static inline __attribute__((always_inline)) void eq_dw_full3x3_px(const edgeq_conv_params *p, const int8_t *x0,
                                                                   int32_t xs, int32_t ys, int32_t c_begin,
                                                                   int32_t c_end, int8_t *restrict out,
                                                                   int32_t kind)
{
    const int32_t *w = p->dw_w + (c_begin >> 2) * 18;
    const int32_t *rq = p->rq + 3 * c_begin;
    const int32_t *be = p->bias_eff;
    int32_t c;
#if defined(EQ_DW_3X3_ASM)
    /* The nine taps and (no activation clamp: one SSAT each) the requantization scheduled by hand: GCC spills the
     * weight pairs and the loop's pointers otherwise. Per tap: LDR x then the two weight words, loads back to back
     * (pipelined: 4 cycles where LDR + LDRD take 5), 2 SXTB16, 4 SMLAxy. x0 steps 4 bytes per group inside the asm. */
    /* kind (a constant where inlined, eq_dw_full3x3_m1): bit 0 the activation clamp, bit 1 the zero point's add
     * (without it: zp folded into rq by the generator, or zero) */
    const int32_t zp = p->out_offset;
    const int32_t lo4 = (int32_t)(0x01010101u * (uint8_t)p->act_min);
    const int32_t hi4 = (int32_t)(0x01010101u * (uint8_t)p->act_max);
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
            /* per channel: acc * 2 SMMLAR m + (2^(e-1) - [acc < 0]), >> e, + zp, SSAT 8 (eq_rq_fast); the four
             * bytes packed with BFI, the activation range (ReLU6, ...) applied to all four at once (SSUB8 + SEL:
             * bytewise max with act_min, min with act_max), one word stored */
            int32_t m, h, e;
#define EQ_DW_ASM_RQ(a, o0, o1, o2, addzp)                                                                 \
    "ldr %[m], [%[rq], #" o0 "]\n\t"                                                                      \
    "ldr %[h], [%[rq], #" o1 "]\n\t"                                                                      \
    "ldr %[e], [%[rq], #" o2 "]\n\t"                                                                      \
    "add %[h], %[h], %[" a "], asr #31\n\t"                                                               \
    "lsls %[" a "], %[" a "], #1\n\t"                                                                     \
    "smmlar %[" a "], %[" a "], %[m], %[h]\n\t"                                                           \
    "asrs %[" a "], %[" a "], %[e]\n\t" addzp(a) "ssat %[" a "], #8, %[" a "]\n\t"
#define EQ_DW_ASM_ZP(a) "add %[" a "], %[" a "], %[zp]\n\t"
#define EQ_DW_ASM_NOZP(a) ""
#define EQ_DW_ASM_RQ4(clamp, addzp)                                                                        \
    EQ_DW_ASM_RQ("a0", "0", "4", "8", addzp) EQ_DW_ASM_RQ("a1", "12", "16", "20", addzp)                   \
    EQ_DW_ASM_RQ("a2", "24", "28", "32", addzp) EQ_DW_ASM_RQ("a3", "36", "40", "44", addzp)                \
    "bfi %[a0], %[a1], #8, #8\n\t"                                                                        \
    "bfi %[a0], %[a2], #16, #8\n\t"                                                                       \
    "bfi %[a0], %[a3], #24, #8\n\t" clamp "str %[a0], [%[o]]\n\t"
#define EQ_DW_ASM_RQ_OUT                                                                                   \
    [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [m] "=&r"(m), [h] "=&r"(h), [e] "=&r"(e)
#define EQ_DW_ASM_CLAMP                                                                                    \
    "ssub8 %[m], %[a0], %[lo4]\n\t"                                                                       \
    "sel %[a0], %[a0], %[lo4]\n\t"                                                                        \
    "ssub8 %[m], %[hi4], %[a0]\n\t"                                                                       \
    "sel %[a0], %[a0], %[hi4]\n\t"
            if (kind == 0) {
                /* registers to spare: two channels' six constants loaded back to back (one pipelined run) */
                int32_t m2, h2, e2;
#define EQ_DW_ASM_RQ2(a, b, o0)                                                                            \
    "ldr %[m], [%[rq], #" o0 "]\n\t"                                                                      \
    "ldr %[h], [%[rq], #" o0 " + 4]\n\t"                                                                  \
    "ldr %[e], [%[rq], #" o0 " + 8]\n\t"                                                                  \
    "ldr %[m2], [%[rq], #" o0 " + 12]\n\t"                                                                \
    "ldr %[h2], [%[rq], #" o0 " + 16]\n\t"                                                                \
    "ldr %[e2], [%[rq], #" o0 " + 20]\n\t"                                                                \
    "add %[h], %[h], %[" a "], asr #31\n\t"                                                               \
    "lsls %[" a "], %[" a "], #1\n\t"                                                                     \
    "smmlar %[" a "], %[" a "], %[m], %[h]\n\t"                                                           \
    "asrs %[" a "], %[" a "], %[e]\n\t"                                                                   \
    "ssat %[" a "], #8, %[" a "]\n\t"                                                                     \
    "add %[h2], %[h2], %[" b "], asr #31\n\t"                                                             \
    "lsls %[" b "], %[" b "], #1\n\t"                                                                     \
    "smmlar %[" b "], %[" b "], %[m2], %[h2]\n\t"                                                         \
    "asrs %[" b "], %[" b "], %[e2]\n\t"                                                                  \
    "ssat %[" b "], #8, %[" b "]\n\t"
                __asm__ volatile(EQ_DW_ASM_RQ2("a0", "a1", "0") EQ_DW_ASM_RQ2("a2", "a3", "24")
                                 "bfi %[a0], %[a1], #8, #8\n\t"
                                 "bfi %[a0], %[a2], #16, #8\n\t"
                                 "bfi %[a0], %[a3], #24, #8\n\t"
                                 "str %[a0], [%[o]]\n\t"
                                 : EQ_DW_ASM_RQ_OUT, [m2] "=&r"(m2), [h2] "=&r"(h2), [e2] "=&r"(e2)
                                 : [rq] "r"(rq), [o] "r"(o)
                                 : "cc", "memory");
#undef EQ_DW_ASM_RQ2
            } else if (kind == 1) {
                __asm__ volatile(EQ_DW_ASM_RQ4(EQ_DW_ASM_CLAMP, EQ_DW_ASM_NOZP)
                                 : EQ_DW_ASM_RQ_OUT
                                 : [rq] "r"(rq), [o] "r"(o), [lo4] "r"(lo4), [hi4] "r"(hi4)
                                 : "cc", "memory");
            } else if (kind == 2) {
                __asm__ volatile(EQ_DW_ASM_RQ4("", EQ_DW_ASM_ZP)
                                 : EQ_DW_ASM_RQ_OUT
                                 : [rq] "r"(rq), [zp] "r"(zp), [o] "r"(o)
                                 : "cc", "memory");
            } else {
                __asm__ volatile(EQ_DW_ASM_RQ4(EQ_DW_ASM_CLAMP, EQ_DW_ASM_ZP)
                                 : EQ_DW_ASM_RQ_OUT
                                 : [rq] "r"(rq), [zp] "r"(zp), [o] "r"(o), [lo4] "r"(lo4), [hi4] "r"(hi4)
                                 : "cc", "memory");
            }
#undef EQ_DW_ASM_CLAMP
#undef EQ_DW_ASM_ZP
#undef EQ_DW_ASM_NOZP
#undef EQ_DW_ASM_RQ_OUT
#undef EQ_DW_ASM_RQ4
#undef EQ_DW_ASM_RQ
        }
    }
#else
    (void)kind;
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
#define EQ_DW_FULL_LOOP(kind)                                                                              \
    for (; npix > 0; --npix, x0 += pstep, out += p->in_c) {                                                \
        eq_dw_full3x3_px(p, x0, xs, ys, c_begin, c_end, out, (kind));                                      \
    }
#if defined(EQ_DW_3X3_ASM)
    /* one loop per requantization kind, so each asm variant's loop keeps its constants in registers */
    const int32_t kind = (eq_rq_zp(p->rq, p->out_offset) != 0 ? 2 : 0) | !(p->act_min == -128 && p->act_max == 127);
    switch (kind) {
    case 0:
        EQ_DW_FULL_LOOP(0)
        break;
    case 1:
        EQ_DW_FULL_LOOP(1)
        break;
    case 2:
        EQ_DW_FULL_LOOP(2)
        break;
    default:
        EQ_DW_FULL_LOOP(3)
        break;
    }
#else
    EQ_DW_FULL_LOOP(0)
#endif
#undef EQ_DW_FULL_LOOP
}

#ifndef EDGEQ_DW_WINDOW_BYTES
#define EDGEQ_DW_WINDOW_BYTES 1152 /* 3x3 x 128 channels of stack */
#endif
/* A 3x3 window clipped by the border: gather it into a 3x3 x (in_c & ~3) buffer, the taps outside the input set to
 * the input zero point. Those taps then add w * (zero_point + in_offset) == 0, exactly what TFLM's skipped taps add,
 * so the unrolled full-window kernel and bias_eff apply. */
static void eq_dw_clipped3x3_m1(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                                int8_t *restrict out)
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

/* 3x3, no dilation, narrow rows: per output row, the three input rows it reads copied into the stack with the input
 * zero point in the padding (taps there add w * (zp + in_offset) == 0, like the taps TFLM skips), so every window is
 * full and takes the unrolled kernel with bias_eff: no clipped windows, no border cases. Channels in_c & ~3 (the
 * rest one pixel at a time); returns 0 where it does not apply. */
static int eq_dw_padded3x3_m1(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
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
    const int32_t fast3x3 = p->dw_w && p->rq && p->depth_mult == 1 && p->k_h == 3 && p->k_w == 3;
#endif
#ifdef EDGEQ_MVE
    if (edgeq_dw_mve(p, in, out)) { /* edgeq_dwconv_mve.c */
        return;
    }
#elif defined(EDGEQ_DSP)
    if (fast3x3 && eq_dw_padded3x3_m1(p, in, out)) {
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
