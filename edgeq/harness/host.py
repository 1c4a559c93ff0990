"""Host runner: remote_runner.py in a subprocess of this machine's Python (bench stage, `--device host`).

A subprocess keeps the peak RSS the model's (plus Python/numpy/LiteRT), not edgeq's or TensorFlow's, and keeps
a crashing delegate from taking edgeq down. Also used for the reference run every other device is checked
against (`kernels="builtin"`: XNNPACK off; `"reference"`: LiteRT's reference kernels).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgeq.errors import DeviceError
from edgeq.harness.runner import RUNNER_PATH, RunnerResult, parse_runner_output, result_from_json, runner_args


def run_host(model: str | Path, inputs: str | Path | None = None, *, threads: int = 1, warmup: int = 3,
             runs: int = 20, kernels: str = "default", timeout_s: float = 300, python: str | None = None,
             seed: int = 0) -> RunnerResult:
    """Run the benchmark runner with `python` (default: this interpreter) on this machine."""
    cmd = [python or sys.executable, str(RUNNER_PATH),
           *runner_args(str(model), inputs=str(inputs or ""), threads=threads, warmup=warmup, runs=runs,
                        kernels=kernels, seed=seed)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"host: benchmark of {model} did not finish in {timeout_s:g} s",
                          hint="lower --runs, or raise the timeout") from None
    except OSError as e:
        raise DeviceError(f"host: cannot start {cmd[0]}: {e.strerror}") from None
    if p.returncode < 0:
        raise DeviceError(f"host: the runner died with signal {-p.returncode} on {model}\n"
                          + "\n".join(p.stderr.strip().splitlines()[-10:]),
                          hint="the runtime crashed on this model; try kernels='builtin' or another LiteRT version")
    obj = parse_runner_output(p.stdout, p.stderr, "host")
    return result_from_json(obj, log=p.stderr)
