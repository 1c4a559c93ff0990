/* edgeq runtime: DSP (Armv7E-M / Armv8-M DSP extension) paths of the hot int16x8 kernels (see edgeq_int16.h).
 *
 * FULLY_CONNECTED and CONV_2D 16x8: TFLM sums w * x in an int64 accumulator (reference integer_ops
 * FullyConnected / ConvPerChannel with AccumScalar = int64_t), then adds the int64 bias and requantizes with the
 * 64-bit MultiplyByQuantizedMultiplier (edgeq_mbqm64). Every product obeys |w * x| <= 128 * 32768 = 2^22, so
 * a run of up to 256 products sums to at most 2^30 in magnitude: such a run is accumulated exactly in 32 bits
 * with SMLAD (two 16x16 products per instruction) and then added to the int64 sum. Integer addition being
 * associative, the int64 total is identical to the reference's, and so is everything after it.
 *
 * Operand layout: an int8 weight word (w0 w1 w2 w3) gives the halfword pairs (w0, w2) with SXTB16 and (w1, w3)
 * with SXTB16 ROR #8; the two activation words (x0 x1) (x2 x3) are repacked to (x0, x2) and (x1, x3) with
 * PKHBT/PKHTB once and reused by four output channels (four weight rows per pass). The weights stay int8 in
 * flash (no int16 copy). Compiled only when edgeq_dsp.h defines EDGEQ_DSP (real DSP core or
 * -DEDGEQ_EMULATE_DSP on the host); the portable kernels in edgeq_int16.c call in here under the same macro.
 */
#include "edgeq_int16.h"

#include "edgeq_dsp.h"

#if defined(EDGEQ_DSP)

#define EQ16_RUN 256 /* products per exact 32-bit run: 256 * 2^22 = 2^30 < 2^31 */

static inline int32_t eq16_load2(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4); /* one (unaligned) LDR; little-endian: p[0] in the bottom halfword */
    return v;
}

#if defined(EDGEQ_DSP_ASM)
/* (bottom of a, bottom of b) */
static inline int32_t eq16_pk_bot(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* (top of a, top of b) */
static inline int32_t eq16_pk_top(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
static inline int32_t eq16_pk_bot(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & 0xffffu) | ((uint32_t)b << 16));
}
static inline int32_t eq16_pk_top(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xffff0000u));
}
#endif

#if defined(__GNUC__)
#define EQ16_INLINE static inline __attribute__((always_inline))
#else
#define EQ16_INLINE static inline
#endif

/* *s_r += sum_i w[r * stride + i] * x[i] for r = 0..3, i = 0..n-1, exact in 32 bits: n <= EQ16_RUN + 3. Inlined
 * into its callers so the four sums stay in registers. */
EQ16_INLINE void eq16_run4(const int16_t *x, const int8_t *w, int32_t stride, int32_t n, int32_t *s0_, int32_t *s1_,
                           int32_t *s2_, int32_t *s3_)
{
    const int8_t *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    int32_t s0 = *s0_, s1 = *s1_, s2 = *s2_, s3 = *s3_, i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t x01 = eq16_load2(x + i), x23 = eq16_load2(x + i + 2);
        const int32_t xe = eq16_pk_bot(x01, x23), xo = eq16_pk_top(x01, x23);
        const int32_t a = eq_load32(w0 + i), b = eq_load32(w1 + i);
        s0 = eq_smlad(eq_sxtb16(a), xe, s0);
        s0 = eq_smlad(eq_sxtb16_ror8(a), xo, s0);
        s1 = eq_smlad(eq_sxtb16(b), xe, s1);
        s1 = eq_smlad(eq_sxtb16_ror8(b), xo, s1);
        const int32_t c = eq_load32(w2 + i), d = eq_load32(w3 + i);
        s2 = eq_smlad(eq_sxtb16(c), xe, s2);
        s2 = eq_smlad(eq_sxtb16_ror8(c), xo, s2);
        s3 = eq_smlad(eq_sxtb16(d), xe, s3);
        s3 = eq_smlad(eq_sxtb16_ror8(d), xo, s3);
    }
    for (; i < n; ++i) {
        const int32_t xv = x[i];
        s0 += w0[i] * xv;
        s1 += w1[i] * xv;
        s2 += w2[i] * xv;
        s3 += w3[i] * xv;
    }
    *s0_ = s0;
    *s1_ = s1;
    *s2_ = s2;
    *s3_ = s3;
}

