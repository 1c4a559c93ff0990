"""Automatic quantization configuration under an accuracy budget (between the quantize and evaluate stages).

`search()` tries, in cost order, only the configurations the target profile permits, evaluates each on the
evaluation data with the runtime that ships for the target (tflite-micro on Cortex-M, LiteRT otherwise), and
returns the first (cheapest) one that meets the budget:

1. int8, per-channel weights (per-tensor where the profile forbids per-channel), the default calibration
   (the first 500 calibration samples);
2. other calibration settings: every calibration sample, then the converter's legacy (pre-MLIR) quantizer
   whose range handling differs;
3. mixed int8/int16: int8 with the Keras layers that add most of the int8 error (top 1, 2, then 4, ranked by
   `edgeq.quality.layerwise` on the int8 model), each with the layers producing its inputs, kept in int16 (digits
   CNN with one wide-range channel, tests/test_search_mixed.py: int8 3.1 dB; conv2d + depthwise_conv2d +
   classifier in int16 33.5 dB at +17 % est. cycles; int16x8 34.8 dB at +167 %) — derived from one int16x8 conversion by
   `edgeq.quality.mixed.mixed_from_int16x8` (no conversion per candidate; the layers are found in the int16x8
   model by `check.op_layer`, as tensor names differ between conversions); only where "int16x8" is in the modes
   and the ops kept in int16 are in `int16x8_ops`. The candidate's name says which layers stay int16 and what
   that costs against int8 in estimated cycles and arena bytes;
4. int16x8 (16-bit activations, 8-bit weights) — only if "int16x8" is in `target.quantization.modes` and every
   op of the model (so in particular its most sensitive layers) is in `target.quantization.int16x8_ops`;
5. float fallback for the 1, 2, then 3 most sensitive ops (ranked by `edgeq.quality.layerwise`) — only on targets that
   are not `integer_only`;
6. quantization-aware training (`edgeq.quality.qat`, with the model's own loss), then int8 — only when training
   data is given; the evaluation data is its held-out set, and it is never chosen when its int8 model scores
   below the plain int8 candidate (1.) there.

Per-layer precision is done with TFLite's own machinery: float fallback via the QuantizationDebugger's
`denylisted_nodes` (selective quantization; int8 only). Per-layer int16 is edgeq's own rewrite of the int16x8
model (3.): the TF 2.21 converter quantizes a whole model to one activation width, and ai-edge-quantizer (which
can mix int8 and int16 per op on a float .tflite) was measured *worse* than the TF converter here (digits CNN:
output SQNR 18 dB for its all-int8 recipe and 21 dB for all-int16 against 32.5 dB for the TF converter's int8).

Cost per candidate: MACs per op from the graph, weighted by an estimated cycles-per-MAC for the op's precision
on the target family (a mixed model's int8 ops at the int8 rate, its int16 ops and boundary QUANTIZEs as
such), the .tflite size and the generated C model's activation arena (`codegen.plan`); latency in ms = cycles /
clock (an estimate, labelled as such).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import numpy as np

from edgeq.errors import CheckFailed, DataError, UsageError

DEFAULT_CALIB_SAMPLES = 500
# Estimated cycles per MAC by precision: Cortex-M from TFLM+CMSIS-NN's measured 2.2-2.6 instructions/MAC for
# convolutions (DESIGN.md section 7) x ~1.25 cycles/instruction; int16x8 runs reference kernels (no SIMD path),
# float on an MCU is software/FPU scalar. Linux/Android: XNNPACK NEON int8 vs fp32 throughput, rough ratios.
_CYCLES_PER_MAC = {
    "cortex-m": {"int8": 3.0, "int16": 8.0, "float32": 12.0},
    "linux": {"int8": 0.25, "int16": 1.0, "float32": 0.5},
    "android": {"int8": 0.25, "int16": 1.0, "float32": 0.5},
}


@dataclass(frozen=True)
class Config:
    mode: str  # "int8" | "int16x8" | "mixed" (int8, the ops of `int16_layers` in int16)
    per_channel: bool = True
    calib_samples: int | None = DEFAULT_CALIB_SAMPLES  # None = all
    legacy_quantizer: bool = False
    float_ops: tuple[str, ...] = ()  # output tensor names of ops kept in float
    qat_epochs: int = 0
    int16_layers: tuple[str, ...] = ()  # mode "mixed": Keras layers whose ops keep int16 activations


@dataclass(frozen=True)
class Candidate:
    name: str
    config: Config
    accuracy: float | None  # quantized accuracy (labels) or None
    accuracy_drop_pp: float | None
    sqnr_db: float | None  # first output vs float
    tflite_bytes: int
    macs: int
    estimated_latency_ms: float | None  # MACs x cycles/MAC by precision / clock (estimate)
    cost: float  # estimated cycles (MAC-weighted)
    met_budget: bool
    error: str | None = None  # conversion/evaluation failure
    arena_bytes: int | None = None  # activation arena of the generated C model (codegen.plan), None if not planned


@dataclass(frozen=True)
class SearchResult:
    candidates: tuple[Candidate, ...]
    best: Candidate | None  # the cheapest candidate that met the budget (None only on a CheckFailed's result)
    tflite: bytes = field(repr=False)  # the chosen model (on failure: the best one tried)
    float_accuracy: float | None
    skipped: tuple[str, ...] = ()  # configurations not tried, and why
    sensitive_ops: tuple[str, ...] = ()  # layerwise ranking used for the float-fallback candidates


def op_macs(g) -> list[tuple[int, str, int, str]]:
    """(op index, opcode, MACs, precision) per op; MACs=output elements for ops without weights."""
    out = []
    for op in g.operators:
        ts = g.main.tensors
        o = ts[op.outputs[0]] if op.outputs else None
        n_out = int(np.prod(o.shape)) if o is not None and o.shape else 1
        w = ts[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
        macs = n_out
        if op.opcode == "CONV_2D" and w is not None and len(w.shape) == 4:
            macs = n_out * w.shape[1] * w.shape[2] * w.shape[3]
        elif op.opcode == "DEPTHWISE_CONV_2D" and w is not None and len(w.shape) == 4:
            macs = n_out * w.shape[1] * w.shape[2]
        elif op.opcode == "FULLY_CONNECTED" and w is not None and len(w.shape) == 2:
            macs = n_out * w.shape[1]
        elif op.opcode in ("BATCH_MATMUL",) and w is not None and len(w.shape) >= 2:
            macs = n_out * w.shape[-2]
        dt = o.dtype if o is not None else "int8"
        prec = "int16" if dt == "int16" else "float32" if dt.startswith("float") else "int8"
        out.append((op.index, op.opcode, int(macs), prec))
    return out


def estimate_cost(g, target) -> tuple[int, float, float | None]:
    """(MACs, estimated cycles, estimated latency in ms or None without a clock) of a parsed graph."""
    table = _CYCLES_PER_MAC.get(target.family, _CYCLES_PER_MAC["linux"])
    rows = op_macs(g)
    macs = sum(r[2] for r in rows)
    cycles = sum(r[2] * table[r[3]] for r in rows)
    clock = getattr(target.cpu, "clock_hz", 0) or 0
    return macs, cycles, (1000.0 * cycles / clock if clock else None)


def _convert(model, calib: Sequence[np.ndarray], cfg: Config, io_dtype: str | None) -> bytes:
    """Convert with `cfg`: plain configurations go through `convert.quantize`; the rest need the converter."""
    from edgeq import convert

    arrays = [a[: cfg.calib_samples] if cfg.calib_samples else a for a in calib]
    if not cfg.float_ops and not cfg.legacy_quantizer:
        return convert.quantize(model, cfg.mode, arrays, io_dtype=io_dtype, per_channel=cfg.per_channel)
    tf = convert._import_tf()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert._concrete_function(model)],
                                                           convert._trackable(model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    n = min(len(a) for a in arrays)

    def rep():
        for i in range(n):
            yield [np.asarray(a[i : i + 1], dtype=np.float32) for a in arrays]

    conv.representative_dataset = rep
    if not cfg.per_channel:
        conv._experimental_disable_per_channel = True
    try:
        with convert._quiet():
            if cfg.float_ops:
                # selective quantization: the debugger's denylist keeps these ops in float (float I/O model)
                opts = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(cfg.float_ops))
                dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep, debug_options=opts)
                return dbg.get_nondebug_quantized_model()
            conv.experimental_new_quantizer = False
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if io_dtype in ("int8", "uint8"):
                conv.inference_input_type = conv.inference_output_type = getattr(tf, io_dtype)
            return conv.convert()
    except Exception as e:  # noqa: BLE001 - converter errors vary
        from edgeq.errors import ModelError

        raise ModelError(f"conversion failed for {cfg}: {convert._short(e)}") from None


@dataclass(frozen=True)
class Shared:
    """What every candidate's evaluation needs; a parallel map ships it once per search (edgeq.cluster)."""

    model: object  # edgeq.convert.LoadedModel
    target: object
    calib: object  # edgeq.data.Dataset
    eval: object
    train: object | None
    f_out: list = field(repr=False)  # float outputs on eval.inputs
    names: list
    runtime: str
    metric: str
    io_dtype: str | None
    max_accuracy_drop_pp: float | None
    min_sqnr_db: float | None


