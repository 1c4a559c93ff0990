/* edgeq runtime: portable C99 int8 kernels (see edgeq_core.h for the contract).
 *
 * These bodies mirror TFLite Micro's reference kernels operation for operation, because TFLM is the
 * oracle the generated code must match bit for bit. Accumulation order inside one int32 sum does not
 * matter (two's-complement addition is associative), which is what later optimized kernels rely on.
 */
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
/* Scratch on the stack for convolution inputs sign-extended to int16 once and reused by every output channel: two
 * pixels' windows of up to this many bytes (1.25 KiB by default). */
#ifndef EDGEQ_X16_WORDS
#define EDGEQ_X16_WORDS 320
#endif
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

/* 2 filter rows x 2 input runs (two output pixels): each loaded word feeds two SMLADs. */
static inline void eq_dot2x2(const int8_t *w0, const int8_t *w1, const int8_t *xa, const int8_t *xb, int32_t n,
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

static inline int32_t eq_dot(const int8_t *w, const int8_t *x, int32_t n, int32_t acc)
{
    int32_t i = 0;
#ifdef EDGEQ_DSP
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = eq_load32(x + i), a = eq_load32(w + i);
        acc = eq_smlad(eq_sxtb16(a), eq_sxtb16(xv), acc);
        acc = eq_smlad(eq_sxtb16_ror8((a)), eq_sxtb16_ror8((xv)), acc);
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)w[i] * x[i];
    }
    return acc;
}

/* acc0 += w0 . (x + offset), acc1 += w1 . (x + offset): for windows clipped by the image border, where
 * the precomputed bias_eff does not apply. */
static inline void eq_dot2_offset(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n, int32_t offset,
                                  int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1, i = 0;
#ifdef EDGEQ_DSP
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

static inline int8_t eq_requant(int32_t acc, const edgeq_conv_params *p, int32_t ch)
{
    int32_t v;
    if (p->rq) {
        v = eq_rq_fast(acc, p->rq + 3 * ch);
    } else {
        const int32_t c = p->per_channel ? ch : 0;
        v = edgeq_mbqm(acc, p->mult[c], (int)p->shift[c]);
    }
    return (int8_t)edgeq_clamp(v + p->out_offset, p->act_min, p->act_max);
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

/* Why the folded bias: TFLM sums w * (x + in_offset) over the taps inside the image. Splitting that into
 * w . x + in_offset * sum(w) lets the inner loop be a plain int8 dot product; for windows fully inside the
 * image sum(w) is the precomputed per-channel constant in bias_eff; windows clipped by the border add the
 * offset to x instead (SXTAB16 does it for free). Modulo 2^32 every order gives the same int32, hence the
 * same bytes as TFLM. */
#ifndef EDGEQ_OVERRIDE_CONV2D_S8
#ifndef EDGEQ_IM2COL_BYTES
#define EDGEQ_IM2COL_BYTES 128 /* per output pixel; two columns live on the stack */
#endif

/* Gather one output pixel's receptive field into a contiguous column. Taps outside the image get the input
 * zero point, i.e. x + in_offset == 0: they add nothing, exactly like the taps TFLM skips, so every column
 * can use the folded bias. */
static void eq_im2col(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int8_t pad = (int8_t)(-p->in_offset);
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + p->dil_h * ky;
        for (kx = 0; kx < p->k_w; ++kx, col += p->in_c) {
            const int32_t ix = ix0 + p->dil_w * kx;
            int32_t c;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (c = 0; c < p->in_c; ++c) { /* a few bytes: cheaper than a memset call */
                    col[c] = pad;
                }
            } else {
                const int8_t *src = in_b + ((size_t)iy * p->in_w + ix) * p->in_c;
                for (c = 0; c < p->in_c; ++c) {
                    col[c] = src[c];
                }
            }
        }
    }
}

