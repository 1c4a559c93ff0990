/* edgeq runtime: int8 kernels for the non-linear and data-movement ops
 * (SOFTMAX, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, STRIDED_SLICE, TRANSPOSE).
 *
 * Results are bit-exact with TensorFlow Lite Micro's reference kernels. Everything TFLM computes once per
 * model, and every function of a single input byte, is precomputed by the generator
 * (edgeq/codegen/ops_nonlinear.py) into `static const` tables, so no floating point runs here:
 *   - LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU -> edgeq_lut_s8 with a 256-byte table;
 *   - SOFTMAX -> edgeq_softmax_s8 with a 256-entry table of Q0.31 exponentials (gemmlowp exp);
 *   - STRIDED_SLICE, TRANSPOSE -> edgeq_gather_s8 with dims and signed input strides.
 * C99, no malloc; only <stdint.h>, <stddef.h> and <string.h>.
 */
#ifndef EDGEQ_NONLINEAR_H
#define EDGEQ_NONLINEAR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEQ_GATHER_MAX_DIMS 6

/* out[i] = lut[(uint8_t)in[i]] for i < n. out may alias in. */
void edgeq_lut_s8(const int8_t *in, int8_t *out, int32_t n, const int8_t *lut);

/* RSQRT 16x8 (TFLM elementwise.cc RsqrtEvalQuantized<int16_t>, zero points 0): per element, 1/sqrt(x) by TFLite's
 * GetInvSqrtQuantizedMultiplierExp (gemmlowp Newton-Raphson), then requantized with (mult, shift); 0 -> 32767. */
void edgeq_rsqrt_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift);

/* TFLM int8 SOFTMAX over the last axis: `rows` rows of `depth` elements; output scale 1/256, zero point -128.
 * exp_table[d] is exp(-d * beta * input_scale) as TFLM computes it (Q0.31), 0 where TFLM skips the element
 * (input - row max < diff_min). out may alias in. */
void edgeq_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth, const int32_t *exp_table);

/* Strided gather (STRIDED_SLICE, TRANSPOSE): for every index (i0, ..., i[ndims-1]) in row-major order over
 * dims[], out[k++] = in[sum(i_d * in_strides[d])]. `in` already points at the first selected element;
 * strides are in elements and may be negative. 1 <= ndims <= EDGEQ_GATHER_MAX_DIMS. out must not overlap in. */
void edgeq_gather_s8(const int8_t *in, int8_t *out, int32_t ndims, const int32_t *dims,
                     const int32_t *in_strides);

/* ---- fixed-point helpers (gemmlowp / TFLite semantics), shared with tests; static inline, no UB ---- */

/* SaturatingRoundingDoublingHighMul: (a * b * 2 + 2^31) >> 32 rounded to nearest, INT32_MIN^2 saturates. */
static inline int32_t edgeq_nl_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* division truncates toward zero, like gemmlowp */
}

/* RoundingDivideByPOT: x / 2^exponent, rounded to nearest, ties away from zero; 0 <= exponent <= 31. */
static inline int32_t edgeq_nl_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding, as TFLM builds it). */
static inline int32_t edgeq_nl_mbqm(int32_t x, int32_t multiplier, int shift)
{
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    return edgeq_nl_rdbpot(edgeq_nl_srdhm((int32_t)((uint32_t)x << left_shift), multiplier), right_shift);
}

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_NONLINEAR_H */
