"""Quantization-aware training (QAT) for Keras 3 models: fine-tune with simulated int8, then convert as usual.

Where it sits: before `convert.quantize`. `fine_tune()` returns an ordinary float Keras model (same architecture,
same layer names) whose weights were trained *through* simulated quantization; the normal int8 pipeline
(calibration + TFLite converter) then converts it and loses less than plain post-training quantization (PTQ).

Why our own fake-quant instead of the TF Model Optimization Toolkit: tfmot only wraps Keras 2 (`tf_keras`)
models. Going through it would mean rebuilding every Keras 3 model as a `tf_keras` model (not possible for
Keras-3-only layers/ops), and its QAT graphs convert through a different converter path (QAT-ranges, no
representative dataset) than the rest of edgeq. Simulating the int8 arithmetic TFLite runs is small in Keras 3:

- weights of Dense / Conv1D / Conv2D / DepthwiseConv2D: symmetric per-output-channel int8 ([-127, 127], the
  TFLite int8 spec), straight-through estimator (STE) for the rounding. Per-channel quantization is invariant to
  a per-channel scale, so BatchNormalization that TFLite later folds into the convolution does not change the
  weight grid: no BN folding is needed during QAT.
- activations after every layer that TFLite requantizes: asymmetric int8 fake quantization with ranges tracked as
  an exponential moving average (initialised from a float pass over the training data), via
  `tf.quantization.fake_quant_with_min_max_vars` (STE inside the range, zero gradient outside).
- layers that only move data (Flatten, Reshape, pooling, Dropout, ...) keep their input's quantization.

Layers outside the supported set (recurrent layers, Lambda, custom layers, grouped convolutions...) cannot be
simulated faithfully; `fine_tune` refuses them with a ModelError that names each one. The model's input is
fake-quantized too (int8 with the training data's range) in the layers that consume it, so the network also
learns to live with input quantization.

The loss is the model's own: the one its .keras/.h5 was compiled with (including `from_logits`), else inferred
from the output layer (softmax/sigmoid: probabilities, no activation: logits) and the labels (class indices:
sparse cross-entropy, one-hot rows: categorical, other targets: MSE). Training a logits head with a
probabilities loss (what a loss *name* means to Keras) un-trains it. Without labels, or with `loss="distill"`,
training is self-distillation: the quantized-simulated model learns to reproduce the float model's outputs (no
labels needed, works for autoencoders and regressors alike).

Every fine-tune proves it helped: part of the training data (or the given validation data) is held out, both
the plain model (PTQ) and the fine-tuned one are converted to int8 and run on it with the kernels that ship,
and the fine-tuned weights are kept only if they are not worse (`QatResult.check`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import DataError, ModelError, UsageError

# Layers whose weights are fake-quantized (TFLite turns them into CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED).
WEIGHT_LAYERS = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D")
# Layers whose output TFLite requantizes (their output gets an activation fake-quant).
REQUANT_LAYERS = ("Add", "Subtract", "Multiply", "Concatenate", "Average", "BatchNormalization", "Activation",
                  "ReLU", "LeakyReLU", "Softmax", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "Rescaling",
                  "Normalization", "UpSampling2D", "ELU", "PReLU")
# Layers that only move data: TFLite keeps the input's scale on their output.
PASS_LAYERS = ("InputLayer", "Flatten", "Reshape", "Dropout", "SpatialDropout2D", "GaussianNoise", "MaxPooling1D",
               "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
               "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "Permute", "Identity",
               "ActivityRegularization")

EMA_MOMENTUM = 0.99


# Losses fine-tuning can train with (the names `--loss` accepts besides "auto"). "_from_logits": the model's
# output is raw scores (no softmax/sigmoid); "distill": match the float model's outputs (no labels needed).
LOSSES = ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy_from_logits",
          "categorical_crossentropy", "categorical_crossentropy_from_logits",
          "binary_crossentropy", "binary_crossentropy_from_logits", "mse", "mae", "huber", "distill")
CLASS_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")
# Keras loss class / function names in a saved compile config -> our base name
_KERAS_LOSSES = {
    "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
    "categoricalcrossentropy": "categorical_crossentropy", "binarycrossentropy": "binary_crossentropy",
    "meansquarederror": "mse", "mse": "mse", "meanabsoluteerror": "mae", "mae": "mae", "huber": "huber",
}
VALIDATION_FRACTION = 0.2
MAX_VALIDATION_SAMPLES = 2000  # enough to resolve 0.05 pp; int8 runs one sample at a time
MIN_VALIDATION_SAMPLES = 20
CALIB_SAMPLES = 500  # as `edgeq convert` and the budget search's first candidate


@dataclass(frozen=True)
class LossChoice:
    """The loss fine-tuning trains with, and where that choice came from."""

    name: str  # one of LOSSES
    source: str  # "compiled" (the model file's compile config), "output layer", "--loss", "no labels"
    note: str = ""  # why, in words (shown by the CLI)

    @property
    def from_logits(self) -> bool:
        return self.name.endswith("_from_logits")

    @property
    def base(self) -> str:
        return self.name.removesuffix("_from_logits")


@dataclass(frozen=True)
class Int8Check:
    """int8 quality of the plain (PTQ) model and of the fine-tuned one, measured the same way on held-out data."""

    metric: str  # "accuracy" (higher is better) | "mse" vs the targets | "output mse" vs the float model (lower)
    ptq: float
    fine_tuned: float
    samples: int
    data: str  # where the held-out samples came from
    runtime: str  # kernels that ran the int8 models: tflm | litert | litert-ref

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"

    @property
    def worse(self) -> bool:
        """Fine-tuning made the int8 model strictly worse on the held-out data."""
        return self.fine_tuned < self.ptq if self.higher_is_better else self.fine_tuned > self.ptq

    def describe(self) -> str:
        fmt = (lambda v: f"{100 * v:.2f} %") if self.higher_is_better else (lambda v: f"{v:.6g}")
        return (f"int8 {self.metric} on {self.samples} held-out samples ({self.data}, {self.runtime}): "
                f"PTQ {fmt(self.ptq)}, fine-tuned {fmt(self.fine_tuned)}")


@dataclass(frozen=True)
class EpochLog:
    """One finished epoch, for progress display."""

    epoch: int  # 1-based
    epochs: int
    loss: float
    val_loss: float | None  # on the held-out data (simulated int8), when it has labels


@dataclass(frozen=True)
class QatResult:
    model: object = field(repr=False)  # keras.Model kept: the fine-tuned one unless it made int8 worse
    epochs: int
    loss: str  # one of LOSSES
    history: tuple[float, ...]  # training loss per epoch
    quantized_layers: tuple[str, ...]  # layers whose weights were fake-quantized
    samples: int  # training samples (without the held-out ones)
    loss_source: str = ""  # LossChoice.source
    val_history: tuple[float, ...] = ()  # held-out loss per epoch (simulated int8)
    best_epoch: int = 0  # epoch whose weights were kept (lowest held-out loss); 0 = last
    check: Int8Check | None = None  # PTQ vs fine-tuned int8, when verified
    fine_tuned: object = field(default=None, repr=False)  # the fine-tuned keras.Model, even when not kept
    notes: tuple[str, ...] = ()

    @property
    def kept_fine_tuned(self) -> bool:
        return self.check is None or not self.check.worse


def unsupported_layers(keras_model) -> tuple[str, ...]:
    """Names (with types) of layers QAT cannot simulate; empty when the whole model is supported."""
    bad = []
    for layer in _all_layers(keras_model):
        kind = type(layer).__name__
        if kind in WEIGHT_LAYERS:
            if getattr(layer, "groups", 1) != 1:
                bad.append(f"{layer.name} ({kind} with groups={layer.groups})")
            continue
        if kind in REQUANT_LAYERS or kind in PASS_LAYERS:
            continue
        bad.append(f"{layer.name} ({kind})")
    return tuple(bad)


def _all_layers(model):
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Functional", "Sequential", "Model"):
            out += _all_layers(layer)  # nested model: its layers are flattened by clone_model
        else:
            out.append(layer)
    return out


_WRAP_CLASSES: dict[str, type] = {}


def _wrapper_class():
    """The Keras layer that simulates one layer's int8 behaviour (defined lazily: Keras is a heavy import)."""
    if "wrap" in _WRAP_CLASSES:
        return _WRAP_CLASSES["wrap"]
    import keras
    import tensorflow as tf
    from keras import ops

    def fq_weight(w, reduce_axes, scheme="int8"):
        # per-channel weight quantization with a straight-through estimator (gradient passes unchanged)
        aw = ops.abs(w)
        if scheme == "binary":  # {-a, +a}, a = mean|w|
            a = ops.mean(aw, axis=reduce_axes, keepdims=True)
            wq = ops.where(w >= 0, a, -a)
        elif scheme == "ternary":  # {-a, 0, +a}: threshold 0.7 mean|w|, a = mean of the kept |w| (edgeq.quality.lowbit)
            keep = ops.cast(aw > 0.7 * ops.mean(aw, axis=reduce_axes, keepdims=True), w.dtype)
            a = ops.sum(aw * keep, axis=reduce_axes, keepdims=True) / ops.maximum(
                ops.sum(keep, axis=reduce_axes, keepdims=True), 1.0)
            wq = ops.sign(w) * keep * a
        else:  # symmetric int8 [-127, 127]; int4 (edgeq.quality.lowbit): 15 levels [-7, 7]
            top = 7.0 if scheme == "int4" else 127.0
            scale = ops.maximum(ops.max(aw, axis=reduce_axes, keepdims=True), 1e-12) / top
            wq = ops.clip(ops.round(w / scale), -top, top) * scale
        return w + ops.stop_gradient(wq - w)

    class QatWrap(keras.layers.Layer):
        def __init__(self, inner, kind: str, act_range, in_range=None, wscheme: str = "int8", **kw):
            super().__init__(name=f"qat_{inner.name}", **kw)
            self.wscheme = wscheme
            self.in_range = in_range  # model input consumed here: fixed int8 range of the data
            self.inner = inner
            self.kind = kind
            lo, hi = (min(0.0, float(act_range[0])), max(0.0, float(act_range[1]))) if act_range else (0.0, 0.0)
            self.quant_act = act_range is not None
            self.amin = self.add_weight(shape=(), initializer=keras.initializers.Constant(lo), trainable=False,
                                        name="act_min")
            self.amax = self.add_weight(shape=(), initializer=keras.initializers.Constant(hi), trainable=False,
                                        name="act_max")

        def _weighted(self, x):
            lay = self.inner
            k = lay.kernel
            if self.kind == "Dense":
                y = ops.matmul(x, fq_weight(k, (0,), self.wscheme))
            elif self.kind == "DepthwiseConv2D":
                y = ops.depthwise_conv(x, fq_weight(k, (0, 1), self.wscheme), strides=lay.strides, padding=lay.padding,
                                       data_format=lay.data_format, dilation_rate=lay.dilation_rate)
            else:  # Conv1D / Conv2D
                axes = tuple(range(k.ndim - 1))
                y = ops.conv(x, fq_weight(k, axes, self.wscheme), strides=lay.strides, padding=lay.padding,
                             data_format=lay.data_format, dilation_rate=lay.dilation_rate)
            bias = getattr(lay, "bias", None)
            if bias is not None:
                if self.kind != "Dense" and lay.data_format == "channels_first":
                    y = y + ops.reshape(bias, (1, -1) + (1,) * (len(y.shape) - 2))
                else:
                    y = y + bias
            return lay.activation(y) if lay.activation is not None else y

        def call(self, inputs, training=None):
            if self.in_range is not None and not isinstance(inputs, (list, tuple)):
                inputs = tf.quantization.fake_quant_with_min_max_args(inputs, min=self.in_range[0],
                                                                     max=self.in_range[1], num_bits=8)
            y = self._weighted(inputs) if self.kind in WEIGHT_LAYERS else self.inner(inputs, training=training)
            if not self.quant_act:
                return y
            if training:
                m = EMA_MOMENTUM
                self.amin.assign(m * self.amin + (1 - m) * ops.minimum(ops.min(y), 0.0))
                self.amax.assign(m * self.amax + (1 - m) * ops.maximum(ops.max(y), 0.0))
            return tf.quantization.fake_quant_with_min_max_vars(y, self.amin, self.amax, num_bits=8,
                                                                narrow_range=False)

    _WRAP_CLASSES["wrap"] = QatWrap
    return QatWrap


