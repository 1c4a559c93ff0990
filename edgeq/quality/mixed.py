"""Per-layer mixed int8 / int16 activations, derived from an int16x8 model (quantize stage, before evaluate).

`mixed_from_int16x8(model16, keep_int16)` keeps the ops listed in int16 and runs every other op in int8, with the
requantizing QUANTIZE ops (int16 -> int8, int8 -> int16) that TFLM also runs at each boundary. No second
calibration and no op alignment between two conversions: every int16 activation tensor of the int16x8 model
(symmetric, scale s) becomes an int8 tensor of scale 256 s and zero point 0, which covers the same range (up to
the top 0.8 %) — except non-negative ones (the output of a fused or separate RELU/RELU6 or LOGISTIC, and what
data-movement ops make of only such tensors): those get scale 128 s and zero point -128, the whole int8 range
for [0, 32767 s], one bit more than symmetric. Tensors that an int8 op requires to share parameters (the
inputs and outputs of pools, RESHAPE, CONCATENATION, PAD, ... = `SAME_PARAMS`) are grouped, and a group is
made non-negative only when every member is, so those equalities still hold. Biases of int8 ops become int32 at
(256 or 128)x their int64 scale, the factor of the op's input. The model's I/O types do not change (QUANTIZE ops
at the edges where needed).

Ops whose int8 kernels need fixed output parameters (LOGISTIC, TANH, SOFTMAX: 1/256 or 1/128), PADV2 (an int16
constant) and anything outside `DOWNGRADABLE` always stay int16; that is also where int16 matters most (LSTM and
GRU gates). The result runs in tflite-micro and as edgeq's generated C (tests/test_mixed_precision.py: bit-exact).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from edgeq.errors import ModelError

# Ops whose int8 form takes any (scaled x256) parameters of their int16 form.
DOWNGRADABLE = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", "MEAN", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "PAD", "RELU", "RELU6",
    "TRANSPOSE", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "UNPACK", "PACK", "MAXIMUM", "MINIMUM",
    "RESIZE_NEAREST_NEIGHBOR", "QUANTIZE", "DEQUANTIZE",
})
# int8 ops whose (TFLM) kernels take input and output with the same scale and zero point
SAME_PARAMS = frozenset({
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "MAX_POOL_2D", "AVERAGE_POOL_2D", "CONCATENATION", "PAD", "TRANSPOSE",
    "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "UNPACK", "PACK", "MAXIMUM", "MINIMUM", "RESIZE_NEAREST_NEIGHBOR",
})
_NONNEG_ACTS = ("RELU", "RELU6")
_WEIGHTED_BIAS = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}
SCALE_FACTOR = 256.0


def int16_ops(model16: bytes) -> list[int]:
    """Indices of the ops with int16 activations (the candidates for keeping int16)."""
    from edgeq.graph import parse

    sg = parse(model16).main
    return [op.index for op in sg.operators
            if any(i >= 0 and sg.tensors[i].dtype == "int16" and not sg.tensors[i].is_constant
                   for i in (*op.inputs, *op.outputs))]


def mixed_from_int16x8(model16: bytes, keep_int16: Iterable[int]) -> tuple[bytes, list[int]]:
    """(model bytes, indices in model16 of the ops that compute in int8). Ops not in `keep_int16` and in
    DOWNGRADABLE compute in int8; the others keep int16."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    from edgeq.graph import parse

    g = parse(model16)
    if len(g.subgraphs) != 1:
        raise ModelError("mixed precision: models with one subgraph only")
    sgv = g.main
    keep = set(keep_int16)
    candidates = set(int16_ops(model16))
    down = [op.index for op in sgv.operators
            if op.index not in keep and op.opcode in DOWNGRADABLE and op.index in candidates
            and not (op.opcode == "QUANTIZE" and sgv.tensors[op.inputs[0]].dtype not in ("int16", "float32"))
            and not (op.opcode == "DEQUANTIZE" and sgv.tensors[op.inputs[0]].dtype != "int16")]
    down_set = set(down)

    m = fbu.convert_bytearray_to_object(bytearray(model16))
    sg = m.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    if schema.BuiltinOperator.QUANTIZE in codes:
        q_code = codes.index(schema.BuiltinOperator.QUANTIZE)
    else:
        oc = schema.OperatorCodeT()
        oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
        oc.version = 1
        m.operatorCodes.append(oc)
        q_code = len(m.operatorCodes) - 1

    def is_act16(i: int) -> bool:
        t = sgv.tensors[i]
        return i >= 0 and t.dtype == "int16" and not t.is_constant

    produced_by = {o: op.index for op in sgv.operators for o in op.outputs}
    bits = {i: (8 if produced_by.get(i) in down_set else 16) for i in range(len(sg.tensors)) if is_act16(i)}
    factor = _int8_factors(sgv, down_set, is_act16)  # tensor -> 256 (symmetric) or 128 (zero point -128)

    def new_tensor(src: int, to_bits: int, suffix: str) -> int:
        t = sg.tensors[src]
        n = schema.TensorT()
        n.name = (t.name.decode() if isinstance(t.name, bytes) else str(t.name or "")) + suffix
        n.shape = np.array(sgv.tensors[src].shape, dtype=np.int32)
        n.type = schema.TensorType.INT8 if to_bits == 8 else schema.TensorType.INT16
        n.buffer = 0
        q = schema.QuantizationParametersT()
        s = np.asarray(sgv.tensors[src].quant.scale, dtype=np.float64)  # the int16 scale of the original model
        f = factor.get(src, SCALE_FACTOR)
        q.scale = (s * f if to_bits == 8 else s).astype(np.float32)
        q.zeroPoint = np.full(len(q.scale), _zero_point(f) if to_bits == 8 else 0, dtype=np.int64)
        n.quantization = q
        sg.tensors.append(n)
        return len(sg.tensors) - 1

    def to_int8_inplace(i: int) -> None:
        t = sg.tensors[i]
        t.type = schema.TensorType.INT8
        f = factor.get(i, SCALE_FACTOR)
        t.quantization.scale = (np.asarray(t.quantization.scale, np.float64) * f).astype(np.float32)
        t.quantization.zeroPoint = np.full(len(t.quantization.scale), _zero_point(f), dtype=np.int64)

    def quant_op(src: int, dst: int):
        op = schema.OperatorT()
        op.opcodeIndex = q_code
        op.inputs, op.outputs = np.array([src], np.int32), np.array([dst], np.int32)
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.QuantizeOptions, schema.QuantizeOptionsT()
        return op

    graph_outputs = set(int(i) for i in sg.outputs)
    out_renamed: dict[int, int] = {}
    # int8 outputs of downgraded ops: the original tensor becomes int8 unless it is a graph output (then a new int8
    # tensor is written and a QUANTIZE restores the int16 output)
    for i, b in bits.items():
        if b == 8:
            if i in graph_outputs:
                out_renamed[i] = new_tensor(i, 8, "/int8")
            else:
                to_int8_inplace(i)
    converted: dict[tuple[int, int], int] = {}
    new_ops = []
    for k, op in enumerate(sg.operators):
        want = 8 if k in down_set else 16
        ins = [int(i) for i in op.inputs]
        for j, i in enumerate(ins):
            if want == 8 and i >= 0 and sgv.tensors[i].dtype == "int16" and sgv.tensors[i].is_constant:
                if (i, "c8") not in converted:  # an int16 constant operand (initial state, ...): its int8 copy
                    converted[(i, "c8")] = _const_to_int8(m, sg, sgv, i, schema)
                ins[j] = converted[(i, "c8")]
                continue
            if i < 0 or i not in bits:
                continue
            have = 8 if (bits[i] == 8) else 16
            src = out_renamed.get(i, i)
            if have != want:
                key = (i, want)
                if key not in converted:
                    converted[key] = new_tensor(i, want, f"/int{want}")
                    new_ops.append(quant_op(src, converted[key]))
                ins[j] = converted[key]
            else:
                ins[j] = src
        op.inputs = np.array(ins, np.int32)
        if k in down_set:
            op.outputs = np.array([out_renamed.get(int(o), int(o)) for o in op.outputs], np.int32)
            bi = _WEIGHTED_BIAS.get(sgv.operators[k].opcode)
            if bi is not None and len(op.inputs) > bi and op.inputs[bi] >= 0:
                x = sgv.operators[k].inputs[2 if sgv.operators[k].opcode == "TRANSPOSE_CONV" else 0]
                _bias_to_int32(m, sg.tensors[int(op.inputs[bi])], schema, factor.get(x, SCALE_FACTOR))
        new_ops.append(op)
        for o in op.outputs:
            o = int(o)
            src_i = next((i for i, r in out_renamed.items() if r == o), None)
            if src_i is not None:
                new_ops.append(quant_op(o, src_i))
    sg.operators = new_ops
    return bytes(fbu.convert_object_to_bytearray(m)), down


