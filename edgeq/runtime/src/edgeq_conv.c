/* edgeq runtime: CONV_2D (see edgeq_conv.h for the contract and the code paths).
 *
 * Why the folded bias: TFLM sums w * (x + in_offset) over the taps inside the image. Splitting that into
 * w . x + in_offset * sum(w) lets the inner loop be a plain int8 dot product; for windows fully inside the
 * image sum(w) is the precomputed per-channel constant in bias_eff; windows clipped by the border either get
 * the input zero point written into their im2col column (x + in_offset == 0 there: adds nothing, like the taps
 * TFLM skips) or add the offset to x (SXTAB16 does it for free). Modulo 2^32 every order gives the same int32,
 * hence the same bytes as TFLM.
 */
#include "edgeq_conv.h"

#include "edgeq_dsp.h"

#include "edgeq_mve.h"

#include <string.h>

#ifndef EDGEQ_IM2COL_BYTES
#define EDGEQ_IM2COL_BYTES 128 /* per output pixel; two columns live on the stack */
#endif
/* The optional paths (edgeq_config.h; the generator writes 0 for those no layer of its model takes): a path
 * compiled out makes its layers fall through to the next candidate and finally to the general loop, which always
 * exists (a misprediction costs speed, never correctness) -- except that a layer with int16 weights only (w16, no
 * filter) needs an int16 path: windows that fit fall through to the chunked path (in_c a multiple of 4), the
 * generator keeps the chunked path for every larger window. */
#ifndef EDGEQ_CONV_PATH_WINDOWS
#define EDGEQ_CONV_PATH_WINDOWS 1
#endif
#ifndef EDGEQ_CONV_PATH_CHUNKS
#define EDGEQ_CONV_PATH_CHUNKS 1
#endif
#ifndef EDGEQ_CONV_PATH_IM2COL
#define EDGEQ_CONV_PATH_IM2COL 1
#endif
#ifndef EDGEQ_CONV_PATH_GENERAL_FAST
#define EDGEQ_CONV_PATH_GENERAL_FAST 1
#endif
#ifndef EDGEQ_CONV_PATH_FIRST
#define EDGEQ_CONV_PATH_FIRST 1
#endif
#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
#define EQ_CV_WINDOWS EDGEQ_CONV_PATH_WINDOWS
#define EQ_CV_CHUNKS EDGEQ_CONV_PATH_CHUNKS
#define EQ_CV_FIRST EDGEQ_CONV_PATH_FIRST
#else
#define EQ_CV_WINDOWS 0
#define EQ_CV_CHUNKS 0
#define EQ_CV_FIRST 0
#endif
#ifndef EDGEQ_MVE
#define EQ_CV_IM2COL EDGEQ_CONV_PATH_IM2COL
#define EQ_CV_GENERAL_FAST EDGEQ_CONV_PATH_GENERAL_FAST
#else
#define EQ_CV_IM2COL 0
#define EQ_CV_GENERAL_FAST 0
#endif

typedef edgeq_conv2d_params eq_cv;

/* Clamp to the activation range as two conditional moves (no branches). */
static inline int8_t eq_cv_sat(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* With rq the output zero point is already in rq[1] (the generator folds it: see edgeq_conv.h). */
static inline int8_t eq_cv_requant(int32_t acc, const eq_cv *p, int32_t ch)
{
    if (p->rq) {
        return eq_cv_sat(eq_rq_fast(acc, p->rq + 3 * ch), p->act_min, p->act_max);
    }
    const int32_t c = p->per_channel ? ch : 0;
    return eq_cv_sat(edgeq_mbqm(acc, p->mult[c], (int)p->shift[c]) + p->out_offset, p->act_min, p->act_max);
}

#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
/* eq_cv_requant out of line, for the int16 blocks' rare outputs (odd last channel, the general requantization,
 * activation clamps the asm leaves): one copy of it instead of one per call site (code size). */
static __attribute__((noinline)) int8_t eq_cv_requant_n(int32_t acc, const eq_cv *p, int32_t ch)
{
    return eq_cv_requant(acc, p, ch);
}
#endif

/* The dot products of the int8 loops. Builds without DSP (Cortex-M0+: eight low registers) keep them out of line:
 * inlined, their loops share the register allocation of the whole kernel, which then depends on what else is
 * compiled in (IC ResNet-8 on the M0+ ran 10 % slower when the im2col path was compiled out). */
#if !defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
#define EQ_CV_DOT __attribute__((noinline, unused)) /* (unused: a path the model compiles out) */
#else
#define EQ_CV_DOT inline
#endif

/* 2 filter rows x 2 input runs (two output pixels): each loaded word feeds two SMLADs. */
static EQ_CV_DOT void eq_dot2x2(const int8_t *w0, const int8_t *w1, const int8_t *xa, const int8_t *xb, int32_t n,
                             int32_t acc[4])
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3], i = 0;
#ifdef EDGEQ_DSP
    for (; i + 4 <= n; i += 4) {
        const int32_t av = eq_load32(xa + i), bv = eq_load32(xb + i);
        const int32_t ae = eq_sxtb16(av), ao = eq_sxtb16_ror8(av);
        const int32_t be = eq_sxtb16(bv), bo = eq_sxtb16_ror8(bv);
        int32_t wv = eq_load32(w0 + i);
        int32_t we = eq_sxtb16(wv), wo = eq_sxtb16_ror8(wv);
        s00 = eq_smlad(we, ae, s00);
        s00 = eq_smlad(wo, ao, s00);
        s10 = eq_smlad(we, be, s10);
        s10 = eq_smlad(wo, bo, s10);
        wv = eq_load32(w1 + i);
        we = eq_sxtb16(wv);
        wo = eq_sxtb16_ror8(wv);
        s01 = eq_smlad(we, ae, s01);
        s01 = eq_smlad(wo, ao, s01);
        s11 = eq_smlad(we, be, s11);
        s11 = eq_smlad(wo, bo, s11);
    }
#endif
    for (; i < n; ++i) {
        s00 += (int32_t)w0[i] * xa[i];
        s01 += (int32_t)w1[i] * xa[i];
        s10 += (int32_t)w0[i] * xb[i];
        s11 += (int32_t)w1[i] * xb[i];
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}


/* acc0 += w0 . (x + offset), acc1 += w1 . (x + offset): for windows clipped by the image border, where
 * the precomputed bias_eff does not apply. */
static EQ_CV_DOT void eq_dot2_offset(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n, int32_t offset,
                                  int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1, i = 0;
#if defined(EDGEQ_MVE)
    /* w . (x + offset) = w . x + offset * sum(w), modulo 2^32 the same int32 */
    int32_t sw0 = 0, sw1 = 0;
    for (; i < n; i += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, pr), a = vldrbq_z_s8(w0 + i, pr), b = vldrbq_z_s8(w1 + i, pr);
        s0 = vmladavaq_s8(s0, a, xv);
        s1 = vmladavaq_s8(s1, b, xv);
        sw0 = vaddvaq_s8(sw0, a);
        sw1 = vaddvaq_s8(sw1, b);
    }
    s0 = (int32_t)((uint32_t)s0 + (uint32_t)offset * (uint32_t)sw0);
    s1 = (int32_t)((uint32_t)s1 + (uint32_t)offset * (uint32_t)sw1);
#elif defined(EDGEQ_DSP)
    const int32_t off2 = eq_dup16(offset);
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = eq_load32(x + i), a = eq_load32(w0 + i), b = eq_load32(w1 + i);
        const int32_t xe = eq_sxtab16(off2, xv), xo = eq_sxtab16_ror8(off2, xv);
        s0 = eq_smlad(eq_sxtb16(a), xe, s0);
        s0 = eq_smlad(eq_sxtb16_ror8(a), xo, s0);
        s1 = eq_smlad(eq_sxtb16(b), xe, s1);
        s1 = eq_smlad(eq_sxtb16_ror8(b), xo, s1);
    }
#endif
    for (; i < n; ++i) {
        s0 += (int32_t)w0[i] * (x[i] + offset);
        s1 += (int32_t)w1[i] * (x[i] + offset);
    }
    *acc0 = s0;
    *acc1 = s1;
}

static EQ_CV_DOT void eq_cv_dot2(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n, int32_t *acc0,
                                 int32_t *acc1)
{
    eq_dot2(w0, w1, x, n, acc0, acc1);
}

/* n bytes copied / set to pad4's low byte a word at a time (unaligned word accesses: one LDR/STR on Armv7-M). */
static inline void eq_copy_run(int8_t *d, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(d + i, src + i, 4);
    }
    for (; i < n; ++i) {
        d[i] = src[i];
    }
}

static inline void eq_fill_run(int8_t *d, int32_t pad4, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        memcpy(d + i, &pad4, 4);
    }
    for (; i < n; ++i) {
        d[i] = (int8_t)pad4;
    }
}

void eq_conv_taps(const edgeq_conv2d_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int8_t pad = (int8_t)(-p->in_offset);
    int32_t ky, kx, i;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + p->dil_h * ky;
        for (kx = 0; kx < p->k_w; ++kx, col += p->in_c) {
            const int32_t ix = ix0 + p->dil_w * kx;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (i = 0; i < p->in_c; ++i) {
                    col[i] = pad;
                }
            } else {
                const int8_t *src = in_b + ((size_t)iy * p->in_w + ix) * p->in_c;
                for (i = 0; i < p->in_c; ++i) {
                    col[i] = src[i];
                }
            }
        }
    }
}

#if EQ_CV_IM2COL /* (Helium builds gather with eq_mve_im2col; the windows path with eq_x16_window) */
/* Gather one output pixel's receptive field into a contiguous column. Taps outside the image get the input
 * zero point, i.e. x + in_offset == 0: they add nothing, exactly like the taps TFLM skips, so every column
 * can use the folded bias. With dilation 1 a row is at most three runs (zero point, image, zero point), copied and
 * filled a word at a time (a tap-by-tap gather cost KWS's first layer ~1000 cycles per clipped window). */
