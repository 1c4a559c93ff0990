"""The bench stage's result types (every runner returns a BenchResult of Figures that say how they were obtained).

A module of its own so the runners (cortexm, linux, adb, power, ...) depend on it and not on the package's
dispatcher in edgeq/harness/__init__.py, which imports them: no import circle.
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
