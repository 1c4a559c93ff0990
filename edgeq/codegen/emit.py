"""Emitter registry and EmitContext: the one API every per-op emitter codes against (codegen stage).

An emitter is a plain function `emit(ctx, op) -> None` registered for one or more TFLite opcodes. It
reads tensors through `ctx`, turns quantization parameters into integer constants on the host (so the
device never sees a float scale), and appends C statements. Everything an emitter produces goes through
the context, which is what keeps the generated file deterministic and injection-free: symbols are
generated, values are formatted here, and tensor names only ever reach C through `comment()`.

Emitter modules are discovered, not listed: every `edgeq/codegen/ops_*.py` is imported once, so a new
module registers its ops simply by existing.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import CodegenError
from edgeq.graph import Graph, Operator, Subgraph, Tensor

Emitter = Callable[["EmitContext", Operator], None]

_REGISTRY: dict[str, Emitter] = {}
_LOADED = False

# Opcodes whose tensors need not be int8 (the float boundary of a float-I/O model).
FLOAT_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})

CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float",
          "int64": "int64_t", "bool": "uint8_t"}


def register(*opcodes: str) -> Callable[[Emitter], Emitter]:
    """Decorator: `@register("SOFTMAX")` makes the function the emitter of those opcodes."""

    def deco(fn: Emitter) -> Emitter:
        for name in opcodes:
            if name in _REGISTRY and _REGISTRY[name] is not fn:
                raise RuntimeError(f"two emitters registered for {name}: {_REGISTRY[name].__module__} and "
                                   f"{fn.__module__}")
            _REGISTRY[name] = fn
        return fn

    return deco


_INT16_REGISTRY: dict[str, Emitter] = {}


def register_int16(*opcodes: str) -> Callable[[Emitter], Emitter]:
    """Decorator: the emitter of those opcodes when the op has int16 activations (int16x8 models); the int8
    emitter registered with `register` stays the one for everything else."""

    def deco(fn: Emitter) -> Emitter:
        for name in opcodes:
            if name in _INT16_REGISTRY and _INT16_REGISTRY[name] is not fn:
                raise RuntimeError(f"two int16 emitters registered for {name}")
            _INT16_REGISTRY[name] = fn
        return fn

    return deco


def has_int16_activations(sg: Subgraph, op: Operator) -> bool:
    return any(i >= 0 and sg.tensors[i].dtype == "int16" and not sg.tensors[i].is_constant
               for i in (*op.inputs, *op.outputs))


def emitter_for_op(sg: Subgraph, op: Operator) -> Emitter | None:
    """The emitter for this operator: the int16 one for ops with int16 activations, else the registered one."""
    load_emitters()
    if has_int16_activations(sg, op):
        return _INT16_REGISTRY.get(op.opcode)
    return _REGISTRY.get(op.opcode)


def int16_opcodes() -> frozenset[str]:
    load_emitters()
    return frozenset(_INT16_REGISTRY)


def load_emitters() -> dict[str, Emitter]:
    """Import every `ops_*` module of this package (once) and return the opcode -> emitter registry."""
    global _LOADED
    if not _LOADED:
        pkg_dir = Path(__file__).parent
        for info in sorted(pkgutil.iter_modules([str(pkg_dir)]), key=lambda m: m.name):
            if info.name.startswith("ops_"):
                importlib.import_module(f"{__package__}.{info.name}")
        _LOADED = True
    return dict(_REGISTRY)


def emitter_for(opcode: str) -> Emitter | None:
    return load_emitters().get(opcode)


# ------------------------------------------------------------------------------------------- numerics


def round_half_away(x: float) -> int:
    """TfLiteRound / std::round on a double: nearest integer, ties away from zero (exact, no x+0.5 trap)."""
    a = abs(x)
    f = math.floor(a)
    r = f + 1 if a - f >= 0.5 else f
    return int(-r if x < 0 else r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = mult * 2^(shift - 31), mult a Q31 in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def act_range(activation: str, out_scale: float, out_zero_point: int) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for int8 outputs (quantizes the bounds in float32)."""
    qmin, qmax = -128, 127
    scale = np.float32(out_scale)

    def quantize(f: float) -> int:
        return int(out_zero_point) + round_half_away(float(np.float32(f) / scale))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