static void eq_im2col(const eq_cv *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int8_t pad = (int8_t)(-p->in_offset);
    const int32_t pad4 = (int32_t)((uint32_t)(uint8_t)pad * 0x01010101u);
    const int32_t row_len = p->k_w * p->in_c;
    int32_t ky, kx;
    /* dilation 1: taps [kx0, kx1) of every row lie inside the image */
    const int32_t kx0 = ix0 < 0 ? (-ix0 < p->k_w ? -ix0 : p->k_w) : 0;
    const int32_t kx1r = p->in_w - ix0 < p->k_w ? p->in_w - ix0 : p->k_w;
    const int32_t kx1 = kx1r > kx0 ? kx1r : kx0;
    const int32_t lead = kx0 * p->in_c, mid = (kx1 - kx0) * p->in_c;
    for (ky = 0; ky < p->k_h; ++ky, col += row_len) {
        const int32_t iy = iy0 + p->dil_h * ky;
        if (iy < 0 || iy >= p->in_h) {
            eq_fill_run(col, pad4, row_len);
            continue;
        }
        if (p->dil_w == 1) {
            eq_fill_run(col, pad4, lead);
            if (mid > 0) {
                eq_copy_run(col + lead, in_b + ((size_t)iy * p->in_w + ix0 + kx0) * p->in_c, mid);
            }
            eq_fill_run(col + lead + mid, pad4, row_len - lead - mid);
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + p->dil_w * kx;
            int8_t *d = col + kx * p->in_c;
            if (ix < 0 || ix >= p->in_w) {
                eq_fill_run(d, pad4, p->in_c);
            } else {
                eq_copy_run(d, in_b + ((size_t)iy * p->in_w + ix) * p->in_c, p->in_c);
            }
        }
    }
}
#endif

#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16) /* the int16 paths: only where the generator emits w16 */
/* The short requantization (eq_rq_fast) of one accumulator with its channel's {m, c, e} in registers, saturated to
 * int8: add, shift, SMMLAR, shift, SSAT (5 cycles). The clamp to a narrower activation range follows (eq_cv_act). */
static inline int32_t eq_cv_rq_sat(int32_t acc, int32_t m, int32_t c, int32_t e)
{
#if defined(EDGEQ_DSP_ASM)
    int32_t t;
    __asm__("add %[t], %[c], %[a], asr #31\n\t"
            "lsl %[a], %[a], #1\n\t"
            "smmlar %[t], %[a], %[m], %[t]\n\t"
            "asr %[t], %[t], %[e]\n\t"
            "ssat %[t], #8, %[t]"
            : [t] "=&r"(t), [a] "+&r"(acc)
            : [m] "r"(m), [c] "r"(c), [e] "r"(e));
    return t;
#else
    const int32_t rq[3] = {m, c, e};
    return edgeq_clamp(eq_rq_fast(acc, rq), -128, 127);
#endif
}

/* Activation ranges of the requantization loops, chosen once per call (no clamp when the range is the whole int8
 * range, as for ReLU with output zero point -128): 0 none, 1 lower bound only, 2 both. */
#define EQ_ACT_MODE(lo, hi) ((hi) < 127 ? 2 : (lo) > -128 ? 1 : 0)
static inline __attribute__((always_inline)) int8_t eq_cv_act(int32_t v, int32_t lo, int32_t hi, int mode)
{
    if (mode >= 1) {
        v = v < lo ? lo : v;
    }
    if (mode == 2) {
        v = v > hi ? hi : v;
    }
    return (int8_t)v;
}

/* The requantization of a whole channel-pair block in one asm run when no activation clamp is left (mode 0):
 * the rq triples loaded by pipelined LDRs, five instructions per output (eq_cv_rq_sat) and its byte store, no
 * spills (13 registers); GCC's code for the same, with the block's pointers reloaded from the stack, took ~85
 * cycles for 6 outputs. Optimising-for-speed builds only (at -O0/-Os GCC cannot give 13 registers): the C twin
 * runs elsewhere. */
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS) && !defined(__OPTIMIZE_SIZE__)
#define EQ_CV_RQ_ASM 1
#define EQ_CV_RQ1(acc, dst)                                                                                  \
    "add %[t], %[c], %[" #acc "], asr #31\n\t"                                                               \
    "lsl %[" #acc "], %[" #acc "], #1\n\t"                                                                   \
    "smmlar %[t], %[" #acc "], %[m], %[t]\n\t"                                                               \
    "asr %[t], %[t], %[e]\n\t"                                                                               \
    "ssat %[t], #8, %[t]\n\t"                                                                                \
    "strb %[t], " dst "\n\t"
/* out[0] = rq(s00), out2[0] = rq(s10) (channel 0: rq[0..2]); out[1] = rq(s01), out2[1] = rq(s11) (rq[3..5]) */
static inline __attribute__((always_inline)) void eq_cv_rq4(int32_t s00, int32_t s10, int32_t s01, int32_t s11,
                                                            const int32_t *rq, int8_t *out, int8_t *out2)
{
    int32_t m, c, e, t;
    __asm__ volatile("ldr %[m], [%[rq]]\n\t"
                     "ldr %[c], [%[rq], #4]\n\t"
                     "ldr %[e], [%[rq], #8]\n\t" EQ_CV_RQ1(a, "[%[o]]") EQ_CV_RQ1(b, "[%[o2]]")
                     "ldr %[m], [%[rq], #12]\n\t"
                     "ldr %[c], [%[rq], #16]\n\t"
                     "ldr %[e], [%[rq], #20]\n\t" EQ_CV_RQ1(cc, "[%[o], #1]") EQ_CV_RQ1(d, "[%[o2], #1]")
                     : [a] "+&r"(s00), [b] "+&r"(s10), [cc] "+&r"(s01), [d] "+&r"(s11), [m] "=&r"(m), [c] "=&r"(c),
                       [e] "=&r"(e), [t] "=&r"(t)
                     : [rq] "r"(rq), [o] "r"(out), [o2] "r"(out2)
                     : "memory");
}
/* s = {c0 a, c0 b, c0 c, c1 a, c1 b, c1 c}: pixel j's channel pair at out + j * out_c, one halfword store each:
 * channel 0's bytes stay in their sums' registers, channel 1's are inserted above them (BFI) and the pair stored
 * by STRH (1 + 2 cycles; two STRB: 4). The address may be odd (odd out_c): the M4/M7/M33 store halfwords at any
 * address unless the fault on unaligned access is enabled, which the runtime's unaligned word loads rule out too. */
#define EQ_CV_RQ0(acc)                                                                                       \
    "add %[t], %[c], %[" #acc "], asr #31\n\t"                                                               \
    "lsl %[" #acc "], %[" #acc "], #1\n\t"                                                                   \
    "smmlar %[t], %[" #acc "], %[m], %[t]\n\t"                                                               \
    "asr %[t], %[t], %[e]\n\t"                                                                               \
    "ssat %[" #acc "], #8, %[t]\n\t"
#define EQ_CV_RQ2(acc, lo, dst)                                                                              \
    "add %[t], %[c], %[" #acc "], asr #31\n\t"                                                               \
    "lsl %[" #acc "], %[" #acc "], #1\n\t"                                                                   \
    "smmlar %[t], %[" #acc "], %[m], %[t]\n\t"                                                               \
    "asr %[t], %[t], %[e]\n\t"                                                                               \
    "ssat %[t], #8, %[t]\n\t"                                                                                \
    "bfi %[" #lo "], %[t], #8, #8\n\t"                                                                       \
    "strh %[" #lo "], " dst "\n\t"
static inline __attribute__((always_inline)) void eq_cv_rq6(const int32_t s[6], const int32_t *rq, int8_t *out,
                                                            int32_t out_c)
{
    int32_t a0 = s[0], b0 = s[1], c0 = s[2], a1 = s[3], b1 = s[4], c1 = s[5], m, c, e, t;
    __asm__ volatile("ldr %[m], [%[rq]]\n\t"
                     "ldr %[c], [%[rq], #4]\n\t"
                     "ldr %[e], [%[rq], #8]\n\t" EQ_CV_RQ0(a0) EQ_CV_RQ0(b0) EQ_CV_RQ0(c0)
                     "ldr %[m], [%[rq], #12]\n\t"
                     "ldr %[c], [%[rq], #16]\n\t"
                     "ldr %[e], [%[rq], #20]\n\t" EQ_CV_RQ2(a1, a0, "[%[o]]") EQ_CV_RQ2(b1, b0, "[%[o], %[oc]]")
                     "add %[a1], %[o], %[oc], lsl #1\n\t" EQ_CV_RQ2(c1, c0, "[%[a1]]")
                     : [a0] "+&r"(a0), [b0] "+&r"(b0), [c0] "+&r"(c0), [a1] "+&r"(a1), [b1] "+&r"(b1),
                       [c1] "+&r"(c1), [m] "=&r"(m), [c] "=&r"(c), [e] "=&r"(e), [t] "=&r"(t)
                     : [rq] "r"(rq), [o] "r"(out), [oc] "r"(out_c)
                     : "memory");
}
#undef EQ_CV_RQ0
#undef EQ_CV_RQ2
#undef EQ_CV_RQ1
#else
#define EQ_CV_RQ_ASM 0
#endif

/* acc[0..3] = {c0 a, c0 b, c1 a, c1 b} += the pixel pair in xbuf (n4 groups of 4 words) times one channel pair of
 * the generator's int16 weights (4 words per group); returns the weights of the next pair. Per 2 taps one word of
 * each pixel and of each channel (4 pipelined LDRs) feed four SMLADs; 11 registers, so the requantization that
 * follows keeps its pointers in registers. */
