"""Check stage: rule functions over a parsed Graph and a Target profile, collecting every violation.

Each rule is a generator of Findings registered with @rule. A rule's docstring is its user-facing statement
(shown as the finding's headline and in `edgeq targets docs`); the finding adds the specifics (op index, op,
tensor) and the fix. Severity "error" fails the check (exit code 3); "warning" is reported (e.g. an op a
delegate cannot take falls back to the CPU).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from edgeq.codegen.size import GENERATED_C_RUNTIME_BYTES, generated_c_model_bytes  # noqa: F401 - re-exported
from edgeq.errors import EdgeqError
from edgeq.graph import (
    Graph,
    Operator,
    Subgraph,
    Tensor,
    _strip_suffix,  # noqa: F401 - re-exported (quality tools match layer names with it)
    op_layer,
)
from edgeq.target import Target


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "error" | "warning"
    message: str
    hint: str = ""
    op_index: int | None = None
    opcode: str | None = None
    tensor: str | None = None
    layer: str | None = None  # the Keras layer the op came from (from the TFLite tensor names), when known

    def __str__(self) -> str:
        where = f"op #{self.op_index} {self.opcode}: " if self.op_index is not None else ""
        return f"[{self.severity}] {where}{self.message}" + (f" -> {self.hint}" if self.hint else "")


@dataclass(frozen=True)
class CheckContext:
    graph: Graph
    target: Target
    mode: str | None = None  # quantization mode the model was converted with, when known
    arena_bytes: int | None = None  # measured/planned activation arena, when known
    code_bytes: int | None = None  # runtime code, when known (else the profile's runtime_code_bytes)
    generated_c: bool | None = None  # edgeq's generated C ships (None: when the profile exports "c")
    weight_bits: Mapping[int, int] | None = None  # ops whose weights the generated C packs (convert --weights)


@dataclass(frozen=True)
class FlashEstimate:
    """Flash for the model and the runtime that runs it; `runtime` says which one the figure assumes."""

    total_bytes: int
    model_bytes: int  # the model as that runtime stores it (weights, requantization data / the .tflite)
    runtime_bytes: int  # runtime code before the model
    runtime: str  # "edgeq generated C" | "TFLM interpreter" | the profile's runtime name
    method: str

    def describe(self) -> str:
        return f"{self.runtime}: model {self.model_bytes:,} B + runtime code {self.runtime_bytes:,} B ({self.method})"


@dataclass(frozen=True)
class CheckResult:
    target: str
    findings: tuple[Finding, ...]
    flash_estimate_bytes: int
    ram_estimate_bytes: int
    ram_estimate_method: str
    # which runtime flash_estimate_bytes assumes, and the alternatives (generated C vs TFLM on Cortex-M)
    flash_estimates: tuple[FlashEstimate, ...] = ()

    @property
    def flash_estimate_method(self) -> str:
        return self.flash_estimates[0].describe() if self.flash_estimates else ""

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def passed(self) -> bool:
        return not self.errors


Rule = Callable[[CheckContext], Iterator[Finding]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _doc(fn) -> str:
    return inspect.getdoc(fn).splitlines()[0]


def _finding(fn, severity: str, detail: str, hint: str = "", op: Operator | None = None,
             tensor: Tensor | None = None) -> Finding:
    return Finding(fn.__name__, severity, f"{_doc(fn)}: {detail}", hint, op.index if op else None,
                   op.opcode if op else None, tensor.name if tensor else None)


def _with_layer(f: Finding, g: Graph, layer_names: Sequence[str]) -> Finding:
    if f.op_index is None or f.layer is not None:
        return f
    sg = next((s for s in g.subgraphs if f.op_index < len(s.operators)
               and s.operators[f.op_index].opcode == f.opcode), None)
    if sg is None:
        return f
    ops = [sg.operators[f.op_index]]
    if f.rule == "op_supported":  # one finding per opcode: name every layer that produced it
        ops += [o for o in sg.operators if o.opcode == f.opcode and o.index != f.op_index]
    layers = list(dict.fromkeys(x for x in (op_layer(sg, o, layer_names) for o in ops) if x))
    if not layers:
        return f
    label = f"Keras layer {layers[0]!r}" if len(layers) == 1 else \
        "Keras layers " + ", ".join(repr(x) for x in layers[:5]) + (" ..." if len(layers) > 5 else "")
    return dataclasses.replace(f, layer=layers[0], message=f"{f.message} ({label})")


def _ops(g: Graph) -> Iterator[tuple[Subgraph, Operator]]:
    for sg in g.subgraphs:
        for op in sg.operators:
            yield sg, op


FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")
EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")


# Ops Keras 3 produces that TFLM lacks, with the layer-level fix.
_UNSUPPORTED_HINTS = {
    "TILE": "Keras 3 lowers UpSampling1D/UpSampling2D (nearest) and RepeatVector to TILE: `edgeq convert` traces "
            "them as RESIZE_NEAREST_NEIGHBOR / CONCATENATION for MCU targets unless --no-rewrite is given; for "
            "keras.ops.tile/repeat, use those layers or Concatenate",
    "GELU": "tflite-micro has no GELU kernel: use activation='relu', 'swish' or 'hard_swish' and retrain/fine-tune",
}


@rule
def op_supported(ctx: CheckContext) -> Iterator[Finding]:
    """Every op must have a kernel in the target runtime"""
    t = ctx.target
    seen: set[str] = set()
    for _, op in _ops(ctx.graph):
        if op.opcode in t.ops or op.opcode in seen:
            continue
        seen.add(op.opcode)
        n = sum(1 for _, o in _ops(ctx.graph) if o.opcode == op.opcode)
        if t.runtime.cpu_fallback:
            yield _finding(op_supported, "warning",
                           f"{op.opcode} ({n}x) is not run by the {t.runtime.delegate} delegate and falls back to "
                           "the CPU", "replace the layer with a supported one to keep the whole graph on the "
                           "accelerator (see `edgeq targets show " + t.name + "`)", op)
        else:
            yield _finding(op_supported, "error", f"{op.opcode} ({n}x) is not supported by {t.runtime.name} on "
                           f"{t.name}", _UNSUPPORTED_HINTS.get(op.opcode, "replace the layer with a supported op "
                           f"(see `edgeq targets show {t.name}`) or choose another target"), op)


@rule
def op_version(ctx: CheckContext) -> Iterator[Finding]:
    """Op versions must not be newer than the runtime supports"""
    t = ctx.target
    for _, op in _ops(ctx.graph):
        maxv = t.ops.get(op.opcode)
        if maxv and op.version > maxv:
            sev = "warning" if t.runtime.cpu_fallback else "error"
            yield _finding(op_version, sev, f"{op.opcode} is version {op.version}, {t.name} takes <= {maxv}"
                           + (" (falls back to the CPU)" if sev == "warning" else ""),
                           "newer versions come from new features (e.g. int16 or per-channel variants); "
                           "convert with a mode the target lists, or update the runtime", op)


def _activations(sg: Subgraph, op: Operator) -> list[Tensor]:
    return [t for t in sg.op_inputs(op) + sg.op_outputs(op) if t is not None and not t.is_constant]


@rule
def integer_only(ctx: CheckContext) -> Iterator[Finding]:
    """Integer-only targets cannot run float or hybrid ops"""
    t = ctx.target
    if not t.quantization.integer_only:
        return
    for sg, op in _ops(ctx.graph):
        acts = _activations(sg, op)
        float_acts = [x for x in acts if x.dtype in FLOAT_TYPES]
        int_weights = [x for x in sg.op_inputs(op) if x is not None and x.is_constant and x.dtype in ("int8", "int4")]
        if op.opcode in EDGE_OPS:
            # QUANTIZE float->int8 at a model input / DEQUANTIZE at an output: float I/O, which TFLM can run.
            edge = (any(i in sg.inputs for i in op.inputs) or any(o in sg.outputs for o in op.outputs))
            if float_acts and edge:
                continue
        if float_acts and int_weights:
            yield _finding(integer_only, "error", f"{op.opcode} is a hybrid op (float activations "
                           f"{float_acts[0].name!r}, int8 weights)", "convert with --mode int8 and a "
                           "representative dataset (--calib) for full-integer quantization", op, float_acts[0])
        elif float_acts:
            yield _finding(integer_only, "error", f"{op.opcode} computes in {float_acts[0].dtype} "
                           f"(tensor {float_acts[0].name!r})", "convert with --mode int8 and --calib; if the "
                           "converter leaves this op in float, it has no int8 kernel: replace the layer",
                           op, float_acts[0])


@rule
def tensor_types(ctx: CheckContext) -> Iterator[Finding]:
    """Tensors must use bit widths the target runs"""
    t = ctx.target
    q = t.quantization
    int16_acts = False
    for sg, op in _ops(ctx.graph):
        for x in _activations(sg, op):
            if x.dtype == "int16":
                int16_acts = True
                if "int16x8" not in q.modes:
                    yield _finding(tensor_types, "error", f"tensor {x.name!r} is int16 (int16x8 mode) but "
                                   f"{t.name} allows {', '.join(q.modes)}", "convert with --mode int8", op, x)
                    return
                if q.int16x8_ops and op.opcode not in q.int16x8_ops and op.opcode in t.ops:
                    yield _finding(tensor_types, "error" if not t.runtime.cpu_fallback else "warning",
                                   f"{op.opcode} has no int16x8 kernel on {t.name}", "use --mode int8", op, x)
                break
            if x.dtype in ("float16", "float64", "complex64", "string", "int4") and x.dtype not in q.float16_ops:
                if x.dtype == "float16" and "float16" in q.modes:
                    continue
                yield _finding(tensor_types, "error", f"tensor {x.name!r} is {x.dtype}", "convert with a mode "
                               f"{t.name} allows: {', '.join(q.modes)}", op, x)
    del int16_acts
    # model I/O dtype vs profile
    if t.is_mcu:
        for x in (*ctx.graph.inputs, *ctx.graph.outputs):
            if x.dtype in FLOAT_TYPES and q.io_dtype != x.dtype:
                yield _finding(tensor_types, "warning", f"model I/O tensor {x.name!r} is {x.dtype}; {t.name} "
                               f"prefers {q.io_dtype} I/O (saves the QUANTIZE/DEQUANTIZE ops and float code)",
                               f"convert with --io-dtype {q.io_dtype}", None, x)


@rule
def per_channel_policy(ctx: CheckContext) -> Iterator[Finding]:
    """Weights must follow the target's per-channel / per-tensor policy"""
    policy = ctx.target.quantization.per_channel
    if policy == "allowed":
        return
    for sg, op in _ops(ctx.graph):
        if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
            continue
        w = sg.op_inputs(op)[1] if len(op.inputs) > 1 else None
        if w is None or w.quant is None or w.dtype not in ("int8", "int4"):
            continue
        if policy == "forbidden" and w.quant.per_channel:
            yield _finding(per_channel_policy, "error", f"weights {w.name!r} are per-channel "
                           f"({len(w.quant.scale)} scales); {ctx.target.name} runs per-tensor only",
                           "convert with --per-tensor", op, w)
        if policy == "required" and not w.quant.per_channel and w.shape and w.shape[0] > 1:
            yield _finding(per_channel_policy, "warning", f"weights {w.name!r} are per-tensor; per-channel is "
                           "more accurate and supported here", "convert without --per-tensor", op, w)


