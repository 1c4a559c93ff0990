/* edgeq runtime: int16x8 kernels (see edgeq_int16.h). Portable C99. */
#include "edgeq_int16.h"

#include "edgeq_dsp.h" /* EDGEQ_DSP: the FC/CONV_2D paths in edgeq_int16_dsp.c */
#include "edgeq_extra.h"

void edgeq_fully_connected_s16(const edgeq_fc16_params *p, const int16_t *in, int16_t *out)
{
#if defined(EDGEQ_DSP)
    edgeq_fully_connected_s16_dsp(p, in, out);
    return;
#endif
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = in + b * p->in_depth;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->filter + o * p->in_depth;
            int64_t acc = 0;
            for (int32_t i = 0; i < p->in_depth; ++i) {
                acc += (int32_t)w[i] * (int32_t)x[i]; /* |w * x| < 2^22: the int32 product is exact */
            }
            if (p->bias) {
                acc += p->bias[o];
            }
            const int32_t ch = p->per_channel ? o : 0;
            const int32_t v = edgeq_mbqm64(acc, p->mult[ch], (int)p->shift[ch]) + p->out_offset;
            *out++ = (int16_t)edgeq_clamp(v, p->act_min, p->act_max);
        }
    }
}

void edgeq_quantize_f32_s16(const float *in, int16_t *out, int32_t n, float scale, int32_t zero_point)
{
    for (int32_t i = 0; i < n; ++i) {
        out[i] = (int16_t)edgeq_clamp(edgeq_round_f32(in[i] / scale) + zero_point, -32768, 32767);
    }
}

void edgeq_dequantize_s16_f32(const int16_t *in, float *out, int32_t n, float scale, int32_t zero_point)
{
    for (int32_t i = 0; i < n; ++i) {
        out[i] = scale * (float)((int32_t)in[i] - zero_point);
    }
}

void edgeq_requantize_any(const void *in, int32_t in_bits, void *out, int32_t out_bits, int32_t n, int32_t in_zp,
                          int32_t mult, int32_t shift, int32_t out_zp, int32_t act_min, int32_t act_max)
{
    for (int32_t i = 0; i < n; ++i) {
        const int32_t q = in_bits == 16 ? ((const int16_t *)in)[i] : ((const int8_t *)in)[i];
        const int32_t r = edgeq_clamp(edgeq_mbqm(q - in_zp, mult, (int)shift) + out_zp, act_min, act_max);
        if (out_bits == 16) {
            ((int16_t *)out)[i] = (int16_t)r;
        } else {
            ((int8_t *)out)[i] = (int8_t)r;
        }
    }
}

static int32_t arith_one(const edgeq_sub_params *p, int32_t kind, int32_t a, int32_t b)
{
    int32_t raw;
    if (kind == EDGEQ_ARITH_MUL) {
        raw = (a + p->in1_offset) * (b + p->in2_offset);
    } else {
        const int32_t v1 = edgeq_mbqm((int32_t)((uint32_t)(a + p->in1_offset) << p->left_shift), p->in1_mult,
                                      p->in1_shift);
        const int32_t v2 = edgeq_mbqm((int32_t)((uint32_t)(b + p->in2_offset) << p->left_shift), p->in2_mult,
                                      p->in2_shift);
        raw = kind == EDGEQ_ARITH_ADD ? v1 + v2 : v1 - v2;
        if (kind == EDGEQ_ARITH_SQDIFF) {
            raw = raw * raw;
        }
    }
    return edgeq_clamp(edgeq_mbqm(raw, p->out_mult, p->out_shift) + p->out_offset, p->act_min, p->act_max);
}

/* edgeq_rdbpot with the mask of the exponent given (hoisted out of a loop). */
static inline int32_t rdbpot_mask(int32_t x, int exponent, int32_t mask)
{
    const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
    return (x >> exponent) + (((x & mask) > threshold) ? 1 : 0);
}

