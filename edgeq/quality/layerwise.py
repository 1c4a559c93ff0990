"""Per-layer quantization error: where in the network the accuracy is lost (evaluate stage, optional).

How it works (int8, int16x8 and mixed/float-fallback models alike; TFLite's QuantizationDebugger is int8-only):

1. The quantized model runs on LiteRT's builtin kernels with `experimental_preserve_all_tensors=True`, so every
   intermediate tensor can be read after `invoke()`; each op's output is dequantized with its own scale and
   zero point (int8 and int16 alike; float tensors of fallback ops are taken as they are).
2. The float reference is the same model converted to float32 TFLite by `convert.quantize(model, "float32")`,
   traced exactly as the quantized one (batch 1), run the same way on the same samples.
3. Matching rule, quantized op output -> float tensor: (a) the same tensor name (the TF 2.21 converter names an
   op's output after the TF ops it fused, identically in both conversions); (b) otherwise the float tensor at
   the same position among outputs of the same shape in topological order, so ops the quantizer inserted
   (QUANTIZE/DEQUANTIZE at the edges or between precisions, which have no float counterpart by name) compare
   with the float tensor they stand for; (c) no match: the op is skipped.
4. The Keras layer each float tensor belongs to is found by value: the Keras model is run once as a sub-model
   returning every layer's output, and a float tensor is attributed to the layer whose output (same shape)
   equals it within 1e-3 relative error — robust to fused activations and to TF's renamed name scopes.

Each tensor gets SQNR = 10 log10(P_signal / P_error) over `max_samples` samples, the mean of the per-channel SQNRs
(last axis; a few wide channels can dominate the power-weighted SQNR while the others drown in one shared int8
range) and the max abs error. SQNR is cumulative (it includes the error of every layer upstream), so it does not
say where the error comes from. What a user acts on is `error_share`, the op's share of the output error:

    NSR(t)   = 10^(-SQNR(t)/10)                      relative error power of tensor t (noise / signal)
    added(op) = max(0, NSR(output) - max NSR(activation inputs))   the noise the op adds itself
    error_share(op) = added(op) / sum of added over all ops        (0..1; the shares sum to 1)

Quantization noise of independent sources adds up in power and, through the (locally linear) layers that
follow, keeps its size relative to the signal; so under that first-order model the output's NSR is the sum of
what each op added, and `error_share` is the fraction of the output error that originates in the op. Ops that
reduce the relative error (a ReLU clipping negative noise, an average pool) add 0. Results are ranked by share.
`sqnr_drop_db` (lowest input SQNR - own SQNR, in dB) is kept in the JSON for compatibility; it is not shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from edgeq.errors import DataError, ModelError

# What the per-layer table means (report.md, report.html, `edgeq eval --layerwise`).
LAYERWISE_LEGEND = (
    "SQNR: 10 log10(signal power / error power) of the op's output against the same tensor of the float model; "
    "cumulative, it includes every error upstream. Share: the op's share of the output error, the error power it "
    "adds itself (its output's error-to-signal ratio minus its inputs') over the sum for all ops; the shares add up "
    "to 100 %. Act on the ops with the largest share: keep them in float or int16 (edgeq search / "
    "--max-accuracy-drop), give them more calibration data, or retrain with QAT.")

SQNR_CAP_DB = 120.0  # exact tensors (inf SQNR) are reported as this, so drops stay finite and sortable


@dataclass(frozen=True)
class LayerError:
    op_index: int
    opcode: str
    tensor: str  # the op's output tensor name
    dtype: str  # "int8", "int16", "float32" (float fallback)
    sqnr_db: float  # cumulative: this tensor vs its float counterpart
    max_abs_error: float
    layer: str | None  # matched Keras layer name (None when no layer output equals the float tensor)
    sqnr_drop_db: float = 0.0  # lowest input SQNR - own SQNR: the precision this op itself loses
    shape: tuple[int, ...] = ()
    float_tensor: str = ""  # the float model tensor it was compared with
    channel_sqnr_db: float | None = None  # mean over channels (last axis) of per-channel SQNR
    error_share: float | None = None  # share of the output error added by this op (0..1, module docstring)


def _interpreter(model: bytes):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        from edgeq.convert import _import_tf

        tf = _import_tf()
        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    from edgeq.convert import quiet_native

    with quiet_native():
        # no delegate: XNNPACK would fuse ops and not keep their intermediate outputs
        it = Interpreter(model_content=model, experimental_preserve_all_tensors=True, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        it.allocate_tensors()
    return it


def _dequant(arr: np.ndarray, t) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    q = t.quant
    if q is None or not q.scale:
        return arr.astype(np.float64)
    scale = np.asarray(q.scale, dtype=np.float64)
    zp = np.asarray(q.zero_point, dtype=np.float64)
    if len(scale) > 1:
        shape = [1] * arr.ndim
        shape[q.axis] = len(scale)
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (arr.astype(np.float64) - zp) * scale


def collect(tflite: bytes, inputs: Sequence[np.ndarray], tensor_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Run each sample and return, per requested tensor index, the stacked dequantized values (N, ...)."""
    from edgeq.graph import parse
    from edgeq.quality.evaluate import _quantize_input

    g = parse(tflite)
    it = _interpreter(tflite)
    in_d = it.get_input_details()
    acc: dict[int, list[np.ndarray]] = {i: [] for i in tensor_ids}
    for s in range(len(inputs[0])):
        for k, d in enumerate(in_d):
            it.set_tensor(d["index"], _quantize_input(np.asarray(inputs[k][s : s + 1], dtype=np.float32), d))
        it.invoke()
        for i in tensor_ids:
            acc[i].append(_dequant(np.array(it.get_tensor(i)), g.main.tensors[i]))
    return {i: np.stack(v) for i, v in acc.items()}