#ifdef EDGEQ_DSP
/* Two output pixels whose receptive fields were sign-extended to int16 once into xbuf (SXTB16 order, interleaved
 * per 4 bytes: a even, a odd, b even, b odd; n4 groups of 4 bytes): every output channel reuses them, so the inner
 * loop only extracts the weights. out2 == NULL: only pixel a is stored. */
static void eq_conv_x16_channels(const edgeq_conv_params *p, const int32_t *xbuf, int32_t n4, int8_t *restrict out,
                                 int8_t *restrict out2)
{
    int32_t i, oc = 0;
    if (p->rq && out2) {
        /* the common case without per-output checks: short requantization, both pixels, channel pairs */
        const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
        const int32_t K = 4 * n4;
        const int32_t *rq = p->rq;
        const int8_t *wpair = p->filter;
        for (; oc + 2 <= p->out_c; oc += 2, rq += 6, wpair += 2 * K) {
            const int8_t *w0 = wpair, *w1 = wpair + K;
            const int32_t *xp = xbuf;
            int32_t s00 = p->bias_eff[oc], s01 = p->bias_eff[oc + 1];
            int32_t s10 = s00, s11 = s01;
            for (i = 0; i < n4; ++i, xp += 4, w0 += 4, w1 += 4) {
                int32_t wv = eq_load32(w0);
                int32_t we = eq_sxtb16(wv), wo = eq_sxtb16_ror8(wv);
                s00 = eq_smlad(we, xp[0], s00);
                s00 = eq_smlad(wo, xp[1], s00);
                s10 = eq_smlad(we, xp[2], s10);
                s10 = eq_smlad(wo, xp[3], s10);
                wv = eq_load32(w1);
                we = eq_sxtb16(wv);
                wo = eq_sxtb16_ror8(wv);
                s01 = eq_smlad(we, xp[0], s01);
                s01 = eq_smlad(wo, xp[1], s01);
                s11 = eq_smlad(we, xp[2], s11);
                s11 = eq_smlad(wo, xp[3], s11);
            }
            out[oc] = (int8_t)edgeq_clamp(eq_rq_fast(s00, rq) + zp, lo, hi);
            out[oc + 1] = (int8_t)edgeq_clamp(eq_rq_fast(s01, rq + 3) + zp, lo, hi);
            out2[oc] = (int8_t)edgeq_clamp(eq_rq_fast(s10, rq) + zp, lo, hi);
            out2[oc + 1] = (int8_t)edgeq_clamp(eq_rq_fast(s11, rq + 3) + zp, lo, hi);
        }
    }
    for (; oc < p->out_c; oc += 2) {
        const int32_t pair = oc + 1 < p->out_c;
        const int8_t *w0 = p->filter + (size_t)oc * 4 * n4;
        const int8_t *w1 = pair ? w0 + 4 * n4 : w0;
        const int32_t *xp = xbuf;
        int32_t s00 = p->bias_eff[oc], s01 = pair ? p->bias_eff[oc + 1] : 0;
        int32_t s10 = s00, s11 = s01;
        for (i = 0; i < n4; ++i, xp += 4, w0 += 4, w1 += 4) {
            int32_t wv = eq_load32(w0);
            int32_t we = eq_sxtb16(wv), wo = eq_sxtb16_ror8(wv);
            s00 = eq_smlad(we, xp[0], s00);
            s00 = eq_smlad(wo, xp[1], s00);
            s10 = eq_smlad(we, xp[2], s10);
            s10 = eq_smlad(wo, xp[3], s10);
            wv = eq_load32(w1);
            we = eq_sxtb16(wv);
            wo = eq_sxtb16_ror8(wv);
            s01 = eq_smlad(we, xp[0], s01);
            s01 = eq_smlad(wo, xp[1], s01);
            s11 = eq_smlad(we, xp[2], s11);
            s11 = eq_smlad(wo, xp[3], s11);
        }
        out[oc] = eq_requant(s00, p, oc);
        if (pair) {
            out[oc + 1] = eq_requant(s01, p, oc + 1);
        }
        if (out2) {
            out2[oc] = eq_requant(s10, p, oc);
            if (pair) {
                out2[oc + 1] = eq_requant(s11, p, oc + 1);
            }
        }
    }
}

