"""Emitters for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED with 4-, 2- or 1-bit weights (issue #9, back end).

`render(graph, weight_bits={op_index: bits})` sends those ops here instead of to the int8 emitters of ops_core. An
op qualifies when every output channel of its constant int8 weights takes at most 2^bits distinct values; the
weights are then stored as bits-wide indices plus the int8 value of each index (edgeq_lowbit.h):
  - one table of 2^bits int8 values for the whole op when the union of all channels' values fits (e.g. int4
    levels k * s with the int8 scale max|w| / 127: the same 15 int8 values in every channel);
  - otherwise, when every channel's values are a + s * j (j < 2^bits; uniform levels, ternary {-q, 0, q}, binary
    {-q, q}, a channel with a single value), one int8 a and one uint8 s per channel, or only s when one h gives
    every channel's a = -(s * h) / 2 (ternary, binary, symmetric levels);
  - otherwise one table per distinct value set (k-means clusters) and a uint16 table index per channel.
The int8 .tflite stays the oracle: the kernels compute exactly its int32 accumulators.

Shape, quantization and requantization data come from the int8 emitters' helpers (ops_core), so the packed op
differs from the int8 one only in how its weights are stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from edgeq.codegen import ops_core as core
from edgeq.codegen.emit import EmitContext
from edgeq.errors import CodegenError
from edgeq.graph import Graph, Operator

PACKED_OPCODES = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
VALID_BITS = (4, 2, 1)
_HINT = ("project the layer's weights so that each output channel keeps at most 2^bits int8 values "
         "(`edgeq convert --weights int4|ternary|binary`), or leave the op out of weight_bits (int8)")


# ------------------------------------------------------------------------------------------ analysis


def _weight_tensor(graph: Graph, op_index: int, bits: int | None = None):
    sg = graph.main
    if not isinstance(op_index, (int, np.integer)) or isinstance(op_index, bool) or not 0 <= op_index < len(
            sg.operators):
        raise CodegenError(f"weight_bits: op index {op_index!r} does not exist (the model has {len(sg.operators)} "
                           f"ops, 0..{len(sg.operators) - 1})", hint=_HINT)
    op = sg.operators[op_index]
    if op.opcode not in PACKED_OPCODES:
        raise CodegenError(f"weight_bits: op #{op_index} {op.opcode} cannot store packed {bits or 'low-bit'}-bit "
                           f"weights: only {', '.join(PACKED_OPCODES)} can",
                           hint=f"leave op #{op_index} out of weight_bits (it has no weights to pack)")
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        raise CodegenError(f"weight_bits: op #{op_index} {op.opcode} has no weights input", hint=_HINT)
    t = sg.tensors[op.inputs[1]]
    if not t.is_constant or t.dtype != "int8":
        kind = "not constant" if not t.is_constant else t.dtype
        raise CodegenError(f"weight_bits: op #{op_index} {op.opcode}: weight tensor #{t.index} {t.name[:60]!r} is "
                           f"{kind}; packed weights need constant int8 weights",
                           hint="convert with `edgeq convert --mode int8`; " + _HINT)
    return op, t


def _rows(opcode: str, w: np.ndarray) -> np.ndarray:
    """Weights as [output channel][tap], taps in the order the kernels consume them."""
    if opcode == "DEPTHWISE_CONV_2D":
        return w.reshape(-1, w.shape[-1]).T  # [1][kh][kw][oc] -> [oc][kh * kw]
    return w.reshape(w.shape[0], -1)         # CONV_2D [oc][kh][kw][ic], FC [out][in]


def weight_levels(graph: Graph, op_index: int) -> int:
    """The most distinct int8 weight values any output channel of op `op_index` (subgraph 0) has."""
    op, t = _weight_tensor(graph, op_index)
    rows = _rows(op.opcode, t.array())
    return max((len(np.unique(r)) for r in rows), default=0)


def check_weight_bits(graph: Graph, weight_bits: Mapping[int, int] | None) -> dict[int, int]:
    """Validate the op -> bits map for render(); CodegenError naming the op, its weight tensor and why."""
    if not weight_bits:
        return {}
    if not isinstance(weight_bits, Mapping):
        raise CodegenError(f"weight_bits must map op indices to bits (e.g. {{3: 4}}), got {type(weight_bits).__name__}",
                           hint="pass a dict: op index (subgraph 0) -> 4, 2 or 1")
    out: dict[int, int] = {}
    for index, bits in weight_bits.items():
        op, t = _weight_tensor(graph, index, bits)
        if isinstance(bits, bool) or bits not in VALID_BITS:
            raise CodegenError(f"weight_bits: op #{index} {op.opcode} (weights {t.name[:60]!r}): {bits!r} bits is not "
                               f"supported; use 4, 2 or 1", hint=_HINT)
        rows = _rows(op.opcode, t.array())
        for c, r in enumerate(rows):
            n = len(np.unique(r))
            if n > 1 << bits:
                raise CodegenError(
                    f"weight_bits: op #{index} {op.opcode}, weight tensor #{t.index} {t.name[:60]!r}: output channel "
                    f"{c} has {n} distinct int8 values; {bits}-bit needs <= {1 << bits} "
                    f"(the op's most: {weight_levels(graph, int(index))})", hint=_HINT)
        out[int(index)] = int(bits)
    return out


def _values(rows: np.ndarray, bits: int) -> tuple[str, np.ndarray, dict]:
    """(mode, indices [oc][K], data): mode "table" (data: tables [n][L] int8, tab_idx [oc] or None) or "affine"
    (data: affine [oc][2] uint8 {a, s})."""
    L = 1 << bits
    rows = rows.astype(np.int64)
    union = np.unique(rows)
    if len(union) <= L:
        tab = np.zeros(L, np.int64)
        tab[: len(union)] = union
        return "table", np.searchsorted(union, rows), {"tables": tab[None, :], "tab_idx": None}
    affine, idx = [], np.zeros_like(rows)
    for c, r in enumerate(rows):
        vals = np.unique(r)
        a = int(vals[0])
        s = math.gcd(*[int(v - a) for v in vals[1:]]) if len(vals) > 1 else 1
        j = (r - a) // s
        if int(j.max()) >= L:
            affine = None
            break
        affine.append((a & 0xFF, s))
        idx[c] = j
    if affine is not None:
        sym = _symmetric(rows, L)
        if sym is not None:  # one byte per channel instead of two
            h, svals, sidx = sym
            return "affine", sidx, {"affine": np.array(svals, np.int64), "sym_h": h}
        return "affine", idx, {"affine": np.array(affine, np.int64), "sym_h": -1}
    tables: dict[tuple, int] = {}
    tab_idx = np.zeros(len(rows), np.int64)
    for c, r in enumerate(rows):
        vals = np.unique(r)
        key = tuple(vals.tolist()) + (0,) * (L - len(vals))
        tab_idx[c] = tables.setdefault(key, len(tables))
        idx[c] = np.searchsorted(vals, r)
    return "table", idx, {"tables": np.array(list(tables), np.int64), "tab_idx": tab_idx}


def _symmetric(rows: np.ndarray, L: int) -> tuple[int, list[int], np.ndarray] | None:
    """(h, s per channel, indices) when every channel's values are a + s * j with a = -(s * h) / 2 for one h of the
    whole op (ternary {-q, 0, q}: h = 2, s = q; binary {-q, q}: h = 1, s = 2q), j < L; None otherwise."""
    sets = [np.unique(r) for r in rows]
    cands = []
    for vals in sets:
        g = math.gcd(*[abs(int(v)) for v in vals], *[int(v - vals[0]) for v in vals[1:]])
        cands.append([g, 2 * g] if g else [0])
    for h in range(2 * L):
        chosen = []
        for vals, cs in zip(sets, cands):
            for sv in cs:
                if sv > 255 or (sv * h) % 2:
                    continue
                a = -(sv * h) // 2
                if sv == 0:
                    ok = bool((vals == a).all())
                else:
                    ok = bool(((vals - a) % sv == 0).all() and ((vals - a) // sv).min() >= 0
                              and ((vals - a) // sv).max() < L)
                if ok:
                    chosen.append((sv, a))
                    break
            else:
                break
        if len(chosen) == len(sets):
            idx = np.stack([(r - a) // sv if sv else np.zeros_like(r) for r, (sv, a) in zip(rows, chosen)])
            return h, [sv for sv, _ in chosen], idx
    return None


def _pack_fields(vals: np.ndarray, width: int) -> np.ndarray:
    """Values of `width` bits (8 % width == 0) packed little-endian into bytes, [n][m] -> [n][ceil(m*width/8)]."""
    per = 8 // width
    n, m = vals.shape
    padded = np.zeros((n, -(-m // per) * per), np.int64)
    padded[:, :m] = vals
    parts = padded.reshape(n, -1, per) << (np.arange(per) * width)
    return parts.sum(axis=2).astype(np.uint8)


def pack_rows(idx: np.ndarray, bits: int) -> np.ndarray:
    """CONV_2D / FC rows: per group of 4 taps the pair codes {j[k], j[k+2]}, {j[k+1], j[k+3]} (edgeq_lowbit.h)."""
    oc, k = idx.shape
    groups = -(-k // 4)
    j = np.zeros((oc, groups * 4), np.int64)
    j[:, :k] = idx
    g = j.reshape(oc, groups, 4)
    codes = np.stack([g[..., 0] | (g[..., 2] << bits), g[..., 1] | (g[..., 3] << bits)], axis=-1).reshape(oc, -1)
    return _pack_fields(codes, 2 * bits)


def pack_stream(idx: np.ndarray, bits: int) -> np.ndarray:
    """Depthwise: one bit stream, index of (channel c, tap t) at bit (c * K + t) * bits."""
    return _pack_fields(idx.reshape(1, -1), bits).reshape(-1)


# ------------------------------------------------------------------------------------------ emission


def _lowbit_struct(ctx: EmitContext, op: Operator, rows: np.ndarray, bits: int) -> tuple[str, int]:
    """The edgeq_lowbit_weights struct of the op; returns (&symbol, bytes of indices + tables)."""
    mode, idx, data = _values(rows, bits)
    if op.opcode == "DEPTHWISE_CONV_2D":
        codes, row_bytes = pack_stream(idx, bits), 0
    else:
        packed = pack_rows(idx, bits)
        codes, row_bytes = packed.reshape(-1), packed.shape[1]
    nbytes = int(codes.size)
    fields = {"bits": bits, "row_bytes": row_bytes,
              "codes": ctx.const_array("codes", "uint8_t", codes.tolist())}
    if mode == "affine":
        aff = data["affine"].reshape(-1)
        fields.update(affine=ctx.const_array("affine", "uint8_t", aff.tolist()), tables="NULL", tab_idx="NULL",
                      n_tables=0, sym_h=data["sym_h"])
        nbytes += int(aff.size)
    else:
        fields["sym_h"] = -1
        tabs = data["tables"]
        fields.update(affine="NULL", tables=ctx.const_array("tables", "int8_t", tabs.reshape(-1).tolist()),
                      n_tables=len(tabs))
        nbytes += int(tabs.size)
        if data["tab_idx"] is not None and len(tabs) > 1:
            fields["tab_idx"] = ctx.const_array("tab_idx", "uint16_t", data["tab_idx"].tolist())
            nbytes += 2 * len(data["tab_idx"])
        else:
            fields["tab_idx"] = "NULL"
        fields["sym_h"] = fields.pop("sym_h")  # keep the struct's field order
    return ctx.const_struct("lowbit", "edgeq_lowbit_weights", core._fields(**fields)), nbytes


def _emit_conv(ctx: EmitContext, op: Operator, bits: int, depthwise: bool) -> int:
    g = core.conv_geometry(ctx, op, depthwise)
    tin, tout, w, c, oc, axis, o = g.tin, g.tout, g.w, g.c, g.oc, g.axis, op.options
    tw = g.tw
    bias_i = core._optional_input(op, 2)
    if bias_i >= 0:
        core._need_dtype(ctx, ctx.tensor(bias_i), "int32")
    bias_arr = core._const(ctx, ctx.tensor(bias_i), "bias") if bias_i >= 0 else None
    per_channel, mults, shifts = core._channel_requant(ctx, tin, tw, tout, oc, axis)
    _, in_zp = core._qparams(ctx, tin)
    out_scale, out_zp = core._qparams(ctx, tout)
    lo, hi = ctx.act_range(str(o["fused_activation_function"]), out_scale, out_zp)
    bias_eff = ctx.const_array("bias_eff", "int32_t", core._bias_eff(ctx, op, w, in_zp, oc, depthwise))
    if depthwise:
        rq = core._fast_requant(ctx, mults, shifts, w, bias_arr, oc, True)
    else:  # CONV_2D: the output zero point folded into rq (edgeq_conv.h)
        rq = core._conv_rq(ctx, mults, shifts, w, bias_arr, oc, out_zp)
    mult, shift = core._mult_shift_arrays(ctx, rq, mults, shifts)
    shape = g.shape
    lw, nbytes = _lowbit_struct(ctx, op, _rows(op.opcode, w), bits)
    ctx.include("edgeq_lowbit.h")
    if depthwise:  # the raw bias too: small layers run the int8 kernel on their decoded weights (edgeq_lowbit.c)
        braw = bias_arr.reshape(-1).tolist() if bias_arr is not None else [0] * oc
        params = ctx.const_struct("params", "edgeq_conv_params", core._fields(
            **shape, depth_mult=oc // c, in_offset=-in_zp, out_offset=out_zp, act_min=lo, act_max=hi,
            per_channel=per_channel, filter="NULL", bias=ctx.const_array("bias", "int32_t", braw), bias_eff=bias_eff,
            mult=mult, shift=shift, rq=rq, dw_w="NULL"))
        fn = "edgeq_depthwise_conv2d_lowbit"
    else:
        params = ctx.const_struct("params", "edgeq_conv2d_params", core._fields(
            **shape, in_offset=-in_zp, out_offset=out_zp, act_min=lo, act_max=hi, per_channel=per_channel,
            filter="NULL", bias="NULL", bias_eff=bias_eff, mult=mult, shift=shift, rq=rq, w16="NULL"))
        fn = "edgeq_conv2d_lowbit"
    ctx.call(f"{fn}({params}, {lw}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")
    return nbytes


def _emit_fc(ctx: EmitContext, op: Operator, bits: int) -> int:
    g = core.fc_geometry(ctx, op)
    fields = core.fc_fields(ctx, op, g)
    lw, nbytes = _lowbit_struct(ctx, op, g.w.reshape(g.out_depth, g.in_depth), bits)
    ctx.include("edgeq_lowbit.h")
    # the fields in the order this emitter has always written them (the generated C stays byte-identical)
    order = ("batches", "in_depth", "out_depth", "in_offset", "out_offset", "act_min", "act_max", "per_channel",
             "filter", "bias", "bias_eff", "mult", "shift", "rq", "w16")
    fields.update(filter="NULL", w16="NULL")
    params = ctx.const_struct("params", "edgeq_fc_params", core._fields(**{k: fields[k] for k in order}))
    ctx.call(f"edgeq_fully_connected_lowbit({params}, {lw}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")
    return nbytes


def emit_lowbit(ctx: EmitContext, op: Operator, bits: int) -> int:
    """Emit op with `bits`-bit weights (check_weight_bits has validated it); returns the bytes of its packed
    weights (indices + tables / per-channel affine data)."""
    if op.opcode == "FULLY_CONNECTED":
        return _emit_fc(ctx, op, bits)
    return _emit_conv(ctx, op, bits, op.opcode == "DEPTHWISE_CONV_2D")