def _activation_ranges(keras_model, x: list[np.ndarray], names: list[str]) -> dict[str, tuple[float, float]]:
    import keras

    outs = [keras_model.get_layer(n).output for n in names]
    probe = keras.Model(keras_model.inputs, outs)
    res = probe.predict(x if len(x) > 1 else x[0], batch_size=128, verbose=0)
    res = res if isinstance(res, list) else [res]
    return {n: (float(np.min(r)), float(np.max(r))) for n, r in zip(names, res)}


def _output_layer(km):
    """The layer that produces the model's first output, looking through layers that only move data."""
    try:
        layer = km.outputs[0]._keras_history[0]
    except (AttributeError, IndexError, TypeError):
        layer = km.layers[-1]
    for _ in range(8):
        if type(layer).__name__ not in PASS_LAYERS:
            break
        try:
            layer = layer._inbound_nodes[0].input_tensors[0]._keras_history[0]
        except (AttributeError, IndexError, TypeError):
            break
    return layer


def output_activation(km) -> str:
    """"softmax", "sigmoid", "linear" (no activation) or another activation's name, of the model's first output."""
    layer = _output_layer(km)
    if type(layer).__name__ == "Softmax":
        return "softmax"
    fn = getattr(layer, "activation", None)
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", None) or str(fn)
    return str(name).lower()


