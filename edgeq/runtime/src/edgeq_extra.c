/* edgeq runtime: SPLIT/SPLIT_V/UNPACK, PACK, GATHER, SUB/SQUARED_DIFFERENCE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR,
 * TRANSPOSE_CONV, BATCH_MATMUL, MAXIMUM/MINIMUM and SLICE (see edgeq_extra.h). Portable C99. */
#include <string.h>

#include "edgeq_extra.h"
#include "edgeq_int16.h"

void edgeq_split(const void *in, int32_t outer, int32_t n_out, void *const outs[], const int32_t *chunk_bytes)
{
    const uint8_t *src = (const uint8_t *)in;
    for (int32_t o = 0; o < outer; ++o) {
        for (int32_t k = 0; k < n_out; ++k) {
            const int32_t n = chunk_bytes[k];
            memcpy((uint8_t *)outs[k] + (size_t)o * (size_t)n, src, (size_t)n);
            src += n;
        }
    }
}

void edgeq_pack(const void *const ins[], int32_t n_in, int32_t outer, const int32_t *chunk_bytes, void *out)
{
    uint8_t *dst = (uint8_t *)out;
    for (int32_t o = 0; o < outer; ++o) {
        for (int32_t k = 0; k < n_in; ++k) {
            const int32_t n = chunk_bytes[k];
            memcpy(dst, (const uint8_t *)ins[k] + (size_t)o * (size_t)n, (size_t)n);
            dst += n;
        }
    }
}

int edgeq_gather_rows(const void *in, void *out, int32_t outer, int32_t axis_size, int32_t row_bytes,
                      const int32_t *idx, int32_t n_idx)
{
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    for (int32_t j = 0; j < n_idx; ++j) {
        if (idx[j] < 0 || idx[j] >= axis_size) {
            return -1;
        }
    }
    for (int32_t o = 0; o < outer; ++o) {
        const uint8_t *base = src + (size_t)o * (size_t)axis_size * (size_t)row_bytes;
        for (int32_t j = 0; j < n_idx; ++j) {
            memcpy(dst, base + (size_t)idx[j] * (size_t)row_bytes, (size_t)row_bytes);
            dst += row_bytes;
        }
    }
    return 0;
}

static int8_t sub_one(const edgeq_sub_params *p, int32_t a, int32_t b)
{
    const int32_t v1 = edgeq_mbqm((int32_t)((uint32_t)(a + p->in1_offset) << p->left_shift), p->in1_mult,
                                  p->in1_shift);
    const int32_t v2 = edgeq_mbqm((int32_t)((uint32_t)(b + p->in2_offset) << p->left_shift), p->in2_mult,
                                  p->in2_shift);
    const int32_t d = v1 - v2;
    const int32_t raw = edgeq_mbqm(p->square ? d * d : d, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)edgeq_clamp(raw, p->act_min, p->act_max);
}

void edgeq_sub_s8(const edgeq_sub_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const int32_t *d = p->dims;
    const int32_t *s1 = p->in1_strides;
    const int32_t *s2 = p->in2_strides;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
    for (int32_t i1 = 0; i1 < d[1]; ++i1)
    for (int32_t i2 = 0; i2 < d[2]; ++i2)
    for (int32_t i3 = 0; i3 < d[3]; ++i3)
    for (int32_t i4 = 0; i4 < d[4]; ++i4) {
        const int8_t *a = in1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4];
        const int8_t *b = in2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4];
        for (int32_t i5 = 0; i5 < d[5]; ++i5) {
            *out++ = sub_one(p, a[i5 * s1[5]], b[i5 * s2[5]]);
        }
    }
}

