"""Code generation for int16x8 models: int16 activations, int8 weights, int64 bias (pipeline: codegen, emitters).

Registered with `register_int16`, so these emitters run only for ops whose activations are int16; the int8
emitters stay untouched. Runtime side: `edgeq/runtime/{include,src}/edgeq_int16.{h,c}`; the byte-moving kernels
of edgeq_extra.c (SPLIT, SPLIT_V, UNPACK, PACK, RESIZE_NEAREST_NEIGHBOR) serve int16 as they are (TFLM has no
int16 GATHER).

Ops today: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, ADD/SUB/MUL/SQUARED_DIFFERENCE, pools,
MEAN, PAD, CONCATENATION, RELU/RELU6, LOGISTIC, TANH, SOFTMAX, QUANTIZE (float/int8/int16 -> int16, int16 -> int8),
DEQUANTIZE, RESHAPE/SQUEEZE/EXPAND_DIMS and the data-movement ops. TFLM has no int16 HARD_SWISH (its kernel takes
float32 and int8 only), so neither has the generated C. Numerics follow TFLite Micro's 16x8 reference kernels: 64-bit
accumulation, the 64-bit MultiplyByQuantizedMultiplier (edgeq_mbqm64) for FULLY_CONNECTED, the 32-bit one for
requantization, symmetric int16 activations.
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.codegen import ops_core, ops_extra
from edgeq.codegen.emit import EmitContext, c_float, register_int16, round_half_away
from edgeq.codegen.ops_core import _same_pad
from edgeq.graph import Operator, Tensor

_HEADER = "edgeq_int16.h"
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
_RANGES = {"int8": (-128, 127), "int16": (INT16_MIN, INT16_MAX)}


def _q(ctx: EmitContext, t: Tensor) -> tuple[float, int]:
    return ops_extra._q(ctx, t)


def _need(ctx: EmitContext, t: Tensor, *dtypes: str) -> None:
    if t.dtype not in dtypes:
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) is {t.dtype}, expected {' or '.join(dtypes)}",
                 hint="int16x8 models: int16 activations, int8 weights, int64 bias (`edgeq convert --mode int16x8`)")


def _io16(ctx: EmitContext, op: Operator) -> tuple[Tensor, Tensor]:
    """The op's first input and its output, both required int16."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need(ctx, tin, "int16")
    _need(ctx, tout, "int16")
    return tin, tout


