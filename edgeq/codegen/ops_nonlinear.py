"""Code generation for the non-linear and data-movement int8 ops (pipeline: codegen, per-op emitters).

Ops: SOFTMAX, LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, STRIDED_SLICE, TRANSPOSE. Runtime side:
`edgeq/runtime/{include,src}/edgeq_nonlinear.{h,c}`.

Everything that TFLite Micro computes once per model (multipliers, shifts, radii) and everything that depends
on a single input byte is computed here, on the host, by a pure-Python re-implementation of TFLM's integer
arithmetic (gemmlowp fixed point, MultiplyByQuantizedMultiplier, QuantizeMultiplier, and the parameter
set-up with the floating-point precision the oracle build uses, see PARAMS_IN_DOUBLE). No TensorFlow and no
TFLM are needed at code-generation time.

- LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU: the output byte is a function of the input byte only, so the whole
  op becomes a 256-entry int8 table (`edgeq_lut_s8`), proven equal to TFLM for all 256 inputs by the tests.
- SOFTMAX: exp() of (input - row max) is again a function of one byte, so the Q0.31 exponentials become a
  256-entry int32 table; the per-row sum, reciprocal and output scaling run in C exactly as TFLM does.
- STRIDED_SLICE, TRANSPOSE: constant index arithmetic is resolved here into one strided gather
  (`edgeq_gather_s8`: dims + signed input strides + start offset), merged to the fewest loops.

Where TFLM and LiteRT (TensorFlow Lite) differ, edgeq follows TFLM; the differences found are listed in the
docstrings of the functions concerned (`leaky_relu_lut`, `strided_slice_plan`, `transpose_plan`,
and the SOFTMAX overflow case in edgeq_nonlinear.c). The tests prove every claim made here against the
tflite-micro Python interpreter (tests/test_codegen_nonlinear.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeq.codegen.emit import EmitContext, register, register_int16
from edgeq.errors import EdgeqError
from edgeq.graph import Operator, Tensor

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

# Limits of the C kernel (edgeq_gather_s8) and of TFLM (the oracle) for the data-movement ops.
GATHER_MAX_DIMS = 6
TFLM_STRIDED_SLICE_MAX_DIMS = 4  # TFLM strided_slice_common.cc: "input dim should not exceed 4"
TFLM_TRANSPOSE_MAX_DIMS = 5  # TFLM transpose_common.cc: "only supports 1D-5D input arrays"
STRIDED_SLICE_MAX_DIMS = 5  # the padded-to-5D evaluation loop that TFLM (and LiteRT) use
TRANSPOSE_MAX_DIMS = 6


class NonlinearParamError(EdgeqError):
    """The op's parameters are outside what TFLM accepts (TFLM would fail in Prepare or abort)."""


# ------------------------------------------------------------------------------------- integer primitives
# Python ints are unbounded; these helpers reproduce C's fixed-width two's-complement behaviour.


