"""Low-bit weights: ternary {-a, 0, +a} / binary {-a, +a} per-output-channel weight clustering (before quantize).

`cluster()` returns a float Keras model whose Dense/Conv/DepthwiseConv kernels take at most three values per
output channel: binary a = mean|w| (the L2-optimal scale for sign(w)); ternary (TWN rule) threshold
t = 0.7 * mean|w|, zero below it, a = mean|w| over the kept weights. First and last weight layers stay in full
precision by default (they hold the least parameters and hurt most, the usual practice).

Export, honestly: no runtime edgeq targets executes 2-bit weights. TFLM, LiteRT and XNNPACK run int8 weights (and
LiteRT some experimental int4 paths that the TF 2.21 converter does not produce from a Keras model in the standard
flow). What edgeq does instead:
- the clustered model converts through the normal int8 pipeline, and the conversion adds no weight error: with a
  per-channel symmetric scale a/127 every clustered weight becomes exactly -127, 0 or +127, so the int8 model
  computes exactly the clustered network (flash use is still 8 bits per weight);
- `pack()` stores the clustered kernels compactly — 2 bits per weight (ternary) or 1 bit (binary) plus one float32
  scale per channel — in an `.npz` for storage/OTA transfer; `unpack()` restores the float kernels. Running from
  the packed form needs a custom kernel that no target ships today.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeq.errors import ModelError, UsageError
from edgeq.quality.qat import Int8Check

SCHEMES = ("ternary", "binary")
WEIGHT_LAYERS = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D")
TERNARY_THRESHOLD = 0.7


@dataclass(frozen=True)
class ClusteredLayer:
    name: str
    kind: str
    weights: int
    zeros: int  # ternary: weights set to 0
    rel_error: float  # ||w' - w|| / ||w||


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
    """(clustered kernel, codes in {-1,0,1}, per-channel scale broadcastable to w)."""
    if scheme not in SCHEMES:
        raise UsageError(f"unknown low-bit scheme {scheme!r}", hint="ternary or binary")
    axes = _channel_axes(kind, w.ndim)
    aw = np.abs(w)
    if scheme == "binary":
        a = aw.mean(axis=axes, keepdims=True)
        codes = np.where(w >= 0, 1, -1).astype(np.int8)
    else:
        t = TERNARY_THRESHOLD * aw.mean(axis=axes, keepdims=True)
        keep = aw > t
        cnt = np.maximum(keep.sum(axis=axes, keepdims=True), 1)
        a = (aw * keep).sum(axis=axes, keepdims=True) / cnt
        codes = (np.sign(w) * keep).astype(np.int8)
    return (codes * a).astype(w.dtype), codes, a.astype(np.float32)


def cluster(model, scheme: str = "ternary", *, keep_first_last: bool = True, train=None, epochs: int = 0,
            learning_rate: float = 1e-3, batch_size: int = 32, loss: str = "auto", validation=None,
            calib=None, runtime: str = "litert", io_dtype: str | None = "int8", progress=None) -> LowbitResult:
    """Cluster the kernels of `model` (edgeq.convert.LoadedModel, Keras 3 or tf_keras) into `scheme`.

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
        raise UsageError(f"unknown low-bit scheme {scheme!r}", hint="ternary or binary")
    km = getattr(model, "handle", None)
    if getattr(model, "loader", None) not in ("keras", "tf_keras") or not hasattr(km, "layers"):
        raise ModelError(f"{model.path}: low-bit clustering needs a Keras model", hint="pass the .keras/.h5 source")
    from edgeq.convert import _import_tf

    _import_tf()
    wl0 = [ly for ly in km.layers if type(ly).__name__ in WEIGHT_LAYERS]
    if not wl0:
        raise ModelError(f"{model.path}: no Dense/Conv layers to cluster")
    skip = {wl0[0].name, wl0[-1].name} if keep_first_last and len(wl0) > 2 else set()
    plain = _clustered(model, km, scheme, skip)
    if train is None or epochs <= 0:
        return plain
    from dataclasses import replace

    from edgeq.quality import qat

    tr, val, where = qat.split_validation(train, validation)
    r = qat.fine_tune(model, tr, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, loss=loss,
                      weight_schemes={ly.name: scheme for ly in wl0 if ly.name not in skip}, validation=val,
                      verify=False, progress=progress)
    tuned = _clustered(model, r.model, scheme, skip)
    cal = list(calib) if calib is not None else [a[: qat.CALIB_SAMPLES] for a in tr.inputs]
    check = qat.check_int8(model, qat.as_loaded(model, plain.model), qat.as_loaded(model, tuned.model), val, cal,
                           loss=r.loss, data=where, runtime=runtime, io_dtype=io_dtype)
    return replace(plain if check.worse else tuned, check=check, loss=r.loss, history=r.history)


def _clustered(model, km, scheme: str, skip: set[str]) -> LowbitResult:
    """A copy of keras model `km` with every weight layer not in `skip` clustered to `scheme`."""
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
    for ly in wl:
        if ly.name in skip:
            continue
        kind = type(ly).__name__
        ws = ly.get_weights()
        k = ws[0]
        ck, codes, a = cluster_kernel(k, scheme, kind)
        ws[0] = ck
        ly.set_weights(ws)
        bits = 2 if scheme == "ternary" else 1
        packed += (k.size * bits + 7) // 8 + 4 * a.size
        int8 += k.size + 4 * a.size
        out.append(ClusteredLayer(ly.name, kind, int(k.size), int(np.sum(codes == 0)),
                                  float(np.linalg.norm(ck - k) / (np.linalg.norm(k) + 1e-12))))
    return LowbitResult(scheme, new, tuple(out), tuple(sorted(skip)), int(packed), int(int8))


def pack(result: LowbitResult) -> dict[str, np.ndarray]:
    """Arrays for np.savez: per clustered layer `<name>/codes` (bit-packed) `<name>/scale` `<name>/shape`."""
    out: dict[str, np.ndarray] = {"scheme": np.array(result.scheme)}
    by = {ly.name: ly for ly in result.model.layers}
    for cl in result.layers:
        k = by[cl.name].get_weights()[0]
        _, codes, a = cluster_kernel(k, result.scheme, cl.kind)  # idempotent on clustered kernels
        if result.scheme == "ternary":
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
        if scheme == "ternary":
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
