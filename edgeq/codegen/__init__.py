"""TFLite int8 graph -> generated C for Cortex-M (pipeline stage: export, Cortex-M targets).

`generate()` plans one static arena (plan.py), runs one registered emitter per operator (emit.py, ops_*.py)
and writes `<prefix>.h` / `<prefix>.c` plus a copy of the C runtime (`edgeq_runtime/`) whose
`include/edgeq_config.h` sizes the kernels' stack scratch for this model (scratch.py), following the
contract in docs/codegen-api.md. Nothing here imports TensorFlow: the input is the parsed Graph.

The generated file is a straight-line list of kernel calls with all quantization parameters folded into
`static const` data, so the device runs no interpreter and parses no flatbuffer. Output is a pure function
of the .tflite bytes and the prefix (no timestamps, no paths), so regenerating is byte-identical.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgeq.codegen.emit import (
    CTYPES,
    FLOAT_BOUNDARY_OPS,
    EmitContext,
    emitter_for_op,
    has_int16_activations,
    int16_opcodes,
    load_emitters,
    sanitize_comment,
)
from edgeq.codegen.plan import MemoryPlan, plan_memory
from edgeq.codegen.scratch import ScratchSizes, config_header, scratch_sizes
from edgeq.errors import CodegenError, UsageError
from edgeq.graph import Graph, Operator, Subgraph

RUNTIME_DIR = Path(__file__).resolve().parent.parent / "runtime"
CONFIG_PATH = "edgeq_runtime/include/edgeq_config.h"  # generated per model; replaces the runtime's defaults
INT8_HINT = "convert with `edgeq convert --mode int8` (full-integer int8 with a representative dataset)"


@dataclass(frozen=True)
class OpSummary:
    index: int
    opcode: str
    macs: int
    weight_bytes: int
    output_offset: int | None   # arena byte offset of the (first) output; None for model outputs
    output_bytes: int
    weight_bits: int = 8        # 4/2/1: weights stored packed (render's weight_bits); weight_bytes counts those bytes


@dataclass(frozen=True)
class CodegenResult:
    files: tuple[Path, ...]
    arena_bytes: int
    ops: tuple[OpSummary, ...]
    total_macs: int
    min_activation_bytes: int
    weight_bytes: int
    # flash_budget_bytes: CONV_2D ops whose weights stay int8 on DSP builds (the int8 kernel) so that the estimated
    # flash fits; empty when everything fits or no budget was given
    conv_int8_weight_ops: tuple[int, ...] = ()
    flash_budget_bytes: int | None = None
    scratch: ScratchSizes | None = None  # the kernels' stack scratch sizes in the generated edgeq_config.h


@dataclass(frozen=True)
class GeneratedSources:
    """In-memory result of code generation: relative path -> file text."""

    files: dict[str, str]
    plan: MemoryPlan
    ops: tuple[OpSummary, ...]
    conv_int8_ops: tuple[int, ...] = ()  # CONV_2D ops kept on int8 weights on DSP builds (flash budget)
    scratch: ScratchSizes | None = None  # files[CONFIG_PATH]: the kernels' stack scratch sized for this model


# ----------------------------------------------------------------------------------------- checks


def _macs(sg: Subgraph, op: Operator) -> int:
    try:
        if op.opcode == "CONV_2D":
            _, oh, ow, oc = sg.tensors[op.outputs[0]].shape
            _, kh, kw, ic = sg.tensors[op.inputs[1]].shape
            n = sg.tensors[op.outputs[0]].shape[0]
            return int(n * oh * ow * oc * kh * kw * ic)
        if op.opcode == "DEPTHWISE_CONV_2D":
            n, oh, ow, oc = sg.tensors[op.outputs[0]].shape
            _, kh, kw, _ = sg.tensors[op.inputs[1]].shape
            return int(n * oh * ow * oc * kh * kw)
        if op.opcode == "FULLY_CONNECTED":
            return int(sg.tensors[op.inputs[0]].num_elements * sg.tensors[op.inputs[1]].shape[0])
    except (ValueError, IndexError):
        return 0
    return 0


def _check_supported(graph: Graph) -> None:
    if len(graph.subgraphs) > 1:
        raise CodegenError(f"model has {len(graph.subgraphs)} subgraphs (control flow: WHILE/IF/CALL_ONCE); "
                           "edgeq codegen supports single-subgraph models",
                           hint="remove control flow from the model, or deploy it with TFLM instead")
    emitters = load_emitters()
    sg = graph.main
    missing = [op for op in sg.operators if op.opcode not in emitters]
    if missing:
        op = missing[0]
        names = sorted({m.opcode for m in missing})
        from edgeq.graph import op_layer

        first_t = sg.tensors[op.outputs[0]] if op.outputs else None
        layer = op_layer(sg, op)
        where = f" of Keras layer {sanitize_comment(layer, 60)!r}" if layer else ""
        where += f" (output tensor #{first_t.index} {sanitize_comment(first_t.name, 60)!r})" if first_t else ""
        raise CodegenError(
            f"op #{op.index} {op.opcode}{where} has no C emitter; unsupported op(s) in this model: "
            f"{', '.join(names)}",
            hint=f"the TFLM export (model_data.c) still runs this model; or replace that layer with supported "
                 f"ones (supported: {', '.join(sorted(emitters))})")
    bad: list[tuple[Operator, int, bool]] = []  # (op, offending tensor, hybrid?)
    from edgeq.codegen.ops_extra import DTYPE_AGNOSTIC_OPS

    int16_ops = int16_opcodes()
    for op in sg.operators:
        if op.opcode in int16_ops and has_int16_activations(sg, op):
            continue  # int16x8: the op's int16 emitter checks its own tensors
        if op.opcode in FLOAT_BOUNDARY_OPS:
            continue
        if op.opcode in DTYPE_AGNOSTIC_OPS and any(sg.tensors[i].dtype == "float32" for i in op.outputs):
            continue  # byte copies (e.g. the float SPLIT of an unrolled LSTM's first step, between DE/QUANTIZE)
        for ti in (*op.inputs, *op.outputs):
            if ti < 0:
                continue
            t = sg.tensors[ti]
            if t.is_constant and t.dtype in ("int8", "int32", "int64"):
                continue
            if t.dtype != "int8":
                hybrid = t.dtype.startswith("float") and any(
                    sg.tensors[i].dtype == "int8" and sg.tensors[i].is_constant for i in op.inputs if i >= 0)
                bad.append((op, ti, hybrid))
                break
    if bad:
        # name a hybrid op first: it tells the user how the model was (mis)quantized
        op, ti, hybrid = next((b for b in bad if b[2]), bad[0])
        t = sg.tensors[ti]
        if hybrid:
            kind = "hybrid (dynamic-range quantized: int8 weights, float activations)"
        elif t.dtype == "int16":
            kind = (f"in int16 (16x8 quantization: int16 activations; generated C has int16 kernels for "
                    f"{', '.join(sorted(int16_ops))} only)")
        else:
            kind = f"in {'float' if t.dtype.startswith('float') else t.dtype}"
        from edgeq.graph import op_layer

        layer = op_layer(sg, op)
        where = f" (Keras layer {sanitize_comment(layer, 60)!r})" if layer else ""
        hint = INT8_HINT
        if t.dtype == "int16":
            hint = (f"{INT8_HINT}; or, if tflite-micro runs {op.opcode} in int16x8 (docs/ops.md, measured: not "
                    "every op it runs in int8), ship the TFLM export (model_data.c)")
        raise CodegenError(
            f"op #{op.index} {op.opcode}{where} computes {kind}: tensor #{ti} {sanitize_comment(t.name, 60)!r} is "
            f"{t.dtype}; generated C supports full-integer int8 models (int16x8: the ops listed) "
            f"({len(bad)} such op(s))",
            hint=hint)


# ------------------------------------------------------------------------------------------ render


def _float_literal(v: float) -> str:
    return f"{v:.9e}f"


def dsp_flash_estimate_bytes(graph: Graph, weight_bits: Mapping[int, int] | None = None) -> int:
    """Flash of a DSP build (generated model + runtime): the check's estimate (edgeq.check, with the int16 bytes of
    the generator's CONV_2D layouts); ops in weight_bits (render) count their packed weights (the check's bound)
    instead of int8 / int16 ones."""
    from edgeq.codegen import size

    return (size.generated_c_model_bytes(graph, dsp=True, weight_bits=weight_bits or {})
            + size.GENERATED_C_RUNTIME_BYTES)


def conv_int8_ops_for_budget(graph: Graph, flash_budget_bytes: int | None,
                             weight_bits: Mapping[int, int] | None = None) -> tuple[int, ...]:
    """CONV_2D ops to keep on int8 weights so that a DSP build (Cortex-M4/M7/M33, which stores the weights the DSP
    conv kernel reads pre-extended to int16, twice the bytes) fits flash_budget_bytes; () when it fits (or no
    budget). Flash is dsp_flash_estimate_bytes (the check's generated-C estimate: constants, int16 copies,
    per-channel data, runtime code). The ops with the fewest MACs per saved byte go first: they lose the least speed.
    Ops with packed weights (weight_bits) have no int16 copy and are never chosen."""
    if not flash_budget_bytes:
        return ()
    from edgeq.codegen.emit import weight_key
    from edgeq.codegen.ops_core import conv_w16_extra_bytes

    sg = graph.main
    packed = weight_bits or {}
    over = dsp_flash_estimate_bytes(graph, packed) - flash_budget_bytes
    if over <= 0:
        return ()
    # ops with equal weights share one int16 copy: only all of them on int8 saves it
    groups: dict[tuple, list[int]] = {}
    for op in sg.operators:
        if op.opcode == "CONV_2D" and op.index not in packed and conv_w16_extra_bytes(sg, op) > 0:
            groups.setdefault(weight_key(sg, op), []).append(op.index)
    cands = []
    for ops in groups.values():
        extra = conv_w16_extra_bytes(sg, sg.operators[ops[0]])
        cands.append((sum(_macs(sg, sg.operators[i]) for i in ops) / extra, ops, extra))
    chosen: list[int] = []
    for _, ops, extra in sorted(cands):
        if over <= 0:
            break
        chosen += ops
        over -= extra
    return tuple(sorted(chosen))


def render(graph: Graph, *, prefix: str = "edgeq_model", flash_budget_bytes: int | None = None,
           weight_bits: Mapping[int, int] | None = None) -> GeneratedSources:
    """Generate the model sources in memory (no runtime copy; the runtime's edgeq_config.h sized for this model,
    CONFIG_PATH). Raises CodegenError for unsupported models.
    flash_budget_bytes (e.g. the profile's [memory] flash_bytes): keep CONV_2D weights int8 on DSP builds where the
    int16 copies would not fit (conv_int8_ops_for_budget); None: the fast int16 layout everywhere.
    weight_bits: op index (subgraph 0) -> 4, 2 or 1: those CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED ops store
    their weights as packed indices + per-channel int8 values (ops_lowbit; each output channel must have at most
    2^bits distinct int8 weights, see weight_levels), bit-exact with the int8 model."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", prefix):
        raise UsageError(f"prefix {prefix!r} is not a C identifier", hint="use e.g. --prefix kws_model")
    _check_supported(graph)
    from edgeq.codegen.ops_lowbit import check_weight_bits, emit_lowbit

    packed = check_weight_bits(graph, weight_bits)
    packed_bytes: dict[int, int] = {}
    sg = graph.main
    plan = plan_memory(sg)
    ctx = EmitContext(graph, plan.offsets)
    conv_int8 = conv_int8_ops_for_budget(graph, flash_budget_bytes, packed)
    ctx.conv_int8_ops = frozenset(conv_int8)  # read by the CONV_2D emitter (ops_core)
    for op in sg.operators:
        ctx.begin_op(op)
        if op.index in packed:
            packed_bytes[op.index] = emit_lowbit(ctx, op, packed[op.index])
        else:
            emitter_for_op(sg, op)(ctx, op)
    ctx.op = None

    io = [sg.tensors[i] for i in (*sg.inputs, *sg.outputs)]
    io_types = {t.dtype for t in io}
    if io_types == {"int8"}:
        elem, suffix = "int8_t", ""
    elif io_types == {"float32"}:
        elem, suffix = "float", "_f32"
    elif io_types == {"int16"}:
        elem, suffix = "int16_t", "_s16"  # int16x8 models with integer I/O
    else:
        raise CodegenError(f"model I/O types {sorted(io_types)} are not supported (all int8, int16 or float32)",
                           hint="convert with int8 (or float32) inputs and outputs: `edgeq convert --mode int8`")

    up = prefix.upper()
    n_ops = len(sg.operators)
    h: list[str] = []
    h.append("/* Generated by edgeq codegen; do not edit. API: docs/codegen-api.md")
    desc = sanitize_comment(graph.description, 60)
    h.append(f" * model sha256 {graph.sha256[:16]}..., {n_ops} ops, {desc} */")
    h.append(f"#ifndef {up}_H")
    h.append(f"#define {up}_H")
    h.append("")
    h.append("#include <stdint.h>")
    h.append("")
    h.append("#ifdef __cplusplus")
    h.append('extern "C" {')
    h.append("#endif")
    h.append("")
    h.append(f"#define {up}_NUM_INPUTS   {len(sg.inputs)}")
    h.append(f"#define {up}_NUM_OUTPUTS  {len(sg.outputs)}")
    h.append(f"#define {up}_ARENA_SIZE   {plan.arena_bytes}")
    h.append(f"#define {up}_NUM_OPS      {n_ops}")
    if suffix:
        h.append(f"#define {up}_IO_FLOAT     1")
    for kind, idxs in (("INPUT", sg.inputs), ("OUTPUT", sg.outputs)):
        for k, ti in enumerate(idxs):
            t = sg.tensors[ti]
            scale, zp = (t.quant.scale[0], t.quant.zero_point[0]) if t.quant and t.quant.scale else (1.0, 0)
            p = f"{up}_{kind}{k}"
            h.append(f"/* {kind.lower()} {k}: {sanitize_comment(t.name, 60)} */")
            h.append(f"#define {p}_SIZE  {t.size_bytes}")
            h.append(f"#define {p}_SCALE {_float_literal(scale)}")
            h.append(f"#define {p}_ZERO_POINT ({zp})")
            h.append(f"#define {p}_DIMS  {{{', '.join(str(d) for d in t.shape)}}}")
            h.append(f"#define {p}_RANK  {len(t.shape)}")
    h.append("")
    h.append("/* Runs the model once; returns 0 on success. inputs[k]/outputs[k] point to caller buffers of")
    h.append(f" * {up}_INPUTk_SIZE / {up}_OUTPUTk_SIZE bytes. Not reentrant (one static arena). */")
    fn = f"{prefix}_invoke{suffix}"
    h.append(f"int {fn}(const {elem} *const inputs[], {elem} *const outputs[]);")
    if len(sg.inputs) == 1 and len(sg.outputs) == 1:
        h.append("")
        h.append(f"static inline int {prefix}_run{suffix}(const {elem} *in, {elem} *out)")
        h.append("{")
        h.append(f"    const {elem} *const inputs[1] = {{in}};")
        h.append(f"    {elem} *const outputs[1] = {{out}};")
        h.append(f"    return {fn}(inputs, outputs);")
        h.append("}")
    h.append("")
    h.append("#ifdef __cplusplus")
    h.append("}")
    h.append("#endif")
    h.append("")
    h.append(f"#endif /* {up}_H */")

    c: list[str] = []
    c.append("/* Generated by edgeq codegen; do not edit. One static arena, weights in flash, one kernel")
    c.append(" * call per op. Compile with -I<this dir> -I<this dir>/edgeq_runtime/include. */")
    c.append("#include <stddef.h>")
    c.append("#include <stdint.h>")
    c.append("")
    c.append(f'#include "{prefix}.h"')
    for inc in sorted(ctx.includes):
        c.append(f'#include "{inc}"')
    c.append("")
    c.append("#ifdef EDGEQ_PROFILE")
    c.append("void edgeq_profile_op(int op_index);")
    c.append("#define EDGEQ_PROFILE_OP(i) edgeq_profile_op(i)")
    c.append("#else")
    c.append("#define EDGEQ_PROFILE_OP(i) ((void)0)")
    c.append("#endif")
    c.append("")
    c.append(f"/* {plan.arena_bytes} bytes; peak live activations incl. model I/O: "
             f"{plan.min_activation_bytes} */")
    c.append(f"static uint8_t edgeq_arena[{max(plan.arena_bytes, 16)}] EDGEQ_ALIGNED(16);")
    c.append("")
    c.extend(d + "\n" for d in ctx.definitions)
    c.append(f"int {fn}(const {elem} *const inputs[], {elem} *const outputs[])")
    c.append("{")
    c.append("    (void)inputs;")
    c.append("    (void)outputs;")
    c.append("    (void)edgeq_arena;")
    for opc in ctx.ops:
        c.append(f"    /* {sanitize_comment(opc.comment, 200)} */")
        c.append(f"    EDGEQ_PROFILE_OP({opc.index});")
        for s in opc.statements:
            c.append(f"    {s}")
    c.append(f"    EDGEQ_PROFILE_OP({n_ops});")
    c.append("    return 0;")
    c.append("}")

    summaries = []
    for op in sg.operators:
        out_t = sg.tensors[op.outputs[0]] if op.outputs else None
        consts = [i for i in op.inputs if i >= 0 and sg.tensors[i].is_constant]
        if op.index in packed:  # the packed weights (indices + tables) in place of the int8 weight tensor
            consts = [i for i in consts if i != op.inputs[1]]
        wbytes = sum(len(sg.tensors[i].data) for i in consts) + packed_bytes.get(op.index, 0)
        summaries.append(OpSummary(op.index, op.opcode, _macs(sg, op), wbytes,
                                   plan.offsets.get(op.outputs[0]) if op.outputs else None,
                                   out_t.size_bytes if out_t else 0, packed.get(op.index, 8)))
    files = {f"{prefix}.h": "\n".join(h) + "\n", f"{prefix}.c": "\n".join(c) + "\n"}
    scratch = scratch_sizes(files[f"{prefix}.c"], packed=bool(packed))
    files[CONFIG_PATH] = config_header(scratch, prefix)
    return GeneratedSources(files, plan, tuple(summaries), conv_int8, scratch)