def _wrap32(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _wrap16(x: int) -> int:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _srdhm(a: int, b: int, bits: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul<int`bits`_t>."""
    lo = -(1 << (bits - 1))
    if a == b == lo:
        return -lo - 1
    ab = a * b
    nudge = (1 << (bits - 2)) if ab >= 0 else 1 - (1 << (bits - 2))
    return (_wrap32 if bits == 32 else _wrap16)(_cdiv(ab + nudge, 1 << (bits - 1)))


def srdhm32(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul<int32_t> (ARM VQRDMULH)."""
    return _srdhm(a, b, 32)


def srdhm16(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul<int16_t>."""
    return _srdhm(a, b, 16)


def sdhm16(a: int, b: int) -> int:
    """TFLite reference_ops::SaturatingDoublingHighMul (hard_swish.h): like srdhm16 but rounds to zero."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    return _wrap16(_cdiv(a * b, 1 << 15))


def rdbpot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp RoundingDivideByPOT for an int`bits`_t x (round half away from zero)."""
    wrap = _wrap32 if bits == 32 else _wrap16
    mask = wrap((1 << exponent) - 1)
    remainder = wrap(x & mask)
    threshold = wrap((mask >> 1) + (1 if x < 0 else 0))
    return wrap((x >> exponent) + (1 if remainder > threshold else 0))


def sat_shl32(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent > 0> on int32 (saturating left shift)."""
    if exponent <= 0:
        return rdbpot(x, -exponent) if exponent < 0 else x
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return _wrap32(x << exponent)


def rounding_half_sum32(a: int, b: int) -> int:
    s = a + b
    return _wrap32(_cdiv(s + (1 if s >= 0 else -1), 2))


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier(int32 x, ...), the double-rounding variant TFLM builds."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rdbpot(srdhm32(_wrap32(x * _wrap32(1 << left)), multiplier), right)


def round_half_away(x: float) -> int:
    """TfLiteRound / std::round on a double: ties away from zero (Python's round() ties to even)."""
    ax = abs(x)
    f = math.floor(ax)
    if ax - f >= 0.5:  # exact: ax - floor(ax) is representable
        f += 1
    return int(f) if x >= 0 else -int(f)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier(double) -> (int32 multiplier, shift); non-single-rounding build."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed > (1 << 31):
        raise NonlinearParamError(f"multiplier {real!r} cannot be quantized")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def downscale_multiplier_to_int16(m32: int) -> int:
    """TFLite DownScaleInt32ToInt16Multiplier."""
    if m32 < 0:
        raise NonlinearParamError("negative multiplier cannot be downscaled to int16")
    if m32 >= INT32_MAX - (1 << 15):
        return (1 << 15) - 1
    return (m32 + (1 << 15)) >> 16


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite CalculateInputRadius (double arithmetic, exact here, then floor)."""
    if left_shift < 0:
        raise NonlinearParamError(f"input scale too small (left shift {left_shift} < 0)")
    numerator = ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits))
    max_input_rescaled = numerator / (1 << left_shift)
    return math.floor(max_input_rescaled)


def _f32(x: float) -> np.float32:
    return np.float32(x)


# TFLM's kernel sources (hard_swish_common.cc, leaky_relu_common.cc, through 2025) form the HARD_SWISH and
# LEAKY_RELU multipliers from float32 scales with float32 arithmetic, but the tflite-micro build that is the
# oracle here (0.dev20261023) produces the double-precision results: on every parameter set where the two
# roundings give different tables (about 1 in 10^4 random sets; 22 found and pinned in the tests) it matches
# double and never float32. edgeq follows the oracle; set this to False to reproduce an older float32 build.
PARAMS_IN_DOUBLE = True


def _tflm_div(a: float, b: float) -> float:
    """a / b for TFLM parameter set-up: double, or float32 when PARAMS_IN_DOUBLE is False."""
    if PARAMS_IN_DOUBLE:
        return float(a) / float(_f32(b))
    return float(_f32(a) / _f32(b))


# ------------------------------------------------------------------------- gemmlowp fixed-point functions
# Raw int32 values; "Fk" = FixedPoint<int32_t, k> (k integer bits, 31 - k fractional bits).

_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    constant_term = 1895147668  # exp(-1/8) in F0
    constant_1_over_3 = 715827883
    x = _wrap32(a + (1 << 28))
    x2 = srdhm32(x, x)
    x3 = srdhm32(x2, x)
    x4 = srdhm32(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(_wrap32(srdhm32(_wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return _wrap32(constant_term + srdhm32(constant_term, _wrap32(x + poly)))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """gemmlowp exp_on_negative_values(F<integer_bits>) -> F0 raw."""
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = _wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        sat_shl32(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = _wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (frac_bits + exponent)):
            result = srdhm32(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    if a == 0:
        result = INT32_MAX
    return result


def _newton_reciprocal_f2(a: int) -> int:
    """The shared Newton-Raphson loop of one_over_one_plus_x / one_minus_x_over_one_plus_x (F2 raw)."""
    half_denominator = rounding_half_sum32(a, INT32_MAX)
    x = _wrap32(1515870810 + srdhm32(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        half_denominator_times_x = srdhm32(half_denominator, x)
        one_minus = _wrap32((1 << 29) - half_denominator_times_x)
        x = _wrap32(x + sat_shl32(srdhm32(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return sat_shl32(_newton_reciprocal_f2(a), 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    return sat_shl32(_wrap32(_newton_reciprocal_f2(a) - (1 << 29)), 2)


def logistic_f4(a: int) -> int:
    """gemmlowp logistic(F4) -> F0 raw."""
    if a == 0:
        return 1 << 30
    abs_input = a if a > 0 else _wrap32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(_wrap32(-abs_input), 4))
    return positive if a > 0 else _wrap32(INT32_MAX - positive)


def tanh_f4(a: int) -> int:
    """gemmlowp tanh(F4) -> F0 raw (ExactMulByPot<1> turns the F4 raw into an F5 raw)."""
    if a == 0:
        return 0
    n = a if a < 0 else _wrap32(-a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, 5))
    return _wrap32(-t) if a < 0 else t


# ------------------------------------------------------------------------------ per-op host parameters


def _clamp8(v: int) -> int:
    return -128 if v < -128 else (127 if v > 127 else v)


@dataclass(frozen=True)
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    exp_table: tuple[int, ...]  # [d] = exp(-(d) * beta * scale) in Q0.31, 0 where TFLM skips the element


def softmax_exp_table(beta: float, input_scale: float) -> SoftmaxParams:
    """TFLM int8->int8 SOFTMAX (softmax_common.cc + reference_ops::Softmax, gemmlowp exp path).

    TFLM: PreprocessSoftmaxScaling(beta, scale, 5 integer bits) -> input_multiplier/left_shift,
    diff_min = -CalculateInputRadius(5, left_shift); per element with diff = x - row_max >= diff_min:
    exp_on_negative_values(MultiplyByQuantizedMultiplierGreaterThanOne(diff)) in Q5.26 -> Q0.31. Entry d of
    the table is that value for diff = -d (d = 0..255), and 0 for diff < diff_min: a zero adds nothing to the
    sum and yields exactly the -128 that TFLM writes for skipped elements, so the C loop needs no branch.

    TFLM's lookup-table softmax (513-entry int16 exp and 1/(1+x) tables) serves int16 inputs only; int8->int8
    always takes this gemmlowp path (int8->int16 outputs are not generated by edgeq). LiteRT (ai-edge-litert
    2.x, default resolver) matched TFLM on every SOFTMAX byte the tests compared.
    """
    beta_d = float(_f32(beta))
    scale_d = float(_f32(input_scale))
    real = min(beta_d * scale_d * float(1 << 26), float((1 << 31) - 1))
    if not real > 1.0:
        raise NonlinearParamError(
            f"SOFTMAX beta*input_scale = {beta_d * scale_d:g} is too small: TFLM's "
            "QuantizeMultiplierGreaterThanOne check fails (needs beta*scale > 2^-26)")
    multiplier, shift = quantize_multiplier(real)
    if shift < 0:
        raise NonlinearParamError("SOFTMAX input multiplier has a negative shift (TFLM check fails)")
    diff_min = -input_radius(5, shift)
    table = []
    for d in range(256):
        diff = -d
        if diff < diff_min:
            table.append(0)
            continue
        rescaled = srdhm32(_wrap32(diff * (1 << shift)), multiplier)
        table.append(exp_on_negative_values(rescaled, 5))
    return SoftmaxParams(multiplier, shift, diff_min, tuple(table))


def softmax_check_output(output_scale: float, output_zero_point: int) -> None:
    """TFLM SoftmaxPrepare for int8 output: zero point -128 and scale exactly 1/256 (float compare)."""
    if output_zero_point != -128 or _f32(output_scale) != _f32(1.0 / 256):
        raise NonlinearParamError(
            f"SOFTMAX int8 output must have scale 1/256 and zero point -128 (TFLM check), got "
            f"scale {output_scale!r}, zero point {output_zero_point}")


def softmax_reference(x: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    """Python model of edgeq_softmax_s8 (= TFLM), last axis; used by TensorFlow-free tests."""
    x = np.asarray(x, dtype=np.int8)
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        m = int(row.max())
        exps = [table[m - int(v)] for v in row]
        total = 0
        for e in exps:
            total = _wrap32(total + rdbpot(e, 12))
        u = total & 0xFFFFFFFF
        headroom_plus_one = 32 - u.bit_length()
        shifted = _wrap32(((u << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
        scale = one_over_one_plus_x_for_x_in_0_1(shifted)
        exponent = (12 - headroom_plus_one) + 31 - 8
        for c, e in enumerate(exps):
            unsat = rdbpot(srdhm32(scale, e), exponent) if exponent <= 31 else 0
            out[r, c] = _clamp8(unsat - 128)
    return out.reshape(x.shape).astype(np.int8)


def _fixed_point_input_params(input_scale: float) -> tuple[int, int, int]:
    """TFLM int8 LOGISTIC/TANH Prepare: scale * 2^27 -> frexp -> (multiplier, left_shift, range_radius)."""
    real = float(_f32(input_scale)) * float(1 << 27)
    q, shift = math.frexp(real)
    multiplier = round_half_away(q * (1 << 31))
    if multiplier >= (1 << 31):  # cannot happen for a float32 scale (24-bit mantissa)
        raise NonlinearParamError(f"input scale {input_scale!r} overflows the int32 multiplier")
    return multiplier, shift, input_radius(4, shift)


def logistic_lut(input_scale: float, input_zero_point: int) -> tuple[int, ...]:
    """TFLM int8 LOGISTIC (reference_integer_ops::Logistic, gemmlowp logistic on Q4.27) for inputs -128..127.

    The table is indexed by the input byte as uint8 (entry i is for int8 value (int8_t)i). TFLM requires the
    output zero point -128 (checked by the emitter) and writes Q0.8 outputs regardless of the output scale.
    LiteRT (ai-edge-litert 2.x) matched TFLM on all 256 inputs of every parameter set tested.
    """
    return _saturating_lut(input_scale, input_zero_point,
                           lambda q4: _clamp8(rdbpot(logistic_f4(q4), 31 - 8) - 128))


def _saturating_lut(input_scale: float, input_zero_point: int, inside) -> tuple[int, ...]:
    """TFLM's shared shape of int8 LOGISTIC/TANH: -128/127 beyond the input range radius, else
    `inside(Q4.27 input)`."""
    multiplier, shift, radius = _fixed_point_input_params(input_scale)
    out = []
    for v in range(-128, 128):
        x = v - input_zero_point
        if x <= -radius:
            out.append(-128)
        elif x >= radius:
            out.append(127)
        else:
            out.append(inside(mbqm(x, multiplier, shift)))
    return _to_uint8_order(out)


def tanh_lut(input_scale: float, input_zero_point: int) -> tuple[int, ...]:
    """TFLM int8 TANH (reference_integer_ops::Tanh, gemmlowp tanh on Q4.27) for inputs -128..127.

    Output is Q0.7 with zero point 0 whatever the output tensor says (TFLM does not check it). LiteRT
    (ai-edge-litert 2.x) matched TFLM on all 256 inputs of every parameter set tested.
    """
    return _saturating_lut(input_scale, input_zero_point, lambda q4: _clamp8(rdbpot(tanh_f4(q4), 31 - 7)))


def hard_swish_lut(input_scale: float, input_zero_point: int, output_scale: float,
                   output_zero_point: int) -> tuple[int, ...]:
    """TFLM int8 HARD_SWISH: hard_swish_common.cc Prepare, reference_ops::HardSwish (int16 fixed point).

    The multipliers hires_scale / output_scale and hires_scale / (3/32768) are formed in double precision:
    that is what the tflite-micro build used as the oracle computes (see `PARAMS_IN_DOUBLE`).
    """
    hires_input_scale = float(_f32(input_scale)) / 128.0  # exact in float32 and double alike
    reluish_scale = 3.0 / 32768.0  # exact
    out_mult32, out_exp = quantize_multiplier(_tflm_div(hires_input_scale, output_scale))
    out_mult16 = downscale_multiplier_to_int16(out_mult32)
    if out_exp > 0:
        raise NonlinearParamError(
            "HARD_SWISH output scale is too small relative to the input scale (TFLM requires "
            "input_scale / (128 * output_scale) < 1)")
    relu_mult32, relu_exp = quantize_multiplier(_tflm_div(hires_input_scale, reluish_scale))
    relu_mult16 = downscale_multiplier_to_int16(relu_mult32)
    in_zp = _wrap16(input_zero_point)
    out_zp = _wrap16(output_zero_point)

    def sat_lshift16(value: int, amount: int) -> int:
        return max(-(1 << 15), min((1 << 15) - 1, value * (1 << amount)))

    out = []
    for v in range(-128, 128):
        value = _wrap16(v - in_zp)
        hires = _wrap16(value * (1 << 7))
        preshift = srdhm16(hires, out_mult16)
        reluish = hires
        if relu_exp > 0:
            reluish = sat_lshift16(reluish, relu_exp - 1)
        reluish = srdhm16(reluish, relu_mult16)
        if relu_exp > 0:
            reluish = sat_lshift16(reluish, 1)
        if relu_exp < 0:
            reluish = rdbpot(reluish, -relu_exp, bits=16)
        reluish = _wrap16((reluish + (1 << 15)) >> 1)
        pre_out = sdhm16(reluish, preshift)
        y = rdbpot(pre_out, -out_exp, bits=16)
        y = _wrap16(y + out_zp)
        out.append(_clamp8(y))
    return _to_uint8_order(out)


def leaky_relu_lut(alpha: float, input_scale: float, input_zero_point: int, output_scale: float,
                   output_zero_point: int) -> tuple[int, ...]:
    """TFLM int8 LEAKY_RELU (leaky_relu_common.cc multipliers; reference_ops::QuantizeLeakyRelu).

    Multipliers input_scale * alpha / output_scale and input_scale / output_scale are formed in double
    precision, as the tflite-micro oracle does (see `PARAMS_IN_DOUBLE`). LiteRT differs when its default
    XNNPACK delegate runs the op: 1 LSB off on ~7% of the input values (293 of 4352 bytes over 17 parameter
    sets in the tests). LiteRT's own builtin and reference kernels (no delegate) match TFLM exactly.
    """
    in_s, out_s, a = float(_f32(input_scale)), float(_f32(output_scale)), float(_f32(alpha))
    if PARAMS_IN_DOUBLE:
        alpha_real, identity_real = in_s * a / out_s, in_s / out_s
    else:
        alpha_real = float(_f32(in_s) * _f32(a) / _f32(out_s))
        identity_real = float(_f32(in_s) / _f32(out_s))
    mult_alpha, shift_alpha = quantize_multiplier(alpha_real)
    mult_identity, shift_identity = quantize_multiplier(identity_real)
    out = []
    for v in range(-128, 128):
        x = v - input_zero_point
        if x >= 0:
            y = output_zero_point + mbqm(x, mult_identity, shift_identity)
        else:
            y = output_zero_point + mbqm(x, mult_alpha, shift_alpha)
        out.append(_clamp8(_wrap32(y)))
    return _to_uint8_order(out)


def inv_sqrt_multiplier_exp(x: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp(x, kReverseShift): 1/sqrt(x) as (multiplier, left shift) by gemmlowp
    fixed-point Newton-Raphson (F3 numbers, 5 iterations from 1); x <= 1 gives (INT32_MAX, 0)."""
    if x <= 1:
        return INT32_MAX, 0
    shift = 11
    while x >= (1 << 29):
        x //= 4
        shift += 1
    pairs = (32 - x.bit_length() - 1) // 2 - 1  # CountLeadingZeros(x) - 1 bits, in pairs, less one
    shift -= pairs
    x <<= 2 * pairs
    half_input = rdbpot(x >> 1, 1)               # F3 input, times 1/2
    half_three = (1 << 28) + (1 << 27)           # F3 1.5
    r = 1 << 28                                   # F3 one
    for _ in range(5):
        x3 = sat_shl32(srdhm32(srdhm32(r, r), r), 6)  # Rescale<3>(F9)
        r = sat_shl32(_wrap32(srdhm32(half_three, r) - srdhm32(half_input, x3)), 3)  # Rescale<3>(F6)
    r = srdhm32(r, 1518500250)                    # times sqrt(2)/2 (F0)
    if shift < 0:
        r, shift = _wrap32(r << -shift), 0
    return r, -shift


def rsqrt_lut(input_scale: float, input_zero_point: int, output_scale: float,
              output_zero_point: int) -> tuple[int, ...]:
    """TFLM int8 RSQRT (elementwise.cc RsqrtEvalQuantized) for all 256 inputs. The output multiplier is
    1 / double(sqrtf(input_scale) * output_scale); an input at the zero point gives 127. Inputs below the zero point
    (negative reals) make TFLM stop the invoke with an error; the table gives them the x <= 1 value."""
    mult, shift = quantize_multiplier(1.0 / float(np.sqrt(_f32(input_scale)) * _f32(output_scale)))
    out = []
    for q in range(-128, 128):
        value = q - input_zero_point
        if value == 0:
            out.append(127)
            continue
        m, s = inv_sqrt_multiplier_exp(value)
        data = mbqm(1, m, s + 20)
        out.append(_clamp8(_wrap32(mbqm(data, mult, shift - 20) + output_zero_point)))
    return _to_uint8_order(out)


def rsqrt16(value: int, mult: int, shift: int) -> int:
    """Python model of edgeq_rsqrt_s16 for one int16 input (TFLM RsqrtEvalQuantized<int16_t>, zero points 0)."""
    if value == 0:
        return 32767
    m, s = inv_sqrt_multiplier_exp(value)
    v = mbqm(mbqm(1, m, s + 20), mult, shift - 20)
    return max(-32768, min(32767, v))


def abs_lut(input_scale: float, input_zero_point: int, output_scale: float,
            output_zero_point: int) -> tuple[int, ...]:
    """TFLM int8 ABS (elementwise.cc AbsEvalQuantized): |q - zp_in|, rescaled by QuantizeMultiplier(double(
    float(s_in / s_out))) when the scales differ, plus zp_out, clamped."""
    s_in, s_out = _f32(input_scale), _f32(output_scale)
    rescale = bool(s_in != s_out)
    mult, shift = quantize_multiplier(float(s_in / s_out)) if rescale else (0, 0)
    out = []
    for q in range(-128, 128):
        value = abs(q - input_zero_point)
        y = mbqm(value, mult, shift) if rescale else value
        out.append(_clamp8(_wrap32(y + output_zero_point)))
    return _to_uint8_order(out)


def _to_uint8_order(values_from_minus_128: list[int]) -> tuple[int, ...]:
    """Reorder a table given for inputs -128..127 to be indexed by (uint8_t)input: [0..127, -128..-1]."""
    return tuple(values_from_minus_128[128:] + values_from_minus_128[:128])


def apply_lut(x: np.ndarray, lut: tuple[int, ...]) -> np.ndarray:
    """Python model of edgeq_lut_s8."""
    table = np.asarray(lut, dtype=np.int8)
    return table[np.asarray(x, dtype=np.int8).view(np.uint8)]


# ------------------------------------------------------------------------------- strided gather plans


@dataclass(frozen=True)
class GatherPlan:
    """out[i0..ik] = in[offset + sum(i_d * in_strides[d])], row-major over `dims` (all in elements)."""

    offset: int
    dims: tuple[int, ...]
    in_strides: tuple[int, ...]

    @property
    def num_elements(self) -> int:
        return math.prod(self.dims) if self.dims else 1

    def simplified(self) -> GatherPlan:
        """Drop unit dims and merge dims that are contiguous in the input (same result, fewer loops)."""
        if any(d == 0 for d in self.dims):
            return GatherPlan(self.offset, (0,), (1,))
        dims: list[int] = []
        strides: list[int] = []
        for d, s in zip(self.dims, self.in_strides):
            if d == 1:
                continue
            if dims and strides[-1] == s * d:
                dims[-1] *= d
                strides[-1] = s
            else:
                dims.append(d)
                strides.append(s)
        if not dims:
            return GatherPlan(self.offset, (1,), (1,))
        return GatherPlan(self.offset, tuple(dims), tuple(strides))

    def in_bytes(self, elem_bytes: int) -> GatherPlan:
        """The same gather on elements of `elem_bytes` bytes, as a byte gather (one more contiguous dim)."""
        if elem_bytes == 1:
            return self
        return GatherPlan(self.offset * elem_bytes, self.dims + (elem_bytes,),
                          tuple(s * elem_bytes for s in self.in_strides) + (1,)).simplified()

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Python model of edgeq_gather_s8 on a flat input."""
        flat = np.asarray(x).reshape(-1)
        idx = np.full((), self.offset, dtype=np.int64)
        for d, s in zip(self.dims, self.in_strides):
            idx = idx[..., None] + np.arange(d, dtype=np.int64) * s
        return flat[idx.reshape(-1)]


def _row_major_strides(shape: tuple[int, ...]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else (lo if v < lo else v)


def strided_slice_output_shape_tflm_check(in_shape: tuple[int, ...], begin: list[int], end: list[int],
                                          strides: list[int], begin_mask: int, end_mask: int,
                                          shrink_axis_mask: int) -> tuple[int, ...]:
    """The output shape TFLM's StridedSlicePrepare (CheckOutputSize) requires the model to declare."""
    shape = []
    for axis, axis_size in enumerate(in_shape):
        stride = strides[axis]
        if axis_size == 0:
            start = stop = 0
        else:
            start = begin[axis]
            if begin_mask & (1 << axis):
                start = INT32_MIN if stride > 0 else INT32_MAX
            if start < 0:
                start += axis_size
            start = _clamp(start, 0, axis_size) if stride > 0 else _clamp(start, -1, axis_size - 1)
            stop = end[axis]
            if end_mask & (1 << axis):
                stop = INT32_MAX if stride > 0 else INT32_MIN
            if stop < 0:
                stop += axis_size
            stop = _clamp(stop, 0, axis_size) if stride > 0 else _clamp(stop, -1, axis_size - 1)
        shrink = bool(shrink_axis_mask & (1 << axis))
        if shrink:
            stop = start + 1
        n = math.ceil(float(_f32(stop - start) / _f32(stride)))  # TFLM: std::ceil(int / float)
        if not shrink:
            shape.append(max(n, 0))
    return tuple(shape)


def strided_slice_plan(in_shape: tuple[int, ...], out_shape: tuple[int, ...], begin: list[int],
                       end: list[int], strides: list[int], begin_mask: int, end_mask: int,
                       shrink_axis_mask: int, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                       offset: bool = False) -> GatherPlan:
    """TFLM STRIDED_SLICE (strided_slice_common.cc + reference_ops::StridedSlice, padded to 5-D).

    TFLM builds its parameters with ellipsis_mask = new_axis_mask = 0 and offset = false whatever the model
    says, checks the declared output shape (CheckOutputSize) and rejects inputs of more than 4 dimensions.
    edgeq reproduces that exactly: the masks/offset are ignored the same way, a shape TFLM would reject is an
    error. LiteRT honours ellipsis/new-axis masks and `offset`, and accepts 5-D inputs; for 5-D inputs
    (which TFLM cannot run) edgeq applies the same 5-D loop, which is what LiteRT computes as well.
    """
    del ellipsis_mask, new_axis_mask, offset  # ignored by TFLM (BuildStridedSliceParams)
    dims = len(in_shape)
    if not 1 <= dims <= STRIDED_SLICE_MAX_DIMS:
        raise NonlinearParamError(f"STRIDED_SLICE input rank {dims} is not supported (1..5)")
    if not (len(begin) == len(end) == len(strides) == dims):
        raise NonlinearParamError("STRIDED_SLICE begin/end/strides length differs from the input rank")
    if any(s == 0 for s in strides):
        raise NonlinearParamError("STRIDED_SLICE stride value has to be non-zero")
    expected = strided_slice_output_shape_tflm_check(in_shape, begin, end, strides, begin_mask, end_mask,
                                                     shrink_axis_mask)
    if tuple(expected) != tuple(out_shape):
        raise NonlinearParamError(
            f"STRIDED_SLICE output shape {tuple(out_shape)} differs from the {expected} TFLM computes "
            "(TFLM ignores ellipsis/new-axis masks and `offset`); TFLM would reject this op")
    pad = 5 - dims
    shape5 = [1] * pad + list(in_shape)
    start5 = [0] * pad + list(begin)
    stop5 = [1] * pad + list(end)
    stride5 = [1] * pad + list(strides)
    bmask = (begin_mask << pad) | ((1 << pad) - 1)
    emask = (end_mask << pad) | ((1 << pad) - 1)
    smask = shrink_axis_mask << pad
    elem_strides = _row_major_strides(tuple(shape5))
    base = 0
    counts: list[int] = []
    steps: list[int] = []
    for axis in range(5):
        axis_size, stride = shape5[axis], stride5[axis]
        # StridedSliceStartForAxis
        start = start5[axis]
        if start < 0:
            start += axis_size
        start = _clamp(start, 0, axis_size) if stride > 0 else _clamp(start, -1, axis_size - 1)
        if bmask & (1 << axis):
            start = 0 if stride > 0 else axis_size - 1
        # StridedSliceEndForAxis
        if smask & (1 << axis):
            stop = start if start >= axis_size else start + 1
        else:
            stop = stop5[axis]
            if stop < 0:
                stop += axis_size
            stop = _clamp(stop, 0, axis_size) if stride > 0 else _clamp(stop, -1, axis_size - 1)
            if emask & (1 << axis):
                stop = axis_size if stride > 0 else -1
        count = len(range(start, stop, stride))
        base += start * elem_strides[axis] if count else 0
        counts.append(count)
        steps.append(stride * elem_strides[axis])
    plan = GatherPlan(base, tuple(counts), tuple(steps))
    n_out = math.prod(out_shape) if out_shape else 1
    if plan.num_elements != n_out:
        raise NonlinearParamError(
            f"STRIDED_SLICE selects {plan.num_elements} elements but the output holds {n_out}")
    return plan.simplified()


def transpose_plan(in_shape: tuple[int, ...], out_shape: tuple[int, ...], perm: list[int]) -> GatherPlan:
    """TFLM TRANSPOSE (transpose_common.cc checks + reference_ops::Transpose): out[i] = in[perm(i)].

    TFLM accepts 1..5-D inputs and perm entries in [0, rank) (it does not check they are distinct; a
    repeated entry would read the same input axis twice, which a converter never emits and edgeq rejects).
    LiteRT also accepts 6-D; edgeq's gather handles 6-D the same way.
    """
    dims = len(in_shape)
    if not 1 <= dims <= TRANSPOSE_MAX_DIMS:
        raise NonlinearParamError(f"TRANSPOSE input rank {dims} is not supported (1..6)")
    if sorted(perm) != list(range(dims)):
        raise NonlinearParamError(f"TRANSPOSE perm {list(perm)} is not a permutation of 0..{dims - 1}")
    expected = tuple(in_shape[p] for p in perm)
    if tuple(out_shape) != expected:
        raise NonlinearParamError(f"TRANSPOSE output shape {tuple(out_shape)} should be {expected}")
    in_strides = _row_major_strides(tuple(in_shape))
    return GatherPlan(0, expected, tuple(in_strides[p] for p in perm)).simplified()


# ------------------------------------------------------------------------------------------- emitters
# Registered with the codegen emitter registry (edgeq/codegen/emit.py discovers every ops_*.py module).

_HEADER = "edgeq_nonlinear.h"


def _per_tensor(ctx: EmitContext, t: Tensor) -> tuple[float, int]:
    if t.dtype != "int8":
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) is {t.dtype}, expected int8",
                 hint="convert with full-integer int8 quantization (int8 activations)")
    if t.quant is None or not t.quant.scale:
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) has no quantization parameters")
    if len(t.quant.scale) != 1:
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) is per-channel quantized; activations must be "
                 "per-tensor")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _unary_io(ctx: EmitContext, op: Operator) -> tuple[Tensor, Tensor]:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if tin.num_elements != tout.num_elements:
        ctx.fail(f"input has {tin.num_elements} elements, output {tout.num_elements}")
    return tin, tout


