"""Static memory plan for the generated C model: one arena, offsets fixed at generation time.

The firmware has no allocator, so every activation tensor gets a fixed offset in a single arena. A
tensor lives from the op that produces it to the last op that reads it (op order = the .tflite
order, which is what the generated code executes). Tensors whose lifetimes do not intersect may
share bytes.

Two kinds of sharing beyond plain lifetime reuse, both where the kernel semantics make it legal:
- views: RESHAPE/SQUEEZE/EXPAND_DIMS outputs are the same bytes as their input, so the output simply
  aliases the input buffer (no copy) when the input has no later reader;
- in-place element-wise ops (ADD/MUL without broadcast on that input, RELU/RELU6, int8 requantize):
  the kernels read element i before writing element i, so the output may overwrite an input that dies
  at this op.
Aliased tensors form one buffer whose lifetime is the union of its members'.

Placement is greedy by size, largest first, each at the lowest aligned offset that does not collide
with an already placed buffer of intersecting lifetime (TFLM's GreedyMemoryPlanner strategy). We beat
TFLM's arena mainly because there is no interpreter state, no persistent per-op data, no scratch buffers
and the aliasing above.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.errors import CodegenError
from edgeq.graph import Subgraph

VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
# Element-wise ops whose portable kernels tolerate out == input (same shape); input index -> eligible.
INPLACE_OPS = frozenset({"ADD", "MUL", "RELU", "RELU6", "QUANTIZE"})

ALIGNMENT_BYTES = 4


@dataclass(frozen=True)
class Buffer:
    tensors: tuple[int, ...]
    size_bytes: int
    first_op: int
    last_op: int
    offset: int


@dataclass(frozen=True)
class MemoryPlan:
    offsets: dict[int, int]           # arena tensor index -> byte offset
    buffers: tuple[Buffer, ...]
    arena_bytes: int
    aliases: dict[int, int]           # output tensor -> input tensor whose bytes it reuses
    min_activation_bytes: int         # max over ops of bytes live at that op (incl. model I/O)


def _align(n: int, a: int = ALIGNMENT_BYTES) -> int:
    return (n + a - 1) // a * a


def plan_memory(sg: Subgraph, *, alignment: int = ALIGNMENT_BYTES, allow_alias: bool = True) -> MemoryPlan:
    io = set(sg.inputs) | set(sg.outputs)
    n_ops = len(sg.operators)
    producer: dict[int, int] = {}
    last_use: dict[int, int] = {}
    for op in sg.operators:
        for t in op.inputs:
            if t >= 0:
                last_use[t] = op.index
        for t in op.outputs:
            if t in producer:
                raise CodegenError(f"tensor #{t} is written by two operators ({producer[t]} and {op.index})")
            producer[t] = op.index

    def in_arena(t: int) -> bool:
        tensor = sg.tensors[t]
        return t >= 0 and t not in io and not tensor.is_constant

    arena = sorted({t for op in sg.operators for t in (*op.inputs, *op.outputs) if t >= 0 and in_arena(t)})
    for t in arena:
        if t not in producer:
            raise CodegenError(f"tensor #{t} ({sg.tensors[t].name[:60]!r}) is read but never written "
                               "(variable or state tensor)",
                               hint="stateful models (variables, LSTM state) are not supported by codegen")

    # union-find over alias groups
    parent = {t: t for t in arena}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    group_last = {t: last_use.get(t, producer[t]) for t in arena}
    aliases: dict[int, int] = {}
    if allow_alias:
        for op in sg.operators:
            if len(op.outputs) != 1 or op.outputs[0] not in parent:
                continue
            out = op.outputs[0]
            tout = sg.tensors[out]
            if op.opcode in VIEW_OPS:
                candidates = [op.inputs[0]] if op.inputs else []
            elif op.opcode in INPLACE_OPS:
                candidates = [t for t in op.inputs if t >= 0]
                if op.opcode == "QUANTIZE" and sg.tensors[op.inputs[0]].dtype != tout.dtype:
                    candidates = []
            else:
                continue
            for t in candidates:
                if t not in parent:
                    continue
                tin = sg.tensors[t]
                if tin.size_bytes != tout.size_bytes or tin.dtype != tout.dtype:
                    continue
                if op.opcode in INPLACE_OPS and tin.shape != tout.shape:
                    continue
                g = find(t)
                if group_last[g] != op.index:
                    continue  # the input (or a view of it) is read later
                others = [find(x) for x in op.inputs if x >= 0 and x != t and x in parent]
                if g in others:
                    continue  # another operand is a view of the same bytes
                parent[out] = g
                group_last[g] = max(group_last[g], last_use.get(out, op.index))
                aliases[out] = t
                break

    groups: dict[int, list[int]] = {}
    for t in arena:
        groups.setdefault(find(t), []).append(t)
    pending = []
    for members in groups.values():
        first = min(producer[t] for t in members)
        last = max(last_use.get(t, producer[t]) for t in members)
        size = max(sg.tensors[t].size_bytes for t in members)
        pending.append((tuple(sorted(members)), size, first, last))
    pending.sort(key=lambda b: (-b[1], b[2], b[0]))

    placed: list[Buffer] = []
    for members, size, first, last in pending:
        overlapping = sorted((b for b in placed if b.first_op <= last and first <= b.last_op),
                             key=lambda b: b.offset)
        offset = 0
        for b in overlapping:
            if offset + size <= b.offset:
                break
            offset = max(offset, _align(b.offset + b.size_bytes, alignment))
        placed.append(Buffer(members, size, first, last, offset))

    offsets = {t: b.offset for b in placed for t in b.tensors}
    arena_bytes = _align(max((b.offset + b.size_bytes for b in placed), default=0), alignment)

    # live bytes per op, counting model I/O tensors and each alias group once
    spans = [(b.first_op, b.last_op, b.size_bytes) for b in placed]
    for t in io:
        if t < 0 or sg.tensors[t].is_constant:
            continue
        first = producer.get(t, 0)
        last = n_ops - 1 if t in sg.outputs else last_use.get(t, first)
        spans.append((first, last, sg.tensors[t].size_bytes))
    min_live = max((sum(s for f, la, s in spans if f <= i <= la) for i in range(n_ops)), default=0)
    placed.sort(key=lambda b: (b.offset, b.first_op))
    return MemoryPlan(offsets, tuple(placed), arena_bytes, aliases, min_live)
