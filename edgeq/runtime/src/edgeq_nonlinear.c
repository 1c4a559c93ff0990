/* edgeq runtime: int8 non-linear and data-movement kernels; see edgeq_nonlinear.h.
 *
 * Bit-exactness notes (TFLM reference kernels are the specification):
 * - SOFTMAX follows reference_ops::Softmax<int8_t, int8_t>: sum of Rescale<12>(exp) in Q12.19 (wrapping int32
 *   adds, like gemmlowp), GetReciprocal via one_over_one_plus_x_for_x_in_0_1 (3 Newton-Raphson steps),
 *   output = RoundingDivideByPOT(SRDHM(reciprocal, exp), num_bits_over_unit + 23) - 128, saturated.
 *   TFLM aborts (TFLITE_CHECK) when that exponent exceeds 31, i.e. when a row's sum of exponentials reaches
 *   2^28 (>= 512 elements all within rounding of the row maximum); LiteRT's reference kernel aborts too. There
 *   is no TFLM result to match: this kernel then writes -128 for the row (what the wider shift gives, and what
 *   LiteRT's default kernel returns) instead of aborting.
 */
#include "edgeq_nonlinear.h"

#include <string.h>

void edgeq_lut_s8(const int8_t *in, int8_t *out, int32_t n, const int8_t *lut)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int8_t a = lut[(uint8_t)in[i]];
        const int8_t b = lut[(uint8_t)in[i + 1]];
        const int8_t c = lut[(uint8_t)in[i + 2]];
        const int8_t d = lut[(uint8_t)in[i + 3]];
        out[i] = a;
        out[i + 1] = b;
        out[i + 2] = c;
        out[i + 3] = d;
    }
    for (; i < n; ++i) {
        out[i] = lut[(uint8_t)in[i]];
    }
}

/* Number of leading zero bits; portable (no libgcc __clzsi2 needed on Cortex-M0+). Called once per row. */
static int edgeq_nl_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    if ((x & 0xFFFF0000u) == 0u) { n += 16; x <<= 16; }
    if ((x & 0xFF000000u) == 0u) { n += 8; x <<= 8; }
    if ((x & 0xF0000000u) == 0u) { n += 4; x <<= 4; }
    if ((x & 0xC0000000u) == 0u) { n += 2; x <<= 2; }
    if ((x & 0x80000000u) == 0u) { n += 1; }
    return n;
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for 0 < exponent < 31 (saturating left shift). */
static int32_t edgeq_nl_sat_shl(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

static int32_t edgeq_nl_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 on raw Q0.31 values. */
static int32_t edgeq_nl_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum */
    /* x = 48/17 + half_denominator * (-32/17), Q2.29 */
    int32_t x = edgeq_nl_add_wrap(1515870810, edgeq_nl_srdhm(half_denominator, -1010580540));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = edgeq_nl_srdhm(half_denominator, x);
        const int32_t one_minus = edgeq_nl_add_wrap((int32_t)1 << 29, -half_denominator_times_x);
        x = edgeq_nl_add_wrap(x, edgeq_nl_sat_shl(edgeq_nl_srdhm(x, one_minus), 2));
    }
    return edgeq_nl_sat_shl(x, 1);
}

void edgeq_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth, const int32_t *exp_table)
{
    int32_t r;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = in + (ptrdiff_t)r * depth;
        int8_t *y = out + (ptrdiff_t)r * depth;
        int32_t max_in_row = INT8_MIN;
        uint32_t sum_of_exps = 0u; /* Q12.19, wraps like gemmlowp's int32 Add */
        int32_t c;
        int headroom_plus_one;
        int exponent;
        int32_t shifted_scale;

        for (c = 0; c < depth; ++c) {
            if (x[c] > max_in_row) {
                max_in_row = x[c];
            }
        }
        for (c = 0; c < depth; ++c) {
            sum_of_exps += (uint32_t)edgeq_nl_rdbpot(exp_table[max_in_row - x[c]], 12);
        }
        headroom_plus_one = edgeq_nl_clz32(sum_of_exps);
        /* num_bits_over_unit + 31 - 8, num_bits_over_unit = 12 - headroom_plus_one */
        exponent = 35 - headroom_plus_one;
        if (sum_of_exps == 0u || exponent > 31) {
            for (c = 0; c < depth; ++c) {
                y[c] = INT8_MIN;
            }
            continue;
        }
        shifted_scale = edgeq_nl_one_over_one_plus_x(
            (int32_t)((sum_of_exps << headroom_plus_one) - 0x80000000u));
        for (c = 0; c < depth; ++c) {
            const int32_t e = exp_table[max_in_row - x[c]];
            int32_t v = edgeq_nl_rdbpot(edgeq_nl_srdhm(shifted_scale, e), exponent) + INT8_MIN;
            if (v > INT8_MAX) {
                v = INT8_MAX;
            }
            if (v < INT8_MIN) {
                v = INT8_MIN;
            }
            y[c] = (int8_t)v;
        }
    }
}