def _params_or_fail(ctx: EmitContext, fn, *args):
    try:
        return fn(*args)
    except NonlinearParamError as e:
        ctx.fail(e.message, hint="TFLite Micro would reject this op too; check the model's quantization")
        raise  # unreachable: ctx.fail raises


def _emit_lut(ctx: EmitContext, op: Operator, tin: Tensor, tout: Tensor, lut: tuple[int, ...]) -> None:
    table = ctx.const_array(f"{op.opcode.lower()}_lut", "int8_t", lut)
    ctx.include(_HEADER)
    ctx.call(f"edgeq_lut_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tin.num_elements}, {table})")


@register("LOGISTIC")
def emit_logistic(ctx: EmitContext, op: Operator) -> None:
    """TFLM int8 LOGISTIC as a 256-entry table (see logistic_lut); output zero point must be -128."""
    tin, tout = _unary_io(ctx, op)
    s, z = _per_tensor(ctx, tin)
    _, out_zp = _per_tensor(ctx, tout)
    if out_zp != -128:
        ctx.fail(f"LOGISTIC int8 output zero point is {out_zp}; TFLM requires -128 (scale 1/256)")
    _emit_lut(ctx, op, tin, tout, _params_or_fail(ctx, logistic_lut, s, z))


@register("TANH")
def emit_tanh(ctx: EmitContext, op: Operator) -> None:
    """TFLM int8 TANH as a 256-entry table (see tanh_lut); TFLM writes Q0.7 (scale 1/128, zero point 0)."""
    tin, tout = _unary_io(ctx, op)
    s, z = _per_tensor(ctx, tin)
    _per_tensor(ctx, tout)
    _emit_lut(ctx, op, tin, tout, _params_or_fail(ctx, tanh_lut, s, z))