/* Sign-extend n bytes (a multiple of 4) of pixels a and b into xw, interleaved as eq_conv_x16_channels reads. */
static int32_t *eq_x16_fill(int32_t *xw, const int8_t *a, const int8_t *b, int32_t n)
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

/* 1x1 convolution (no padding), in_c a multiple of 4: every window is one contiguous run, so pixels pair up in
 * flattened order (across rows and batches), and odd row widths leave no pixel to the slower single-pixel loop. */
static void eq_conv1x1_x16(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t xbuf[EDGEQ_X16_WORDS];
    const int32_t hw = p->out_h * p->out_w;
    const int32_t total = p->batches * hw;
    int32_t px, k;
    for (px = 0; px < total; px += 2) {
        const int32_t two = px + 1 < total;
        const int8_t *src[2];
        for (k = 0; k <= two; ++k) {
            const int32_t b = (px + k) / hw, r = (px + k) - b * hw;
            const int32_t oy = r / p->out_w, ox = r - oy * p->out_w;
            src[k] = in + (((size_t)b * p->in_h + (size_t)oy * p->stride_h) * p->in_w + (size_t)ox * p->stride_w) *
                              p->in_c;
        }
        eq_x16_fill(xbuf, src[0], two ? src[1] : src[0], p->in_c);
        eq_conv_x16_channels(p, xbuf, p->in_c >> 2, out, two ? out + p->out_c : NULL);
        out += 2 * p->out_c;
    }
}

/* Two neighbouring output pixels, windows fully inside, filter rows a multiple of 4 bytes. */
static void eq_conv_pair_x16(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                             int8_t *restrict out)
{
    int32_t xbuf[EDGEQ_X16_WORDS];
    const int32_t row_len = p->k_w * p->in_c;
    const size_t next = (size_t)p->stride_w * p->in_c;
    int32_t *xw = xbuf;
    int32_t ky;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int8_t *ip = in_b + ((size_t)(iy0 + p->dil_h * ky) * p->in_w + ix0) * p->in_c;
        xw = eq_x16_fill(xw, ip, ip + next, row_len);
    }
    eq_conv_x16_channels(p, xbuf, (p->k_h * row_len) >> 2, out, out + p->out_c);
}
#endif

/* Small filters with very short contiguous runs (e.g. a first layer on one input channel): im2col two
 * pixels at a time and run the 2x2 register-blocked dot product over the whole window. */
static void eq_conv_im2col(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
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
#ifdef EDGEQ_DSP
            if ((K & 3) == 0) {
                int32_t xbuf[EDGEQ_IM2COL_BYTES];
                eq_x16_fill(xbuf, cols[0], two ? cols[1] : cols[0], K);
                eq_conv_x16_channels(p, xbuf, K >> 2, out, two ? out + p->out_c : NULL);
                out += (1 + two) * p->out_c;
                continue;
            }
#endif
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
                out[oc] = eq_requant(acc[0], p, oc);
                if (pair) {
                    out[oc + 1] = eq_requant(acc[1], p, oc + 1);
                }
                if (two) {
                    out[p->out_c + oc] = eq_requant(acc[2], p, oc);
                    if (pair) {
                        out[p->out_c + oc + 1] = eq_requant(acc[3], p, oc + 1);
                    }
                }
            }
            out += (1 + two) * p->out_c;
        }
    }
}

void edgeq_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, oc, ky, kx;
    const int32_t filter_size = p->k_h * p->k_w * p->in_c;
#ifdef EDGEQ_DSP
    if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0 && (p->in_c & 3) == 0 &&
        p->in_c <= EDGEQ_X16_WORDS) {
        eq_conv1x1_x16(p, in, out);
        return;
    }
