"""Read a `.tflite` file into a typed Graph, without TensorFlow (pipeline stage: after quantize, before check).

The TFLite format is a FlatBuffer (schema: tensorflow/lite/schema/schema.fbs). This module is a small,
bounds-checked FlatBuffer reader that knows the handful of tables edgeq needs: Model, SubGraph, Tensor,
QuantizationParameters, Operator, OperatorCode, Buffer, and the builtin option tables of the ops that checks and
code generation look at. A truncated or foreign file raises ModelError naming the file and what was wrong.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq._schema import BUILTIN_OPERATORS, BUILTIN_OPTIONS
from edgeq.errors import ModelError
from edgeq.verify import verify

# TensorType enum of schema.fbs -> (name, numpy dtype, bits)
TENSOR_TYPES: dict[int, tuple[str, str | None, int]] = {
    0: ("float32", "<f4", 32), 1: ("float16", "<f2", 16), 2: ("int32", "<i4", 32), 3: ("uint8", "u1", 8),
    4: ("int64", "<i8", 64), 5: ("string", None, 0), 6: ("bool", "?", 8), 7: ("int16", "<i2", 16),
    8: ("complex64", "<c8", 64), 9: ("int8", "i1", 8), 10: ("float64", "<f8", 64), 11: ("complex128", "<c16", 128),
    12: ("uint64", "<u8", 64), 13: ("resource", None, 0), 14: ("variant", None, 0), 15: ("uint32", "<u4", 32),
    16: ("uint16", "<u2", 16), 17: ("int4", None, 4), 18: ("bfloat16", None, 16),
}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PADDINGS = {0: "SAME", 1: "VALID"}

# Builtin option tables: op name -> [(field name, kind, default)], in schema field order.
# kinds: b=int8/byte enum, ?=bool, i=int32, f=float32, I=vector of int32, act/pad = enums decoded to names.
_OPTIONS: dict[str, list[tuple[str, str, object]]] = {
    "CONV_2D": [("padding", "pad", "SAME"), ("stride_w", "i", 0), ("stride_h", "i", 0),
                ("fused_activation_function", "act", "NONE"), ("dilation_w_factor", "i", 1),
                ("dilation_h_factor", "i", 1)],
    "DEPTHWISE_CONV_2D": [("padding", "pad", "SAME"), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("depth_multiplier", "i", 0), ("fused_activation_function", "act", "NONE"),
                          ("dilation_w_factor", "i", 1), ("dilation_h_factor", "i", 1)],
    "TRANSPOSE_CONV": [("padding", "pad", "SAME"), ("stride_w", "i", 0), ("stride_h", "i", 0),
                       ("fused_activation_function", "act", "NONE")],
    "FULLY_CONNECTED": [("fused_activation_function", "act", "NONE"), ("weights_format", "b", 0),
                        ("keep_num_dims", "?", False), ("asymmetric_quantize_inputs", "?", False)],
    "AVERAGE_POOL_2D": [("padding", "pad", "SAME"), ("stride_w", "i", 0), ("stride_h", "i", 0),
                        ("filter_width", "i", 0), ("filter_height", "i", 0),
                        ("fused_activation_function", "act", "NONE")],
    "SOFTMAX": [("beta", "f", 0.0)],
    "CONCATENATION": [("axis", "i", 0), ("fused_activation_function", "act", "NONE")],
    "ADD": [("fused_activation_function", "act", "NONE"), ("pot_scale_int16", "?", True)],
    "SUB": [("fused_activation_function", "act", "NONE"), ("pot_scale_int16", "?", True)],
    "MUL": [("fused_activation_function", "act", "NONE")],
    "DIV": [("fused_activation_function", "act", "NONE")],
    "RESHAPE": [("new_shape", "I", ())],
    "SQUEEZE": [("squeeze_dims", "I", ())],
    "STRIDED_SLICE": [("begin_mask", "i", 0), ("end_mask", "i", 0), ("ellipsis_mask", "i", 0),
                      ("new_axis_mask", "i", 0), ("shrink_axis_mask", "i", 0), ("offset", "?", False)],
    "LEAKY_RELU": [("alpha", "f", 0.0)],
    "MEAN": [("keep_dims", "?", False)],
    "GATHER": [("axis", "i", 0), ("batch_dims", "i", 0)],
    "SPLIT": [("num_splits", "i", 0)],
    "PACK": [("values_count", "i", 0), ("axis", "i", 0)],
    "UNPACK": [("num", "i", 0), ("axis", "i", 0)],
    "RESIZE_BILINEAR": [("new_height", "i", 0), ("new_width", "i", 0), ("align_corners", "?", False),
                        ("half_pixel_centers", "?", False)],
    "RESIZE_NEAREST_NEIGHBOR": [("align_corners", "?", False), ("half_pixel_centers", "?", False)],
    "BATCH_MATMUL": [("adj_x", "?", False), ("adj_y", "?", False)],
    "L2_NORMALIZATION": [("fused_activation_function", "act", "NONE")],
}
for _alias, _base in (("MAX_POOL_2D", "AVERAGE_POOL_2D"), ("L2_POOL_2D", "AVERAGE_POOL_2D"),
                      ("SUM", "MEAN"), ("REDUCE_MAX", "MEAN"), ("REDUCE_MIN", "MEAN"), ("REDUCE_PROD", "MEAN")):
    _OPTIONS[_alias] = _OPTIONS[_base]


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point); per-channel along `axis` when len(scale) > 1."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ...
    buffer: int
    quant: QuantParams | None
    data: bytes | None = field(default=None, repr=False)  # constant data, None for activations
    shape_signature: tuple[int, ...] | None = None
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data is not None and len(self.data) > 0

    @property
    def bits(self) -> int:
        return next(b for n, _, b in TENSOR_TYPES.values() if n == self.dtype)

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= max(d, 1)
        return n

    @property
    def size_bytes(self) -> int:
        return (self.num_elements * self.bits + 7) // 8

    def array(self) -> np.ndarray:
        """Constant data as a numpy array of the tensor's shape."""
        if not self.is_constant:
            raise ModelError(f"tensor {self.name!r} has no constant data")
        np_dtype = next(d for n, d, _ in TENSOR_TYPES.values() if n == self.dtype)
        if np_dtype is None:
            raise ModelError(f"tensor {self.name!r}: dtype {self.dtype} cannot be read as an array")
        return np.frombuffer(self.data, dtype=np_dtype).reshape(self.shape)


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: str  # builtin name, e.g. "CONV_2D"; custom ops: "CUSTOM:<code>"
    version: int
    inputs: tuple[int, ...]  # tensor indices; -1 = optional input absent
    outputs: tuple[int, ...]
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, i: int) -> Tensor:
        return self.tensors[i]

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]


