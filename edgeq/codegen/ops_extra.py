"""Code generation for the ops unrolled LSTM/GRU, U-Nets and upsampling models add (pipeline: codegen, emitters).

Ops: SPLIT, SPLIT_V, UNPACK, PACK, GATHER, SLICE, SUB, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM,
RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, TRANSPOSE_CONV, BATCH_MATMUL, REDUCE_MAX (GlobalMaxPooling), NEG (the
float NEG Keras 3's LayerNormalization leaves between a DEQUANTIZE and a QUANTIZE).
Runtime side: `edgeq/runtime/{include,src}/edgeq_extra.{h,c}`.

Everything TFLite Micro derives from shapes and quantization in Prepare (multipliers, index maps, the
interpolation weights, the transposed convolution's padding) is computed here on the host, with TFLM's precision
(float32 where TFLM computes in float, its integer formulas elsewhere), so the C kernels are integer-only and
bit-exact with the tflite-micro interpreter (tests/test_codegen_extra.py). The data-movement ops (SPLIT, SPLIT_V,
UNPACK, PACK, GATHER, RESIZE_NEAREST_NEIGHBOR) copy bytes and so run on any element type, which covers the float
SPLIT the TF converter leaves between a DEQUANTIZE and QUANTIZEs in the first step of an unrolled LSTM/GRU.
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.codegen.emit import EmitContext, register, register_int16, round_half_away
from edgeq.codegen.ops_core import _broadcast_strides, _qparams
from edgeq.graph import Operator, Tensor

_HEADER = "edgeq_extra.h"
MAX_DIMS = 6
# Ops whose emitters here move bytes without reading them: any element type is fine (codegen's type check).
# NEG: TFLM's NEG is float32 only; its emitter flips IEEE sign bits (what `-x` does), no float arithmetic.
DTYPE_AGNOSTIC_OPS = frozenset({"SPLIT", "SPLIT_V", "UNPACK", "PACK", "GATHER", "RESIZE_NEAREST_NEIGHBOR", "SLICE",
                                "NEG"})


# ------------------------------------------------------------------------------------------- helpers


def _q(ctx: EmitContext, t: Tensor) -> tuple[float, int]:
    return _qparams(ctx, t)


def _int8(ctx: EmitContext, *ts: Tensor) -> None:
    for t in ts:
        if t.dtype != "int8":
            hint = ("int16x8 models: generated C is int8-only for this op; deploy with the TFLM export"
                    if t.dtype == "int16" else "convert with `edgeq convert --mode int8`")
            ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) is {t.dtype}; this op's C kernel takes int8",
                     hint=hint)


def _ints(ctx: EmitContext, i: int, what: str) -> list[int]:
    t = ctx.tensor(i)
    if not t.is_constant:
        ctx.fail(f"{what} tensor #{i} must be constant", hint="give the layer static shapes / parameters")
    return [int(v) for v in t.array().reshape(-1)]


def _axis(ctx: EmitContext, axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        ctx.fail(f"axis {axis} out of range for rank {rank}")
    return a


def _elem_bytes(ctx: EmitContext, t: Tensor) -> int:
    if t.bits % 8:
        ctx.fail(f"tensor #{t.index} is {t.dtype}; sub-byte elements are not supported here")
    return t.bits // 8


def _fields(**kw) -> str:
    return "\n".join(f"    .{k} = {v}," for k, v in kw.items())


def _c_list(vals) -> str:
    return "{" + ", ".join(str(int(v)) for v in vals) + "}"


def _vptr(ctx: EmitContext, i: int) -> str:
    return f"(void *){ctx.ptr(i)}"


def _include(ctx: EmitContext) -> None:
    ctx.include(_HEADER)


# ------------------------------------------------------------------------------------ split / unpack


def _byte_chunks(ctx: EmitContext, op: Operator, whole: Tensor, parts: list[Tensor], axis: int,
                 mismatch: str) -> tuple[int, list[int]] | None:
    """SPLIT-like and concatenating ops: (outer count, bytes of each part per outer index) of `whole` cut along
    `axis` into `parts`; None, with a comment as the op's code, when the tensors are empty."""
    a = _axis(ctx, axis, len(whole.shape))
    outer = int(np.prod(whole.shape[:a])) if a > 0 else 1
    if outer == 0 or whole.num_elements == 0:
        ctx.call(f"/* {op.opcode}: empty tensors, nothing to copy */")
        return None
    chunks = [t.size_bytes // outer for t in parts]
    if sum(chunks) * outer != whole.size_bytes:
        ctx.fail(mismatch)
    return outer, chunks


def _emit_split(ctx: EmitContext, op: Operator, data: int, axis: int) -> None:
    tin = ctx.tensor(data)
    for o in op.outputs:
        if ctx.tensor(o).dtype != tin.dtype:
            ctx.fail(f"output #{o} is {ctx.tensor(o).dtype}, input {tin.dtype}; {op.opcode} does not convert")
    parts = [ctx.tensor(o) for o in op.outputs]
    split = _byte_chunks(ctx, op, tin, parts, axis, "output sizes do not add up to the input size")
    if split is None:
        return
    outer, chunks = split
    _include(ctx)
    n = len(op.outputs)
    outs = ", ".join(_vptr(ctx, o) for o in op.outputs)
    sizes = ctx.const_array("chunk_bytes", "int32_t", chunks)
    ctx.call(f"{{ void *const outs[{n}] = {{{outs}}}; edgeq_split({ctx.ptr(data)}, {outer}, {n}, outs, {sizes}); }}")


@register("SPLIT")
def emit_split(ctx: EmitContext, op: Operator) -> None:
    """SPLIT: inputs (axis, data); equal chunks along axis, bytes copied as they are (TFLM copies too)."""
    axis = _ints(ctx, op.inputs[0], "axis")[0]
    _emit_split(ctx, op, op.inputs[1], axis)


@register("SPLIT_V")
def emit_split_v(ctx: EmitContext, op: Operator) -> None:
    """SPLIT_V: inputs (data, size_splits, axis); chunk sizes are read from the output shapes."""
    axis = _ints(ctx, op.inputs[2], "axis")[0]
    _emit_split(ctx, op, op.inputs[0], axis)


@register("UNPACK")
def emit_unpack(ctx: EmitContext, op: Operator) -> None:
    """UNPACK: one output per index along axis (the axis dropped from each output's shape)."""
    _emit_split(ctx, op, op.inputs[0], int(op.options.get("axis", 0)))


def emit_byte_concat(ctx: EmitContext, op: Operator, axis: int) -> None:
    """The inputs' bytes concatenated along `axis` of the output (PACK: a new axis; CONCATENATION: an existing one,
    for types TFLM copies as they are): per outer index, each input's chunk in turn (edgeq_pack)."""
    tout = ctx.tensor(op.outputs[0])
    ins = [ctx.tensor(i) for i in op.inputs]
    if any(t.dtype != tout.dtype for t in ins):
        ctx.fail(f"{op.opcode} inputs must have the output's type {tout.dtype}")
    split = _byte_chunks(ctx, op, tout, ins, axis, "input sizes do not add up to the output size")
    if split is None:
        return
    outer, chunks = split
    _include(ctx)
    n = len(ins)
    ptrs = ", ".join(f"(const void *){ctx.ptr(i)}" for i in op.inputs)
    sizes = ctx.const_array("chunk_bytes", "int32_t", chunks)
    ctx.call(f"{{ const void *const ins[{n}] = {{{ptrs}}}; edgeq_pack(ins, {n}, {outer}, {sizes}, "
             f"{_vptr(ctx, op.outputs[0])}); }}")


@register("PACK")
def emit_pack(ctx: EmitContext, op: Operator) -> None:
    """PACK: the inputs stacked along a new axis (bytes copied as they are, as TFLM does)."""
    if any(ctx.tensor(i).shape != ctx.tensor(op.inputs[0]).shape for i in op.inputs):
        ctx.fail("PACK inputs must share one shape")
    emit_byte_concat(ctx, op, int(op.options.get("axis", 0)))


# ---------------------------------------------------------------------------------------------- gather


@register("GATHER")
def emit_gather(ctx: EmitContext, op: Operator) -> None:
    """GATHER with batch_dims 0: rows of the params tensor picked along axis by int32 indices (constant indices
    are range-checked here, runtime ones in C: the invoke returns an error like TFLM's)."""
    tp, ti, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    if int(op.options.get("batch_dims", 0)) != 0:
        ctx.fail("GATHER with batch_dims != 0 is not supported", hint="deploy with the TFLM export")
    if tp.dtype != tout.dtype:
        ctx.fail(f"params are {tp.dtype}, output {tout.dtype}")
    a = _axis(ctx, int(op.options.get("axis", 0)), len(tp.shape))
    outer = int(np.prod(tp.shape[:a])) if a > 0 else 1
    row = int(np.prod(tp.shape[a + 1:])) * _elem_bytes(ctx, tp)
    size = int(tp.shape[a])
    if ti.is_constant:
        idx = [int(v) for v in ti.array().reshape(-1)]
        bad = [v for v in idx if not 0 <= v < size]
        if bad:
            ctx.fail(f"index {bad[0]} out of range [0, {size}) (TFLM fails this model's invoke)")
        idx_ptr = ctx.const_array("indices", "int32_t", idx)
    elif ti.dtype == "int32":
        idx_ptr = ctx.ptr(op.inputs[1])
    else:
        ctx.fail(f"runtime GATHER indices of type {ti.dtype}; int32 only", hint="cast the indices to int32")
        return
    _include(ctx)
    ctx.call(f"if (edgeq_gather_rows({ctx.ptr(op.inputs[0])}, {_vptr(ctx, op.outputs[0])}, {outer}, {size}, {row}, "
             f"{idx_ptr}, {ti.num_elements}) != 0) return 1;")


# ----------------------------------------------------------------------------- sub / squared difference




def _emit_sub_like(ctx: EmitContext, op: Operator, square: bool) -> None:
    t1, t2, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    _int8(ctx, t1, t2, tout)
    s1, z1 = _q(ctx, t1)
    s2, z2 = _q(ctx, t2)
    so, zo = _q(ctx, tout)
    twice_max = 2.0 * max(s1, s2)  # TFLM: double of the larger float32 scale
    if square:
        # TFLM squared_difference.cc: 7 bits of headroom, output rescaled by the square of twice_max
        left_shift = 7
        lo, hi = -128, 127
        out_real = (twice_max * twice_max) / float(np.float32((1 << (2 * left_shift)) * np.float32(so)))
    else:
        # TFLM sub.cc (int8): 20 bits of headroom, as ADD
        left_shift = 20
        lo, hi = ctx.act_range(str(op.options.get("fused_activation_function", "NONE")), so, zo)
        out_real = twice_max / ((1 << left_shift) * so)
    m1, sh1 = ctx.quant_multiplier(s1 / twice_max)
    m2, sh2 = ctx.quant_multiplier(s2 / twice_max)
    mo, sho = ctx.quant_multiplier(out_real)
    out_shape = tuple(int(d) for d in tout.shape)
    dims = [1] * (MAX_DIMS - len(out_shape)) + list(out_shape)
    params = ctx.const_struct("params", "edgeq_sub_params", _fields(
        dims=_c_list(dims), in1_strides=_c_list(_broadcast_strides(ctx, t1.shape, out_shape)),
        in2_strides=_c_list(_broadcast_strides(ctx, t2.shape, out_shape)), in1_offset=-z1, in2_offset=-z2,
        left_shift=left_shift, in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2, out_mult=mo,
        out_shift=sho, out_offset=zo, act_min=lo, act_max=hi, square=int(square)))
    _include(ctx)
    ctx.call(f"edgeq_sub_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, {ctx.ptr(op.outputs[0])})")


@register("SUB")
def emit_sub(ctx: EmitContext, op: Operator) -> None:
    _emit_sub_like(ctx, op, square=False)


@register("SQUARED_DIFFERENCE")
def emit_squared_difference(ctx: EmitContext, op: Operator) -> None:
    _emit_sub_like(ctx, op, square=True)


@register("MAXIMUM", "MINIMUM")
def emit_max_min(ctx: EmitContext, op: Operator) -> None:
    """MAXIMUM / MINIMUM compare the stored integers (int8 or int16), as TFLM does: the converter gives both
    inputs and the output one quantization."""
    t1, t2, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    if not (t1.dtype == t2.dtype == tout.dtype and tout.dtype in ("int8", "int16")):
        ctx.fail(f"{op.opcode} on {t1.dtype}/{t2.dtype} -> {tout.dtype}; int8 or int16 throughout expected")
    if not (_q(ctx, t1) == _q(ctx, t2) == _q(ctx, tout)):
        ctx.fail("inputs and output quantization differ (TFLM compares raw values)")
    out_shape = tuple(int(d) for d in tout.shape)
    dims = [1] * (MAX_DIMS - len(out_shape)) + list(out_shape)
    arr = ctx.const_array
    _include(ctx)
    ctx.call(f"edgeq_max_min({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, {ctx.ptr(op.outputs[0])}, "
             f"{tout.bits}, {int(op.opcode == 'MAXIMUM')}, {arr('dims', 'int32_t', dims)}, "
             f"{arr('in1_strides', 'int32_t', _broadcast_strides(ctx, t1.shape, out_shape))}, "
             f"{arr('in2_strides', 'int32_t', _broadcast_strides(ctx, t2.shape, out_shape))})")


@register("REDUCE_MAX")
def emit_reduce_max(ctx: EmitContext, op: Operator) -> None:
    """REDUCE_MAX (Keras GlobalMaxPooling1D/2D), int8: the largest stored value over the reduced axes, as TFLM's
    ReduceGeneric (initial value -128; TFLM requires the input and output quantization to be equal). The reduced
    axes must be adjacent (outer x reduced x inner); TFLM has no int16 REDUCE_MAX kernel."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _int8(ctx, tin, tout)
    if _q(ctx, tin) != _q(ctx, tout):
        ctx.fail("REDUCE_MAX input and output quantization differ (TFLM refuses it: it compares raw values)")
    rank = len(tin.shape)
    axes = sorted({_axis(ctx, a, rank) for a in _ints(ctx, op.inputs[1], "axis")})
    if not axes:  # nothing reduced: a copy (outer = every element, red = 1)
        axes = [rank]
    if axes != list(range(axes[0], axes[-1] + 1)):
        ctx.fail(f"REDUCE_MAX over non-adjacent axes {axes}: the C kernel reduces one run of adjacent axes",
                 hint="the TFLM export (model_data.c) still runs this model; or transpose first")
    shape = [int(d) for d in tin.shape] + [1]
    outer = int(np.prod(shape[: axes[0]])) if axes[0] > 0 else 1
    red = int(np.prod(shape[axes[0] : axes[-1] + 1]))
    inner = int(np.prod(shape[axes[-1] + 1 :]))
    if outer * inner != tout.num_elements:
        ctx.fail(f"REDUCE_MAX output has {tout.num_elements} elements, expected {outer * inner}")
    _include(ctx)
    ctx.call(f"edgeq_reduce_max_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {outer}, {red}, {inner})")


@register("NEG")
def emit_neg(ctx: EmitContext, op: Operator) -> None:
    """NEG, float32 (the only type TFLM's NEG takes): the sign bit of every element flipped, which is IEEE `-x`
    bit for bit (NaN and zero included). Keras 3's LayerNormalization converts to DEQUANTIZE -> NEG -> QUANTIZE."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if not tin.dtype == tout.dtype == "float32":
        ctx.fail(f"NEG on {tin.dtype} -> {tout.dtype}: tflite-micro's NEG runs float32 only",
                 hint="the TFLM export will not run it either; multiply by -1 (MUL) in the model instead")
    _include(ctx)
    ctx.call(f"edgeq_neg_f32({_vptr(ctx, op.inputs[0])}, {_vptr(ctx, op.outputs[0])}, {tin.num_elements})")


@register("SLICE")
def emit_slice(ctx: EmitContext, op: Operator) -> None:
    """SLICE with constant begin and size (size -1: to the end), any element type, up to 5-D like TFLM."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if tin.dtype != tout.dtype:
        ctx.fail(f"input is {tin.dtype}, output {tout.dtype}")
    rank = len(tin.shape)
    if rank > 5:
        ctx.fail(f"SLICE of rank {rank} > 5 (TFLM's limit)")
    begin, size = _ints(ctx, op.inputs[1], "begin"), _ints(ctx, op.inputs[2], "size")
    shape = [int(d) for d in tin.shape]
    size = [shape[d] - begin[d] if size[d] == -1 else size[d] for d in range(rank)]
    if any(b < 0 or n < 0 or b + n > shape[d] for d, (b, n) in enumerate(zip(begin, size))):
        ctx.fail(f"begin {begin} / size {size} outside the input shape {shape}")
    if size != [int(d) for d in tout.shape]:
        ctx.fail(f"size {size} disagrees with the output shape {list(tout.shape)}")
    if tout.num_elements == 0:
        ctx.call("/* SLICE: empty output, nothing to copy */")
        return
    eb = _elem_bytes(ctx, tin)
    strides = [int(np.prod(shape[d + 1:])) * eb for d in range(rank)]
    start = sum(b * s for b, s in zip(begin, strides))
    pad = 5 - rank
    src = f"((const uint8_t *){ctx.ptr(op.inputs[0])} + {start})"
    _include(ctx)
    ctx.call(f"edgeq_box_copy({src}, {_vptr(ctx, op.outputs[0])}, "
             f"{ctx.const_array('out_dims', 'int32_t', [1] * pad + size)}, "
             f"{ctx.const_array('in_strides', 'int32_t', [0] * pad + strides)}, {eb})")


# ---------------------------------------------------------------------------------------------- resize


def _nhwc(ctx: EmitContext, t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        ctx.fail(f"tensor #{t.index} has rank {len(t.shape)}; NHWC (rank 4) expected")
    return tuple(int(d) for d in t.shape)  # type: ignore[return-value]


def nearest_map(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> list[int]:
    """TFLM GetNearestNeighbor for every output index, in float32 as TFLM computes it."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel else f32(0.0)
    out = []
    for x in range(out_size):
        v = (f32(x) + offset) * scale
        iv = round_half_away(float(v)) if align_corners else math.floor(float(v))  # TfLiteRound / std::floor
        iv = min(iv, in_size - 1)
        if half_pixel:
            iv = max(0, iv)
        out.append(iv)
    return out


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def bilinear_table(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> list[int]:
    """TFLM ResizeBilinearInteger's per-index (lower, upper, upper weight in 1/1024), flattened."""
    if align_corners and out_size > 1:
        scale = _trunc_div(1024 * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    else:
        scale = _trunc_div(1024 * in_size + out_size // 2, out_size)
    tab = []
    for v in range(out_size):
        scaled = v * scale + scale // 2 - 512 if half_pixel else v * scale
        lo = max(_trunc_div(scaled, 1024), 0)
        hi = min(_trunc_div(scaled + 1023, 1024), in_size - 1)
        tab += [lo, hi, scaled - 1024 * lo]
    return tab


def _resize_shapes(ctx: EmitContext, op: Operator):
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    b, ih, iw, c = _nhwc(ctx, tin)
    ob, oh, ow, oc = _nhwc(ctx, tout)
    if (ob, oc) != (b, c):
        ctx.fail("batch or channels differ between input and output")
    size = _ints(ctx, op.inputs[1], "size")
    if size != [oh, ow]:
        ctx.fail(f"size tensor {size} disagrees with the output shape {[oh, ow]}")
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    if align and half:
        ctx.fail("align_corners and half_pixel_centers together (TFLM rejects it)")
    return tin, tout, b, ih, iw, c, oh, ow, align, half


@register("RESIZE_NEAREST_NEIGHBOR")
def emit_resize_nearest(ctx: EmitContext, op: Operator) -> None:
    tin, tout, b, ih, iw, c, oh, ow, align, half = _resize_shapes(ctx, op)
    if tin.dtype != tout.dtype:
        ctx.fail(f"input is {tin.dtype}, output {tout.dtype}")
    ys = ctx.const_array("y_map", "int32_t", nearest_map(ih, oh, align, half))
    xs = ctx.const_array("x_map", "int32_t", nearest_map(iw, ow, align, half))
    _include(ctx)
    ctx.call(f"edgeq_resize_nearest({ctx.ptr(op.inputs[0])}, {_vptr(ctx, op.outputs[0])}, {b}, {ih}, {iw}, {oh}, "
             f"{ow}, {c * _elem_bytes(ctx, tin)}, {ys}, {xs})")


@register("RESIZE_BILINEAR")
def emit_resize_bilinear(ctx: EmitContext, op: Operator) -> None:
    tin, tout, b, ih, iw, c, oh, ow, align, half = _resize_shapes(ctx, op)
    _int8(ctx, tin, tout)
    if _q(ctx, tin) != _q(ctx, tout):
        ctx.fail("input and output quantization differ (TFLM interpolates the int8 values as they are)")
    ys = ctx.const_array("y_tab", "int32_t", bilinear_table(ih, oh, align, half))
    xs = ctx.const_array("x_tab", "int32_t", bilinear_table(iw, ow, align, half))
    _include(ctx)
    ctx.call(f"edgeq_resize_bilinear_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {b}, {ih}, {iw}, {c}, "
             f"{oh}, {ow}, {ys}, {xs})")


# ------------------------------------------------------------------------------------- transpose conv


def _tconv_pad(padding: str, out_size: int, k: int, stride: int) -> int:
    """TFLM ComputePaddingHeightWidth called with the transposed conv's output as the 'input' image."""
    n = (out_size + stride - 1) // stride if padding == "SAME" else (out_size + stride - k) // stride
    total = (n - 1) * stride + k - out_size
    return max(total, 0) // 2


def _requant(ctx: EmitContext, tin: Tensor, tw: Tensor, tout: Tensor, channels: int) -> tuple[int, str, str]:
    s_in, _ = _q(ctx, tin)
    s_out, _ = _q(ctx, tout)
    if tw.quant is None or not tw.quant.scale:
        ctx.fail(f"weights tensor #{tw.index} has no quantization parameters")
    if any(z != 0 for z in tw.quant.zero_point):
        ctx.fail(f"weights tensor #{tw.index} is not symmetrically quantized")
    scales = list(tw.quant.scale)
    if len(scales) > 1 and len(scales) != channels:
        ctx.fail(f"weights tensor #{tw.index}: {len(scales)} scales for {channels} output channels")
    ms = [ctx.quant_multiplier(s_in * float(s) / s_out) for s in scales]
    return (int(len(scales) > 1), ctx.const_array("mult", "int32_t", [m for m, _ in ms]),
            ctx.const_array("shift", "int32_t", [s for _, s in ms]))


def tconv_fields(ctx: EmitContext, op: Operator, act_range) -> dict:
    """TRANSPOSE_CONV geometry and requantization (everything but bias and zero points), shared by the int8 and
    int16 emitters: inputs (output_shape, weights [out_c][k_h][k_w][in_c], input, optional bias)."""
    tw, tin, tout = ctx.tensor(op.inputs[1]), ctx.tensor(op.inputs[2]), ctx.tensor(op.outputs[0])
    if not tw.is_constant or len(tw.shape) != 4 or tw.dtype != "int8":
        ctx.fail("weights must be a constant 4-D int8 tensor")
    b, ih, iw, ic = _nhwc(ctx, tin)
    ob, oh, ow, oc = _nhwc(ctx, tout)
    wc, kh, kw, wic = (int(d) for d in tw.shape)
    if (wc, wic, ob) != (oc, ic, b):
        ctx.fail(f"weights {tuple(tw.shape)} do not match input {tuple(tin.shape)} / output {tuple(tout.shape)}")
    o = op.options
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    padding = str(o.get("padding", "SAME"))
    so, zo = _q(ctx, tout)
    lo, hi = act_range(str(o.get("fused_activation_function", "NONE")), so, zo)
    per_channel, mult, shift = _requant(ctx, tin, tw, tout, oc)
    return {"batches": b, "in_h": ih, "in_w": iw, "in_c": ic, "out_h": oh, "out_w": ow, "out_c": oc, "k_h": kh,
            "k_w": kw, "stride_h": sh, "stride_w": sw, "pad_h": _tconv_pad(padding, oh, kh, sh),
            "pad_w": _tconv_pad(padding, ow, kw, sw), "in_offset": -_q(ctx, tin)[1], "out_offset": zo,
            "act_min": lo, "act_max": hi, "per_channel": per_channel, "filter": ctx.ptr(op.inputs[1]),
            "bias": "NULL", "mult": mult, "shift": shift}


def optional_bias(ctx: EmitContext, op: Operator, k: int, ctype: str, *dtypes: str) -> str:
    """Symbol of the op's k-th input as a const `ctype` array (bias), or NULL when the input is absent."""
    if len(op.inputs) <= k or op.inputs[k] < 0:
        return "NULL"
    tb = ctx.tensor(op.inputs[k])
    if tb.dtype not in dtypes or not tb.is_constant:
        ctx.fail(f"bias tensor #{tb.index} is {tb.dtype}; a constant {' or '.join(dtypes)} tensor is expected")
    return ctx.const_array("bias", ctype, tb.array().reshape(-1).astype(np.int64).tolist())


@register("TRANSPOSE_CONV")
def emit_transpose_conv(ctx: EmitContext, op: Operator) -> None:
    """TRANSPOSE_CONV, int8 activations, int32 bias."""
    _int8(ctx, ctx.tensor(op.inputs[2]), ctx.tensor(op.outputs[0]))
    fields = tconv_fields(ctx, op, ctx.act_range)
    fields["bias"] = optional_bias(ctx, op, 3, "int32_t", "int32")
    params = ctx.const_struct("params", "edgeq_tconv_params", _fields(**fields))
    _include(ctx)
    ctx.call(f"edgeq_transpose_conv_s8({params}, {ctx.ptr(op.inputs[2])}, {ctx.ptr(op.outputs[0])})")


# ----------------------------------------------------------------------------------------- batch matmul


@register("BATCH_MATMUL")
def emit_batch_matmul(ctx: EmitContext, op: Operator) -> None:
    _emit_batch_matmul(ctx, op, 8)


@register_int16("BATCH_MATMUL")
def emit_batch_matmul16(ctx: EmitContext, op: Operator) -> None:
    """BATCH_MATMUL 16x8 (multi-head attention in int16x8): TFLM's reference kernel with an int64 accumulator and
    the 64-bit MultiplyByQuantizedMultiplier; both operands int16 with zero point 0."""
    _emit_batch_matmul(ctx, op, 16)


def _emit_batch_matmul(ctx: EmitContext, op: Operator, bits: int) -> None:
    tl, tr, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    if bits == 8:
        _int8(ctx, tl, tr, tout)
    elif not tl.dtype == tr.dtype == tout.dtype == "int16":
        ctx.fail(f"BATCH_MATMUL on {tl.dtype} x {tr.dtype} -> {tout.dtype}; the 16x8 kernel takes int16 throughout")
    if min(len(tl.shape), len(tr.shape)) < 2 or max(len(tl.shape), len(tr.shape)) > 5:
        ctx.fail("BATCH_MATMUL operands must have rank 2..5")
    adj_x, adj_y = bool(op.options.get("adj_x", False)), bool(op.options.get("adj_y", False))
    ls = [1] * (5 - len(tl.shape)) + [int(d) for d in tl.shape]
    rs = [1] * (5 - len(tr.shape)) + [int(d) for d in tr.shape]
    rows, depth = (ls[4], ls[3]) if adj_x else (ls[3], ls[4])
    rdepth, cols = (rs[4], rs[3]) if adj_y else (rs[3], rs[4])
    if rdepth != depth:
        ctx.fail(f"inner dimensions differ: {tuple(tl.shape)} x {tuple(tr.shape)}")
    batch, lb, rb = [], [], []
    lm, rm = ls[3] * ls[4], rs[3] * rs[4]
    for d in range(3):
        if ls[d] != rs[d] and 1 not in (ls[d], rs[d]):
            ctx.fail(f"batch dimensions {tuple(tl.shape)} and {tuple(tr.shape)} do not broadcast")
        batch.append(max(ls[d], rs[d]))
        lb.append(0 if ls[d] == 1 else lm * int(np.prod(ls[d + 1:3])))
        rb.append(0 if rs[d] == 1 else rm * int(np.prod(rs[d + 1:3])))
    if math.prod(batch) * rows * cols != tout.num_elements:
        ctx.fail(f"output shape {tuple(tout.shape)} does not match the product")
    sl, zl = _q(ctx, tl)
    sr, zr = _q(ctx, tr)
    so, zo = _q(ctx, tout)
    mult, shift = ctx.quant_multiplier(sl * sr / so)
    params = ctx.const_struct("params", "edgeq_bmm_params", _fields(
        batch=_c_list(batch), lhs_bstride=_c_list(lb), rhs_bstride=_c_list(rb), rows=rows, cols=cols,
        depth=depth, lhs_si=1 if adj_x else depth, lhs_sk=rows if adj_x else 1, rhs_sk=1 if adj_y else cols,
        rhs_sj=depth if adj_y else 1, lhs_offset=-zl, rhs_offset=-zr, out_offset=zo, mult=mult, shift=shift,
        act_min=-(1 << (bits - 1)), act_max=(1 << (bits - 1)) - 1))
    _include(ctx)
    ctx.call(f"edgeq_batch_matmul_s{bits}({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
             f"{ctx.ptr(op.outputs[0])})")
