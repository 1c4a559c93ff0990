"""Low-bit weights: int4 / ternary / binary per-output-channel weight clustering (before quantize).

`cluster()` returns a float Keras model whose Dense/Conv/DepthwiseConv kernels take at most 2^b values per output
channel: int4 15 uniform levels k * s, k in -7..7, s = max|w| / 7 (symmetric, so the int8 scale max|w| / 127 maps
them onto 15 distinct int8 values); binary {-a, +a}, a = mean|w| (the L2-optimal scale for sign(w)); ternary
{-a, 0, +a} (TWN rule) threshold t = 0.7 * mean|w|, zero below it, a = mean|w| over the kept weights. First and
last weight layers stay in full precision by default (they hold the least parameters and hurt most, the usual
practice).

How it ships: the clustered model converts through the normal int8 pipeline. Quantizing is a function of each
weight, so a channel with k float values has at most k int8 values; `op_weight_bits()` verifies that on the
converted graph (the int8 `.tflite` is what TFLM runs, as int8, and the oracle) and gives edgeq's code generator
the op -> bits map: the generated C stores those kernels as 4/2/1-bit indices into a per-channel table of int8
values and computes exactly what the int8 model computes (`edgeq convert --weights`).
`pack()` also stores the clustered kernels compactly in an `.npz` (codes + one float32 scale per channel) for
storage/OTA transfer; `unpack()` restores the float kernels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeq.errors import ModelError, UsageError, did_you_mean
from edgeq.quality.qat import Int8Check

SCHEMES = ("int4", "ternary", "binary")
BITS = {"int8": 8, "int4": 4, "ternary": 2, "binary": 1}  # bits per packed weight index
WEIGHT_LAYERS = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D")
PACKED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")  # the ops with packed-weight kernels
TERNARY_THRESHOLD = 0.7
INT4_LEVELS = 7  # int4: codes -7..7 (symmetric; 15 of the 16 indices)
_SCHEME_HINT = "int4, ternary or binary"


@dataclass(frozen=True)
class ClusteredLayer:
    name: str
    kind: str
    weights: int
    zeros: int  # ternary: weights set to 0
    rel_error: float  # ||w' - w|| / ||w||
    scheme: str = ""


@dataclass(frozen=True)
class LowbitResult:
    scheme: str
    model: object = field(repr=False)  # keras.Model with clustered kernels
    layers: tuple[ClusteredLayer, ...]
    kept_full_precision: tuple[str, ...]
    packed_bytes: int  # bytes of the clustered kernels when packed (codes + scales)
    int8_bytes: int  # the same kernels as int8
    # with fine-tuning: int8 of the clustered model without fine-tuning ("ptq") vs with it, on held-out data
    check: Int8Check | None = None
    loss: str = ""  # the fine-tuning loss (qat.LOSSES)
    history: tuple[float, ...] = ()  # fine-tuning loss per epoch

    @property
    def fine_tuned(self) -> bool:
        """The kept kernels come from the fine-tuned network (False: fine-tuning made int8 worse, or none)."""
        return self.check is not None and not self.check.worse


def _channel_axes(kind: str, ndim: int) -> tuple[int, ...]:
    """Axes reduced per output channel: Dense (in, out) / Conv (..., in, out) -> all but last; depthwise: (kh, kw)."""
    return (0, 1) if kind == "DepthwiseConv2D" else tuple(range(ndim - 1))


def cluster_kernel(w: np.ndarray, scheme: str, kind: str = "Dense") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clustered kernel, integer codes (int4: -7..7, ternary {-1,0,1}, binary {-1,1}), per-channel scale
    broadcastable to w)."""
    if scheme not in SCHEMES:
        raise UsageError(f"unknown low-bit scheme {scheme!r}", hint=_SCHEME_HINT)
    axes = _channel_axes(kind, w.ndim)
    aw = np.abs(w)
    if scheme == "int4":
        a = aw.max(axis=axes, keepdims=True) / INT4_LEVELS
        codes = np.clip(np.round(w / np.where(a > 0, a, 1.0)), -INT4_LEVELS, INT4_LEVELS).astype(np.int8)
    elif scheme == "binary":
        a = aw.mean(axis=axes, keepdims=True)
        codes = np.where(w >= 0, 1, -1).astype(np.int8)
    else:
        t = TERNARY_THRESHOLD * aw.mean(axis=axes, keepdims=True)
        keep = aw > t
        cnt = np.maximum(keep.sum(axis=axes, keepdims=True), 1)
        a = (aw * keep).sum(axis=axes, keepdims=True) / cnt
        codes = (np.sign(w) * keep).astype(np.int8)
    return (codes * a).astype(w.dtype), codes, a.astype(np.float32)