@dataclass(frozen=True)
class Graph:
    path: str
    size_bytes: int
    sha256: str
    schema_version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    metadata: tuple[str, ...]
    raw: bytes = field(repr=False)
    # First SignatureDef: (name, tensor index) pairs. The converter orders a model's input/output tensors by its
    # own rules (often not the Keras order); signature names are the reliable way to match them.
    signature_inputs: tuple[tuple[str, int], ...] = ()
    signature_outputs: tuple[tuple[str, int], ...] = ()

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def inputs(self) -> list[Tensor]:
        return [self.main.tensors[i] for i in self.main.inputs]

    @property
    def outputs(self) -> list[Tensor]:
        return [self.main.tensors[i] for i in self.main.outputs]

    @property
    def operators(self) -> tuple[Operator, ...]:
        return self.main.operators

    def io_positions(self, input_names=None, output_names=None) -> tuple[list[int], list[int]]:
        """Positions in `inputs`/`outputs` for the given signature names (default: the file's own order).

        Without a signature (or names), the flatbuffer order is used.
        """
        def pos(names, sig, order):
            if not names or not sig:
                return list(range(len(order)))
            by_name = dict(sig)
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ModelError(f"{self.path}: signature has no tensor named {missing[0]!r} "
                                 f"(has: {', '.join(by_name)})")
            return [order.index(by_name[n]) for n in names]

        return (pos(input_names, self.signature_inputs, list(self.main.inputs)),
                pos(output_names, self.signature_outputs, list(self.main.outputs)))

    def op_names(self) -> list[str]:
        """Distinct op names used in all subgraphs, sorted."""
        return sorted({op.opcode for sg in self.subgraphs for op in sg.operators})

    @property
    def weight_bytes(self) -> int:
        """Bytes of constant tensor data (weights, biases, constant shapes)."""
        return sum(len(t.data) for sg in self.subgraphs for t in sg.tensors if t.is_constant)


# ---------------------------------------------------------------------------------------------- reader