#endif
    /* im2col pays off when the contiguous runs of the direct path are too short for word loads */
    if (filter_size <= EDGEQ_IM2COL_BYTES && (p->k_h > 1 || p->k_w > 1) &&
        (p->dil_w == 1 ? p->k_w * p->in_c : p->in_c) < 8) {
        eq_conv_im2col(p, in, out);
        return;
    }
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
                if (full && p->dil_w == 1 && ox + 1 < p->out_w &&
                    ix0 + p->stride_w + p->k_w <= p->in_w) {
                    /* two neighbouring output pixels with windows fully inside: 2x2 register block */
                    const int32_t row_len = p->k_w * p->in_c;
                    const size_t next = (size_t)p->stride_w * p->in_c;
                    int8_t *out2 = out + p->out_c;
#ifdef EDGEQ_DSP
                    if ((row_len & 3) == 0 && filter_size <= EDGEQ_X16_WORDS) {
                        eq_conv_pair_x16(p, in_b, iy0, ix0, out);
                        out += 2 * p->out_c;
                        ++ox;
                        continue;
                    }
#endif
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
                        out[oc] = eq_requant(acc[0], p, oc);
                        out2[oc] = eq_requant(acc[2], p, oc);
                        if (pair) {
                            out[oc + 1] = eq_requant(acc[1], p, oc + 1);
                            out2[oc + 1] = eq_requant(acc[3], p, oc + 1);
                        }
                    }
                    out += 2 * p->out_c;
                    ++ox;
                    continue;
                }
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
                                eq_dot2(w0 + wofs, w1 + wofs, ip, seg_len, &acc0, &acc1);
                            } else {
                                eq_dot2_offset(w0 + wofs, w1 + wofs, ip, seg_len, p->in_offset, &acc0, &acc1);
                            }
                        }
                    }
                    out[oc] = eq_requant(acc0, p, oc);
                    if (pair) {
                        out[oc + 1] = eq_requant(acc1, p, oc + 1);
                    }
                }
                out += p->out_c;
            }
        }
    }
}
#endif

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

static inline void eq_dw_store4(const edgeq_conv_params *p, const int32_t *rq, int32_t a0, int32_t a1, int32_t a2,
                                int32_t a3, int8_t *restrict out)
{
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    out[0] = (int8_t)edgeq_clamp(eq_rq_fast(a0, rq) + zp, lo, hi);
    out[1] = (int8_t)edgeq_clamp(eq_rq_fast(a1, rq + 3) + zp, lo, hi);
    out[2] = (int8_t)edgeq_clamp(eq_rq_fast(a2, rq + 6) + zp, lo, hi);
    out[3] = (int8_t)edgeq_clamp(eq_rq_fast(a3, rq + 9) + zp, lo, hi);
}

/* 3x3 window fully inside the input (any stride/dilation), depth multiplier 1, rq and dw_w present: the nine
 * taps unrolled, the folded bias_eff, no bounds checks and no input offset. Channels in_c & ~3; taps xs bytes
 * apart within a row, ys bytes between rows. */