@dataclass(frozen=True)
class Job:
    name: str  # a QAT job's final name carries the loss used, known after fine-tuning
    config: Config
    tflite: bytes = field(default=b"", repr=False)  # already built (mixed candidates): evaluated as it is


def arena_bytes(g) -> int | None:
    """The generated C model's activation arena of a parsed graph (None where it cannot be planned)."""
    from edgeq.codegen.plan import plan_memory

    try:
        return int(plan_memory(g.main).arena_bytes)
    except Exception:  # noqa: BLE001 - e.g. control flow: the figure is informative only
        return None


def layer_ops(g, layer_names: Sequence[str]) -> dict[str, list[int]]:
    """Keras layer -> indices of the ops it became in parsed graph `g` (by `check.op_layer`)."""
    from edgeq.check import op_layer

    out: dict[str, list[int]] = {}
    for op in g.main.operators:
        name = op_layer(g.main, op, layer_names)
        if name is not None:
            out.setdefault(name, []).append(op.index)
    return out


def sensitive_layers(model, int8_tflite: bytes, inputs, layer_names: Sequence[str], *,
                     max_samples: int = 64) -> tuple[str, ...]:
    """Keras layers of the int8 model ranked by their ops' share of the output error (`layerwise`), worst first."""
    from edgeq import graph
    from edgeq.check import op_layer
    from edgeq.quality import layerwise

    g = graph.parse(int8_tflite)
    errs = layerwise.layer_errors(model, int8_tflite, inputs, max_samples=max_samples)
    ranked = layerwise.sensitive_ops(errs, len(errs), int8_tflite)
    out: list[str] = []
    for e in ranked:
        name = op_layer(g.main, g.operators[e.op_index], layer_names) or (e.layer or "").split(" (before ")[0]
        if name and name not in out:
            out.append(name)
    return tuple(out)