def weight_layers(km) -> list:
    """The Keras model's (top-level) layers with a clusterable kernel, in model order."""
    return [ly for ly in km.layers if type(ly).__name__ in WEIGHT_LAYERS]


def default_layers(km) -> tuple[str, ...]:
    """Every weight layer but the first and the last (those stay int8), or none when there are only two."""
    wl = weight_layers(km)
    return tuple(ly.name for ly in wl[1:-1]) if len(wl) > 2 else ()


def resolve_layers(model, names: Sequence[str] | None, scheme: str,
                   option: str = "--weights-layers") -> dict[str, str]:
    """Layer name -> scheme for `names` (entries `NAME` take `scheme`, `NAME:SCHEME` their own; None:
    `default_layers` with `scheme`). UsageError naming the layer and why it cannot take the scheme (unknown name
    with a did-you-mean, no weights, not a conv/dense layer, unknown scheme)."""
    km = getattr(model, "handle", None)
    if getattr(model, "loader", None) not in ("keras", "tf_keras") or not hasattr(km, "layers"):
        raise UsageError(f"{model.path}: --weights {scheme} clusters Keras layers; this model was loaded with "
                         f"{getattr(model, 'loader', '?')}", hint="pass the .keras/.h5 source of the model")
    wl = weight_layers(km)
    if not wl:
        raise UsageError(f"{model.path}: no Dense/Conv1D/Conv2D/DepthwiseConv2D layer to store in {scheme}",
                         hint="drop --weights")
    if names is None:
        chosen = default_layers(km)
        if not chosen:
            raise UsageError(f"{model.path}: only {len(wl)} weight layer(s) ({', '.join(ly.name for ly in wl)}); "
                             f"by default the first and the last stay int8, so none is left for {scheme}",
                             hint=f"name the layers: {option} {','.join(ly.name for ly in wl)}")
        return {n: scheme for n in chosen}
    all_layers = {}
    for ly in _walk(km.layers):
        all_layers.setdefault(ly.name, ly)
    ok = {ly.name for ly in wl}
    out: dict[str, str] = {}
    if any(e.strip().partition(":")[0] == "all" for e in names) and "all" not in all_layers:
        # `all` / `all:SCHEME` first: every weight layer; later entries override single layers
        first = next(e for e in names if e.strip().partition(":")[0] == "all")
        sch = first.partition(":")[2].strip() or scheme
        out = {ly.name: sch for ly in wl}
        names = [e for e in names if e.strip().partition(":")[0] != "all"]
    for entry in names:
        n, _, sch = entry.partition(":")
        sch = sch.strip() or scheme
        n = n.strip()
        if sch not in ("int8", *SCHEMES):
            raise UsageError(f"{option}: {entry!r}: unknown weight scheme {sch!r}", hint="int8, " + _SCHEME_HINT)
        if n in ok:
            out[n] = sch
            continue
        ly = all_layers.get(n)
        if ly is None:
            raise UsageError(f"{option}: no layer {n!r} in {model.path}." + did_you_mean(n, all_layers),
                             hint="weight layers: " + ", ".join(sorted(ok)))
        kind = type(ly).__name__
        if hasattr(ly, "layers"):
            msg = f"layer {n!r} is a nested model ({kind}): name the layers inside it"
        elif not ly.get_weights():
            msg = f"layer {n!r} ({kind}) has no weights, so it cannot use {scheme} weights"
        else:
            msg = (f"layer {n!r} ({kind}) cannot use {scheme} weights: only Dense/Conv1D/Conv2D/DepthwiseConv2D "
                   "layers (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) have packed-weight kernels")
        raise UsageError(f"{option}: {msg}", hint="weight layers: " + ", ".join(sorted(ok)))
    if not any(v != "int8" for v in out.values()):
        raise UsageError(f"{option}: no layer named for a sub-byte scheme",
                         hint="e.g. " + option + " " + ",".join(sorted(ok)))
    return out