# ------------------------------------------------------------------------------------------ C helpers


def _if_path(text: str) -> tuple[str, ...]:
    """The preprocessor conditions open at the end of `text`: each `#if`/`#ifdef`/`#ifndef` line with the
    `#elif`/`#else` lines of its branch taken so far."""
    stack: list[tuple[str, ...]] = []
    for line in text.splitlines():
        d = line.strip()
        if re.match(r"#\s*if", d):
            stack.append((d,))
        elif re.match(r"#\s*(elif|else)", d) and stack:
            stack[-1] = (*stack[-1], d)
        elif re.match(r"#\s*endif", d) and stack:
            stack.pop()
    return tuple(" | ".join(x) for x in stack)


def sanitize_comment(text: str, limit: int = 80) -> str:
    """Make arbitrary text safe inside a C block comment (see edgeq.export.c_comment)."""
    from edgeq.export import c_comment

    return c_comment(text, limit)


def c_identifier(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", text)
    s = re.sub(r"_+", "_", s).strip("_") or "x"
    if s[0].isdigit():
        s = "c_" + s
    return s[:60]


def c_float(v: float) -> str:
    """Exact float32 literal (C99 hex float), deterministic across platforms."""
    f = float(np.float32(v))
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"non-finite constant {v}")
    return f"{f.hex()}f" if f != 0.0 else ("-0.0f" if math.copysign(1.0, f) < 0 else "0.0f")


def c_value(ctype: str, v) -> str:
    if ctype in ("float", "const float"):
        return c_float(float(v))
    iv = int(v)
    if ctype == "int32_t" and iv == -(1 << 31):
        return "INT32_MIN"
    if ctype == "int64_t":
        return f"INT64_C({iv})"
    if ctype in ("uint32_t",):
        return f"{iv}u"
    return str(iv)


def format_values(ctype: str, values: Iterable, per_line: int = 16) -> str:
    vals = [c_value(ctype, v) for v in values]
    if ctype == "float":
        per_line = 6
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append("    " + ", ".join(vals[i : i + per_line]) + ",")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- context


@dataclass
class OpCode:
    """C produced for one operator."""

    index: int
    opcode: str
    comment: str
    statements: list[str] = field(default_factory=list)


def weight_key(sg: Subgraph, op: Operator) -> tuple:
    """Ops with equal keys share their weights in edgeq_model.c: the generator emits an array equal (type, values)
    to an earlier one once (EmitContext.const_array / raw_definition), e.g. an unrolled RNN's per-timestep FC ops
    or a layer applied twice, so their int16 copies and depthwise layouts are emitted once too."""
    w = sg.tensors[op.inputs[1]]
    return op.opcode, w.dtype, tuple(w.shape), bytes(w.data or b"")


