"""Structural verifier for a parsed .tflite (runs inside graph.parse, before any stage sees the Graph).

The reader only guarantees that the bytes could be decoded. This module checks that the decoded model is one
that the later stages may trust without defensive code of their own, like TFLite's flatbuffer verifier plus the
structural checks TFLM's allocator and kernels' Prepare() make:

- every tensor / buffer / opcode / subgraph index in range; model I/O and signature tensors exist;
- shapes non-negative and of a sane size; constant data exactly shape x dtype bytes;
- quantization: scales finite, > 0 and within the range real models use; zero points in the dtype's range;
  per-channel scale count = channel count on the stated axis;
- per op: input/output counts, required inputs present, option values in range (strides, dilations, filter
  sizes, activation and padding enums), and the shape relations the C emitters and TFLM kernels rely on
  (channels, bias length, broadcast, element counts);
- data flow: each tensor written by at most one op, read only after it is written (no cycles), never written
  when constant.

Each violation is a ModelError naming the file, the subgraph/op index, the tensor and what is wrong.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from edgeq.errors import ModelError

if TYPE_CHECKING:
    from edgeq.graph import Graph, Operator, Subgraph, Tensor

MAX_RANK = 8  # TFLite kernels take at most 6 (some 8); more is a corrupt shape vector
MAX_ELEMENTS = 2**31 - 1  # int32 element counts everywhere in TFLite/TFLM
MAX_TENSOR_BYTES = 2**31 - 1
# Real quantized models use scales ~1e-10..1e4. Outside this range the float32 arithmetic of TFLite's own
# parameter computation (e.g. 6.0 / scale for RELU6) overflows or underflows, so such a scale is corruption.
MIN_SCALE, MAX_SCALE = 1e-30, 1e30
MAX_WINDOW = 1 << 16  # strides, dilations, filter sizes

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
               "int32": (-2**31, 2**31 - 1), "int4": (-8, 7), "uint32": (0, 2**32 - 1)}

# op -> (min inputs, max inputs or None, required input positions, min outputs, max outputs or None)
_ARITY: dict[str, tuple[int, int | None, tuple[int, ...], int, int | None]] = {}


def _arity(ops: str, lo: int, hi: int | None, required: tuple[int, ...], olo: int = 1, ohi: int | None = 1):
    for op in ops.split():
        _ARITY[op] = (lo, hi, required, olo, ohi)


_arity("CONV_2D DEPTHWISE_CONV_2D", 2, 3, (0, 1))
_arity("FULLY_CONNECTED", 2, 3, (0, 1), 1, 2)
_arity("TRANSPOSE_CONV", 3, 4, (0, 1, 2))
_arity("AVERAGE_POOL_2D MAX_POOL_2D L2_POOL_2D", 1, 1, (0,))
_arity("ADD SUB MUL DIV MAXIMUM MINIMUM SQUARED_DIFFERENCE POW FLOOR_DIV FLOOR_MOD PRELU LESS GREATER "
       "LESS_EQUAL GREATER_EQUAL EQUAL NOT_EQUAL BATCH_MATMUL", 2, 2, (0, 1))
_arity("MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD TRANSPOSE GATHER EXPAND_DIMS ARG_MAX ARG_MIN "
       "RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR PAD MIRROR_PAD TILE", 2, 2, (0, 1))
_arity("SPACE_TO_BATCH_ND BATCH_TO_SPACE_ND", 3, 3, (0, 1, 2))
_arity("PADV2", 2, 3, (0, 1))
_arity("SLICE", 3, 3, (0, 1, 2))
_arity("STRIDED_SLICE", 4, 4, (0, 1, 2, 3))
_arity("RESHAPE", 1, 2, (0,))
_arity("RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 LOGISTIC TANH HARD_SWISH LEAKY_RELU ELU GELU ABS NEG EXP LOG SQRT "
       "RSQRT SQUARE SIN COS FLOOR CEIL ROUND SOFTMAX LOG_SOFTMAX QUANTIZE DEQUANTIZE SQUEEZE CAST SHAPE "
       "L2_NORMALIZATION DEPTH_TO_SPACE SPACE_TO_DEPTH ZEROS_LIKE", 1, 1, (0,))
_arity("CONCATENATION PACK ADD_N", 1, None, ())
_arity("SPLIT", 2, 2, (0, 1), 1, None)
_arity("SPLIT_V", 3, 3, (0, 1, 2), 1, None)
_arity("UNPACK", 1, 1, (0,), 1, None)

_CONV_LIKE = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
_POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
_BROADCAST = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW", "FLOOR_DIV",
              "FLOOR_MOD")
_SAME_SHAPE = ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU",
               "ELU", "GELU", "ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SOFTMAX", "LOG_SOFTMAX",
               "QUANTIZE", "DEQUANTIZE", "L2_NORMALIZATION", "FLOOR", "CEIL", "ROUND", "SIN", "COS", "CAST")
_VIEWS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


class _Ctx:
    """Where a violation is: file, subgraph, op; formats the ModelError."""

    def __init__(self, g: Graph):
        self.path = g.path
        self.sg_index = 0
        self.sg: Subgraph | None = None
        self.multi = len(g.subgraphs) > 1

    def where(self, op: Operator | None = None) -> str:
        s = f"{self.path}: "
        if self.multi:
            s += f"subgraph {self.sg_index}: "
        if op is not None:
            s += f"op #{op.index} {op.opcode}: "
        return s

    def fail(self, msg: str, op: Operator | None = None, hint: str | None = None):
        raise ModelError(self.where(op) + msg, hint=hint or "the .tflite is corrupt or was not written by a "
                         "TFLite converter; re-export the model (edgeq convert)")


def _tname(t: Tensor) -> str:
    name = t.name if len(t.name) <= 60 else t.name[:57] + "..."
    return f"tensor #{t.index} {name!r}"


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def verify(g: Graph) -> None:
    """Raise ModelError for the first structural violation in `g` (see the module docstring)."""
    c = _Ctx(g)
    for si, sg in enumerate(g.subgraphs):
        c.sg_index, c.sg = si, sg
        for t in sg.tensors:
            _tensor(c, t)
        _io(c, sg)
        for op in sg.operators:
            _operator(c, sg, op)
        _dataflow(c, sg)
    n_main = len(g.main.tensors)
    for kind, sig in (("input", g.signature_inputs), ("output", g.signature_outputs)):
        for name, ti in sig:
            if not 0 <= ti < n_main:
                c.sg_index = 0
                raise ModelError(f"{g.path}: signature {kind} {name[:60]!r} refers to tensor {ti}, the main "
                                 f"subgraph has {n_main}", hint="re-export the model (edgeq convert)")


# ------------------------------------------------------------------------------------------------ tensors


def _tensor(c: _Ctx, t: Tensor) -> None:
    where = _tname(t)
    if len(t.shape) > MAX_RANK:
        c.fail(f"{where} has rank {len(t.shape)} (at most {MAX_RANK})")
    if any(d < 0 for d in t.shape):
        c.fail(f"{where} has a negative dimension in shape {list(t.shape)}")
    n = _elements(t.shape)
    if n > MAX_ELEMENTS or (n * t.bits + 7) // 8 > MAX_TENSOR_BYTES:
        c.fail(f"{where}: shape {list(t.shape)} has {n:,} elements (at most {MAX_ELEMENTS:,} and "
               f"{MAX_TENSOR_BYTES:,} bytes)")
    if t.shape_signature is not None:
        if len(t.shape_signature) != len(t.shape) or any(
                s < -1 or (s >= 0 and s != d) for s, d in zip(t.shape_signature, t.shape)):
            c.fail(f"{where}: shape_signature {list(t.shape_signature)} does not match shape {list(t.shape)} "
                   "(same rank, each entry -1 or the dimension)")
    if t.data:
        if t.bits == 0:
            if t.dtype != "string":
                c.fail(f"{where} is {t.dtype} and cannot hold constant data")
        else:
            want = (n * t.bits + 7) // 8
            if len(t.data) != want:
                c.fail(f"{where}: constant buffer {t.buffer} holds {len(t.data):,} bytes, shape {list(t.shape)} "
                       f"x {t.dtype} needs {want:,}")
    q = t.quant
    if q is None:
        return
    if len(q.zero_point) != len(q.scale):
        c.fail(f"{where}: {len(q.scale)} quantization scales but {len(q.zero_point)} zero points")
    for s in q.scale:
        if not (math.isfinite(s) and MIN_SCALE <= s <= MAX_SCALE):
            c.fail(f"{where}: quantization scale {s!r} is not a finite number in [{MIN_SCALE:g}, {MAX_SCALE:g}]")
    lo_hi = _INT_RANGES.get(t.dtype)
    if lo_hi is not None:
        lo, hi = lo_hi
        for z in q.zero_point:
            if not lo <= z <= hi:
                c.fail(f"{where}: zero point {z} is outside the {t.dtype} range [{lo}, {hi}]")
    if len(q.scale) > 1:
        if not 0 <= q.axis < len(t.shape):
            c.fail(f"{where}: per-channel quantization axis {q.axis} is not a dimension of shape {list(t.shape)}")
        if t.shape[q.axis] != len(q.scale):
            c.fail(f"{where}: {len(q.scale)} per-channel scales but dimension {q.axis} of shape {list(t.shape)} "
                   f"has {t.shape[q.axis]} channels")


def _io(c: _Ctx, sg: Subgraph) -> None:
    n = len(sg.tensors)
    for kind, idxs in (("input", sg.inputs), ("output", sg.outputs)):
        for k, ti in enumerate(idxs):
            if not 0 <= ti < n:
                c.fail(f"{kind} {k} refers to tensor {ti}, the subgraph has {n} tensors")
        if len(set(idxs)) != len(idxs):
            c.fail(f"the same tensor is listed twice among the subgraph's {kind}s {list(idxs)}")


# ---------------------------------------------------------------------------------------------- operators


def _operator(c: _Ctx, sg: Subgraph, op: Operator) -> None:
    n = len(sg.tensors)
    if op.version < 1:
        c.fail(f"op version {op.version} (versions start at 1)", op)
    for kind, idxs, optional in (("input", op.inputs, True), ("output", op.outputs, False)):
        for k, ti in enumerate(idxs):
            if ti >= n or ti < (-1 if optional else 0):
                c.fail(f"{kind} {k} refers to tensor {ti}, the subgraph has {n} tensors"
                       + (" (-1 marks an absent optional input)" if optional else ""), op)
    spec = _ARITY.get(op.opcode)
    if spec is not None:
        lo, hi, required, olo, ohi = spec
        if len(op.inputs) < lo or (hi is not None and len(op.inputs) > hi):
            c.fail(f"has {len(op.inputs)} inputs, the op takes {lo}" + (f"..{hi}" if hi != lo else ""), op)
        for k in required:
            if op.inputs[k] < 0:
                c.fail(f"required input {k} is missing (tensor index -1)", op)
        if len(op.outputs) < olo or (ohi is not None and len(op.outputs) > ohi):
            c.fail(f"has {len(op.outputs)} outputs, the op produces {olo}" + (f"..{ohi}" if ohi != olo else ""),
                   op)
    for ti in op.outputs:
        if sg.tensors[ti].is_constant:
            c.fail(f"writes into {_tname(sg.tensors[ti])}, which holds constant data", op)
    _options(c, sg, op)
    _shapes(c, sg, op)


def _options(c: _Ctx, sg: Subgraph, op: Operator) -> None:
    o = op.options
    for key in ("fused_activation_function", "padding"):
        if o.get(key) == "UNKNOWN":
            c.fail(f"option {key} has a value outside the TFLite enum (options table corrupt)", op)
    if op.opcode in _CONV_LIKE:
        keys = ["stride_w", "stride_h"]
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            keys += ["dilation_w_factor", "dilation_h_factor"]
        if op.opcode in _POOLS:
            keys += ["filter_width", "filter_height"]
        for key in keys:
            v = o.get(key)
            if not isinstance(v, int) or not 1 <= v <= MAX_WINDOW:
                c.fail(f"option {key} = {v} (must be 1..{MAX_WINDOW}; 0 means the options table is missing or "
                       "corrupt)", op)
    if op.opcode == "DEPTHWISE_CONV_2D" and not 0 <= o.get("depth_multiplier", 0) <= MAX_WINDOW:
        c.fail(f"option depth_multiplier = {o['depth_multiplier']} (must be 0..{MAX_WINDOW})", op)
    for key in ("beta", "alpha"):
        v = o.get(key)
        if isinstance(v, float) and not math.isfinite(v):
            c.fail(f"option {key} = {v} is not a finite number", op)
    if op.opcode == "SPLIT" and o.get("num_splits") != len(op.outputs):
        c.fail(f"option num_splits = {o.get('num_splits')} but the op has {len(op.outputs)} outputs", op)
    if op.opcode == "UNPACK" and o.get("num") != len(op.outputs):
        c.fail(f"option num = {o.get('num')} but the op has {len(op.outputs)} outputs", op)
    if op.opcode == "PACK" and o.get("values_count") != len(op.inputs):
        c.fail(f"option values_count = {o.get('values_count')} but the op has {len(op.inputs)} inputs", op)


def _ins(sg: Subgraph, op: Operator) -> list[Tensor | None]:
    return [sg.tensors[i] if i >= 0 else None for i in op.inputs]


def _shapes(c: _Ctx, sg: Subgraph, op: Operator) -> None:
    """Shape relations that kernels assume (TFLM's Prepare() checks, the emitters' loops)."""
    ins = _ins(sg, op)
    outs = [sg.tensors[i] for i in op.outputs]
    if not ins or not outs or ins[0] is None:
        return
    x, y = ins[0], outs[0]

    def need(cond: bool, msg: str) -> None:
        if not cond:
            c.fail(msg, op, hint="the .tflite is corrupt (inconsistent shapes); re-export the model")

    def rank(t: Tensor, r: int, role: str) -> None:
        need(len(t.shape) == r, f"{role} {_tname(t)} has shape {list(t.shape)}, expected rank {r}")

    code = op.opcode
    if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = ins[1]
        for t, role in ((x, "input"), (w, "filter"), (y, "output")):
            rank(t, 4, role)
        need(x.shape[0] == y.shape[0], f"batch of input {list(x.shape)} and output {list(y.shape)} differ")
        if code == "CONV_2D":
            need(w.shape[3] > 0 and x.shape[3] % w.shape[3] == 0,
                 f"input channels {x.shape[3]} are not a multiple of the filter's {w.shape[3]} ({_tname(w)})")
            out_ch = w.shape[0]
        else:
            need(w.shape[0] == 1, f"depthwise filter {_tname(w)} has shape {list(w.shape)}, expected [1, h, w, c]")
            out_ch = w.shape[3]
            need(x.shape[3] > 0 and out_ch % x.shape[3] == 0,
                 f"output channels {out_ch} are not a multiple of the input channels {x.shape[3]}")
        need(y.shape[3] == out_ch, f"output {_tname(y)} has {y.shape[3]} channels, the filter {out_ch}")
        _spatial(need, op, x, y, w.shape[1], w.shape[2])
        _bias(need, ins, out_ch)
    elif code in _POOLS:
        rank(x, 4, "input")
        rank(y, 4, "output")
        need(x.shape[0] == y.shape[0] and x.shape[3] == y.shape[3],
             f"input {list(x.shape)} and output {list(y.shape)} differ in batch or channels")
        _spatial(need, op, x, y, op.options.get("filter_height", 1), op.options.get("filter_width", 1))
    elif code == "FULLY_CONNECTED":
        w = ins[1]
        rank(w, 2, "weights")
        units, depth = w.shape
        need(depth > 0 and _elements(x.shape) % depth == 0,
             f"input {_tname(x)} {list(x.shape)} has {_elements(x.shape)} elements, not a multiple of the weights' "
             f"depth {depth}")
        if depth:
            need(_elements(y.shape) == _elements(x.shape) // depth * units,
                 f"output {_tname(y)} {list(y.shape)} does not hold {_elements(x.shape) // depth} x {units} values")
        need(len(y.shape) >= 1 and y.shape[-1] == units,
             f"output {_tname(y)} {list(y.shape)} does not end in the weights' {units} units")
        _bias(need, ins, units)
    elif code in _BROADCAST and ins[1] is not None:
        a, b = x.shape, ins[1].shape
        r = max(len(a), len(b))
        pa, pb = (1,) * (r - len(a)) + a, (1,) * (r - len(b)) + b
        ok = all(i == j or i == 1 or j == 1 for i, j in zip(pa, pb))
        need(ok, f"input shapes {list(a)} and {list(b)} do not broadcast")
        bshape = tuple(max(i, j) if 1 in (i, j) else i for i, j in zip(pa, pb))
        need(_elements(bshape) == _elements(y.shape) and (len(y.shape) == r or _elements(y.shape) <= 1),
             f"output {_tname(y)} {list(y.shape)} is not the broadcast shape {list(bshape)} of the inputs")
    elif code in _SAME_SHAPE:
        need(_elements(x.shape) == _elements(y.shape),
             f"input {_tname(x)} {list(x.shape)} and output {_tname(y)} {list(y.shape)} differ in size")
    elif code in _VIEWS:
        need(_elements(x.shape) == _elements(y.shape),
             f"reshapes {_elements(x.shape)} elements {list(x.shape)} into {_elements(y.shape)} {list(y.shape)}")
    elif code == "CONCATENATION":
        parts = [t for t in ins if t is not None]
        axis = op.options.get("axis", 0)
        r = len(y.shape)
        need(-r <= axis < r if r else axis in (0, -1), f"axis {axis} is not a dimension of output {list(y.shape)}")
        if r:
            ax = axis % r
            for t in parts:
                need(len(t.shape) == r and all(d == e for k, (d, e) in enumerate(zip(t.shape, y.shape)) if k != ax),
                     f"input {_tname(t)} {list(t.shape)} does not fit output {list(y.shape)} on axis {ax}")
            need(sum(t.shape[ax] for t in parts) == y.shape[ax],
                 f"inputs' sizes on axis {ax} do not add up to the output's {y.shape[ax]}")


def _spatial(need, op: Operator, x: Tensor, y: Tensor, kh: int, kw: int) -> None:
    """Output height/width as TFLite computes them (ComputeOutSize), so kernels never index outside the input."""
    o = op.options
    pad = o.get("padding", "SAME")
    for dim, k, stride, dil in ((1, kh, o.get("stride_h", 1), o.get("dilation_h_factor", 1)),
                                (2, kw, o.get("stride_w", 1), o.get("dilation_w_factor", 1))):
        eff = (k - 1) * dil + 1
        size = x.shape[dim]
        want = (size + stride - 1) // stride if pad == "SAME" else max((size - eff + stride) // stride, 0)
        need(k >= 1 and y.shape[dim] == want,
             f"output {'height' if dim == 1 else 'width'} {y.shape[dim]} != {want} for input {size}, "
             f"filter {k}, stride {stride}, dilation {dil}, padding {pad}")


def _bias(need, ins: list, channels: int) -> None:
    if len(ins) > 2 and ins[2] is not None:
        b = ins[2]
        need(_elements(b.shape) == channels,
             f"bias {_tname(b)} {list(b.shape)} has {_elements(b.shape)} values for {channels} output channels")


# ---------------------------------------------------------------------------------------------- data flow


def _dataflow(c: _Ctx, sg: Subgraph) -> None:
    """TFLite runs ops in stored order: an activation must be written (by one op) before it is read."""
    producer: dict[int, int] = {}  # tensor -> position of the op writing it (the order TFLite runs them in)
    for pos, op in enumerate(sg.operators):
        for ti in op.outputs:
            if ti in producer:
                c.fail(f"writes {_tname(sg.tensors[ti])}, already written by op "
                       f"#{sg.operators[producer[ti]].index}", op)
            if ti in sg.inputs:
                c.fail(f"writes {_tname(sg.tensors[ti])}, which is a model input", op)
            producer[ti] = pos
    ready = set(sg.inputs)
    for pos, op in enumerate(sg.operators):
        for ti in op.inputs:
            if ti < 0 or ti in ready:
                continue
            t = sg.tensors[ti]
            if t.is_constant or t.is_variable:
                continue
            if ti in producer:
                if producer[ti] >= pos:
                    c.fail(f"reads {_tname(t)} before op #{sg.operators[producer[ti]].index} writes it (a cycle, "
                           "or ops out of order)", op)
            elif _elements(t.shape) != 0:
                c.fail(f"reads {_tname(t)}, which is neither a model input, a constant nor written by any op", op)
        ready.update(op.outputs)
    for k, ti in enumerate(sg.outputs):
        t = sg.tensors[ti]
        if ti not in producer and ti not in sg.inputs and not t.is_constant:
            c.fail(f"output {k} {_tname(t)} is never written by any op")