/* sum_i w[i] * x[i], exact in 32 bits: n <= EQ16_RUN + 3 */
EQ16_INLINE int32_t eq16_run1(const int16_t *x, const int8_t *w, int32_t n)
{
    int32_t s = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t x01 = eq16_load2(x + i), x23 = eq16_load2(x + i + 2);
        const int32_t a = eq_load32(w + i);
        s = eq_smlad(eq_sxtb16(a), eq16_pk_bot(x01, x23), s);
        s = eq_smlad(eq_sxtb16_ror8(a), eq16_pk_top(x01, x23), s);
    }
    for (; i < n; ++i) {
        s += w[i] * x[i];
    }
    return s;
}

/* acc_r += sum over n inputs (any n): runs of EQ16_RUN products, each exact in 32 bits, added up in 64 bits. */
static void eq16_dot4(const int16_t *x, const int8_t *w, int32_t stride, int32_t n, int64_t *a0, int64_t *a1,
                      int64_t *a2, int64_t *a3)
{
    for (int32_t i = 0; i < n; i += EQ16_RUN) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        eq16_run4(x + i, w + i, stride, n - i < EQ16_RUN ? n - i : EQ16_RUN, &s0, &s1, &s2, &s3);
        *a0 += s0;
        *a1 += s1;
        *a2 += s2;
        *a3 += s3;
    }
}

static int64_t eq16_dot1(const int16_t *x, const int8_t *w, int32_t n)
{
    int64_t acc = 0;
    for (int32_t i = 0; i < n; i += EQ16_RUN) {
        acc += eq16_run1(x + i, w + i, n - i < EQ16_RUN ? n - i : EQ16_RUN);
    }
    return acc;
}

EQ16_INLINE int16_t eq16_out(int64_t acc, const int64_t *bias, const int32_t *mult, const int32_t *shift,
                             int32_t per_channel, int32_t o, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    if (bias) {
        acc += bias[o];
    }
    const int32_t ch = per_channel ? o : 0;
    return (int16_t)edgeq_clamp(edgeq_mbqm64(acc, mult[ch], (int)shift[ch]) + out_offset, act_min, act_max);
}

void edgeq_fully_connected_s16_dsp(const edgeq_fc16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t n = p->in_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = in + b * n;
        const int8_t *w = p->filter;
        int32_t o = 0;
        for (; o + 4 <= p->out_depth; o += 4, w += 4 * n) {
            int64_t a0, a1, a2, a3;
            if (n <= EQ16_RUN) { /* the common case: one exact 32-bit run per row */
                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                eq16_run4(x, w, n, n, &s0, &s1, &s2, &s3);
                a0 = s0, a1 = s1, a2 = s2, a3 = s3;
            } else {
                a0 = a1 = a2 = a3 = 0;
                eq16_dot4(x, w, n, n, &a0, &a1, &a2, &a3);
            }
            out[0] = eq16_out(a0, p->bias, p->mult, p->shift, p->per_channel, o, p->out_offset, p->act_min,
                              p->act_max);
            out[1] = eq16_out(a1, p->bias, p->mult, p->shift, p->per_channel, o + 1, p->out_offset, p->act_min,
                              p->act_max);
            out[2] = eq16_out(a2, p->bias, p->mult, p->shift, p->per_channel, o + 2, p->out_offset, p->act_min,
                              p->act_max);
            out[3] = eq16_out(a3, p->bias, p->mult, p->shift, p->per_channel, o + 3, p->out_offset, p->act_min,
                              p->act_max);
            out += 4;
        }
        for (; o < p->out_depth; ++o, w += n) {
            *out++ = eq16_out(eq16_dot1(x, w, n), p->bias, p->mult, p->shift, p->per_channel, o, p->out_offset,
                              p->act_min, p->act_max);
        }
    }
}

/* CONV_2D 16x8: per output pixel, the valid taps of each filter row fy are one contiguous run of
 * (fx1 - fx0) * in_c values in both the input (dil_w == 1) and every filter [oc][fy][.][.] row; with dil_w > 1
 * every tap is its own run of in_c values. Four output channels share each run's activation loads. */
