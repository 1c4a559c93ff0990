"""adb runner (bench stage, `--device adb[:SERIAL]`): LiteRT's `benchmark_model` on an Android phone.

The user provides the `benchmark_model` binary built for the phone (`benchmark_binary=` / `--benchmark-binary`,
or $EDGEQ_BENCHMARK_MODEL). Two generations exist and take different accelerator flags:
- LiteRT 1.x / TensorFlow Lite (tensorflow/lite/tools/benchmark): `--use_xnnpack`, `--use_nnapi`, `--use_gpu`;
  prints `Inference timings in us: Init: ..., First inference: ..., Warmup (avg): ..., Inference (avg): ...`.
- LiteRT 2.x (google-ai-edge/LiteRT litert/tools/benchmark_litert_model.h, CompiledModel): `--use_cpu`,
  `--use_gpu`, `--use_npu`, `--dispatch_library_path`, `--require_full_delegation`; no NNAPI; prints a
  `========== BENCHMARK RESULTS ==========` block (`Model initialization: X ms`, `Inference (avg): X ms (N runs)`,
  min/max/std, `Throughput`, `Init/Overall footprint`, `Peak memory`) after the tflite-style `count=` lines.
The binary's generation is read from its own strings before anything is pushed, so a binary that cannot drive the
profile's accelerator is a clear error, not a silent CPU run (both tools only warn `Unconsumed cmdline flags` for
a flag they do not know, and then benchmark without it; that warning is also checked after the run).
edgeq pushes the binary, the model and any accelerator libraries (`accelerator_libs`: e.g. the LiteRT GPU
accelerator .so or the vendor NPU dispatch/runtime libraries) to a fresh folder under /data/local/tmp, runs it with
LD_LIBRARY_PATH/ADSP_LIBRARY_PATH on that folder, `--num_threads`, optional `taskset` mask, parses its output and
removes the folder (a trap on the phone and a `finally` here). Talks to the phone through the `adb` binary
(Android platform-tools, or the one bundled with the `adbutils` package).
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import DeviceError, ToolMissing, UsageError
from edgeq.harness.result import BenchResult, Figure

REMOTE_BASE = "/data/local/tmp"
# Accelerator flags per benchmark_model generation (LiteRT 1: tflite/tools/delegates/*_delegate_provider.cc;
# LiteRT 2: litert/tools/benchmark_litert_model.h). A non-CPU accelerator keeps the CPU on for the ops it leaves.
ACCELERATOR_FLAGS = {
    1: {"xnnpack": ("--use_xnnpack=true",), "nnapi": ("--use_nnapi=true",), "gpu": ("--use_gpu=true",),
        "none": ("--use_xnnpack=false",)},
    2: {"xnnpack": ("--use_cpu=true",), "gpu": ("--use_gpu=true", "--use_cpu=true"),
        "npu": ("--use_npu=true", "--use_cpu=true"), "none": ("--use_cpu=true",)},
}
DELEGATE_FLAGS = {d: f[0] for d, f in ACCELERATOR_FLAGS[1].items()}  # LiteRT 1.x flags (kept for callers)
_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


@dataclass(frozen=True)
class BenchmarkModelOutput:
    """The figures `benchmark_model` prints (times in microseconds, memory in MB as printed)."""

    init_us: float
    first_us: float
    warmup_avg_us: float
    inference_avg_us: float
    runs: int | None = None
    min_us: float | None = None
    max_us: float | None = None
    std_us: float | None = None
    median_us: float | None = None
    memory_kind: str = ""  # "peak" (newer: peak footprint) or "delta" (older: delta from the tool's start)
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_monitored_mb: float | None = None  # --report_peak_memory_footprint=true
    delegated_nodes: tuple[int, int] | None = None  # "Replacing N out of M node(s) with delegate"
    delegate_failed: str = ""
    litert: int = 1  # output format: 1 = tflite `Inference timings in us`, 2 = LiteRT 2.x `BENCHMARK RESULTS`
    delegate_name: str = ""  # e.g. TfLiteXNNPackDelegate, LITERT_CL (from the "Replacing" line)
    throughput_mb_s: float | None = None  # LiteRT 2.x: input bytes per second
    unconsumed_flags: str = ""  # "Unconsumed cmdline flags: ..." (flags the binary ignored)


_FAILURES = (r"Failed to apply .* delegate|Benchmarking failed|failed to prepare|Failed to (?:load|mmap) model|"
             r"accelerator could not be loaded and registered|Failed to create (?:the )?compiled model|"
             r"Failed to (?:compile|initialize)[^\n]*|Error: [^\n]*")


def parse_benchmark_output(text: str) -> BenchmarkModelOutput:
    """Parse benchmark_model's stdout/stderr, either generation (plain, `INFO:`, `INFO: [file:line]` or logcat
    prefixed lines)."""
    t = text.replace("\r", "")
    common = _common_fields(t)
    m = re.search(rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
                  rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}", t)
    if m:
        return _parse_v1(t, m, common)
    if re.search(r"Inference \(avg\):\s+" + _NUM + r" ms", t):
        return _parse_v2(t, common)
    fail = re.search(rf"^.*({_FAILURES}).*$", t, re.M)
    raise DeviceError("benchmark_model printed no timings"
                      + (f": {fail.group(0).strip()}" if fail else ""),
                      hint="see the log; an accelerator that fails to apply stops the benchmark "
                           "(try the android-cpu target to benchmark on the CPU)")


def _stats(t: str) -> dict:
    """The last `count=` line with min/max (the timed runs; the one before is the warm-up); times in us."""
    stats = re.findall(rf"count={_NUM} first={_NUM} curr={_NUM} min={_NUM} max={_NUM} avg={_NUM} std={_NUM}"
                       rf"(?: p5={_NUM} median={_NUM} p95={_NUM})?", t)
    if not stats:
        return {}
    s = stats[-1]
    return {"runs": int(float(s[0])), "min_us": float(s[3]), "max_us": float(s[4]), "avg_us": float(s[5]),
            "std_us": float(s[6]), "median_us": float(s[8]) if s[8] else None}


def _common_fields(t: str) -> dict:
    rep = re.search(r"Replacing (\d+) out of (\d+) node\(s\) with delegate(?: \(([^)]+)\))?", t)
    failed = re.search(r"^.*Failed to apply .* delegate.*$", t, re.M)
    unconsumed = re.search(r"Unconsumed cmdline flags:\s*(.*)$", t, re.M)
    return {"delegated_nodes": (int(rep.group(1)), int(rep.group(2))) if rep else None,
            "delegate_name": (rep.group(3) or "") if rep else "",
            "delegate_failed": failed.group(0).strip() if failed else "",
            "unconsumed_flags": unconsumed.group(1).strip() if unconsumed else ""}


def _parse_v1(t: str, m: re.Match, common: dict) -> BenchmarkModelOutput:
    init_us, first_us, warm_us, inf_us = (float(m.group(i)) for i in range(1, 5))
    st = _stats(t)
    kind, mi, mo = "", None, None
    mm = re.search(rf"Peak memory footprint \(MB\): init={_NUM} overall={_NUM}", t)
    if mm:
        kind = "peak"
    else:
        mm = re.search(rf"Memory footprint delta from the start of the tool \(MB\): init={_NUM} overall={_NUM}", t)
        kind = "delta" if mm else ""
    if mm:
        mi, mo = float(mm.group(1)), float(mm.group(2))
    pk = re.search(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUM}", t)
    return BenchmarkModelOutput(
        init_us=init_us, first_us=first_us, warmup_avg_us=warm_us, inference_avg_us=inf_us, runs=st.get("runs"),
        min_us=st.get("min_us"), max_us=st.get("max_us"), std_us=st.get("std_us"), median_us=st.get("median_us"),
        memory_kind=kind, memory_init_mb=mi, memory_overall_mb=mo,
        peak_monitored_mb=float(pk.group(1)) if pk else None, litert=1, **common)


def _v2_ms(t: str, label: str) -> tuple[float, int | None] | None:
    m = re.search(rf"{label}:\s+{_NUM} ms(?: \((\d+) runs\))?", t)
    return (float(m.group(1)) * 1e3, int(m.group(2)) if m.group(2) else None) if m else None


def _parse_v2(t: str, common: dict) -> BenchmarkModelOutput:
    """LiteRT 2.x: the BENCHMARK RESULTS block prints ms with 2 decimals; the tflite-style `count=` line of the
    same run carries microseconds and the median, so it wins when its run count matches."""
    block = t[t.rfind("BENCHMARK RESULTS"):] if "BENCHMARK RESULTS" in t else t
    init = _v2_ms(block, r"Model initialization")
    first = _v2_ms(block, r"Warmup \(first\)")
    warm = _v2_ms(block, r"Warmup \(avg\)")
    inf = _v2_ms(block, r"Inference \(avg\)")
    if inf is None:
        raise DeviceError("benchmark_model (LiteRT 2.x) printed no `Inference (avg)` figure")
    runs = inf[1]
    st = _stats(t)
    exact = bool(st) and (runs is None or st["runs"] == runs)
    mn, mx = _v2_ms(block, r"Inference \(min\)"), _v2_ms(block, r"Inference \(max\)")
    sd = re.search(rf"Inference \(std\):\s+{_NUM}", block)
    thr = re.search(rf"Throughput:\s+{_NUM} MB/s", block)
    mi = re.search(rf"Init footprint:\s+{_NUM} MB", block)
    mo = re.search(rf"Overall footprint:\s+{_NUM} MB", block)
    pk = re.search(rf"Peak memory:\s+{_NUM} MB", block)
    return BenchmarkModelOutput(
        init_us=init[0] if init else 0.0, first_us=first[0] if first else 0.0,
        warmup_avg_us=warm[0] if warm else 0.0,
        inference_avg_us=st["avg_us"] if exact else inf[0], runs=runs if runs is not None else st.get("runs"),
        min_us=st["min_us"] if exact else (mn[0] if mn else None),
        max_us=st["max_us"] if exact else (mx[0] if mx else None),
        std_us=st["std_us"] if exact else (float(sd.group(1)) * 1e3 if sd else None),
        median_us=st.get("median_us") if exact else None,
        # "Init/Overall footprint" is the same mem_footprint_kb the 1.x tool prints as "Peak memory footprint"
        memory_kind="peak" if mo else "", memory_init_mb=float(mi.group(1)) if mi else None,
        memory_overall_mb=float(mo.group(1)) if mo else None,
        peak_monitored_mb=float(pk.group(1)) if pk else None,
        litert=2, throughput_mb_s=float(thr.group(1)) if thr else None, **common)


def benchmark_generation(binary: Path) -> int | None:
    """1 or 2 from the binary's own strings (its flag names); None when neither set is found."""
    data = binary.read_bytes()
    v2 = b"use_npu" in data and b"use_cpu" in data
    v1 = b"use_nnapi" in data or b"use_xnnpack" in data
    if v2 and not v1:
        return 2
    if v1 and not v2:
        return 1
    return None


