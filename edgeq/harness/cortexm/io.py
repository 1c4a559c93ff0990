"""Cortex-M harness, model I/O types: int8, int16 (int16x8 models) and float32 inputs/outputs.

The firmware (targets/boards/common/main.c) keeps its test inputs and output buffers as byte arrays typed
`int8_t`. For int8 models it calls edgeq_model_invoke() on them directly (build.write_harness_data). For int16 and
float32 I/O the generated API is edgeq_model_invoke_s16() / edgeq_model_invoke_f32() (docs/codegen-api.md); the
harness data written here stores the inputs as int16_t / float arrays and defines eq_model_invoke_io(), which
hands the same buffers to that function with their real element type; main.c calls it when edgeq_model.h
defines EDGEQ_MODEL_IO_FLOAT (set for every non-int8 I/O). The cycle window starts at the model's own invoke
function (`invoke_symbol`), so the adapter's few instructions are outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeq.errors import UsageError
from edgeq.harness.cortexm.build import ModelHeader, ModelSources, harness_data_lines, make_inputs, write_harness_data

IO_TYPES = {"int8": ("int8_t", np.int8, ""), "int16": ("int16_t", np.int16, "_s16"),
            "float32": ("float", np.float32, "_f32")}


def io_type(model: ModelSources, given: str = "") -> str:
    """The model's I/O element type: from model.tflite when present, else from edgeq_model.h's invoke function."""
    if model.tflite is not None:
        from edgeq.graph import load

        g = load(model.tflite)
        types = {t.dtype for t in (*g.inputs, *g.outputs)}
        if len(types) != 1 or next(iter(types)) not in IO_TYPES:
            listed = ", ".join(f"{t.name!r} ({t.dtype})" for t in (*g.inputs, *g.outputs))
            raise UsageError(
                f"{given or model.tflite}: the Cortex-M harness runs models whose inputs and outputs are all int8, "
                f"all int16 or all float32; this one has {listed}",
                hint="convert with one I/O type (the cortex-m profiles' default: `edgeq convert --io-dtype int8`)",
            )
        return next(iter(types))
    text = (model.model_dir / "edgeq_model.h").read_text(encoding="utf-8", errors="replace")
    for name, (_, _, suffix) in IO_TYPES.items():
        if suffix and f"edgeq_model_invoke{suffix}(" in text:
            return name
    return "int8"


def invoke_symbol(io: str) -> str:
    return "edgeq_model_invoke" + IO_TYPES[io][2]


def _float_ranges(model: ModelSources) -> list[tuple[float, float]]:
    """Per input, the float range its first QUANTIZE maps onto the whole integer range (else [-1, 1])."""
    ranges = [(-1.0, 1.0)] * model.header.num_inputs
    if model.tflite is None:
        return ranges
    from edgeq.graph import load

    sg = load(model.tflite).main
    for k, ti in enumerate(sg.inputs):
        for op in sg.operators:
            if op.opcode == "QUANTIZE" and op.inputs and op.inputs[0] == ti:
                t = sg.tensors[op.outputs[0]]
                if t.quant and t.quant.scale:
                    lo, hi = (-128, 127) if t.dtype == "int8" else (-32768, 32767)
                    s, z = float(t.quant.scale[0]), int(t.quant.zero_point[0])
                    ranges[k] = (s * (lo - z), s * (hi - z))
                break
    return ranges


def make_typed_inputs(model: ModelSources, io: str, samples: int = 1, seed: int = 0) -> list[list[np.ndarray]]:
    """Deterministic test inputs: int8 as build.make_inputs; int16 over the whole int16 range; float32 uniform
    over the range the model's input QUANTIZE covers."""
    header = model.header
    if io == "int8":
        return make_inputs(header, samples, seed)
    rng = np.random.default_rng(seed)
    if io == "int16":
        return [[rng.integers(-32768, 32768, size=n // 2, dtype=np.int16) for n in header.input_sizes]
                for _ in range(samples)]
    ranges = _float_ranges(model)
    return [[rng.uniform(lo, hi, size=n // 4).astype(np.float32) for n, (lo, hi) in zip(header.input_sizes, ranges)]
            for _ in range(samples)]


def _c_values(arr: np.ndarray, io: str) -> str:
    if io == "float32":
        return ",".join(f"{v!r}f" if np.isfinite(v) else "0.0f" for v in (float(x) for x in arr.reshape(-1)))
    return ",".join(str(int(v)) for v in arr.reshape(-1))


def write_typed_harness_data(path: Path, header: ModelHeader, inputs: Sequence[Sequence[np.ndarray]], io: str) -> None:
    """eq_harness_data.c for any I/O type (int8: build.write_harness_data as it is)."""
    if io == "int8":
        write_harness_data(path, header, inputs)
        return
    ctype, dtype, suffix = IO_TYPES[io]

    def values(s: int, i: int, arr: np.ndarray) -> tuple[int, str]:
        a = np.ascontiguousarray(arr)
        if a.dtype != dtype:
            raise UsageError(f"sample {s} input {i} is {a.dtype}; the model's inputs are {io}",
                             hint=f"pass {io} arrays as inputs")
        if a.nbytes != header.input_sizes[i]:
            raise UsageError(f"sample {s} input {i}: {a.nbytes} bytes, the model expects {header.input_sizes[i]}")
        return a.size, _c_values(a, io)

    title = ("/* Generated by edgeq.harness.cortexm: test inputs of the benchmark firmware "
             f"({io} model I/O, see edgeq/harness/cortexm/io.py). */")
    lines = harness_data_lines(header, inputs, title, ctype, values)
    nin, nout = "EDGEQ_MODEL_NUM_INPUTS", "EDGEQ_MODEL_NUM_OUTPUTS"
    lines += [
        f"/* The buffers above hold {ctype} values: hand them to the model's {ctype} API. */",
        "int eq_model_invoke_io(const int8_t *const inputs[], int8_t *const outputs[])",
        "{",
        f"    const {ctype} *in[{nin}];",
        f"    {ctype} *out[{nout}];",
        f"    for (int k = 0; k < {nin}; k++) in[k] = (const {ctype} *)(const void *)inputs[k];",
        f"    for (int k = 0; k < {nout}; k++) out[k] = ({ctype} *)(void *)outputs[k];",
        f"    return edgeq_model_invoke{suffix}(in, out);",
        "}",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