@rule
def tensor_rank(ctx: CheckContext) -> Iterator[Finding]:
    """Tensor rank must not exceed what the runtime supports"""
    t = ctx.target
    for sg, op in _ops(ctx.graph):
        for x in _activations(sg, op):
            if len(x.shape) > t.runtime.max_tensor_rank:
                yield _finding(tensor_rank, "warning" if t.runtime.cpu_fallback else "error",
                               f"tensor {x.name!r} has rank {len(x.shape)} > {t.runtime.max_tensor_rank}",
                               "reshape to fewer dimensions in the model", op, x)
                break


@rule
def static_shapes(ctx: CheckContext) -> Iterator[Finding]:
    """Microcontroller runtimes need static tensor shapes"""
    if not ctx.target.is_mcu:
        return
    for sg in ctx.graph.subgraphs:
        for x in sg.tensors:
            if x.shape_signature and any(d < 0 for d in x.shape_signature[1:]):
                yield _finding(static_shapes, "error", f"tensor {x.name!r} has a dynamic shape {x.shape_signature}",
                               "convert with `edgeq convert` (fixes batch to 1) and fixed input shapes", None, x)
                return


def activation_peak_bytes(sg: Subgraph) -> int:
    """Lower bound of the activation memory: the largest sum of simultaneously live tensors at any op."""
    last_use: dict[int, int] = {}
    first_def: dict[int, int] = {}
    for i in sg.inputs:
        first_def[i] = 0
    for k, op in enumerate(sg.operators):
        for i in op.inputs:
            if i >= 0:
                last_use[i] = k
        for o in op.outputs:
            first_def.setdefault(o, k)
    for o in sg.outputs:
        last_use[o] = len(sg.operators)
    peak = 0
    for k in range(len(sg.operators)):
        live = 0
        for ti, start in first_def.items():
            t = sg.tensors[ti]
            if t.is_constant:
                continue
            if start <= k <= last_use.get(ti, start):
                live += t.size_bytes
        peak = max(peak, live)
    return peak