static void eq_dw_full3x3_m1(const edgeq_conv_params *p, const int8_t *x0, int32_t xs, int32_t ys,
                             int8_t *restrict out)
{
    const int32_t C4 = p->in_c & ~3;
    const int32_t *w = p->dw_w;
    const int32_t *rq = p->rq;
    const int32_t *be = p->bias_eff;
    int32_t c;
    for (c = 0; c < C4; c += 4, w += 18, rq += 12) {
        const int8_t *r = x0 + c;
        int32_t a0 = be[c], a1 = be[c + 1], a2 = be[c + 2], a3 = be[c + 3];
#if defined(EDGEQ_DSP_ASM)
        {
            /* The same nine taps as the C below, scheduled by hand: GCC spills and reloads the weight pairs
             * otherwise. Per tap: LDR, LDRD (post-increment), 2 SXTB16, 4 SMLAxy. */
            const int8_t *rp = r;
            const int32_t *wp = w;
            int32_t xv, xe, we, wo;
#define EQ_DW_ASM_TAP(addr)                                                                                \
    "ldr %[xv], " addr "\n\t"                                                                             \
    "ldrd %[we], %[wo], [%[wp]], #8\n\t"                                                                  \
    "sxtb16 %[xe], %[xv]\n\t"                                                                             \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                                     \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                               \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                               \
    "smlabb %[a1], %[xv], %[wo], %[a1]\n\t"                                                               \
    "smlatt %[a3], %[xv], %[wo], %[a3]\n\t"
#define EQ_DW_ASM_ROW                                                                                      \
    EQ_DW_ASM_TAP("[%[rp]]") EQ_DW_ASM_TAP("[%[rp], %[xs]]") EQ_DW_ASM_TAP("[%[rp], %[xs], lsl #1]")
            __asm__(EQ_DW_ASM_ROW "add %[rp], %[rp], %[ys]\n\t" EQ_DW_ASM_ROW "add %[rp], %[rp], %[ys]\n\t"
                    EQ_DW_ASM_ROW
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [rp] "+&r"(rp), [wp] "+&r"(wp),
                      [xv] "=&r"(xv), [xe] "=&r"(xe), [we] "=&r"(we), [wo] "=&r"(wo)
                    : [xs] "r"(xs), [ys] "r"(ys)
                    : "memory");
#undef EQ_DW_ASM_ROW
#undef EQ_DW_ASM_TAP
        }
#else
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
#endif
        eq_dw_store4(p, rq, a0, a1, a2, a3, out + c);
    }
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
    eq_dw_full3x3_m1(p, (const int8_t *)win, 4 * W4, 12 * W4, out);
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
        out[c] = eq_requant(a0, p, c);
        out[c + 1] = eq_requant(a1, p, c + 1);
        out[c + 2] = eq_requant(a2, p, c + 2);
        out[c + 3] = eq_requant(a3, p, c + 3);
    }
    return C4;
}
#endif

/* Depth multiplier 1: four channels at a time, taps inner, so the accumulators stay in registers and
 * every load brings four channels. Channels from c_start on. */
static void eq_dw_pixel_m1(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int32_t ky0,
                           int32_t ky1, int32_t kx0, int32_t kx1, int32_t c_start, int8_t *restrict out)
{
    const int32_t C = p->in_c;
    const int32_t full = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w;
    int32_t c = c_start, ky, kx, j;
#ifdef EDGEQ_DSP
    /* SXTAB16 adds in_offset while sign-extending, so clipped border windows need no correction. */
    const int32_t off2 = eq_dup16(p->in_offset);
    const size_t xstep = (size_t)p->dil_w * C;
    const size_t xrow_step = (size_t)p->dil_h * p->in_w * C;
    const size_t wrow_step = (size_t)p->k_w * C;
    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
    const int8_t *x_base = in_b + ((size_t)(iy0 + p->dil_h * ky0) * p->in_w + ix0 + p->dil_w * kx0) * C;
    const int8_t *w_base = p->filter + ((size_t)ky0 * p->k_w + kx0) * C;
    if (p->dw_w && c == 0) {
        c = eq_dw_window4_m1(p, x_base, ky0, ky1, kx0, kx1, out);
    }
    for (; c + 4 <= C; c += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const int8_t *xr = x_base + c;
        const int8_t *wr = w_base + c;
        if (p->bias) {
            a0 = p->bias[c];
            a1 = p->bias[c + 1];
            a2 = p->bias[c + 2];
            a3 = p->bias[c + 3];
        }
        for (ky = 0; ky < n_ky; ++ky, xr += xrow_step, wr += wrow_step) {
            const int8_t *xp = xr;
            const int8_t *wp = wr;
            for (kx = 0; kx < n_kx; ++kx, xp += xstep, wp += C) {
                const int32_t xv = eq_load32(xp);
                const int32_t wv = eq_load32(wp);
                const int32_t xe = eq_sxtab16(off2, xv), xo = eq_sxtab16_ror8(off2, xv);
                const int32_t we = eq_sxtb16(wv), wo = eq_sxtb16_ror8(wv);
                a0 = eq_smlabb(xe, we, a0);
                a2 = eq_smlatt(xe, we, a2);
                a1 = eq_smlabb(xo, wo, a1);
                a3 = eq_smlatt(xo, wo, a3);
            }
        }
        out[c] = eq_requant(a0, p, c);
        out[c + 1] = eq_requant(a1, p, c + 1);
        out[c + 2] = eq_requant(a2, p, c + 2);
        out[c + 3] = eq_requant(a3, p, c + 3);
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
            out[c + j] = eq_requant(full ? acc[j] : acc[j] + ws[j] * p->in_offset, p, c + j);
        }
    }
}

