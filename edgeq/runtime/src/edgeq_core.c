/* edgeq runtime: portable C99 int8 kernels (see edgeq_core.h for the contract).
 *
 * These bodies mirror TFLite Micro's reference kernels operation for operation, because TFLM is the
 * oracle the generated code must match bit for bit. Accumulation order inside one int32 sum does not
 * matter (two's-complement addition is associative), which is what later optimized kernels rely on.
 */
#include "edgeq_dsp.h"

#include <string.h>

#ifdef EDGEQ_DSP
/* Scratch on the stack for convolution inputs sign-extended to int16 once and reused by every output channel: two
 * pixels' windows of up to this many bytes (1.25 KiB by default). */
#ifndef EDGEQ_X16_WORDS
#define EDGEQ_X16_WORDS 320
#endif
#endif

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