class _Buf:
    """Bounds-checked little-endian access to the flatbuffer bytes."""

    def __init__(self, data: bytes, path: str):
        self.d = data
        self.path = path
        # every table needs >= 4 bytes of its own; more tables than that means references that loop or overlap,
        # which could otherwise make a small file expand into millions of objects
        self.tables_left = len(data) // 4 + 16

    def _need(self, pos: int, n: int) -> None:
        if pos < 0 or pos + n > len(self.d):
            raise ModelError(
                f"{self.path}: not a valid .tflite (offset {pos}+{n} beyond end of file, {len(self.d)} bytes);"
                " the file is truncated or corrupt",
                hint="re-export the model (edgeq convert) or copy the file again",
            )

    def u8(self, p: int) -> int:
        self._need(p, 1)
        return self.d[p]

    def i8(self, p: int) -> int:
        self._need(p, 1)
        return struct.unpack_from("<b", self.d, p)[0]

    def u16(self, p: int) -> int:
        self._need(p, 2)
        return struct.unpack_from("<H", self.d, p)[0]

    def i32(self, p: int) -> int:
        self._need(p, 4)
        return struct.unpack_from("<i", self.d, p)[0]

    def u32(self, p: int) -> int:
        self._need(p, 4)
        return struct.unpack_from("<I", self.d, p)[0]

    def u64(self, p: int) -> int:
        self._need(p, 8)
        return struct.unpack_from("<Q", self.d, p)[0]

    def f32(self, p: int) -> float:
        self._need(p, 4)
        return struct.unpack_from("<f", self.d, p)[0]

    def i64(self, p: int) -> int:
        self._need(p, 8)
        return struct.unpack_from("<q", self.d, p)[0]


class _Table:
    def __init__(self, buf: _Buf, pos: int):
        self.b = buf
        self.pos = pos
        buf.tables_left -= 1
        if buf.tables_left < 0:
            raise ModelError(f"{buf.path}: not a valid .tflite (more tables than the file has room for: "
                             "references overlap)", hint="re-export the model (edgeq convert)")
        vt = pos - buf.i32(pos)
        self.vt = vt
        self.vt_len = buf.u16(vt)
        # as FlatBuffers' own verifier: vtable of even size >= 4 inside the file, the table's inline data too
        self.size = buf.u16(vt + 2)
        if self.vt_len < 4 or self.vt_len % 2 or self.size < 4:
            raise ModelError(f"{buf.path}: not a valid .tflite (table at offset {pos} has a corrupt vtable: "
                             f"{self.vt_len} bytes, object {self.size} bytes)", hint="re-export the model")
        buf._need(vt, self.vt_len)
        buf._need(pos, self.size)
        for k in range(4, self.vt_len, 2):
            if buf.u16(vt + k) >= self.size:
                raise ModelError(f"{buf.path}: not a valid .tflite (field {(k - 4) // 2} of the table at offset {pos} "
                                 f"lies outside the table's {self.size} bytes)", hint="re-export the model")

    def _field(self, idx: int) -> int:
        """Absolute position of field `idx`, or 0 if absent."""
        off = 4 + 2 * idx
        if off >= self.vt_len:
            return 0
        rel = self.b.u16(self.vt + off)
        return self.pos + rel if rel else 0

    def scalar(self, idx: int, fmt: str, default):
        p = self._field(idx)
        if not p:
            return default
        return {"b": self.b.i8, "B": self.b.u8, "i": self.b.i32, "I": self.b.u32, "f": self.b.f32,
                "q": self.b.i64, "Q": self.b.u64, "?": lambda x: bool(self.b.u8(x))}[fmt](p)

    def _indirect(self, idx: int) -> int:
        p = self._field(idx)
        return p + self.b.u32(p) if p else 0

    def table(self, idx: int) -> _Table | None:
        p = self._indirect(idx)
        return _Table(self.b, p) if p else None

    def string(self, idx: int) -> str:
        p = self._indirect(idx)
        if not p:
            return ""
        n = self.b.u32(p)
        self.b._need(p + 4, n)
        return self.b.d[p + 4 : p + 4 + n].decode("utf-8", errors="replace")

    def vector(self, idx: int) -> tuple[int, int]:
        """(position of first element, length) of a vector field; (0, 0) if absent."""
        p = self._indirect(idx)
        if not p:
            return 0, 0
        return p + 4, self.b.u32(p)

    def scalars(self, idx: int, fmt: str, size: int) -> tuple:
        p, n = self.vector(idx)
        if not n:
            return ()
        self.b._need(p, n * size)
        return struct.unpack_from(f"<{n}{fmt}", self.b.d, p)

    def tables(self, idx: int) -> list[_Table]:
        p, n = self.vector(idx)
        self.b._need(p, 4 * n)
        return [_Table(self.b, p + 4 * i + self.b.u32(p + 4 * i)) for i in range(n)]

    def bytes_(self, idx: int) -> bytes:
        p, n = self.vector(idx)
        self.b._need(p, n)
        return self.b.d[p : p + n]