void edgeq_depthwise_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, ic, m, ky, kx;
#ifdef EDGEQ_DSP
    const int32_t fast3x3 = p->dw_w && p->rq && p->depth_mult == 1 && p->k_h == 3 && p->k_w == 3;
#endif
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
#ifdef EDGEQ_DSP
                    if (fast3x3) {
                        if (ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
                            eq_dw_full3x3_m1(p, in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c,
                                             p->dil_w * p->in_c, p->dil_h * p->in_w * p->in_c, out);
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
                        out[oc] = eq_requant(acc, p, oc);
                    }
                }
                out += p->out_c;
            }
        }
    }
}
#endif

#ifndef EDGEQ_OVERRIDE_FULLY_CONNECTED_S8
#ifdef EDGEQ_DSP
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

void edgeq_fully_connected_s8(const edgeq_fc_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, o;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + (size_t)b * p->in_depth;
        o = 0;
#ifdef EDGEQ_DSP
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

#ifndef EDGEQ_OVERRIDE_AVG_POOL_S8
void edgeq_avg_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t y_start = iy0 < 0 ? -iy0 : 0;
            const int32_t y_end = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t x_start = ix0 < 0 ? -ix0 : 0;
                const int32_t x_end = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    for (y = y_start; y < y_end; ++y) {
                        for (x = x_start; x < x_end; ++x) {
                            acc += in_b[((size_t)(iy0 + y) * p->in_w + (ix0 + x)) * p->channels + c];
                        }
                    }
                    if (count > 0) {
                        /* Round half away from zero, as TFLM does. */
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    *out++ = (int8_t)edgeq_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

#ifndef EDGEQ_OVERRIDE_MAX_POOL_S8
void edgeq_max_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t y_start = iy0 < 0 ? -iy0 : 0;
            const int32_t y_end = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t x_start = ix0 < 0 ? -ix0 : 0;
                const int32_t x_end = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
                for (c = 0; c < p->channels; ++c) {
                    int32_t m = -128;
                    for (y = y_start; y < y_end; ++y) {
                        for (x = x_start; x < x_end; ++x) {
                            const int32_t v = in_b[((size_t)(iy0 + y) * p->in_w + (ix0 + x)) * p->channels + c];
                            m = v > m ? v : m;
                        }
                    }
                    *out++ = (int8_t)edgeq_clamp(m, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

/* Walk the 6-D output densely; each input advances by its own (possibly zero) strides. */
#define EDGEQ_BINARY_LOOP(p, in1, in2, out, BODY)                                                          \
    do {                                                                                                   \
        int32_t d0, d1, d2, d3, d4, d5;                                                                    \
        const int32_t *n_ = (p)->dims;                                                                     \
        const int32_t *s1_ = (p)->in1_strides;                                                             \
        const int32_t *s2_ = (p)->in2_strides;                                                             \
        int8_t *o_ = (out);                                                                                \
        for (d0 = 0; d0 < n_[0]; ++d0)                                                                     \
            for (d1 = 0; d1 < n_[1]; ++d1)                                                                 \
                for (d2 = 0; d2 < n_[2]; ++d2)                                                             \
                    for (d3 = 0; d3 < n_[3]; ++d3)                                                         \
                        for (d4 = 0; d4 < n_[4]; ++d4) {                                                   \
                            const int8_t *a_ = (in1) + d0 * s1_[0] + d1 * s1_[1] + d2 * s1_[2] +          \
                                               d3 * s1_[3] + d4 * s1_[4];                                  \
                            const int8_t *b_ = (in2) + d0 * s2_[0] + d1 * s2_[1] + d2 * s2_[2] +          \
                                               d3 * s2_[3] + d4 * s2_[4];                                  \
                            for (d5 = 0; d5 < n_[5]; ++d5) {                                               \
                                const int32_t x1 = a_[d5 * s1_[5]];                                        \
                                const int32_t x2 = b_[d5 * s2_[5]];                                        \
                                BODY;                                                                      \
                            }                                                                              \
                        }                                                                                  \
    } while (0)

/* Same shapes (no broadcast): one flat loop instead of the 6-D walk. */
static int32_t eq_binary_flat(const edgeq_binary_params *p)
{
    int32_t d, n = 1;
    for (d = EDGEQ_MAX_DIMS - 1; d >= 0; --d) {
        if (p->dims[d] > 1 && (p->in1_strides[d] != n || p->in2_strides[d] != n)) {
            return 0;
        }
        n *= p->dims[d];
    }
    return n;
}

#define EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, BODY)                                                 \
    do {                                                                                                   \
        const int32_t flat_ = eq_binary_flat(p);                                                           \
        if (flat_ > 0) {                                                                                   \
            int32_t i_;                                                                                    \
            int8_t *o_ = (out);                                                                            \
            for (i_ = 0; i_ < flat_; ++i_) {                                                               \
                const int32_t x1 = (in1)[i_];                                                              \
                const int32_t x2 = (in2)[i_];                                                              \
                BODY;                                                                                      \
            }                                                                                              \
        } else {                                                                                           \
            EDGEQ_BINARY_LOOP(p, in1, in2, out, BODY);                                                     \
        }                                                                                                  \
    } while (0)

#ifndef EDGEQ_OVERRIDE_ADD_S8
void edgeq_add_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    if (p->in1_lut && p->in2_lut) {
        /* Large tensors: the two input rescalings are table lookups (exact: they depend on q only). */
        const int32_t *l1 = p->in1_lut + 128, *l2 = p->in2_lut + 128;
        EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, {
            const int32_t r = edgeq_mbqm(l1[x1] + l2[x2], p->out_mult, (int)p->out_shift) + p->out_offset;
            *o_++ = (int8_t)edgeq_clamp(r, p->act_min, p->act_max);
        });
        return;
    }
    EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, {
        const int32_t a = (int32_t)((uint32_t)(x1 + p->in1_offset) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(x2 + p->in2_offset) << p->left_shift);
        const int32_t sum = edgeq_mbqm(a, p->in1_mult, (int)p->in1_shift) +
                            edgeq_mbqm(b, p->in2_mult, (int)p->in2_shift);
        const int32_t r = edgeq_mbqm(sum, p->out_mult, (int)p->out_shift) + p->out_offset;
        *o_++ = (int8_t)edgeq_clamp(r, p->act_min, p->act_max);
    });
}
#endif

#ifndef EDGEQ_OVERRIDE_MUL_S8
void edgeq_mul_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, {
        const int32_t prod = (x1 + p->in1_offset) * (x2 + p->in2_offset);
        const int32_t r = edgeq_mbqm(prod, p->out_mult, (int)p->out_shift) + p->out_offset;
        *o_++ = (int8_t)edgeq_clamp(r, p->act_min, p->act_max);
    });
}
#endif