class EmitContext:
    """What an emitter may use. One context spans a whole model; `op` is the operator being emitted.

    API (stable, other emitter modules depend on it):
      graph, subgraph, op          the model, its main subgraph, the current operator
      tensor(i) -> Tensor          tensor of the main subgraph by index
      ptr(i) -> str                C pointer expression for tensor i: `((int8_t *)(edgeq_arena + OFF))`
                                   for activations, `((int8_t *)inputs[k])` / `((int8_t *)outputs[k])` for
                                   model I/O (pointee type follows the tensor dtype; model inputs are cast
                                   from const and must not be written), the const array symbol for constants
      const_array(base, ctype, values) -> str   symbol of a deduplicated `static const ctype NAME[]`
      const_struct(base, ctype, initializer) -> str   `&NAME` of a `static const ctype NAME = {initializer}`
      unique_name(base) -> str, raw_definition(text)   definitions as written (e.g. per-core `#if` variants);
                                   their arrays identical to an earlier one under the same conditions are shared
      call(stmt)                   append one C statement (or `{ ... }` block) to the op's body
      include(header)              e.g. "edgeq_nonlinear.h"
      comment(text) -> str         sanitized text to put inside a C comment
      fail(message, hint=None)     raise CodegenError naming op index and opcode
      quant_multiplier(real) -> (mult, shift)          TFLite QuantizeMultiplier
      act_range(activation, out_scale, out_zp) -> (lo, hi)   TFLite CalculateActivationRangeQuantized
    """

    def __init__(self, graph: Graph, offsets: dict[int, int]):
        self.graph = graph
        self.subgraph: Subgraph = graph.main
        self.op: Operator | None = None
        self._offsets = offsets
        self._inputs = {t: k for k, t in enumerate(self.subgraph.inputs)}
        self._outputs = {t: k for k, t in enumerate(self.subgraph.outputs)}
        self.includes: set[str] = {"edgeq_common.h"}
        self.definitions: list[str] = []
        self._const_by_value: dict[tuple, str] = {}
        self._raw_arrays: dict[tuple, str] = {}  # (#if path, ctype, size, body) -> symbol, for raw_definition
        self._alias: dict[str, str] = {}  # symbol of a dropped duplicate array -> the one kept
        self._names: set[str] = set()
        self.ops: list[OpCode] = []

    # -- tensors
    def tensor(self, i: int) -> Tensor:
        return self.subgraph.tensors[i]

    def is_model_io(self, i: int) -> bool:
        return i in self._inputs or i in self._outputs

    def arena_offset(self, i: int) -> int | None:
        return self._offsets.get(i)

    def ptr(self, i: int) -> str:
        t = self.tensor(i)
        ctype = CTYPES.get(t.dtype)
        if ctype is None:
            self.fail(f"tensor #{i} has unsupported type {t.dtype}")
        if i in self._outputs:
            return f"(({ctype} *)outputs[{self._outputs[i]}])"
        if i in self._inputs:
            return f"(({ctype} *)inputs[{self._inputs[i]}])"
        if t.is_constant:
            return self.const_array(f"t{i}", ctype, t.array().reshape(-1).tolist())
        if i not in self._offsets:
            self.fail(f"tensor #{i} ({self.comment(t.name)}) has no memory assigned")
        return f"(({ctype} *)(edgeq_arena + {self._offsets[i]}))"

    # -- constants
    def _unique(self, base: str) -> str:
        name = c_identifier(base)
        if name in self._names:
            k = 2
            while f"{name}_{k}" in self._names:
                k += 1
            name = f"{name}_{k}"
        self._names.add(name)
        return name

    def _op_prefix(self) -> str:
        return f"op{self.op.index}_" if self.op is not None else ""

    def const_array(self, base_name: str, ctype: str, values) -> str:
        """Symbol of `static const ctype NAME[] = {values}`; identical (ctype, values) share one array.
        Names are `w_op<index>_<base>`, sanitized; contents never carry tensor names."""
        vals = tuple(values.reshape(-1).tolist() if isinstance(values, np.ndarray) else values)
        key = (ctype, vals)
        if key in self._const_by_value:
            return self._const_by_value[key]
        name = self._unique(f"w_{self._op_prefix()}{base_name}")
        n = max(len(vals), 1)
        body = format_values(ctype, vals) if vals else f"    {c_value(ctype, 0)},"
        self.definitions.append(f"static const {ctype} {name}[{n}] EDGEQ_ALIGNED(4) = {{\n{body}\n}};")
        self._const_by_value[key] = name
        return name

    def const_values(self, name: str) -> tuple | None:
        """The values const_array() gave the symbol `name` (None for any other name)."""
        return next((key[1] for key, sym in self._const_by_value.items() if sym == name), None)

    def unique_name(self, base_name: str) -> str:
        """A fresh C identifier `<op prefix><base_name>` for definitions added with raw_definition()."""
        return self._unique(f"{self._op_prefix()}{base_name}")

    _RAW_ARRAY = re.compile(r"^static const (\w+) (\w+)\[(\d+)\] EDGEQ_ALIGNED\(4\) = \{\n(.*?)\n\};\n?",
                            re.M | re.S)

    def raw_definition(self, text: str) -> None:
        """Append C definitions, e.g. alternatives under `#if` for different cores. A `static const T NAME[N]
        EDGEQ_ALIGNED(4) = {...};` array equal (type, size, values) to one an earlier raw_definition() defined
        under the same `#if`/`#else` path is dropped and NAME refers to the earlier array from then on (in this
        text, later definitions and statements): an unrolled RNN's per-timestep ops share one weight copy.
        Never shared with const_array(), so a symbol defined under a condition is never used outside it."""
        text = self._resolve(text)
        kept, pos, dropped = [], 0, {}
        for m in self._RAW_ARRAY.finditer(text):
            ctype, name, n, body = m.groups()
            key = (_if_path(text[: m.start()]), ctype, int(n), body)
            old = self._raw_arrays.get(key)
            if old is None:
                self._raw_arrays[key] = name
                continue
            kept.append(text[pos : m.start()])
            pos = m.end()
            dropped[name] = old
        if dropped:
            kept.append(text[pos:])
            self._alias.update(dropped)
            text = self._resolve("".join(kept))
        self.definitions.append(text)

    def _resolve(self, text: str) -> str:
        """`text` with the symbols of dropped duplicate arrays replaced by the arrays kept."""
        if not self._alias:
            return text
        return re.sub(r"\b(" + "|".join(map(re.escape, self._alias)) + r")\b", lambda m: self._alias[m.group(1)], text)

    def const_struct(self, base_name: str, ctype: str, initializer: str) -> str:
        name = self._unique(f"{self._op_prefix()}{base_name}")
        self.definitions.append(f"static const {ctype} {name} = {{\n{self._resolve(initializer)}\n}};")
        return f"&{name}"

    # -- statements
    def call(self, stmt: str) -> None:
        if self.op is None or not self.ops:
            raise RuntimeError("call() outside an operator")
        s = self._resolve(stmt.strip())
        if not (s.endswith(";") or s.endswith("}") or (s.startswith("/*") and s.endswith("*/"))):
            s += ";"
        self.ops[-1].statements.append(s)

    def include(self, header: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_./-]+\.h", header):
            raise ValueError(f"bad header name {header!r}")
        self.includes.add(header)

    @staticmethod
    def comment(text: str) -> str:
        return sanitize_comment(text)

    def fail(self, message: str, hint: str | None = None):
        where = f"op #{self.op.index} {self.op.opcode}: " if self.op is not None else ""
        raise CodegenError(f"{where}{message}", hint=hint)

    # -- quantization helpers
    @staticmethod
    def quant_multiplier(real: float) -> tuple[int, int]:
        return quantize_multiplier(real)

    def act_range(self, activation_name: str, out_scale: float, out_zero_point: int) -> tuple[int, int]:
        try:
            return act_range(activation_name, out_scale, out_zero_point)
        except ValueError:
            self.fail(f"fused activation {activation_name} is not supported",
                      hint="use NONE/RELU/RELU6/RELU_N1_TO_1, or a separate activation layer")
            raise  # unreachable

    # -- driver side
    def begin_op(self, op: Operator) -> None:
        self.op = op
        ins = ", ".join(self._tensor_label(i) for i in op.inputs if i >= 0)
        outs = ", ".join(self._tensor_label(i) for i in op.outputs)
        self.ops.append(OpCode(op.index, op.opcode, f"op {op.index}: {op.opcode} ({ins}) -> ({outs})"))

    def _tensor_label(self, i: int) -> str:
        t = self.tensor(i)
        shape = "x".join(str(d) for d in t.shape) or "scalar"
        return sanitize_comment(f"t{i} {t.name} [{shape}]", limit=60)
