"""Evaluate stage: run the quantized model on the kernels that ship for the target, compare with float.

Cortex-M targets are evaluated with tflite-micro (exactly what TFLM computes on the device); Pi/Android with
LiteRT. Integer I/O is handled here: float samples are quantized with the model's own input scale/zero point
and integer outputs dequantized, so the float and quantized outputs are compared in real units.

Metrics: with class labels, float and quantized accuracy (top-1 and top-k); without labels, or for models whose
first output is not a class vector (regressors, autoencoders), MSE/MAE/SQNR of the quantized output against the
float output (and MSE/MAE of both models against the labels/targets when given). Top-1 agreement for classifiers
only; always a histogram of the output error (quantized - float). Generated C for Cortex-M is bit-exact with
tflite-micro by contract, so `tflm` stands for both; `runtime="edgeq-c"` runs the generated C itself, built for
this machine with gcc (edgeq.codegen.host). Per-layer error lives in `edgeq.quality.layerwise`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeq.errors import DataError, ModelError, ToolMissing, UsageError, did_you_mean

HISTOGRAM_BINS = 41
# litert: LiteRT (XNNPACK/builtin kernels); litert-ref: LiteRT's reference kernels; tflm: tflite-micro;
# edgeq-c: edgeq's generated C (edgeq.codegen), compiled for this machine with gcc
RUNTIMES = ("litert", "litert-ref", "tflm", "edgeq-c")


@dataclass(frozen=True)
class OutputMetrics:
    name: str
    max_abs_error: float
    mean_abs_error: float
    mse: float
    sqnr_db: float  # 10 log10(signal power / error power)


@dataclass(frozen=True)
class ErrorHistogram:
    """Histogram of (quantized - float) over every element of the first output; symmetric bins."""

    bin_edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class EvalResult:
    samples: int
    runtime: str
    outputs: tuple[OutputMetrics, ...]
    top1_agreement: float | None  # fraction of samples where argmax(float) == argmax(quantized), first output
    float_accuracy: float | None  # with labels
    quant_accuracy: float | None
    task: str = "classification"  # "classification" (first output is a class vector) | "regression"
    top_k: int | None = None  # k of the top-k accuracies below (5, or fewer classes)
    float_top_k_accuracy: float | None = None
    quant_top_k_accuracy: float | None = None
    float_target_mse: float | None = None  # regression with targets: MSE of each model against the targets
    quant_target_mse: float | None = None
    float_target_mae: float | None = None  # regression with targets: mean absolute error against the targets
    quant_target_mae: float | None = None
    error_histogram: ErrorHistogram | None = field(default=None)

    @property
    def accuracy_drop_pp(self) -> float | None:
        if self.float_accuracy is None or self.quant_accuracy is None:
            return None
        return 100.0 * (self.float_accuracy - self.quant_accuracy)


def _quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dt = np.dtype(detail["dtype"])
    if dt.kind == "f":
        return x.astype(dt)
    q = detail["quantization_parameters"]
    scale = float(q["scales"][0]) if len(q["scales"]) else 1.0
    zp = int(q["zero_points"][0]) if len(q["zero_points"]) else 0
    info = np.iinfo(dt)
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(dt)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.dtype(detail["dtype"]).kind == "f":
        return y.astype(np.float32)
    q = detail["quantization_parameters"]
    scale = float(q["scales"][0]) if len(q["scales"]) else 1.0
    zp = int(q["zero_points"][0]) if len(q["zero_points"]) else 0
    return (y.astype(np.float32) - zp) * scale


def litert_interpreter(model: bytes, num_threads: int = 1, reference_kernels: bool = False):
    """LiteRT interpreter (fallbacks: tflite_runtime, tensorflow.lite)."""
    kwargs = {"model_content": model, "num_threads": num_threads}
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
        except ImportError:
            try:
                from edgeq.convert import _import_tf

                tf = _import_tf()

                Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
            except ImportError:
                raise ToolMissing("no TFLite runtime found", hint="pip install ai-edge-litert") from None
    if reference_kernels:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    from edgeq.convert import quiet_native

    with quiet_native():  # "INFO: Created TensorFlow Lite XNNPACK delegate" goes straight to fd 2
        it = Interpreter(**kwargs)
        it.allocate_tensors()
    return it


def check_runtime(runtime: str) -> None:
    """UsageError for a runtime name run_tflite does not know (never a silent fallback to another runtime)."""
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}.{did_you_mean(str(runtime), RUNTIMES)}",
                         hint=f"use one of: {', '.join(RUNTIMES)}")


def _tensor_detail(t) -> dict:
    """A graph Tensor's dtype/quantization in the LiteRT/TFLM detail-dict shape (_quantize_input/_dequantize)."""
    q = t.quant
    return {"dtype": np.dtype(t.dtype), "quantization_parameters": {
        "scales": np.asarray(q.scale if q else (), dtype=np.float32),
        "zero_points": np.asarray(q.zero_point if q else (), dtype=np.int64)}}