def runtime_files() -> dict[str, bytes]:
    """The C runtime shipped next to the model: relative path -> bytes (all edgeq_* headers/sources)."""
    out: dict[str, bytes] = {}
    for sub, pattern in (("include", "edgeq_*.h"), ("src", "edgeq_*.c")):
        for p in sorted((RUNTIME_DIR / sub).glob(pattern)):
            out[f"edgeq_runtime/{sub}/{p.name}"] = p.read_bytes()
    return out


def generate(graph: Graph, out_dir: str | Path, *, prefix: str = "edgeq_model",
             flash_budget_bytes: int | None = None, weight_bits: Mapping[int, int] | None = None) -> CodegenResult:
    """Write `<prefix>.h`, `<prefix>.c` and `edgeq_runtime/` into out_dir; return sizes and per-op figures.
    flash_budget_bytes, weight_bits: see render()."""
    src = render(graph, prefix=prefix, flash_budget_bytes=flash_budget_bytes, weight_bits=weight_bits)
    out = Path(out_dir)
    written: list[Path] = []
    for rel, text in src.files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("ascii"))
        written.append(p)
    for rel, data in runtime_files().items():
        if rel in src.files:  # edgeq_config.h: this model's sizes in place of the defaults
            continue
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        written.append(p)
    return CodegenResult(
        files=tuple(written),
        arena_bytes=src.plan.arena_bytes,
        ops=src.ops,
        total_macs=sum(o.macs for o in src.ops),
        min_activation_bytes=src.plan.min_activation_bytes,
        weight_bytes=sum(o.weight_bytes for o in src.ops),
        conv_int8_weight_ops=src.conv_int8_ops,
        flash_budget_bytes=flash_budget_bytes,
        scratch=src.scratch,
    )


