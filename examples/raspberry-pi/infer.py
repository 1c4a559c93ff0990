#!/usr/bin/env python3
"""Run an edgeq-converted model on a Raspberry Pi with LiteRT, with the same pre/post-processing as edgeq.

Float inputs are quantized with the model's own input scale/zero-point (rounding half away from zero, like
LiteRT's QUANTIZE kernel) and outputs are dequantized with the output's scale/zero-point, so the script works
unchanged for int8-I/O and float-I/O models. Needs only numpy and ai-edge-litert (or tflite-runtime).

    python3 infer.py model.tflite input.npy            # one sample, float32, shape of the model input
    python3 infer.py model.tflite --random --runs 50   # latency check with random data
"""

import argparse
import sys
import time

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # older Pi images
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        sys.exit("no LiteRT runtime: python3 -m pip install ai-edge-litert   (or: tflite-runtime)")


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """float -> the input tensor's dtype, with its scale/zero-point (no-op for float inputs)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    r = x.astype(np.float64) / scale
    q = np.sign(r) * np.floor(np.abs(r) + 0.5) + zero_point
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind == "f" or scale == 0:
        return q.astype(np.float32)
    return ((q.astype(np.int32) - zero_point) * scale).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("input", nargs="?", help=".npy with one float32 sample (the model input's shape)")
    ap.add_argument("--random", action="store_true", help="use random [0, 1) data instead of a file")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()

    it = Interpreter(model_path=a.model, num_threads=a.threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    if a.random or not a.input:
        x = np.random.default_rng(0).random(inp["shape"], dtype=np.float32)
    else:
        x = np.load(a.input).astype(np.float32).reshape(inp["shape"])
    it.set_tensor(inp["index"], quantize(x, inp))
    times = []
    for _ in range(max(a.runs, 1)):
        t0 = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    y = dequantize(it.get_tensor(out["index"]), out)
    top = np.argsort(y.reshape(-1))[::-1][:5]
    print("output:", np.array2string(y.reshape(-1)[:10], precision=4), "..." if y.size > 10 else "")
    print("top-5:", ", ".join(f"{i}: {y.reshape(-1)[i]:.4f}" for i in top))
    print(f"latency: median {np.median(times):.3f} ms over {len(times)} run(s), {a.threads} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