@rule
def flash_budget(ctx: CheckContext) -> Iterator[Finding]:
    """Model and runtime code must fit the flash budget"""
    t = ctx.target
    if not t.memory.flash_bytes:
        return
    shipped, *others = flash_estimates(ctx)
    if shipped.total_bytes > t.memory.flash_bytes:
        alt = "".join(f"; with the {o.runtime} instead: ~{o.total_bytes:,} B" for o in others)
        yield _finding(flash_budget, "error", f"needs ~{shipped.total_bytes:,} B ({shipped.describe()}), budget "
                       f"{t.memory.flash_bytes:,} B: {shipped.total_bytes - t.memory.flash_bytes:,} B over{alt}",
                       "shrink the model (fewer filters, int8 weights) or pick a target with more flash")


@rule
def ram_budget(ctx: CheckContext) -> Iterator[Finding]:
    """Activations (arena) must fit the RAM budget"""
    t = ctx.target
    if not t.memory.ram_bytes:
        return
    need, method = _ram(ctx)
    if need > t.memory.ram_bytes:
        yield _finding(ram_budget, "error", f"arena {need:,} B ({method}), budget {t.memory.ram_bytes:,} B: "
                       f"{need - t.memory.ram_bytes:,} B over", "reduce the input resolution or the widest "
                       "layers' channels, or pick a target with more RAM")