def generate_to_dir(model: str | Path | bytes | Graph, out_dir: str | Path, *,
                    prefix: str = "edgeq_model", flash_budget_bytes: int | None = None,
                    weight_bits: Mapping[int, int] | None = None) -> CodegenResult:
    """Like generate(), but takes a .tflite path (or its bytes, or a parsed Graph)."""
    from edgeq import graph as graph_mod

    if isinstance(model, Graph):
        g = model
    elif isinstance(model, (bytes, bytearray)):
        g = graph_mod.parse(bytes(model))
    else:
        g = graph_mod.load(model)
    return generate(g, out_dir, prefix=prefix, flash_budget_bytes=flash_budget_bytes, weight_bits=weight_bits)


def weight_levels(graph: Graph, op_index: int) -> int:
    """The most distinct int8 weight values any output channel of op `op_index` (subgraph 0, a CONV_2D,
    DEPTHWISE_CONV_2D or FULLY_CONNECTED with constant int8 weights) has: it fits weight_bits b when <= 2^b."""
    from edgeq.codegen.ops_lowbit import weight_levels as levels

    return levels(graph, op_index)


__all__ = ["CodegenResult", "OpSummary", "GeneratedSources", "generate", "generate_to_dir", "render",
           "runtime_files", "weight_levels", "CTYPES"]