def _register_lut_op(opcode: str, lut_of) -> None:
    """int8 ops whose TFLM kernel is a function of the input byte alone, given the input and output quantization:
    one 256-entry table (lut_of(in_scale, in_zp, out_scale, out_zp)) and edgeq_lut_s8."""

    @register(opcode)
    def emit(ctx: EmitContext, op: Operator) -> None:
        tin, tout = _unary_io(ctx, op)
        s, z = _per_tensor(ctx, tin)
        so, zo = _per_tensor(ctx, tout)
        _emit_lut(ctx, op, tin, tout, _params_or_fail(ctx, lut_of, s, z, so, zo))


_register_lut_op("HARD_SWISH", hard_swish_lut)  # TFLM's integer hard_swish
_register_lut_op("RSQRT", rsqrt_lut)  # Keras LayerNormalization's 1/sqrt(var + eps)
_register_lut_op("ABS", abs_lut)


@register_int16("RSQRT")
def emit_rsqrt16(ctx: EmitContext, op: Operator) -> None:
    """TFLM RSQRT 16x8 (zero points 0): computed per element in C (edgeq_rsqrt_s16), 65536 inputs being too many for
    a table; the output multiplier as rsqrt_lut's."""
    tin, tout = _unary_io(ctx, op)
    for t in (tin, tout):
        if t.dtype != "int16" or t.quant is None or len(t.quant.scale) != 1 or int(t.quant.zero_point[0]) != 0:
            ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}): RSQRT 16x8 takes per-tensor int16 with zero "
                     "point 0 (TFLM requires it)")
    mult, shift = _params_or_fail(ctx, quantize_multiplier, 1.0 / float(
        np.sqrt(_f32(tin.quant.scale[0])) * _f32(tout.quant.scale[0])))
    if not -11 <= shift <= 31:
        ctx.fail(f"RSQRT output multiplier shift {shift} is outside what the 16x8 kernel handles")
    ctx.include(_HEADER)
    ctx.call(f"edgeq_rsqrt_s16({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tin.num_elements}, {mult}, "
             f"{shift})")


