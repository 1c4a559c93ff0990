"""Load and quantize stages: Keras 3 / legacy Keras 2 / SavedModel in, TFLite bytes out.

The only module that imports TensorFlow (inside functions, so `import edgeq` stays light). Conversion always
traces the model with the batch dimension fixed to 1: with a dynamic batch, Keras 3 `Flatten`/`Reshape` lower to
SHAPE/STRIDED_SLICE/PACK chains that MCU runtimes and delegates cannot run, and arena planning needs static
shapes. Keras 2 files that Keras 3 refuses (e.g. `DepthwiseConv2D` configs with a `groups` key) and old
SavedModels are loaded through `tf_keras`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import DataError, EdgeqError, ModelError, ToolMissing, UsageError

MODES = ("int8", "int16x8", "float16", "dynamic", "float32")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]  # batch dimension first (None = dynamic)
    dtype: str


@dataclass(frozen=True)
class LoadedModel:
    """A float model ready to convert or run. `kind`: keras | h5 | savedmodel | tflite."""

    path: str
    kind: str
    loader: str  # "keras" (Keras 3), "tf_keras" (Keras 2), "saved_model", "tflite"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    sha256: str
    handle: object = field(default=None, repr=False, compare=False)  # keras model / signature fn / tflite bytes
    notes: tuple[str, ...] = ()


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with quiet_native():  # TF/absl print start-up banners (oneDNN, CUDA) straight to fd 2
            import tensorflow as tf
    except ImportError:
        raise ToolMissing("TensorFlow is needed for conversion but is not installed",
                          hint="pip install 'edgeq[tf]'  (or: pip install tensorflow==2.21.* tf-keras)") from None
    tf.get_logger().setLevel("ERROR")
    return tf


def _hash_path(p: Path) -> str:
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _keras_specs(model) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    def spec(t, fallback: str) -> TensorSpec:
        name = getattr(t, "name", None) or fallback
        name = name.split(":")[0]
        shape = tuple(None if d is None else int(d) for d in t.shape)
        dt = t.dtype
        dt = getattr(dt, "name", dt)
        return TensorSpec(str(name), shape, str(dt))

    ins = tuple(spec(t, f"input_{i}") for i, t in enumerate(model.inputs))
    outs = tuple(spec(t, f"output_{i}") for i, t in enumerate(model.outputs))
    names = list(getattr(model, "output_names", None) or [])
    if len(names) == len(outs):  # Keras 3 output tensors are "keras_tensor_13"; the layer names mean something
        outs = tuple(TensorSpec(str(n), o.shape, o.dtype) for n, o in zip(names, outs))
    return ins, outs


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"{path}: model file not found",
                         hint="check the path (Keras .keras/.h5, SavedModel dir, .tflite)")


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Load a float model. Errors name the file and the reason, with a hint."""
    p = Path(path)
    _check_exists(p)
    suffix = p.suffix.lower()
    if p.is_file() and suffix == ".tflite":
        from edgeq import graph as g

        gr = g.load(p)
        ins = tuple(TensorSpec(t.name, t.shape, t.dtype) for t in gr.inputs)
        outs = tuple(TensorSpec(t.name, t.shape, t.dtype) for t in gr.outputs)
        return LoadedModel(str(p), "tflite", "tflite", ins, outs, gr.sha256, gr.raw)
    if p.is_dir():
        if not (p / "saved_model.pb").exists() and not (p / "saved_model.pbtxt").exists():
            raise ModelError(f"{p}: directory is not a TF SavedModel (no saved_model.pb)",
                             hint="pass a SavedModel directory, a .keras/.h5 file or a .tflite")
        return _load_saved_model(p)
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{p}: unsupported model file type {suffix or '(no extension)'!r}",
                         hint="use a Keras 3 .keras file, a legacy .h5, a SavedModel directory or a .tflite")
    sha = _hash_path(p)
    with open(p, "rb") as fh:
        head = fh.read(8)
    import zipfile

    if suffix == ".keras" and head.startswith(b"PK") and not zipfile.is_zipfile(p):
        raise ModelError(f"{p}: corrupt .keras file (the zip archive is truncated or damaged)",
                         hint="copy or re-save the model (model.save('model.keras'))")
    if suffix == ".keras" and not head.startswith(b"PK"):
        raise ModelError(f"{p}: not a valid .keras file (a .keras file is a zip archive)",
                         hint="re-save the model with model.save('model.keras')")
    if suffix in (".h5", ".hdf5") and not head.startswith(b"\x89HDF"):
        raise ModelError(f"{p}: not a valid HDF5 file", hint="re-save the model with model.save('model.h5')")
    _import_tf()
    import keras

    notes: list[str] = []
    err3 = None
    try:
        with _quiet():
            model = keras.saving.load_model(str(p), compile=False)
        ins, outs = _keras_specs(model)
        return LoadedModel(str(p), "keras" if suffix == ".keras" else "h5", "keras", ins, outs, sha, model)
    except Exception as e:  # noqa: BLE001 - Keras raises many types; fall back to tf_keras for .h5
        err3 = e
    if suffix == ".keras":
        raise ModelError(f"{p}: Keras could not load the model: {_short(err3)}",
                         hint="custom layers must be importable and registered "
                              "(keras.saving.register_keras_serializable)")
    try:
        import tf_keras
    except ImportError:
        raise ToolMissing(f"{p}: Keras 3 refused this legacy .h5 ({_short(err3)}) and tf_keras is not installed",
                          hint="pip install tf-keras==2.21.*") from None
    try:
        with _quiet():
            model = tf_keras.models.load_model(str(p), compile=False)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{p}: neither Keras 3 nor tf_keras could load the model: {_short(e)}",
                         hint="check the file is a Keras model saved with model.save(); "
                              "custom layers must be importable") from None
    why = _short(err3).split(" using config=")[0]  # Keras quotes the whole layer config; the class is enough
    notes.append(f"loaded with tf_keras (legacy Keras 2): Keras 3 refused it: {why}")
    ins, outs = _keras_specs(model)
    return LoadedModel(str(p), "h5", "tf_keras", ins, outs, sha, model, tuple(notes))


