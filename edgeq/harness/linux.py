"""Bench stage for LiteRT targets (Pi, Android, host): dispatch on the device string, check outputs, build figures.

Devices: `host` (this machine, a subprocess), `ssh://user@host[:port]` (a Pi over the system ssh),
`emulator[:cortex-a72|cortex-a76]` (qemu-aarch64 on a cached arm64 sysroot), `adb[:SERIAL]` (an Android phone
running the user's `benchmark_model`). The Python runners (host/ssh/emulator) all execute `remote_runner.py` and
return a RunnerResult; this module turns it into a BenchResult with a reference check: the device's output
against the same runner on this host (or the user's expected output).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq.errors import DataError, DeviceError, ModelError, UsageError, did_you_mean
from edgeq.harness.result import BenchResult, Figure
from edgeq.harness.runner import (  # noqa: F401 (re-exported for the tests)
    MARKER,
    RUNNER_PATH,
    OutputArray,
    RunnerResult,
    parse_runner_output,
    result_from_json,
    runner_args,
    runner_error,
)

# Options bench_linux understands (the CLI forwards its flags under these names).
OPTIONS = ("threads", "warmup", "runs", "inputs", "expected", "seed", "timeout_s", "ssh_options",
           "allow_arch_mismatch", "cache_dir", "benchmark_binary", "taskset", "power_monitor", "energy_duration_s",
           "check_reference", "remote_python", "litert", "accelerator_libs")


@dataclass(frozen=True)
class Comparison:
    matches: bool  # within tolerance: integer outputs within 1 step, float outputs allclose
    bit_exact: bool
    max_abs_diff: float
    message: str


def resolve_model(model_path: str | Path) -> Path:
    """A .tflite file, or an edgeq build folder holding one (model.tflite preferred)."""
    p = Path(model_path)
    if p.is_dir():
        if (p / "model.tflite").is_file():
            return p / "model.tflite"
        cands = sorted(p.glob("*.tflite"))
        if len(cands) == 1:
            return cands[0]
        raise ModelError(f"{p}: expected one .tflite in the build folder, found {len(cands)}",
                         hint="pass the .tflite file itself")
    if not p.is_file():
        raise ModelError(f"{p}: file not found", hint="check the path (a .tflite or an edgeq build folder)")
    return p


def write_inputs(model: Path, out_npz: Path, inputs: str | Path | None = None, seed: int = 0) -> Path:
    """Write the model's inputs as input_0.. into `out_npz`: the user's .npy/.npz (checked), else generated."""
    from edgeq.graph import load

    g = load(model)
    specs = [(t.name, tuple(t.shape), t.dtype) for t in g.inputs]
    arrays: list[np.ndarray] = []
    if inputs:
        ip = Path(inputs)
        if not ip.is_file():
            raise DataError(f"{ip}: input file not found", hint="pass a .npy (one input) or .npz (one array per input)")
        if ip.suffix == ".npy":
            arrays = [np.load(ip)]
        else:
            with np.load(ip) as z:
                keys = list(z.keys())
                named = [k for k in (f"input_{i}" for i in range(len(specs))) if k in z]
                arrays = [z[k] for k in (named if len(named) == len(specs) else keys)]
        if len(arrays) != len(specs):
            raise DataError(f"{ip}: {len(arrays)} arrays for a model with {len(specs)} inputs",
                            hint=f"inputs: {', '.join(n for n, _, _ in specs)}")
        for i, ((name, shape, dtype), a) in enumerate(zip(specs, arrays)):
            if a.size != int(np.prod(shape)):
                raise DataError(f"{ip}: array {i} has shape {a.shape}, input {name!r} needs {shape}")
            if np.dtype(dtype).kind in "iu" and a.dtype.kind == "f":
                raise DataError(f"{ip}: array {i} is {a.dtype}, input {name!r} is {dtype}",
                                hint="quantize it with the input's scale/zero-point first (q = x/scale + zp)")
            arrays[i] = a.astype(dtype).reshape(shape)
    else:
        rng = np.random.default_rng(seed)
        for _name, shape, dtype in specs:
            dt = np.dtype(dtype)
            if dt.kind in "iu":
                info = np.iinfo(dt)
                arrays.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64).astype(dt))
            else:
                arrays.append(rng.random(size=shape, dtype=np.float32).astype(dt))
    np.savez(out_npz, **{f"input_{i}": a for i, a in enumerate(arrays)})
    return out_npz


def load_expected(path: str | Path) -> list[np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: expected-output file not found")
    if p.suffix == ".npy":
        return [np.load(p)]
    with np.load(p) as z:
        return [z[k] for k in z.keys()]


def output_steps(model: Path) -> list[float | None]:
    """Per model output, the quantization step behind it: a float output produced by DEQUANTIZE of an int8
    tensor can differ by one such step between kernel libraries, like an integer output by 1."""
    from edgeq.graph import load

    g = load(model)
    producer = {o: op for op in g.operators for o in op.outputs}
    steps: list[float | None] = []
    for ti in g.main.outputs:
        op = producer.get(ti)
        t = g.main.tensors[op.inputs[0]] if op is not None and op.opcode == "DEQUANTIZE" else None
        steps.append(t.quant.scale[0] if t is not None and t.quant and len(t.quant.scale) == 1 else None)
    return steps


def compare_outputs(actual: list[np.ndarray], reference: list[np.ndarray],
                    steps: list[float | None] | None = None) -> Comparison:
    """Integer outputs may differ by one quantization step between kernel libraries (XNNPACK vs builtin
    rounding); so may dequantized float outputs (`steps`: the step per output); other float outputs by float
    reassociation. Anything more is a mismatch."""
    if len(actual) != len(reference):
        return Comparison(False, False, float("inf"), f"{len(actual)} outputs vs {len(reference)} expected")
    bit_exact, ok, worst = True, True, 0.0
    for i, (a, r) in enumerate(zip(actual, reference)):
        if a.size != r.size:
            return Comparison(False, False, float("inf"), f"output {i}: shape {a.shape} vs {r.shape}")
        a64 = a.astype(np.float64).reshape(-1)
        r64 = np.asarray(r).astype(np.float64).reshape(-1)
        bit_exact &= a.dtype == r.dtype and a.tobytes() == np.ascontiguousarray(r).tobytes()
        d = float(np.max(np.abs(a64 - r64))) if a.size else 0.0
        worst = max(worst, d)
        step = steps[i] if steps and i < len(steps) else None
        if a.dtype.kind in "iub":
            ok &= d <= 1
        elif step:
            ok &= d <= step * 1.0001
        else:
            ok &= bool(np.allclose(a64, r64, rtol=1e-3, atol=1e-4 * max(1.0, float(np.max(np.abs(r64))))))
    msg = "bit-exact" if bit_exact else f"max |diff| {worst:g}" + ("" if ok else " (beyond tolerance)")
    return Comparison(bool(ok), bool(bit_exact), worst, msg)


# --------------------------------------------------------------------------------------------- dispatch


def parse_device(device: str) -> tuple[str, str]:
    """('host'|'ssh'|'emulator'|'adb', argument) from a device string."""
    d = (device or "host").strip()
    if d == "host":
        return "host", ""
    if d.startswith("ssh://"):
        return "ssh", d
    if d == "emulator" or d.startswith("emulator:"):
        return "emulator", d.partition(":")[2]
    if d == "adb" or d.startswith("adb:"):
        return "adb", d.partition(":")[2]
    raise UsageError(f"unknown device {device!r} for a LiteRT target.{did_you_mean(d, ['host', 'emulator', 'adb'])}",
                     hint="use host, ssh://user@host[:port], emulator[:cortex-a72|cortex-a76] or adb[:SERIAL]")


def bench_linux(model_path: str, target, device: str = "host", **options) -> BenchResult:
    """Benchmark a .tflite for a LiteRT target (rpi4/rpi5/android-*) on host, SSH, emulator or adb."""
    for k in options:
        if k not in OPTIONS:
            raise UsageError(f"unknown bench option {k!r}.{did_you_mean(k, OPTIONS)}",
                             hint=f"options for LiteRT devices: {', '.join(OPTIONS)}")
    kind, arg = parse_device(device)
    if options.get("remote_python") and kind != "ssh":
        raise UsageError(f"--remote-python applies to --device ssh://..., not to {device or 'host'}",
                         hint="drop --remote-python, or benchmark a device over ssh://user@host")
    model = resolve_model(model_path)
    if kind == "adb":
        from edgeq.harness.adb import bench_adb

        return bench_adb(model, target, arg, **{k: v for k, v in options.items()
                                                if k in ("threads", "warmup", "runs", "timeout_s",
                                                         "benchmark_binary", "taskset", "litert",
                                                         "accelerator_libs")})
    if target.family == "android" and kind != "host":
        raise UsageError(f"target {target.name} is an Android profile: use --device adb[:SERIAL] (or host)")
    threads = int(options.get("threads") or (target.cpu.cores if kind == "ssh" else 1))
    warmup = int(options.get("warmup", 3))
    runs = int(options.get("runs", 20 if kind != "emulator" else 5))
    if runs < 1 or warmup < 0 or threads < 1:
        raise UsageError(f"runs={runs}, warmup={warmup}, threads={threads}: need runs >= 1, warmup >= 0, threads >= 1")
    seed = int(options.get("seed", 0))
    timeout_s = float(options.get("timeout_s", 300 if kind != "emulator" else 900))
    expected = options.get("expected")
    notes: list[str] = []
    monitor = options.get("power_monitor")
    if monitor is not None and kind != "ssh":
        raise UsageError("a power monitor measures a real device: use it with --device ssh://... (or adb)")
    if isinstance(monitor, str):
        from edgeq.harness.power import open_monitor

        monitor = open_monitor(monitor)
    sample = None
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-") as tmp:
        inputs = write_inputs(model, Path(tmp) / "inputs.npz", options.get("inputs"), seed)
        common = dict(threads=threads, warmup=warmup, runs=runs, timeout_s=timeout_s)
        if kind == "host":
            from edgeq.harness.host import run_host

            res = run_host(model, inputs, **common)
            where, measured = "host", "measured"
            ref_kernels = "builtin"  # XNNPACK vs LiteRT's builtin kernels: two independent implementations
        elif kind == "ssh":
            from edgeq.harness.ssh import run_ssh

            if monitor is not None:
                monitor.start()
            try:
                res = run_ssh(model, inputs, arg, ssh_options=tuple(options.get("ssh_options", ())),
                              python=str(options.get("remote_python") or "python3"), **common)
            finally:
                if monitor is not None:
                    sample = monitor.stop()
            _check_arch(res, target, device, bool(options.get("allow_arch_mismatch")))
            where, measured, ref_kernels = device, "measured", "default"
        else:
            from edgeq.harness.aarch64 import run_emulated

            cpu = arg or target.emulator.qemu_cpu or target.cpu.core
            res = run_emulated(model, inputs, cpu=cpu, cache_dir=options.get("cache_dir"), **common)
            where, measured, ref_kernels = f"emulator:{cpu}", "emulated", "default"
            notes.append("emulated wall time under qemu-aarch64 (TCG) says nothing about device latency; "
                         "the figures only show that the model runs and computes the right bytes")
        cmp = None
        ref_desc = ""
        if expected:
            cmp = compare_outputs([o.array() for o in res.outputs], load_expected(expected), output_steps(model))
            ref_desc = f"expected outputs from {expected}"
        elif options.get("check_reference", True):
            from edgeq.harness.host import run_host

            try:
                ref = run_host(model, inputs, threads=1, warmup=0, runs=1, timeout_s=timeout_s, kernels=ref_kernels)
                cmp = compare_outputs([o.array() for o in res.outputs], [o.array() for o in ref.outputs],
                                      output_steps(model))
                ref_desc = ("this host's LiteRT with the same kernels (XNNPACK)" if ref_kernels == "default"
                            else "this host's LiteRT builtin kernels (XNNPACK off)")
            except DeviceError as e:
                notes.append(f"no reference run on this host: {e.message}")
    matches = None
    if cmp is not None:
        # The emulator must reproduce the host's integer outputs byte for byte (same LiteRT version, same XNNPACK
        # kernel path); float kernels differ between NEON and AVX in FMA use, so float outputs get the tolerance.
        integer = all(np.dtype(o.dtype).kind in "iub" for o in res.outputs)
        matches = cmp.bit_exact if kind == "emulator" and integer and not expected else cmp.matches
        notes.append(f"output vs {ref_desc}: {cmp.message}")
    bench = _to_bench(res, target, model, where, measured, matches, notes, cmp, ref_desc, options)
    if sample is not None:
        from dataclasses import replace

        from edgeq.harness.power import measured_energy

        figs = tuple(f for f in bench.figures if f.name != "energy_uj")
        bench = replace(bench, figures=(*figs, measured_energy(sample, res.p50_ms, monitor.name)))
    return bench


def _check_arch(res: RunnerResult, target, device: str, allow: bool) -> None:
    want = {"armv8-a": ("aarch64", "arm64"), "armv8.2-a": ("aarch64", "arm64")}.get(target.cpu.arch)
    if want and res.machine not in want and not allow:
        raise DeviceError(
            f"{device}: the device is {res.machine} ({res.cpu_model}), target {target.name} describes a "
            f"{target.cpu.core} ({target.cpu.arch}, aarch64); the figures would not describe {target.name}",
            hint="on a Pi, install the 64-bit Raspberry Pi OS; or pass allow_arch_mismatch (--allow-arch-mismatch) "
                 "to benchmark this device anyway")


def _to_bench(res: RunnerResult, target, model: Path, where: str, kind: str, matches, notes, cmp, ref_desc,
              options) -> BenchResult:
    how = {"measured": f"wall clock of Interpreter.invoke() on {where}, {res.runs} runs after warm-up, "
                       f"{res.threads} thread(s)",
           "emulated": f"wall clock under qemu-aarch64 on an x86 host ({res.runs} runs); NOT predictive of "
                       "device latency"}[kind]
    figs = [Figure("latency_p50_ms", res.p50_ms, "ms", kind, how),
            Figure("latency_p90_ms", res.p90_ms, "ms", kind, how),
            Figure("latency_min_ms", res.min_ms, "ms", kind, how),
            Figure("init_ms", res.init_ms, "ms", kind, "Interpreter construction + allocate_tensors (incl. "
                                                       "delegate preparation)"),
            Figure("peak_rss_bytes", res.peak_rss_bytes, "B", kind,
                   "getrusage(RUSAGE_SELF).ru_maxrss of the runner process (Python + numpy + runtime + model)"),
            Figure("model_rss_bytes", max(res.peak_rss_bytes - res.baseline_rss_bytes, 0), "B", kind,
                   "peak RSS minus the peak before the interpreter was created: the model's own memory")]
    if res.instructions_per_inference is not None:
        figs.append(Figure("instructions", res.instructions_per_inference, "instr", "emulated",
                           "aarch64 instructions per Interpreter.invoke() counted by a QEMU TCG plugin "
                           "(median over 3 windows; includes the Python wrapper's call overhead, a few hundred "
                           "instructions). Instructions, not cycles: the Pi's speed also depends on its memory"))
    if kind == "measured" and where != "host":
        from edgeq.harness.power import estimate_energy

        e = estimate_energy(res.p50_ms, target)
        if e is not None:
            figs.append(e)
    elif where == "host":
        notes.append("host run: the energy figure of the profile describes the target device, not this machine")
    details = {"runtime": res.runtime, "runtime_version": res.runtime_version, "cpu_model": res.cpu_model,
               "machine": res.machine, "python": res.python, "threads": str(res.threads),
               "xnnpack_applied": "yes" if res.delegate_applied else "no", "kernels": res.kernels}
    if cmp is not None:
        details.update(reference=ref_desc, bit_exact=str(cmp.bit_exact).lower(), max_abs_diff=f"{cmp.max_abs_diff:g}")
    if not res.delegate_applied and res.kernels == "default":
        notes.append("XNNPACK was not applied: every op ran on LiteRT's builtin kernels")
    return BenchResult(target=target.name, device=where, model=str(model), figures=tuple(figs),
                       output_matches_reference=matches, notes=tuple(notes), log=res.log, details=details)