def with_input_layers(g16, layers: Sequence[str], layer_names: Sequence[str]) -> tuple[str, ...]:
    """`layers` and, after each, the layers that produce its activation inputs (through data-movement ops): an
    op kept in int16 whose input was computed in int8 keeps the int8 error of that input, which is where
    `layerwise` often shows it (a wide-range tensor loses precision where it is quantized, the op reading it
    adds the visible error)."""
    from edgeq.check import op_layer
    from edgeq.quality.mixed import SAME_PARAMS

    sg = g16.main
    producer = {o: op for op in sg.operators for o in op.outputs}
    layer_of = {op.index: op_layer(sg, op, layer_names) for op in sg.operators}
    out: list[str] = []
    for name in layers:
        if name not in out:
            out.append(name)
        todo = [i for op in sg.operators if layer_of[op.index] == name for i in op.inputs
                if i >= 0 and not sg.tensors[i].is_constant]
        seen: set[int] = set()
        while todo:
            t = todo.pop()
            p = producer.get(t)
            if p is None or p.index in seen:
                continue
            seen.add(p.index)
            src = layer_of[p.index]
            if src == name or (src is None and (p.opcode in SAME_PARAMS or p.opcode == "QUANTIZE")):
                todo += [i for i in p.inputs if i >= 0 and not sg.tensors[i].is_constant]
            elif src is not None and src not in out:
                out.append(src)
    return tuple(out)


def mixed_model(model16: bytes, layers: Sequence[str], layer_names: Sequence[str]) -> tuple[bytes, list[int]]:
    """The int8 model with the ops of Keras `layers` kept int16, from the int16x8 conversion: (bytes, the
    int16x8 model's op indices that compute in int8)."""
    from edgeq import graph
    from edgeq.quality import mixed

    by_layer = layer_ops(graph.parse(model16), layer_names)
    keep = sorted({i for name in layers for i in by_layer.get(name, [])})
    return mixed.mixed_from_int16x8(model16, keep)