def _load_saved_model(p: Path) -> LoadedModel:
    tf = _import_tf()
    sha = _hash_path(p)
    if (p / "keras_metadata.pb").exists():
        # A Keras 2 SavedModel: tf_keras rebuilds the model, which converts more reliably than the raw graph.
        try:
            import tf_keras

            with _quiet():
                model = tf_keras.models.load_model(str(p), compile=False)
            ins, outs = _keras_specs(model)
            return LoadedModel(str(p), "savedmodel", "tf_keras", ins, outs, sha, model,
                               ("Keras 2 SavedModel loaded with tf_keras",))
        except Exception:  # noqa: BLE001 - fall through to the signature path
            pass
    try:
        with _quiet():
            loaded = tf.saved_model.load(str(p))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{p}: cannot load SavedModel: {_short(e)}",
                         hint="re-export with tf.saved_model.save") from None
    sigs = getattr(loaded, "signatures", {})
    if "serving_default" not in sigs:
        raise ModelError(f"{p}: SavedModel has no 'serving_default' signature (has: {', '.join(sigs) or 'none'})",
                         hint="export with tf.saved_model.save(model, dir, signatures=...)")
    fn = sigs["serving_default"]
    kw = fn.structured_input_signature[1]
    ins = tuple(TensorSpec(n, tuple(s.shape.as_list()), s.dtype.name) for n, s in kw.items())
    outs = tuple(TensorSpec(n, tuple(s.shape.as_list()), s.dtype.name)
                 for n, s in sorted(fn.structured_outputs.items()))
    return LoadedModel(str(p), "savedmodel", "saved_model", ins, outs, sha, (loaded, fn))


def _short(e: BaseException | None) -> str:
    import re

    text = str(e)
    bold = re.findall(r"\x1b\[1m(.*?)\x1b\[0m", text)  # Keras highlights the actual message
    s = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in text.strip().splitlines()]
    s = [ln for ln in s if ln]
    if bold:
        return bold[0].strip()[:300]
    if s and s[0].startswith("in user code"):  # tf.function wraps the real error after a Python stack
        errs = [ln for ln in s if re.match(r"\w+(Error|Exception): ", ln)]
        s = errs[-1:] or s[-1:]
    return (s[0] if s else type(e).__name__)[:300]


