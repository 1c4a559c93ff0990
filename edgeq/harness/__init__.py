"""Bench stage: run a model on a device or emulator and return figures that say how they were obtained.

Runners live in submodules (cortexm: QEMU / pyOCD boards; host, ssh, aarch64, adb: LiteRT on Linux/Android).
Every figure carries `kind` — "measured" (on the real device), "emulated" (counted in an emulator: exact for
instructions, not predictive for time) or "estimated" (a model: cycles from instructions, energy from power) —
and `method`, one sentence on how it was obtained. `run_bench` dispatches on the target family and device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FigureKind = Literal["measured", "emulated", "estimated"]


@dataclass(frozen=True)
class Figure:
    name: str  # e.g. "latency_p50_ms", "instructions", "cycles", "flash_bytes", "energy_uj"
    value: float
    unit: str
    kind: FigureKind
    method: str


@dataclass(frozen=True)
class OpFigure:
    index: int
    opcode: str
    macs: int = 0
    instructions: int | None = None
    cycles: int | None = None  # Cortex-M: from the cycle model (estimated) when the bench ran under it
    arena_bytes: int | None = None
    weight_bytes: int | None = None


@dataclass(frozen=True)
class BenchResult:
    target: str
    device: str  # "qemu:mps2-an386", "pyocd:0669FF...", "host", "ssh://pi@host", "emulator:cortex-a72", "adb:SERIAL"
    model: str
    figures: tuple[Figure, ...]
    output_matches_reference: bool | None  # None when no reference comparison was possible
    per_op: tuple[OpFigure, ...] = ()
    notes: tuple[str, ...] = ()
    log: str = field(default="", repr=False)  # raw device/emulator output, for error reports
    details: Mapping[str, str] = field(default_factory=dict)  # runtime version, CPU model, delegate applied...

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)


def run_bench(model_path: str, target, device: str | None = None, **options) -> BenchResult:
    """Run `model_path` (a .tflite or an edgeq build folder) on `device` for `target` (edgeq.target.Target)."""
    if target.is_mcu:
        from edgeq.harness.cortexm import bench_cortexm

        return bench_cortexm(model_path, target, device or "qemu", **options)
    from edgeq.harness.linux import bench_linux

    return bench_linux(model_path, target, device or "host", **options)