static inline const int32_t *eq_w16_pair(const int32_t *xp, const int32_t *end, const int32_t *wp, int32_t *s00,
                                         int32_t *s10, int32_t *s01, int32_t *s11)
{
    int32_t a = *s00, b = *s10, c = *s01, d = *s11;
#if defined(EDGEQ_DSP_ASM)
    int32_t xa, xb, w0, w1;
#define EQ_W16_PAIR_GROUP                                                                                    \
    "ldr %[xa], [%[xp]], #16\n\t"                                                                            \
    "ldr %[xb], [%[xp], #-8]\n\t"                                                                            \
    "ldr %[w0], [%[wp]], #16\n\t"                                                                            \
    "ldr %[w1], [%[wp], #-8]\n\t"                                                                            \
    "smlad %[a], %[w0], %[xa], %[a]\n\t"                                                                     \
    "smlad %[b], %[w0], %[xb], %[b]\n\t"                                                                     \
    "smlad %[c], %[w1], %[xa], %[c]\n\t"                                                                     \
    "smlad %[d], %[w1], %[xb], %[d]\n\t"                                                                     \
    "ldr %[xa], [%[xp], #-12]\n\t"                                                                           \
    "ldr %[xb], [%[xp], #-4]\n\t"                                                                            \
    "ldr %[w0], [%[wp], #-12]\n\t"                                                                           \
    "ldr %[w1], [%[wp], #-4]\n\t"                                                                            \
    "smlad %[a], %[w0], %[xa], %[a]\n\t"                                                                     \
    "smlad %[b], %[w0], %[xb], %[b]\n\t"                                                                     \
    "smlad %[c], %[w1], %[xa], %[c]\n\t"                                                                     \
    "smlad %[d], %[w1], %[xb], %[d]\n\t"
    /* unrolled by two groups of 4 taps (an odd count enters at the second group) */
    __asm__ volatile("sub %[xa], %[end], %[xp]\n\t"
                     "tst %[xa], #16\n\t"
                     "bne 2f\n\t"
                     "1:\n\t" EQ_W16_PAIR_GROUP "2:\n\t" EQ_W16_PAIR_GROUP
                     "cmp %[xp], %[end]\n\t"
                     "bne 1b"
                     : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [d] "+r"(d), [xp] "+r"(xp), [wp] "+r"(wp),
                       [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1)
                     : [end] "r"(end)
                     : "cc", "memory");
#undef EQ_W16_PAIR_GROUP
#else
    do {
        const int32_t x0 = xp[0], x1 = xp[1], x2 = xp[2], x3 = xp[3];
        a = eq_smlad(wp[0], x0, eq_smlad(wp[1], x1, a));
        b = eq_smlad(wp[0], x2, eq_smlad(wp[1], x3, b));
        c = eq_smlad(wp[2], x0, eq_smlad(wp[3], x1, c));
        d = eq_smlad(wp[2], x2, eq_smlad(wp[3], x3, d));
        xp += 4;
        wp += 4;
    } while (xp != end);
#endif
    *s00 = a;
    *s10 = b;
    *s01 = c;
    *s11 = d;
    return wp;
}

/* The common case of eq_w16_channels: short requantization (zero point folded into rq[1]), both pixels, `pairs`
 * whole channel pairs; the channel's rq triple is read before any output byte is stored (an int8 store may alias
 * it). Returns the weights after the last pair. */
static inline __attribute__((always_inline)) const int32_t *
eq_w16_pairs_rq(const int32_t *xbuf, const int32_t *end, const int32_t *wp, const int32_t *bias, const int32_t *rq,
                int32_t pairs, int8_t *restrict out, int8_t *restrict out2, int32_t lo, int32_t hi, int mode)
{
    for (; pairs > 0; --pairs, rq += 6, bias += 2, out += 2, out2 += 2) {
        int32_t s00 = bias[0], s01 = bias[1], s10, s11, v0, v1, v2, v3;
        s10 = s00;
        s11 = s01;
        wp = eq_w16_pair(xbuf, end, wp, &s00, &s10, &s01, &s11);
#if EQ_CV_RQ_ASM
        if (mode == 0) { /* the common case (ReLU / no activation over the whole int8 range): one asm run */
            eq_cv_rq4(s00, s10, s01, s11, rq, out, out2);
            continue;
        }
#endif
        v0 = eq_cv_rq_sat(s00, rq[0], rq[1], rq[2]);
        v1 = eq_cv_rq_sat(s10, rq[0], rq[1], rq[2]);
        v2 = eq_cv_rq_sat(s01, rq[3], rq[4], rq[5]);
        v3 = eq_cv_rq_sat(s11, rq[3], rq[4], rq[5]);
        out[0] = eq_cv_act(v0, lo, hi, mode);
        out2[0] = eq_cv_act(v1, lo, hi, mode);
        out[1] = eq_cv_act(v2, lo, hi, mode);
        out2[1] = eq_cv_act(v3, lo, hi, mode);
    }
    return wp;
}

/* The channel loop for one pixel pair sign-extended into xbuf, on the generator's int16 weights (p->w16). */
void eq_w16_channels(const eq_cv *p, const int32_t *xbuf, int32_t n4, int8_t *restrict out,
                            int8_t *restrict out2)
{
    const int32_t *wp = p->w16;
    const int32_t *const end = xbuf + 4 * n4;
    int32_t oc = 0, s00, s01, s10, s11;
    if (p->rq && out2) {
        const int32_t lo = p->act_min, hi = p->act_max, pairs = p->out_c >> 1;
        const int mode = EQ_ACT_MODE(lo, hi);
        if (mode == 0) {
            wp = eq_w16_pairs_rq(xbuf, end, wp, p->bias_eff, p->rq, pairs, out, out2, lo, hi, 0);
        } else { /* (a lower bound only: the upper clamp to 127 after SSAT #8 changes nothing; one copy less) */
            wp = eq_w16_pairs_rq(xbuf, end, wp, p->bias_eff, p->rq, pairs, out, out2, lo, hi, 2);
        }
        oc = 2 * pairs;
    }
    for (; oc < p->out_c; oc += 2) {
        const int32_t pair = oc + 1 < p->out_c;
        s00 = s10 = p->bias_eff[oc];
        s01 = s11 = pair ? p->bias_eff[oc + 1] : 0;
        wp = eq_w16_pair(xbuf, end, wp, &s00, &s10, &s01, &s11);
        out[oc] = eq_cv_requant_n(s00, p, oc);
        if (pair) {
            out[oc + 1] = eq_cv_requant_n(s01, p, oc + 1);
        }
        if (out2) {
            out2[oc] = eq_cv_requant_n(s10, p, oc);
            if (pair) {
                out2[oc + 1] = eq_cv_requant_n(s11, p, oc + 1);
            }
        }
    }
}

/* Sign-extend n bytes (a multiple of 4) of pixels a and b into xw, interleaved as eq_w16_channels reads. */
int32_t *eq_x16_fill(int32_t *xw, const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 4, xw += 4) {
        const int32_t va = eq_load32(a + i), vb = eq_load32(b + i);
        xw[0] = eq_sxtb16(va);
        xw[1] = eq_sxtb16_ror8(va);
        xw[2] = eq_sxtb16(vb);
        xw[3] = eq_sxtb16_ror8(vb);
    }
    return xw;
}

#if EQ_CV_WINDOWS || EQ_CV_CHUNKS
/* Sign-extend n bytes (a multiple of 4) of one pixel into xw[0], xw[1] of every group of 4 words (the other pixel
 * of the pair fills xw[2], xw[3]). */
static __attribute__((noinline)) void eq_x16_fill1(int32_t *xw, const int8_t *a, int32_t n, int32_t st)
{
    int32_t i = 0;
    for (; i + 8 <= n; i += 8, xw += 2 * st) { /* two words a pass: loads paired, stores as STRD (~9 cycles a word) */
        const int32_t v = eq_load32(a + i), u = eq_load32(a + i + 4);
        const int32_t ve = eq_sxtb16(v), vo = eq_sxtb16_ror8(v), ue = eq_sxtb16(u), uo = eq_sxtb16_ror8(u);
        xw[0] = ve;
        xw[1] = vo;
        xw[st] = ue;
        xw[st + 1] = uo;
    }
    for (; i < n; i += 4, xw += st) {
        const int32_t v = eq_load32(a + i);
        xw[0] = eq_sxtb16(v);
        xw[1] = eq_sxtb16_ror8(v);
    }
}
#endif

/* 3x3 windows on 3 channels (VWW's and IC's first layers) inside the image, 3-pixel layout (xw[0], xw[1] of every
 * group of 6 words): the 27 bytes of the three rows (r0, r0 + step, r0 + 2 step) as 7 words straight from the rows,
 * no copy into col and no call (~60 instead of ~235 cycles a pixel through eq_x16_window). A row's 9 bytes are words
 * 0-1 and the low byte of word 2 (row 0), so the words straddling rows merge two unaligned loads; every load stays
 * inside the image (rows 1 and 2 start after row 0's first byte, the last word is read from byte 5 of row 2 and
 * shifted: its top byte, tap 27, meets a zero weight). */
static inline __attribute__((always_inline)) void eq_x16_rows9(const int8_t *r0, size_t step, int32_t *xw)
{
    const int8_t *const r1 = r0 + step, *const r2 = r1 + step;
    int32_t w2 = eq_load32(r1 - 1), w4 = eq_load32(r2 - 2);
    const int32_t w0 = eq_load32(r0), w1 = eq_load32(r0 + 4), w3 = eq_load32(r1 + 3), w5 = eq_load32(r2 + 2);
    const int32_t w6 = (int32_t)((uint32_t)eq_load32(r2 + 5) >> 8), b8 = eq_load32(r0 + 8), h7 = eq_load32(r1 + 7);
#if defined(EDGEQ_DSP_ASM) /* BFI for the merges, STRD for the pairs (GCC: BIC/UXTB/ORR and single STRs) */
    __asm__("bfi %[w2], %[b8], #0, #8\n\t"
            "bfi %[w4], %[h7], #0, #16"
            : [w2] "+r"(w2), [w4] "+r"(w4)
            : [b8] "r"(b8), [h7] "r"(h7));
#define EQ_X16_PUT(j, word)                                                                                  \
    __asm__("strd %[a], %[b], [%[p], %[o]]"                                                                  \
            :                                                                                                \
            : [p] "r"(xw), [o] "n"(24 * (j)), [a] "r"(eq_sxtb16(word)), [b] "r"(eq_sxtb16_ror8(word))        \
            : "memory");
#else
    w2 = (int32_t)(((uint32_t)w2 & ~0xFFu) | ((uint32_t)b8 & 0xFFu));
    w4 = (int32_t)(((uint32_t)w4 & ~0xFFFFu) | ((uint32_t)h7 & 0xFFFFu));
#define EQ_X16_PUT(j, word)                                                                                  \
    xw[6 * (j)] = eq_sxtb16(word);                                                                           \
    xw[6 * (j) + 1] = eq_sxtb16_ror8(word);
#endif
    EQ_X16_PUT(0, w0)
    EQ_X16_PUT(1, w1)
    EQ_X16_PUT(2, w2)
    EQ_X16_PUT(3, w3)
    EQ_X16_PUT(4, w4)
    EQ_X16_PUT(5, w5)
    EQ_X16_PUT(6, w6)
#undef EQ_X16_PUT
}