def flash_estimates(ctx: CheckContext) -> tuple[FlashEstimate, ...]:
    """The shipped runtime's figure first. A profile that exports C ships edgeq's generated C (no interpreter);
    the TFLM figure (the .tflite + the interpreter and kernels) follows when the profile also exports TFLM."""
    t = ctx.target
    tflm_code = ctx.code_bytes if ctx.code_bytes is not None else t.memory.runtime_code_bytes
    interp = FlashEstimate(ctx.graph.size_bytes + tflm_code, ctx.graph.size_bytes, tflm_code,
                           "TFLM interpreter" if t.runtime.name == "tflm" else f"{t.runtime.name} runtime",
                           "the .tflite + " + ("measured runtime code" if ctx.code_bytes is not None else
                                               "the profile's [memory] runtime_code_bytes"))
    if not _ships_c(ctx):
        return (interp,)
    dsp = "dsp" in t.cpu.features and "mve" not in t.cpu.features
    model_bytes = generated_c_model_bytes(ctx.graph, dsp=dsp, weight_bits=ctx.weight_bits)
    rt_bytes, rt_how = generated_c_runtime_bytes(ctx.graph, t, ctx.weight_bits)
    gen = FlashEstimate(model_bytes + rt_bytes, model_bytes, rt_bytes, "edgeq generated C",
                        f"model estimated from the graph, runtime code {rt_how}; `edgeq bench` measures both from "
                        "the linker map")
    return (gen, interp) if "tflm" in t.export_formats else (gen,)