# op -> its BuiltinOptions table: the op's CamelCase name + "Options", except for these shared tables
_SHARED_OPTIONS = {"AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
                   "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
                   "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
                   "REDUCE_ALL": "ReducerOptions", "L2_NORMALIZATION": "L2NormOptions",
                   "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
                   "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions"}
_OPTIONS_CODE = {name.lower(): code for code, name in BUILTIN_OPTIONS.items()}


def _options_type(op: str) -> int | None:
    """BuiltinOptions code the converter writes for `op`, None when not known."""
    name = _SHARED_OPTIONS.get(op) or op.replace("_", "") + "Options"
    return _OPTIONS_CODE.get(name.lower())


def _check_options_type(path: str, sg: int, oi: int, name: str, o: _Table) -> None:
    """A reader picks the options table's layout from the union type: a wrong type makes it misread the table
    (TFLite's verifier checks the pair the same way)."""
    code = o.scalar(3, "B", 0)
    if o.table(4) is None:
        return
    want = _options_type(name)
    if code not in BUILTIN_OPTIONS or code == 0 or (want is not None and code != want):
        got = BUILTIN_OPTIONS.get(code, f"unknown type {code}")
        raise ModelError(f"{path}: subgraph {sg}: op #{oi} {name}: its options table is declared as {got}"
                         + (f", the op takes {BUILTIN_OPTIONS[want]}" if want is not None else ""),
                         hint="the .tflite is corrupt; re-export the model")


def _touch(t: _Table | None, vectors: dict[int, int] = {}, tables: tuple[int, ...] = (),  # noqa: B006 - read-only
           strings: tuple[int, ...] = ()) -> None:
    """Bounds-check fields edgeq does not use but TFLM reads (vectors: field -> element size), so that a file
    the verifier accepts is one TFLM's reader can walk too."""
    if t is None:
        return
    for idx, size in vectors.items():
        p, n = t.vector(idx)
        t.b._need(p, n * size)
    for idx in tables:
        t.table(idx)
    for idx in strings:
        t.string(idx)


def _touch_tensor(t: _Table) -> None:
    """Tensor fields beyond what edgeq reads: quantization min/max/details, sparsity, variant sub-types."""
    q = t.table(4)
    _touch(q, {0: 4, 1: 4})
    if q is not None:
        _touch(q.table(5), {0: 1})  # CustomQuantization.custom
    sp = t.table(6)
    _touch(sp, {0: 4, 1: 4})
    if sp is not None:
        for dm in sp.tables(2):  # DimensionMetadata: array_segments / array_indices unions of int vectors
            for type_idx, idx in ((2, 3), (4, 5)):
                width = {1: 4, 2: 2, 3: 1}.get(dm.scalar(type_idx, "B", 0), 1)
                _touch(dm.table(idx), {0: width})
    for v in t.tables(9):  # variant_tensors
        _touch(v, {0: 4})


def _options(name: str, op: _Table) -> dict[str, object]:
    spec = _OPTIONS.get(name)
    if not spec:
        return {}
    t = op.table(4)  # builtin_options
    out: dict[str, object] = {}
    for i, (fname, kind, default) in enumerate(spec):
        if t is None:
            out[fname] = default
        elif kind == "act":
            out[fname] = ACTIVATIONS.get(t.scalar(i, "b", 0), "UNKNOWN")
        elif kind == "pad":
            out[fname] = PADDINGS.get(t.scalar(i, "b", 0), "UNKNOWN")
        elif kind == "I":
            out[fname] = t.scalars(i, "i", 4)
        else:
            out[fname] = t.scalar(i, kind, default)
    return out


