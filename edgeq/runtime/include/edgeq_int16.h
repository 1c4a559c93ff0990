/* edgeq runtime: int16x8 kernels (int16 activations, int8 weights, int64 bias) for the generated C.
 *
 * TFLite Micro's 16x8 kernels accumulate in 64 bits and requantize with the 64-bit MultiplyByQuantizedMultiplier
 * (multiplier reduced to 16 bits, one rounding shift: edgeq_mbqm64), and keep the int8 kernels' double-rounding
 * 32-bit variant (edgeq_mbqm) where their int32 paths do. Portable C99; activations are symmetric (zero point 0)
 * as TFLM requires for int16.
 */
#ifndef EDGEQ_INT16_H
#define EDGEQ_INT16_H

#include "edgeq_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TFLite MultiplyByQuantizedMultiplier(int64_t x, ...): x * round(mult / 2^16) / 2^(15 - shift), rounded half up. */
static inline int32_t edgeq_mbqm64(int64_t x, int32_t mult, int shift)
{
    const int32_t reduced = mult < 0x7FFF0000 ? ((mult + (1 << 15)) >> 16) : 0x7FFF;
    const int total_shift = 15 - shift;
    return (int32_t)((x * (int64_t)reduced + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* FULLY_CONNECTED 16x8: out[b][o] = clamp(mbqm64(sum_i w[o][i] * in[b][i] + bias[o], mult[o|0], shift[o|0])). */
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t out_offset, act_min, act_max, per_channel;
    const int8_t *filter;           /* [out_depth][in_depth] */
    const int64_t *bias;            /* [out_depth] or NULL */
    const int32_t *mult;
    const int32_t *shift;
} edgeq_fc16_params;

void edgeq_fully_connected_s16(const edgeq_fc16_params *p, const int16_t *in, int16_t *out);

/* ADD, SUB, MUL, SQUARED_DIFFERENCE 16x8 with 6-D broadcasting; parameters as edgeq_sub_params (edgeq_extra.h):
 *   ADD/SUB/SQUARED_DIFFERENCE: v_k = mbqm((in_k + in_k_offset) << left_shift, in_k_mult, in_k_shift),
 *     raw = v_1 + v_2 | v_1 - v_2 | (v_1 - v_2)^2;  MUL: raw = (in_1 + in_1_offset) * (in_2 + in_2_offset);
 *   out = clamp(mbqm(raw, out_mult, out_shift) + out_offset, act_min, act_max). */
#define EDGEQ_ARITH_ADD 0
#define EDGEQ_ARITH_SUB 1
#define EDGEQ_ARITH_SQDIFF 2
#define EDGEQ_ARITH_MUL 3
void edgeq_arith_s16(const void *params, int32_t kind, const int16_t *in1, const int16_t *in2, int16_t *out);

/* CONV_2D and DEPTHWISE_CONV_2D 16x8, NHWC, int64 accumulation, per-channel requantization (edgeq_mbqm64).
 * conv filter [out_c][k_h][k_w][in_c]; depthwise filter [k_h][k_w][out_c], out_c = in_c * depth_mult. */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, depth_mult;
    int32_t act_min, act_max, per_channel;
    const int8_t *filter;
    const int64_t *bias;            /* [out_c] or NULL */
    const int32_t *mult;
    const int32_t *shift;
} edgeq_conv16_params;

void edgeq_conv2d_s16(const edgeq_conv16_params *p, const int16_t *in, int16_t *out);
void edgeq_depthwise_conv2d_s16(const edgeq_conv16_params *p, const int16_t *in, int16_t *out);

/* DSP paths (edgeq_int16_dsp.c, compiled when edgeq_dsp.h defines EDGEQ_DSP: a DSP core or -DEDGEQ_EMULATE_DSP);
 * the portable kernels above call them under the same macro. Bit-identical to the portable kernels. */
void edgeq_fully_connected_s16_dsp(const edgeq_fc16_params *p, const int16_t *in, int16_t *out);
void edgeq_conv2d_s16_dsp(const edgeq_conv16_params *p, const int16_t *in, int16_t *out);
/* depth_mult 1 and k_h * k_w <= 511 only: returns 0 without writing otherwise. */
int32_t edgeq_depthwise_conv2d_s16_dsp(const edgeq_conv16_params *p, const int16_t *in, int16_t *out);

/* AVERAGE_POOL_2D / MAX_POOL_2D 16x8, NHWC (input and output share quantization). Average: sum over the window's
 * valid taps, divided by their count rounding half away from zero, as TFLM's reference pools. */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max, is_max;
} edgeq_pool16_params;