@register("LEAKY_RELU")
def emit_leaky_relu(ctx: EmitContext, op: Operator) -> None:
    """TFLM int8 LEAKY_RELU as a 256-entry table (see leaky_relu_lut)."""
    tin, tout = _unary_io(ctx, op)
    s, z = _per_tensor(ctx, tin)
    so, zo = _per_tensor(ctx, tout)
    alpha = float(op.options.get("alpha", 0.0))
    _emit_lut(ctx, op, tin, tout, _params_or_fail(ctx, leaky_relu_lut, alpha, s, z, so, zo))


@register("SOFTMAX")
def emit_softmax(ctx: EmitContext, op: Operator) -> None:
    """TFLM int8 SOFTMAX over the last axis (see softmax_exp_table): a 1 KiB Q0.31 exp table + C reduction."""
    tin, tout = _unary_io(ctx, op)
    if tin.shape != tout.shape or not tin.shape:
        ctx.fail(f"SOFTMAX input shape {tin.shape} and output shape {tout.shape} must be equal, rank >= 1")
    s, _ = _per_tensor(ctx, tin)
    so, zo = _per_tensor(ctx, tout)
    _params_or_fail(ctx, softmax_check_output, so, zo)
    params = _params_or_fail(ctx, softmax_exp_table, float(op.options.get("beta", 1.0)), s)
    depth = tin.shape[-1]
    rows = tin.num_elements // max(depth, 1)
    table = ctx.const_array("softmax_exp", "int32_t", params.exp_table)
    ctx.include(_HEADER)
    ctx.call(f"edgeq_softmax_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {rows}, {depth}, {table})")