/* ADD / SUB over n contiguous elements of both inputs: arith_one's arithmetic (bit for bit) with the parameters,
 * the shift splits of the three edgeq_mbqm and their rounding masks hoisted out of the loop, no per-element kind
 * test and no stride multiplications. */
static void add_row_s16(const edgeq_sub_params *p, int32_t sub, const int16_t *a, const int16_t *b, int16_t *out,
                        int32_t n)
{
    const int32_t o1 = p->in1_offset, o2 = p->in2_offset, m1 = p->in1_mult, m2 = p->in2_mult, m3 = p->out_mult;
    const int ls = (int)p->left_shift;
    const int l1 = p->in1_shift > 0 ? (int)p->in1_shift : 0, r1 = p->in1_shift > 0 ? 0 : -(int)p->in1_shift;
    const int l2 = p->in2_shift > 0 ? (int)p->in2_shift : 0, r2 = p->in2_shift > 0 ? 0 : -(int)p->in2_shift;
    const int l3 = p->out_shift > 0 ? (int)p->out_shift : 0, r3 = p->out_shift > 0 ? 0 : -(int)p->out_shift;
    const int32_t k1 = (int32_t)(((uint32_t)1 << r1) - 1u), k2 = (int32_t)(((uint32_t)1 << r2) - 1u);
    const int32_t k3 = (int32_t)(((uint32_t)1 << r3) - 1u);
    const int32_t oo = p->out_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t x1 = (int32_t)(((uint32_t)(a[i] + o1) << ls) << l1);
        const int32_t x2 = (int32_t)(((uint32_t)(b[i] + o2) << ls) << l2);
        const int32_t v1 = rdbpot_mask(edgeq_srdhm(x1, m1), r1, k1);
        const int32_t v2 = rdbpot_mask(edgeq_srdhm(x2, m2), r2, k2);
        const int32_t raw = sub ? v1 - v2 : v1 + v2;
        const int32_t v = rdbpot_mask(edgeq_srdhm((int32_t)((uint32_t)raw << l3), m3), r3, k3) + oo;
        out[i] = (int16_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

void edgeq_arith_s16(const void *params, int32_t kind, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    const edgeq_sub_params *p = (const edgeq_sub_params *)params;
    const int32_t *d = p->dims;
    const int32_t *s1 = p->in1_strides;
    const int32_t *s2 = p->in2_strides;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
    for (int32_t i1 = 0; i1 < d[1]; ++i1)
    for (int32_t i2 = 0; i2 < d[2]; ++i2)
    for (int32_t i3 = 0; i3 < d[3]; ++i3)
    for (int32_t i4 = 0; i4 < d[4]; ++i4) {
        const int16_t *a = in1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4];
        const int16_t *b = in2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4];
        if ((kind == EDGEQ_ARITH_ADD || kind == EDGEQ_ARITH_SUB) && s1[5] == 1 && s2[5] == 1) {
            add_row_s16(p, kind == EDGEQ_ARITH_SUB, a, b, out, d[5]);
            out += d[5];
            continue;
        }
        for (int32_t i5 = 0; i5 < d[5]; ++i5) {
            *out++ = (int16_t)arith_one(p, kind, a[i5 * s1[5]], b[i5 * s2[5]]);
        }
    }
}

static int16_t conv_out(const edgeq_conv16_params *p, int64_t acc, int32_t oc)
{
    const int32_t ch = p->per_channel ? oc : 0;
    if (p->bias) {
        acc += p->bias[oc];
    }
    return (int16_t)edgeq_clamp(edgeq_mbqm64(acc, p->mult[ch], (int)p->shift[ch]), p->act_min, p->act_max);
}

/* CONV_2D and DEPTHWISE_CONV_2D 16x8, portable: per tap `n` products of pixel values and filter values, the
 * pixel's in_c channels with the filter row of oc (CONV_2D) or its channel oc / depth_mult with the tap's weight
 * of oc (depthwise). */
