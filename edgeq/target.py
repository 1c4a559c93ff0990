"""Target profiles: TOML data describing a device (ops, bit widths, budgets, clock, energy, emulator).

Profiles live in the top-level `targets/` folder (shipped in the wheel as `edgeq/targets`). A profile may
`extends` another by name (built-in) or by relative path; tables merge key by key, the child wins, and the
`[ops]` table merges op by op (`OP = 0` in a child removes an op; `inherit_ops = false` starts afresh).
Every key is checked against SCHEMA: an
unknown key is an error with a did-you-mean hint, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.errors import EdgeqError, ProfileError, UsageError, did_you_mean

QUANT_MODES = ("int8", "int16x8", "float16", "dynamic", "float32")
FAMILIES = ("cortex-m", "linux", "android")

# section -> key -> (python type(s), required in a final (non-base) profile)
_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "": {"extends": (str, False), "description": (str, True), "family": (str, True),
         "abstract": (bool, False), "inherit_ops": (bool, False),
         "legacy": (str, False)},  # non-empty: why the target is legacy (shown by `targets list`)
    "runtime": {"name": (str, True), "delegate": (str, False), "version": (str, False),
                "max_tensor_rank": (int, False), "cpu_fallback": (bool, False),
                "npu_vendor": (str, False)},
    "quantization": {"modes": (list, True), "default_mode": (str, True), "io_dtype": (str, True),
                     "per_channel": (str, True), "integer_only": (bool, True),
                     "int16x8_ops": (list, False), "float16_ops": (list, False)},
    "ops": {},  # free-form: OP_NAME = max version (0 = removed)
    "memory": {"flash_bytes": (int, False), "ram_bytes": (int, False), "runtime_code_bytes": (int, False),
               "arena_margin_bytes": (int, False), "flash_wait_states": (int, False)},
    "cpu": {"core": (str, True), "arch": (str, False), "clock_hz": (int, True), "cores": (int, False),
            "features": (list, False), "gcc_flags": (list, False), "cycles_per_instruction": ((int, float), False),
            "timing_model": (str, False)},
    "energy": {"pj_per_cycle": ((int, float), False), "active_power_mw": ((int, float), False),
               "idle_power_mw": ((int, float), False), "source": (str, False)},
    "emulator": {"kind": (str, False), "qemu_machine": (str, False), "qemu_cpu": (str, False),
                 "board": (str, False)},
    "export": {"formats": (list, True)},
}
_CHOICES = {
    ("", "family"): FAMILIES,
    ("quantization", "default_mode"): QUANT_MODES,
    ("quantization", "io_dtype"): ("int8", "uint8", "int16", "float32"),
    ("quantization", "per_channel"): ("required", "allowed", "forbidden"),
    ("runtime", "name"): ("tflm", "litert"),
    ("runtime", "delegate"): ("none", "xnnpack", "nnapi", "gpu", "npu"),
    ("runtime", "npu_vendor"): ("qualcomm", "mediatek"),
    ("emulator", "kind"): ("qemu-system-arm", "qemu-aarch64", "none"),
}
EXPORT_FORMATS = ("tflite", "tflm", "c", "android", "report")

# Allowed ranges of numeric keys: (section, key) -> (low, low inclusive, high, what the unit means). Every other
# number in a profile must be finite and >= 0 (no key is meaningfully negative: bytes, cycles, mW, wait states).
_RANGES: dict[tuple[str, str], tuple[float, bool, float, str]] = {
    ("memory", "flash_bytes"): (0, False, 2**48, "bytes (1 MiB = 1_048_576)"),
    ("memory", "ram_bytes"): (0, False, 2**48, "bytes (256 KiB = 262_144)"),
    ("memory", "runtime_code_bytes"): (0, True, 2**32, "bytes"),
    ("memory", "arena_margin_bytes"): (0, True, 2**32, "bytes"),
    ("memory", "flash_wait_states"): (0, True, 15, "wait states per flash access"),
    ("cpu", "clock_hz"): (1_000, True, 10**10, "Hz (80 MHz = 80_000_000)"),
    ("cpu", "cores"): (1, True, 1024, "cores"),
    ("cpu", "cycles_per_instruction"): (0, False, 100, "cycles per instruction"),
    ("runtime", "max_tensor_rank"): (1, True, 16, "dimensions"),
    ("energy", "pj_per_cycle"): (0, True, 1e6, "pJ per cycle"),
    ("energy", "active_power_mw"): (0, True, 1e6, "mW"),
    ("energy", "idle_power_mw"): (0, True, 1e6, "mW"),
}
_MAX_NUMBER = 2**63  # TOML integers are 64-bit; anything bigger in a float is a typo


@dataclass(frozen=True)
class Runtime:
    name: str
    delegate: str = "none"
    version: str = ""
    max_tensor_rank: int = 6
    cpu_fallback: bool = False  # delegates: ops they cannot run fall back to the CPU (a warning, not an error)
    npu_vendor: str = ""  # delegate "npu": the LiteRT NPU vendor plugin (qualcomm, mediatek)


@dataclass(frozen=True)
class Quantization:
    modes: tuple[str, ...]
    default_mode: str
    io_dtype: str
    per_channel: str
    integer_only: bool
    int16x8_ops: tuple[str, ...] = ()
    float16_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class Memory:
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    runtime_code_bytes: int = 0
    arena_margin_bytes: int = 0
    flash_wait_states: int = 0  # Cortex-M cycle model: extra cycles per flash access (docs/harness.md)


@dataclass(frozen=True)
class Cpu:
    core: str
    clock_hz: int
    arch: str = ""
    cores: int = 1
    features: tuple[str, ...] = ()
    gcc_flags: tuple[str, ...] = ()
    cycles_per_instruction: float = 1.0  # fallback when the core has no timing table
    timing_model: str = ""  # targets/timing/<name>.toml: the Cortex-M cycle model's table (docs/harness.md)


@dataclass(frozen=True)
class Energy:
    pj_per_cycle: float | None = None
    active_power_mw: float | None = None
    idle_power_mw: float | None = None
    source: str = ""


@dataclass(frozen=True)
class Emulator:
    kind: str = "none"
    qemu_machine: str = ""
    qemu_cpu: str = ""
    board: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    description: str
    family: str
    runtime: Runtime
    quantization: Quantization
    ops: Mapping[str, int]  # op name -> highest supported version
    memory: Memory
    cpu: Cpu
    energy: Energy
    emulator: Emulator
    export_formats: tuple[str, ...]
    sha256: str = field(default="", compare=False)  # hash of the merged profile (recorded in reports)
    merged: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)
    legacy: str = ""  # why the target is legacy ("" = current)

    @property
    def is_mcu(self) -> bool:
        return self.family == "cortex-m"

    def supports_op(self, opcode: str, version: int = 1) -> bool:
        v = self.ops.get(opcode, 0)
        return v > 0 and version <= v


def targets_dir() -> Path:
    """The built-in profiles: the installed package copy, else the repository's top-level folder."""
    here = Path(__file__).resolve().parent
    for cand in (here / "targets", here.parent / "targets"):
        if cand.is_dir():
            return cand
    raise ProfileError("built-in target profiles not found", hint="reinstall edgeq (`pip install .`)")


