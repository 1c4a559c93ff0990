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

Without labels, or with `loss="distill"`, training is self-distillation: the quantized-simulated model learns to
reproduce the float model's outputs (no labels needed, works for autoencoders and regressors alike).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class QatResult:
    model: object = field(repr=False)  # keras.Model: float architecture, QAT-fine-tuned weights
    epochs: int
    loss: str  # "sparse_categorical_crossentropy" | "categorical_crossentropy" | "mse" | "distill"
    history: tuple[float, ...]  # training loss per epoch
    quantized_layers: tuple[str, ...]  # layers whose weights were fake-quantized
    samples: int


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
        else:  # symmetric int8 [-127, 127]
            scale = ops.maximum(ops.max(aw, axis=reduce_axes, keepdims=True), 1e-12) / 127.0
            wq = ops.clip(ops.round(w / scale), -127.0, 127.0) * scale
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


def _pick_loss(keras_model, labels: np.ndarray | None, loss: str, n_classes: int) -> str:
    if loss != "auto":
        if loss not in ("sparse_categorical_crossentropy", "categorical_crossentropy", "mse", "distill"):
            raise UsageError(f"unknown QAT loss {loss!r}",
                             hint="auto, sparse_categorical_crossentropy, categorical_crossentropy, mse, distill")
        if loss != "distill" and labels is None:
            raise DataError(f"QAT loss {loss} needs labels in the training data",
                            hint="add labels (key 'y' in the .npz) or use --loss distill")
        return loss
    if labels is None:
        return "distill"
    lab = np.asarray(labels)
    if n_classes > 1 and lab.ndim >= 2 and lab.shape[-1] == n_classes:
        return "categorical_crossentropy"
    if n_classes > 1 and lab.ndim == 1 and np.all(lab == np.round(lab)):
        if lab.min() < 0 or lab.max() >= n_classes:
            raise DataError(f"labels range {lab.min():g}..{lab.max():g} but the model has {n_classes} classes",
                            hint="labels must be class indices 0..N-1 for a classifier")
        return "sparse_categorical_crossentropy"
    return "mse"


def fine_tune(model, train, *, epochs: int = 3, batch_size: int = 32, learning_rate: float = 1e-4,
              loss: str = "auto", seed: int = 0, progress: Callable[[int, float], None] | None = None,
              weight_schemes: dict[str, str] | None = None) -> QatResult:
    """QAT-fine-tune `model` (edgeq.convert.LoadedModel of a Keras 3 model) on `train` (edgeq.data.Dataset).

    Returns a new float Keras model (the input model is not modified) to convert with `convert.quantize`.
    weight_schemes: layer name -> "ternary"/"binary" to train those kernels for low-bit clustering (edgeq.quality.lowbit);
    every other weight layer simulates int8.
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
    keras.utils.set_random_seed(seed)
    x = [np.asarray(a, dtype=np.float32) for a in train.inputs]
    n_classes = int(np.prod([d for d in model.outputs[0].shape[1:] if d]))
    chosen = _pick_loss(km, train.labels, loss, n_classes)

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
    if chosen == "distill":
        y = km.predict(x if len(x) > 1 else x[0], batch_size=128, verbose=0)
        loss_fn = "mse"
    else:
        y = np.asarray(train.labels)
        loss_fn = chosen
    qm.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss_fn)

    class _Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if progress:
                progress(epoch, float((logs or {}).get("loss", float("nan"))))

    with _quiet():
        hist = qm.fit(x if len(x) > 1 else x[0], y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                      callbacks=[_Progress()])
    losses = tuple(float(v) for v in hist.history.get("loss", []))
    if losses and not np.isfinite(losses[-1]):
        raise ModelError(f"{model.path}: QAT diverged (loss {losses[-1]})",
                         hint="lower --learning-rate (e.g. 1e-5) or use fewer epochs")
    quantized = tuple(ly.name for ly in layers if type(ly).__name__ in WEIGHT_LAYERS)
    return QatResult(work, epochs, chosen, losses, quantized, len(train))


def as_loaded(model, result: QatResult, path: str | None = None):
    """The fine-tuned model as an edgeq LoadedModel (for `convert.quantize`, `layerwise`, `search`)."""
    from dataclasses import replace

    return replace(model, path=path or model.path, handle=result.model,
                   notes=model.notes + (f"QAT fine-tuned {result.epochs} epoch(s), loss {result.loss}",))