def compiled_loss(path) -> str | None:
    """The loss (one of LOSSES) a .keras/.h5 file was compiled with, or None when it has none we know.

    Read from the file itself (edgeq loads models with compile=False, so the Keras object does not carry it):
    `config.json` -> compile_config.loss in a .keras zip, the `training_config` attribute of an .h5.
    """
    import json
    import zipfile

    p = Path(str(path))
    cfg = None
    try:
        if p.suffix.lower() == ".keras" and zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                cfg = (json.loads(z.read("config.json")).get("compile_config") or {}).get("loss")
        elif p.suffix.lower() in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as f:
                raw = f.attrs.get("training_config")
            if raw is not None:
                cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw).get("loss")
    except (OSError, KeyError, ValueError, ImportError):
        return None
    if isinstance(cfg, (list, tuple)) and len(cfg) == 1:
        cfg = cfg[0]
    if isinstance(cfg, dict) and "class_name" not in cfg and len(cfg) == 1:  # {output_name: loss}
        cfg = next(iter(cfg.values()))
    from_logits = False
    if isinstance(cfg, dict):
        conf = cfg.get("config") or {}
        from_logits = bool(conf.get("from_logits", False)) if isinstance(conf, dict) else False
        cfg = cfg.get("class_name")
    if not isinstance(cfg, str):
        return None
    base = _KERAS_LOSSES.get(cfg.replace("_", "").lower())
    if base is None:
        return None
    return base + "_from_logits" if from_logits and base in CLASS_LOSSES else base