/* Odometer over up to 6 dims; returns the input offset of the current index. */
static int32_t edgeq_next_index(const int32_t dims[], int32_t idx[])
{
    int32_t d;
    for (d = EDGEQ_MAX_DIMS - 1; d >= 0; --d) {
        if (++idx[d] < dims[d]) {
            return 1;
        }
        idx[d] = 0;
    }
    return 0;
}

#ifndef EDGEQ_OVERRIDE_MEAN_S8
void edgeq_mean_s8(const edgeq_mean_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t oi[EDGEQ_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
    int32_t d;
    do {
        int32_t ri[EDGEQ_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
        int32_t base = 0;
        int32_t sum = 0;
        int32_t r;
        for (d = 0; d < EDGEQ_MAX_DIMS; ++d) {
            base += oi[d] * p->out_strides[d];
        }
        do {
            int32_t off = base;
            for (d = 0; d < EDGEQ_MAX_DIMS; ++d) {
                off += ri[d] * p->red_strides[d];
            }
            sum += in[off];
        } while (edgeq_next_index(p->red_dims, ri));
        r = edgeq_mbqm(sum - p->in_zp * p->count, p->mult, (int)p->shift) + p->out_zp;
        *out++ = (int8_t)edgeq_clamp(r, -128, 127);
    } while (edgeq_next_index(p->out_dims, oi));
}
#endif

void edgeq_pad_s8(const edgeq_pad_params *p, const int8_t *in, int8_t *out)
{
    const int32_t *id = p->in_dims;
    const int32_t *od = p->out_dims;
    const size_t total = (size_t)od[0] * od[1] * od[2] * od[3];
    int32_t b, h, w;
    memset(out, (int)(int8_t)p->pad_value, total);
    for (b = 0; b < id[0]; ++b) {
        for (h = 0; h < id[1]; ++h) {
            for (w = 0; w < id[2]; ++w) {
                const size_t src = (((size_t)b * id[1] + h) * id[2] + w) * id[3];
                const size_t dst =
                    (((size_t)(b + p->before[0]) * od[1] + (h + p->before[1])) * od[2] + (w + p->before[2])) * od[3] +
                    p->before[3];
                memcpy(out + dst, in + src, (size_t)id[3]);
            }
        }
    }
}

void edgeq_concat(int32_t num_inputs, const int8_t *const inputs[], const int32_t copy_bytes[], int32_t outer,
                  int8_t *out)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < num_inputs; ++i) {
            memcpy(out, inputs[i] + (size_t)o * copy_bytes[i], (size_t)copy_bytes[i]);
            out += copy_bytes[i];
        }
    }
}