static void conv16(const edgeq_conv16_params *p, const int16_t *in, int16_t *out, int32_t depthwise)
{
    const int32_t n = depthwise ? 1 : p->in_c;        /* products per tap */
    const int32_t w_tap = depthwise ? p->out_c : p->in_c; /* filter step from one tap to the next */
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *img = in + b * p->in_h * p->in_w * p->in_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const int16_t *x0 = img + (depthwise ? oc / p->depth_mult : 0);
                    const int8_t *w0 = p->filter + (depthwise ? oc : oc * p->k_h * p->k_w * p->in_c);
                    int64_t acc = 0;
                    for (int32_t fy = 0; fy < p->k_h; ++fy) {
                        const int32_t iy = iy0 + fy * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (int32_t fx = 0; fx < p->k_w; ++fx) {
                            const int32_t ix = ix0 + fx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const int16_t *x = x0 + (iy * p->in_w + ix) * p->in_c;
                            const int8_t *w = w0 + (fy * p->k_w + fx) * w_tap;
                            for (int32_t i = 0; i < n; ++i) {
                                acc += (int32_t)x[i] * (int32_t)w[i];
                            }
                        }
                    }
                    *out++ = conv_out(p, acc, oc);
                }
            }
        }
    }
}

void edgeq_conv2d_s16(const edgeq_conv16_params *p, const int16_t *in, int16_t *out)
{
#if defined(EDGEQ_DSP)
    edgeq_conv2d_s16_dsp(p, in, out);
    return;
#endif
    conv16(p, in, out, 0);
}

void edgeq_depthwise_conv2d_s16(const edgeq_conv16_params *p, const int16_t *in, int16_t *out)
{
#if defined(EDGEQ_DSP)
    if (edgeq_depthwise_conv2d_s16_dsp(p, in, out)) {
        return;
    }
#endif
    conv16(p, in, out, 1);
}

void edgeq_pool_s16(const edgeq_pool16_params *p, const int16_t *in, int16_t *out)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *img = in + b * p->in_h * p->in_w * p->channels;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t y0 = oy * p->stride_h - p->pad_h;
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t fy0 = y0 < 0 ? -y0 : 0;
                const int32_t fx0 = x0 < 0 ? -x0 : 0;
                const int32_t fy1 = p->k_h < p->in_h - y0 ? p->k_h : p->in_h - y0;
                const int32_t fx1 = p->k_w < p->in_w - x0 ? p->k_w : p->in_w - x0;
                const int32_t count = (fy1 - fy0) * (fx1 - fx0);
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t acc = p->is_max ? -32768 : 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const int32_t v = img[((y0 + fy) * p->in_w + (x0 + fx)) * p->channels + c];
                            if (p->is_max) {
                                acc = v > acc ? v : acc;
                            } else {
                                acc += v;
                            }
                        }
                    }
                    if (!p->is_max) {
                        if (count == 0) {
                            acc = 0;
                        } else {
                            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                        }
                    }
                    *out++ = (int16_t)edgeq_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgeq_pad_s16(const int16_t *in, int16_t *out, const int32_t in_dims[4], const int32_t out_dims[4],
                   const int32_t before[4], int16_t pad_value)
{
    for (int32_t a = 0; a < out_dims[0]; ++a)
    for (int32_t b = 0; b < out_dims[1]; ++b)
    for (int32_t c = 0; c < out_dims[2]; ++c)
    for (int32_t d = 0; d < out_dims[3]; ++d) {
        const int32_t ia = a - before[0], ib = b - before[1], ic = c - before[2], id = d - before[3];
        const int inside = ia >= 0 && ia < in_dims[0] && ib >= 0 && ib < in_dims[1] && ic >= 0 && ic < in_dims[2] &&
                           id >= 0 && id < in_dims[3];
        *out++ = inside ? in[((ia * in_dims[1] + ib) * in_dims[2] + ic) * in_dims[3] + id] : pad_value;
    }
}

