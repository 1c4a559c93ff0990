"""Bench stage: run a model on a device or emulator and return figures that say how they were obtained.

Runners live in submodules (cortexm: QEMU / pyOCD boards; host, ssh, aarch64, adb: LiteRT on Linux/Android).
Every figure carries `kind` — "measured" (on the real device), "emulated" (counted in an emulator: exact for
instructions, not predictive for time) or "estimated" (a model: cycles from instructions, energy from power) —
and `method`, one sentence on how it was obtained. `run_bench` dispatches on the target family and device.
"""

from __future__ import annotations

from edgeq.harness.result import BenchResult, Figure, FigureKind, OpFigure  # noqa: F401 (the public names)


def run_bench(model_path: str, target, device: str | None = None, **options) -> BenchResult:
    """Run `model_path` (a .tflite or an edgeq build folder) on `device` for `target` (edgeq.target.Target)."""
    if target.is_mcu:
        from edgeq.harness.cortexm import bench_cortexm

        return bench_cortexm(model_path, target, device or "qemu", **options)
    from edgeq.harness.linux import bench_linux

    return bench_linux(model_path, target, device or "host", **options)