void edgeq_gather_s8(const int8_t *in, int8_t *out, int32_t ndims, const int32_t *dims,
                     const int32_t *in_strides)
{
    int32_t idx[EDGEQ_GATHER_MAX_DIMS];
    int32_t inner, inner_stride, last, d;
    ptrdiff_t base = 0; /* element offset of the current innermost row; indexes stay in bounds */

    if (ndims < 1 || ndims > EDGEQ_GATHER_MAX_DIMS) {
        return;
    }
    for (d = 0; d < ndims; ++d) {
        if (dims[d] <= 0) {
            return;
        }
        idx[d] = 0;
    }
    last = ndims - 1;
    inner = dims[last];
    inner_stride = in_strides[last];
    for (;;) {
        if (inner_stride == 1) {
            memcpy(out, in + base, (size_t)inner);
        } else {
            ptrdiff_t k = base;
            int32_t i;
            for (i = 0; i < inner; ++i) {
                out[i] = in[k];
                k += inner_stride;
            }
        }
        out += inner;
        /* odometer over the outer dims */
        for (d = last - 1; d >= 0; --d) {
            if (++idx[d] < dims[d]) {
                base += in_strides[d];
                break;
            }
            base -= (ptrdiff_t)in_strides[d] * (dims[d] - 1);
            idx[d] = 0;
        }
        if (d < 0) {
            return;
        }
    }
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for 0 < e < 31: saturating left shift. */
static int32_t eq_sat_shl(int32_t x, int e)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* TFLite GetInvSqrtQuantizedMultiplierExp(x, kReverseShift = -1). */
static void eq_inv_sqrt(int32_t x, int32_t *mult, int *shift)
{
    int s = 11;
    int clz = 0;
    int pairs;
    int32_t half_input;
    int32_t r = (int32_t)1 << 28; /* F3 one */
    const int32_t half_three = ((int32_t)1 << 28) + ((int32_t)1 << 27);
    if (x <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    while (x >= ((int32_t)1 << 29)) {
        x /= 4;
        ++s;
    }
    while (!((uint32_t)x & (0x80000000u >> clz))) {
        ++clz;
    }
    pairs = (clz - 1) / 2 - 1;
    s -= pairs;
    x = (int32_t)((uint32_t)x << (2 * pairs));
    half_input = edgeq_nl_rdbpot(x >> 1, 1);
    for (int i = 0; i < 5; ++i) {
        const int32_t x3 = eq_sat_shl(edgeq_nl_srdhm(edgeq_nl_srdhm(r, r), r), 6);
        const uint32_t d = (uint32_t)edgeq_nl_srdhm(half_three, r) - (uint32_t)edgeq_nl_srdhm(half_input, x3);
        r = eq_sat_shl((int32_t)d, 3);
    }
    r = edgeq_nl_srdhm(r, 1518500250); /* sqrt(2) / 2 */
    if (s < 0) {
        r = (int32_t)((uint32_t)r << -s);
        s = 0;
    }
    *mult = r;
    *shift = -s;
}

void edgeq_rsqrt_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift)
{
    for (int32_t k = 0; k < n; ++k) {
        const int32_t value = in[k];
        int32_t m;
        int s;
        int32_t v;
        if (value == 0) {
            out[k] = 32767;
            continue;
        }
        eq_inv_sqrt(value, &m, &s);
        v = edgeq_nl_mbqm(edgeq_nl_mbqm(1, m, s + 20), mult, (int)shift - 20);
        out[k] = (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
    }
}