#if EQ_CV_WINDOWS && EDGEQ_X16_WORDS >= 28
/* eq_x16_rows9 for the 3-pixel block's three pixels d bytes apart (its per-pixel checks and steps paid once). */
static __attribute__((noinline)) void eq_x16_rows9x3(const int8_t *a, size_t d, size_t step, int32_t *xw)
{
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
    /* per group of 4 taps the three pixels' words, 6 int16 words by one STM (143 cycles; 3 x 58 a pixel at a time) */
    const int8_t *b = a + d, *c = b + d;
#define EQ_R9_SX EQ_X16_SPLIT3_STORE
#define EQ_R9_LD(o)                                                                                          \
    "ldr r4, [%[a], #" #o "]\n\t"                                                                              \
    "ldr r6, [%[b], #" #o "]\n\t"                                                                              \
    "ldr r9, [%[c], #" #o "]\n\t"
    /* words straddling two rows: the next row's word (register offset) shifted over the low byte(s) of this
     * row, which LDRB/LDRH load zero-extended; then the pointers step to that row */
#define EQ_R9_MERGE(ld, o, sh)                                                                               \
    ld " r5, [%[a], #" #o "]\n\t"                                                                               \
    "ldr r4, [%[a], %[s]]\n\t" ld " r8, [%[b], #" #o "]\n\t"                                                   \
    "ldr r6, [%[b], %[s]]\n\t" ld " r10, [%[c], #" #o "]\n\t"                                                  \
    "ldr r9, [%[c], %[s]]\n\t"                                                                                 \
    "add %[a], %[a], %[s]\n\t"                                                                                 \
    "add %[b], %[b], %[s]\n\t"                                                                                 \
    "add %[c], %[c], %[s]\n\t"                                                                                 \
    "orr r4, r5, r4, lsl #" #sh "\n\t"                                                                          \
    "orr r6, r8, r6, lsl #" #sh "\n\t"                                                                          \
    "orr r9, r10, r9, lsl #" #sh "\n\t"
    __asm__ volatile(EQ_R9_LD(0) EQ_R9_SX EQ_R9_LD(4) EQ_R9_SX EQ_R9_MERGE("ldrb", 8, 8) EQ_R9_SX
                     EQ_R9_LD(3) EQ_R9_SX EQ_R9_MERGE("ldrh", 7, 16) EQ_R9_SX EQ_R9_LD(2) EQ_R9_SX EQ_R9_LD(5)
                     "lsr r4, r4, #8\n\t"
                     "lsr r6, r6, #8\n\t"
                     "lsr r9, r9, #8\n\t" EQ_R9_SX
                     : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [x] "+r"(xw)
                     : [s] "r"(step)
                     : "r4", "r5", "r6", "r8", "r9", "r10", "memory");
#undef EQ_R9_SX
#undef EQ_R9_LD
#undef EQ_R9_MERGE
#else
    const int32_t *const end = xw + 6;
    do {
        eq_x16_rows9(a, step, xw);
        a += d;
        xw += 2;
    } while (xw != end);
#endif
}
#endif

/* A window inside the image whose rows are whole words (k_h rows of row_len bytes, `step` bytes apart), 3-pixel
 * layout, inlined into the 3-pixel loop: two words a pass, stores as STRD at fixed offsets (~8.5 cycles a word;
 * through eq_x16_window and eq_x16_fill1 ~10 a word plus ~60 a row in calls: IC's 3x3 layers spent ~15 % there). */
static inline __attribute__((always_inline)) void eq_x16_rows_w(const int8_t *src, size_t step, int32_t k_h,
                                                                 int32_t row_len, int32_t *xw)
{
    int32_t ky, i;
    for (ky = 0; ky < k_h; ++ky, src += step) {
        for (i = 0; i + 8 <= row_len; i += 8, xw += 12) {
            const int32_t v = eq_load32(src + i), u = eq_load32(src + i + 4);
#if defined(EDGEQ_DSP_ASM) /* GCC stores the four words one by one (2 cycles each; STRD: 3 for two) */
            __asm__("strd %[a], %[b], [%[p]]\n\t"
                    "strd %[c], %[d], [%[p], #24]"
                    :
                    : [p] "r"(xw), [a] "r"(eq_sxtb16(v)), [b] "r"(eq_sxtb16_ror8(v)), [c] "r"(eq_sxtb16(u)),
                      [d] "r"(eq_sxtb16_ror8(u))
                    : "memory");
#else
            xw[0] = eq_sxtb16(v);
            xw[1] = eq_sxtb16_ror8(v);
            xw[6] = eq_sxtb16(u);
            xw[7] = eq_sxtb16_ror8(u);
#endif
        }
        if (i < row_len) {
            const int32_t v = eq_load32(src + i);
            xw[0] = eq_sxtb16(v);
            xw[1] = eq_sxtb16_ror8(v);
            xw += 6;
        }
    }
}

#if EQ_CV_WINDOWS
/* The windows of three pixels inside the image whose rows are whole words (k_h rows of row_len bytes, `step`
 * bytes apart, from a, b and c), together: per 4 bytes the three pixels' words loaded and their 6 int16 words
 * stored by one STM (~3.3 cycles a word; a pixel at a time through eq_x16_rows_w ~6: IC's 16->16 3x3 layers spent
 * 12 % of their cycles there). */
static __attribute__((noinline)) void eq_x16_rows3(const int8_t *a, const int8_t *b, const int8_t *c, size_t step,
                                                   int32_t k_h, int32_t row_len, int32_t *xw)
{
    const size_t next = step - (size_t)row_len;
    int32_t ky;
    for (ky = 0; ky < k_h; ++ky, a += next, b += next, c += next) {
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
        /* EQ_X16_FILL3_WORD unrolled by two (an odd word count enters at the second) */
        const int8_t *const end = c + row_len;
        __asm__ volatile("tst %[n], #4\n\t"
                         "bne 2f\n\t"
                         "1:\n\t" EQ_X16_FILL3_WORD "2:\n\t" EQ_X16_FILL3_WORD
                         "cmp %[c], %[e]\n\t"
                         "bne 1b"
                         : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [x] "+r"(xw)
                         : [n] "r"(row_len), [e] "r"(end)
                         : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#else
        eq_x16_fill3_c(xw, a, b, c, row_len);
        a += row_len, b += row_len, c += row_len, xw += 6 * (row_len >> 2);
#endif
    }
}

/* One pixel's window into its half of xbuf (K4 = K rounded up to whole words): rows are extended in place when the
 * window lies inside the image and a row is whole words; otherwise the window is gathered into col first (input
 * zero point for taps outside the image, zeros past K: they meet the next channel's weights and add nothing). */
static void eq_x16_window(const eq_cv *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int32_t K4, int32_t *xw,
                          int8_t *col, int32_t st)
{
    const int32_t row_len = p->k_w * p->in_c, K = p->k_h * row_len;
    int32_t ky;
    if ((row_len & 3) == 0 && p->dil_w == 1 && iy0 >= 0 && ix0 >= 0 && ix0 + p->k_w <= p->in_w &&
        iy0 + p->dil_h * (p->k_h - 1) < p->in_h) {
        for (ky = 0; ky < p->k_h; ++ky, xw += (row_len >> 2) * st) {
            eq_x16_fill1(xw, in_b + ((size_t)(iy0 + p->dil_h * ky) * p->in_w + ix0) * p->in_c, row_len, st);
        }
        return;
    }
    if (p->dil_w == 1) {
        /* rows not whole words or the window clipped by the border, a row at a time into col: the zero point for
         * taps left of the image, the taps inside, the zero point right of it, each a word at a time (the part
         * after overwrites the up to 3 bytes the part before wrote past its end; the next row, or col's 4 spare
         * bytes, those of the last part), the taps inside read a word at a time where that stays inside the image;
         * rows above or below it the zero point (KWS's clipped 10x4 windows: ~4x fewer cycles than byte runs) */
        const int32_t pad4 = (int32_t)((uint32_t)(uint8_t)(-p->in_offset) * 0x01010101u), c_ = p->in_c;
        const int32_t img = p->in_h * p->in_w * c_;
        const int32_t lead = ix0 < 0 ? (-ix0 < p->k_w ? -ix0 : p->k_w) * c_ : 0;
        const int32_t tail = ix0 + p->k_w > p->in_w ? (ix0 + p->k_w - (ix0 > p->in_w ? ix0 : p->in_w)) * c_ : 0;
        const int32_t mid = row_len - lead - tail;
        int8_t *c = col;
        int32_t i;
        for (ky = 0; ky < p->k_h; ++ky, c += row_len) {
            const int32_t iy = iy0 + p->dil_h * ky, at = (iy * p->in_w + ix0) * c_ + lead;
            if (iy < 0 || iy >= p->in_h) {
                for (i = 0; i < row_len; i += 4) {
                    memcpy(c + i, &pad4, 4);
                }
                continue;
            }
            for (i = 0; i < lead; i += 4) {
                memcpy(c + i, &pad4, 4);
            }
            if (at + mid + 3 <= img) {
                for (i = 0; i < mid; i += 4) {
                    memcpy(c + lead + i, in_b + at + i, 4);
                }
            } else { /* (the image's last bytes) */
                for (i = 0; i < mid; ++i) {
                    c[lead + i] = in_b[at + i];
                }
            }
            for (i = row_len - tail; i < row_len; i += 4) {
                memcpy(c + i, &pad4, 4);
            }
        }
    } else {
        eq_conv_taps(p, in_b, iy0, ix0, col);
    }
    if (K < K4) { /* zeros up to the word: one word store (col has 4 spare bytes), not a memset call */
        const int32_t zero = 0;
        memcpy(col + K, &zero, 4);
    }
    eq_x16_fill1(xw, col, K4, st);
}
#endif /* EQ_CV_WINDOWS */

/* s[0..5] = {c0 a, c0 b, c0 c, c1 a, c1 b, c1 c} += three pixels (xp..end, 6 words per 4 taps: {a even, a odd, b even,
 * b odd, c even, c odd}) times one channel pair of the int16 weights (4 words per 4 taps, the 2 x 2 layout); returns
 * the weights of the next pair. Per two taps 5 loads feed 6 SMLADs (the 2 x 2 block: 4 loads per 4). */
static inline const int32_t *eq_w16_pair3(const int32_t *xp, const int32_t *end, const int32_t *wp, int32_t s[6])
{
    int32_t a0 = s[0], b0 = s[1], c0 = s[2], a1 = s[3], b1 = s[4], c1 = s[5];
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS) /* 14 registers: an unoptimized build has not that many free */
    int32_t xa, xb, xc, w0, w1;
    /* unrolled by two groups of 4 taps (the loop branch costs 3 of a group's 27 cycles); an odd group count
     * (24 bytes of xbuf per group: bit 3 of the byte length) enters at the second group */
    __asm__ volatile("sub %[xa], %[end], %[xp]\n\t"
                     "tst %[xa], #8\n\t"
                     "bne 2f\n\t"
                     "1:\n\t" EQ_W16_PAIR3_GROUP "2:\n\t" EQ_W16_PAIR3_GROUP
                     "cmp %[xp], %[end]\n\t"
                     "bne 1b"
                     : [a0] "+r"(a0), [b0] "+r"(b0), [c0] "+r"(c0), [a1] "+r"(a1), [b1] "+r"(b1), [c1] "+r"(c1),
                       [xp] "+r"(xp), [wp] "+r"(wp), [xa] "=&r"(xa), [xb] "=&r"(xb), [xc] "=&r"(xc),
                       [w0] "=&r"(w0), [w1] "=&r"(w1)
                     : [end] "r"(end)
                     : "cc", "memory");
#else
    do {
        a0 = eq_smlad(wp[0], xp[0], eq_smlad(wp[1], xp[1], a0));
        b0 = eq_smlad(wp[0], xp[2], eq_smlad(wp[1], xp[3], b0));
        c0 = eq_smlad(wp[0], xp[4], eq_smlad(wp[1], xp[5], c0));
        a1 = eq_smlad(wp[2], xp[0], eq_smlad(wp[3], xp[1], a1));
        b1 = eq_smlad(wp[2], xp[2], eq_smlad(wp[3], xp[3], b1));
        c1 = eq_smlad(wp[2], xp[4], eq_smlad(wp[3], xp[5], c1));
        xp += 6;
        wp += 4;
    } while (xp != end);
#endif
    s[0] = a0;
    s[1] = b0;
    s[2] = c0;
    s[3] = a1;
    s[4] = b1;
    s[5] = c1;
    return wp;
}

