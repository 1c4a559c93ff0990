/* edgeq runtime: int8 kernels for the core TFLite ops (depthwise, fully connected, pooling, elementwise add/mul,
 * (CONV_2D: edgeq_conv.h), mean, pad, concatenation, (de)quantize, relu).
 *
 * Each op is one function taking a parameter struct that the generator emits as `static const` (flash).
 * With __ARM_FEATURE_MVE (Cortex-M55/M85, Helium) depthwise, fully connected, ADD and pooling run vector loops;
 * with __ARM_FEATURE_DSP (Cortex-M4/M7/M33) depthwise and fully connected use SXTB16/SMLAD/SMMLAR (a few hot
 * loops as inline assembly); -DEDGEQ_NO_MVE / -DEDGEQ_NO_DSP force the next path down, -DEDGEQ_EMULATE_DSP runs
 * the DSP code path on any host with C models of the instructions (how the tests cover it without hardware; the
 * inline assembly has C twins there). Stack use is fixed: the largest frames are the depthwise row buffers
 * (EDGEQ_DW_ROWS_BYTES / EDGEQ_DW_PAD_BYTES = 1536 bytes, zero-point padded input rows) and the DSP path's
 * zero-point padded 3x3 window (EDGEQ_DW_WINDOW_BYTES = 1152 bytes); the plain C path stays under ~300 bytes.
 * Kernels: edgeq_dwconv.c, edgeq_fc.c, edgeq_pool.c, edgeq_eltwise.c, the rest in edgeq_core.c; the shared DSP
 * primitives and short requantization in edgeq_dsp.h, the Helium ones in edgeq_mve.h. A port can replace any
 * single kernel by defining EDGEQ_OVERRIDE_<NAME> (e.g. EDGEQ_OVERRIDE_FULLY_CONNECTED_S8) when compiling its
 * file and providing the function itself. Semantics follow TFLite Micro's reference kernels exactly; the
 * generator precomputes every multiplier/shift/offset on the host.
 */
#ifndef EDGEQ_CORE_H
#define EDGEQ_CORE_H

#include "edgeq_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DEPTHWISE_CONV_2D, NHWC (CONV_2D has its own header, edgeq_conv.h). Requantization per output channel when
 * per_channel != 0, otherwise mult[0]/shift[0] for every channel; mult and shift are NULL when rq is given. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_mult;             /* depthwise only */
    int32_t in_offset;              /* -input zero point */
    int32_t out_offset;             /* output zero point */
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *filter;           /* conv: [out_c][k_h][k_w][in_c]; depthwise: [k_h][k_w][out_c] */
    const int32_t *bias;            /* [out_c] or NULL */
    const int32_t *bias_eff;        /* [out_c]: bias + in_offset * sum(filter of the channel), precomputed */
    const int32_t *mult;
    const int32_t *shift;
    /* Optional (NULL = not used), precomputed by the generator:
     * rq: [out_c][3] = {mult, 2^(e-1), e} with right shift e >= 1 for every channel, set only when every
     *     accumulator provably satisfies |acc| < 2^30; enables the short exact requantization (SMMLAR).
     * dw_w: depthwise, depth_mult 1: per group of 4 channels and per tap (k_h x k_w, row-major) two words
     *     of sign-extended int16 weight pairs {w[c], w[c+2]} and {w[c+1], w[c+3]} (what SXTB16 would make of
     *     the int8 weights); in_c & ~3 channels.
     * dwp: depthwise 3x3 layers edgeq_dwconv.c's small-map path takes (eq_dw_small): per channel its 10-word block
     *     of the channel-planar kernels (EQ_DWP_WK: doubled weight pairs per row, the output step, doubled bias,
     *     rq). */
    const int32_t *rq;
    const int32_t *dw_w;
    const int32_t *dwp;
} edgeq_conv_params;

void edgeq_depthwise_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *out);
/* Internal (edgeq_dwconv_mve.c, Helium builds): edgeq_dw_mve runs the layer and returns 1 when a Helium path takes
 * it; edgeq_dw_mve_pixel computes one output pixel's channels (a multiple of 4) for the general loop and returns how
 * many it wrote. */
int edgeq_dw_mve(const edgeq_conv_params *p, const int8_t *in, int8_t *out);
int32_t edgeq_dw_mve_pixel(const edgeq_conv_params *p, const int8_t *x_base, int32_t ys, int32_t ky0, int32_t ky1,
                           int32_t kx0, int32_t kx1, int8_t *out);

/* FULLY_CONNECTED: out[b][o] = requant(sum_i w[o][i] * (in[b][i] + in_offset) + bias[o]).
 * EDGEQ_FC_W16: the build runs the DSP path (SXTB16/SMLAD, real or emulated, no Helium): the generated model then
 * holds the weights pre-extended to int16 pairs (w16, filter NULL), otherwise the int8 ones (filter, w16 NULL). */
#if !defined(EDGEQ_NO_DSP) && !(!defined(EDGEQ_NO_MVE) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)) && \
    ((defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP) || defined(EDGEQ_EMULATE_DSP))
#define EDGEQ_FC_W16 1
/* the same builds run edgeq_dwconv.c's DSP depthwise paths: the generated model holds the small-map path's channel
 * blocks (edgeq_conv_params.dwp) only for them (40 bytes of flash a channel) */
