"""Export stage: TFLM-ready C (model_data.c/.h, op_resolver.h) with an exactly measured arena size.

`EDGEQ_TENSOR_ARENA_SIZE` comes from the tflite-micro Python interpreter (TFLM's own allocator, recording
mode) plus the profile's stated margin. The interpreter runs on the 64-bit host: the activation ("head") part of
the arena is identical on a 32-bit MCU, the persistent ("tail") part holds pointer-sized structs and is larger
on the host, so the host figure is a safe upper bound for Cortex-M. The measurement runs in a subprocess
because TFLM prints its allocation report on the C stdout.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from edgeq.graph import Graph

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool",
    "class", "namespace", "template", "new", "delete", "operator", "private", "public", "this", "main",
}

# MicroMutableOpResolver method names that are not the plain CamelCase of the op name.
_RESOLVER_SPECIAL = {
    "BATCH_MATMUL": "AddBatchMatMul", "CUMSUM": "AddCumSum", "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "RELU_N1_TO_1": "AddReluN1To1",
}


@dataclass(frozen=True)
class ArenaMeasurement:
    total_bytes: int | None
    head_bytes: int | None  # activations (non-persistent): same on 32-bit targets
    tail_bytes: int | None  # persistent structs: pointer-size dependent
    method: str
    error: str = ""
    # smallest arena (16-byte steps) with which TFLM allocates and invokes: allocation needs temporary space that
    # the recorded total does not show, so this can exceed total_bytes
    required_bytes: int | None = None


@dataclass(frozen=True)
class TflmExport:
    files: tuple[str, ...]
    symbol: str
    arena: ArenaMeasurement
    arena_macro_bytes: int | None


def c_identifier(name: str) -> str:
    """A valid, non-clashing C identifier from a file name: sanitized, and if anything had to change, suffixed
    with a short hash of the original so `my-model` and `my_model` never map to the same symbol."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or s[0].isdigit():
        s = "m_" + s
    s = re.sub(r"_+", "_", s)
    if s != name or s in C_KEYWORDS or s.startswith("__"):
        s = f"{s.strip('_') or 'm'}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"
        if s[0].isdigit():
            s = "m_" + s
    return s


def c_comment(text: str, limit: int | None = None) -> str:
    """Text safe inside a C block comment, whatever the input (tensor names come from the model file).

    Printable ASCII only (no newlines), no backslash (line splices), and no comment delimiter or trigraph start
    left after the rewrite: the replacements run until nothing changes, so pieces cannot recombine ("/*\\"
    must not become "_*/").
    """
    t = "".join(ch if 32 <= ord(ch) < 127 and ch != "\\" else "_" for ch in str(text))
    while True:
        u = t.replace("*/", "*_").replace("/*", "_*").replace("??", "?_")
        if u == t:
            break
        t = u
    if limit is not None and len(t) > limit:
        t = t[: limit - 3] + "..."
    return t


_MEASURE = textwrap.dedent("""
    import sys, numpy as np
    from tflite_micro.python.tflite_micro import runtime
    data = open(sys.argv[1], "rb").read()
    size = int(sys.argv[3])
    it = runtime.Interpreter.from_bytes(data, arena_size=size) if size else runtime.Interpreter.from_bytes(data)
    for i in range(int(sys.argv[2])):
        d = it.get_input_details(i)
        it.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
    it.invoke()
    sys.stdout.flush()
    if not size:
        it.print_allocations()
""")