def generated_c_runtime_bytes(g: Graph, t: Target,
                              weight_bits: Mapping[int, int] | None = None) -> tuple[int, str]:
    """(bytes, how) of edgeq's C runtime in a firmware for this model on this core: measured (the kernels the
    generated C names, linked with --gc-sections from runtime objects compiled with the profile's gcc flags,
    edgeq.harness.cortexm.build.runtime_flash_bytes) when arm-none-eabi-gcc is installed and the model
    generates; else GENERATED_C_RUNTIME_BYTES, labelled estimated."""
    why = "arm-none-eabi-gcc not installed"
    if t.is_mcu:
        try:
            from edgeq.harness.cortexm.build import board_for, runtime_flash_bytes

            flags = list(t.cpu.gcc_flags) or [f"-mcpu={t.cpu.core}", "-mthumb"]
            try:
                board = board_for(t, "qemu")
            except EdgeqError:
                board = ""
            from edgeq.codegen import CONFIG_PATH

            files = _rendered(g, weight_bits).files
            src, config_h = files.get("edgeq_model.c", ""), files.get(CONFIG_PATH, "")
            n = runtime_flash_bytes(src, flags, board, config_h)
            if n is not None:
                return n, "measured (this model's kernels linked with arm-none-eabi-gcc --gc-sections)"
        except (EdgeqError, ImportError, OSError) as e:
            why = f"not measured: {str(e).splitlines()[0][:120]}"
    return GENERATED_C_RUNTIME_BYTES, f"estimated (edgeq's documented figure; {why})"


def _ships_c(ctx: CheckContext) -> bool:
    t = ctx.target
    return t.is_mcu and "c" in t.export_formats if ctx.generated_c is None else ctx.generated_c


_RENDERED: dict[tuple, object] = {}


def _rendered(g: Graph, weight_bits: Mapping[int, int] | None):
    """codegen.render of the model (the flash and the RAM figures both read it), kept for the last model."""
    from edgeq.codegen import render

    key = (id(g), g.sha256, tuple(sorted((weight_bits or {}).items())))
    if key not in _RENDERED:
        _RENDERED.clear()
        _RENDERED[key] = render(g, weight_bits=weight_bits or None)
    return _RENDERED[key]


def _scratch_stack(ctx: CheckContext) -> int:
    """The largest stack scratch the generated C's kernels allocate for this model on this core (sized per model,
    edgeq/codegen/scratch.py); 0 when the model does not generate."""
    f = ctx.target.cpu.features
    build = "mve" if "mve" in f else "dsp" if "dsp" in f else "plain"
    try:
        return _rendered(ctx.graph, ctx.weight_bits).scratch.stack_bytes(build)
    except (EdgeqError, ImportError):
        return 0


def _ram(ctx: CheckContext) -> tuple[int, str]:
    """RAM of the runtime that ships: edgeq's generated C (its planned arena + the model's I/O buffers, which the
    caller owns + its kernels' largest stack scratch) when the profile exports C, else TFLM's arena (measured when
    known)."""
    if _ships_c(ctx):
        from edgeq.codegen.plan import plan_memory

        try:
            plan = plan_memory(ctx.graph.main)
        except Exception:  # noqa: BLE001 - a graph the planner refuses: the generator will say why; TFLM's figure
            plan = None
        if plan is not None:
            sg = ctx.graph.main
            io = sum(sg.tensors[i].size_bytes for i in (*sg.inputs, *sg.outputs))
            scratch = _scratch_stack(ctx)
            return plan.arena_bytes + io + scratch, (
                f"edgeq generated C: planned arena + input/output buffers + the kernels' largest stack scratch "
                f"({scratch:,} B, sized for this model; `edgeq bench` measures the whole stack)")
    if ctx.arena_bytes is not None:
        return ctx.arena_bytes, "TFLM arena, measured"
    return activation_peak_bytes(ctx.graph.main), "lower bound from tensor lifetimes"


def check(graph: Graph, target: Target, *, mode: str | None = None, arena_bytes: int | None = None,
          code_bytes: int | None = None, generated_c: bool | None = None,
          layer_names: Sequence[str] = (), weight_bits: Mapping[int, int] | None = None) -> CheckResult:
    """Run every rule; never stops at the first violation. generated_c=False: only TFLM ships (`--no-codegen`).
    Every finding about an op names the Keras layer it came from (layer_names: the Keras model's, when known).
    weight_bits: the ops whose weights the generated C packs (`edgeq convert --weights`), for its flash figure."""
    ctx = CheckContext(graph, target, mode, arena_bytes, code_bytes, generated_c, weight_bits)
    findings: list[Finding] = []
    for r in RULES:
        findings.extend(_with_layer(f, graph, layer_names) for f in r(ctx))
    ram, method = _ram(ctx)
    flash = flash_estimates(ctx)
    return CheckResult(target.name, tuple(findings), flash[0].total_bytes, ram, method, flash)


def rules_doc() -> list[tuple[str, str]]:
    return [(r.__name__, _doc(r)) for r in RULES]