def accelerator_flags(target, litert: int) -> tuple[str, ...]:
    """The benchmark_model flags that select the profile's accelerator, or a UsageError naming the mismatch."""
    delegate = target.runtime.delegate or "none"
    flags = ACCELERATOR_FLAGS[litert].get(delegate)
    if flags is None:
        if litert == 2:  # nnapi
            raise UsageError(f"target {target.name} benchmarks NNAPI, which LiteRT 2.x's benchmark_model does not "
                             "have (its accelerators: --use_cpu, --use_gpu, --use_npu)",
                             hint="pass LiteRT 1.x's (TensorFlow Lite) android_aarch64 benchmark_model with "
                                  "--benchmark-binary, or benchmark android-npu-qualcomm / android-npu-mediatek")
        raise UsageError(f"target {target.name} benchmarks the {target.runtime.npu_vendor or ''} NPU, which only "
                         "LiteRT 2.x's benchmark_model drives (--use_npu); LiteRT 1.x's has no NPU accelerator",
                         hint="build LiteRT 2.x's benchmark_model (bazel build -c opt --config=android_arm64 "
                              "//litert/tools:benchmark_model) and pass it with --benchmark-binary")
    return flags


# ------------------------------------------------------------------------------------------------ adb


def adb_binary() -> str:
    env = os.environ.get("ADB")
    if env:
        return env
    p = shutil.which("adb")
    if p:
        return p
    try:
        import adbutils

        bundled = adbutils.adb_path()
        if bundled and Path(bundled).exists():
            return str(bundled)
    except (ImportError, AttributeError, OSError):
        pass
    raise ToolMissing("`adb` not found: the Android runner needs Android platform-tools",
                      hint="apt-get install adb (or the SDK's platform-tools), or pip install adbutils "
                           "(bundles an adb binary)")