@contextlib.contextmanager
def quiet_native(keep: list[str] | None = None):
    """Silence what C++ code (TF converter, TFLM) prints straight to file descriptors 1 and 2.

    With `keep`, the silenced text is appended to it on exit, so a caller can put TFLM's own words ("Didn't find
    op for builtin opcode 'GELU'") into edgeq's error instead of onto the user's terminal."""
    import sys
    import tempfile

    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except (AttributeError, ValueError):
            pass
    import faulthandler

    saved = []
    crash_log = None
    sink = None
    try:
        if keep is not None:
            sink = tempfile.TemporaryFile()
            target = os.dup(sink.fileno())
        else:
            target = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(target, fd)
        os.close(target)
        # a crash inside native code must still say where it happened, on the real stderr
        crash_log = os.fdopen(os.dup(saved[1][1]), "w")
        faulthandler.enable(file=crash_log)
    except OSError:  # no real fds (e.g. captured by a test runner): nothing to silence
        pass
    try:
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        if crash_log is not None:
            faulthandler.disable()
            crash_log.close()
        if sink is not None:
            sink.seek(0)
            keep.append(sink.read().decode("utf-8", "replace"))
            sink.close()


class TflmError(RuntimeError):
    """tflite-micro refused or failed to run a model; the message carries TFLM's own reason (not an EdgeqError on
    purpose: callers that can fall back to LiteRT catch it, others turn it into a ModelError)."""


def tflm_host_arena_bytes(model: bytes) -> int:
    """An arena the host interpreter surely fits: tflite-micro's own default is 10x the model's bytes, too small
    for models with few weights and large activations (one conv on a 96x96 image). Host memory is cheap: twice
    every non-constant tensor plus 64 KiB for TFLM's bookkeeping."""
    from edgeq.graph import parse

    try:
        g = parse(model)
        act = sum(t.size_bytes for sg in g.subgraphs for t in sg.tensors if not t.is_constant)
    except Exception:  # noqa: BLE001 - a model edgeq cannot parse: let TFLM say what is wrong with it
        act = 0
    return max(10 * len(model), 2 * act + 65536)


def tflm_interpreter(model: bytes, **kwargs):
    """tflite-micro's Python interpreter, created with its native messages captured into TflmError; the arena
    sized by tflm_host_arena_bytes unless arena_size is given."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ToolMissing("tflite-micro is not installed", hint="pip install tflite-micro") from None
    kwargs.setdefault("arena_size", tflm_host_arena_bytes(model))
    native: list[str] = []
    try:
        with quiet_native(native):
            return runtime.Interpreter.from_bytes(model, **kwargs)
    except Exception as e:  # noqa: BLE001 - TFLM raises RuntimeError/ValueError with a generic text
        raise TflmError(tflm_reason("".join(native), e)) from None


def tflm_reason(native: str, e: BaseException | None = None) -> str:
    """One line from what TFLM printed: the missing op when that is the cause."""
    import re

    ops = sorted(set(re.findall(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'", native)))
    if ops:
        return f"tflite-micro has no kernel for {', '.join(ops)}"
    lines = [ln.strip() for ln in native.splitlines() if ln.strip()]
    msg = "; ".join(lines[:3]) or (str(e).strip().splitlines() or [type(e).__name__])[0]
    return f"tflite-micro could not run the model: {msg}"[:400]


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), quiet_native():
            yield


def _concrete_function(model: LoadedModel):
    """A tf.function with batch fixed to 1, returning outputs as a flat list in model.outputs order."""
    tf = _import_tf()
    specs = []
    for s in model.inputs:
        dims = list(s.shape)
        if dims and dims[0] is None:
            dims[0] = 1
        if any(d is None for d in dims[1:]):
            raise ModelError(f"{model.path}: input {s.name!r} has a dynamic dimension {s.shape}",
                             hint="give the model a fixed input shape (keras.Input(shape=...)) before converting")
        specs.append(tf.TensorSpec(dims, tf.as_dtype(s.dtype), name=_tf_name(s.name)))
    if model.loader == "saved_model":
        _, fn = model.handle
        names = [s.name for s in model.inputs]
        out_names = [s.name for s in model.outputs]

        @tf.function(input_signature=specs)
        def f(*args):
            res = fn(**dict(zip(names, args)))
            return [res[n] for n in out_names]
    else:
        km = model.handle
        multi = len(specs) > 1

        @tf.function(input_signature=specs)
        def f(*args):
            out = km(list(args) if multi else args[0], training=False)
            if isinstance(out, dict):
                out = [out[k] for k in out]
            return list(out) if isinstance(out, (list, tuple)) else [out]
    return f.get_concrete_function()


def _trackable(model: LoadedModel):
    """The object owning the variables the concrete function reads, so the converter can freeze them.

    Keras 3 variables wrap tf.Variables (`.value`); without a trackable that holds those, the converter keeps
    READ_VARIABLE ops and fails at calibration time.
    """
    tf = _import_tf()
    if model.loader == "saved_model":
        return model.handle[0]
    mod = tf.Module()
    mod.edgeq_vars = [getattr(v, "value", v) for v in model.handle.variables]
    return mod


def signature_names(model: LoadedModel) -> tuple[list[str], list[str]]:
    """Signature input/output names of the converted model, in the Keras model's input/output order."""
    if model.kind == "tflite":
        return [], []
    return [_tf_name(s.name) for s in model.inputs], [f"output_{k}" for k in range(len(model.outputs))]


