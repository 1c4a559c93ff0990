"""The protocol between edgeq and its Linux runner (remote_runner.py, run by host/ssh/aarch64/adb): the arguments
it takes, the JSON line it prints, and the typed result. A module of its own so the runners depend on it and
not on the dispatcher (edgeq.harness.linux), which imports them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import DeviceError

RUNNER_PATH = Path(__file__).with_name("remote_runner.py")
MARKER = "EDGEQ_RESULT "


@dataclass(frozen=True)
class OutputArray:
    name: str
    dtype: str
    shape: tuple[int, ...]
    sha256: str
    data: bytes | None = field(default=None, repr=False)

    def array(self) -> np.ndarray:
        if self.data is None:
            raise DeviceError(f"output {self.name!r} was not returned by the runner")
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape)


@dataclass(frozen=True)
class RunnerResult:
    """One run of remote_runner.py (on host, over SSH or in the emulator)."""

    machine: str
    cpu_model: str
    python: str
    runtime: str
    runtime_version: str
    threads: int
    kernels: str
    delegate_applied: bool
    init_ms: float
    first_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    mean_ms: float
    runs: int
    peak_rss_bytes: int
    baseline_rss_bytes: int
    outputs: tuple[OutputArray, ...]
    log: str = field(default="", repr=False)
    instruction_marks: tuple[int, ...] = ()  # invokes per marked window (emulator instruction counting)
    instructions_per_inference: float | None = None  # set by the emulator runner when it counted


def parse_runner_output(stdout: str, stderr: str, where: str, *, allow_error: bool = False) -> dict:
    """The JSON dict of the EDGEQ_RESULT line; DeviceError naming `where` when there is none."""
    import json

    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(MARKER)), None)
    if line is None:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
        raise DeviceError(f"{where}: the benchmark runner printed no result.\n{tail}",
                          hint="the last lines of the runner's output are shown above")
    try:
        obj = json.loads(line[len(MARKER):])
    except ValueError as e:
        raise DeviceError(f"{where}: unreadable runner result ({e})") from None
    if "error" in obj and not allow_error:
        raise runner_error(obj, where)
    return obj


_VENV_HINT = ("; where pip refuses the system Python (Raspberry Pi OS Bookworm: externally-managed-environment), "
              "use a venv: python3 -m venv ~/litert && ~/litert/bin/pip install ai-edge-litert numpy, then "
              "edgeq bench ... --remote-python '~/litert/bin/python'")


def runner_error(obj: dict, where: str) -> DeviceError:
    kind = obj.get("error")
    msg = obj.get("message", "")
    py = obj.get("executable") or "python3"
    venv_hint = _VENV_HINT if where.startswith("ssh://") and not obj.get("in_venv") else ""
    if kind == "no_runtime":
        return DeviceError(f"{where}: no LiteRT runtime for Python {obj.get('python', '?')} ({py}) on "
                           f"{obj.get('machine', '?')} ({msg})",
                           hint="install one on the device: " + obj.get("hint", f"{py} -m pip install ai-edge-litert")
                                + venv_hint)
    if kind == "no_numpy":
        return DeviceError(f"{where}: numpy is not installed for the device's {py} ({msg})",
                           hint=f"{py} -m pip install numpy   (or, for the system python3: sudo apt install "
                                "python3-numpy)" + venv_hint)
    if kind == "bad_model":
        return DeviceError(f"{where}: LiteRT {obj.get('runtime_version', '')} could not load the model: {msg}",
                           hint="the device's runtime may be older than the converter; upgrade ai-edge-litert")
    return DeviceError(f"{where}: benchmark failed ({kind}): {msg}")


def result_from_json(obj: dict, log: str = "") -> RunnerResult:
    outs = tuple(OutputArray(o.get("name", ""), o["dtype"], tuple(o["shape"]), o["sha256"],
                             base64.b64decode(o["b64"]) if "b64" in o else None) for o in obj.get("outputs", []))
    return RunnerResult(
        machine=obj["machine"], cpu_model=obj.get("cpu_model", ""), python=obj.get("python", ""),
        runtime=obj.get("runtime", ""), runtime_version=obj.get("runtime_version", ""),
        threads=int(obj.get("threads", 1)), kernels=obj.get("kernels", "default"),
        delegate_applied=bool(obj.get("delegate_applied")), init_ms=float(obj.get("init_ms", 0.0)),
        first_ms=float(obj.get("first_ms", 0.0)), min_ms=float(obj["min_ms"]), p50_ms=float(obj["p50_ms"]),
        p90_ms=float(obj["p90_ms"]), mean_ms=float(obj.get("mean_ms", obj["p50_ms"])), runs=int(obj["runs"]),
        peak_rss_bytes=int(obj["peak_rss_bytes"]), baseline_rss_bytes=int(obj.get("baseline_rss_bytes", 0)),
        outputs=outs, log=log, instruction_marks=tuple(obj.get("instruction_marks", ())))


def runner_args(model: str, *, inputs: str = "", threads: int = 1, warmup: int = 3, runs: int = 20,
                kernels: str = "default", seed: int = 0) -> list[str]:
    args = [model, "--threads", str(threads), "--warmup", str(warmup), "--runs", str(runs),
            "--kernels", kernels, "--seed", str(seed)]
    if inputs:
        args += ["--inputs", inputs]
    return args


# ------------------------------------------------------------------------------------------- inputs/outputs