def _const_ints(ctx: EmitContext, i: int, what: str) -> list[int]:
    t = ctx.tensor(i)
    if not t.is_constant or t.dtype not in ("int32", "int64"):
        ctx.fail(f"{what} tensor #{i} must be a constant int32 tensor",
                 hint="TFLM supports only constant begin/end/strides/perm tensors")
    return [int(v) for v in t.array().reshape(-1)]


def _emit_gather(ctx: EmitContext, op: Operator, plan: GatherPlan, tin: Tensor, tout: Tensor) -> None:
    if tin.dtype != tout.dtype:
        ctx.fail(f"input is {tin.dtype}, output {tout.dtype}; {op.opcode} does not convert types")
    elem_bytes = tin.bits // 8
    if tin.bits % 8 or elem_bytes < 1:
        ctx.fail(f"{op.opcode} on {tin.dtype} tensors is not supported")
    if plan.num_elements == 0:
        ctx.call(f"/* {op.opcode}: empty output, nothing to copy */")
        return
    plan = plan.in_bytes(elem_bytes)  # any element type moves as bytes
    if len(plan.dims) > GATHER_MAX_DIMS:
        ctx.fail(f"{op.opcode} needs {len(plan.dims)} loops after merging; at most {GATHER_MAX_DIMS}")
    dims = ctx.const_array(f"{op.opcode.lower()}_dims", "int32_t", plan.dims)
    strides = ctx.const_array(f"{op.opcode.lower()}_strides", "int32_t", plan.in_strides)
    src, dst = ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])
    if elem_bytes > 1:
        src, dst = f"(const int8_t *){src}", f"(int8_t *){dst}"
    if plan.offset:
        src = f"({src} + {plan.offset})"
    ctx.include(_HEADER)
    ctx.call(f"edgeq_gather_s8({src}, {dst}, {len(plan.dims)}, {dims}, {strides})")