def _walk(layers):
    for ly in layers:
        yield ly
        yield from _walk(getattr(ly, "layers", []) or [])


def cluster(model, scheme: str = "ternary", *, keep_first_last: bool = True,
            layers: Sequence[str] | Mapping[str, str] | None = None,
            train=None, epochs: int = 0,
            learning_rate: float = 1e-3, batch_size: int = 32, loss: str = "auto", validation=None,
            calib=None, runtime: str = "litert", io_dtype: str | None = "int8", progress=None) -> LowbitResult:
    """Cluster the kernels of `model` (edgeq.convert.LoadedModel, Keras 3 or tf_keras) into `scheme`.

    `layers`: the names of the layers to cluster (validated by `resolve_layers`), or layer name -> scheme (one
    scheme per layer; "int8" entries are left as they are; the result's `scheme` is then "mixed" unless all agree);
    None: every weight layer, except the first and the last with `keep_first_last`.

    With `train` (edgeq.data.Dataset) and `epochs` > 0 (Keras 3 models), the network is first fine-tuned with the
    clustered kernels simulated in the forward pass (straight-through estimator, `edgeq.quality.qat` with per-layer
    weight schemes and the model's loss, the other layers simulating int8), which recovers most of the accuracy that
    clustering a trained float network costs; the final clustering then projects the fine-tuned kernels.
    The fine-tune proves it helped: on `validation` (else a held-out split of `train`) the int8 model of the
    clustered network without fine-tuning and that of the fine-tuned one are measured with `runtime`
    (`qat.check_int8`, result in `check`), and the fine-tuned one is kept only if it is not worse.
    `progress` receives a `qat.EpochLog` per epoch.
    """
    if scheme not in SCHEMES:
        raise UsageError(f"unknown low-bit scheme {scheme!r}", hint=_SCHEME_HINT)
    km = getattr(model, "handle", None)
    if getattr(model, "loader", None) not in ("keras", "tf_keras") or not hasattr(km, "layers"):
        raise ModelError(f"{model.path}: low-bit clustering needs a Keras model", hint="pass the .keras/.h5 source")
    from edgeq.convert import _import_tf

    _import_tf()
    wl0 = [ly for ly in km.layers if type(ly).__name__ in WEIGHT_LAYERS]
    if not wl0:
        raise ModelError(f"{model.path}: no Dense/Conv layers to cluster")
    if isinstance(layers, Mapping):
        schemes = {n: s for n, s in layers.items() if s != "int8"}
        bad = sorted(set(schemes.values()) - set(SCHEMES))
        if bad:
            raise UsageError(f"unknown low-bit scheme {bad[0]!r}", hint=_SCHEME_HINT)
        kinds = set(schemes.values())
        scheme = kinds.pop() if len(kinds) == 1 else "mixed"
    else:
        if layers is not None:
            chosen = set(layers)
        else:
            skip0 = {wl0[0].name, wl0[-1].name} if keep_first_last and len(wl0) > 2 else set()
            chosen = {ly.name for ly in wl0} - skip0
        schemes = {ly.name: scheme for ly in wl0 if ly.name in chosen}
    plain = _clustered(model, km, scheme, schemes)
    if train is None or epochs <= 0:
        return plain
    from dataclasses import replace

    from edgeq.quality import qat

    tr, val, where = qat.split_validation(train, validation)
    r = qat.fine_tune(model, tr, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, loss=loss,
                      weight_schemes=dict(schemes), validation=val, verify=False, progress=progress)
    tuned = _clustered(model, r.model, scheme, schemes)
    cal = list(calib) if calib is not None else [a[: qat.CALIB_SAMPLES] for a in tr.inputs]
    check = qat.check_int8(model, qat.as_loaded(model, plain.model), qat.as_loaded(model, tuned.model), val, cal,
                           loss=r.loss, data=where, runtime=runtime, io_dtype=io_dtype)
    return replace(plain if check.worse else tuned, check=check, loss=r.loss, history=r.history)