def _sqnr(ref: np.ndarray, test: np.ndarray) -> float:
    from edgeq.quality.evaluate import sqnr_db

    v = float(sqnr_db(ref, test))
    return min(v, SQNR_CAP_DB) if v == v else float("nan")


def _channel_sqnr(ref: np.ndarray, test: np.ndarray) -> float | None:
    """Mean per-channel SQNR: a channel drowned by a wide shared range shows here, not in the power-weighted SQNR."""
    if ref.ndim < 3 or ref.shape[-1] < 2:
        return None
    r = ref.reshape(-1, ref.shape[-1])
    e = r - test.reshape(-1, ref.shape[-1])
    p_sig = np.mean(r**2, axis=0)
    p_err = np.mean(e**2, axis=0)
    live = p_sig > 0
    if not live.any():
        return None
    vals = 10 * np.log10(p_sig[live] / np.maximum(p_err[live], p_sig[live] * 10 ** (-SQNR_CAP_DB / 10)))
    return float(np.mean(vals))


def _match(qg, fg) -> dict[int, int]:
    """quantized tensor index -> float tensor index, for every op output (rule in the module docstring)."""
    fts, qts = fg.main.tensors, qg.main.tensors
    f_by_name: dict[str, int] = {}
    f_outputs: list[int] = []
    for op in fg.operators:
        for i in op.outputs:
            f_by_name.setdefault(fts[i].name, i)
            f_outputs.append(i)
    f_pos = {j: k for k, j in enumerate(f_outputs)}
    matched: dict[int, int] = {}
    for qi, fi in zip(qg.main.inputs, fg.main.inputs):
        if tuple(qts[qi].shape) == tuple(fts[fi].shape):
            matched[qi] = fi
    q_outputs = [i for op in qg.operators for i in op.outputs]
    for i in q_outputs:  # (a) same name and shape
        j = f_by_name.get(qts[i].name)
        if j is not None and tuple(fts[j].shape) == tuple(qts[i].shape):
            matched[i] = j
    producer = {i: op for op in qg.operators for i in op.outputs}
    consumers: dict[int, list] = {}
    for op in qg.operators:
        for i in op.inputs:
            if i >= 0:
                consumers.setdefault(i, []).append(op)
    edge_ops = ("QUANTIZE", "DEQUANTIZE")
    for _ in range(3):  # (b) converter-inserted QUANTIZE/DEQUANTIZE carry the value of the tensor they convert
        for i in q_outputs:
            if i in matched:
                continue
            op = producer[i]
            if op.opcode in edge_ops and op.inputs and op.inputs[0] in matched:
                matched[i] = matched[op.inputs[0]]
                continue
            for c in consumers.get(i, []):
                if c.opcode in edge_ops and c.outputs[0] in matched and f_pos.get(matched[c.outputs[0]]) is not None:
                    matched[i] = matched[c.outputs[0]]
                    break
    used = {j for j in matched.values()}
    last = -1
    for i in q_outputs:  # (b) remaining: the next unused same-shaped float op output in topological order
        if i in matched:
            last = max(last, f_pos.get(matched[i], -1))
            continue
        for k in range(last + 1, len(f_outputs)):
            j = f_outputs[k]
            if j not in used and tuple(fts[j].shape) == tuple(qts[i].shape):
                matched[i] = j
                used.add(j)
                last = k
                break
    return matched