def _zero_point(f: float) -> int:
    return 0 if f == SCALE_FACTOR else -128


def _int8_factors(sgv, down_set: set[int], is_act16) -> dict[int, float]:
    """Per int16 activation tensor the factor of its int8 scale: 128 (zero point -128) for tensors known to be
    non-negative, grouped over the int8 ops in SAME_PARAMS (a group is non-negative only when every member is,
    constants never); 256 (symmetric) otherwise."""
    nonneg: set[int] = set()
    for op in sgv.operators:  # topological order
        acts = [i for i in op.inputs if i >= 0 and not sgv.tensors[i].is_constant]
        if (op.options.get("fused_activation_function") in _NONNEG_ACTS or op.opcode in (*_NONNEG_ACTS, "LOGISTIC")
                or (op.opcode in SAME_PARAMS and acts and all(i in nonneg for i in acts))):
            nonneg.update(op.outputs)
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    for op in sgv.operators:
        if op.index in down_set and op.opcode in SAME_PARAMS:
            ts = [i for i in (*op.inputs, *op.outputs) if i >= 0 and sgv.tensors[i].dtype == "int16"]
            for i in ts[1:]:
                parent[find(i)] = find(ts[0])
    groups: dict[int, list[int]] = {}
    for i in range(len(sgv.tensors)):
        groups.setdefault(find(i), []).append(i)
    out: dict[int, float] = {}
    for members in groups.values():
        f = 128.0 if all(i in nonneg for i in members) else SCALE_FACTOR
        for i in members:
            if is_act16(i):
                out[i] = f
    return out