def _clustered(model, km, scheme: str, schemes: Mapping[str, str]) -> LowbitResult:
    """A copy of keras model `km` with each weight layer named in `schemes` clustered to its scheme."""
    from edgeq.convert import _quiet

    if model.loader == "keras":
        import keras as K
    else:
        import tf_keras as K
    with _quiet():
        new = K.models.clone_model(km)
        new.set_weights(km.get_weights())
    wl = [ly for ly in new.layers if type(ly).__name__ in WEIGHT_LAYERS]
    out, packed, int8 = [], 0, 0
    skip = []
    for ly in wl:
        if ly.name not in schemes:
            skip.append(ly.name)
            continue
        kind = type(ly).__name__
        ws = ly.get_weights()
        k = ws[0]
        ck, codes, a = cluster_kernel(k, schemes[ly.name], kind)
        ws[0] = ck
        ly.set_weights(ws)
        bits = BITS[schemes[ly.name]]
        packed += (k.size * bits + 7) // 8 + 4 * a.size
        int8 += k.size + 4 * a.size
        out.append(ClusteredLayer(ly.name, kind, int(k.size), int(np.sum(codes == 0)),
                                  float(np.linalg.norm(ck - k) / (np.linalg.norm(k) + 1e-12)), schemes[ly.name]))
    return LowbitResult(scheme, new, tuple(out), tuple(sorted(skip)), int(packed), int(int8))


def weight_levels(graph, op_index: int) -> int:
    """Most distinct int8 weight values any output channel of op `op_index` (subgraph 0) has (edgeq.codegen's
    `weight_levels` when this build has it)."""
    try:
        from edgeq.codegen import weight_levels as cg_levels
    except ImportError:
        cg_levels = None
    if cg_levels is not None:
        return int(cg_levels(graph, op_index))
    sg = graph.main
    op = sg.operators[op_index]
    w = sg.op_inputs(op)[1].array()
    # TFLite layouts: CONV_2D / FULLY_CONNECTED (out, ...), DEPTHWISE_CONV_2D (1, kh, kw, out)
    ch = w.reshape(-1, w.shape[-1]).T if op.opcode == "DEPTHWISE_CONV_2D" else w.reshape(w.shape[0], -1)
    return max(len(np.unique(c)) for c in ch)


@dataclass(frozen=True)
class PackedOp:
    """One CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED op of the converted graph and how its weights ship."""
    op_index: int
    opcode: str
    layer: str | None  # the Keras layer it came from
    scheme: str  # int8 | int4 | ternary | binary
    bits: int
    levels: int  # most distinct int8 values in one output channel
    weights: int  # number of weights
    int8_bytes: int  # constant data of the op as int8 (weights + bias), what the int8 generated C stores


def weight_layer(sg, op, layer_names: Sequence[str], weight_names=()) -> str | None:
    """The Keras layer whose kernel op `op`'s weight tensor holds. The converter names a folded weight after every
    scope it came through (`.../re_lu_1/Relu;.../dw_bn_1/batchnorm/mul_1;.../dw_1/depthwise`): a scope naming one of
    `weight_names` (the layers asked for) wins, then edgeq.check.op_layer (outputs first)."""
    from edgeq.check import _strip_suffix, op_layer

    names = frozenset(weight_names)
    if names and len(op.inputs) > 1 and op.inputs[1] >= 0:
        for part in sg.tensors[op.inputs[1]].name.split(";"):
            comps = part.split("/")
            if len(comps) < 3:
                continue
            suffixed = _strip_suffix(comps[0]) != comps[0]
            for comp in reversed(comps[1:-1]):
                hit = _strip_suffix(comp) if suffixed else comp  # Keras 3 traces: exactly one `_<n>` added
                if hit in names:
                    return hit
    return op_layer(sg, op, layer_names)