def _adb(args: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess:
    cmd = [adb_binary(), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise ToolMissing(f"cannot run {cmd[0]}", hint="apt-get install adb, or set $ADB to its path") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"adb: timed out after {timeout_s:g} s while trying to {what}",
                          hint="check the USB connection (`adb devices`); raise the timeout for big models") from None


def list_devices(timeout_s: float = 30) -> list[tuple[str, str]]:
    """[(serial, state)] from `adb devices` (state: device, unauthorized, offline, ...)."""
    p = _adb(["devices"], timeout_s, "list devices")
    if p.returncode != 0:
        raise DeviceError(f"`adb devices` failed: {(p.stderr or p.stdout).strip()[-300:]}",
                          hint="restart the adb server: adb kill-server && adb start-server")
    out = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            out.append((parts[0], parts[1]))
    return out


def pick_device(serial: str = "", timeout_s: float = 30) -> str:
    devs = list_devices(timeout_s)
    if serial:
        state = dict(devs).get(serial)
        if state is None:
            listed = ", ".join(s for s, _ in devs) or "none"
            raise DeviceError(f"adb:{serial}: no such device attached (attached: {listed})",
                              hint="check the serial with `adb devices`")
        if state != "device":
            raise _state_error(serial, state)
        return serial
    ready = [s for s, st in devs if st == "device"]
    if not devs:
        raise DeviceError("no Android device attached (`adb devices` lists none)",
                          hint="connect the phone by USB with USB debugging on (Settings > Developer options), "
                               "or `adb connect HOST:PORT` for wireless debugging")
    if not ready:
        s, st = devs[0]
        raise _state_error(s, st)
    if len(ready) > 1:
        raise DeviceError(f"{len(ready)} Android devices attached: {', '.join(ready)}",
                          hint=f"pick one: --device adb:{ready[0]}")
    return ready[0]


def _state_error(serial: str, state: str) -> DeviceError:
    if state == "unauthorized":
        return DeviceError(f"adb:{serial}: the phone has not authorized this computer",
                           hint="unlock the phone and accept the 'Allow USB debugging?' prompt")
    return DeviceError(f"adb:{serial}: device is {state}", hint="reconnect the cable; adb reconnect")


def check_benchmark_binary(path: str | os.PathLike | None) -> Path:
    p = path or os.environ.get("EDGEQ_BENCHMARK_MODEL")
    if not p:
        raise UsageError("the adb runner needs LiteRT's benchmark_model binary for the phone",
                         hint="pass --benchmark-binary PATH (or set EDGEQ_BENCHMARK_MODEL); TensorFlow publishes "
                              "prebuilt android_aarch64_benchmark_model binaries (see the LiteRT performance "
                              "measurement docs), or build it: bazel build -c opt --config=android_arm64 "
                              "//tensorflow/lite/tools/benchmark:benchmark_model")
    b = Path(p)
    if not b.is_file():
        raise UsageError(f"benchmark binary not found: {b}", hint="check --benchmark-binary / EDGEQ_BENCHMARK_MODEL")
    head = b.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        raise UsageError(f"{b}: not an executable (no ELF header)",
                         hint="pass the benchmark_model binary itself, not an APK or script")
    machine = int.from_bytes(head[18:20], "little")
    if machine not in (183, 40):  # EM_AARCH64, EM_ARM
        raise UsageError(f"{b}: built for ELF machine {machine}, not for an Android Arm CPU",
                         hint="use the android_aarch64 (or android_arm) build of benchmark_model")
    return b


def _check_libs(paths) -> list[Path]:
    out = []
    for x in paths or ():
        f = Path(x)
        if not f.is_file():
            raise UsageError(f"accelerator library not found: {f}", hint="check --accelerator-lib")
        if f.read_bytes()[:4] != b"\x7fELF":
            raise UsageError(f"{f}: not a shared library (no ELF header)",
                             hint="--accelerator-lib takes .so files, e.g. libLiteRtGpuAccelerator.so or the "
                                  "vendor's libLiteRtDispatch_*.so and runtime libraries")
        out.append(f)
    names = [f.name for f in out]
    dup = next((n for n in names if names.count(n) > 1 or n == "benchmark_model"), None)
    if dup:
        raise UsageError(f"--accelerator-lib: two files named {dup!r} would overwrite each other on the phone")
    return out


def _generation(target, binary: Path, litert) -> int:
    """The benchmark_model generation to drive: --litert, else what the binary is, else the profile's default."""
    from edgeq.android import choose_litert

    detected = benchmark_generation(binary)
    if litert not in (None, ""):
        if str(litert) not in ("1", "2"):
            raise UsageError(f"--litert {litert!r}: expected 1 or 2")
        if detected is not None and int(litert) != detected:
            takes = "--use_cpu/--use_gpu/--use_npu" if detected == 2 else "--use_xnnpack/--use_nnapi/--use_gpu"
            raise UsageError(f"--litert {litert} but {binary} is LiteRT {detected}.x's benchmark_model "
                             f"(it takes {takes})",
                             hint=f"drop --litert, or pass LiteRT {litert}.x's benchmark_model with --benchmark-binary")
        return int(litert)
    if detected is not None:
        return detected
    return choose_litert(target, None)


def bench_adb(model: Path, target, serial: str = "", *, threads: int | None = None, warmup: int = 5,
              runs: int = 50, timeout_s: float = 600, benchmark_binary: str | None = None,
              taskset: str | None = None, litert: int | str | None = None,
              accelerator_libs=None) -> BenchResult:
    """Push benchmark_model (+ accelerator libraries) and the model, run with the profile's accelerator, parse,
    clean up. `litert` (1|2) names the binary's generation when its strings do not tell."""
    binary = check_benchmark_binary(benchmark_binary)
    line = _generation(target, binary, litert)
    try:
        accel_flags = accelerator_flags(target, line)
    except UsageError as e:
        raise UsageError(f"{binary} is LiteRT {line}.x's benchmark_model, which cannot drive this target: "
                         f"{e.message}", hint=e.hint) from None
    libs = _check_libs(accelerator_libs)
    if taskset is not None and not re.fullmatch(r"[0-9a-fA-F]+", str(taskset)):
        raise UsageError(f"taskset mask {taskset!r} is not a hex CPU mask", hint="e.g. f0 for cores 4-7")
    dev = pick_device(serial)
    threads = threads or target.cpu.cores
    remote = f"{REMOTE_BASE}/edgeq-{secrets.token_hex(6)}"
    delegate = target.runtime.delegate or "none"
    flags = [f"--graph={remote}/{model.name}", f"--num_threads={int(threads)}", f"--warmup_runs={int(warmup)}",
             f"--num_runs={int(runs)}", *accel_flags, "--report_peak_memory_footprint=true"]
    if libs and line == 2 and delegate == "npu":
        flags.append(f"--dispatch_library_path={remote}")
    run = " ".join(shlex.quote(a) for a in [f"{remote}/benchmark_model", *flags])
    if taskset:
        run = f"taskset {taskset} {run}"
    q = shlex.quote(remote)
    if libs:  # the GPU accelerator / NPU dispatch libraries are dlopen()ed; Qualcomm's DSP side reads ADSP_LIBRARY_PATH
        run = f"LD_LIBRARY_PATH={q} ADSP_LIBRARY_PATH={q} {run}"
    script = f"trap 'rm -rf {q}' EXIT; chmod 755 {q}/benchmark_model && {run}"
    s = ["-s", dev]
    try:
        p = _adb([*s, "shell", f"mkdir -p {q}"], 60, "create a temp folder")
        if p.returncode != 0:
            raise DeviceError(f"adb:{dev}: cannot create {remote}: {(p.stderr or p.stdout).strip()[-300:]}")
        for f, name in ((binary, "benchmark_model"), (model, model.name), *((lib, lib.name) for lib in libs)):
            p = _adb([*s, "push", str(f), f"{remote}/{name}"], timeout_s, f"push {f.name}")
            if p.returncode != 0:
                raise DeviceError(f"adb:{dev}: push of {f} failed: {(p.stderr or p.stdout).strip()[-300:]}")
        p = _adb([*s, "shell", script], timeout_s, "run benchmark_model")
    finally:
        try:
            _adb([*s, "shell", f"rm -rf {q}"], 60, "remove the temp folder")
        except DeviceError:
            pass
    log = p.stdout + p.stderr
    if p.returncode in (126, 127) or "Permission denied" in log or "not executable" in log:
        raise DeviceError(f"adb:{dev}: benchmark_model could not be executed on the phone\n{log.strip()[-500:]}",
                          hint="use the android_aarch64 build of benchmark_model; /data/local/tmp must allow exec")
    _check_accelerator_used(log, target, line, accel_flags, dev, binary)
    try:
        out = parse_benchmark_output(log)
    except DeviceError as e:
        raise DeviceError(f"adb:{dev}: {e.message}\n{log.strip()[-800:]}", hint=e.hint) from None
    return _to_bench(out, target, model, dev, delegate, threads, taskset, log)


def _check_accelerator_used(log: str, target, line: int, accel_flags, dev: str, binary: Path) -> None:
    """A run that silently left out the profile's accelerator is an error, not a CPU figure under its name."""
    unconsumed = re.search(r"Unconsumed cmdline flags:\s*(.*)$", log, re.M)
    if unconsumed:
        ignored = [f for f in accel_flags if f.split("=")[0] in unconsumed.group(1)]
        if ignored:
            raise UsageError(f"adb:{dev}: {binary.name} ignored {' '.join(ignored)} (\"Unconsumed cmdline flags\"): "
                             f"it is not the benchmark_model generation target {target.name} needs",
                             hint="LiteRT 1.x's benchmark_model takes --use_xnnpack/--use_nnapi/--use_gpu, LiteRT "
                                  "2.x's --use_cpu/--use_gpu/--use_npu: pass the matching binary (or --litert)")
    d = target.runtime.delegate
    if line == 2 and d in ("gpu", "npu"):
        kind = d.upper()
        if re.search(rf"{kind} accelerator could not be loaded", log):
            libs = ("the vendor dispatch library (libLiteRtDispatch_Qualcomm.so / libLiteRtDispatch_MediaTek.so) and "
                    "its runtime libraries (Qualcomm: libQnnHtp.so, libQnnHtpV<arch>Stub.so, libQnnSystem.so, the "
                    "hexagon skel)" if d == "npu" else "libLiteRtGpuAccelerator.so (or libLiteRtClGlAccelerator.so)")
            raise DeviceError(f"adb:{dev}: LiteRT's {kind} accelerator could not be loaded on the phone, so "
                              f"benchmark_model would measure the CPU",
                              hint=f"push {libs} with --accelerator-lib FILE (repeat it)")


def _to_bench(out: BenchmarkModelOutput, target, model: Path, dev: str, delegate: str, threads: int,
              taskset, log: str) -> BenchResult:
    how = (f"benchmark_model (LiteRT {out.litert}.x) on adb:{dev}, {'accelerator' if out.litert == 2 else 'delegate'} "
           f"{delegate}, {threads} thread(s)"
           + (f", taskset {taskset}" if taskset else "") + f", {out.runs or '?'} runs")
    figs = [Figure("latency_mean_ms", out.inference_avg_us / 1e3, "ms", "measured", how + " (Inference avg)"),
            Figure("init_ms", out.init_us / 1e3, "ms", "measured", "benchmark_model Init (incl. delegate setup)"),
            Figure("first_inference_ms", out.first_us / 1e3, "ms", "measured", "benchmark_model First inference")]
    if out.median_us is not None:
        figs.append(Figure("latency_p50_ms", out.median_us / 1e3, "ms", "measured", how + " (median)"))
    if out.min_us is not None:
        figs.append(Figure("latency_min_ms", out.min_us / 1e3, "ms", "measured", how + " (min)"))
    mb = 1024 * 1024
    if out.peak_monitored_mb is not None:
        figs.append(Figure("peak_rss_bytes", out.peak_monitored_mb * mb, "B", "measured",
                           "benchmark_model periodic peak memory monitoring (whole tool process)"))
    if out.memory_overall_mb is not None:
        name = "memory_overall_bytes" if out.memory_kind == "peak" else "memory_delta_bytes"
        what = "peak memory footprint" if out.memory_kind == "peak" else "memory delta from the tool start"
        figs.append(Figure(name, out.memory_overall_mb * mb, "B", "measured",
                           f"benchmark_model {what} (overall; approximate, the tool counts itself)"))
    from edgeq.harness.power import estimate_energy

    lat = out.median_us if out.median_us is not None else out.inference_avg_us
    e = estimate_energy(lat / 1e3, target)
    if e is not None:
        figs.append(e)
    notes = ["benchmark_model feeds random inputs: no output reference check on the phone"]
    details = {"runtime": "benchmark_model", "litert": str(out.litert), "delegate": delegate, "threads": str(threads)}
    if out.throughput_mb_s is not None:
        details["throughput_mb_s"] = f"{out.throughput_mb_s:g}"
    if out.delegate_name:
        details["delegate_name"] = out.delegate_name
        if delegate in ("gpu", "npu") and "xnnpack" in out.delegate_name.lower():
            notes.append(f"the delegation line names {out.delegate_name}: the {delegate} accelerator did not take "
                         "the graph (CPU figures)")
    if out.delegated_nodes:
        n, total = out.delegated_nodes
        details["delegated_nodes"] = f"{n}/{total}"
        if n < total and delegate in ("nnapi", "gpu", "npu"):
            notes.append(f"{total - n} of {total} nodes were not taken by the {delegate} delegate and run on the CPU")
    if out.delegate_failed:
        notes.append(out.delegate_failed)
    if delegate in ("nnapi", "gpu", "npu"):
        from edgeq.android import delegate_fallbacks
        from edgeq.graph import load

        fb = delegate_fallbacks(load(model), target)
        if fb:
            notes.append(f"per the {target.name} profile, {len(fb)} op(s) run on the CPU: "
                         + "; ".join(f"#{f.index} {f.opcode} ({f.reason})" for f in fb[:10])
                         + (" ..." if len(fb) > 10 else ""))
    return BenchResult(target=target.name, device=f"adb:{dev}", model=str(model), figures=tuple(figs),
                       output_matches_reference=None, notes=tuple(notes), log=log, details=details)