def _label_kind(labels: np.ndarray, n_classes: int) -> str:
    """"index" (class indices), "one-hot" (rows of 0/1 per class), "multi-hot" or "values" (regression targets)."""
    lab = np.asarray(labels)
    if n_classes > 1 and lab.ndim >= 2 and lab.shape[-1] == n_classes and np.all((lab == 0) | (lab == 1)):
        return "one-hot" if np.all(lab.reshape(len(lab), -1).sum(1) == 1) else "multi-hot"
    flat = lab.reshape(len(lab), -1)
    if flat.shape[1] == 1 and (lab.dtype.kind in "iub" or np.all(flat == np.round(flat))):
        if n_classes > 1 or np.all((flat == 0) | (flat == 1)):
            return "index"
    return "values"


def resolve_loss(model, labels: np.ndarray | None, loss: str = "auto") -> LossChoice:
    """The loss to fine-tune `model` (edgeq LoadedModel of a Keras model) with, given its training labels.

    "auto": the loss the model file was compiled with (including `from_logits`), else one inferred from the
    output layer and the labels: class labels + softmax/sigmoid output -> cross-entropy on probabilities, class
    labels + any other output -> cross-entropy on logits, other targets -> MSE, no labels -> distillation.
    Sparse and one-hot variants follow the labels' form. Raises UsageError/DataError for unusable choices.
    """
    km = model.handle
    n_classes = int(np.prod([d for d in model.outputs[0].shape[1:] if d]))
    if loss != "auto" and loss not in LOSSES:
        raise UsageError(f"unknown QAT loss {loss!r}", hint="auto or one of: " + ", ".join(LOSSES))
    if loss == "distill":
        return LossChoice("distill", "--loss", "match the float model's outputs")
    if labels is None:
        if loss != "auto":
            raise DataError(f"QAT loss {loss} needs labels in the training data",
                            hint="add labels (key 'y' in the .npz) or use --loss distill")
        return LossChoice("distill", "no labels", "no labels: match the float model's outputs (self-distillation)")
    kind = _label_kind(labels, n_classes)
    act = output_activation(km)
    probs = act in ("softmax", "sigmoid")
    if loss != "auto":
        choice = LossChoice(loss, "--loss")
    elif (c := compiled_loss(model.path)) is not None:
        note = f"the loss {Path(model.path).name} was compiled with"
        if c in CLASS_LOSSES and not probs:
            note += f" (it expects probabilities, but the output layer's activation is {act})"
        choice = LossChoice(c, "compiled", note)
    elif kind in ("index", "one-hot", "multi-hot"):
        base = ("binary_crossentropy" if n_classes == 1 or kind == "multi-hot" else
                "categorical_crossentropy" if kind == "one-hot" else "sparse_categorical_crossentropy")
        name = base if probs else base + "_from_logits"
        choice = LossChoice(name, "output layer",
                            f"output activation {act}: {'probabilities' if probs else 'logits'}, {kind} labels")
    else:
        return LossChoice("mse", "output layer", f"regression targets (output activation {act})")
    return _fit_labels(choice, kind, labels, n_classes)


