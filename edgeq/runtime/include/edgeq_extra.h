/* edgeq runtime: kernels for the ops recurrent, segmentation and upsampling models add to the core set:
 * SPLIT / SPLIT_V / UNPACK (edgeq_split), PACK (edgeq_pack), GATHER (edgeq_gather_rows), SUB and SQUARED_DIFFERENCE
 * (edgeq_sub_s8), RESIZE_NEAREST_NEIGHBOR (edgeq_resize_nearest), RESIZE_BILINEAR (edgeq_resize_bilinear_s8),
 * TRANSPOSE_CONV (edgeq_transpose_conv_s8), BATCH_MATMUL (edgeq_batch_matmul_s8), MAXIMUM/MINIMUM
 * (edgeq_max_min), SLICE (edgeq_box_copy).
 *
 * Portable C99. Semantics follow TFLite Micro's int8 reference kernels; the generator resolves everything that
 * depends only on shapes and quantization (index maps, interpolation weights, multipliers) on the host, so the
 * kernels hold no floating point. The data-movement kernels copy bytes and so serve any element type.
 */
#ifndef EDGEQ_EXTRA_H
#define EDGEQ_EXTRA_H

#include "edgeq_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SPLIT, SPLIT_V, UNPACK: the input is `outer` rows; each row is the concatenation of one chunk per output
 * (chunk_bytes[k] bytes for output k), and output k receives its chunk of every row, in order. */
void edgeq_split(const void *in, int32_t outer, int32_t n_out, void *const outs[], const int32_t *chunk_bytes);

/* PACK (and any concatenation of byte chunks): the inverse of edgeq_split; output row o is the concatenation of
 * chunk o of every input, in order. */
void edgeq_pack(const void *const ins[], int32_t n_in, int32_t outer, const int32_t *chunk_bytes, void *out);

/* GATHER (batch_dims 0): out[o][j] = in[o][idx[j]] for o < outer, j < n_idx; rows of row_bytes bytes,
 * axis_size rows per outer step. Indices outside [0, axis_size) return -1 (TFLM fails the invoke too). */
int edgeq_gather_rows(const void *in, void *out, int32_t outer, int32_t axis_size, int32_t row_bytes,
                      const int32_t *idx, int32_t n_idx);

/* SUB and SQUARED_DIFFERENCE, int8, with 6-D broadcasting (strides 0 along broadcast dimensions):
 *   v_k = mbqm((in_k + in_k_offset) << left_shift, in_k_mult, in_k_shift)
 *   d = v_1 - v_2;  out = clamp(mbqm(square ? d * d : d, out_mult, out_shift) + out_offset, act_min, act_max) */
typedef struct {
    int32_t dims[6];
    int32_t in1_strides[6], in2_strides[6];
    int32_t in1_offset, in2_offset, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift;
    int32_t out_mult, out_shift, out_offset, act_min, act_max;
    int32_t square;
} edgeq_sub_params;

void edgeq_sub_s8(const edgeq_sub_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* RESIZE_NEAREST_NEIGHBOR, NHWC, any element type: out[b][y][x] = in[b][y_map[y]][x_map[x]] (pixel_bytes each). */
void edgeq_resize_nearest(const void *in, void *out, int32_t batches, int32_t in_h, int32_t in_w,
                          int32_t out_h, int32_t out_w, int32_t pixel_bytes, const int32_t *y_map,
                          const int32_t *x_map);

/* RESIZE_BILINEAR, int8, NHWC, TFLM's integer path (10 fractional bits per axis). y_tab/x_tab hold per output
 * row/column {lower index, upper index, weight of the upper one in 1/1024} (the weight may be negative with
 * half-pixel centers at the border, exactly as TFLM computes it). */
void edgeq_resize_bilinear_s8(const int8_t *in, int8_t *out, int32_t batches, int32_t in_h, int32_t in_w,
                              int32_t channels, int32_t out_h, int32_t out_w, const int32_t *y_tab,
                              const int32_t *x_tab);

/* TRANSPOSE_CONV, int8, NHWC; filter [out_c][k_h][k_w][in_c]; requantized per output channel (mult/shift[0] when
 * !per_channel). No scratch memory. */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, pad_h, pad_w;
    int32_t in_offset, out_offset, act_min, act_max, per_channel;
    const int8_t *filter;
    const int32_t *bias;            /* [out_c] or NULL */
    const int32_t *mult;
    const int32_t *shift;
} edgeq_tconv_params;

void edgeq_transpose_conv_s8(const edgeq_tconv_params *p, const int8_t *in, int8_t *out);
/* The TRANSPOSE_CONV loops of both: bits 8 (int8 in/out, p->bias, edgeq_mbqm) or 16 (int16 in/out, bias64,
 * edgeq_mbqm64; edgeq_transpose_conv_s16 of edgeq_int16.h). Defined in edgeq_int16.c (it needs edgeq_mbqm64). */
void edgeq_transpose_conv_any(const edgeq_tconv_params *p, const int64_t *bias64, const void *in, void *out,
                              int32_t bits);

/* BATCH_MATMUL, int8: out[b][i][j] = clamp(mbqm(sum_k (lhs[b][i][k] + lhs_offset) * (rhs[b][k][j] + rhs_offset),
 * mult, shift) + out_offset). Element (i, k) of lhs is at lhs + b-offset + i * lhs_si + k * lhs_sk (strides carry
 * adj_x/adj_y); batch b in 3-D [b0][b1][b2] with per-operand strides (0 = broadcast). */
typedef struct {
    int32_t batch[3];
    int32_t lhs_bstride[3], rhs_bstride[3];
    int32_t rows, cols, depth;
    int32_t lhs_si, lhs_sk, rhs_sk, rhs_sj;
    int32_t lhs_offset, rhs_offset, out_offset, mult, shift, act_min, act_max;
} edgeq_bmm_params;

void edgeq_batch_matmul_s8(const edgeq_bmm_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out);

/* BATCH_MATMUL 16x8: as edgeq_batch_matmul_s8 on int16 operands, summed in int64 and requantized with the 64-bit
 * MultiplyByQuantizedMultiplier (edgeq_mbqm64), TFLM's reference kernel (offsets are 0: int16 is symmetric). */
void edgeq_batch_matmul_s16(const edgeq_bmm_params *p, const int16_t *lhs, const int16_t *rhs, int16_t *out);

/* MAXIMUM / MINIMUM on raw int8 or int16 values (TFLM compares the stored integers: both inputs and the output
 * share quantization) with 6-D broadcasting; dims and element strides as in edgeq_sub_params. */
void edgeq_max_min(const void *in1, const void *in2, void *out, int32_t bits, int32_t is_max, const int32_t dims[6],
                   const int32_t in1_strides[6], const int32_t in2_strides[6]);

/* SLICE (and any box of a tensor): out = the out_dims box of `in` (5-D, outermost first; in_strides in bytes, the
 * box's start already applied to `in`), rows of out_dims[4] * elem_bytes bytes copied at once. */
void edgeq_box_copy(const void *in, void *out, const int32_t out_dims[5], const int32_t in_strides[5],
                    int32_t elem_bytes);

/* REDUCE_MAX, int8: out[o][i] = max over r of in[o][r][i] (outer x red x inner, row-major), -128 for red = 0. */
void edgeq_reduce_max_s8(const int8_t *in, int8_t *out, int32_t outer, int32_t red, int32_t inner);

/* NEG, float32: n elements with their IEEE sign bit flipped (= -x, bit for bit); in may equal out. */
void edgeq_neg_f32(const void *in, void *out, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_EXTRA_H */
