"""Cortex-M harness, cycle model: a QEMU TCG plugin that charges every executed Thumb instruction its cost from
the core's timing table (targets/timing/<core>.toml). Pipeline position: bench stage (see __init__).

The plugin (timing_plugin.c, next to this file) is built on first use with the host C compiler into a cache
folder keyed by its source hash, and loaded by qemu-system-arm with `-plugin`. Python reads the table from TOML,
checks it against the keys the plugin knows, and hands it over as a `key value` file together with the flash
wait states of the profile, the flash address ranges of the firmware (its read-only ELF sections) and the
addresses of the marker functions (invoke entry/exit, per-op hook) whose executions segment the counters.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import DeviceError, ProfileError, ToolMissing
from edgeq.harness.cortexm.build import _run_tool, find_tool
from edgeq.harness.cortexm.run import qemu_command, run_qemu
from edgeq.harness.result import Figure

PLUGIN_SOURCE = Path(__file__).with_name("timing_plugin.c")
# Keys of the table file, in the plugin's order (timing_plugin.c `key_names`); flash_wait_states comes from the
# profile, the rest from the [cycles], [branch] and [pipeline] sections of targets/timing/<core>.toml.
TABLE_SECTIONS = {
    "cycles": (
        "alu", "mul", "mla", "mul_long", "dsp_mul", "divide", "load", "load_literal", "store", "load_double",
        "store_double", "multiple_base", "multiple_per_register", "it", "barrier", "branch", "table_branch", "fp",
        "fp_divide", "fp_load", "fp_store", "vector", "vector_load", "vector_store", "store_immediate",
    ),
    "branch": (
        "refill_direct", "refill_indirect", "refill_call", "refill_load", "refill_loop_end",
        "refill_unaligned_32bit",
    ),
    "pipeline": (
        "load_pipelining", "load_use_stall", "address_dependency_stall", "it_folding", "dual_issue", "vector_overlap",
        "exception_entry",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class TimingTable:
    core: str
    path: Path
    kind: str  # "trm": from the TRM's tables; "approximation": documented approximation
    sources: tuple[str, ...]
    cycles: Mapping[str, int]  # every key of TABLE_SECTIONS, flattened

    def describe(self, wait_states: int) -> str:
        extra = "" if self.kind == "trm" else "; an approximation, see docs/harness.md"
        return f"{self.core} timing model (QEMU TCG plugin, {wait_states} flash wait states{extra})"


def timing_dir() -> Path:
    from edgeq.target import targets_dir

    return targets_dir() / "timing"


def load_timing_table(name: str) -> TimingTable:
    """targets/timing/<name>.toml (or a path to a .toml), checked against the keys the plugin needs."""
    path = Path(name) if name.endswith(".toml") else timing_dir() / f"{name}.toml"
    if not path.is_file():
        avail = sorted(p.stem for p in timing_dir().glob("*.toml"))
        raise ProfileError(
            f"no timing table {name!r} ({path})",
            hint=f"set [cpu] timing_model to one of {', '.join(avail)} or to a .toml path",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{path}: not valid TOML: {e}", hint="fix the timing table") from None
    flat: dict[str, int] = {}
    for section, keys in TABLE_SECTIONS.items():
        got = raw.get(section, {})
        missing = [k for k in keys if k not in got]
        unknown = sorted(set(got) - set(keys))
        if missing or unknown:
            raise ProfileError(
                f"{path}: [{section}] "
                + (f"misses {', '.join(missing)}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"has unknown keys {', '.join(unknown)}" if unknown else ""),
                hint=f"[{section}] needs exactly: {', '.join(keys)} (docs/harness.md)",
            )
        for k in keys:
            v = got[k]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 1000:
                raise ProfileError(f"{path}: [{section}] {k} = {v!r}", hint="a whole number of cycles, 0..1000")
            flat[k] = v
    kind = raw.get("kind", "approximation")
    if kind not in ("trm", "approximation"):
        raise ProfileError(f"{path}: kind = {kind!r}", hint='use "trm" or "approximation"')
    return TimingTable(str(raw.get("core", path.stem)), path, kind, tuple(raw.get("sources", ())), flat)


def table_for(target) -> TimingTable | None:
    """The profile's timing table: [cpu] timing_model, else targets/timing/<core>.toml, else None."""
    name = getattr(target.cpu, "timing_model", "") or target.cpu.core
    if not name.endswith(".toml") and not (timing_dir() / f"{name}.toml").is_file():
        if getattr(target.cpu, "timing_model", ""):
            load_timing_table(name)  # raises with the list of tables
        return None
    return load_timing_table(name)