void edgeq_copy(const void *in, void *out, int32_t bytes)
{
    if (in != out) {
        memmove(out, in, (size_t)bytes);
    }
}

/* roundf() semantics (half away from zero) without libm; |r| is clamped far outside the int8 range. */
static int32_t edgeq_round_f32(float r)
{
    const float a = r < 0.0f ? -r : r;
    int32_t t;
    if (!(a < 1.0e6f)) {
        t = 1000000; /* also NaN */
    } else {
        t = (int32_t)a;
        if (a - (float)t >= 0.5f) { /* exact: a < 2^23 */
            t += 1;
        }
    }
    return r < 0.0f ? -t : t;
}

void edgeq_quantize_f32_s8(const float *in, int8_t *out, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t q = edgeq_round_f32(in[i] / scale) + zero_point;
        out[i] = (int8_t)edgeq_clamp(q, -128, 127);
    }
}

void edgeq_dequantize_s8_f32(const int8_t *in, float *out, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = scale * (float)((int32_t)in[i] - zero_point);
    }
}

void edgeq_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t mult, int32_t shift,
                         int32_t out_zp, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t r = edgeq_mbqm((int32_t)in[i] - in_zp, mult, (int)shift) + out_zp;
        out[i] = (int8_t)edgeq_clamp(r, act_min, act_max);
    }
}

void edgeq_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (int8_t)edgeq_clamp(in[i], lo, hi);
    }
}