def measure_tflm_arena(tflite: bytes, num_inputs: int = 1, timeout_s: float = 300) -> ArenaMeasurement:
    """Run the model in tflite-micro's interpreter, read its recorded arena, then find the smallest arena that
    works (each probe in its own process: a too-small arena can crash TFLM instead of failing cleanly)."""
    method = "tflite-micro Python interpreter (RecordingMicroAllocator), 64-bit host"
    with tempfile.TemporaryDirectory() as td:
        mp = Path(td) / "m.tflite"
        mp.write_bytes(tflite)

        def run(size: int) -> subprocess.CompletedProcess | None:
            try:
                return subprocess.run([sys.executable, "-c", _MEASURE, str(mp), str(num_inputs), str(size)],
                                      capture_output=True, text=True, timeout=timeout_s, check=False)
            except subprocess.TimeoutExpired:
                return None

        r = run(0)
        if r is None:
            return ArenaMeasurement(None, None, None, method, f"timed out after {timeout_s:.0f} s")
        out = r.stdout + r.stderr
        tot = re.search(r"Arena allocation total (\d+) bytes", out)
        head = re.search(r"Arena allocation head (\d+) bytes", out)
        tail = re.search(r"Arena allocation tail (\d+) bytes", out)
        if r.returncode != 0 or not tot:
            if "ModuleNotFoundError" in out:
                err = "tflite-micro is not installed (pip install tflite-micro)"
            else:
                lines = [ln for ln in out.splitlines() if ln.strip() and "WARNING" not in ln]
                err = " | ".join(lines[-3:])[:400] or f"exit code {r.returncode}"
                if "Traceback (most recent call last)" in out and lines:
                    # the interpreter's Python side failed reading the model: its exception line says why
                    err = f"tflite-micro could not load the model ({lines[-1].strip()[:300]})"
                if r.returncode < 0:  # killed by a signal: TFLM crashed on this model (edgeq itself is fine)
                    try:
                        sig = signal.Signals(-r.returncode).name
                    except ValueError:
                        sig = f"signal {-r.returncode}"
                    err = f"tflite-micro crashed ({sig}) loading or running the model" + (
                        f": {err}" if lines else "; the model is malformed for TFLM")
            return ArenaMeasurement(None, None, None, method, err)
        total = int(tot.group(1))

        def works(size: int) -> bool:
            p = run(size)
            return p is not None and p.returncode == 0

        required = (total + 15) // 16 * 16
        if not works(required):
            lo, step = required, 256
            hi = required + step
            while not works(hi):  # allocation scratch beyond the recorded total: grow, then bisect
                lo, step = hi, step * 2
                hi = required + step
                if step > max(total, 1 << 16) * 4:
                    return ArenaMeasurement(total, None, None, method, f"no working arena up to {hi} B")
            while hi - lo > 16:
                mid = (lo + hi) // 32 * 16
                lo, hi = (lo, mid) if works(mid) else (mid, hi)
            required = hi
    return ArenaMeasurement(total, int(head.group(1)) if head else None, int(tail.group(1)) if tail else None,
                            method, required_bytes=required)


def _resolver_method(op: str) -> str:
    camel = "".join(p.capitalize() for p in op.split("_"))
    return _RESOLVER_SPECIAL.get(op) or "Add" + re.sub(r"(\d)d\b", r"\1D", camel)  # Conv2d -> Conv2D


def _q_macros(prefix: str, kind: str, i: int, t) -> list[str]:
    out = [f"#define {prefix}_{kind}{i}_BYTES {t.size_bytes}",
           f"#define {prefix}_{kind}{i}_DIMS {{{', '.join(str(d) for d in t.shape)}}}",
           f"#define {prefix}_{kind}{i}_TYPE \"{t.dtype}\""]
    if t.quant is not None and len(t.quant.scale) == 1:
        out += [f"#define {prefix}_{kind}{i}_SCALE {t.quant.scale[0]!r}f",
                f"#define {prefix}_{kind}{i}_ZERO_POINT ({t.quant.zero_point[0]})"]
    return out