def cache_dir() -> Path:
    env = os.environ.get("EDGEQ_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeq"
    return base / "cortexm-timing"


def plugin_library() -> Path:
    """The compiled plugin, built on first use (and whenever timing_plugin.c changes)."""
    src = PLUGIN_SOURCE.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:16]
    lib = cache_dir() / f"libedgeq_cortexm_timing-{tag}.so"
    if lib.is_file():
        return lib
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise ToolMissing(
            "no host C compiler to build the Cortex-M cycle model (a QEMU plugin)", hint="apt-get install gcc"
        )
    lib.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=lib.stem + "-", suffix=".so", dir=lib.parent)
    os.close(fd)
    try:
        _run_tool(
            [cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", tmp, str(PLUGIN_SOURCE)],
            "compile the Cortex-M timing plugin",
        )
        os.replace(tmp, lib)  # atomic: concurrent builders each produce the same file
    finally:
        Path(tmp).unlink(missing_ok=True)
    return lib


def flash_ranges(elf: Path) -> list[tuple[int, int]]:
    """Address ranges of the firmware's read-only allocated sections (code and constants: what sits in flash
    on a board), merged."""
    out = _run_tool([find_tool("arm-none-eabi-readelf"), "-S", "-W", str(elf)], f"read sections of {elf}")
    spans = []
    for line in out.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) < 8 or not parts[0].startswith("["):
            continue
        try:
            addr, size = int(parts[3], 16), int(parts[5], 16)
        except ValueError:
            continue
        flags = parts[7]
        if "A" in flags and "W" not in flags and size and parts[2] in ("PROGBITS", "ARM_EXIDX"):
            spans.append((addr, addr + size))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + 64:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


@dataclass(frozen=True)
class TimingRun:
    """What the plugin counted: totals of the whole run and counter snapshots at each marker execution."""

    cycles: int
    instructions: int
    marks: tuple[tuple[int, int, int], ...]  # (marker index, cycles before, instructions before)
    exception_jumps: int = 0


def parse_plugin_output(text: str) -> TimingRun:
    vals: dict[str, int] = {}
    marks = []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "mark" and len(parts) == 4:
            marks.append((int(parts[1]), int(parts[2]), int(parts[3])))
        elif len(parts) == 2:
            vals[parts[0]] = int(parts[1])
    if "cycles" not in vals:
        raise DeviceError("the timing plugin wrote no totals", hint="is qemu-system-arm built with plugin support?")
    return TimingRun(vals["cycles"], vals.get("instructions", 0), tuple(marks), vals.get("exception_jumps", 0))


def plugin_argument(
    lib: Path,
    table: TimingTable,
    wait_states: int,
    out: Path,
    table_file: Path,
    flash: Sequence[tuple[int, int]] = (),
    marks: Sequence[int] = (),
    blocks: Path | None = None,
) -> str:
    lines = [f"{k} {v}" for k, v in table.cycles.items()] + [f"flash_wait_states {int(wait_states)}"]
    table_file.write_text("\n".join(lines) + "\n")
    args = [str(lib), f"table={table_file}", f"out={out}"]
    args += [f"flash=0x{lo:x}:0x{hi:x}" for lo, hi in flash[:4]]
    args += [f"mark=0x{a & ~1:x}" for a in marks]
    if blocks is not None:
        args.append(f"blocks={blocks}")
    for a in args:
        if "," in a:
            raise DeviceError(f"QEMU plugin arguments cannot contain commas: {a}", hint="use a path without commas")
    return ",".join(args)


def run_qemu_timed(
    elf: Path,
    machine: str,
    table: TimingTable,
    wait_states: int = 0,
    marks: Sequence[int] = (),
    timeout_s: float = 120.0,
    blocks: Path | None = None,
) -> tuple[str, TimingRun]:
    """Run `elf` in QEMU with the cycle model; returns the console log and what the plugin counted. With
    `blocks`, the plugin also writes every executed block (start, end, instructions, executions, cycles)."""
    lib = plugin_library()
    flash = flash_ranges(elf) if wait_states else []
    with tempfile.TemporaryDirectory(prefix="edgeq-timing-") as tmp:
        out = Path(tmp) / "cycles.txt"
        arg = plugin_argument(lib, table, wait_states, out, Path(tmp) / "table.txt", flash, marks, blocks)
        log = run_qemu(elf, machine, timeout_s, extra_args=["-plugin", arg])
        if not out.is_file():
            raise DeviceError(
                f"the timing plugin wrote nothing for {elf}\n{log[-2000:]}",
                hint="check that qemu-system-arm loads plugins: "
                + " ".join(qemu_command(elf, machine)[:1])
                + " -plugin help",
            )
        return log, parse_plugin_output(out.read_text())