/* The channel pairs of eq_w16_channels3 for one activation range mode (eq_cv_act); returns the next weights. */
static inline __attribute__((always_inline)) const int32_t *
eq_w16_pairs3_rq(const int32_t *xbuf, const int32_t *end, const int32_t *wp, const int32_t *bias, const int32_t *rq,
                 int32_t pairs, int32_t out_c, int8_t *restrict out, int32_t lo, int32_t hi, int mode)
{
    int32_t s[6];
    for (; pairs > 0; --pairs, rq += 6, bias += 2, out += 2) {
        int32_t m, c, e, v0, v1, v2;
        s[0] = s[1] = s[2] = bias[0];
        s[3] = s[4] = s[5] = bias[1];
        wp = eq_w16_pair3(xbuf, end, wp, s);
#if EQ_CV_RQ_ASM
        if (mode == 0) {
            eq_cv_rq6(s, rq, out, out_c);
            continue;
        }
#endif
        m = rq[0];
        c = rq[1];
        e = rq[2];
        v0 = eq_cv_rq_sat(s[0], m, c, e);
        v1 = eq_cv_rq_sat(s[1], m, c, e);
        v2 = eq_cv_rq_sat(s[2], m, c, e);
        m = rq[3];
        c = rq[4];
        e = rq[5];
        out[0] = eq_cv_act(v0, lo, hi, mode);
        out[out_c] = eq_cv_act(v1, lo, hi, mode);
        out[2 * out_c] = eq_cv_act(v2, lo, hi, mode);
        v0 = eq_cv_rq_sat(s[3], m, c, e);
        v1 = eq_cv_rq_sat(s[4], m, c, e);
        v2 = eq_cv_rq_sat(s[5], m, c, e);
        out[1] = eq_cv_act(v0, lo, hi, mode);
        out[out_c + 1] = eq_cv_act(v1, lo, hi, mode);
        out[2 * out_c + 1] = eq_cv_act(v2, lo, hi, mode);
    }
    return wp;
}

/* The channel loop for three pixels in xbuf (n4 groups of 6 words), short requantization only (p->rq, zero point
 * folded): outputs of pixel j at out + j * out_c; an odd last channel meets the generator's zero weights. */
void eq_w16_channels3(const eq_cv *p, const int32_t *xbuf, int32_t n4, int8_t *restrict out)
{
    const int32_t *wp = p->w16, *const end = xbuf + 6 * n4;
    const int32_t out_c = p->out_c, lo = p->act_min, hi = p->act_max, pairs = out_c >> 1;
    const int mode = EQ_ACT_MODE(lo, hi);
    int32_t j, s[6];
    if (mode == 0) {
        wp = eq_w16_pairs3_rq(xbuf, end, wp, p->bias_eff, p->rq, pairs, out_c, out, lo, hi, 0);
    } else { /* (a lower bound only: the upper clamp to 127 after SSAT #8 changes nothing; one copy less) */
        wp = eq_w16_pairs3_rq(xbuf, end, wp, p->bias_eff, p->rq, pairs, out_c, out, lo, hi, 2);
    }
    if (out_c & 1) {
        const int32_t oc = out_c - 1, *rq = p->rq + 3 * oc;
        s[0] = s[1] = s[2] = p->bias_eff[oc];
        s[3] = s[4] = s[5] = 0;
        eq_w16_pair3(xbuf, end, wp, s);
        for (j = 0; j < 3; ++j) {
            out[(size_t)j * out_c + oc] = eq_cv_sat(eq_rq_fast(s[j], rq), lo, hi);
        }
    }
}

#if EQ_CV_WINDOWS
/* Any window of up to EDGEQ_X16_WORDS bytes (rounded up to words): output pixels in flattened order, two at a time,
 * their windows sign-extended once and reused by every output channel pair (2 x 2 SMLAD block); border windows
 * and short rows are gathered, so every pixel takes the same inner loop and the folded bias. */