def _fit_labels(choice: LossChoice, kind: str, labels: np.ndarray, n_classes: int) -> LossChoice:
    """Switch sparse <-> categorical to the labels' form; check class indices against the output."""
    suffix = "_from_logits" if choice.from_logits else ""
    if choice.base == "sparse_categorical_crossentropy" and kind == "one-hot":
        choice = LossChoice("categorical_crossentropy" + suffix, choice.source,
                            (choice.note + "; " if choice.note else "") + "one-hot labels: categorical variant")
    elif choice.base == "categorical_crossentropy" and kind == "index":
        choice = LossChoice("sparse_categorical_crossentropy" + suffix, choice.source,
                            (choice.note + "; " if choice.note else "") + "class-index labels: sparse variant")
    if choice.base == "sparse_categorical_crossentropy":
        if kind not in ("index",):
            raise DataError(f"loss {choice.name} needs one class index per sample; the labels have shape "
                            f"{tuple(np.asarray(labels).shape)}", hint="give class indices 0..N-1 or one-hot rows")
        lab = np.asarray(labels).reshape(-1)
        if lab.min() < 0 or lab.max() >= n_classes:
            raise DataError(f"labels range {lab.min():g}..{lab.max():g} but the model has {n_classes} classes",
                            hint="labels must be class indices 0..N-1 for a classifier")
    return choice


def _keras_loss(choice: LossChoice):
    import keras

    base, logits = choice.base, choice.from_logits
    if base == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
    if base == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(from_logits=logits)
    if base == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=logits)
    return {"mae": keras.losses.MeanAbsoluteError(), "huber": keras.losses.Huber()}.get(
        base, keras.losses.MeanSquaredError())  # mse and distill