_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


def _refuse_rolled_recurrent_layers(model: LoadedModel) -> None:
    """The TF 2.21 converter crashes the process (SIGSEGV) on rolled recurrent loops traced with a fixed batch;
    name the layers and the fix instead. `unroll=True` turns the loop into plain ops that convert and run."""
    if model.loader not in ("keras", "tf_keras"):
        return
    found: list[str] = []

    def walk(layers) -> None:
        for layer in layers:
            inner = [getattr(layer, a, None) for a in ("forward_layer", "backward_layer", "layer")]
            for sub in inner:
                if sub is not None and type(sub).__name__ in _RECURRENT and not getattr(sub, "unroll", False):
                    found.append(f"{layer.name!r} ({type(layer).__name__} of {type(sub).__name__})")
            if type(layer).__name__ in _RECURRENT and not getattr(layer, "unroll", False):
                found.append(f"{layer.name!r} ({type(layer).__name__})")
            walk(getattr(layer, "layers", []) or [])

    walk(getattr(model.handle, "layers", []))
    found = list(dict.fromkeys(found))
    if found:
        raise ModelError(f"{model.path}: recurrent layer(s) {', '.join(found)} run as a loop that the TFLite "
                         "converter cannot lower for a fixed batch size",
                         hint="re-create the layer with unroll=True (fixed sequence length) and copy the weights; "
                              "the unrolled cell converts to plain FULLY_CONNECTED/LOGISTIC/TANH/MUL/ADD ops "
                              "(integer-only targets: the converter may keep its gate SPLIT in float; edgeq checks)")


# ------------------------------------------------------------------------------------ MCU rewrites


@dataclass(frozen=True)
class Rewrite:
    """One Keras layer traced as an equivalent op sequence an MCU runtime has (the default lowering has an op
    TFLM lacks). Numerically identical to the layer: same values at every output position."""

    layer: str  # Keras layer name
    layer_type: str
    lowered_to: str  # what Keras 3 / the converter produce without the rewrite
    becomes: str  # the TFLite ops with it

    def describe(self) -> str:
        lacks = ("which integer tflite-micro lacks and 16x8 cannot quantize" if "NEG" in self.lowered_to
                 else "which int8 tflite-micro runs, int16x8 not" if "REDUCE_MAX" in self.lowered_to
                 else "which tflite-micro lacks")
        return (f"rewrite: {self.layer_type} layer {self.layer!r} traced as {self.becomes} (Keras 3 lowers it to "
                f"{self.lowered_to}, {lacks}); --no-rewrite keeps the default lowering")


def _walk_layers(layers) -> Iterator:
    for layer in layers:
        yield layer
        yield from _walk_layers(getattr(layer, "layers", []) or [])