void edgeq_resize_nearest(const void *in, void *out, int32_t batches, int32_t in_h, int32_t in_w,
                          int32_t out_h, int32_t out_w, int32_t pixel_bytes, const int32_t *y_map,
                          const int32_t *x_map)
{
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const size_t row = (size_t)in_w * (size_t)pixel_bytes;
    for (int32_t b = 0; b < batches; ++b) {
        const uint8_t *img = src + (size_t)b * (size_t)in_h * row;
        for (int32_t y = 0; y < out_h; ++y) {
            const uint8_t *line = img + (size_t)y_map[y] * row;
            for (int32_t x = 0; x < out_w; ++x) {
                memcpy(dst, line + (size_t)x_map[x] * (size_t)pixel_bytes, (size_t)pixel_bytes);
                dst += pixel_bytes;
            }
        }
    }
}

void edgeq_resize_bilinear_s8(const int8_t *in, int8_t *out, int32_t batches, int32_t in_h, int32_t in_w,
                              int32_t channels, int32_t out_h, int32_t out_w, const int32_t *y_tab,
                              const int32_t *x_tab)
{
    const int32_t row = in_w * channels;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *img = in + b * in_h * row;
        for (int32_t y = 0; y < out_h; ++y) {
            const int8_t *r0 = img + y_tab[3 * y] * row;
            const int8_t *r1 = img + y_tab[3 * y + 1] * row;
            const int32_t wy1 = y_tab[3 * y + 2];
            const int32_t wy0 = 1024 - wy1;
            for (int32_t x = 0; x < out_w; ++x) {
                const int32_t c0 = x_tab[3 * x] * channels;
                const int32_t c1 = x_tab[3 * x + 1] * channels;
                const int32_t wx1 = x_tab[3 * x + 2];
                const int32_t wx0 = 1024 - wx1;
                /* every product fits int32: |v| <= 128, each weight pair product <= 1536^2 */
                const int32_t w00 = wy0 * wx0, w10 = wy1 * wx0, w01 = wy0 * wx1, w11 = wy1 * wx1;
                for (int32_t c = 0; c < channels; ++c) {
                    const int32_t s = r0[c0 + c] * w00 + r1[c0 + c] * w10 + r0[c1 + c] * w01 + r1[c1 + c] * w11;
                    const int32_t rnd = s > 0 ? (1 << 19) : -(1 << 19);
                    *out++ = (int8_t)((s + rnd) / (1 << 20)); /* C99 division truncates toward zero, as TFLM's */
                }
            }
        }
    }
}

void edgeq_transpose_conv_s8(const edgeq_tconv_params *p, const int8_t *in, int8_t *out)
{
    edgeq_transpose_conv_any(p, NULL, in, out, 8); /* the loops shared with the 16x8 kernel, in edgeq_int16.c */
}

void edgeq_batch_matmul_s8(const edgeq_bmm_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out)
{
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < p->batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
        const int8_t *l = lhs + b0 * p->lhs_bstride[0] + b1 * p->lhs_bstride[1] + b2 * p->lhs_bstride[2];
        const int8_t *r = rhs + b0 * p->rhs_bstride[0] + b1 * p->rhs_bstride[1] + b2 * p->rhs_bstride[2];
        for (int32_t i = 0; i < p->rows; ++i) {
            for (int32_t j = 0; j < p->cols; ++j) {
                int32_t sum = 0;
                for (int32_t k = 0; k < p->depth; ++k) {
                    sum += (l[i * p->lhs_si + k * p->lhs_sk] + p->lhs_offset) *
                           (r[k * p->rhs_sk + j * p->rhs_sj] + p->rhs_offset);
                }
                const int32_t v = edgeq_mbqm(sum, p->mult, p->shift) + p->out_offset;
                *out++ = (int8_t)edgeq_clamp(v, p->act_min, p->act_max);
            }
        }
    }
}