def segment(run: TimingRun, start: int, end: int, inner: int | None = None) -> list[dict[str, list[int]]]:
    """Per window [start marker, next end marker): total cycles/instructions and, with `inner`, the snapshots
    of the inner marker's executions inside it (op boundaries). One dict per window (per sample)."""
    windows: list[dict[str, list[int]]] = []
    cur: dict[str, list[int]] | None = None
    for idx, cyc, ins in run.marks:
        if idx == start:
            cur = {"start": [cyc, ins], "inner": []}
        elif cur is not None and inner is not None and idx == inner:
            cur["inner"].append([cyc, ins])
        elif cur is not None and idx == end:
            cur["end"] = [cyc, ins]
            windows.append(cur)
            cur = None
    return windows


# Marker indices of the bench firmware (targets/boards/common/main.c): invoke entry, the call right after it
# returns, and the per-op hook of a -DEDGEQ_PROFILE -DEQ_PROFILE_MARK build.
MARK_SYMBOLS = ("edgeq_model_invoke", "eq_invoke_end", "edgeq_profile_op")


@dataclass(frozen=True)
class CycleEstimate:
    """The cycle model's figures for one model: one edgeq_model_invoke(), median over the samples."""

    table: TimingTable
    wait_states: int
    cycles: int
    instructions: int  # counted by the plugin in the same window (exact)
    samples: int
    per_op_cycles: tuple[int, ...] = ()
    per_op_instructions: tuple[int, ...] = ()
    profile_cycles: int = 0  # the window of the profiling build (per-op hooks included)
    outside_ops_cycles: int = 0  # profile_cycles - sum(per_op_cycles): invoke prologue/epilogue, hook calls

    @property
    def method(self) -> str:
        return self.table.describe(self.wait_states)


def _windows(run: TimingRun, inner: bool) -> list[tuple[int, int, list[list[int]]]]:
    out = []
    for w in segment(run, 0, 1, 2 if inner else None):
        out.append((w["end"][0] - w["start"][0], w["end"][1] - w["start"][1], w["inner"]))
    if not out:
        raise DeviceError(
            "the timing plugin saw no complete edgeq_model_invoke() window",
            hint="the firmware must call eq_invoke_end() after the invoke (targets/boards/common/main.c)",
        )
    return out


def estimate(
    main: TimingRun, table: TimingTable, wait_states: int, prof: TimingRun | None = None, num_ops: int = 0
) -> CycleEstimate:
    """Cycles of the invoke window (median over samples) and, from the profiling run, per-op cycles."""
    wins = sorted(_windows(main, False))
    cycles, instructions, _ = wins[len(wins) // 2]
    per_c: tuple[int, ...] = ()
    per_i: tuple[int, ...] = ()
    prof_total = outside = 0
    if prof is not None:
        total_c, _, snaps = _windows(prof, True)[0]
        if len(snaps) == num_ops + 1:
            per_c = tuple(snaps[i + 1][0] - snaps[i][0] for i in range(num_ops))
            per_i = tuple(snaps[i + 1][1] - snaps[i][1] for i in range(num_ops))
            prof_total, outside = total_c, total_c - sum(per_c)
    return CycleEstimate(table, wait_states, cycles, instructions, len(wins), per_c, per_i, prof_total, outside)


def model_error_figures(measured_cycles: float, est: CycleEstimate) -> list[Figure]:
    """On a board: the model's estimate next to the measured DWT cycles, and its error in percent."""
    err = (est.cycles - measured_cycles) / measured_cycles * 100.0 if measured_cycles else 0.0
    return [
        Figure(
            "cycles_model",
            float(est.cycles),
            "cycles",
            "estimated",
            f"estimated: {est.method}, the same model run in QEMU",
        ),
        Figure(
            "cycles_model_error_pct",
            err,
            "%",
            "estimated",
            "(model - measured) / measured x 100; positive: the model is pessimistic",
        ),
    ]