def keras_layer_names(model: LoadedModel) -> tuple[str, ...]:
    """Names of every (nested) Keras layer; check findings map TFLite tensor scopes onto them."""
    if model.loader not in ("keras", "tf_keras"):
        return ()
    return tuple(dict.fromkeys(layer.name for layer in _walk_layers(getattr(model.handle, "layers", []))))


def _rewrite_call(layer):
    """The replacement `call` for a layer this module rewrites, or None (layer left as it is)."""
    kind = type(layer).__name__
    fmt = getattr(layer, "data_format", "channels_last")
    if kind == "UpSampling2D" and getattr(layer, "interpolation", "nearest") == "nearest" and fmt == "channels_last":
        sh, sw = (int(v) for v in layer.size)

        def up2d(x, *args, **kwargs):
            tf = _import_tf()
            h, w = int(x.shape[1]), int(x.shape[2])
            # align_corners=False, half_pixel_centers=False: source index floor(dst * in / out) = dst // size,
            # exactly the repeat Keras computes
            return tf.compat.v1.image.resize_nearest_neighbor(x, (h * sh, w * sw), align_corners=False,
                                                              half_pixel_centers=False)

        return up2d, "TILE", "RESIZE_NEAREST_NEIGHBOR"
    if kind == "UpSampling1D":
        s = int(layer.size)

        def up1d(x, *args, **kwargs):
            tf = _import_tf()
            t, c = int(x.shape[1]), int(x.shape[2])
            y = tf.reshape(x, (-1, t, 1, c))
            y = tf.compat.v1.image.resize_nearest_neighbor(y, (t * s, 1), align_corners=False,
                                                           half_pixel_centers=False)
            return tf.reshape(y, (-1, t * s, c))

        return up1d, "TILE", "RESHAPE + RESIZE_NEAREST_NEIGHBOR + RESHAPE"
    if kind == "RepeatVector":
        n = int(layer.n)

        def repeat(x, *args, **kwargs):
            tf = _import_tf()
            return tf.concat([tf.expand_dims(x, 1)] * n, axis=1)

        return repeat, "TILE", "RESHAPE + CONCATENATION"
    if kind in ("GlobalMaxPooling1D", "GlobalMaxPooling2D") and fmt == "channels_last":
        keep = bool(getattr(layer, "keepdims", False))

        def global_max(x, *args, **kwargs):
            tf = _import_tf()
            # a MAX_POOL_2D whose window is the whole map: the same maxima (comparisons are exact)
            h, w, c = (int(x.shape[1]), 1, int(x.shape[2])) if kind.endswith("1D") else \
                (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
            y = tf.nn.max_pool2d(tf.reshape(x, (-1, h, w, c)), ksize=(h, w), strides=(h, w), padding="VALID")
            shape = ((-1, 1, c) if kind.endswith("1D") else (-1, 1, 1, c)) if keep else (-1, c)
            return tf.reshape(y, shape)

        return global_max, "REDUCE_MAX", "MAX_POOL_2D over the whole map"
    if kind == "LayerNormalization" and not getattr(layer, "rms_scaling", False) \
            and getattr(layer, "compute_dtype", "float32") == "float32":
        return _layer_norm_call(layer), "a float32 NEG (its `-mean`)", "MEAN + SQUARED_DIFFERENCE + RSQRT + MUL + SUB"
    return None


def _layer_norm_call(layer):
    """Keras 3's ops.layer_normalization with `-mean * inv + beta` written `beta - mean * inv`: the same float32
    values bit for bit (IEEE negation is exact and addition commutes), but no NEG. The converter keeps NEG in
    float32 between a DEQUANTIZE and a QUANTIZE (tflite-micro's NEG is float-only: a float op on an integer-only
    target) and refuses it outright in 16x8; MUL and SUB quantize in int8 and int16x8."""

    def layer_norm(x, *args, **kwargs):
        from keras import ops

        ndims = len(x.shape)
        axes = sorted(a % ndims for a in ([layer.axis] if isinstance(layer.axis, int) else layer.axis))
        shape = [1] * ndims
        for a in axes:
            shape[a] = x.shape[a]

        def bcast(v):
            if v is None:
                return None
            v = ops.cast(v, x.dtype)
            return ops.reshape(v, shape) if len(v.shape) != ndims and axes != [ndims - 1] else v

        mean, variance = ops.moments(x, axes=axes, keepdims=True)
        gamma, beta = bcast(layer.gamma), bcast(layer.beta)
        inv = ops.rsqrt(variance + layer.epsilon)
        if gamma is not None:
            inv = inv * gamma
        res = beta - mean * inv if beta is not None else None
        return x * inv + res if res is not None else x * inv - mean * inv

    return layer_norm


def mcu_rewrites(model: LoadedModel) -> tuple[Rewrite, ...]:
    """The rewrites `quantize(..., rewrite=True)` applies to this model (empty for SavedModels and .tflite)."""
    if model.loader != "keras":
        return ()
    out = []
    for layer in _walk_layers(getattr(model.handle, "layers", [])):
        r = _rewrite_call(layer)
        if r is not None:
            out.append(Rewrite(layer.name, type(layer).__name__, r[1], r[2]))
    return tuple(out)


@contextlib.contextmanager
def _rewritten(model: LoadedModel, enabled: bool):
    """Trace with the rewritten layers' `call` swapped in; the model is restored afterwards."""
    patched = []
    if enabled and model.loader == "keras":
        for layer in _walk_layers(getattr(model.handle, "layers", [])):
            r = _rewrite_call(layer)
            if r is not None:
                patched.append((layer, layer.__dict__.get("call")))
                layer.call = r[0]
    try:
        yield
    finally:
        for layer, old in patched:
            if old is None:
                del layer.call
            else:
                layer.call = old


def _tf_name(name: str) -> str:
    import re

    n = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name) or "input"
    return n if re.match(r"[A-Za-z0-9.]", n) else "x" + n