void edgeq_transpose_conv_any(const edgeq_tconv_params *p, const int64_t *bias64, const void *in, void *out,
                              int32_t bits)
{
    /* TFLM scatters every input pixel into an int32 (int8) / int64 (16x8) scratch image; the same integer sums
     * gathered per output pixel (the taps whose input position is whole and inside) need no scratch and give the
     * same bytes. int8 sums are those of TFLM's int32 accumulator (held in int64, they never exceed int32). */
    int32_t k = 0;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int32_t img = b * p->in_h * p->in_w * p->in_c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int64_t sum = bits == 16 ? (bias64 ? bias64[oc] : 0) : (p->bias ? p->bias[oc] : 0);
                    for (int32_t fy = 0; fy < p->k_h; ++fy) {
                        const int32_t ty = oy + p->pad_h - fy;
                        if (ty < 0 || ty % p->stride_h != 0 || ty / p->stride_h >= p->in_h) {
                            continue;
                        }
                        for (int32_t fx = 0; fx < p->k_w; ++fx) {
                            const int32_t tx = ox + p->pad_w - fx;
                            if (tx < 0 || tx % p->stride_w != 0 || tx / p->stride_w >= p->in_w) {
                                continue;
                            }
                            const int32_t px = img + ((ty / p->stride_h) * p->in_w + tx / p->stride_w) * p->in_c;
                            const int8_t *w = p->filter + ((oc * p->k_h + fy) * p->k_w + fx) * p->in_c;
                            if (bits == 16) {
                                const int16_t *x = (const int16_t *)in + px;
                                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                                    sum += (int32_t)x[ic] * (int32_t)w[ic];
                                }
                            } else {
                                const int8_t *x = (const int8_t *)in + px;
                                int32_t s = 0;
                                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                                    s += (x[ic] + p->in_offset) * w[ic];
                                }
                                sum += s;
                            }
                        }
                    }
                    const int32_t ch = p->per_channel ? oc : 0;
                    if (bits == 16) {
                        const int32_t v = edgeq_mbqm64(sum, p->mult[ch], (int)p->shift[ch]) + p->out_offset;
                        ((int16_t *)out)[k++] = (int16_t)edgeq_clamp(v, p->act_min, p->act_max);
                    } else {
                        const int32_t v = edgeq_mbqm((int32_t)sum, p->mult[ch], p->shift[ch]) + p->out_offset;
                        ((int8_t *)out)[k++] = (int8_t)edgeq_clamp(v, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void edgeq_transpose_conv_s16(const void *params, const int64_t *bias64, const int16_t *in, int16_t *out)
{
    edgeq_transpose_conv_any((const edgeq_tconv_params *)params, bias64, in, out, 16);
}

static int next_index(const int32_t dims[6], int32_t idx[6])
{
    for (int d = 5; d >= 0; --d) {
        if (++idx[d] < dims[d]) {
            return 1;
        }
        idx[d] = 0;
    }
    return 0;
}

void edgeq_mean_s16(const edgeq_mean16_params *p, const int16_t *in, int16_t *out)
{
    int32_t oi[6] = {0, 0, 0, 0, 0, 0};
    do {
        int32_t ri[6] = {0, 0, 0, 0, 0, 0};
        int32_t base = 0;
        int32_t sum = 0;
        for (int d = 0; d < 6; ++d) {
            base += oi[d] * p->out_strides[d];
        }
        do {
            int32_t off = base;
            for (int d = 0; d < 6; ++d) {
                off += ri[d] * p->red_strides[d];
            }
            sum += in[off];
        } while (next_index(p->red_dims, ri));
        const int32_t r = edgeq_mbqm(sum - p->in_zp * p->count, p->mult, (int)p->shift) + p->out_zp;
        *out++ = (int16_t)edgeq_clamp(r, -32768, 32767);
    } while (next_index(p->out_dims, oi));
}

/* ------------------------------------------------------------------------ logistic / tanh / softmax */

static int32_t lt16_rescale(int16_t x, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? ((int32_t)1 << (shift - 1)) : 0;
    return ((int32_t)x * mult + round) >> shift; /* |x * mult| < 2^30 (mult <= 32767) */
}

void edgeq_logistic_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift,
                        const uint16_t *table)
{
    for (int32_t i = 0; i < n; ++i) {
        const int32_t v = lt16_rescale(in[i], mult, shift);
        const uint32_t a = (uint32_t)(v < 0 ? -v : v);
        const uint32_t uh = a >> 9;
        uint32_t r;
        if (uh >= 255u) {
            r = 0x7FFFu << 10;
        } else {
            const uint32_t ua = table[uh];
            r = (ua << 9) + (a & 0x1FFu) * ((uint32_t)table[uh + 1u] - ua);
        }
        r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
        out[i] = (int16_t)(r >> 10);
    }
}

void edgeq_tanh_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift, const uint16_t *table)
{
    for (int32_t i = 0; i < n; ++i) {
        const int32_t v = lt16_rescale(in[i], mult, shift);
        const uint32_t a = (uint32_t)(v < 0 ? -v : v);
        const uint32_t uh = a >> 8;
        int32_t r;
        if (uh >= 255u) {
            r = 0xFFFF << 8;
        } else {
            const uint32_t ua = table[uh];
            r = (int32_t)((ua << 8) + (a & 0xFFu) * ((uint32_t)table[uh + 1u] - ua));
        }
        r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
        out[i] = (int16_t)(r >> 8); /* arithmetic shift, as TFLM's */
    }
}