def export_tflm(graph: Graph, out_dir: Path, *, name: str = "model", arena: ArenaMeasurement | None = None,
                margin_bytes: int = 0) -> TflmExport:
    """Write model_data.h/.c and op_resolver.h into out_dir (which must exist)."""
    sym = c_identifier(name)
    up = sym.upper()
    data = graph.raw
    if arena is None:
        arena = measure_tflm_arena(data, len(graph.inputs))
    arena_macro = None
    if arena.total_bytes is not None:
        need = max(arena.total_bytes, arena.required_bytes or 0)
        arena_macro = (need + margin_bytes + 15) // 16 * 16
    guard = f"EDGEQ_{up}_MODEL_DATA_H_"
    h = [f"/* Generated by edgeq from {c_comment(Path(graph.path).name)} - do not edit. */",
         f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "",
         "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
         f"/* TFLite flatbuffer, {len(data)} bytes, sha256 {graph.sha256[:16]}... */",
         f"extern const unsigned char g_{sym}_data[];", f"extern const unsigned int g_{sym}_data_len;",
         f"#define {up}_DATA_LEN {len(data)}u", ""]
    if arena_macro is not None:
        h += [f"/* Tensor arena: {arena.total_bytes} B recorded by {arena.method},",
              f"   {arena.required_bytes} B the smallest arena with which TFLM allocates and invokes the model",
              f"   (activations {arena.head_bytes} B + persistent {arena.tail_bytes} B; the persistent part is",
              "   smaller on 32-bit MCUs, so this is an upper bound) + margin "
              f"{margin_bytes} B, rounded up to 16. */",
              f"#define {up}_TENSOR_ARENA_SIZE {arena_macro}",
              "#ifndef EDGEQ_TENSOR_ARENA_SIZE", f"#define EDGEQ_TENSOR_ARENA_SIZE {up}_TENSOR_ARENA_SIZE",
              "#endif", ""]
    else:
        h += [f"/* Tensor arena not measured: {c_comment(arena.error)} */", ""]
    h.append(f"#define {up}_NUM_INPUTS {len(graph.inputs)}")
    h.append(f"#define {up}_NUM_OUTPUTS {len(graph.outputs)}")
    for i, t in enumerate(graph.inputs):
        h += _q_macros(up, "INPUT", i, t)
    for i, t in enumerate(graph.outputs):
        h += _q_macros(up, "OUTPUT", i, t)
    h += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]

    c = [f"/* Generated by edgeq from {c_comment(Path(graph.path).name)} - do not edit. */",
         '#include "model_data.h"', "",
         "#if defined(__GNUC__) || defined(__clang__)", "#define EDGEQ_ALIGN16 __attribute__((aligned(16)))",
         "#elif defined(__ICCARM__)", "#define EDGEQ_ALIGN16 _Pragma(\"data_alignment=16\")", "#else",
         "#define EDGEQ_ALIGN16", "#endif", "",
         f"const unsigned char g_{sym}_data[] EDGEQ_ALIGN16 = {{"]
    for off in range(0, len(data), 16):
        c.append("  " + ", ".join(f"0x{b:02x}" for b in data[off : off + 16]) + ",")
    c += ["};", f"const unsigned int g_{sym}_data_len = {len(data)}u;", ""]

    ops = graph.op_names()
    r = [f"/* Generated by edgeq from {c_comment(Path(graph.path).name)} - do not edit. */",
         f"/* Registers exactly the {len(ops)} op types the model uses: {', '.join(ops)}. */",
         f"#ifndef EDGEQ_{up}_OP_RESOLVER_H_", f"#define EDGEQ_{up}_OP_RESOLVER_H_", "",
         '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"', "",
         f"typedef tflite::MicroMutableOpResolver<{max(len(ops), 1)}> {sym}_op_resolver_t;", "",
         f"static inline TfLiteStatus {sym}_register_ops({sym}_op_resolver_t &resolver) {{"]
    for op in ops:
        if op.startswith("CUSTOM:"):
            r.append(f"  /* custom op {c_comment(op[7:])}: register it yourself with AddCustom() */")
            continue
        r.append(f"  if (resolver.{_resolver_method(op)}() != kTfLiteOk) return kTfLiteError;")
    r += ["  return kTfLiteOk;", "}", "", f"#endif /* EDGEQ_{up}_OP_RESOLVER_H_ */", ""]

    files = {"model_data.h": "\n".join(h), "model_data.c": "\n".join(c), "op_resolver.h": "\n".join(r)}
    for fname, text in files.items():
        (out_dir / fname).write_text(text)
    (out_dir / "tflm_arena.json").write_text(json.dumps(arena.__dict__, indent=2, sort_keys=True) + "\n")
    return TflmExport(tuple(sorted(files)) + ("tflm_arena.json",), sym, arena, arena_macro)
