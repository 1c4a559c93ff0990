"""Evaluate stage: run the quantized model on the kernels that ship for the target, compare with float.

Cortex-M targets are evaluated with tflite-micro (exactly what TFLM computes on the device); Pi/Android with
LiteRT. Integer I/O is handled here: float samples are quantized with the model's own input scale/zero point
and integer outputs dequantized, so the float and quantized outputs are compared in real units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeq.errors import ToolMissing


@dataclass(frozen=True)
class OutputMetrics:
    name: str
    max_abs_error: float
    mean_abs_error: float
    mse: float
    sqnr_db: float  # 10 log10(signal power / error power)


@dataclass(frozen=True)
class EvalResult:
    samples: int
    runtime: str
    outputs: tuple[OutputMetrics, ...]
    top1_agreement: float | None  # fraction of samples where argmax(float) == argmax(quantized), first output
    float_accuracy: float | None  # with labels
    quant_accuracy: float | None

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


def run_tflite(model: bytes, inputs: Sequence[np.ndarray], runtime: str = "litert",
               dequantize: bool = True) -> list[np.ndarray]:
    """Run every sample (per input an (N, ...) float array) through the model, one at a time (batch 1).

    runtime: "litert" (XNNPACK/builtin kernels), "litert-ref" (reference kernels) or "tflm" (tflite-micro).
    Returns per output an (N, ...) array, dequantized to float unless dequantize=False.
    """
    n = len(inputs[0])
    if runtime == "tflm":
        try:
            from tflite_micro.python.tflite_micro import runtime as tflm
        except ImportError:
            raise ToolMissing("tflite-micro is not installed", hint="pip install tflite-micro") from None
        from edgeq.graph import parse

        num_outputs = len(parse(model).outputs)
        it = tflm.Interpreter.from_bytes(model)
        in_d = [it.get_input_details(i) for i in range(len(inputs))]
        out_d = [it.get_output_details(k) for k in range(num_outputs)]
        outs: list[list[np.ndarray]] = [[] for _ in out_d]
        for s in range(n):
            for i, d in enumerate(in_d):
                it.set_input(_quantize_input(inputs[i][s : s + 1], d), i)
            it.invoke()
            for j, d in enumerate(out_d):
                y = it.get_output(j)
                outs[j].append(_dequantize(y, d) if dequantize else y.copy())
        return [np.concatenate(o) for o in outs]
    it = litert_interpreter(model, reference_kernels=(runtime == "litert-ref"))
    in_d = it.get_input_details()
    out_d = it.get_output_details()
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


def compare(float_outputs: Sequence[np.ndarray], quant_outputs: Sequence[np.ndarray], *,
            labels: np.ndarray | None = None, names: Sequence[str] = (), runtime: str = "") -> EvalResult:
    metrics = []
    for k, (f, q) in enumerate(zip(float_outputs, quant_outputs)):
        f = f.reshape(len(f), -1).astype(np.float64)
        q = q.reshape(len(q), -1).astype(np.float64)
        d = np.abs(f - q)
        metrics.append(OutputMetrics(names[k] if k < len(names) else f"output_{k}", float(d.max()),
                                     float(d.mean()), float(np.mean(d**2)), sqnr_db(f, q)))
    f0 = float_outputs[0].reshape(len(float_outputs[0]), -1)
    q0 = quant_outputs[0].reshape(len(quant_outputs[0]), -1)
    classify = f0.shape[1] > 1
    agree = float(np.mean(f0.argmax(1) == q0.argmax(1))) if classify else None
    fa = qa = None
    if labels is not None and classify:
        lab = np.asarray(labels)
        if lab.ndim > 1 and lab.shape[-1] == f0.shape[1]:
            lab = lab.argmax(-1)  # one-hot
        lab = lab.reshape(-1).astype(np.int64)
        fa = float(np.mean(f0.argmax(1) == lab))
        qa = float(np.mean(q0.argmax(1) == lab))
    return EvalResult(len(f0), runtime, tuple(metrics), agree, fa, qa)