/* TFLite LUTLookup(int16_t, const int16_t *): 9 index bits, 7 interpolation bits, 513 entries. */
static int16_t lut16_lookup(int16_t v, const int16_t *lut)
{
    const uint16_t idx = (uint16_t)(256 + (v >> 7));
    const int16_t off = (int16_t)(v & 0x7F);
    const int16_t base = lut[idx];
    const int16_t slope = (int16_t)(lut[idx + 1] - lut[idx]);
    return (int16_t)(base + ((slope * off + 64) >> 7));
}

static int16_t sat16(int32_t x)
{
    return (int16_t)edgeq_clamp(x, -32768, 32767);
}

static int softmax16_clz(uint32_t x)
{
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

void edgeq_softmax_s16(const int16_t *in, int16_t *out, int32_t rows, int32_t depth, int32_t mult, int32_t shift,
                       const int16_t *exp_lut, const int16_t *recip_lut)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int16_t *x = in + r * depth;
        int16_t *y = out + r * depth;
        int16_t max = -32768;
        for (int32_t c = 0; c < depth; ++c) {
            max = x[c] > max ? x[c] : max;
        }
        uint32_t sum = 0; /* Q16.15; TFLM's int32 sum (wraps only beyond 65536 elements) */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t scaled = edgeq_mbqm((int32_t)x[c] - max, mult, (int)shift);
            const int16_t e = lut16_lookup(sat16(scaled + 32767), exp_lut);
            y[c] = e; /* x[c] is read before y[c] is written: in place works */
            sum += (uint32_t)(int32_t)e;
        }
        const int headroom_plus_one = softmax16_clz(sum);
        const int32_t shifted = (int32_t)((((int64_t)(int32_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        const int16_t recip = lut16_lookup(sat16(shifted - ((1 << 15) + (1 << 16))), recip_lut);
        const int right_shift = 31 - headroom_plus_one;
        const int64_t round = (int64_t)1 << (right_shift - 1);
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t v = (int32_t)(((int64_t)y[c] * recip + round) >> right_shift);
            y[c] = (int16_t)edgeq_clamp(v, 0, 32767);
        }
    }
}