def parse(data: bytes, path: str = "<bytes>") -> Graph:
    """Parse `.tflite` bytes. Raises ModelError for anything that is not a readable TFLite model."""
    if len(data) < 8:
        raise ModelError(f"{path}: not a .tflite model (only {len(data)} bytes)",
                         hint="check that the file is a TFLite FlatBuffer, e.g. produced by `edgeq convert`")
    if data[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a .tflite model (no 'TFL3' FlatBuffer identifier)",
                         hint="pass a TFLite FlatBuffer; Keras/SavedModel files go to `edgeq convert`")
    buf = _Buf(data, path)
    try:
        model = _Table(buf, buf.u32(0))
        opcodes = []
        for oc in model.tables(1):
            code = oc.scalar(3, "i", 0)
            dep = oc.scalar(0, "b", 0)
            code = max(code, dep)  # schema: builtin_code wins; deprecated field kept for codes < 127
            name = BUILTIN_OPERATORS.get(code, f"UNKNOWN_{code}")
            custom = oc.string(1)
            if name == "CUSTOM":
                name = f"CUSTOM:{custom}"
            opcodes.append((name, oc.scalar(2, "i", 1)))
        buffers = []
        for b in model.tables(4):
            off = b.scalar(1, "Q", 0)
            if off > 1:  # large models keep the data outside the flatbuffer
                size = b.scalar(2, "Q", 0)
                buf._need(off, size)
                buffers.append(data[off : off + size])
            else:
                buffers.append(b.bytes_(0))
        subgraphs = []
        for sg in model.tables(2):
            tensors = []
            for ti, t in enumerate(sg.tables(0)):
                ttype = t.scalar(1, "b", 0)
                if ttype not in TENSOR_TYPES:
                    raise ModelError(f"{path}: tensor #{ti} has unknown type code {ttype}")
                q = t.table(4)
                quant = None
                if q is not None:
                    scale = q.scalars(2, "f", 4)
                    zp = q.scalars(3, "q", 8)
                    if scale:
                        quant = QuantParams(tuple(float(s) for s in scale),
                                            tuple(int(z) for z in zp) or (0,) * len(scale), q.scalar(6, "i", 0))
                bi = t.scalar(2, "I", 0)
                if bi >= len(buffers):
                    raise ModelError(f"{path}: subgraph {len(subgraphs)}: tensor #{ti} {t.string(3)[:60]!r} refers "
                                     f"to buffer {bi}, the model has {len(buffers)}",
                                     hint="the .tflite is corrupt; re-export the model (edgeq convert)")
                tdata = buffers[bi] if bi > 0 and buffers[bi] else None
                sig = t.scalars(7, "i", 4)
                _touch_tensor(t)
                tensors.append(Tensor(ti, t.string(3), tuple(t.scalars(0, "i", 4)), TENSOR_TYPES[ttype][0], bi,
                                      quant, tdata, tuple(sig) if sig else None, t.scalar(5, "?", False)))
            ops = []
            for oi, o in enumerate(sg.tables(3)):
                idx = o.scalar(0, "I", 0)
                if idx >= len(opcodes):
                    raise ModelError(f"{path}: subgraph {len(subgraphs)}: op #{oi} refers to opcode {idx}, the model "
                                     f"has {len(opcodes)}", hint="the .tflite is corrupt; re-export the model")
                name, version = opcodes[idx]
                ins = o.scalars(1, "i", 4)
                outs = o.scalars(2, "i", 4)
                _touch(o, {5: 1, 7: 1, 8: 4}, tables=(4, 12))  # custom options, mutating inputs, intermediates
                _check_options_type(path, len(subgraphs), oi, name, o)
                ops.append(Operator(oi, name, version, tuple(ins), tuple(outs), _options(name, o)))
            subgraphs.append(Subgraph(sg.string(4), tuple(tensors), tuple(ops),
                                      tuple(sg.scalars(1, "i", 4)), tuple(sg.scalars(2, "i", 4))))
        metadata = tuple(m.string(0) for m in model.tables(6))
        for k, m in enumerate(model.tables(6)):
            if m.scalar(1, "I", 0) >= len(buffers):  # TFLM reads e.g. offline memory plans from these buffers
                raise ModelError(f"{path}: metadata {k} {m.string(0)[:60]!r} refers to buffer {m.scalar(1, 'I', 0)}, "
                                 f"the model has {len(buffers)}", hint="re-export the model")
        _touch(model, {5: 4})  # metadata_buffer
        sig_in: tuple = ()
        sig_out: tuple = ()
        sigs = model.tables(7)
        for sd in sigs:
            _touch(sd, strings=(2,))
            for io in (*sd.tables(0), *sd.tables(1)):
                _touch(io, strings=(0,))
        if sigs and sigs[0].scalar(4, "I", 0) == 0:
            sig_in = tuple((m.string(0), m.scalar(1, "I", 0)) for m in sigs[0].tables(0))
            sig_out = tuple((m.string(0), m.scalar(1, "I", 0)) for m in sigs[0].tables(1))
    except ModelError:
        raise
    except (struct.error, UnicodeDecodeError, IndexError, ValueError, RecursionError) as e:
        raise ModelError(f"{path}: corrupt .tflite ({e})", hint="re-export the model") from None
    if not subgraphs:
        raise ModelError(f"{path}: .tflite has no subgraphs")
    g = Graph(path, len(data), hashlib.sha256(data).hexdigest(), model.scalar(0, "I", 0),
              model.string(3), tuple(subgraphs), metadata, data, sig_in, sig_out)
    verify(g)  # every later stage trusts indices, sizes, quantization and shapes
    return g