def _run_edgeq_c(graph, inputs: Sequence[np.ndarray], in_pos: list[int], out_pos: list[int],
                 dequantize: bool, weight_bits: Mapping[int, int] | None = None) -> list[np.ndarray]:
    """run_tflite on edgeq's generated C: all samples through one run of the host build (weight_bits: the ops
    whose weights the generated C stores packed, edgeq.codegen.generate)."""
    import tempfile

    from edgeq.codegen.host import HostModel

    g_in, g_out = graph.inputs, graph.outputs
    if len(inputs) != len(in_pos) or sorted(in_pos) != list(range(len(g_in))):
        raise DataError(f"{len(inputs)} input array(s) for a model with {len(g_in)} input(s)",
                        hint="give one (N, ...) array per model input")
    n = len(inputs[0])
    if n == 0 or any(len(x) != n for x in inputs):
        raise DataError(f"no samples, or inputs with different sample counts: {[len(x) for x in inputs]}")
    by_pos: list[np.ndarray] = [np.empty(0)] * len(g_in)
    for i, p in enumerate(in_pos):
        t = g_in[p]
        x = np.asarray(inputs[i])
        if x[0].size != t.num_elements:
            raise DataError(f"input {i} ({t.name!r}): samples of shape {x.shape[1:]}, the model takes "
                            f"{tuple(t.shape)} (batch 1)")
        by_pos[p] = _quantize_input(x, _tensor_detail(t)).reshape(n, *t.shape)
    samples = [[by_pos[p][s] for p in range(len(g_in))] for s in range(n)]
    with tempfile.TemporaryDirectory(prefix="edgeq-c-") as tmp:
        if weight_bits:
            from edgeq.codegen import generate

            generate(graph, tmp, weight_bits=dict(weight_bits))
            results = HostModel.compile(graph, tmp).run(samples)
        else:
            results = HostModel.build(graph, tmp).run(samples)
    outs = []
    for p in out_pos:
        t = g_out[p]
        y = np.stack([r[p] for r in results]).reshape(n * t.shape[0] if t.shape else n, *t.shape[1:])
        outs.append(_dequantize(y, _tensor_detail(t)) if dequantize else y)
    return outs


