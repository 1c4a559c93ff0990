/* edgeq runtime: portable C99 int8 kernels (see edgeq_core.h for the contract).
 *
 * These bodies mirror TFLite Micro's reference kernels operation for operation, because TFLM is the
 * oracle the generated code must match bit for bit. Accumulation order inside one int32 sum does not
 * matter (two's-complement addition is associative), which is what later optimized kernels rely on.
 */
#include "edgeq_core.h"

#include <string.h>

#ifndef EDGEQ_OVERRIDE_CONV2D_S8
void edgeq_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, oy, ox, oc, ky, kx, ic;
    const int32_t filter_size = p->k_h * p->k_w * p->in_c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int8_t *w = p->filter + (size_t)oc * filter_size;
                    const int32_t ch = p->per_channel ? oc : 0;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + p->dil_h * ky;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + p->dil_w * kx;
                            const int8_t *ip;
                            const int8_t *wp;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            ip = in_b + ((size_t)iy * p->in_w + ix) * p->in_c;
                            wp = w + ((size_t)ky * p->k_w + kx) * p->in_c;
                            for (ic = 0; ic < p->in_c; ++ic) {
                                acc += (int32_t)wp[ic] * ((int32_t)ip[ic] + p->in_offset);
                            }
                        }
                    }
                    if (p->bias) {
                        acc += p->bias[oc];
                    }
                    acc = edgeq_mbqm(acc, p->mult[ch], (int)p->shift[ch]) + p->out_offset;
                    *out++ = (int8_t)edgeq_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

#ifndef EDGEQ_OVERRIDE_DEPTHWISE_CONV2D_S8
void edgeq_depthwise_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_mult; ++m) {
                        const int32_t oc = ic * p->depth_mult + m;
                        const int32_t ch = p->per_channel ? oc : 0;
                        int32_t acc = 0;
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            if (iy < 0 || iy >= p->in_h) {
                                continue;
                            }
                            for (kx = 0; kx < p->k_w; ++kx) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                int32_t x;
                                if (ix < 0 || ix >= p->in_w) {
                                    continue;
                                }
                                x = in_b[((size_t)iy * p->in_w + ix) * p->in_c + ic];
                                acc += (int32_t)p->filter[((size_t)ky * p->k_w + kx) * p->out_c + oc] *
                                       (x + p->in_offset);
                            }
                        }
                        if (p->bias) {
                            acc += p->bias[oc];
                        }
                        acc = edgeq_mbqm(acc, p->mult[ch], (int)p->shift[ch]) + p->out_offset;
                        out[oc] = (int8_t)edgeq_clamp(acc, p->act_min, p->act_max);
                    }
                }
                out += p->out_c;
            }
        }
    }
}
#endif

#ifndef EDGEQ_OVERRIDE_FULLY_CONNECTED_S8
void edgeq_fully_connected_s8(const edgeq_fc_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, o, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + (size_t)b * p->in_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->filter + (size_t)o * p->in_depth;
            const int32_t ch = p->per_channel ? o : 0;
            int32_t acc = 0;
            for (i = 0; i < p->in_depth; ++i) {
                acc += (int32_t)w[i] * ((int32_t)x[i] + p->in_offset);
            }
            if (p->bias) {
                acc += p->bias[o];
            }
            acc = edgeq_mbqm(acc, p->mult[ch], (int)p->shift[ch]) + p->out_offset;
            *out++ = (int8_t)edgeq_clamp(acc, p->act_min, p->act_max);
        }
    }
}
#endif

#ifndef EDGEQ_OVERRIDE_AVG_POOL_S8
void edgeq_avg_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *out)
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
void edgeq_max_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *out)
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

#ifndef EDGEQ_OVERRIDE_ADD_S8
void edgeq_add_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    EDGEQ_BINARY_LOOP(p, in1, in2, out, {
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
    EDGEQ_BINARY_LOOP(p, in1, in2, out, {
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
void edgeq_mean_s8(const edgeq_mean_params *p, const int8_t *in, int8_t *out)
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