def _keras_layer_names(model, inputs: Sequence[np.ndarray], float_values: dict[int, np.ndarray]) -> dict[int, str]:
    """float tensor index -> Keras layer name whose output equals it (rule 4 of the module docstring)."""
    km = getattr(model, "handle", None)
    if getattr(model, "loader", None) not in ("keras", "tf_keras") or not hasattr(km, "layers"):
        return {}
    try:
        import keras

        mod = keras if model.loader == "keras" else __import__("tf_keras")
        layers = [ly for ly in km.layers if type(ly).__name__ != "InputLayer"]
        outs = [ly.output for ly in layers]
        probe = mod.Model(km.inputs, outs)
        from edgeq.convert import _quiet

        x = [np.asarray(a, dtype=np.float32) for a in inputs]
        with _quiet():  # Keras warns about list-vs-tensor input structure
            res = probe(x if len(x) > 1 else x[0], training=False)
        res = [np.asarray(r) for r in (res if isinstance(res, (list, tuple)) else [res])]
    except Exception:  # noqa: BLE001 - nested/subclassed models: fall back to no layer names
        return {}
    names: dict[int, str] = {}
    for fi, fv in float_values.items():
        best = None
        for ly, out in zip(layers, res):
            if out.reshape(len(out), -1).shape != fv.reshape(len(fv), -1).shape:
                continue
            o = out.reshape(len(out), -1).astype(np.float64)
            f = fv.reshape(len(fv), -1)
            rel = float(np.sqrt(np.mean((o - f) ** 2)) / (np.sqrt(np.mean(f**2)) + 1e-12))
            # equal values (e.g. a layer and the Flatten after it): prefer the layer with the tensor's exact shape
            key = (round(rel, 6), out.shape[1:] != fv.shape[2:])
            if rel < 1e-3 and (best is None or key < best[0]):
                best = (key, ly.name)
        if best:
            names[fi] = best[1]
    return names