def act_range16(ctx: EmitContext, activation: str, scale: float, zp: int) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for int16 outputs (bounds quantized in float32)."""
    s = np.float32(scale)

    def quantize(f: float) -> int:
        return zp + round_half_away(float(np.float32(f) / s))

    lo, hi = INT16_MIN, INT16_MAX
    if activation == "NONE":
        return lo, hi
    if activation == "RELU":
        return max(lo, quantize(0.0)), hi
    if activation == "RELU6":
        return max(lo, quantize(0.0)), min(hi, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    ctx.fail(f"fused activation {activation} is not supported")
    raise AssertionError  # unreachable


def _weighted_io16(ctx: EmitContext, op: Operator, data: int, weights: int, rank: int) -> None:
    """int16 activations in and out (zero point 0, as TFLM requires), constant int8 weights of the given rank."""
    tin, tw, tout = ctx.tensor(op.inputs[data]), ctx.tensor(op.inputs[weights]), ctx.tensor(op.outputs[0])
    _need(ctx, tin, "int16")
    _need(ctx, tout, "int16")
    _need(ctx, tw, "int8")
    if not tw.is_constant or len(tw.shape) != rank:
        ctx.fail(f"weights must be a constant {rank}-D int8 tensor")
    if _q(ctx, tin)[1] != 0 or _q(ctx, tout)[1] != 0:
        ctx.fail("int16 activations must be symmetric (zero point 0), as TFLM requires")


# ------------------------------------------------------------------------------------- fully connected


@register_int16("FULLY_CONNECTED")
def emit_fully_connected16(ctx: EmitContext, op: Operator) -> None:
    _weighted_io16(ctx, op, data=0, weights=1, rank=2)
    g = ops_core.fc_geometry(ctx, op, act_dtype="int16")
    so, zo = _q(ctx, g.tout)
    per_channel, mult, shift = ops_extra._requant(ctx, g.tin, g.tw, g.tout, g.out_depth)
    lo, hi = act_range16(ctx, str(op.options.get("fused_activation_function", "NONE")), so, zo)
    bias = ops_extra.optional_bias(ctx, op, 2, "int64_t", "int64", "int32")
    fields = {"batches": g.batches, "in_depth": g.in_depth, "out_depth": g.out_depth,
              "out_offset": zo, "act_min": lo, "act_max": hi, "per_channel": per_channel,
              "filter": ctx.ptr(op.inputs[1]), "bias": bias, "mult": mult, "shift": shift}
    params = ctx.const_struct("params", "edgeq_fc16_params", ops_extra._fields(**fields))
    ctx.include(_HEADER)
    ctx.call(f"edgeq_fully_connected_s16({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# ------------------------------------------------------------------------------ quantize / dequantize


@register_int16("QUANTIZE")
def emit_quantize16(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need(ctx, tout, "int8", "int16")
    so, zo = _q(ctx, tout)
    n = tout.num_elements
    ctx.include(_HEADER)
    if tin.dtype == "float32":
        _need(ctx, tout, "int16")
        ctx.call(f"edgeq_quantize_f32_s16({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {n}, {c_float(so)}, "
                 f"{zo})")
        return
    _need(ctx, tin, "int8", "int16")
    si, zi = _q(ctx, tin)
    m, sh = ctx.quant_multiplier(si / so)  # TFLM Requantize: double(in_scale) / double(out_scale)
    lo, hi = _RANGES[tout.dtype]
    ctx.call(f"edgeq_requantize_any({ctx.ptr(op.inputs[0])}, {tin.bits}, {ctx.ptr(op.outputs[0])}, {tout.bits}, "
             f"{n}, {zi}, {m}, {sh}, {zo}, {lo}, {hi})")


@register_int16("DEQUANTIZE")
def emit_dequantize16(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need(ctx, tin, "int16")
    _need(ctx, tout, "float32")
    si, zi = _q(ctx, tin)
    ctx.include(_HEADER)
    ctx.call(f"edgeq_dequantize_s16_f32({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tout.num_elements}, "
             f"{c_float(si)}, {zi})")


# ----------------------------------------------------------------------------------- data movement


@register_int16("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def emit_reshape16(ctx: EmitContext, op: Operator) -> None:
    tout = ctx.tensor(op.outputs[0])
    if ops_core.reshape_view(ctx, op):
        return
    ctx.include("edgeq_extra.h")
    size = ctx.const_array("bytes", "int32_t", [tout.size_bytes])
    ctx.call(f"{{ void *const outs[1] = {{(void *){ctx.ptr(op.outputs[0])}}}; "
             f"edgeq_split({ctx.ptr(op.inputs[0])}, 1, 1, outs, {size}); }}")


for _name, _fn in (("SPLIT", ops_extra.emit_split), ("SPLIT_V", ops_extra.emit_split_v),
                   ("UNPACK", ops_extra.emit_unpack), ("PACK", ops_extra.emit_pack),
                   ("RESIZE_NEAREST_NEIGHBOR", ops_extra.emit_resize_nearest), ("SLICE", ops_extra.emit_slice),
                   ("MAXIMUM", ops_extra.emit_max_min), ("MINIMUM", ops_extra.emit_max_min)):
    register_int16(_name)(_fn)


# ------------------------------------------------------------------------------ add / sub / mul / sqdiff

_ARITH_KIND = {"ADD": 0, "SUB": 1, "SQUARED_DIFFERENCE": 2, "MUL": 3}


@register_int16("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE")
def emit_arith16(ctx: EmitContext, op: Operator) -> None:
    """TFLM's 16x8 elementwise arithmetic: ADD/SUB rescale both inputs to twice the larger scale with 15 bits of
    headroom (20 for int8), SQUARED_DIFFERENCE with none, MUL multiplies the raw values; all with the 32-bit
    MultiplyByQuantizedMultiplier."""
    t1, t2, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    for t in (t1, t2, tout):
        _need(ctx, t, "int16")
    s1, z1 = _q(ctx, t1)
    s2, z2 = _q(ctx, t2)
    so, zo = _q(ctx, tout)
    kind = _ARITH_KIND[op.opcode]
    act = str(op.options.get("fused_activation_function", "NONE"))
    lo, hi = act_range16(ctx, act, so, zo)
    left_shift, m1, sh1, m2, sh2 = 0, 0, 0, 0, 0
    if op.opcode == "MUL":
        mo, sho = ctx.quant_multiplier(s1 * s2 / so)
    else:
        twice_max = 2.0 * max(s1, s2)
        m1, sh1 = ctx.quant_multiplier(s1 / twice_max)
        m2, sh2 = ctx.quant_multiplier(s2 / twice_max)
        if op.opcode == "SQUARED_DIFFERENCE":
            mo, sho = ctx.quant_multiplier((twice_max * twice_max) / so)
        else:
            left_shift = 15
            mo, sho = ctx.quant_multiplier(twice_max / ((1 << left_shift) * so))
    out_shape = tuple(int(d) for d in tout.shape)
    dims = [1] * (ops_extra.MAX_DIMS - len(out_shape)) + list(out_shape)
    params = ctx.const_struct("params", "edgeq_sub_params", ops_extra._fields(
        dims=ops_extra._c_list(dims),
        in1_strides=ops_extra._c_list(ops_extra._broadcast_strides(ctx, t1.shape, out_shape)),
        in2_strides=ops_extra._c_list(ops_extra._broadcast_strides(ctx, t2.shape, out_shape)),
        in1_offset=-z1, in2_offset=-z2, left_shift=left_shift, in1_mult=m1, in1_shift=sh1, in2_mult=m2,
        in2_shift=sh2, out_mult=mo, out_shift=sho, out_offset=zo, act_min=lo, act_max=hi, square=0))
    ctx.include("edgeq_extra.h")
    ctx.include(_HEADER)
    ctx.call(f"edgeq_arith_s16({params}, {kind}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
             f"{ctx.ptr(op.outputs[0])})")


# -------------------------------------------------------------------------------- conv / depthwise


@register_int16("CONV_2D", "DEPTHWISE_CONV_2D")
def emit_conv16(ctx: EmitContext, op: Operator) -> None:
    _weighted_io16(ctx, op, data=0, weights=1, rank=4)
    g = ops_core.conv_geometry(ctx, op, op.opcode == "DEPTHWISE_CONV_2D", act_dtype="int16")
    so, zo = _q(ctx, g.tout)
    per_channel, mult, shift = ops_extra._requant(ctx, g.tin, g.tw, g.tout, g.oc)
    lo, hi = act_range16(ctx, str(op.options.get("fused_activation_function", "NONE")), so, zo)
    bias = ops_extra.optional_bias(ctx, op, 2, "int64_t", "int64", "int32")
    params = ctx.const_struct("params", "edgeq_conv16_params", ops_extra._fields(
        **g.shape, depth_mult=g.depth_mult, act_min=lo, act_max=hi, per_channel=per_channel,
        filter=ctx.ptr(op.inputs[1]), bias=bias, mult=mult, shift=shift))
    ctx.include(_HEADER)
    fn = "edgeq_depthwise_conv2d_s16" if op.opcode == "DEPTHWISE_CONV_2D" else "edgeq_conv2d_s16"
    ctx.call(f"{fn}({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# ------------------------------------------------------------------------------------------ pooling


@register_int16("AVERAGE_POOL_2D", "MAX_POOL_2D")
def emit_pool16(ctx: EmitContext, op: Operator) -> None:
    tin, tout = _io16(ctx, op)
    if _q(ctx, tin) != _q(ctx, tout):
        ctx.fail("input and output quantization differ; TFLM pools require them equal")
    n, h, w, c = ops_extra._nhwc(ctx, tin)
    _, oh, ow, _ = ops_extra._nhwc(ctx, tout)
    o = op.options
    kh, kw, sh, sw = (int(o[k]) for k in ("filter_height", "filter_width", "stride_h", "stride_w"))
    so, zo = _q(ctx, tout)
    lo, hi = act_range16(ctx, str(o.get("fused_activation_function", "NONE")), so, zo)
    params = ctx.const_struct("params", "edgeq_pool16_params", ops_extra._fields(
        batches=n, in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow, k_h=kh, k_w=kw, stride_h=sh, stride_w=sw,
        pad_h=_same_pad(h, kh, sh, 1, oh), pad_w=_same_pad(w, kw, sw, 1, ow), act_min=lo, act_max=hi,
        is_max=int(op.opcode == "MAX_POOL_2D")))
    ctx.include(_HEADER)
    ctx.call(f"edgeq_pool_s16({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# ---------------------------------------------------------------------------------- concat / pad


@register_int16("CONCATENATION")
def emit_concat16(ctx: EmitContext, op: Operator) -> None:
    """TFLM concatenates int16 values as they are (the converter equalizes the inputs' quantization first)."""
    if str(op.options.get("fused_activation_function", "NONE")) != "NONE":
        ctx.fail("fused activation on CONCATENATION is not supported (TFLM rejects it too)")
    for i in (*op.inputs, *op.outputs):
        _need(ctx, ctx.tensor(i), "int16")
    ops_extra.emit_byte_concat(ctx, op, int(op.options["axis"]))


@register_int16("PAD", "PADV2")
def emit_pad16(ctx: EmitContext, op: Operator) -> None:
    tin, tout = _io16(ctx, op)
    rank = len(tin.shape)
    if rank > 4:
        ctx.fail(f"PAD of rank {rank} > 4 is not supported")
    pads = np.asarray(ops_extra._ints(ctx, op.inputs[1], "paddings")).reshape(-1, 2)
    if pads.shape[0] != rank or (pads < 0).any():
        ctx.fail("paddings must be non-negative, one (before, after) pair per dimension")
    in_dims = [1] * (4 - rank) + [int(d) for d in tin.shape]
    out_dims = [1] * (4 - rank) + [int(d) for d in tout.shape]
    before = [0] * (4 - rank) + [int(p) for p in pads[:, 0]]
    value = _q(ctx, tout)[1]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = ops_extra._ints(ctx, op.inputs[2], "constant_values")[0]
    arr = ctx.const_array
    ctx.include(_HEADER)
    ctx.call(f"edgeq_pad_s16({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {arr('in_dims', 'int32_t', in_dims)}, "
             f"{arr('out_dims', 'int32_t', out_dims)}, {arr('before', 'int32_t', before)}, {value})")


def _register_shared() -> None:
    """STRIDED_SLICE and TRANSPOSE (ops_nonlinear) gather elements of any size: the same emitters serve int16."""
    from edgeq.codegen import ops_nonlinear

    register_int16("STRIDED_SLICE")(ops_nonlinear.emit_strided_slice)
    register_int16("TRANSPOSE")(ops_nonlinear.emit_transpose)


_register_shared()


# --------------------------------------------------------------------------------------------- relu


@register_int16("RELU", "RELU6")
def emit_relu16(ctx: EmitContext, op: Operator) -> None:
    """RELU requantizes to the output (TFLM ReluQuantized: output zero point + mbqm(x - input zero point));
    RELU6 clamps in the input's quantization to [zero, six] without requantizing, like the int8 kernel."""
    tin, tout = _io16(ctx, op)
    _, zi = _q(ctx, tin)
    m, sh, zo, lo, hi = ops_core.relu_params(ctx, op, INT16_MIN, INT16_MAX)
    ctx.include(_HEADER)
    ctx.call(f"edgeq_requantize_any({ctx.ptr(op.inputs[0])}, 16, {ctx.ptr(op.outputs[0])}, 16, "
             f"{tout.num_elements}, {zi}, {m}, {sh}, {zo}, {lo}, {hi})")


# ------------------------------------------------------------------------------ transpose conv / mean


@register_int16("TRANSPOSE_CONV")
def emit_transpose_conv16(ctx: EmitContext, op: Operator) -> None:
    _weighted_io16(ctx, op, data=2, weights=1, rank=4)
    fields = ops_extra.tconv_fields(ctx, op, lambda act, s, z: act_range16(ctx, act, s, z))
    bias = ops_extra.optional_bias(ctx, op, 3, "int64_t", "int64", "int32")
    params = ctx.const_struct("params", "edgeq_tconv_params", ops_extra._fields(**fields))
    ctx.include("edgeq_extra.h")
    ctx.include(_HEADER)
    ctx.call(f"edgeq_transpose_conv_s16({params}, {bias}, {ctx.ptr(op.inputs[2])}, {ctx.ptr(op.outputs[0])})")


@register_int16("MEAN")
def emit_mean16(ctx: EmitContext, op: Operator) -> None:
    """MEAN with TFLM's QuantizedMeanOrSum parameters: 1/count folded into the multiplier with a bounded pre-shift
    (the set-up TFLM shares between int8 and int16)."""
    tin, tout = _io16(ctx, op)
    rank = len(tin.shape)
    if rank > 6:
        ctx.fail(f"rank {rank} > 6")
    axes: list[int] = []
    for a in ops_extra._ints(ctx, op.inputs[1], "axis"):
        a = ops_extra._axis(ctx, a, rank)
        if a not in axes:
            axes.append(a)
    shape = [int(d) for d in tin.shape]
    strides = [int(np.prod(shape[d + 1:])) for d in range(rank)]
    kept = [d for d in range(rank) if d not in axes]
    red = sorted(axes)
    count = int(np.prod([shape[d] for d in red])) if red else 1
    if count == 0:
        ctx.fail("MEAN over an empty axis")

    def pad6(vals: list[int], fill: int) -> str:
        return ops_extra._c_list([fill] * (6 - len(vals)) + vals)

    s_in, z_in = _q(ctx, tin)
    s_out, z_out = _q(ctx, tout)
    mult, shift = ctx.quant_multiplier(s_in / s_out)
    pre = min(count.bit_length() - 1, 32, 31 + shift)
    mult = int((mult << pre) // count)
    shift -= pre
    params = ctx.const_struct("params", "edgeq_mean16_params", ops_extra._fields(
        out_dims=pad6([shape[d] for d in kept], 1), out_strides=pad6([strides[d] for d in kept], 0),
        red_dims=pad6([shape[d] for d in red], 1), red_strides=pad6([strides[d] for d in red], 0),
        count=count, in_zp=z_in, out_zp=z_out, mult=mult, shift=shift))
    ctx.include(_HEADER)
    ctx.call(f"edgeq_mean_s16({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# ------------------------------------------------------------------------------ logistic / tanh / softmax
# TFLM's int16 LOGISTIC and TANH (reference_integer_ops::Logistic / Tanh for int16) rescale the input to
# 1/(3 * 4096) units (x * multiplier + round) >> shift, then interpolate linearly in a 256-entry table of
# sigmoid(i / 24) in Q0.16; tanh uses tanh(x) = 2 sigmoid(2x) - 1 on the same table. int16 SOFTMAX
# (reference_ops::SoftmaxInt16) looks up exp() and 1 / (1 + x) in two 513-entry tables that TFLM fills at Prepare
# with float arithmetic (LUTPopulate<int16_t>); the generator reproduces that float32 arithmetic here. All three
# tables are constants emitted once per model (const_array deduplicates them).


def sigmoid_table_q16() -> tuple[int, ...]:
    """TFLite's sigmoid_table_uint16: sigmoid(i / 24) * 2^16 minus half the error of linear interpolation at
    the interval's midpoint (the table minimises the interpolated error), rounded; the last entry saturates to
    65535. Equal to the table in tensorflow/lite/kernels/internal/common.h (checked entry by entry in the tests
    through the exhaustive comparison with tflite-micro)."""
    def s(x: float) -> float:
        return 65536.0 / (1.0 + math.exp(-x))

    out = []
    for i in range(256):
        v, v_next, v_mid = s(i / 24), s((i + 1) / 24), s((i + 0.5) / 24)
        err = (v + v_next) / 2 - v_mid
        out.append(min(65535, math.floor(v - err / 2 + 0.5)))
    out[255] = 65535
    return tuple(out)


def _checked_log2(x: float) -> tuple[bool, int]:
    """TFLite CheckedLog2(float): float32 log(x) / log(2), rounded half away; POT when |fraction| < 1e-3."""
    with np.errstate(all="ignore"):
        f = np.float32
        x_log2 = f(np.log(f(x))) * (f(1.0) / f(np.log(f(2.0))))
        rounded = f(round_half_away(float(x_log2)))
        frac = f(x_log2 - rounded)
    return bool(abs(frac) < f(1e-3)), int(rounded)


def logistic_tanh16_params(scale: float, tanh: bool) -> tuple[int, int]:
    """(multiplier, shift) with input_data = (x * multiplier + round) >> shift, as TFLM's Prepare and Eval set
    them up (the power-of-two case folded in: multiplier 3 << shift, shift 0)."""
    pot, log2 = _checked_log2(scale)
    shift = 12 + log2  # (15 - kInputIntegerBits) + log2(scale)
    pot = pot and (shift == 0 or (tanh and shift == 1))
    if pot:
        return 3 << shift, 0
    m = float(np.float32(scale)) * 4096.0 * 3.0
    shift = 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    return int(m), shift


def logistic16(x: int, mult: int, shift: int, table: tuple[int, ...]) -> int:
    """Python model of TFLM's int16 Logistic for one value (the C kernel's specification)."""
    v = (x * mult + ((1 << (shift - 1)) if shift > 0 else 0)) >> shift
    a = abs(v)
    uh = a >> 9
    r = 0x7FFF << 10 if uh >= 255 else (table[uh] << 9) + (a & 0x1FF) * (table[uh + 1] - table[uh])
    r = r + (1 << 9) if v >= 0 else (1 << 25) - r + (1 << 9) - 1
    return ((r >> 10) + (1 << 15)) % (1 << 16) - (1 << 15)


def tanh16(x: int, mult: int, shift: int, table: tuple[int, ...]) -> int:
    """Python model of TFLM's int16 Tanh for one value."""
    v = (x * mult + ((1 << (shift - 1)) if shift > 0 else 0)) >> shift
    a = abs(v)
    uh = a >> 8
    r = 0xFFFF << 8 if uh >= 255 else (table[uh] << 8) + (a & 0xFF) * (table[uh + 1] - table[uh])
    r = r - (1 << 23) + (1 << 7) if v >= 0 else -r + (1 << 23) + (1 << 7) - 1
    return ((r >> 8) + (1 << 15)) % (1 << 16) - (1 << 15)


def _lut_populate_int16(fn, input_scale, input_zp: int, output_scale, output_zp: int) -> tuple[int, ...]:
    """TFLite detail::LUTPopulateInt16<float>: 512 samples with the midpoint-error bias, plus the end point;
    every operation in float32 as the C++ does (no FMA contraction on the oracle's x86-64 build)."""
    f = np.float32

    def rnd(v):  # TfLiteRound(float): half away from zero
        return f(round_half_away(float(v)))

    with np.errstate(all="ignore"):
        input_min = f(input_scale) * f(INT16_MIN - input_zp)
        input_max = f(input_scale) * f(INT16_MAX - input_zp)
        output_min = f(output_scale) * f(INT16_MIN - output_zp)
        output_max = f(output_scale) * f(INT16_MAX - output_zp)
        step = (input_max - input_min) / f(512)
        half_step = step / f(2)
        inv = f(65536) / (output_max - output_min)
        lo, hi = f(INT16_MIN), f(INT16_MAX)
        out = []
        for i in range(512):
            val = fn(input_min + f(i) * step)
            val_mid = fn(input_min + f(i) * step + half_step)
            val_next = fn(input_min + f(i + 1) * step)
            sample = rnd(val * inv)
            interp = rnd((val_next * inv + rnd(val * inv)) / f(2))
            bias = rnd((interp - rnd(val_mid * inv)) / f(2))
            out.append(int(min(max(sample - bias, lo), hi)))
        out.append(int(min(max(rnd(fn(input_max) * inv), lo), hi)))
    return tuple(out)


def _expf(v: np.float32) -> np.float32:
    return np.float32(math.exp(float(v)))  # correctly rounded float exp (the oracle's libm expf agrees)


def softmax16_luts() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """TFLM's int16 SOFTMAX tables (softmax_common.cc InitializeLutForInt16): exp(x) on [-10, 0] and
    1 / (1 + x) on [0, 1], both output scale 2 / 65535."""
    f = np.float32
    rng = 65535
    exp_lut = _lut_populate_int16(_expf, f(10.0) / f(rng), INT16_MAX, f(2.0) / f(rng), 0)
    recip = _lut_populate_int16(lambda v: f(1.0) / (f(1.0) + v), f(1.0) / f(rng), INT16_MIN, f(2.0) / f(rng), 0)
    return exp_lut, recip


def _lut16(v: int, lut: tuple[int, ...]) -> int:
    """TFLite LUTLookup(int16_t, const int16_t*)."""
    idx = 256 + (v >> 7)
    slope = ((lut[idx + 1] - lut[idx]) + (1 << 15)) % (1 << 16) - (1 << 15)
    r = lut[idx] + ((slope * (v & 0x7F) + 64) >> 7)
    return (r + (1 << 15)) % (1 << 16) - (1 << 15)


def _unit_output(ctx: EmitContext, t: Tensor, what: str) -> None:
    scale, zp = _q(ctx, t)
    pot, log2 = _checked_log2(scale)
    if zp != 0 or not pot or log2 != -15:
        ctx.fail(f"{what} tensor #{t.index} ({ctx.comment(t.name)}) has scale {scale:g} / zero point {zp}; TFLM's "
                 "int16 kernel requires scale 2^-15 and zero point 0 (TFLM Prepare fails otherwise)",
                 hint="convert with `edgeq convert --mode int16x8` (the converter sets these parameters)")


@register_int16("LOGISTIC", "TANH")
def emit_logistic_tanh16(ctx: EmitContext, op: Operator) -> None:
    tin, tout = _io16(ctx, op)
    si, zi = _q(ctx, tin)
    if zi != 0:
        ctx.fail(f"input zero point {zi}: TFLM's int16 {op.opcode} requires 0")
    _unit_output(ctx, tout, "output")
    mult, shift = logistic_tanh16_params(si, op.opcode == "TANH")
    if mult > 32767:
        ctx.fail(f"input scale {si:g} is too large for TFLM's int16 {op.opcode} (multiplier {mult} > 32767)",
                 hint="TFLM's table covers |x| <= 10.7; an int16 input scale above ~2.7 is outside its design")
    table = ctx.const_array("sigmoid_q16", "uint16_t", sigmoid_table_q16())
    fn = "edgeq_tanh_s16" if op.opcode == "TANH" else "edgeq_logistic_s16"
    ctx.include(_HEADER)
    ctx.call(f"{fn}({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tout.num_elements}, {mult}, {shift}, "
             f"{table})")


@register_int16("SOFTMAX")
def emit_softmax16(ctx: EmitContext, op: Operator) -> None:
    tin, tout = _io16(ctx, op)
    si, zi = _q(ctx, tin)
    so, zo = _q(ctx, tout)
    if zi != 0 or zo != 0:
        ctx.fail("int16 SOFTMAX needs zero points 0 (TFLM Prepare fails otherwise)")
    if abs(np.float32(so) - np.float32(1.0 / 32768)) > np.float32(0.001 / 32768):
        ctx.fail(f"output scale {so:g}: TFLM's int16 SOFTMAX requires 1/32768",
                 hint="convert with `edgeq convert --mode int16x8` (the converter sets it)")
    if not tin.shape:
        ctx.fail("SOFTMAX of a scalar")
    beta = float(np.float32(op.options.get("beta", 1.0)))
    mult, shift = ctx.quant_multiplier(float(np.float32(si)) * beta / (10.0 / 65535.0))
    depth = int(tin.shape[-1])
    if depth * INT16_MAX > (1 << 31) - 1:
        ctx.fail(f"SOFTMAX over {depth} elements: TFLM's int32 sum of int16 exponentials can overflow beyond "
                 f"{((1 << 31) - 1) // INT16_MAX} elements (undefined there)", hint="split the axis or use int8")
    exp_lut, recip_lut = softmax16_luts()
    e = ctx.const_array("exp_lut16", "int16_t", exp_lut)
    r = ctx.const_array("recip_lut16", "int16_t", recip_lut)
    ctx.include(_HEADER)
    ctx.call(f"edgeq_softmax_s16({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, "
             f"{tin.num_elements // max(depth, 1)}, {depth}, {mult}, {shift}, {e}, {r})")
