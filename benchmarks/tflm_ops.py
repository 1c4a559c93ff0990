"""Measure which ops the installed tflite-micro runs, per activation type (int8, int16x8), and write the table.

One tiny model per (op, mode): a tf.function around the op, converted by the TF converter (int8: TFLITE_BUILTINS_INT8;
int16x8: the 16x8 ops set only, so an op the converter cannot quantize to 16 bits fails to convert rather than
staying float). A probe counts when the converted model really holds the op with activations of that type and
tflite-micro's Python interpreter allocates and invokes it. The probe models are kept in
tests/fixtures/tflm_ops/ so tests/test_tflm_ops.py re-runs them against the installed package without TensorFlow.

    .venv/bin/python benchmarks/tflm_ops.py            # probe, write fixtures + targets/cortex-m.toml int16x8_ops
    .venv/bin/python benchmarks/tflm_ops.py --check    # probe the committed fixtures only, print the table
    .venv/bin/python benchmarks/tflm_ops.py --docs     # write docs/ops.md (TFLM x generated C x DSP table)

Ops the converter cannot produce in a mode are "not probed" and stay out of that mode's list (a list the
package can back, not a guess). The int8 table is the profile's [ops]: every op there that has a probe must run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "tflm_ops"
PROFILE = ROOT / "targets" / "cortex-m.toml"
MODES = ("int8", "int16x8")
ACT_DTYPE = {"int8": "int8", "int16x8": "int16"}


def _probes() -> dict[str, tuple[list[tuple[int, ...]], object]]:
    """op -> (input shapes, fn(*inputs) -> output). Imports TensorFlow."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def w(*shape):
        return tf.constant(rng.normal(0, 0.5, shape).astype(np.float32))

    img, vec = (1, 6, 6, 4), (1, 16)
    p: dict[str, tuple[list[tuple[int, ...]], object]] = {
        "ADD": ([img, img], lambda a, b: a + b),
        "SUB": ([img, img], lambda a, b: a - b),
        "MUL": ([img, img], lambda a, b: a * b),
        "SQUARED_DIFFERENCE": ([img, img], lambda a, b: tf.math.squared_difference(a, b)),
        "MAXIMUM": ([img, img], lambda a, b: tf.maximum(a, b)),
        "MINIMUM": ([img, img], lambda a, b: tf.minimum(a, b)),
        "CONV_2D": ([img], lambda a: tf.nn.conv2d(a, w(3, 3, 4, 5), 1, "SAME")),
        "DEPTHWISE_CONV_2D": ([img], lambda a: tf.nn.depthwise_conv2d(a, w(3, 3, 4, 1), [1, 1, 1, 1], "SAME")),
        "FULLY_CONNECTED": ([vec], lambda a: tf.matmul(a, w(16, 8)) + w(8)),
        "TRANSPOSE_CONV": ([img], lambda a: tf.nn.conv2d_transpose(a, w(3, 3, 5, 4), (1, 12, 12, 5), 2, "SAME")),
        "AVERAGE_POOL_2D": ([img], lambda a: tf.nn.avg_pool2d(a, 2, 2, "VALID")),
        "MAX_POOL_2D": ([img], lambda a: tf.nn.max_pool2d(a, 2, 2, "VALID")),
        "L2_POOL_2D": ([img], lambda a: tf.sqrt(tf.nn.avg_pool2d(a * a, 2, 2, "VALID"))),
        "MEAN": ([img], lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=True)),
        "SUM": ([img], lambda a: tf.reduce_sum(a, axis=[1, 2], keepdims=True)),
        "REDUCE_MAX": ([img], lambda a: tf.reduce_max(a, axis=[1, 2], keepdims=True)),
        "SOFTMAX": ([vec], lambda a: tf.nn.softmax(a)),
        "LOG_SOFTMAX": ([vec], lambda a: tf.nn.log_softmax(a)),
        "LOGISTIC": ([vec], lambda a: tf.sigmoid(a)),
        "TANH": ([vec], lambda a: tf.tanh(a)),
        "RELU": ([img], lambda a: tf.nn.relu(a)),
        "RELU6": ([img], lambda a: tf.nn.relu6(a)),
        "LEAKY_RELU": ([img], lambda a: tf.nn.leaky_relu(a, 0.2)),
        "HARD_SWISH": ([img], lambda a: a * tf.nn.relu6(a + 3.0) / 6.0),
        "PRELU": ([img], lambda a: tf.maximum(a, 0.0) + w(1, 1, 4) * tf.minimum(a, 0.0)),
        "ELU": ([img], lambda a: tf.nn.elu(a)),
        "EXP": ([vec], lambda a: tf.exp(a)),
        "LOG": ([vec], lambda a: tf.math.log(tf.abs(a) + 1.0)),
        "RSQRT": ([vec], lambda a: tf.math.rsqrt(tf.abs(a) + 1.0)),
        "SQRT": ([vec], lambda a: tf.sqrt(tf.abs(a) + 1.0)),
        "ABS": ([vec], lambda a: tf.abs(a)),
        "NEG": ([vec], lambda a: -a),
        "DIV": ([vec, vec], lambda a, b: a / (tf.abs(b) + 1.0)),
        "L2_NORMALIZATION": ([vec], lambda a: tf.math.l2_normalize(a, axis=-1)),
        "RESHAPE": ([img], lambda a: tf.reshape(a, (1, 36, 4)) * 2.0),
        "CONCATENATION": ([img, img], lambda a, b: tf.concat([a, b * 2.0], axis=-1)),
        "PACK": ([vec, vec], lambda a, b: tf.stack([a, b * 2.0], axis=1)),
        "UNPACK": ([(1, 3, 8)], lambda a: [t * 2.0 for t in tf.unstack(a, axis=1)]),
        "SPLIT": ([img], lambda a: [t * 2.0 for t in tf.split(a, 2, axis=-1)]),
        "SPLIT_V": ([img], lambda a: [t * 2.0 for t in tf.split(a, [1, 3], axis=-1)]),
        "SLICE": ([img], lambda a: tf.slice(a, [0, 1, 1, 0], [1, 3, 4, 2])),
        "STRIDED_SLICE": ([img], lambda a: a[:, ::2, 1:, :]),
        "TRANSPOSE": ([img], lambda a: tf.transpose(a, [0, 3, 1, 2])),
        "PAD": ([img], lambda a: tf.pad(a, [[0, 0], [1, 1], [2, 0], [0, 0]])),
        "PADV2": ([img], lambda a: tf.pad(a, [[0, 0], [1, 1], [2, 0], [0, 0]], constant_values=0.5)),
        "MIRROR_PAD": ([img], lambda a: tf.pad(a, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")),
        "RESIZE_NEAREST_NEIGHBOR": ([img], lambda a: tf.image.resize(a, (12, 12), method="nearest")),
        "RESIZE_BILINEAR": ([img], lambda a: tf.image.resize(a, (12, 12), method="bilinear")),
        "BATCH_MATMUL": ([(1, 3, 4), (1, 4, 5)], lambda a, b: tf.matmul(a, b)),
        "GATHER": ([(1, 8, 4)], lambda a: tf.gather(a, [3, 0, 5], axis=1)),
        "DEPTH_TO_SPACE": ([img], lambda a: tf.nn.depth_to_space(a, 2)),
        "SPACE_TO_DEPTH": ([img], lambda a: tf.nn.space_to_depth(a, 2)),
        "BATCH_TO_SPACE_ND": ([(4, 3, 3, 4)], lambda a: tf.batch_to_space(a, [2, 2], [[0, 0], [0, 0]])),
        "SPACE_TO_BATCH_ND": ([img], lambda a: tf.space_to_batch(a, [2, 2], [[0, 0], [0, 0]])),
        "TILE": ([img], lambda a: tf.tile(a, [1, 2, 1, 1])),
        "SQUARE": ([vec], lambda a: tf.square(a)),
        "CUMSUM": ([vec], lambda a: tf.cumsum(a, axis=1)),
        "ADD_N": ([vec, vec, vec], lambda a, b, c: tf.add_n([a, b, c])),
        "ARG_MAX": ([vec], lambda a: tf.cast(tf.argmax(a, axis=1), tf.float32)),
        "ZEROS_LIKE": ([vec], lambda a: a + tf.zeros_like(a)),
    }
    return p


def _convert(shapes, fn, mode: str) -> bytes | None:
    import tensorflow as tf

    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    cf = tf.function(fn).get_concrete_function(*specs)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    rng = np.random.default_rng(1)

    def rep():
        for _ in range(8):
            yield [rng.uniform(-2.0, 2.0, s).astype(np.float32) for s in shapes]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if mode == "int8" else [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    try:
        return conv.convert()
    except Exception:  # noqa: BLE001 - the converter cannot quantize this op in this mode: not probed
        return None


def holds_op(model: bytes, op: str, mode: str) -> bool:
    """The model has `op` with a non-constant input or output of the mode's activation type."""
    from edgeq import graph as graph_mod

    g = graph_mod.parse(model)
    sg = g.main
    want = ACT_DTYPE[mode]
    for o in sg.operators:
        if o.opcode != op:
            continue
        ts = [sg.tensors[i] for i in (*o.inputs, *o.outputs) if i >= 0]
        if any(t.dtype == want and not t.is_constant for t in ts):
            return True
    return False


def runs_on_tflm(model: bytes) -> tuple[bool, str]:
    """tflite-micro allocates and invokes the model (random inputs); (ok, reason)."""
    from edgeq.convert import TflmError, quiet_native, tflm_interpreter

    try:
        interp = tflm_interpreter(model)
    except TflmError as e:
        return False, str(e)
    rng = np.random.default_rng(0)
    try:
        with quiet_native():
            k = 0
            while True:
                try:
                    d = interp.get_input_details(k)
                except (IndexError, RuntimeError, ValueError):
                    break
                shape, dtype = tuple(int(v) for v in d["shape"]), np.dtype(d["dtype"])
                x = rng.uniform(-1, 1, shape).astype(dtype) if dtype.kind == "f" else \
                    rng.integers(-100, 100, shape).astype(dtype)
                interp.set_input(x, k)
                k += 1
            interp.invoke()
    except Exception as e:  # noqa: BLE001 - TFLM reports invoke failures as RuntimeError with a generic text
        return False, f"invoke failed: {str(e).strip()[:200]}"
    return True, ""


def fixture_path(op: str, mode: str) -> Path:
    return FIXTURES / f"{op.lower()}_{mode}.tflite"


def measure(fixtures: Path = FIXTURES) -> dict[str, dict[str, bool]]:
    """mode -> op -> runs, from the committed probe models (ops without a probe model are absent)."""
    table: dict[str, dict[str, bool]] = {m: {} for m in MODES}
    for p in sorted(fixtures.glob("*.tflite")):
        m = re.fullmatch(r"([a-z0-9_]+)_(int8|int16x8)", p.stem)
        if not m:
            continue
        table[m.group(2)][m.group(1).upper()] = runs_on_tflm(p.read_bytes())[0]
    return table


def build_fixtures() -> dict[str, dict[str, str]]:
    """Convert every probe in both modes; keep the models that hold the op. Returns mode -> op -> status."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgeq.convert import quiet_native

    FIXTURES.mkdir(parents=True, exist_ok=True)
    status: dict[str, dict[str, str]] = {m: {} for m in MODES}
    for op, (shapes, fn) in _probes().items():
        for mode in MODES:
            path = fixture_path(op, mode)
            with quiet_native():
                model = _convert(shapes, fn, mode)
            if model is None or not holds_op(model, op, mode):
                status[mode][op] = "not probed (the converter does not produce it)"
                path.unlink(missing_ok=True)
                continue
            path.write_bytes(model)
            ok, why = runs_on_tflm(model)
            status[mode][op] = "runs" if ok else f"fails: {why}"
    return status


def int16x8_list(table: dict[str, dict[str, bool]]) -> list[str]:
    """The profile's int16x8_ops: ops TFLM runs with int16 activations; QUANTIZE/DEQUANTIZE (in every float-I/O
    probe) and shape-only ops follow from the probes that hold them."""
    return sorted({op for op, ok in table["int16x8"].items() if ok} | {"DEQUANTIZE", "QUANTIZE"})


def write_profile(ops16: list[str], profile: Path = PROFILE) -> None:
    """Replace the `int16x8_ops = [...]` value in the profile (keeps every other line and comment)."""
    text = profile.read_text()
    items = [f'"{o}"' for o in sorted(set(ops16))]
    lines, cur = [], "int16x8_ops = ["
    for it in items:
        piece = it + ", "
        if len(cur) + len(piece) > 112:
            lines.append(cur.rstrip())
            cur = " " * 15
        cur += piece
    lines.append(cur.rstrip().rstrip(",") + "]")
    new = re.sub(r"int16x8_ops = \[[^\]]*\]", "\n".join(lines), text, count=1)
    profile.write_text(new)


DOCS = ROOT / "docs" / "ops.md"
# Ops whose generated C has an Arm DSP (SXTB16/SMLAD) path for int8 (edgeq_core.h / edgeq_conv.h).
DSP_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})


def ops_doc(table: dict[str, dict[str, bool]]) -> str:
    """docs/ops.md: every op measured on tflite-micro or generated by edgeq, per activation type."""
    from edgeq.codegen.emit import int16_opcodes, load_emitters

    c8, c16 = set(load_emitters()), set(int16_opcodes())
    ops = sorted(set(table["int8"]) | set(table["int16x8"]) | c8 | c16)

    def tflm(op: str, mode: str) -> str:
        r = table[mode].get(op)
        return "-" if r is None else ("yes" if r else "**no**")

    lines = ["# Ops x activation type: tflite-micro and edgeq's generated C", "",
             "Generated by `python benchmarks/tflm_ops.py --docs`; do not edit. TFLM columns are measured: one tiny",
             "model per op and type (tests/fixtures/tflm_ops/) allocated and invoked on the installed tflite-micro",
             "(`-`: the TF converter does not produce the op in that mode, so it is not probed). Generated-C columns",
             "are edgeq's emitter registries (edgeq/codegen/ops_*.py), each op tested bit-exact against tflite-micro",
             "(tests/test_codegen_*.py, tests/test_coverage.py). DSP: an SXTB16/SMLAD path on Cortex-M4/M7/M33 (int8).",
             "",
             "| op | TFLM int8 | TFLM int16x8 | C int8 | C int16x8 | C DSP path |",
             "| --- | --- | --- | --- | --- | --- |"]
    for op in ops:
        lines.append(f"| {op} | {tflm(op, 'int8')} | {tflm(op, 'int16x8')} | {'yes' if op in c8 else '-'} | "
                     f"{'yes' if op in c16 else '-'} | {'yes' if op in DSP_OPS else '-'} |")
    lines += ["", "An op without generated C fails `edgeq codegen` with the op, its Keras layer and the workaround:",
              "the TFLM export (`model_data.c`) still runs the model.", "",
              "Known gaps, by decision:", "",
              "- HARD_SWISH in int16x8: the TF converter refuses to quantize it to 16x8 (\"Quantization to 16x8-bit",
              "  not yet supported for op: 'HARD_SWISH'\") and tflite-micro has no int16 kernel, so there is no",
              "  oracle and no generated C. MobileNetV3 (full) and hard-swish EfficientNet blocks deploy in int8;",
              "  in int16x8 use `swish` (LOGISTIC x MUL, both int16 in TFLM and in the C).",
              "- NEG: the TF converter leaves it in float32 (DEQUANTIZE -> NEG -> QUANTIZE, from Keras 3's",
              "  LayerNormalization) and tflite-micro's NEG is float32 only; the C column means that float NEG",
              "  (sign-bit flip). On MCU targets `edgeq convert` rewrites LayerNormalization without NEG (same",
              "  float values; MUL + SUB), so it quantizes to int8 and to 16x8 (which refuses NEG).",
              "- REDUCE_MAX in int16x8: tflite-micro has no int16 kernel. On MCU targets `edgeq convert` traces",
              "  GlobalMaxPooling1D/2D as MAX_POOL_2D over the whole map (same maxima; int8 and int16 kernels).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="re-run the committed probe models only (no TensorFlow)")
    ap.add_argument("--docs", action="store_true", help="write docs/ops.md from the committed probe models")
    args = ap.parse_args(argv)
    if args.docs:
        DOCS.write_text(ops_doc(measure()))
        return 0
    if not args.check:
        status = build_fixtures()
        print(json.dumps(status, indent=1, sort_keys=True))
    table = measure()
    ops16 = int16x8_list(table)
    if not args.check:
        write_profile(ops16)
    for mode in MODES:
        ok = sorted(o for o, r in table[mode].items() if r)
        bad = sorted(o for o, r in table[mode].items() if not r)
        print(f"{mode}: runs {len(ok)}: {' '.join(ok)}")
        print(f"{mode}: fails {len(bad)}: {' '.join(bad)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