def reorder_io(data: bytes, input_names: list[str], output_names: list[str]) -> bytes:
    """Rewrite the main subgraph's input/output lists into the order of the given signature names.

    The converter orders a model's inputs and outputs by its own rules (e.g. `b` before `a`); everything
    downstream that is positional (generated C, TFLM export, Kotlin wrapper, interpreters' input(0)) should
    follow the Keras model instead. The lists are int32 vectors of unchanged length, so the permutation is
    written in place; names that are not in the signature leave the file untouched.
    """
    g = parse(data)
    sig_in, sig_out = dict(g.signature_inputs), dict(g.signature_outputs)
    want_in = [sig_in.get(n) for n in input_names]
    want_out = [sig_out.get(n) for n in output_names]
    if None in want_in or None in want_out:
        return data
    if sorted(want_in) != sorted(g.main.inputs) or sorted(want_out) != sorted(g.main.outputs):
        return data
    buf = _Buf(data, g.path)
    sg = _Table(buf, buf.u32(0)).tables(2)[0]
    out = bytearray(data)
    for field_idx, order in ((1, want_in), (2, want_out)):
        pos, n = sg.vector(field_idx)
        struct.pack_into(f"<{n}i", out, pos, *order)
    return bytes(out)


def load(path: str | Path) -> Graph:
    """Read and parse a `.tflite` file."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: file not found", hint="check the path")
    if p.is_dir():
        raise ModelError(f"{p}: is a directory, expected a .tflite file")
    return parse(p.read_bytes(), str(p))


# Which Keras layer an op came from (tensor names carry the TF name scope): used by the check's findings,
# the code generator's errors and the quality tools to map Keras layers to ops.
_NO_SCOPE = re.compile(r"(serving_default|StatefulPartitionedCall|PartitionedCall|Identity|tfl\.|arith\.)")


def _strip_suffix(name: str) -> str:
    m = re.fullmatch(r"(.+)_\d+", name)
    return m.group(1) if m else name


def _match_layer(component: str, names: frozenset[str], suffixed: bool) -> str | None:
    """The layer name a TF name-scope component stands for. TF uniquifies scopes by appending `_<n>`; in Keras 3
    traces every scope carries one such suffix (layer `conv2d` -> `conv2d_1`, layer `conv2d_1` -> `conv2d_1_2`),
    so with `suffixed` one suffix is dropped first; then the component as it is, then shorter prefixes."""
    cands = [_strip_suffix(component), component] if suffixed else [component]
    c = component
    while (s := _strip_suffix(c)) != c:
        cands.append(s)
        c = s
    return next((x for x in cands if x in names), None)


def op_layer(sg: Subgraph, op: Operator, layer_names: Sequence[str] = ()) -> str | None:
    """The Keras layer an op came from, read from its tensors' names (`functional_1/conv2d_1/convolution`):
    outputs first, then constant inputs (a model output is named `Identity`/`StatefulPartitionedCall:k`, its
    weights keep the scope); activation inputs belong to the layer before. A model scope with a `_<n>` suffix
    (`functional_1`) marks a Keras 3 trace, whose layer scopes carry one extra suffix (dropped). With the Keras
    model's layer names the scope is matched to one of them (the deepest, for nested models)."""
    names = frozenset(layer_names)
    cands = [*op.outputs, *(i for i in op.inputs if i >= 0 and sg.tensors[i].is_constant)]
    for ti in cands:
        parts = sg.tensors[ti].name.split(";")[0].split("/")
        if len(parts) < 3 or _NO_SCOPE.match(parts[0]):
            continue
        suffixed = _strip_suffix(parts[0]) != parts[0]
        inner = parts[1:-1]
        if names:
            for comp in reversed(inner):
                hit = _match_layer(comp, names, suffixed)
                if hit is not None:
                    return hit
            continue
        return _strip_suffix(inner[0]) if suffixed else inner[0]
    return None