def reference_outputs(model, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The float model's outputs (edgeq.convert.LoadedModel): Keras/SavedModel through TensorFlow, a float
    .tflite on LiteRT."""
    if model.kind == "tflite":
        return run_tflite(model.handle, inputs, runtime="litert")
    from edgeq import convert

    return convert.predict_float(model, inputs)


def run_tflite(model: bytes, inputs: Sequence[np.ndarray], runtime: str = "litert",
               dequantize: bool = True, input_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None,
               weight_bits: Mapping[int, int] | None = None) -> list[np.ndarray]:
    """Run every sample (per input an (N, ...) float array) through the model, one at a time (batch 1).

    runtime: "litert" (XNNPACK/builtin kernels), "litert-ref" (reference kernels), "tflm" (tflite-micro) or
    "edgeq-c" (the generated C, built with the host gcc; edgeq.codegen.host). Other names raise UsageError.
    Returns per output an (N, ...) array, dequantized to float unless dequantize=False. With signature names
    (edgeq.convert.signature_names), inputs and outputs follow the Keras model's order; else the file's order.
    weight_bits (edgeq-c only): op index -> 4/2/1, the ops whose weights the generated C stores packed (as
    `edgeq convert --weights` ships them); other runtimes run the int8 weights, which compute the same.
    """
    from edgeq.graph import parse

    check_runtime(runtime)
    n = len(inputs[0])
    graph = parse(model)
    in_pos, out_pos = graph.io_positions(input_names, output_names)
    if runtime == "edgeq-c":
        return _run_edgeq_c(graph, inputs, in_pos, out_pos, dequantize, weight_bits)
    if runtime == "tflm":
        from edgeq.convert import TflmError, quiet_native, tflm_interpreter, tflm_reason

        # TFLM prints its errors straight to fd 2: they go into TflmError, not onto the user's terminal
        it = tflm_interpreter(model)
        in_d = [it.get_input_details(p) for p in in_pos]
        out_d = [it.get_output_details(p) for p in out_pos]
        outs: list[list[np.ndarray]] = [[] for _ in out_d]
        native: list[str] = []
        try:
            with quiet_native(native):
                for s in range(n):
                    for i, (p, d) in enumerate(zip(in_pos, in_d)):
                        it.set_input(_quantize_input(inputs[i][s : s + 1], d), p)
                    it.invoke()
                    for j, (p, d) in enumerate(zip(out_pos, out_d)):
                        y = it.get_output(p)
                        outs[j].append(_dequantize(y, d) if dequantize else y.copy())
        except Exception as e:  # noqa: BLE001 - TFLM's RuntimeError says only "invoke failed"
            raise TflmError(tflm_reason("".join(native), e)) from None
        return [np.concatenate(o) for o in outs]
    it = litert_interpreter(model, reference_kernels=(runtime == "litert-ref"))
    all_in, all_out = it.get_input_details(), it.get_output_details()
    in_d = [all_in[p] for p in in_pos]
    out_d = [all_out[p] for p in out_pos]
    outs = [[] for _ in out_d]
    for s in range(n):
        for i, d in enumerate(in_d):
            it.set_tensor(d["index"], _quantize_input(inputs[i][s : s + 1], d))
        it.invoke()
        for j, d in enumerate(out_d):
            y = it.get_tensor(d["index"])
            outs[j].append(_dequantize(y, d) if dequantize else y.copy())
    return [np.concatenate(o) for o in outs]


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    err = ref - test.astype(np.float64)
    p_err = float(np.mean(err**2))
    p_sig = float(np.mean(ref**2))
    if p_err == 0.0:
        return float("inf")
    if p_sig == 0.0:
        return float("-inf")
    return 10.0 * np.log10(p_sig / p_err)


def _histogram(f: np.ndarray, q: np.ndarray) -> ErrorHistogram:
    err = (q.astype(np.float64) - f.astype(np.float64)).reshape(-1)
    lim = float(np.max(np.abs(err))) if err.size else 0.0
    lim = lim if lim > 0 else 1e-12
    counts, edges = np.histogram(err, bins=HISTOGRAM_BINS, range=(-lim, lim))
    return ErrorHistogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _class_labels(labels, n: int, classes: int) -> np.ndarray:
    lab = np.asarray(labels)
    if len(lab) != n:
        raise DataError(f"{len(lab)} labels for {n} samples", hint="labels must have one entry per sample")
    if lab.ndim > 1 and lab.shape[-1] == classes:
        return lab.reshape(n, classes).argmax(-1)  # one-hot
    lab = lab.reshape(n, -1)
    if lab.shape[1] != 1:
        raise DataError(f"labels have shape {tuple(np.asarray(labels).shape)}; the model outputs {classes} classes",
                        hint="give one class index (or one one-hot row) per sample")
    lab = lab[:, 0]
    if lab.dtype.kind == "f" and not np.all(lab == np.round(lab)):
        raise DataError("labels are not integers but the model is a classifier",
                        hint="use class indices 0..N-1 as labels")
    lab = lab.astype(np.int64)
    if lab.min() < 0 or lab.max() >= classes:
        raise DataError(f"labels range {lab.min()}..{lab.max()} but the model outputs {classes} classes",
                        hint="labels must be class indices 0..N-1 (or one-hot)")
    return lab


def compare(float_outputs: Sequence[np.ndarray], quant_outputs: Sequence[np.ndarray], *,
            labels: np.ndarray | None = None, names: Sequence[str] = (), runtime: str = "",
            metric: str = "auto", top_k: int = 5) -> EvalResult:
    """Compare float and quantized outputs (per output an (N, ...) array) on the same N samples.

    metric: "auto" (accuracy when the first output is a class vector and labels are given, else MSE/SQNR),
    "accuracy" (labels required: DataError without them), "mse" (regression/autoencoder: labels, if given, are
    the targets). Raises DataError for a label count that differs from the sample count, or labels that do not
    fit the classes.
    """
    if metric not in ("auto", "accuracy", "mse"):
        raise DataError(f"unknown metric {metric!r}", hint="auto, accuracy or mse")
    if not float_outputs or len(float_outputs) != len(quant_outputs):
        raise DataError("float and quantized models have different numbers of outputs")
    metrics = []
    for k, (f, q) in enumerate(zip(float_outputs, quant_outputs)):
        if f.shape != q.shape:
            raise DataError(f"output {k}: float shape {f.shape} != quantized shape {q.shape}")
        f = f.reshape(len(f), -1).astype(np.float64)
        q = q.reshape(len(q), -1).astype(np.float64)
        d = np.abs(f - q)
        metrics.append(OutputMetrics(names[k] if k < len(names) else f"output_{k}", float(d.max()),
                                     float(d.mean()), float(np.mean(d**2)), float(sqnr_db(f, q))))
    n = len(float_outputs[0])
    f0 = float_outputs[0].reshape(n, -1)
    q0 = quant_outputs[0].reshape(n, -1)
    classes = f0.shape[1]
    if labels is not None and len(labels) != n:
        raise DataError(f"{len(labels)} labels for {n} samples", hint="labels must have one entry per sample")
    if metric == "accuracy" and labels is None:
        raise DataError("accuracy needs labels, but the evaluation data has none",
                        hint="add labels (key 'y' in the .npz, a 'label' CSV column, or class subfolders), "
                             "or use the mse metric")
    if metric == "accuracy" and classes < 2:
        raise DataError(f"accuracy needs a class-vector output; the model's first output has {classes} value(s)",
                        hint="use the mse metric for regression models")
    classify = classes > 1 and metric != "mse"
    lab_ok = labels is not None
    if classify and lab_ok and metric == "auto":
        lab_arr = np.asarray(labels)
        # an autoencoder's targets have the output's shape: treat them as regression targets
        if lab_arr.reshape(n, -1).shape[1] == classes and classes > 1 and not _looks_one_hot(lab_arr, classes):
            classify = False
    # argmax agreement means something only for a class vector, not for a regressor's or autoencoder's outputs
    agree = float(np.mean(f0.argmax(1) == q0.argmax(1))) if classify else None
    fa = qa = ftk = qtk = None
    k_used = None
    fmse = qmse = fmae = qmae = None
    if classify and lab_ok:
        lab = _class_labels(labels, n, classes)
        fa = float(np.mean(f0.argmax(1) == lab))
        qa = float(np.mean(q0.argmax(1) == lab))
        k_used = min(top_k, classes - 1)
        if k_used > 1:
            ftk = _top_k(f0, lab, k_used)
            qtk = _top_k(q0, lab, k_used)
        else:
            k_used = None
    elif lab_ok:
        t = np.asarray(labels, dtype=np.float64).reshape(n, -1)
        if t.shape[1] != classes:
            raise DataError(f"targets have {t.shape[1]} value(s) per sample but the model's first output has "
                            f"{classes}", hint="regression targets must match the first output's shape")
        fmse = float(np.mean((f0 - t) ** 2))
        qmse = float(np.mean((q0 - t) ** 2))
        fmae = float(np.mean(np.abs(f0 - t)))
        qmae = float(np.mean(np.abs(q0 - t)))
    return EvalResult(n, runtime, tuple(metrics), agree, fa, qa, "classification" if classify else "regression",
                      k_used, ftk, qtk, fmse, qmse, error_histogram=_histogram(f0, q0), float_target_mae=fmae,
                      quant_target_mae=qmae)


def _looks_one_hot(lab: np.ndarray, classes: int) -> bool:
    m = lab.reshape(len(lab), -1)
    return m.shape[1] == classes and bool(np.all((m == 0) | (m == 1))) and bool(np.all(m.sum(1) == 1))


def _top_k(out: np.ndarray, lab: np.ndarray, k: int) -> float:
    top = np.argsort(-out, axis=1)[:, :k]
    return float(np.mean(np.any(top == lab[:, None], axis=1)))


def runtime_for(target) -> str:
    """The runtime whose kernels ship on `target`: tflite-micro for Cortex-M, LiteRT otherwise."""
    return "tflm" if getattr(target, "is_mcu", False) else "litert"


def evaluate(model, tflite: bytes, ds, *, runtime: str = "litert", metric: str = "auto",
             max_samples: int | None = None, weight_bits: Mapping[int, int] | None = None) -> EvalResult:
    """Float model (edgeq.convert.LoadedModel) vs `tflite` on dataset `ds` (edgeq.data.Dataset).
    weight_bits: see run_tflite (the packed weights of `edgeq convert --weights`, runtime edgeq-c)."""
    from edgeq import convert

    check_runtime(runtime)
    inputs = list(ds.inputs)
    labels = ds.labels
    if labels is not None and len(labels) != len(ds):
        raise DataError(f"{ds.source}: {len(labels)} labels for {len(ds)} samples",
                        hint="labels must have one entry per sample")
    if max_samples is not None and max_samples < len(ds):
        inputs = [a[:max_samples] for a in inputs]
        labels = labels[:max_samples] if labels is not None else None
    names = _matching_names(model, tflite)
    f = reference_outputs(model, inputs)
    try:
        q = run_tflite(tflite, inputs, runtime=runtime, input_names=names[0], output_names=names[1],
                       weight_bits=weight_bits)
    except convert.TflmError as e:
        raise ModelError(f"{e} (evaluating on --runtime tflm)",
                         hint="check the model against the target (`edgeq check MODEL.tflite -t TARGET`), or "
                              "evaluate with --runtime litert") from None
    return compare(f, q, labels=labels, names=[s.name for s in model.outputs], runtime=runtime, metric=metric)


def _matching_names(model, tflite: bytes) -> tuple[list[str] | None, list[str] | None]:
    """Signature names that map the float model's inputs/outputs onto the .tflite's, after checking that the two
    belong together (same number and shapes of inputs and outputs)."""
    from edgeq import convert
    from edgeq.graph import parse

    g = parse(tflite)
    in_names, out_names = convert.signature_names(model)
    sig_in, sig_out = dict(g.signature_inputs), dict(g.signature_outputs)
    if not (all(n in sig_in for n in in_names) and all(n in sig_out for n in out_names)):
        in_names, out_names = None, None  # not converted by edgeq: positional
    in_pos, out_pos = g.io_positions(in_names, out_names)
    problems = []
    if len(in_pos) != len(model.inputs) or len(out_pos) != len(model.outputs):
        problems.append(f"{len(model.inputs)} inputs/{len(model.outputs)} outputs vs {len(g.inputs)}/{len(g.outputs)}")
    else:
        for spec, p in zip(model.inputs, in_pos):
            want = tuple(d for d in spec.shape[1:])
            got = tuple(g.inputs[p].shape[1:])
            if want != got:
                problems.append(f"input {spec.name!r} {want} vs {g.inputs[p].name!r} {got}")
    if problems:
        raise DataError(f"{model.path} and the .tflite do not match: {'; '.join(problems)}",
                        hint="pass the .tflite converted from this model")
    return in_names, out_names