@register("STRIDED_SLICE")
def emit_strided_slice(ctx: EmitContext, op: Operator) -> None:
    """STRIDED_SLICE with constant begin/end/strides (see strided_slice_plan), any element type.

    Inputs of rank 5 are generated although TFLM rejects them (it stops at 4-D); the result follows the 5-D
    loop that TFLM's kernel and LiteRT share. The output must not alias the input (the planner never aliases
    this op)."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    begin = _const_ints(ctx, op.inputs[1], "begin")
    end = _const_ints(ctx, op.inputs[2], "end")
    strides = _const_ints(ctx, op.inputs[3], "strides")
    o = op.options
    plan = _params_or_fail(ctx, strided_slice_plan, tin.shape, tout.shape, begin, end, strides,
                           int(o.get("begin_mask", 0)), int(o.get("end_mask", 0)),
                           int(o.get("shrink_axis_mask", 0)), int(o.get("ellipsis_mask", 0)),
                           int(o.get("new_axis_mask", 0)), bool(o.get("offset", False)))
    if len(tin.shape) > TFLM_STRIDED_SLICE_MAX_DIMS:
        ctx.call(f"/* {len(tin.shape)}-D STRIDED_SLICE: TFLM rejects it (max 4-D); LiteRT semantics */")
    _emit_gather(ctx, op, plan, tin, tout)


@register("TRANSPOSE")
def emit_transpose(ctx: EmitContext, op: Operator) -> None:
    """TRANSPOSE with a constant perm (see transpose_plan), any element type, up to 6-D (TFLM: 5-D)."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    perm = _const_ints(ctx, op.inputs[1], "perm")
    plan = _params_or_fail(ctx, transpose_plan, tin.shape, tout.shape, perm)
    if len(tin.shape) > TFLM_TRANSPOSE_MAX_DIMS:
        ctx.call(f"/* {len(tin.shape)}-D TRANSPOSE: TFLM rejects it (max 5-D); LiteRT semantics */")
    _emit_gather(ctx, op, plan, tin, tout)