def quantize(model: LoadedModel, mode: str, calib: Sequence[Sequence[np.ndarray]] | None = None, *,
             io_dtype: str | None = None, per_channel: bool = True,
             progress: Callable[[int], None] | None = None, rewrite: bool = False) -> bytes:
    """Convert to TFLite. `calib`: per input, an array (N, ...) of float samples (needed for int8/int16x8).

    io_dtype: "int8"/"int16" make inputs/outputs integer (full-integer models), "float32" keeps float I/O with
    QUANTIZE/DEQUANTIZE at the edges. rewrite: trace the layers `mcu_rewrites()` lists as equivalent ops MCU
    runtimes have (the caller reports them). Raises ModelError with the converter's message on failure.
    """
    if mode not in MODES:
        raise UsageError(f"unknown quantization mode {mode!r}", hint=f"modes: {', '.join(MODES)}")
    if model.kind == "tflite":
        if mode == "float32":
            return model.handle
        raise UsageError(f"{model.path} is already a .tflite; it cannot be re-quantized",
                         hint="pass the Keras/SavedModel source to `edgeq convert`, "
                              "or run `edgeq check`/`inspect` on it")
    tf = _import_tf()
    if mode in ("int8", "int16x8") and not calib:
        raise DataError(f"mode {mode} needs a representative dataset",
                        hint="pass --calib DATA (.npz/.npy/.csv/image folder/module:function) with ~100-500 samples")
    _refuse_rolled_recurrent_layers(model)
    try:
        with _rewritten(model, rewrite):
            cf = _concrete_function(model)
    except EdgeqError:
        raise
    except Exception as e:  # noqa: BLE001 - tracing runs the user's layers (bad scope names, shape errors...)
        raise ModelError(f"{model.path}: TensorFlow could not trace the model with batch size 1: {_short(e)}",
                         hint="rename layers to plain names ([A-Za-z0-9_.-]) and make sure the model runs on a "
                              "single sample") from None
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], _trackable(model))
    if mode != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if mode in ("int8", "int16x8"):
        n = min(len(a) for a in calib)
        in_names = signature_names(model)[0]

        def rep():
            for i in range(n):
                if progress:
                    progress(i)
                sample = [np.asarray(a[i : i + 1], dtype=np.float32) for a in calib]
                # several inputs: key by signature name, the converter may order the model's inputs differently
                yield dict(zip(in_names, sample)) if len(sample) > 1 else sample

        conv.representative_dataset = rep
        if mode == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if io_dtype in ("int8", "int16", "uint8"):
            dt = {"int8": tf.int8, "int16": tf.int16, "uint8": tf.uint8}[io_dtype]
            if mode == "int16x8" and io_dtype == "int8":
                dt = tf.int16  # int16x8 models take int16 activations at the edges
            conv.inference_input_type = dt
            conv.inference_output_type = dt
        if not per_channel:
            conv._experimental_disable_per_channel = True
    try:
        with _quiet():
            tfl = conv.convert()
    except Exception as e:  # noqa: BLE001 - converter errors are ConverterError/RuntimeError/ValueError
        msg = str(e)
        lines = [ln for ln in msg.splitlines() if "error:" in ln.lower()] or msg.splitlines()[:3]
        lines = list(dict.fromkeys(lines))  # the converter repeats one message per occurrence
        hint = _no_16x8_hint(model, msg) if mode == "int16x8" else None
        raise ModelError(f"{model.path}: TFLite conversion ({mode}) failed: " + " | ".join(lines)[:1200],
                         hint=hint or "ops outside the TFLite builtin set cannot be converted to integer models; "
                                      "see `edgeq targets show` for the ops a target runs") from None
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        from edgeq.graph import reorder_io

        tfl = reorder_io(tfl, *signature_names(model))  # positional order = the Keras model's order
    return tfl