def op_weight_bits(graph, layer_names: Sequence[str], chosen: Mapping[str, str]) -> tuple[dict[int, int],
                                                                                        tuple[PackedOp, ...]]:
    """Map the Keras layers `chosen` (layer name -> scheme) onto the ops of the converted int8 `graph` and verify
    each of them has at most 2^bits int8 values per output channel. Returns (op index -> bits for codegen, one
    PackedOp per CONV_2D/DEPTHWISE_CONV_2D/FULLY_CONNECTED op). ModelError when a chosen layer became no such op
    or its int8 weights have more levels than the scheme allows."""
    sg = graph.main
    bits: dict[int, int] = {}
    rows: list[PackedOp] = []
    seen: set[str] = set()
    for op in sg.operators:
        if op.opcode not in PACKED_OPS:
            continue
        ins = sg.op_inputs(op)
        w = ins[1] if len(ins) > 1 else None
        if w is None or not w.is_constant or w.dtype != "int8":
            continue
        layer = weight_layer(sg, op, layer_names, chosen)
        scheme = chosen.get(layer, "int8") if layer else "int8"
        levels = weight_levels(graph, op.index)
        if scheme != "int8":
            seen.add(layer)
            if levels > 2 ** BITS[scheme]:
                raise ModelError(f"layer {layer!r} (op #{op.index} {op.opcode}): {levels} distinct int8 weight values "
                                 f"in one output channel after conversion, {scheme} stores at most "
                                 f"{2 ** BITS[scheme]}", hint="report this with the model; convert with --weights "
                                 "int8 meanwhile")
            bits[op.index] = BITS[scheme]
        const = sum(len(t.data) for t in ins if t is not None and t.is_constant)
        rows.append(PackedOp(op.index, op.opcode, layer, scheme, BITS[scheme], levels, w.num_elements, const))
    missing = [n for n in chosen if chosen[n] != "int8" and n not in seen]
    if missing:
        raise ModelError(f"layer(s) {', '.join(repr(n) for n in missing)} became no CONV_2D/DEPTHWISE_CONV_2D/"
                         "FULLY_CONNECTED op with int8 weights in the converted model, so their weights cannot be "
                         "packed", hint="leave them out of --weights-layers")
    return bits, tuple(rows)


def pack(result: LowbitResult) -> dict[str, np.ndarray]:
    """Arrays for np.savez: per clustered layer `<name>/codes` (bit-packed) `<name>/scale` `<name>/shape`."""
    if result.scheme not in SCHEMES:
        raise UsageError(f"pack() stores one scheme per file, not {result.scheme!r}", hint="cluster with one scheme")
    out: dict[str, np.ndarray] = {"scheme": np.array(result.scheme)}
    by = {ly.name: ly for ly in result.model.layers}
    for cl in result.layers:
        k = by[cl.name].get_weights()[0]
        _, codes, a = cluster_kernel(k, result.scheme, cl.kind)  # idempotent on clustered kernels
        if result.scheme == "int4":
            u = (codes.reshape(-1) + 8).astype(np.uint8)  # 1..15 in 4 bits
            u = np.concatenate([u, np.zeros(len(u) % 2, np.uint8)]).reshape(-1, 2)
            bits = (u[:, 0] | (u[:, 1] << 4)).astype(np.uint8)
        elif result.scheme == "ternary":
            u = (codes.reshape(-1) + 1).astype(np.uint8)  # 0,1,2 in 2 bits
            u = np.concatenate([u, np.zeros((-len(u)) % 4, np.uint8)]).reshape(-1, 4)
            bits = (u[:, 0] | (u[:, 1] << 2) | (u[:, 2] << 4) | (u[:, 3] << 6)).astype(np.uint8)
        else:
            bits = np.packbits((codes.reshape(-1) > 0).astype(np.uint8))
        out[f"{cl.name}/codes"] = bits
        out[f"{cl.name}/scale"] = a.reshape(-1).astype(np.float32)
        out[f"{cl.name}/shape"] = np.array(k.shape, dtype=np.int64)
        out[f"{cl.name}/kind"] = np.array(cl.kind)
    return out