def builtin_names(include_abstract: bool = False) -> list[str]:
    names = []
    for p in sorted(targets_dir().glob("*.toml")):
        if include_abstract or not read_toml(p).get("abstract", False):
            names.append(p.stem)
    return names


def read_toml(path: Path, what: str = "profile", error: type[EdgeqError] = ProfileError) -> dict:
    """A TOML file as a dict; every failure (unreadable, not UTF-8, bad syntax, nesting) is `error` naming the file.
    Shared by the profiles and the project file (edgeq.project)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")  # TOML is UTF-8; tolerate the BOM some Windows editors write
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise error(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}, offset {e.start})",
                    hint=f"TOML files must be UTF-8: re-save the {what} as UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: invalid TOML: {e}", hint="fix the syntax at the line shown") from None
    except RecursionError:
        raise error(f"{path}: invalid TOML: arrays or tables nested too deeply") from None



def _validate(raw: dict, path: Path) -> None:
    ranges = raw.get("abstract") is not True  # a base profile may hold placeholders (clock_hz = 0)
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in _SCHEMA or key == "":
                raise ProfileError(f"{path}: unknown section [{key}].{did_you_mean(key, [s for s in _SCHEMA if s])}",
                                   hint=f"valid sections: {', '.join(s for s in _SCHEMA if s)}")
            if key == "ops":
                for op, ver in value.items():
                    if not isinstance(ver, int) or isinstance(ver, bool) or ver < 0:
                        raise ProfileError(f"{path}: [ops] {op} = {ver!r}: expected the highest supported op "
                                           "version as an integer (0 removes the op)")
                    if op != op.upper():
                        raise ProfileError(f"{path}: [ops] {op!r}: op names are TFLite UPPER_SNAKE names",
                                           hint=f"write {op.upper()}")
                continue
            for k, v in value.items():
                _check_key(key, k, v, path, ranges)
        else:
            _check_key("", key, value, path, ranges)


def _check_key(section: str, key: str, value, path: Path, ranges: bool = True) -> None:
    where = f"[{section}] {key}" if section else key
    spec = _SCHEMA[section]
    if key not in spec:
        raise ProfileError(f"{path}: unknown key {where}.{did_you_mean(key, spec)}",
                           hint=f"valid keys{' in [' + section + ']' if section else ''}: {', '.join(spec)}")
    typ, _ = spec[key]
    if isinstance(value, bool) and typ is not bool and bool not in (typ if isinstance(typ, tuple) else (typ,)):
        raise ProfileError(f"{path}: {where} = {value!r}: expected {getattr(typ, '__name__', typ)}")
    if not isinstance(value, typ):
        names = "/".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))
        raise ProfileError(f"{path}: {where} = {value!r}: expected {names}")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        bad = next(v for v in value if not isinstance(v, str))
        raise ProfileError(f"{path}: {where}: element {bad!r} is not a string", hint=f"write {where} = [\"...\", ...]")
    if ranges and isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_range(section, key, value, where, path)
    choices = _CHOICES.get((section, key))
    if choices and value not in choices:
        raise ProfileError(f"{path}: {where} = {value!r} is not one of {', '.join(choices)}."
                           f"{did_you_mean(value, choices)}")
    if (section, key) == ("quantization", "modes"):
        for m in value:
            if m not in QUANT_MODES:
                raise ProfileError(f"{path}: {where}: unknown mode {m!r}.{did_you_mean(m, QUANT_MODES)}",
                                   hint=f"modes: {', '.join(QUANT_MODES)}")
    if (section, key) == ("export", "formats"):
        for f in value:
            if f not in EXPORT_FORMATS:
                raise ProfileError(f"{path}: {where}: unknown format {f!r}.{did_you_mean(f, EXPORT_FORMATS)}")


def _check_range(section: str, key: str, value: float, where: str, path: Path) -> None:
    lo, lo_incl, hi, unit = _RANGES.get((section, key), (0, True, _MAX_NUMBER, ""))
    ok = math.isfinite(value) and (value >= lo if lo_incl else value > lo) and value <= hi
    if not ok:
        allowed = f"{'>=' if lo_incl else '>'} {lo:,} and <= {hi:,}" + (f", in {unit}" if unit else "")
        raise ProfileError(f"{path}: {where} = {value!r} is out of range: must be {allowed}",
                           hint=f"fix {where} in {path.name}")


def _merge(base: dict, child: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    if child.get("inherit_ops", True) is False:
        out.pop("ops", None)  # a delegate lists exactly the ops it takes, not the CPU's
    for k, v in child.items():
        if k == "inherit_ops":
            continue
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    out.pop("abstract", None)
    if "abstract" in child:
        out["abstract"] = child["abstract"]
    return out


def _resolve(spec: str, relative_to: Path | None) -> Path:
    try:
        return _resolve_path(spec, relative_to)
    except (OSError, ValueError) as e:  # NUL bytes, names too long for the file system
        raise UsageError(f"target {spec[:80]!r} is not a usable profile name or path ({e})") from None


def _resolve_path(spec: str, relative_to: Path | None) -> Path:
    if spec.endswith(".toml") or "/" in spec or "\\" in spec:
        p = Path(spec)
        if not p.is_absolute() and relative_to is not None:
            p = relative_to / p
        if not p.exists():
            raise UsageError(f"target profile file not found: {p}")
        return p
    p = targets_dir() / f"{spec}.toml"
    if not p.exists():
        names = builtin_names()
        raise UsageError(f"unknown target {spec!r}.{did_you_mean(spec, names)}",
                         hint=f"built-in targets: {', '.join(names)} (or pass a .toml file); see `edgeq targets list`")
    return p


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ProfileError(f"{path}: `extends` cycle: {chain}")
    raw = read_toml(path)
    _validate(raw, path)
    parent = raw.get("extends")
    if parent:
        try:
            base_path = _resolve(parent, path.parent)
        except UsageError as e:
            raise ProfileError(f"{path}: extends = {parent!r}: {e.message}", hint=e.hint) from None
        raw = _merge(_load_raw(base_path, (*seen, path)), raw)
    raw.pop("extends", None)
    return raw


def load_target(spec: str | Path) -> Target:
    """Load a built-in profile by name (`cortex-m4`) or a user's profile file (`./board.toml`)."""
    path = _resolve(str(spec), Path.cwd())
    raw = _load_raw(path)
    if raw.get("abstract"):
        raise UsageError(f"{path.stem!r} is a base profile, not a device",
                         hint=f"use one of: {', '.join(builtin_names())}")
    for section, keys in _SCHEMA.items():
        table = raw if section == "" else raw.get(section, {})
        for k, (_, required) in keys.items():
            if required and k not in table:
                where = f"[{section}] {k}" if section else k
                raise ProfileError(f"{path}: missing required key {where}",
                                   hint="add it, or `extends` a built-in profile that defines it")
    for section, table in raw.items():  # values inherited from a base profile's placeholders
        for k, v in (table.items() if isinstance(table, dict) and section != "ops" else ()):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                _check_range(section, k, v, f"[{section}] {k} (set here or inherited through `extends`)", path)
    q = raw["quantization"]
    if q["default_mode"] not in q["modes"]:
        raise ProfileError(f"{path}: [quantization] default_mode {q['default_mode']!r} is not in modes {q['modes']}")
    ops = {k: v for k, v in raw.get("ops", {}).items() if v > 0}
    canon = json.dumps(raw, sort_keys=True).encode()
    return Target(
        name=path.stem, path=str(path), description=raw["description"], family=raw["family"],
        runtime=Runtime(**raw["runtime"]),
        quantization=Quantization(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in q.items()}),
        ops=ops,
        memory=Memory(**raw.get("memory", {})),
        cpu=Cpu(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in raw["cpu"].items()}),
        energy=Energy(**raw.get("energy", {})),
        emulator=Emulator(**raw.get("emulator", {})),
        export_formats=tuple(raw["export"]["formats"]),
        sha256=hashlib.sha256(canon).hexdigest(),
        merged=raw,
        legacy=raw.get("legacy", ""),
    )