def _no_16x8_hint(model: LoadedModel, msg: str) -> str | None:
    """The fix for "Quantization to 16x8-bit not yet supported for op: 'OP'", naming the Keras layers that make OP
    (TFLite has no 16x8 kernel for it, and tflite-micro none either: there is nothing to deploy in int16x8)."""
    import re

    ops = sorted(set(re.findall(r"not yet supported for op: '([A-Z0-9_]+)'", msg)))
    if not ops:
        return None
    layers = []
    if "HARD_SWISH" in ops and model.loader in ("keras", "tf_keras"):
        for layer in _walk_layers(getattr(model.handle, "layers", [])):
            act = getattr(layer, "activation", None)
            if getattr(act, "__name__", str(act)) in ("hard_swish", "hard_silu"):
                layers.append(layer.name)
    where = f" (Keras layers {', '.join(repr(n) for n in layers[:6])}{', ...' if len(layers) > 6 else ''})" \
        if layers else ""
    fix = "; in the model, `swish` (LOGISTIC x MUL) has 16x8 kernels" if "HARD_SWISH" in ops else ""
    return (f"TFLite cannot quantize {', '.join(ops)} to 16x8{where} and tflite-micro has no int16 kernel for "
            f"it: convert with --mode int8{fix}")


def predict_float(model: LoadedModel, inputs: Sequence[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
    """Run the float model on inputs (per input an (N, ...) array); returns per output an (N, ...) array."""
    n = len(inputs[0])
    if model.kind == "tflite":  # a float .tflite runs on an interpreter: edgeq.quality.evaluate.reference_outputs
        raise UsageError(f"{model.path}: predict_float runs Keras/SavedModel models, not a .tflite",
                         hint="use edgeq.quality.evaluate.reference_outputs")
    tf = _import_tf()
    outs: list[list[np.ndarray]] = [[] for _ in model.outputs]
    for start in range(0, n, batch_size):
        batch = [np.asarray(a[start : start + batch_size], dtype=np.float32) for a in inputs]
        if model.loader == "saved_model":
            _, fn = model.handle
            res = fn(**{s.name: tf.constant(b) for s, b in zip(model.inputs, batch)})
            res = [res[s.name] for s in model.outputs]
        else:
            res = model.handle(batch if len(batch) > 1 else batch[0], training=False)
            if isinstance(res, dict):
                res = list(res.values())
            res = list(res) if isinstance(res, (list, tuple)) else [res]
        for k, r in enumerate(res):
            outs[k].append(np.asarray(r))
    return [np.concatenate(o, axis=0) for o in outs]