def layer_errors(model, tflite: bytes, inputs: Sequence[np.ndarray], *, max_samples: int = 64,
                 float_tflite: bytes | None = None) -> tuple[LayerError, ...]:
    """Per-op error of `tflite` against `model` (edgeq.convert.LoadedModel), ranked worst first.

    inputs: per model input an (N, ...) float array; the first `max_samples` samples are used.
    float_tflite: the float32 conversion to compare with (converted here when not given).
    """
    from edgeq import convert
    from edgeq.graph import parse

    if not inputs or len(inputs[0]) == 0:
        raise DataError("per-layer error needs at least one input sample")
    xs = [np.asarray(a[:max_samples], dtype=np.float32) for a in inputs]
    qg = parse(tflite)
    if float_tflite is None:
        if model.kind == "tflite":
            raise ModelError(f"{model.path}: per-layer error needs the float source model, not a .tflite",
                             hint="pass the .keras/SavedModel the .tflite was converted from")
        float_tflite = convert.quantize(model, "float32")
    fg = parse(float_tflite)
    matched = _match(qg, fg)
    if not matched:
        raise ModelError("no quantized tensor could be matched to the float model",
                         hint="was the .tflite converted from this model?")
    q_ids = sorted(matched) + [i for i in qg.main.inputs if i not in matched]
    qv = collect(tflite, xs, q_ids)
    fv = collect(float_tflite, xs, sorted(set(matched.values()) | set(fg.main.inputs)))
    names = _keras_layer_names(model, xs, {j: fv[j] for j in set(matched.values())})
    # SQNR of every tensor (graph inputs too, against the float input), for the per-op drop
    sq: dict[int, float] = {}
    sq_power: dict[int, float] = {}  # power-weighted only: error powers add up, per-channel means do not
    for qi in q_ids:
        fj = matched.get(qi)
        if fj is None and qi in qg.main.inputs:
            pos = list(qg.main.inputs).index(qi)
            ref = fv[fg.main.inputs[pos]] if pos < len(fg.main.inputs) else None
        else:
            ref = fv.get(fj) if fj is not None else None
        if ref is not None and ref.shape == qv[qi].shape:
            sq_power[qi] = _sqnr(ref, qv[qi])
            ch = _channel_sqnr(ref, qv[qi])
            sq[qi] = min(_sqnr(ref, qv[qi]), ch) if ch is not None else _sqnr(ref, qv[qi])
    # an op whose activation TFLite did not fuse (e.g. FULLY_CONNECTED before SOFTMAX) has no Keras output of its
    # own: name it after the layer of the activation op consuming it
    acts = ("SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU")
    for op in qg.operators:
        for i in op.outputs:
            if i in matched and matched[i] not in names:
                for c in qg.operators:
                    if i in c.inputs and c.opcode in acts and c.outputs and names.get(matched.get(c.outputs[0])):
                        names[matched[i]] = f"{names[matched[c.outputs[0]]]} (before {c.opcode.lower()})"
    nsr = {qi: _nsr(v) for qi, v in sq_power.items()}
    rows = []
    for op in qg.operators:
        for i in op.outputs:
            if i not in matched:
                continue
            t = qg.main.tensors[i]
            ref, got = fv[matched[i]], qv[i]
            own = sq.get(i, float("nan"))  # effective: min(power-weighted, per-channel mean)
            act_in = [k for k in op.inputs if k >= 0 and not qg.main.tensors[k].is_constant]
            ins = [sq[k] for k in act_in if k in sq]
            drop = (min(ins) - own) if ins and own == own else 0.0
            added = None
            if nsr.get(i) is not None:
                upstream = [nsr[k] for k in act_in if nsr.get(k) is not None]
                added = max(0.0, nsr[i] - max(upstream, default=0.0))
            rows.append((added, LayerError(op.index, op.opcode, t.name, t.dtype, _sqnr(ref, got),
                                           float(np.max(np.abs(ref - got))), names.get(matched[i]), float(drop),
                                           tuple(t.shape), fg.main.tensors[matched[i]].name,
                                           _channel_sqnr(ref, got))))
    total = sum(a for a, _ in rows if a is not None)
    res = [replace(e, error_share=(a / total if total > 0 else 0.0) if a is not None else None) for a, e in rows]
    res.sort(key=lambda e: (-(e.error_share or 0.0), e.sqnr_db))
    return tuple(res)


def _nsr(sqnr: float) -> float | None:
    """Noise-to-signal power ratio of an SQNR in dB; None when undefined (no signal, NaN)."""
    if sqnr != sqnr or sqnr == float("-inf"):
        return None
    return 10.0 ** (-min(sqnr, SQNR_CAP_DB) / 10.0)


def sensitive_ops(errors: Sequence[LayerError], count: int, tflite: bytes | None = None) -> tuple[LayerError, ...]:
    """The `count` ops with the largest share of the output error, for float fallback / higher precision.

    Data-movement ops are ignored. With `tflite` given, the QUANTIZE of a float model input (input quantization
    loss) is attributed to the ops consuming it: keeping those in float removes the input QUANTIZE.
    """
    moving = {"RESHAPE", "SQUEEZE", "MAX_POOL_2D", "QUANTIZE", "DEQUANTIZE", "TRANSPOSE", "STRIDED_SLICE", "PAD"}
    by_op = {e.op_index: e for e in errors}
    ordered: list[LayerError] = []
    g = None
    if tflite is not None:
        from edgeq.graph import parse

        g = parse(tflite)
    for e in errors:
        if e.opcode == "QUANTIZE" and g is not None:
            op = g.operators[e.op_index]
            if op.inputs and op.inputs[0] in g.main.inputs:
                for c in g.operators:
                    if op.outputs[0] in c.inputs and c.index in by_op and by_op[c.index] not in ordered:
                        ordered.append(by_op[c.index])
            continue
        if e.opcode not in moving and e not in ordered:
            ordered.append(e)
    return tuple(ordered[:count])