#define EDGEQ_DW_BLOCKS 1
#endif
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t in_offset, out_offset, act_min, act_max;
    int32_t per_channel;
    const int8_t *filter;           /* [out_depth][in_depth] */
    const int32_t *bias;            /* NULL from the generator: bias_eff already contains it */
    const int32_t *bias_eff;        /* [out_depth]: bias + in_offset * sum(weights row), precomputed */
    const int32_t *mult;
    const int32_t *shift;
    const int32_t *rq;              /* NULL or [out_depth][3], as in edgeq_conv_params (then mult/shift NULL) */
    /* EDGEQ_FC_W16 builds: per group of 4 rows (out_depth rounded up to 4, zero rows past the end), first per 4
     * input bytes k (in_depth & ~3 of them) and per row the words {w[k], w[k+2]}, {w[k+1], w[k+3]} (low halfword
     * first: SXTB16 done at generation time), then per row the in_depth & 3 last weights as int32. */
    const int32_t *w16;
} edgeq_fc_params;

void edgeq_fully_connected_s8(const edgeq_fc_params *p, const int8_t *in, int8_t *out);

/* AVERAGE_POOL_2D / MAX_POOL_2D, NHWC; input and output share quantization. */
typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} edgeq_pool_params;

void edgeq_avg_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *out);
void edgeq_max_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *out);

/* ADD / MUL with broadcasting: dims are the output dims (6-D, outermost first); an input's stride is 0
 * along a broadcast dimension. Output is written densely; out may alias a same-shape input. */
#define EDGEQ_MAX_DIMS 6
typedef struct {
    int32_t dims[EDGEQ_MAX_DIMS];
    int32_t in1_strides[EDGEQ_MAX_DIMS];
    int32_t in2_strides[EDGEQ_MAX_DIMS];
    int32_t in1_offset, in2_offset, out_offset;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift; /* ADD only */
    int32_t left_shift;                               /* ADD only */
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
    /* ADD only, optional (NULL = compute): the rescaled input for each of the 256 int8 values, i.e.
     * mbqm((q + in_offset) << left_shift, in_mult, in_shift) at index q + 128. */
    const int32_t *in1_lut;
    const int32_t *in2_lut;
    /* ADD with both tables only, optional: {out_mult, 2^(e-1) + (out_offset << e), e} for a right shift e >= 1,
     * emitted when every table sum s provably keeps the short requantization exact (|s| < 2^30, no overflow):
     * out = clamp(eq_rq_fast(s, out_rq), act_min, act_max), the output zero point folded into the rounding.
     * EDGEQ_ADD_LUT_X2 builds (the DSP ones): where out_rq is set, both tables hold twice those values (the sum
     * is then the 2s that SMMLAR takes; |2s| < 2^31). */
    const int32_t *out_rq;
} edgeq_binary_params;
#ifdef EDGEQ_FC_W16
#define EDGEQ_ADD_LUT_X2 1
#endif

void edgeq_add_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void edgeq_mul_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* MEAN over any set of axes. The kept dimensions (outer loop, output order) and the reduced
 * dimensions (inner loop) are each given as dims + input strides. */
typedef struct {
    int32_t out_dims[EDGEQ_MAX_DIMS];
    int32_t out_strides[EDGEQ_MAX_DIMS];   /* input strides of the kept dims */
    int32_t red_dims[EDGEQ_MAX_DIMS];
    int32_t red_strides[EDGEQ_MAX_DIMS];   /* input strides of the reduced dims */
    int32_t count;                         /* elements reduced into one output */
    int32_t in_zp, out_zp, mult, shift;    /* mult/shift include the 1/count factor */
} edgeq_mean_params;

void edgeq_mean_s8(const edgeq_mean_params *p, const int8_t *in, int8_t *out);

/* PAD (4-D, NHWC): out = pad_value outside, input copied at (before_b, before_h, before_w, before_c). */
typedef struct {
    int32_t in_dims[4];
    int32_t out_dims[4];
    int32_t before[4];
    int32_t pad_value;
} edgeq_pad_params;

void edgeq_pad_s8(const edgeq_pad_params *p, const int8_t *in, int8_t *out);

/* CONCATENATION: for each of `outer` blocks, each input contributes copy_bytes[i] contiguous bytes. */
void edgeq_concat(int32_t num_inputs, const int8_t *const inputs[], const int32_t copy_bytes[], int32_t outer,
                  int8_t *out);

/* Byte copy for RESHAPE/SQUEEZE that could not be aliased (no-op when out == in). */
void edgeq_copy(const void *in, void *out, int32_t bytes);

/* QUANTIZE float32 -> int8 (TFLM AffineQuantize: round(val / scale) + zp in float). */
void edgeq_quantize_f32_s8(const float *in, int8_t *out, int32_t n, float scale, int32_t zero_point);

/* DEQUANTIZE int8 -> float32: scale * (q - zp). */
void edgeq_dequantize_s8_f32(const int8_t *in, float *out, int32_t n, float scale, int32_t zero_point);

/* int8 -> int8 requantization (QUANTIZE int8->int8, RELU): clamp(mbqm(q - in_zp) + out_zp). out may alias in. */
void edgeq_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t mult, int32_t shift,
                         int32_t out_zp, int32_t act_min, int32_t act_max);

/* RELU6 (TFLM int8: clamp to [zero, six] in the input quantization). out may alias in. */
void edgeq_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_CORE_H */