def unpack(arrays) -> dict[str, np.ndarray]:
    """Layer name -> float kernel, from `pack()` output (or the loaded .npz)."""
    scheme = str(arrays["scheme"])
    res = {}
    for key in arrays:
        if not key.endswith("/codes"):
            continue
        name = key[: -len("/codes")]
        shape = tuple(int(d) for d in arrays[f"{name}/shape"])
        kind = str(arrays[f"{name}/kind"])
        n = int(np.prod(shape))
        b = np.asarray(arrays[key], dtype=np.uint8)
        if scheme == "int4":
            codes = np.stack([b & 15, b >> 4], axis=1).reshape(-1)[:n].astype(np.int8) - 8
        elif scheme == "ternary":
            u = np.stack([(b >> s) & 3 for s in (0, 2, 4, 6)], axis=1).reshape(-1)[:n]
            codes = u.astype(np.int8) - 1
        else:
            codes = np.unpackbits(b)[:n].astype(np.int8) * 2 - 1
        codes = codes.reshape(shape)
        a = np.asarray(arrays[f"{name}/scale"], dtype=np.float32)
        axes = _channel_axes(kind, len(shape))
        bshape = [1 if i in axes else d for i, d in enumerate(shape)]
        res[name] = codes.astype(np.float32) * a.reshape(bshape)
    return res


# ------------------------------------------------------------------------------------- flash search


STEPS = ("int8", "int4", "ternary", "binary")  # each step stores fewer levels per channel


@dataclass(frozen=True)
class FlashCandidate:
    schemes: dict  # Keras layer -> int8 | int4 | ternary | binary
    flash_bytes: int  # constant data (weights + biases) of the CONV/DEPTHWISE/FC ops in edgeq's generated C
    accuracy: float
    accuracy_drop_pp: float  # vs the float model
    met_budget: bool
    chosen: bool = False

    @property
    def name(self) -> str:
        low = [f"{n}:{s}" for n, s in self.schemes.items() if s != "int8"]
        return ",".join(low) if low else "int8"


@dataclass(frozen=True)
class FlashSearch:
    best: FlashCandidate | None
    candidates: tuple[FlashCandidate, ...]
    float_accuracy: float
    runtime: str
    tflite: bytes = field(default=b"", repr=False)  # the chosen model's int8 .tflite (the oracle)
    weight_bits: dict = field(default_factory=dict)  # op index -> bits of the chosen model

    def convert_args(self) -> str:
        """`edgeq convert` options that build the chosen model."""
        if self.best is None or self.best.name == "int8":
            return "--weights int8"
        return f"--weights int4 --weights-layers {self.best.name}"