void edgeq_batch_matmul_s16(const edgeq_bmm_params *p, const int16_t *lhs, const int16_t *rhs, int16_t *out)
{
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < p->batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
        const int16_t *l = lhs + b0 * p->lhs_bstride[0] + b1 * p->lhs_bstride[1] + b2 * p->lhs_bstride[2];
        const int16_t *r = rhs + b0 * p->rhs_bstride[0] + b1 * p->rhs_bstride[1] + b2 * p->rhs_bstride[2];
        for (int32_t i = 0; i < p->rows; ++i) {
            for (int32_t j = 0; j < p->cols; ++j) {
                int64_t sum = 0;
                for (int32_t k = 0; k < p->depth; ++k) {
                    sum += (int64_t)(l[i * p->lhs_si + k * p->lhs_sk] + p->lhs_offset) *
                           (int64_t)(r[k * p->rhs_sk + j * p->rhs_sj] + p->rhs_offset);
                }
                const int32_t v = edgeq_mbqm64(sum, p->mult, p->shift) + p->out_offset;
                *out++ = (int16_t)edgeq_clamp(v, p->act_min, p->act_max);
            }
        }
    }
}

void edgeq_max_min(const void *in1, const void *in2, void *out, int32_t bits, int32_t is_max, const int32_t dims[6],
                   const int32_t in1_strides[6], const int32_t in2_strides[6])
{
    const int32_t *d = dims;
    const int32_t *s1 = in1_strides;
    const int32_t *s2 = in2_strides;
    int32_t k = 0;
    for (int32_t i0 = 0; i0 < d[0]; ++i0)
    for (int32_t i1 = 0; i1 < d[1]; ++i1)
    for (int32_t i2 = 0; i2 < d[2]; ++i2)
    for (int32_t i3 = 0; i3 < d[3]; ++i3)
    for (int32_t i4 = 0; i4 < d[4]; ++i4)
    for (int32_t i5 = 0; i5 < d[5]; ++i5) {
        const int32_t o1 = i0 * s1[0] + i1 * s1[1] + i2 * s1[2] + i3 * s1[3] + i4 * s1[4] + i5 * s1[5];
        const int32_t o2 = i0 * s2[0] + i1 * s2[1] + i2 * s2[2] + i3 * s2[3] + i4 * s2[4] + i5 * s2[5];
        if (bits == 16) {
            const int16_t a = ((const int16_t *)in1)[o1], b = ((const int16_t *)in2)[o2];
            ((int16_t *)out)[k++] = (is_max ? a > b : a < b) ? a : b;
        } else {
            const int8_t a = ((const int8_t *)in1)[o1], b = ((const int8_t *)in2)[o2];
            ((int8_t *)out)[k++] = (is_max ? a > b : a < b) ? a : b;
        }
    }
}

void edgeq_box_copy(const void *in, void *out, const int32_t out_dims[5], const int32_t in_strides[5],
                    int32_t elem_bytes)
{
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const size_t row = (size_t)out_dims[4] * (size_t)elem_bytes;
    for (int32_t a = 0; a < out_dims[0]; ++a)
    for (int32_t b = 0; b < out_dims[1]; ++b)
    for (int32_t c = 0; c < out_dims[2]; ++c)
    for (int32_t d = 0; d < out_dims[3]; ++d) {
        memcpy(dst, src + a * in_strides[0] + b * in_strides[1] + c * in_strides[2] + d * in_strides[3], row);
        dst += row;
    }
}

void edgeq_reduce_max_s8(const int8_t *in, int8_t *out, int32_t outer, int32_t red, int32_t inner)
{
    for (int32_t o = 0; o < outer; ++o) {
        int8_t *dst = out + (size_t)o * (size_t)inner;
        for (int32_t i = 0; i < inner; ++i) {
            dst[i] = -128;
        }
        const int8_t *src = in + (size_t)o * (size_t)red * (size_t)inner;
        for (int32_t r = 0; r < red; ++r, src += inner) {
            for (int32_t i = 0; i < inner; ++i) {
                if (src[i] > dst[i]) {
                    dst[i] = src[i];
                }
            }
        }
    }
}

void edgeq_neg_f32(const void *in, void *out, int32_t n)
{
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    for (int32_t k = 0; k < n; ++k) {
        uint32_t w;
        memcpy(&w, src + 4 * k, 4);
        w ^= 0x80000000u;
        memcpy(dst + 4 * k, &w, 4);
    }
}