def evaluate_candidate(shared: Shared, job: Job, say: Callable[[str], None] | None = None) -> tuple[Candidate, bytes]:
    """Convert and evaluate one candidate (fine-tuning first for a QAT one): (Candidate, its .tflite, b"" on
    failure). Never raises for a failing candidate: the error is in Candidate.error. Pure: safe to run in
    another process (the parallel map of `search`)."""
    from edgeq import graph
    from edgeq.quality import evaluate

    say = say or (lambda s: None)
    cfg, name, model = job.config, job.name, shared.model
    if cfg.qat_epochs:
        from edgeq.quality import qat

        try:
            say(f"QAT fine-tuning ({cfg.qat_epochs} epochs)")
            # the model's own loss; the evaluation data is the held-out set
            r = qat.fine_tune(model, shared.train, epochs=cfg.qat_epochs, validation=shared.eval, verify=False,
                              progress=lambda e: say(f"QAT epoch {e.epoch}/{e.epochs}: loss {e.loss:.4g}"))
            model, name = qat.as_loaded(model, r), f"QAT {cfg.qat_epochs} epoch(s) ({r.loss}) + int8"
        except Exception as e:  # noqa: BLE001
            return Candidate("QAT", cfg, None, None, None, 0, 0, None, float("inf"), False,
                             str(e).splitlines()[0][:300]), b""
    say(f"trying {name}")
    try:
        if job.tflite:
            tfl = job.tflite
        elif cfg.mode == "mixed":  # rebuilt from the int16x8 conversion (a Job made without its model)
            from edgeq.convert import keras_layer_names

            m16 = _convert(model, shared.calib.inputs, replace(cfg, mode="int16x8", int16_layers=()), shared.io_dtype)
            tfl = mixed_model(m16, cfg.int16_layers, keras_layer_names(model))[0]
        else:
            tfl = _convert(model, shared.calib.inputs, cfg, shared.io_dtype)
        g = graph.parse(tfl)
        macs, cycles, lat = estimate_cost(g, shared.target)
        rt = shared.runtime
        try:
            q_out = evaluate.run_tflite(tfl, shared.eval.inputs, runtime=rt)
        except Exception:  # noqa: BLE001 - e.g. TFLM lacks a kernel: LiteRT reference kernels instead
            rt = "litert-ref"
            q_out = evaluate.run_tflite(tfl, shared.eval.inputs, runtime=rt)
        ev = evaluate.compare(shared.f_out, q_out, labels=shared.eval.labels, names=shared.names, runtime=rt,
                              metric=shared.metric)
    except Exception as e:  # noqa: BLE001 - a failing candidate is reported, the search goes on
        return Candidate(name, cfg, None, None, None, 0, 0, None, float("inf"), False,
                         str(e).splitlines()[0][:300]), b""
    ok = True
    if shared.max_accuracy_drop_pp is not None:
        ok = ok and ev.accuracy_drop_pp is not None and ev.accuracy_drop_pp <= shared.max_accuracy_drop_pp + 1e-9
    sq = ev.outputs[0].sqnr_db
    if shared.min_sqnr_db is not None:
        ok = ok and sq >= shared.min_sqnr_db
    return Candidate(name, cfg, ev.quant_accuracy, ev.accuracy_drop_pp, sq, len(tfl), macs, lat, cycles, ok,
                     arena_bytes=arena_bytes(g)), tfl


class _Later:
    """The serial map's handle: evaluates when its result is asked for (so a serial search does no extra work)."""

    def __init__(self, shared: Shared, job: Job, say) -> None:
        self.args, self.value = (shared, job, say), None

    def result(self) -> tuple[Candidate, bytes]:
        if self.value is None:
            self.value = evaluate_candidate(*self.args)
        return self.value

    def cancel(self) -> None:
        pass


# A parallel map: (shared, jobs) -> one handle per job, in order, each with .result() -> (Candidate, bytes)
# (blocking) and .cancel(). edgeq.cluster.candidate_map makes one on Ray. Given as `search(map_candidates=...)`
# or set for a block of code with `parallel_candidates(...)` (how `edgeq build --parallel` reaches the search
# inside a deployment's build without passing it through the pipeline).
CandidateMap = Callable[[Shared, Sequence[Job]], Sequence]
_MAP: ContextVar[CandidateMap | None] = ContextVar("edgeq_search_candidate_map", default=None)


