"""Build edgeq's generated C for this machine and run it (evaluate stage, runtime "edgeq-c"; codegen tests).

`HostModel.build(graph, work_dir)` generates `<prefix>.c/.h` + `edgeq_runtime/` into work_dir (see
docs/codegen-api.md), writes a small C driver and compiles everything with the host gcc
(`-std=c99 -O2 -Wall -Wextra -Werror`, plus e.g. `-DEDGEQ_EMULATE_DSP` to run the SXTB16/SMLAD code path through
its C models of the instructions). `HostModel.run(samples)` then pushes every sample through one process run of
the driver: it reads each inference's input bytes (inputs in the graph's order) from stdin until EOF and writes
each inference's output bytes to stdout, so 10k samples cost one process start, not 10k.

The runtime library is compiled once for each (compiler, flags, preprocessed sources) and its objects reused, within
a process and across processes through the user's object cache (edgeq.objcache: ~/.cache/edgeq/objects,
EDGEQ_CACHE_DIR), so a per-model build compiles only the model file and the driver. Float-I/O models
(`<PREFIX>_IO_FLOAT`, QUANTIZE / DEQUANTIZE at the edges) are driven through `<prefix>_invoke_f32` with float32 samples.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeq import objcache
from edgeq.errors import CodegenError, DataError, DeviceError, ToolMissing
from edgeq.graph import Graph

HOST_CC = "gcc"
HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
GCC_HINT = "apt-get install -y gcc"
COMPILE_TIMEOUT_S = 600.0  # per gcc call; large weight arrays at -O2 take a while

_REPORT_HINT = "the generated C should always compile warning-free; please report this with the model"
_IO_DTYPES = {"int8": np.dtype(np.int8), "int16": np.dtype(np.int16), "float32": np.dtype(np.float32)}


# ----------------------------------------------------------------------------------------------- driver


def _io_dtype(graph: Graph) -> np.dtype:
    types = {t.dtype for t in (*graph.inputs, *graph.outputs)}
    if len(types) != 1 or next(iter(types)) not in _IO_DTYPES:
        raise CodegenError(f"model I/O types {sorted(types)} cannot be run on the host (all int8 or all float32)",
                           hint="convert with int8 inputs and outputs: `edgeq convert --mode int8`")
    empty = [t.name for t in (*graph.inputs, *graph.outputs) if t.num_elements == 0]
    if empty:
        raise CodegenError(f"model I/O tensor {empty[0]!r} has no elements; the host driver cannot carry it")
    return _IO_DTYPES[next(iter(types))]


def driver_source(graph: Graph, prefix: str = "edgeq_model") -> str:
    """C source of the host driver: loop { read every input of one inference from stdin; invoke; write every
    output to stdout } until EOF. Exit codes: 0 done, 2 invoke failed, 3 input ends inside a sample, 4 buffer
    sizes disagree with the header, 5 write failed."""
    dt = _io_dtype(graph)
    elem, suffix = {"float32": ("float", "_f32"), "int16": ("int16_t", "_s16")}.get(dt.name, ("int8_t", ""))
    fn = f"{prefix}_invoke{suffix}"
    up = prefix.upper()
    ni, no = len(graph.inputs), len(graph.outputs)
    lines = ["/* edgeq host driver (generated): stdin -> model -> stdout, one inference per record. */",
             "#include <stdint.h>", "#include <stdio.h>", "", f'#include "{prefix}.h"', "", "int main(void)", "{"]
    for k, t in enumerate(graph.inputs):
        lines.append(f"    static {elem} in{k}[{t.num_elements}];")
    for k, t in enumerate(graph.outputs):
        lines.append(f"    static {elem} out{k}[{t.num_elements}];")
    lines.append(f"    const {elem} *const ins[{ni}] = {{{', '.join(f'in{k}' for k in range(ni))}}};")
    lines.append(f"    {elem} *const outs[{no}] = {{{', '.join(f'out{k}' for k in range(no))}}};")
    checks = [f"sizeof in{k} != {up}_INPUT{k}_SIZE" for k in range(ni)]
    checks += [f"sizeof out{k} != {up}_OUTPUT{k}_SIZE" for k in range(no)]
    lines.append(f"    if ({' || '.join(checks)}) return 4;")
    lines.append("    for (;;) {")
    lines.append("        size_t got = fread(in0, 1, sizeof in0, stdin);")
    lines.append("        if (got == 0 && feof(stdin)) break;")
    lines.append("        if (got != sizeof in0) return 3;")
    for k in range(1, ni):
        lines.append(f"        if (fread(in{k}, 1, sizeof in{k}, stdin) != sizeof in{k}) return 3;")
    lines.append(f"        if ({fn}(ins, outs) != 0) return 2;")
    for k in range(no):
        lines.append(f"        if (fwrite(out{k}, 1, sizeof out{k}, stdout) != sizeof out{k}) return 5;")
    lines.append("    }")
    lines.append("    return fflush(stdout) == 0 ? 0 : 5;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_driver(graph: Graph, path: str | Path, prefix: str = "edgeq_model") -> Path:
    path = Path(path)
    path.write_text(driver_source(graph, prefix))
    return path


# ----------------------------------------------------------------------------------------------- compile


def _gcc(cc: str = HOST_CC) -> str:
    exe = shutil.which(cc)
    if exe is None:
        raise ToolMissing(f"{cc} not found on PATH (needed to build the generated C for this machine)",
                          hint=GCC_HINT)
    return exe


def _compile(cmd: list[str], what: str) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CodegenError(f"host compile of {what} did not finish in {COMPILE_TIMEOUT_S:g} s",
                           hint="the model's C file may be very large; build it with your own toolchain") from None
    except OSError as e:
        raise ToolMissing(f"cannot start {cmd[0]}: {e.strerror}", hint=GCC_HINT) from None
    if r.returncode:
        tail = "\n".join(r.stderr.strip().splitlines()[-40:])
        raise CodegenError(f"host compile of {what} failed (gcc exit {r.returncode}):\n{tail}", hint=_REPORT_HINT)
    return r.stdout


_RT_LOCK = threading.Lock()
_RT_OBJECTS: dict[tuple, list[Path]] = {}
_RT_ROOT: Path | None = None


def _rt_root() -> Path:
    global _RT_ROOT
    if _RT_ROOT is None:
        _RT_ROOT = Path(tempfile.mkdtemp(prefix="edgeq-host-rt-"))
        atexit.register(shutil.rmtree, _RT_ROOT, True)
    return _RT_ROOT


def runtime_objects(runtime_dir: str | Path, extra_cflags: Sequence[str] = (), cc: str = HOST_CC) -> list[Path]:
    """Object files of the C runtime in `runtime_dir` (`include/`, `src/`), compiled once per process for each
    content and flag set (the copies next to every generated model are identical, so they share the objects),
    and taken from the persistent object cache (edgeq.objcache) when another process compiled them already."""
    rt = Path(runtime_dir)
    srcs = sorted((rt / "src").glob("*.c"))
    if not srcs:
        raise CodegenError(f"{rt}: no runtime sources (src/*.c)", hint="regenerate the model with `edgeq codegen`")
    gcc = _gcc(cc)
    digest = hashlib.sha256()
    for p in [*srcs, *sorted((rt / "include").glob("*.h"))]:
        digest.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    key = (digest.hexdigest(), gcc, tuple(extra_cflags))
    with _RT_LOCK:
        objs = _RT_OBJECTS.get(key)
        if objs and all(o.is_file() for o in objs):
            return list(objs)
        tag = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        obj_dir = _rt_root() / tag
        obj_dir.mkdir(parents=True, exist_ok=True)
        objs, compiled = [], False
        for src in srcs:
            obj = obj_dir / (src.stem + ".o")
            flags = [*HOST_CFLAGS, *extra_cflags, "-I", str(rt / "include")]
            compiled |= not objcache.compile_cached(gcc, flags, src, obj, _compile, f"runtime {src.name}")
            objs.append(obj)
        if compiled:
            objcache.prune()
        _RT_OBJECTS[key] = objs
        return list(objs)


# ----------------------------------------------------------------------------------------------- model


class HostModel:
    """A host executable of one generated model. Build with `HostModel.build` (generate + compile) or
    `HostModel.compile` (sources already generated into a folder); run with `run`."""

    def __init__(self, exe: str | Path, graph: Graph):
        self.exe = Path(exe)
        self.graph = graph
        self.dtype = _io_dtype(graph)

    @classmethod
    def build(cls, graph: Graph, work_dir: str | Path, *, prefix: str = "edgeq_model",
              extra_cflags: Sequence[str] = (), exe_name: str = "edgeq_host_model") -> HostModel:
        """Generate the model's C into work_dir (CodegenError for unsupported models) and compile it."""
        from edgeq.codegen import generate

        _io_dtype(graph)  # fail before generating for I/O the driver cannot carry
        _gcc()
        generate(graph, work_dir, prefix=prefix)
        return cls.compile(graph, work_dir, prefix=prefix, extra_cflags=extra_cflags, exe_name=exe_name)

    @classmethod
    def compile(cls, graph: Graph, src_dir: str | Path, *, prefix: str = "edgeq_model",
                extra_cflags: Sequence[str] = (), exe_name: str = "edgeq_host_model") -> HostModel:
        """Compile `<prefix>.c` + `edgeq_runtime/` already generated (from `graph`) in src_dir, with a driver."""
        d = Path(src_dir)
        model_c = d / f"{prefix}.c"
        if not model_c.is_file():
            raise CodegenError(f"{model_c} not found", hint="generate the model first (`edgeq codegen`)")
        gcc = _gcc()
        driver = write_driver(graph, d / f"{exe_name}_driver.c", prefix)
        objs = runtime_objects(d / "edgeq_runtime", extra_cflags)
        exe = d / exe_name
        _compile([gcc, *HOST_CFLAGS, *extra_cflags, "-I", str(d), "-I", str(d / "edgeq_runtime" / "include"),
                  str(model_c), str(driver), *map(str, objs), "-o", str(exe)], f"{model_c.name}")
        return cls(exe, graph)

    def _sample_bytes(self, inputs: Sequence[Sequence[np.ndarray]]) -> bytes:
        tensors = self.graph.inputs
        chunks = []
        for s, xs in enumerate(inputs):
            if len(xs) != len(tensors):
                raise DataError(f"sample {s}: {len(xs)} input array(s), the model has {len(tensors)} input(s)")
            for k, (x, t) in enumerate(zip(xs, tensors)):
                a = np.asarray(x)
                if a.dtype != self.dtype:
                    raise DataError(f"sample {s}, input {k} ({t.name!r}): dtype {a.dtype}, the model takes "
                                    f"{self.dtype}", hint="quantize float samples with the input's scale/zero point")
                if a.size != t.num_elements:
                    raise DataError(f"sample {s}, input {k} ({t.name!r}): {a.size} values of shape {a.shape}, "
                                    f"the model takes {t.num_elements} (shape {tuple(t.shape)})")
                chunks.append(np.ascontiguousarray(a).tobytes())
        return b"".join(chunks)

    def run(self, inputs: Sequence[Sequence[np.ndarray]], *, timeout_s: float | None = None) -> list[list[np.ndarray]]:
        """Per sample, per model input (graph order) an array -> per sample, per model output an array of the
        output's shape (int8, or float32 for float-I/O models). All samples in one run of the executable."""
        if not inputs:
            return []
        blob = self._sample_bytes(inputs)
        if timeout_s is None:
            timeout_s = 60.0 + 0.05 * len(inputs)
        try:
            r = subprocess.run([str(self.exe)], input=blob, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"host model {self.exe.name}: {len(inputs)} inference(s) did not finish in "
                              f"{timeout_s:g} s", hint="pass fewer samples or a larger timeout_s") from None
        except OSError as e:
            raise DeviceError(f"cannot start {self.exe}: {e.strerror}") from None
        if r.returncode:
            why = {2: "the model's invoke returned an error", 3: "input ended inside a sample",
                   4: "buffer sizes disagree with the generated header", 5: "writing the outputs failed"}
            if r.returncode < 0:
                what = f"died with signal {-r.returncode}"
            else:
                what = f"exited with {r.returncode} ({why.get(r.returncode, 'unexpected')})"
            err = r.stderr.decode(errors="replace").strip()[-2000:]
            raise DeviceError(f"host model {self.exe.name} {what}" + (f":\n{err}" if err else ""),
                              hint=_REPORT_HINT if r.returncode != 3 else None)
        out_t = self.graph.outputs
        per_sample = sum(t.num_elements for t in out_t) * self.dtype.itemsize
        if len(r.stdout) != per_sample * len(inputs):
            raise DeviceError(f"host model {self.exe.name} wrote {len(r.stdout)} bytes for {len(inputs)} "
                              f"sample(s), expected {per_sample * len(inputs)}", hint=_REPORT_HINT)
        flat = np.frombuffer(r.stdout, dtype=self.dtype).reshape(len(inputs), -1).copy()
        results = []
        for row in flat:
            ys, pos = [], 0
            for t in out_t:
                ys.append(row[pos : pos + t.num_elements].reshape(t.shape))
                pos += t.num_elements
            results.append(ys)
        return results


def run_generated(graph: Graph, inputs: Sequence[Sequence[np.ndarray]], *, work_dir: str | Path | None = None,
                  extra_cflags: Sequence[str] = (), timeout_s: float | None = None) -> list[list[np.ndarray]]:
    """Generate, compile and run in one call (a temporary folder unless work_dir is given)."""
    if work_dir is not None:
        return HostModel.build(graph, work_dir, extra_cflags=extra_cflags).run(inputs, timeout_s=timeout_s)
    with tempfile.TemporaryDirectory(prefix="edgeq-host-") as tmp:
        return HostModel.build(graph, tmp, extra_cflags=extra_cflags).run(inputs, timeout_s=timeout_s)
