"""adb runner (bench stage, `--device adb[:SERIAL]`): LiteRT's `benchmark_model` on an Android phone.

The user provides the `benchmark_model` binary built for the phone (`benchmark_binary=` / `--benchmark-binary`,
or $EDGEQ_BENCHMARK_MODEL): TensorFlow publishes prebuilt `android_aarch64_benchmark_model` binaries. edgeq
pushes it and the model to a fresh folder under /data/local/tmp, runs it with the delegate of the profile
(`--use_xnnpack` / `--use_nnapi` / `--use_gpu`), `--num_threads`, optional `taskset` mask, parses its output and
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
from edgeq.harness import BenchResult, Figure

REMOTE_BASE = "/data/local/tmp"
DELEGATE_FLAGS = {"xnnpack": "--use_xnnpack=true", "nnapi": "--use_nnapi=true", "gpu": "--use_gpu=true",
                  "none": "--use_xnnpack=false"}
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


def parse_benchmark_output(text: str) -> BenchmarkModelOutput:
    """Parse benchmark_model's stdout/stderr (plain, `INFO:`-prefixed or logcat-prefixed lines)."""
    t = text.replace("\r", "")
    m = re.search(rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
                  rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}", t)
    if not m:
        fail = re.search(r"^.*(Failed to apply .* delegate|Benchmarking failed|failed to prepare|"
                         r"Failed to (?:load|mmap) model).*$", t, re.M)
        raise DeviceError("benchmark_model printed no timings"
                          + (f": {fail.group(0).strip()}" if fail else ""),
                          hint="see the log; a delegate that fails to apply stops the benchmark "
                               "(try the android-cpu target to benchmark on the CPU)")
    init_us, first_us, warm_us, inf_us = (float(m.group(i)) for i in range(1, 5))
    # The last `count=` line with min/max is the regular (timed) run; the one before it is the warm-up.
    stats = re.findall(rf"count={_NUM} first={_NUM} curr={_NUM} min={_NUM} max={_NUM} avg={_NUM} std={_NUM}"
                       rf"(?: p5={_NUM} median={_NUM} p95={_NUM})?", t)
    runs = mn = mx = sd = med = None
    if stats:
        s = stats[-1]
        runs, mn, mx, sd = int(float(s[0])), float(s[3]), float(s[4]), float(s[6])
        med = float(s[8]) if s[8] else None
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
    rep = re.search(r"Replacing (\d+) out of (\d+) node\(s\) with delegate", t)
    failed = re.search(r"^.*Failed to apply .* delegate.*$", t, re.M)
    return BenchmarkModelOutput(
        init_us=init_us, first_us=first_us, warmup_avg_us=warm_us, inference_avg_us=inf_us, runs=runs,
        min_us=mn, max_us=mx, std_us=sd, median_us=med, memory_kind=kind, memory_init_mb=mi,
        memory_overall_mb=mo, peak_monitored_mb=float(pk.group(1)) if pk else None,
        delegated_nodes=(int(rep.group(1)), int(rep.group(2))) if rep else None,
        delegate_failed=failed.group(0).strip() if failed else "")


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


def bench_adb(model: Path, target, serial: str = "", *, threads: int | None = None, warmup: int = 5,
              runs: int = 50, timeout_s: float = 600, benchmark_binary: str | None = None,
              taskset: str | None = None) -> BenchResult:
    """Push benchmark_model + the model, run with the profile's delegate, parse, clean up."""
    binary = check_benchmark_binary(benchmark_binary)
    if taskset is not None and not re.fullmatch(r"[0-9a-fA-F]+", str(taskset)):
        raise UsageError(f"taskset mask {taskset!r} is not a hex CPU mask", hint="e.g. f0 for cores 4-7")
    dev = pick_device(serial)
    threads = threads or target.cpu.cores
    remote = f"{REMOTE_BASE}/edgeq-{secrets.token_hex(6)}"
    delegate = target.runtime.delegate or "none"
    flags = [f"--graph={remote}/{model.name}", f"--num_threads={int(threads)}", f"--warmup_runs={int(warmup)}",
             f"--num_runs={int(runs)}", DELEGATE_FLAGS.get(delegate, "--use_xnnpack=true"),
             "--report_peak_memory_footprint=true"]
    run = " ".join(shlex.quote(a) for a in [f"{remote}/benchmark_model", *flags])
    if taskset:
        run = f"taskset {taskset} {run}"
    q = shlex.quote(remote)
    script = f"trap 'rm -rf {q}' EXIT; chmod 755 {q}/benchmark_model && {run}"
    s = ["-s", dev]
    try:
        p = _adb([*s, "shell", f"mkdir -p {q}"], 60, "create a temp folder")
        if p.returncode != 0:
            raise DeviceError(f"adb:{dev}: cannot create {remote}: {(p.stderr or p.stdout).strip()[-300:]}")
        for f in (binary, model):
            name = "benchmark_model" if f == binary else model.name
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
    try:
        out = parse_benchmark_output(log)
    except DeviceError as e:
        raise DeviceError(f"adb:{dev}: {e.message}\n{log.strip()[-800:]}", hint=e.hint) from None
    return _to_bench(out, target, model, dev, delegate, threads, taskset, log)


def _to_bench(out: BenchmarkModelOutput, target, model: Path, dev: str, delegate: str, threads: int,
              taskset, log: str) -> BenchResult:
    how = (f"benchmark_model on adb:{dev}, delegate {delegate}, {threads} thread(s)"
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
    details = {"runtime": "benchmark_model", "delegate": delegate, "threads": str(threads)}
    if out.delegated_nodes:
        n, total = out.delegated_nodes
        details["delegated_nodes"] = f"{n}/{total}"
        if n < total and delegate in ("nnapi", "gpu"):
            notes.append(f"{total - n} of {total} nodes were not taken by the {delegate} delegate and run on the CPU")
    if out.delegate_failed:
        notes.append(out.delegate_failed)
    if delegate in ("nnapi", "gpu"):
        from edgeq.android import delegate_fallbacks
        from edgeq.graph import load

        fb = delegate_fallbacks(load(model), target)
        if fb:
            notes.append(f"per the {target.name} profile, {len(fb)} op(s) run on the CPU: "
                         + "; ".join(f"#{f.index} {f.opcode} ({f.reason})" for f in fb[:10])
                         + (" ..." if len(fb) > 10 else ""))
    return BenchResult(target=target.name, device=f"adb:{dev}", model=str(model), figures=tuple(figs),
                       output_matches_reference=None, notes=tuple(notes), log=log, details=details)