@contextmanager
def parallel_candidates(mapper: CandidateMap | None) -> Iterator[None]:
    token = _MAP.set(mapper)
    try:
        yield
    finally:
        _MAP.reset(token)


def search(model, target, calib, eval, *, max_accuracy_drop_pp: float | None = None,  # noqa: A002 - contract name
           min_sqnr_db: float | None = None, train=None, exhaustive: bool = False, qat_epochs: int = 2,
           progress: Callable[[str], None] | None = None, map_candidates: CandidateMap | None = None) -> SearchResult:
    """Find the cheapest permitted configuration meeting the budget; raise CheckFailed when none does.

    model: edgeq.convert.LoadedModel; target: edgeq.target.Target; calib/eval/train: edgeq.data.Dataset.
    The accuracy budget needs labels in `eval` (DataError otherwise). `exhaustive` evaluates every permitted
    candidate (for reports/benchmarks) instead of stopping at the first that meets the budget.
    `map_candidates` (else the one set by `parallel_candidates`) evaluates candidates concurrently: every
    candidate of every stage is queued up front in the serial order, the results are taken in that order with
    the serial rules, and those a serial search would not have reached are cancelled or ignored, so the result
    is the serial one.
    """
    from edgeq import convert, graph
    from edgeq.quality import evaluate, layerwise, mixed

    say = progress or (lambda s: None)
    if max_accuracy_drop_pp is None and min_sqnr_db is None:
        raise UsageError("the search needs a budget", hint="--max-accuracy-drop PP and/or --min-sqnr DB")
    if max_accuracy_drop_pp is not None and eval.labels is None:
        raise DataError(f"{eval.source}: --max-accuracy-drop needs labels in the evaluation data",
                        hint="add labels (key 'y' in the .npz), or use --min-sqnr DB (no labels needed)")
    if eval.labels is not None and len(eval.labels) != len(eval):
        raise DataError(f"{eval.source}: {len(eval.labels)} labels for {len(eval)} samples",
                        hint="labels must have one entry per sample")
    q = target.quantization
    if "int8" not in q.modes:
        raise UsageError(f"{target.name} does not run int8 models (modes: {', '.join(q.modes)})",
                         hint="the budget search explores int8-based configurations")
    per_channel = q.per_channel != "forbidden"
    io_dtype = q.io_dtype
    f_out = convert.predict_float(model, eval.inputs)
    shared = Shared(model, target, calib, eval, train, f_out, [s.name for s in model.outputs],
                    evaluate.runtime_for(target), "accuracy" if max_accuracy_drop_pp is not None else "auto",
                    io_dtype, max_accuracy_drop_pp, min_sqnr_db)
    mapper = map_candidates or _MAP.get()
    memo: dict[Config, bytes] = {}

    def converted(cfg: Config) -> bytes:  # stage preparation converts each configuration once
        if cfg not in memo:
            memo[cfg] = _convert(model, calib.inputs, cfg, io_dtype)
        return memo[cfg]

    plan = [Job("int8 " + ("per-channel" if per_channel else "per-tensor"), Config("int8", per_channel))]
    skipped: list[str] = []
    if len(calib) > DEFAULT_CALIB_SAMPLES:
        plan.append(Job(f"int8, all {len(calib)} calibration samples", Config("int8", per_channel, None)))
    else:
        skipped.append(f"more calibration samples: all {len(calib)} are already used")
    plan.append(Job("int8, legacy quantizer calibration", Config("int8", per_channel, None, legacy_quantizer=True)))

    # the stages, in cost order: each gives (jobs, notes on what it skips, the sensitive-op ranking it used)
    def int16_stage():  # int16x8 (whole model) where the runtime has the kernels for every op
        if "int16x8" not in q.modes:
            return [], [f"int16x8: not in {target.name}'s modes"], None
        try:
            probe = graph.parse(converted(Config("int8", per_channel)))
            ops = sorted({op.opcode for op in probe.operators})
            missing = [o for o in ops if q.int16x8_ops and o not in q.int16x8_ops]
        except Exception as e:  # noqa: BLE001
            missing = [f"(conversion failed: {e})"]
        if missing:
            return [], [f"int16x8: {target.name} has no int16x8 kernels for {', '.join(missing)}"], None
        return [Job("int16x8 (16-bit activations)", Config("int16x8", per_channel))], [], None

    def mixed_stage():  # int8 with the top 1, 2, 4 most sensitive Keras layers in int16, from one int16x8 model
        if "int16x8" not in q.modes:
            return [], [f"mixed int8/int16: int16x8 is not in {target.name}'s modes"], None
        names = convert.keras_layer_names(model)
        if not names:
            return [], ["mixed int8/int16: needs the Keras model (layers are matched by name)"], None
        try:
            base = converted(Config("int8", per_channel))
            m16 = converted(Config("int16x8", per_channel))
            ranked = sensitive_layers(model, base, eval.inputs, names)
            g8, g16 = graph.parse(base), graph.parse(m16)
            by_layer = layer_ops(g16, names)
            free = set(mixed.int16_ops(m16)) & {op.index for op in g16.operators if op.opcode in mixed.DOWNGRADABLE}
            # layers whose ops can be int8 in the mixed model (the others stay int16 anyway)
            ranked = [n for n in ranked if set(by_layer.get(n, ())) & free]
        except Exception as e:  # noqa: BLE001
            return [], [f"mixed int8/int16: per-layer ranking failed ({str(e).splitlines()[0][:200]})"], None
        _, c8, _ = estimate_cost(g8, target)
        a8 = arena_bytes(g8)
        jobs, seen = [], set()
        for k in (1, 2, 4):
            layers = with_input_layers(g16, ranked[:k], names) if k <= len(ranked) else ()
            if not layers or layers in seen:
                continue
            seen.add(layers)
            try:
                tfl, down = mixed_model(m16, layers, names)
            except Exception as e:  # noqa: BLE001
                return jobs, [f"mixed int8/int16 {', '.join(layers)}: {str(e).splitlines()[0][:200]}"], None
            if not set(down) - {i for i in down if g16.operators[i].opcode in ("QUANTIZE", "DEQUANTIZE")}:
                break  # every op in int16: the int16x8 candidate (next stage)
            gm = graph.parse(tfl)
            bad = sorted({gm.operators[i].opcode for i in range(len(gm.operators))
                          if q.int16x8_ops and gm.operators[i].opcode not in q.int16x8_ops
                          and gm.operators[i].outputs and gm.main.tensors[gm.operators[i].outputs[0]].dtype == "int16"})
            if bad:
                return jobs, [f"mixed int8/int16 {', '.join(layers)}: {target.name} has no int16x8 kernels for "
                              f"{', '.join(bad)}"], None
            _, cm, _ = estimate_cost(gm, target)
            am = arena_bytes(gm)
            cost = f"{cm / c8 - 1:+.0%} est. cycles" if c8 else "est. cycles n/a"
            ram = f", {am - a8:+,} B arena" if am is not None and a8 is not None else ""
            jobs.append(Job(f"int8 + int16 {', '.join(layers)} ({cost}{ram} vs int8)",
                            Config("mixed", per_channel, int16_layers=layers), tfl))
        if not jobs:
            return [], ["mixed int8/int16: no layer of the model can change precision"], None
        return jobs, [], None

    def float_stage():  # float fallback for the 1, 2, 3 most sensitive ops
        if q.integer_only:
            return [], [f"float fallback: {target.name} is integer-only"], None
        try:
            base = converted(Config("int8", per_channel))
            errs = layerwise.layer_errors(model, base, eval.inputs, max_samples=64)
            sens = [e for e in layerwise.sensitive_ops(errs, 3, base) if e.dtype != "float32"]
        except Exception as e:  # noqa: BLE001
            return [], [f"float fallback: per-layer ranking failed ({e})"], None
        jobs = []
        for k in range(1, len(sens) + 1):
            label = ", ".join(f"#{e.op_index} {e.opcode}" + (f" ({e.layer})" if e.layer else "") for e in sens[:k])
            jobs.append(Job(f"int8 + float {label}",
                            Config("int8", per_channel, None, float_ops=tuple(e.float_tensor for e in sens[:k]))))
        return jobs, [], tuple(e.float_tensor for e in sens)

    def qat_stage():  # quantization-aware training, then int8
        if train is None:
            return [], ["QAT: no training data given (--train)"], None
        return [Job("QAT", Config("int8", per_channel, qat_epochs=qat_epochs))], [], None

    stages = [lambda: (plan, [], None), mixed_stage, int16_stage, float_stage, qat_stage]

    def submit(jobs: list[Job]) -> list:
        if mapper is None or not jobs:
            return [_Later(shared, j, say) for j in jobs]
        return list(mapper(shared, jobs))

    queued: list = []
    if mapper is not None:  # everything up front, in the serial order (stage preparation overlaps the first jobs)
        for st in stages:
            jobs, notes, sens = st()
            queued.append((jobs, notes, sens, submit(jobs)))
    result_cands: list[Candidate] = []
    best: tuple[Candidate, bytes] | None = None
    tried_best: tuple[Candidate, bytes] | None = None
    sens_names: tuple[str, ...] = ()

    def score(c: Candidate) -> float:
        if c.error:
            return -1e18
        if max_accuracy_drop_pp is not None and c.accuracy_drop_pp is not None:
            return -c.accuracy_drop_pp
        return c.sqnr_db if c.sqnr_db is not None else -1e18

    handles_all = [h for entry in queued for h in entry[3]]
    used: set[int] = set()
    try:
        for i, st in enumerate(stages):
            if best is not None and not exhaustive:
                break
            jobs, notes, sens, handles = queued[i] if queued else (*st(), None)
            skipped += notes
            if sens is not None:
                sens_names = sens
            if handles is None:
                handles = submit(jobs)
            for job, h in zip(jobs, handles):
                used.add(id(h))
                if mapper is not None:
                    say(f"waiting for {job.name}")
                c, tfl = h.result()
                before = (best, tried_best)
                result_cands.append(c)
                if c.error is None:
                    if tried_best is None or score(c) > score(tried_best[0]):
                        tried_best = (c, tfl)
                    if c.met_budget and best is None:
                        best = (c, tfl)
                ptq = result_cands[0]
                if (job.config.qat_epochs and c is not ptq and c.error is None and ptq.error is None
                        and score(c) < score(ptq)):
                    # fine-tuning made int8 worse than plain PTQ (same data and runtime): report it, never choose it
                    figs = (f"accuracy {100 * ptq.accuracy:.2f} % -> {100 * c.accuracy:.2f} %"
                            if c.accuracy is not None and ptq.accuracy is not None
                            else f"SQNR {ptq.sqnr_db:.1f} -> {c.sqnr_db:.1f} dB")
                    result_cands[-1] = replace(c, met_budget=False,
                                               error=f"fine-tuning made int8 worse than PTQ ({figs}): not kept")
                    best, tried_best = before
                if best is not None and not exhaustive:
                    break
    finally:
        for h in handles_all:  # queued work a serial search would not have reached
            if id(h) not in used:
                h.cancel()
    fa = None
    if eval.labels is not None and max_accuracy_drop_pp is not None:
        fa = evaluate.compare(f_out, f_out, labels=eval.labels, metric="accuracy").float_accuracy
    if best is None:
        budget = " and ".join(b for b in (
            f"accuracy drop <= {max_accuracy_drop_pp} pp" if max_accuracy_drop_pp is not None else "",
            f"SQNR >= {min_sqnr_db} dB" if min_sqnr_db is not None else "") if b)
        tb = tried_best[0] if tried_best else None
        desc = "no candidate could be converted" if tb is None else (
            f"best found: {tb.name} (" + ", ".join(x for x in (
                f"drop {tb.accuracy_drop_pp:.2f} pp" if tb.accuracy_drop_pp is not None else "",
                f"SQNR {tb.sqnr_db:.1f} dB" if tb.sqnr_db is not None else "",
                f"{tb.tflite_bytes:,} bytes") if x) + ")")
        err = CheckFailed(f"no configuration permitted on {target.name} meets {budget}; tried "
                          f"{len(result_cands)}: {desc}",
                          hint="relax the budget, give --train data for QAT, or choose a target with int16x8/float "
                               "kernels" + (f" (not tried: {'; '.join(skipped)})" if skipped else ""))
        # for reports written on failure: every candidate tried, and the best one's model
        err.search_result = SearchResult(tuple(result_cands), None, tried_best[1] if tried_best else b"", fa,
                                         tuple(skipped), sens_names)
        raise err
    return SearchResult(tuple(result_cands), best[0], best[1], fa, tuple(skipped), sens_names)


def candidates_table(res: SearchResult) -> list[dict]:
    """Plain rows for reports and `--json` output."""
    from dataclasses import asdict

    rows = []
    for c in res.candidates:
        d = asdict(c)
        d["chosen"] = res.best is not None and c.name == res.best.name
        rows.append(d)
    return rows
