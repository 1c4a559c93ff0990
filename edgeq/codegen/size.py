"""Flash of edgeq's generated C estimated from the graph before generating (the check's figure and the code
generator's flash budget): edgeq_model.c's constants per op, and the runtime's code as a documented constant
(edgeq.check measures the runtime per model when arm-none-eabi-gcc is installed)."""

from __future__ import annotations

from collections.abc import Mapping

from edgeq.codegen.emit import weight_key
from edgeq.graph import Graph, Operator, Subgraph

# edgeq's C runtime as linked into a firmware (-O2, --gc-sections). Measured per model and core when
# arm-none-eabi-gcc is installed (generated_c_runtime_bytes: the kernels this model's generated C names, linked
# from the cached runtime objects, as `edgeq bench` links them); without it this constant, labelled "estimated":
# 17,172 B measured by `edgeq bench` for the digits CNN (conv, depthwise, pool, mean, FC, softmax) on Cortex-M4
# with the DSP paths (2026-11-30, fdd435b; it grows as kernels get specialised paths); rounded up for other op
# mixes and cores.
GENERATED_C_RUNTIME_BYTES = 18_000
# What edgeq_model.c stores besides the .tflite's constants (codegen's layout; tests/test_check.py compiles one
# per core and compares): per output channel the folded bias and the requantization multiplier/shift; per op a
# parameter struct; depthwise weights a second time, pre-extended to int16; softmax a 256-entry int32 exp table.
# On cores whose kernels take the DSP path (features "dsp" without "mve"), CONV_2D weights whose window fits the
# kernel's int16 scratch and FULLY_CONNECTED weights are stored pre-extended to int16 instead of int8 (2x).
_C_BYTES_PER_CHANNEL = 16
_C_BYTES_PER_OP = 96
_C_SOFTMAX_TABLE_BYTES = 1024
_CHANNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def int16_weight_bytes(sg: Subgraph, op: Operator) -> int:
    """Extra bytes when the DSP path stores this op's weights as int16 (0 if it keeps them int8): CONV_2D's in the
    generator's layout (ops_core.conv_w16_extra_bytes: channel and tap padding, the first layer's two sets),
    FULLY_CONNECTED's twice the int8 ones."""
    if op.opcode == "CONV_2D":
        from edgeq.codegen.ops_core import conv_w16_extra_bytes

        return conv_w16_extra_bytes(sg, op)
    if op.opcode != "FULLY_CONNECTED" or len(op.inputs) < 2 or op.inputs[1] < 0:
        return 0
    w = sg.tensors[op.inputs[1]]
    return len(w.data) if w.is_constant and w.dtype == "int8" else 0


def generated_c_model_bytes(g: Graph, dsp: bool = False, weight_bits: Mapping[int, int] | None = None) -> int:
    """Flash of edgeq_model.c's constants (estimate from the graph, before generating): every distinct constant
    once (equal arrays are emitted once), plus per-channel requantization data and per-op parameters; dsp: the DSP
    path's int16 weights (int16_weight_bytes, once per distinct weights) and depthwise channel blocks. weight_bits
    (op -> 4/2/1, `edgeq convert --weights`): those ops' weights as b-bit indices + per-channel tables (bound)."""
    sg = g.main
    packed = dict(weight_bits or {})
    seen: set = set()  # the distinct arrays counted so far
    total = 0

    def once(key) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    for op in sg.operators:
        wi = op.inputs[1] if op.index in packed and len(op.inputs) > 1 else None
        for i in op.inputs:
            if i >= 0 and sg.tensors[i].is_constant:
                t = sg.tensors[i]
                if i == wi:  # indices + at most one table of 2^b int8 values and its index per output channel
                    if once(("packed", packed[op.index], *weight_key(sg, op))):
                        oc = max(t.shape[-1] if op.opcode == "DEPTHWISE_CONV_2D" else t.shape[0], 1)
                        total += -(-t.num_elements * packed[op.index] // 8) + oc * (2 ** packed[op.index] + 2)
                elif once((t.dtype, bytes(t.data or b""))):
                    total += len(t.data)
        if op.index in packed:
            total += _C_BYTES_PER_OP
            if op.opcode in _CHANNEL_OPS and op.outputs and sg.tensors[op.outputs[0]].shape:
                total += _C_BYTES_PER_CHANNEL * max(sg.tensors[op.outputs[0]].shape[-1], 1)
            continue
        has_w = len(op.inputs) > 1 and op.inputs[1] >= 0 and sg.tensors[op.inputs[1]].is_constant
        if op.opcode == "DEPTHWISE_CONV_2D" and has_w and once(("dw16", *weight_key(sg, op))):
            total += len(sg.tensors[op.inputs[1]].data)
        if op.opcode == "DEPTHWISE_CONV_2D" and has_w and dsp:  # eq_dw_small's channel blocks (with the op's rq)
            from edgeq.codegen.ops_core import dw_blocks_bytes

            total += dw_blocks_bytes(sg, op)
        if op.opcode in _CHANNEL_OPS and op.outputs and sg.tensors[op.outputs[0]].shape:
            total += _C_BYTES_PER_CHANNEL * max(sg.tensors[op.outputs[0]].shape[-1], 1)
        if op.opcode == "SOFTMAX":
            total += _C_SOFTMAX_TABLE_BYTES
        if dsp and has_w and once(("w16", *weight_key(sg, op))):
            total += int16_weight_bytes(sg, op)
        total += _C_BYTES_PER_OP
    return total