def _bias_to_int32(m, t, schema, f: float = SCALE_FACTOR) -> None:
    """int64 bias at scale s -> int32 at f s (round half away from zero), as the int8 kernels take it."""
    if t.type != schema.TensorType.INT64:
        return
    buf = m.buffers[t.buffer]
    b64 = np.frombuffer(bytes(bytearray(buf.data)), dtype="<i8").astype(np.float64) / f
    b32 = np.clip(np.sign(b64) * np.floor(np.abs(b64) + 0.5), -(1 << 31), (1 << 31) - 1).astype("<i4")
    buf.data = np.frombuffer(b32.tobytes(), dtype=np.uint8)
    t.type = schema.TensorType.INT32
    t.quantization.scale = (np.asarray(t.quantization.scale, np.float64) * f).astype(np.float32)


def _const_to_int8(m, sg, sgv, i: int, schema) -> int:
    """A copy of int16 constant tensor i as int8 at 256x its scale (own buffer; the int16 one may stay in use)."""
    q16 = np.frombuffer(sgv.tensors[i].data, dtype="<i2").astype(np.float64) / SCALE_FACTOR
    q8 = np.clip(np.sign(q16) * np.floor(np.abs(q16) + 0.5), -128, 127).astype(np.int8)
    buf = schema.BufferT()
    buf.data = np.frombuffer(q8.tobytes(), dtype=np.uint8)
    m.buffers.append(buf)
    n = schema.TensorT()
    n.name = f"{sgv.tensors[i].name}/int8"
    n.shape = np.array(sgv.tensors[i].shape, dtype=np.int32)
    n.type = schema.TensorType.INT8
    n.buffer = len(m.buffers) - 1
    q = schema.QuantizationParametersT()
    q.scale = (np.asarray(sgv.tensors[i].quant.scale, np.float64) * SCALE_FACTOR).astype(np.float32)
    q.zeroPoint = np.zeros(len(q.scale), dtype=np.int64)
    n.quantization = q
    sg.tensors.append(n)
    return len(sg.tensors) - 1