def split_validation(train, validation=None, *, fraction: float = VALIDATION_FRACTION, seed: int = 0):
    """(training part, held-out part, description): `validation` when given, else a seeded random split of
    `train` (edgeq.data.Dataset) holding out `fraction` of it (at most MAX_VALIDATION_SAMPLES)."""
    from edgeq.data import Dataset

    if validation is not None:
        return train, validation, validation.source
    n = len(train)
    k = min(int(round(n * fraction)), MAX_VALIDATION_SAMPLES)
    if not 0 < fraction < 1 or k < MIN_VALIDATION_SAMPLES or n - k < MIN_VALIDATION_SAMPLES:
        raise DataError(f"{train.source}: {n} samples are too few to hold out a validation split "
                        f"({fraction:g} of them) and still train",
                        hint=f"give more training data, a larger --validation-split, or held-out data with --eval "
                             f"(at least {MIN_VALIDATION_SAMPLES} samples each)")
    order = np.random.default_rng(seed).permutation(n)
    val_idx, tr_idx = np.sort(order[:k]), np.sort(order[k:])

    def take(idx, tag):
        return Dataset(f"{train.source} ({tag})", tuple(a[idx] for a in train.inputs),
                       None if train.labels is None else np.asarray(train.labels)[idx])

    return take(tr_idx, f"{len(tr_idx)} for training"), take(val_idx, f"{k} held out"), \
        f"{k} of {n} training samples held out"


def _score(choice_metric: str, out: np.ndarray, labels, reference: np.ndarray, from_logits: bool) -> float:
    n = len(out)
    o = out.reshape(n, -1).astype(np.float64)
    if choice_metric == "output mse":
        return float(np.mean((o - reference.reshape(n, -1)) ** 2))
    if choice_metric == "mse":
        return float(np.mean((o - np.asarray(labels, dtype=np.float64).reshape(n, -1)) ** 2))
    lab = np.asarray(labels)
    multi_hot = lab.ndim >= 2 and lab.shape[-1] == o.shape[1] and not np.all(lab.reshape(n, -1).sum(1) == 1)
    if o.shape[1] == 1 or multi_hot:
        pred = o > (0.0 if from_logits else 0.5)  # binary / multi-label: per-element accuracy
        return float(np.mean(pred == (lab.reshape(n, -1) > 0.5)))
    idx = lab.reshape(n, -1).argmax(1) if lab.ndim >= 2 and lab.shape[-1] == o.shape[1] else lab.reshape(-1)
    return float(np.mean(o.argmax(1) == idx))


def check_int8(original, plain, tuned, validation, calib: Sequence[np.ndarray], *, loss: str, data: str = "",
               runtime: str = "litert", io_dtype: str | None = "int8", per_channel: bool = True) -> Int8Check:
    """Convert `plain` (the model without fine-tuning) and `tuned` to int8 the same way (`calib`, `io_dtype`,
    `per_channel`), run both on `validation` with `runtime`, and score them: accuracy for class losses with
    labels, MSE against the targets for regression losses, else MSE against `original`'s float outputs.
    All models are edgeq LoadedModels. A runtime that lacks a kernel falls back to LiteRT's reference kernels
    (named in the result's `runtime`)."""
    from edgeq import convert
    from edgeq.errors import EdgeqError
    from edgeq.quality import evaluate

    base = loss.removesuffix("_from_logits")
    labels = validation.labels
    if labels is not None and len(labels) != len(validation):
        raise DataError(f"{validation.source}: {len(labels)} labels for {len(validation)} samples",
                        hint="one label per sample")
    metric = ("accuracy" if base in CLASS_LOSSES else "mse" if base in ("mse", "mae", "huber") else "output mse")
    if labels is None:
        metric = "output mse"
    reference = convert.predict_float(original, validation.inputs)[0] if metric == "output mse" else None
    cal = [a[:CALIB_SAMPLES] for a in calib]
    tfls = [convert.quantize(m, "int8", cal, io_dtype=io_dtype, per_channel=per_channel) for m in (plain, tuned)]
    try:
        outs = [evaluate.run_tflite(t, validation.inputs, runtime=runtime)[0] for t in tfls]
    except EdgeqError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. tflite-micro lacks a kernel: both on LiteRT's reference kernels
        runtime = f"litert-ref ({runtime} failed: {convert._short(e)})"
        outs = [evaluate.run_tflite(t, validation.inputs, runtime="litert-ref")[0] for t in tfls]
    scores = [_score(metric, o, labels, reference, loss.endswith("_from_logits")) for o in outs]
    return Int8Check(metric, scores[0], scores[1], len(validation), data or validation.source, runtime)


