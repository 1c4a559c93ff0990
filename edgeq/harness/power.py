"""Energy per inference for Pi/Android targets (bench stage): an estimate from the profile, or a power monitor.

Estimate: p50 latency x the profile's `[energy] active_power_mw` (whole-board / SoC active power under load,
source cited in the profile), labelled "estimated". Measured: a PowerMonitor samples the supply while the
benchmark runs; energy per inference = mean power over the timed window x p50 latency. Monitors plug in through
the PowerMonitor protocol; the two built in (Joulescope via `joulescope`, Nordic PPK2 via `ppk2-api`) are
imported lazily and need the hardware (tests marked `hardware` are skipped without it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from edgeq.errors import DeviceError, ToolMissing, UsageError
from edgeq.harness.result import Figure


def estimate_energy(latency_ms: float, target) -> Figure | None:
    """energy_uj = latency x active power of the profile; None when the profile has no power figure."""
    p_mw = target.energy.active_power_mw
    if not p_mw:
        return None
    src = target.energy.source or "profile"
    return Figure("energy_uj", latency_ms * p_mw, "uJ", "estimated",
                  f"p50 latency x {p_mw:g} mW active power from the {target.name} profile ({src})")


@dataclass(frozen=True)
class PowerSample:
    duration_s: float
    mean_power_mw: float
    energy_uj: float


class PowerMonitor(Protocol):
    """A supply meter: start() before the workload, stop() after; returns what it saw in between."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> PowerSample: ...


class JoulescopeMonitor:
    """Joulescope JS110/JS220 through the `joulescope` package (its statistics stream gives power)."""

    name = "joulescope"

    def __init__(self, serial: str = ""):
        try:
            import joulescope
        except ImportError:
            raise ToolMissing("the Joulescope power monitor needs the `joulescope` package",
                              hint="pip install joulescope") from None
        devices = joulescope.scan()
        if serial:
            devices = [d for d in devices if serial in str(d)]
        if not devices:
            raise DeviceError(f"no Joulescope found{' with serial ' + serial if serial else ''}",
                              hint="plug it in (USB) and check `joulescope scan`")
        self._dev = devices[0]
        self._t0 = 0.0

    def start(self) -> None:
        self._dev.open()
        self._dev.statistics_accumulators_clear()
        self._t0 = time.monotonic()

    def stop(self) -> PowerSample:
        dt = time.monotonic() - self._t0
        try:
            stats = self._dev.statistics_get()
            energy_j = float(stats["accumulators"]["energy"]["value"])
        finally:
            self._dev.close()
        return PowerSample(dt, energy_j / dt * 1e3 if dt else 0.0, energy_j * 1e6)


class Ppk2Monitor:
    """Nordic Power Profiler Kit II in source mode through `ppk2-api` (mean of the current samples x voltage)."""

    name = "ppk2"

    def __init__(self, port: str = "", voltage_mv: int = 5000):
        try:
            from ppk2_api.ppk2_api import PPK2_API
        except ImportError:
            raise ToolMissing("the PPK2 power monitor needs the `ppk2-api` package",
                              hint="pip install ppk2-api") from None
        if not port:
            ports = PPK2_API.list_devices()
            if not ports:
                raise DeviceError("no Nordic PPK2 found", hint="plug it in and pass ppk2:/dev/ttyACMx")
            port = ports[0]
        self._ppk = PPK2_API(port)
        self._mv = voltage_mv
        self._t0 = 0.0

    def start(self) -> None:
        self._ppk.get_modifiers()
        self._ppk.use_source_meter()
        self._ppk.set_source_voltage(self._mv)
        self._ppk.toggle_DUT_power("ON")
        self._ppk.start_measuring()
        self._t0 = time.monotonic()

    def stop(self) -> PowerSample:
        dt = time.monotonic() - self._t0
        data = self._ppk.get_data()
        self._ppk.stop_measuring()
        samples, _ = self._ppk.get_samples(data) if data else ([], None)
        mean_ua = sum(samples) / len(samples) if samples else 0.0
        p_mw = mean_ua * 1e-3 * self._mv * 1e-3
        return PowerSample(dt, p_mw, p_mw * dt * 1e3)


def open_monitor(spec: str) -> PowerMonitor:
    """`joulescope[:SERIAL]` or `ppk2[:PORT]` -> a monitor (lazy import; ToolMissing with the pip command)."""
    name, _, arg = spec.partition(":")
    if name == "joulescope":
        return JoulescopeMonitor(arg)
    if name == "ppk2":
        return Ppk2Monitor(arg)
    raise UsageError(f"unknown power monitor {spec!r}", hint="use joulescope[:SERIAL] or ppk2[:PORT]")


def measured_energy(sample: PowerSample, latency_ms: float, monitor: str) -> Figure:
    return Figure("energy_uj", sample.mean_power_mw * latency_ms, "uJ", "measured",
                  f"mean supply power {sample.mean_power_mw:.0f} mW measured by {monitor} over the "
                  f"{sample.duration_s:.1f} s benchmark x p50 latency")