void edgeq_conv2d_s16_dsp(const edgeq_conv16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t ic = p->in_c, oc_stride = p->k_h * p->k_w * ic;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *img = in + b * p->in_h * p->in_w * ic;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            eq_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                eq_valid_taps(ix0, p->dil_w, p->k_w, p->in_w, &fx0, &fx1);
                const int32_t runs = p->dil_w == 1 ? (fx1 > fx0 ? 1 : 0) : fx1 - fx0;
                const int32_t run_len = p->dil_w == 1 ? (fx1 - fx0) * ic : ic;
                int32_t oc = 0;
                for (; oc + 4 <= p->out_c; oc += 4) {
                    int64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const int32_t iy = iy0 + fy * p->dil_h;
                        for (int32_t r = 0; r < runs; ++r) {
                            const int32_t fx = fx0 + r;
                            const int16_t *px = img + (iy * p->in_w + ix0 + fx * p->dil_w) * ic;
                            const int8_t *w = p->filter + ((oc * p->k_h + fy) * p->k_w + fx) * ic;
                            if (run_len <= EQ16_RUN) {
                                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                                eq16_run4(px, w, oc_stride, run_len, &s0, &s1, &s2, &s3);
                                a0 += s0, a1 += s1, a2 += s2, a3 += s3;
                            } else {
                                eq16_dot4(px, w, oc_stride, run_len, &a0, &a1, &a2, &a3);
                            }
                        }
                    }
                    out[0] = eq16_out(a0, p->bias, p->mult, p->shift, p->per_channel, oc, 0, p->act_min, p->act_max);
                    out[1] = eq16_out(a1, p->bias, p->mult, p->shift, p->per_channel, oc + 1, 0, p->act_min,
                                      p->act_max);
                    out[2] = eq16_out(a2, p->bias, p->mult, p->shift, p->per_channel, oc + 2, 0, p->act_min,
                                      p->act_max);
                    out[3] = eq16_out(a3, p->bias, p->mult, p->shift, p->per_channel, oc + 3, 0, p->act_min,
                                      p->act_max);
                    out += 4;
                }
                for (; oc < p->out_c; ++oc) {
                    int64_t acc = 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const int32_t iy = iy0 + fy * p->dil_h;
                        for (int32_t r = 0; r < runs; ++r) {
                            const int32_t fx = fx0 + r;
                            const int16_t *px = img + (iy * p->in_w + ix0 + fx * p->dil_w) * ic;
                            acc += eq16_dot1(px, p->filter + ((oc * p->k_h + fy) * p->k_w + fx) * ic, run_len);
                        }
                    }
                    *out++ = eq16_out(acc, p->bias, p->mult, p->shift, p->per_channel, oc, 0, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* DEPTHWISE_CONV_2D 16x8, depth_mult 1: a channel's sum has one product per valid tap, |w * x| <= 2^22, so with
 * k_h * k_w <= 511 taps it is exact in 32 bits (|sum| <= 511 * 2^22 < 2^31) and equals the reference's int64 sum. Four channels per
 * pass: the activation words (x0 x1) (x2 x3) and the int8 weight word (w0 w1 w2 w3) of a tap, repacked to the
 * halfword pairs (w0 w1) (w2 w3), give each channel's product with one SMLABB / SMLATT. Returns 0 (nothing
 * written) when the layer does not qualify; the portable kernel then runs. */
int32_t edgeq_depthwise_conv2d_s16_dsp(const edgeq_conv16_params *p, const int16_t *in, int16_t *out)
{
    if (p->depth_mult != 1 || p->k_h * p->k_w >= 512) {
        return 0;
    }
    const int32_t ch = p->in_c, row = p->in_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *img = in + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            eq_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                eq_valid_taps(ix0, p->dil_w, p->k_w, p->in_w, &fx0, &fx1);
                const int16_t *base = img + iy0 * row + ix0 * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4) {
                    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const int16_t *px = base + fy * p->dil_h * row + fx0 * p->dil_w * ch + c;
                        const int8_t *w = p->filter + (fy * p->k_w + fx0) * ch + c;
                        for (int32_t fx = fx0; fx < fx1; ++fx, px += p->dil_w * ch, w += ch) {
                            const int32_t x01 = eq16_load2(px), x23 = eq16_load2(px + 2), wv = eq_load32(w);
                            const int32_t e = eq_sxtb16(wv), o = eq_sxtb16_ror8(wv);
                            const int32_t w01 = eq16_pk_bot(e, o), w23 = eq16_pk_top(e, o);
                            s0 = eq_smlabb(x01, w01, s0);
                            s1 = eq_smlatt(x01, w01, s1);
                            s2 = eq_smlabb(x23, w23, s2);
                            s3 = eq_smlatt(x23, w23, s3);
                        }
                    }
                    const int32_t sums[4] = {s0, s1, s2, s3};
                    for (int32_t k = 0; k < 4; ++k) { /* one requantization copy: code size */
                        *out++ = eq16_out(sums[k], p->bias, p->mult, p->shift, p->per_channel, c + k, 0, p->act_min,
                                          p->act_max);
                    }
                }
                for (; c < ch; ++c) {
                    int32_t s = 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            s += base[fy * p->dil_h * row + fx * p->dil_w * ch + c] *
                                 p->filter[(fy * p->k_w + fx) * ch + c];
                        }
                    }
                    *out++ = eq16_out(s, p->bias, p->mult, p->shift, p->per_channel, c, 0, p->act_min, p->act_max);
                }
            }
        }
    }
    return 1;
}

#else
typedef int edgeq_int16_dsp_unused; /* ISO C: a translation unit is never empty */
#endif /* EDGEQ_DSP */