def fine_tune(model, train, *, epochs: int = 3, batch_size: int = 32, learning_rate: float = 1e-4,
              loss: str = "auto", seed: int = 0, progress: Callable[[EpochLog], None] | None = None,
              weight_schemes: dict[str, str] | None = None, validation=None,
              validation_fraction: float = VALIDATION_FRACTION, verify: bool = True,
              calib: Sequence[np.ndarray] | None = None, runtime: str = "litert", io_dtype: str | None = "int8",
              per_channel: bool = True) -> QatResult:
    """QAT-fine-tune `model` (edgeq.convert.LoadedModel of a Keras 3 model) on `train` (edgeq.data.Dataset).

    Returns a new float Keras model (the input model is not modified) to convert with `convert.quantize`.
    The loss is `resolve_loss(model, train.labels, loss)`. Held-out data: `validation` (e.g. --eval), else a
    seeded split of `train` (`validation_fraction`); its loss is tracked per epoch and the epoch with the lowest
    held-out loss is kept. With `verify`, the plain model and the fine-tuned one are converted to int8 (`calib`,
    default: training samples) and measured on the held-out data with `runtime` (`check_int8`); the result's
    `model` is the fine-tuned one unless it made int8 worse (then the input model; `fine_tuned` has it anyway).
    Without `verify` and without `validation`, every training sample is used for training.
    weight_schemes: layer name -> "int4"/"ternary"/"binary" to train those kernels for low-bit clustering
    (edgeq.quality.lowbit); every other weight layer simulates int8.
    Raises ModelError naming the layers QAT cannot simulate, DataError for unusable training data.
    """
    if getattr(model, "loader", None) != "keras":
        raise ModelError(f"{model.path}: QAT needs a Keras 3 model (this one was loaded with {model.loader})",
                         hint="re-save the model with Keras 3 (model.save('model.keras'))")
    if epochs < 1:
        raise UsageError("QAT needs at least one epoch", hint="--epochs 1 or more")
    from edgeq.convert import _import_tf, _quiet

    _import_tf()
    import keras

    km = model.handle
    if not hasattr(km, "layers") or type(km).__name__ not in ("Functional", "Sequential") and not getattr(
            km, "_is_graph_network", False):
        raise ModelError(f"{model.path}: QAT supports functional and Sequential Keras models, not subclassed "
                         f"{type(km).__name__}", hint="rebuild the model with the functional API")
    bad = unsupported_layers(km)
    if bad:
        raise ModelError(f"{model.path}: QAT cannot simulate int8 for layer(s): {', '.join(bad)}",
                         hint="supported: " + ", ".join(WEIGHT_LAYERS) + " and common activation/pooling/shape "
                              "layers; convert without QAT, or replace these layers")
    if train.labels is not None and len(train.labels) != len(train):
        raise DataError(f"{train.source}: {len(train.labels)} labels for {len(train)} samples",
                        hint="one label per sample")
    choice = resolve_loss(model, train.labels, loss)
    data_desc = ""
    val = validation
    if verify or validation is not None:
        train, val, data_desc = split_validation(train, validation, fraction=validation_fraction, seed=seed)
    keras.utils.set_random_seed(seed)
    x = [np.asarray(a, dtype=np.float32) for a in train.inputs]
    feed = (lambda arrs: arrs if len(arrs) > 1 else arrs[0])  # noqa: E731

    with _quiet():
        work = keras.models.clone_model(km)
        work.set_weights(km.get_weights())
    layers = _all_layers(work)
    wrap_names = [ly.name for ly in layers if type(ly).__name__ in WEIGHT_LAYERS + REQUANT_LAYERS]
    sample = [a[: min(len(a), 512)] for a in x]
    ranges = _activation_ranges(work, sample, wrap_names) if wrap_names else {}
    wrap_cls = _wrapper_class()
    in_names = {t.name for t in work.inputs}
    in_range = (min(0.0, float(min(a.min() for a in x))), max(0.0, float(max(a.max() for a in x))))
    consumes_input = set()
    for ly in layers:
        for node in getattr(ly, "_inbound_nodes", []):
            if any(getattr(t, "name", None) in in_names for t in getattr(node, "input_tensors", [])):
                consumes_input.add(ly.name)

    def clone_fn(layer):
        kind = type(layer).__name__
        if layer.name in ranges:
            return wrap_cls(layer, kind, ranges[layer.name],
                            in_range if layer.name in consumes_input and len(x) == 1 else None,
                            (weight_schemes or {}).get(layer.name, "int8"))
        return layer  # shared with `work`: its weights are trained in place

    with _quiet():
        qm = keras.models.clone_model(work, clone_function=clone_fn)
    if choice.name == "distill":
        y = km.predict(feed(x), batch_size=128, verbose=0)
    else:
        y = np.asarray(train.labels)
    val_data = None
    if val is not None:
        xv = [np.asarray(a, dtype=np.float32) for a in val.inputs]
        if choice.name == "distill":
            val_data = (feed(xv), km.predict(feed(xv), batch_size=128, verbose=0))
        elif val.labels is not None:
            val_data = (feed(xv), np.asarray(val.labels))
    qm.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_keras_loss(choice))
    best: dict = {}

    class _Track(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            vl = logs.get("val_loss")
            if vl is not None and np.isfinite(vl) and ("loss" not in best or vl < best["loss"]):
                best.update(loss=float(vl), epoch=epoch + 1, weights=work.get_weights())
            if progress:
                progress(EpochLog(epoch + 1, epochs, float(logs.get("loss", float("nan"))),
                                  None if vl is None else float(vl)))

    # not _quiet(): it points fd 2 at /dev/null, which would swallow the per-epoch progress the caller prints
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = qm.fit(feed(x), y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                      validation_data=val_data, callbacks=[_Track()])
    losses = tuple(float(v) for v in hist.history.get("loss", []))
    if losses and not np.isfinite(losses[-1]) and not best:
        raise ModelError(f"{model.path}: QAT diverged (loss {losses[-1]}) with loss {choice.name} ({choice.source})",
                         hint="lower --learning-rate (e.g. 1e-5), use fewer epochs, or check --loss (a logits "
                              "output needs a *_from_logits loss)")
    best_epoch = 0
    if best and best["epoch"] != len(losses):
        # a later epoch overfitted (or diverged on) the held-out data: keep the best one
        work.set_weights(best["weights"])
        best_epoch = best["epoch"]
    if choice.name != "distill":  # the saved fine-tuned model carries the loss it was trained with
        work.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_keras_loss(choice))
    quantized = tuple(ly.name for ly in layers if type(ly).__name__ in WEIGHT_LAYERS)
    notes = (f"loss {choice.name} ({choice.source}{': ' + choice.note if choice.note else ''})",)
    check = None
    kept = work
    if verify:
        cal = list(calib) if calib is not None else [a[:CALIB_SAMPLES] for a in x]
        check = check_int8(model, model, as_loaded(model, work), val, cal, loss=choice.name, data=data_desc,
                           runtime=runtime, io_dtype=io_dtype, per_channel=per_channel)
        if check.worse:
            kept = km
            notes += ("fine-tuning made int8 worse on the held-out data: kept the original weights",)
    return QatResult(kept, epochs, choice.name, losses, quantized, len(train), choice.source,
                     tuple(float(v) for v in hist.history.get("val_loss", [])), best_epoch, check, work, notes)


def as_loaded(model, result, path: str | None = None):
    """A fine-tuned model (a QatResult, or a keras.Model) as an edgeq LoadedModel (for `convert.quantize`,
    `layerwise`, `search`)."""
    from dataclasses import replace

    if isinstance(result, QatResult):
        note = (f"QAT fine-tuned {result.epochs} epoch(s), loss {result.loss}" if result.kept_fine_tuned else
                "QAT fine-tuning made int8 worse; original weights kept")
        return replace(model, path=path or model.path, handle=result.model, notes=model.notes + (note,))
    return replace(model, path=path or model.path, handle=result)