static void eq_conv_windows_x16(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    /* the windows, then col (+ 4: eq_x16_window's word copies of the last row): the stream's EQ_C1_CTX words after
     * the windows overlap col, whose gathered window is in xbuf by then (no stack beyond the two) */
    int32_t buf[EQ_X16_WORDS3 + (EDGEQ_X16_WORDS + 4 + 3) / 4], *const xbuf = buf;
    int8_t *const col = (int8_t *)(buf + EQ_X16_WORDS3);
    const int32_t K = p->k_h * p->k_w * p->in_c, K4 = (K + 3) & ~3;
    const size_t in_img = (size_t)p->in_h * p->in_w * p->in_c;
    const int stream = !p->bias_eff; /* ReLU-like: edgeq_conv1x1.c's stream (its three-pixel block only) */
    int32_t b = 0, oy = 0, ox = 0, left = p->batches * p->out_h * p->out_w, k;
#if EDGEQ_X16_WORDS >= 28
    const int rows9 = K == 27 && p->k_h == 3 && p->dil_w == 1; /* (then k_w * in_c == 9) */
#else
    const int rows9 = 0;
#endif
    const int32_t row_len = p->k_w * p->in_c;
    const int wrows = (row_len & 3) == 0 && p->dil_w == 1; /* rows of whole words, read in place */
    const size_t wstep = (size_t)p->dil_h * p->in_w * p->in_c;
    const int rows3 = wrows || rows9; /* three pixels' windows read in place together */
    if (EQ_W16_THREE(p, K4)) { /* three pixels per pass over the weights while they last */
    again:
        for (; left >= 3; left -= 3, out += 3 * p->out_c) {
            const int32_t ty = oy * p->stride_h - p->pad_h, tx = ox * p->stride_w - p->pad_w;
            if (rows3 && ox + 3 <= p->out_w && ty >= 0 && tx >= 0 &&
                tx + 2 * p->stride_w + p->k_w <= p->in_w && ty + p->dil_h * (p->k_h - 1) < p->in_h) {
                /* three pixels of a row, windows inside: together, and the blocks after them in the row while
                 * their windows stay inside (one check a run, not a block) */
                const int8_t *a = in + b * in_img + ((size_t)ty * p->in_w + tx) * p->in_c;
                const size_t d = (size_t)p->stride_w * p->in_c;
                const int32_t fit = ((p->in_w - p->k_w - tx) / p->stride_w + 1) / 3, room = (p->out_w - ox) / 3;
                int32_t n = fit < room ? fit : room;
                n = n < left / 3 ? n : left / 3;
                ox += 3 * n;
#if EDGEQ_X16_WORDS >= 28
                if (rows9 && stream) { /* the run in one call (the last block's outputs and count: the loop's step) */
                    eq_c1_pairs3(p, a, n, xbuf, K4 >> 2, out, eq_x16_rows9x3, d, wstep);
                    out += 3 * (size_t)(n - 1) * p->out_c;
                    left -= 3 * (n - 1);
                    n = -1;
                }
#endif
                while (n > 0) {
#if EDGEQ_X16_WORDS >= 28
                    if (rows9) {
                        eq_x16_rows9x3(a, d, wstep, xbuf);
                    } else
#endif
                        eq_x16_rows3(a, a + d, a + 2 * d, wstep, p->k_h, row_len, xbuf);
                    if (--n == 0) {
                        break;
                    }
                    if (stream) {
                        eq_c1_pairs3(p, NULL, 0, xbuf, K4 >> 2, out, NULL, 0, 0);
                    } else {
                        eq_w16_channels3(p, xbuf, K4 >> 2, out);
                    }
                    a += 3 * d;
                    out += 3 * p->out_c;
                    left -= 3;
                }
                if (ox == p->out_w) {
                    ox = 0;
                    if (++oy == p->out_h) {
                        oy = 0;
                        ++b;
                    }
                }
                if (n < 0) { /* (eq_c1_pairs3 ran the whole run) */
                    continue;
                }
                k = 3;
            } else {
                k = 0;
            }
            for (; k < 3; ++k) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
#if EDGEQ_X16_WORDS >= 28 /* (a per-model scratch too small for a 28-byte window: no layer of the model has one) */
                if (rows9 && iy0 >= 0 && ix0 >= 0 && ix0 + p->k_w <= p->in_w && iy0 + 2 * p->dil_h < p->in_h) {
                    eq_x16_rows9(in + b * in_img + ((size_t)iy0 * p->in_w + ix0) * p->in_c, wstep, xbuf + 2 * k);
                } else
#endif
                    if (wrows && iy0 >= 0 && ix0 >= 0 && ix0 + p->k_w <= p->in_w &&
                        iy0 + p->dil_h * (p->k_h - 1) < p->in_h) {
                    eq_x16_rows_w(in + b * in_img + ((size_t)iy0 * p->in_w + ix0) * p->in_c, wstep, p->k_h, row_len,
                                  xbuf + 2 * k);
                } else {
                    eq_x16_window(p, in + b * in_img, iy0, ix0, K4, xbuf + 2 * k, col, 6);
                }
                if (++ox == p->out_w) {
                    ox = 0;
                    if (++oy == p->out_h) {
                        oy = 0;
                        ++b;
                    }
                }
            }
            if (stream) {
                eq_c1_pairs3(p, NULL, 0, xbuf, K4 >> 2, out, NULL, 0, 0);
            } else {
                eq_w16_channels3(p, xbuf, K4 >> 2, out);
            }
        }
        if (stream && left > 0) { /* the last one or two pixels: the last three again (same bytes rewritten) */
            const int32_t q = p->batches * p->out_h * p->out_w - 3, hw = p->out_h * p->out_w;
            out -= (3 - left) * p->out_c;
            left = 3;
            b = q / hw;
            oy = (q - b * hw) / p->out_w;
            ox = q - b * hw - oy * p->out_w;
            goto again;
        }
    }
    while (left > 0) {
        const int32_t two = left > 1;
        for (k = 0; k <= two; ++k) {
            eq_x16_window(p, in + b * in_img, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, K4,
                          xbuf + 2 * k, col, 4);
            if (++ox == p->out_w) {
                ox = 0;
                if (++oy == p->out_h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        eq_w16_channels(p, xbuf, K4 >> 2, out, two ? out + p->out_c : NULL);
        out += (1 + two) * p->out_c;
        left -= 1 + two;
    }
}
#endif /* EQ_CV_WINDOWS */
#if EQ_CV_CHUNKS
/* Bytes [b0, b1) of the window of output pixel pix (flattened over batch, rows, columns; multiples of 4; in_c a
 * multiple of 4, so no group straddles two taps)
 * sign-extended into the 3-pixel layout (xw[0], xw[1] of every group of 6 words): a row inside the image is one
 * contiguous run, other taps one at a time, taps outside the image as the input zero point. */
static __attribute__((noinline)) void eq_x16_span(const eq_cv *p, const int8_t *in, int32_t pix, int32_t b0,
                                                  int32_t b1, int32_t *xw)
{
    const int32_t in_c = p->in_c, row_len = p->k_w * in_c, pad2 = eq_dup16(-p->in_offset);
    const int32_t hw = p->out_h * p->out_w, b = pix / hw, r0 = pix - b * hw, oy = r0 / p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = (r0 - oy * p->out_w) * p->stride_w - p->pad_w;
    const int8_t *const in_b = in + (size_t)b * p->in_h * p->in_w * in_c;
    const int row_inside = p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    while (b0 < b1) {
        const int32_t ky = b0 / row_len, r = b0 - ky * row_len, iy = iy0 + p->dil_h * ky;
        const int32_t kx = r / in_c, ix = ix0 + p->dil_w * kx;
        const int iy_in = iy >= 0 && iy < p->in_h;
        int32_t n = iy_in && row_inside ? row_len - r : in_c - (r - kx * in_c), i;
        if (n > b1 - b0) {
            n = b1 - b0;
        }
        if (iy_in && ix >= 0 && ix < p->in_w) { /* (row_inside: ix and the rest of the row are inside) */
            eq_x16_fill1(xw, in_b + ((size_t)iy * p->in_w + ix) * in_c + (r - kx * in_c), n, 6);
            xw += (n >> 2) * 6;
        } else {
            for (i = 0; i < n; i += 4, xw += 6) {
                xw[0] = pad2;
                xw[1] = pad2;
            }
        }
        b0 += n;
    }
}

/* Channel pairs q0..q1-1 of eq_conv_chunks3_x16 on the chunk of groups g0..g1-1 in xbuf: the sums start at the
 * folded bias (first chunk) or the partial sums in part, go back there, or (last chunk) are requantized into out
 * (pixel j at out + j * ostep). Not inlined: eq_w16_pair3's asm takes 14 registers. */
static __attribute__((noinline)) void eq_chunk_pairs(const eq_cv *p, const int32_t *xbuf, int32_t g0, int32_t g1,
                                                     int32_t q0, int32_t q1, int32_t *part, int8_t *restrict out,
                                                     int32_t ostep)
{
    const int32_t groups = (p->k_h * p->k_w * p->in_c) >> 2, out_c = p->out_c, skip = 4 * (groups - (g1 - g0));
    const int32_t *wp = p->w16 + (size_t)4 * (q0 * groups + g0), *const end = xbuf + 6 * (g1 - g0);
#if EQ_CV_RQ_ASM
    const int mode0 = p->rq && EQ_ACT_MODE(p->act_min, p->act_max) == 0;
#endif
    int32_t oc, k, s[6];
    for (oc = 2 * q0; oc < 2 * q1; oc += 2, part += 6) {
        if (g0 == 0) {
            s[0] = s[1] = s[2] = p->bias_eff[oc];
            s[3] = s[4] = s[5] = oc + 1 < out_c ? p->bias_eff[oc + 1] : 0;
        } else {
            memcpy(s, part, sizeof s);
        }
        wp = eq_w16_pair3(xbuf, end, wp, s) + skip;
        if (g1 < groups) {
            memcpy(part, s, sizeof s);
            continue;
        }
#if EQ_CV_RQ_ASM
        if (mode0 && oc + 1 < out_c) {
            eq_cv_rq6(s, p->rq + 3 * oc, out + oc, ostep);
            continue;
        }
#endif
        for (k = 0; k < 6; ++k) { /* (one copy of the requantization: code size) */
            const int32_t c = k < 3 ? oc : oc + 1, j = k < 3 ? k : k - 3;
            if (c < out_c) {
                out[j * ostep + c] = eq_cv_requant_n(s[k], p, c);
            }
        }
    }
}

/* Windows of more than EDGEQ_X16_WORDS bytes (in_c a multiple of 4; the generator's pair layout, as for the
 * smaller windows): the 3 pixels x 2 channels block over K in chunks (whole rows where they fit), the partial sums
 * of the block (6 words per channel pair, at most half the scratch) kept between chunks; more channel pairs than
 * that run in blocks, each gathering the windows again. A last one or two pixels run as three
 * copies of one pixel, outputs stored over each other. IC's 64->64 3x3 (K 576): 0.66 -> 0.8 MAC/cycle on M4. */
static void eq_conv_chunks3_x16(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int32_t xbuf[EQ_X16_WORDS3 + (EQ_CV_WINDOWS ? 0 : EQ_C1_CTX)];
    const int32_t groups = (p->k_h * p->k_w * p->in_c) >> 2, out_c = p->out_c, pairs = (out_c + 1) >> 1;
    const int32_t rowg = (p->k_w * p->in_c) >> 2, total = p->batches * p->out_h * p->out_w;
    const int32_t pb = pairs < EQ_X16_WORDS3 / 12 ? pairs : EQ_X16_WORDS3 / 12;
    int32_t G = (EQ_X16_WORDS3 - 6 * pb) / 6, pix, n, q0, g0, k;
    int32_t *const part = xbuf + 6 * G;
#if !EQ_CV_WINDOWS
    if (!p->bias_eff) { /* a windows layer's stream (windows of up to EDGEQ_X16_WORDS bytes) with the windows path
                         * compiled out: whole windows, three pixels (the last three again for a last one or two) */
        for (pix = 0; pix < total; pix += 3) {
            const int32_t q = pix > total - 3 ? total - 3 : pix;
            for (k = 0; k < 3; ++k) {
                eq_x16_span(p, in, q + k, 0, 4 * groups, xbuf + 2 * k);
            }
            eq_c1_pairs3(p, NULL, 0, xbuf, groups, out + (size_t)q * out_c, NULL, 0, 0);
        }
        return;
    }
#endif
    if (G >= rowg) {
        G -= G % rowg; /* whole rows: one run per row */
    }
    for (pix = 0; pix < total; pix += n, out += n * out_c) {
        n = total - pix >= 3 ? 3 : 1;
        for (q0 = 0; q0 < pairs; q0 += pb) {
            const int32_t q1 = q0 + pb < pairs ? q0 + pb : pairs;
            for (g0 = 0; g0 < groups; g0 += G) {
                const int32_t g1 = g0 + G < groups ? g0 + G : groups;
                for (k = 0; k < 3; ++k) {
                    eq_x16_span(p, in, n == 3 ? pix + k : pix, 4 * g0, 4 * g1, xbuf + 2 * k);
                }
                eq_chunk_pairs(p, xbuf, g0, g1, q0, q1, part, out, n == 3 ? out_c : 0);
            }
        }
    }
}
#endif /* EQ_CV_CHUNKS */
#endif

#if EQ_CV_IM2COL
/* Small filters with very short contiguous runs (e.g. a first layer on one input channel): im2col two
 * pixels at a time and run the 2x2 register-blocked dot product over the whole window. */
static void eq_conv_im2col(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int8_t cols[2][EDGEQ_IM2COL_BYTES];
    const int32_t K = p->k_h * p->k_w * p->in_c;
    const int32_t pixels = p->out_h * p->out_w;
    int32_t b, px, oc;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (px = 0; px < pixels; px += 2) {
            const int32_t two = px + 1 < pixels;
            int32_t k;
            for (k = 0; k <= two; ++k) {
                const int32_t oy = (px + k) / p->out_w, ox = (px + k) % p->out_w;
                eq_im2col(p, in_b, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, cols[k]);
            }
            for (oc = 0; oc < p->out_c; oc += 2) {
                const int32_t pair = oc + 1 < p->out_c;
                const int8_t *w0 = p->filter + (size_t)oc * K;
                const int8_t *w1 = pair ? w0 + K : w0;
                int32_t acc[4];
                acc[0] = p->bias_eff[oc];
                acc[1] = pair ? p->bias_eff[oc + 1] : 0;
                acc[2] = acc[0];
                acc[3] = acc[1];
                eq_dot2x2(w0, w1, cols[0], two ? cols[1] : cols[0], K, acc);
                out[oc] = eq_cv_requant(acc[0], p, oc);
                if (pair) {
                    out[oc + 1] = eq_cv_requant(acc[1], p, oc + 1);
                }
                if (two) {
                    out[p->out_c + oc] = eq_cv_requant(acc[2], p, oc);
                    if (pair) {
                        out[p->out_c + oc + 1] = eq_cv_requant(acc[3], p, oc + 1);
                    }
                }
            }
            out += (1 + two) * p->out_c;
        }
    }
}
#endif

#if EQ_CV_FIRST
/* 3x3 stride-2 layers on 3 input channels, no left padding (VWW's first layer: 96x96x3 -> 48x48x8), ReLU-like (the
 * generator's ops_core._conv_first_stream, same condition as eq_first_ok): the input rows of an output row converted
 * ONCE to int16 (x + in_offset, natural order: word j = channels 2j, 2j+1 of the row) into three ring rows
 * EQ_FIRST_RWW words apart, so every output pixel's window is 5 aligned words per row (10 halfwords from 6 x: the
 * 10th meets a zero weight) at fixed offsets, three pixels 12 bytes apart: no per-pixel gather, no border case (taps
 * outside the image are int16 zeros, which add nothing; the bias is the plain one). The row shared with the next
 * output row (stride 2) is converted once: odd output rows keep the ring upside down, with their own weights. */
#define EQ_FIRST_RWW 158 /* ring row stride in words (the asm's offsets: 632 bytes); rows of up to 52 output pixels */
static inline int32_t eq_first_rw(const eq_cv *p)
{
    const int32_t a = 3 * p->out_w + 2, b = 3 * p->in_w / 2;
    return a > b ? a : b;
}
static inline int eq_first_ok(const eq_cv *p)
{
    return p->w16 && !p->bias_eff && p->k_h == 3 && p->k_w == 3 && p->in_c == 3 && p->stride_h == 2 &&
           p->stride_w == 2 && p->dil_h == 1 && p->dil_w == 1 && p->pad_w == 0 && (p->in_w & 3) == 0 &&
           p->out_w >= 3 && eq_first_rw(p) <= EQ_FIRST_RWW;
}

/* n bytes (a multiple of 4) of a row to int16 x + in_offset (off2: in_offset in both halves), natural order */
static inline void eq_first_row(int32_t *dst, const int8_t *src, int32_t n, int32_t off2)
{
    int32_t i = 0;
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
    if (n >= 8) {
        const int8_t *const end = src + (n & ~7);
        /* 8 bytes a step (SXTAB16 even/odd, PKHBT/PKHTB back to pairs in order, one STM), two a pass (an odd
         * count enters at the second) */
#define EQ_F_ROW8                                                                                            \
    "ldr r9, [%[s]], #4\n\t"                                                                                  \
    "ldr r10, [%[s]], #4\n\t"                                                                                 \
    "sxtab16 r5, %[o], r9, ror #8\n\t"                                                                        \
    "sxtab16 r9, %[o], r9\n\t"                                                                                \
    "pkhbt r4, r9, r5, lsl #16\n\t"                                                                           \
    "pkhtb r5, r5, r9, asr #16\n\t"                                                                           \
    "sxtab16 r8, %[o], r10, ror #8\n\t"                                                                       \
    "sxtab16 r10, %[o], r10\n\t"                                                                              \
    "pkhbt r6, r10, r8, lsl #16\n\t"                                                                          \
    "pkhtb r8, r8, r10, asr #16\n\t"                                                                          \
    "stmia %[d]!, {r4, r5, r6, r8}\n\t"
        __asm__ volatile("tst %[n], #8\n\t"
                         "bne 2f\n\t"
                         "1:\n\t" EQ_F_ROW8 "2:\n\t" EQ_F_ROW8
                         "cmp %[s], %[e]\n\t"
                         "bne 1b"
                         : [s] "+r"(src), [d] "+r"(dst)
                         : [o] "r"(off2), [e] "r"(end), [n] "r"(n)
                         : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#undef EQ_F_ROW8
        n &= 7; /* (src and dst stepped past the bytes done) */
    }
#endif
    for (; i < n; i += 4, dst += 2) {
        const int32_t v = eq_load32(src + i), e = eq_sxtab16(off2, v), o = eq_sxtab16_ror8(off2, v);
        dst[0] = (int32_t)(((uint32_t)e & 0xFFFFu) | ((uint32_t)o << 16));
        dst[1] = (int32_t)(((uint32_t)o & 0xFFFF0000u) | ((uint32_t)e >> 16));
    }
}

/* All channel pairs of n blocks of three pixels, the first at xp (ring words, pixels 3 apart, blocks 9) into out
 * (pixel j at out + j out_c, blocks 3 out_c apart). The stream per pair: {2 bias0, 2 bias1}, 15 steps {w0, w1} (step
 * s: ring row s / 5, word s % 5; weights doubled), {m, c, e} of both channels (channel 0's e: bits 8-22 out_c, bit 31
 * the last pair; channel 1's e: bits 8-30 2 x the pair's index; ASR reads bits 0-7). */
static __attribute__((noinline)) void eq_first_blocks(const int32_t *xp, const int32_t *wp, int8_t *out, int32_t n)
{
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
    int32_t a0, b0, c0, a1, b1, c1, xa, xb, xc, w0, w1 = (int32_t)(intptr_t)(xp + 9 * n);
#define EQ_F_LD(oa, ob, oc, ow0, ow1)                                                                        \
    "ldr %[xa], [%[xp], #" #oa "]\n\t"                                                                         \
    "ldr %[xb], [%[xp], #" #ob "]\n\t"                                                                         \
    "ldr %[xc], [%[xp], #" #oc "]\n\t"                                                                         \
    "ldr %[w0], [%[wp], #" #ow0 "]\n\t"                                                                        \
    "ldr %[w1], [%[wp], #" #ow1 "]\n\t"
#define EQ_F_STEP(oa, ob, oc, ow0, ow1) EQ_F_LD(oa, ob, oc, ow0, ow1) EQ_W16_SMLAD6
#define EQ_F_RQ(acc)                                                                                         \
    "smmlar %[" #acc "], %[" #acc "], %[xa], %[xb]\n\t"                                                      \
    "asr %[" #acc "], %[" #acc "], %[xc]\n\t"                                                                \
    "ssat %[" #acc "], #8, %[" #acc "]\n\t"
    /* the blocks' end and the weights' start pushed (sp - 8, popped after the loop: nothing lives below sp, which
     * an exception frame would overwrite) for the block loop (every register is taken inside it) */
    __asm__ volatile("strd %[w1], %[wp], [sp, #-8]!\n\t"
                     ".balign 4\n\t"
                     "3:\n\t"
                     "ldr %[a0], [%[wp]]\n\t"
                     "ldr %[a1], [%[wp], #4]\n\t" EQ_F_LD(0, 12, 24, 8, 12)
                     "smlad %[b0], %[w0], %[xb], %[a0]\n\t"
                     "smlad %[c0], %[w0], %[xc], %[a0]\n\t"
                     "smlad %[a0], %[w0], %[xa], %[a0]\n\t"
                     "smlad %[b1], %[w1], %[xb], %[a1]\n\t"
                     "smlad %[c1], %[w1], %[xc], %[a1]\n\t"
                     "smlad %[a1], %[w1], %[xa], %[a1]\n\t"
                     EQ_F_STEP(4, 16, 28, 16, 20) EQ_F_STEP(8, 20, 32, 24, 28) EQ_F_STEP(12, 24, 36, 32, 36)
                     EQ_F_STEP(16, 28, 40, 40, 44) EQ_F_STEP(632, 644, 656, 48, 52)
                     EQ_F_STEP(636, 648, 660, 56, 60) EQ_F_STEP(640, 652, 664, 64, 68)
                     EQ_F_STEP(644, 656, 668, 72, 76) EQ_F_STEP(648, 660, 672, 80, 84)
                     EQ_F_STEP(1264, 1276, 1288, 88, 92) EQ_F_STEP(1268, 1280, 1292, 96, 100)
                     EQ_F_STEP(1272, 1284, 1296, 104, 108) EQ_F_STEP(1276, 1288, 1300, 112, 116)
                     EQ_F_STEP(1280, 1292, 1304, 120, 124)
                     "ldr %[xa], [%[wp], #128]\n\t"
                     "ldr %[xb], [%[wp], #132]\n\t"
                     "ldr %[xc], [%[wp], #136]\n\t" EQ_F_RQ(a0) EQ_F_RQ(b0) EQ_F_RQ(c0)
                     "ubfx %[w1], %[xc], #8, #15\n\t"
                     "cmp %[xc], #0\n\t"
                     "ldr %[xa], [%[wp], #140]\n\t"
                     "ldr %[xb], [%[wp], #144]\n\t"
                     "ldr %[xc], [%[wp], #148]\n\t"
                     "add %[wp], %[wp], #152\n\t" EQ_F_RQ(a1) EQ_F_RQ(b1) EQ_F_RQ(c1)
                     "add %[w0], %[out], %[xc], lsr #8\n\t"
                     "bfi %[a0], %[a1], #8, #8\n\t"
                     "bfi %[b0], %[b1], #8, #8\n\t"
                     "bfi %[c0], %[c1], #8, #8\n\t"
                     "strh %[b0], [%[w0], %[w1]]\n\t"
                     "strh %[c0], [%[w0], %[w1], lsl #1]\n\t"
                     "strh %[a0], [%[w0]]\n\t"
                     "bpl 3b\n\t"
                     /* the next block: outputs 3 out_c on (w1: out_c), pixels 9 words, the weights from the start */
                     "ldrd %[xa], %[wp], [sp]\n\t"
                     "add %[out], %[out], %[w1], lsl #1\n\t"
                     "add %[out], %[out], %[w1]\n\t"
                     "add %[xp], %[xp], #36\n\t"
                     "cmp %[xp], %[xa]\n\t"
                     "bne 3b\n\t"
                     "add sp, sp, #8"
                     : [a0] "=&r"(a0), [b0] "=&r"(b0), [c0] "=&r"(c0), [a1] "=&r"(a1), [b1] "=&r"(b1),
                       [c1] "=&r"(c1), [wp] "+&r"(wp), [xa] "=&r"(xa), [xb] "=&r"(xb), [xc] "=&r"(xc),
                       [w0] "=&r"(w0), [w1] "+&r"(w1), [xp] "+&r"(xp), [out] "+&r"(out)
                     :
                     : "cc", "memory");
#undef EQ_F_LD
#undef EQ_F_STEP
#undef EQ_F_RQ
#else /* the C twin: the same stream, sums and requantization */
    const int32_t *const w16 = wp, out_c = (wp[34] >> 8) & 0x7FFF;
    for (; n > 0; --n, xp += 9, out += 3 * out_c) {
        for (wp = w16;; wp += 38) {
            const int32_t *const rq = wp + 32;
            int8_t *const o = out + (rq[5] >> 8);
            int32_t s[6], j, k;
            for (j = 0; j < 6; ++j) {
                s[j] = wp[j / 3];
            }
            for (k = 0; k < 15; ++k) {
                const int32_t *const x = xp + (k / 5) * EQ_FIRST_RWW + k % 5;
                for (j = 0; j < 3; ++j) {
                    s[j] = eq_smlad(wp[2 + 2 * k], x[3 * j], s[j]);
                    s[3 + j] = eq_smlad(wp[3 + 2 * k], x[3 * j], s[3 + j]);
                }
            }
            for (j = 0; j < 6; ++j) {
                const int32_t *const r = rq + 3 * (j / 3);
                o[(j % 3) * out_c + j / 3] = (int8_t)edgeq_clamp(eq_smmlar(s[j], r[0], r[1]) >> (r[2] & 0xFF), -128,
                                                                 127);
            }
            if (rq[2] < 0) {
                break;
            }
        }
    }
#endif
}

static void eq_first_zero(int32_t *d, int32_t n)
{
    while (n-- > 0) {
        *d++ = 0;
    }
}

static __attribute__((noinline)) void eq_conv_first(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int32_t ring[3 * EQ_FIRST_RWW];
    const int32_t n = 3 * p->in_w, off2 = eq_dup16(p->in_offset);
    const size_t img = (size_t)p->in_h * (size_t)n;
    int32_t b, oy, ky;
    for (ky = 0; ky < 3; ++ky) { /* the pad columns right of the image (they stay zero) */
        eq_first_zero(ring + ky * EQ_FIRST_RWW + (n >> 1), eq_first_rw(p) - (n >> 1));
    }
    for (b = 0; b < p->batches; ++b, in += img) {
        for (oy = 0; oy < p->out_h; ++oy) {
            /* odd output rows hold their rows in the ring upside down (row ky in slot 2 - ky: the row shared with
             * the last output row stays where it is) and take the generator's second weight set (kernel rows
             * reversed) */
            const int odd = oy & 1;
            const int32_t iy0 = 2 * oy - p->pad_h, *const w = p->w16 + (odd ? 19 * p->out_c : 0);
            int8_t *o = out + ((size_t)b * p->out_h + oy) * p->out_w * p->out_c;
            for (ky = oy > 0; ky < 3; ++ky) {
                const int32_t iy = iy0 + ky;
                int32_t *const row = ring + (odd ? 2 - ky : ky) * EQ_FIRST_RWW;
                if (iy >= 0 && iy < p->in_h) {
                    eq_first_row(row, in + (size_t)iy * n, n, off2);
                } else {
                    eq_first_zero(row, n >> 1);
                }
            }
            eq_first_blocks(ring, w, o, p->out_w / 3);
            if (p->out_w % 3) { /* the last one or two pixels: the last three again (same bytes rewritten) */
                eq_first_blocks(ring + 3 * (p->out_w - 3), w, o + (p->out_w - 3) * p->out_c, 1);
            }
        }
    }
}
#endif /* EQ_CV_FIRST */

static void eq_conv_general(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, oc, ky, kx;
    const int32_t filter_size = p->k_h * p->k_w * p->in_c;
#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
    /* the int16 paths need the generator's w16 weights (windows up to 640 bytes, see edgeq_conv.h);
     * parameters without them take the int8 loops below */
    if (eq_conv1x1_w16(p, in, out)) { /* edgeq_conv1x1.c */
        return;
    }
#if EQ_CV_FIRST
    if (eq_first_ok(p)) { /* (the generator's _conv_first_stream: the w16 holds that layout) */
        eq_conv_first(p, in, out);
        return;
    }
#endif
#if EQ_CV_WINDOWS
    if (p->w16 && ((filter_size + 3) & ~3) <= EDGEQ_X16_WORDS) {
        eq_conv_windows_x16(p, in, out);
        return;
    }
#endif
#if EQ_CV_CHUNKS
    if (p->w16 && (p->in_c & 3) == 0) { /* larger windows, K in chunks (and any window with the windows path off) */
        eq_conv_chunks3_x16(p, in, out);
        return;
    }
#endif
#endif
#if EQ_CV_IM2COL /* (Helium builds: windows this small always take eq_conv_mve) */
    /* im2col pays off when the contiguous runs of the direct path are too short for word loads */
    if (filter_size <= EDGEQ_IM2COL_BYTES && (p->k_h > 1 || p->k_w > 1) &&
        (p->dil_w == 1 ? p->k_w * p->in_c : p->in_c) < 8) {
        eq_conv_im2col(p, in, out);
        return;
    }
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            eq_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1, full, seg_len, seg_count;
                eq_valid_taps(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                full = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w;
#if !EQ_CV_GENERAL_FAST
                /* one loop (Helium: VMLADAV + VADDVA, folds the offset as it goes) for every window: code size (the
                 * other builds where the generator found no layer of the model taking this loop: a fallback) */
                full = 0;
#else
                if (full && p->dil_w == 1 && ox + 1 < p->out_w &&
                    ix0 + p->stride_w + p->k_w <= p->in_w) {
                    /* two neighbouring output pixels with windows fully inside: 2x2 register block */
                    const int32_t row_len = p->k_w * p->in_c;
                    const size_t next = (size_t)p->stride_w * p->in_c;
                    int8_t *out2 = out + p->out_c;
                    for (oc = 0; oc < p->out_c; oc += 2) {
                        const int32_t pair = oc + 1 < p->out_c;
                        const int8_t *w0 = p->filter + (size_t)oc * filter_size;
                        const int8_t *w1 = pair ? w0 + filter_size : w0;
                        int32_t acc[4];
                        acc[0] = p->bias_eff[oc];
                        acc[1] = pair ? p->bias_eff[oc + 1] : 0;
                        acc[2] = acc[0];
                        acc[3] = acc[1];
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int8_t *ip = in_b + ((size_t)(iy0 + p->dil_h * ky) * p->in_w + ix0) * p->in_c;
                            const size_t wofs = (size_t)ky * row_len;
                            eq_dot2x2(w0 + wofs, w1 + wofs, ip, ip + next, row_len, acc);
                        }
                        out[oc] = eq_cv_requant(acc[0], p, oc);
                        out2[oc] = eq_cv_requant(acc[2], p, oc);
                        if (pair) {
                            out[oc + 1] = eq_cv_requant(acc[1], p, oc + 1);
                            out2[oc + 1] = eq_cv_requant(acc[3], p, oc + 1);
                        }
                    }
                    out += 2 * p->out_c;
                    ++ox;
                    continue;
                }
#endif
                /* with dilation 1 a filter row is one contiguous run of input bytes */
                seg_len = p->dil_w == 1 ? (kx1 - kx0) * p->in_c : p->in_c;
                seg_count = p->dil_w == 1 ? (kx1 > kx0 ? 1 : 0) : kx1 - kx0;
                for (oc = 0; oc < p->out_c; oc += 2) {
                    const int32_t pair = oc + 1 < p->out_c;
                    const int8_t *w0 = p->filter + (size_t)oc * filter_size;
                    const int8_t *w1 = pair ? w0 + filter_size : w0;
                    int32_t acc0, acc1;
                    if (full) {
                        acc0 = p->bias_eff[oc];
                        acc1 = pair ? p->bias_eff[oc + 1] : 0;
                    } else {
                        acc0 = p->bias ? p->bias[oc] : 0;
                        acc1 = (pair && p->bias) ? p->bias[oc + 1] : 0;
                    }
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int32_t iy = iy0 + p->dil_h * ky;
                        for (kx = 0; kx < seg_count; ++kx) {
                            const int32_t tx = kx0 + kx;
                            const int32_t ix = ix0 + p->dil_w * tx;
                            const int8_t *ip = in_b + ((size_t)iy * p->in_w + ix) * p->in_c;
                            const size_t wofs = ((size_t)ky * p->k_w + tx) * p->in_c;
                            if (full) {
                                eq_cv_dot2(w0 + wofs, w1 + wofs, ip, seg_len, &acc0, &acc1);
                            } else {
                                eq_dot2_offset(w0 + wofs, w1 + wofs, ip, seg_len, p->in_offset, &acc0, &acc1);
                            }
                        }
                    }
                    out[oc] = eq_cv_requant(acc0, p, oc);
                    if (pair) {
                        out[oc + 1] = eq_cv_requant(acc1, p, oc + 1);
                    }
                }
                out += p->out_c;
            }
        }
    }
}


void edgeq_conv2d(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out)
{
#ifdef EDGEQ_MVE
    if (edgeq_conv2d_mve(p, in, out)) { /* edgeq_conv_mve.c */
        return;
    }
#endif
    eq_conv_general(p, in, out);
}