void edgeq_pool_s16(const edgeq_pool16_params *p, const int16_t *in, int16_t *out);

/* PAD / PADV2 16x8 (4-D, dims outermost first): out = in placed at `before`, pad_value elsewhere. */
void edgeq_pad_s16(const int16_t *in, int16_t *out, const int32_t in_dims[4], const int32_t out_dims[4],
                   const int32_t before[4], int16_t pad_value);

/* TRANSPOSE_CONV 16x8 (parameters as edgeq_tconv_params of edgeq_extra.h with in/out offsets 0 and bias as
 * int64 bias64): the gathered int64 sums of TFLM's scatter, requantized with edgeq_mbqm64. */
void edgeq_transpose_conv_s16(const void *params, const int64_t *bias64, const int16_t *in, int16_t *out);

/* MEAN 16x8 over any axes: dims/strides of kept and reduced dimensions (6-D), int32 sums,
 * out = clamp(mbqm(sum - in_zp * count, mult, shift) + out_zp) with 1/count folded into mult/shift. */
typedef struct {
    int32_t out_dims[6], out_strides[6], red_dims[6], red_strides[6];
    int32_t count, in_zp, out_zp, mult, shift;
} edgeq_mean16_params;

void edgeq_mean_s16(const edgeq_mean16_params *p, const int16_t *in, int16_t *out);

/* QUANTIZE float -> int16 (TFLM AffineQuantize: round(x / scale) + zero point, saturated). */
void edgeq_quantize_f32_s16(const float *in, int16_t *out, int32_t n, float scale, int32_t zero_point);

/* DEQUANTIZE int16 -> float: scale * (q - zero point). */
void edgeq_dequantize_s16_f32(const int16_t *in, float *out, int32_t n, float scale, int32_t zero_point);

/* QUANTIZE between integer types (int8/int16 in, int8/int16 out): clamp(mbqm(q - in_zp) + out_zp). in_bits and
 * out_bits say the element sizes (8 or 16). */
void edgeq_requantize_any(const void *in, int32_t in_bits, void *out, int32_t out_bits, int32_t n, int32_t in_zp,
                          int32_t mult, int32_t shift, int32_t out_zp, int32_t act_min, int32_t act_max);

/* LOGISTIC / TANH 16x8 (TFLM reference_integer_ops::Logistic / Tanh for int16): v = (x * mult + round) >> shift
 * puts the input in 1/(3 * 4096) units; |v| indexes the 256-entry sigmoid table (Q0.16, `table`, from the
 * generator) with 9 (logistic) / 8 (tanh) bits of linear interpolation; output scale 2^-15, zero points 0.
 * out may alias in. */
void edgeq_logistic_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift,
                        const uint16_t *table);
void edgeq_tanh_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift, const uint16_t *table);

/* SOFTMAX 16x8 over the last axis (TFLM reference_ops::SoftmaxInt16): exp(mbqm(x - row max)) and the row sum's
 * reciprocal through the 513-entry interpolated tables exp_lut / recip_lut (TFLM's LUTPopulate<int16_t>, from the
 * generator); output scale 1/32768, zero points 0. out may alias in. */
void edgeq_softmax_s16(const int16_t *in, int16_t *out, int32_t rows, int32_t depth, int32_t mult, int32_t shift,
                       const int16_t *exp_lut, const int16_t *recip_lut);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_INT16_H */
