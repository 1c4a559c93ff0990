"""Cortex-M harness, run half: the QEMU command line and run, and the parser of the firmware's "EQ ..." report
(SysTick calibration included). Pipeline position: bench stage (see __init__)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.errors import DeviceError, UsageError
from edgeq.harness.cortexm.build import DEFAULT_TIMEOUT_S, find_tool

_QEMU_MACHINES = ("mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547")


# ------------------------------------------------------------------------------------------------ run


@dataclass(frozen=True)
class Calibration:
    n1: int
    t1: int
    n2: int
    t2: int
    empty_ticks: int

    @property
    def instructions_per_tick(self) -> float:
        if self.t2 <= self.t1:
            raise DeviceError(
                "calibration failed: the counter did not advance during the spin loop",
                hint="is SysTick clocked on this machine? (QEMU -icount shift=0 is required)",
            )
        return 2.0 * (self.n2 - self.n1) / (self.t2 - self.t1)


@dataclass(frozen=True)
class SampleRun:
    sample: int
    rc: int
    ticks: int
    stack_bytes: int
    stack_invoke_bytes: int
    outputs: tuple[bytes, ...]
    op_ticks: tuple[int, ...] = ()


@dataclass(frozen=True)
class FirmwareRun:
    board: str
    counter: str
    calibration: Calibration
    samples: tuple[SampleRun, ...]
    log: str = field(repr=False, default="")


def parse_log(log: str, num_outputs: int) -> FirmwareRun:
    """Parse the "EQ ..." lines of targets/boards/common/main.c."""
    board = counter = ""
    cal: Calibration | None = None
    runs: dict[int, dict] = {}
    outs: dict[tuple[int, int], list[str]] = {}
    ops: dict[int, dict[int, int]] = {}
    ended = False
    for raw in log.splitlines():
        line = raw.strip()
        if not line.startswith("EQ "):
            continue
        parts = line.split()
        tag = parts[1] if len(parts) > 1 else ""
        kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        if tag == "begin":
            board, counter = kv.get("board", ""), kv.get("counter", "")
        elif tag == "calib":
            cal = Calibration(int(kv["n1"]), int(kv["t1"]), int(kv["n2"]), int(kv["t2"]), int(kv["empty"]))
        elif tag == "run":
            runs[int(parts[2])] = {k: int(v) for k, v in kv.items()}
        elif tag == "out":
            outs.setdefault((int(parts[2]), int(parts[3])), []).append(parts[4] if len(parts) > 4 else "")
        elif tag == "op":
            ops.setdefault(int(parts[2]), {})[int(parts[3])] = int(kv["ticks"])
        elif tag == "end":
            ended = True
    if cal is None or not runs or not ended:
        raise DeviceError(
            "the firmware did not finish its report (missing EQ calib/run/end lines)\n" + _tail(log),
            hint="see the output above; a fault prints an `EQ fault` line",
        )
    samples = []
    for s in sorted(runs):
        r = runs[s]
        o = tuple(bytes.fromhex("".join(outs.get((s, j), []))) for j in range(num_outputs))
        opt = tuple(ops.get(s, {}).get(i, 0) for i in range(len(ops.get(s, {}))))
        samples.append(
            SampleRun(s, r.get("rc", -1), r["ticks"], r.get("stack", 0), r.get("stack_invoke", 0), o, opt)
        )
    return FirmwareRun(board, counter, cal, tuple(samples), log)


def _tail(text: str, n: int = 60) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:]) if lines else "(no output)"


def qemu_command(elf: Path, machine: str, extra_args: Sequence[str] = ()) -> list[str]:
    """The QEMU 7.2 command line: semihosting on the native console, deterministic instruction counting."""
    return [
        find_tool("qemu-system-arm"),
        "-M",
        machine,
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "null",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        *extra_args,
        "-kernel",
        str(elf),
    ]


def run_qemu(elf: Path, machine: str, timeout_s: float = DEFAULT_TIMEOUT_S, extra_args: Sequence[str] = ()) -> str:
    """Run a firmware to its semihosting exit; DeviceError on a fault, a non-zero exit or a timeout."""
    if machine not in _QEMU_MACHINES:
        raise UsageError(
            f"QEMU machine {machine!r} has no board support here",
            hint=f"supported: {', '.join(_QEMU_MACHINES)}",
        )
    cmd = qemu_command(elf, machine, extra_args)
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        raise DeviceError(
            f"QEMU {machine} timed out after {timeout_s:g} s running {elf}\n{_tail(out)}",
            hint="the firmware hangs (or the model is very slow): raise timeout_s, or check the "
            "model code for an endless loop",
        ) from None
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        fault = next((ln for ln in out.splitlines() if ln.startswith("EQ fault")), "")
        what = f"crashed ({fault[3:]})" if fault else f"exited with status {proc.returncode}"
        raise DeviceError(
            f"firmware {elf} on QEMU {machine} {what}\n{_tail(out)}",
            hint=f"a fault's pc is an address in the ELF: arm-none-eabi-addr2line -e {elf} <pc>",
        )
    return out