def search_flash(model, target, calib, ev, *, max_accuracy_drop_pp: float, layers: Sequence[str] | None = None,
                 max_evaluations: int = 40, progress=None) -> FlashSearch:
    """The smallest model (per-layer bit widths) whose accuracy drop vs the float model stays within the budget.

    Greedy, post-training (no fine-tuning): from all-int8, the moves int8 -> int4 -> ternary -> binary of one layer
    are tried in the order of the weight bytes they save; a move is kept when the model still meets the budget,
    else that layer stays where it is. Each candidate is clustered, converted to int8 and run on the eval set with
    the kernels the target ships (tflite-micro, which the packed generated C matches bit for bit); its flash is
    the constant data edgeq's generated C stores (edgeq.codegen.render with the packed weights). `layers`: the
    Keras layers that may be packed (default: every Dense/Conv layer). At most `max_evaluations` conversions.
    """
    from edgeq import codegen, convert
    from edgeq.errors import CheckFailed, DataError
    from edgeq.graph import parse
    from edgeq.quality import evaluate

    if ev.labels is None:
        raise DataError(f"{ev.source}: --max-accuracy-drop needs labels in the evaluation data",
                        hint="add the labels (`y`) to the --eval data")
    km = getattr(model, "handle", None)
    if getattr(model, "loader", None) not in ("keras", "tf_keras") or not hasattr(km, "layers"):
        raise UsageError(f"{model.path}: the flash search clusters Keras layers", hint="pass the .keras/.h5 source")
    wl = weight_layers(km)
    names = list(layers) if layers is not None else [ly.name for ly in wl]
    unknown = [n for n in names if n not in {ly.name for ly in wl}]
    if unknown:
        raise UsageError(f"no Dense/Conv layer {unknown[0]!r} in {model.path}." + did_you_mean(unknown[0],
                         [ly.name for ly in wl]), hint="weight layers: " + ", ".join(ly.name for ly in wl))
    sizes = {ly.name: int(ly.get_weights()[0].size) for ly in wl}
    runtime = evaluate.runtime_for(target)
    io_dtype = target.quantization.io_dtype
    per_channel = target.quantization.per_channel != "forbidden"
    cal = [a[:500] for a in calib.inputs]
    layer_names = convert.keras_layer_names(model)
    out_names = convert.signature_names(model)
    f_out = convert.predict_float(model, ev.inputs)[0]
    lab = np.asarray(ev.labels).reshape(len(ev), -1)
    lab = lab.argmax(1) if lab.shape[1] > 1 else lab[:, 0]
    float_acc = float(np.mean(f_out.reshape(len(ev), -1).argmax(1) == lab))
    tried: dict[tuple, tuple[FlashCandidate, bytes, dict]] = {}

    def measure(schemes: dict[str, str]):
        key = tuple(sorted(schemes.items()))
        if key in tried:
            return tried[key]
        if progress:
            progress(f"candidate {len(tried) + 1}: " + (",".join(f"{n}:{s}" for n, s in schemes.items()
                                                                  if s != "int8") or "int8"))
        low = {n: s for n, s in schemes.items() if s != "int8"}
        src = as_loaded_clustered(model, cluster(model, layers=low).model) if low else model
        tfl = convert.quantize(src, "int8", cal, io_dtype=io_dtype, per_channel=per_channel,
                               rewrite=target.is_mcu)
        g = parse(tfl)
        bits, _ = op_weight_bits(g, layer_names, low)
        flash = sum(o.weight_bytes for o in codegen.render(g, weight_bits=bits or None).ops if o.opcode in PACKED_OPS)
        q = evaluate.run_tflite(tfl, ev.inputs, runtime=runtime, input_names=out_names[0],
                                output_names=out_names[1])[0]
        acc = float(np.mean(q.reshape(len(ev), -1).argmax(1) == lab))
        drop = 100 * (float_acc - acc)
        c = FlashCandidate(dict(schemes), int(flash), acc, drop, drop <= max_accuracy_drop_pp)
        tried[key] = (c, tfl, bits)
        return tried[key]

    current = {n: "int8" for n in names}
    best = measure(current)
    if not best[0].met_budget:
        res = FlashSearch(None, tuple(t[0] for t in tried.values()), float_acc, runtime)
        err = CheckFailed(f"{model.path}: even int8 weights drop accuracy {best[0].accuracy_drop_pp:.2f} pp "
                          f"(budget {max_accuracy_drop_pp:g} pp); no packed model can meet it",
                          hint="raise --max-accuracy-drop, or fine-tune first (`edgeq qat`)")
        err.search_result = res
        raise err
    frozen: set[str] = set()
    while len(tried) < max_evaluations:
        moves = []
        for n in names:
            i = STEPS.index(current[n])
            if n in frozen or i + 1 >= len(STEPS):
                continue
            saved = sizes[n] * (BITS[STEPS[i]] - BITS[STEPS[i + 1]])
            moves.append((saved, n, STEPS[i + 1]))
        if not moves:
            break
        _, n, nxt = max(moves)
        trial = measure({**current, n: nxt})
        if trial[0].met_budget and trial[0].flash_bytes < best[0].flash_bytes:
            current, best = {**current, n: nxt}, trial
        else:
            frozen.add(n)
    chosen, tfl, bits = best
    cands = tuple(replace_chosen(t[0], t[0] is chosen) for t in tried.values())
    return FlashSearch(next(c for c in cands if c.chosen), cands, float_acc, runtime, tfl, bits)


def replace_chosen(c: FlashCandidate, chosen: bool) -> FlashCandidate:
    from dataclasses import replace

    return replace(c, chosen=chosen)


def as_loaded_clustered(model, keras_model):
    """The clustered keras model as an edgeq LoadedModel (like qat.as_loaded, without importing qat)."""
    from dataclasses import replace

    return replace(model, handle=keras_model)
