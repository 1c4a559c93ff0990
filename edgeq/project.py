"""Project file (edgeq.toml): deployments, budgets and gates. Sits above the pipeline: convert -> bench -> gates.

A project names the model and its data once and lists one table per deployment (target profile, output folder,
device, mode or budget search) with **budgets**. `load_project` validates the whole file before any work: unknown
keys (with a did-you-mean), types, ranges, data paths that do not exist, two deployments writing to one folder,
a budget the deployment cannot measure. `build` then runs, per deployment, `pipeline.run` (convert), `run_bench`
(when a budget needs a bench figure) and the gates, and records what it measured in `<out>/edgeq-build.json`
with a content hash of every input (model, data, profile, options, edgeq's own sources): an unchanged rebuild
re-reads that record and re-applies the (possibly edited) budgets without converting or benchmarking.

    model = "model/kws.keras"          # paths are relative to this file
    calib = "data/calib.npz"
    eval = "data/test.npz"

    [deployments.m4]
    target = "cortex-m4"
    out = "build/m4"
    [deployments.m4.budgets]
    flash_bytes = 131_072
    latency_ms = 20
    accuracy_drop_pp = 1.0

Every gate result names the figure, its value, the budget, the excess, and the figure's `kind` (measured /
emulated / estimated) as the bench stage labelled it. JUnit XML and a Markdown summary render a BuildResult.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import edgeq
from edgeq.errors import EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_OK, EdgeqError, UsageError, did_you_mean

PROJECT_FILE = "edgeq.toml"
RECORD = "edgeq-build.json"
RECORD_SCHEMA = "edgeq.build/1"
JUNIT_MARK = '<testsuites name="edgeq build"'
SUMMARY_MARK = "<!-- edgeq build summary -->"


class ProjectError(UsageError):
    """The project file is malformed or describes something edgeq cannot do (exit 2, before any work)."""


# budget key -> (unit, "max": the figure must stay at or below it / "min": at or above it, what it limits)
BUDGETS: dict[str, tuple[str, str, str]] = {
    "flash_bytes": ("B", "max", "model + runtime code and constants in flash"),
    "ram_bytes": ("B", "max", "RAM while running (arena + static data + stack; RSS on Linux/Android)"),
    "latency_ms": ("ms", "max", "time per inference"),
    "cycles": ("cycles", "max", "CPU cycles per inference (Cortex-M)"),
    "energy_uj": ("uJ", "max", "energy per inference"),
    "accuracy_drop_pp": ("pp", "max", "float accuracy minus quantized accuracy, percentage points"),
    "min_sqnr_db": ("dB", "min", "output SQNR of the quantized model against the float model"),
}
_BENCH_BUDGETS = ("flash_bytes", "ram_bytes", "latency_ms", "cycles", "energy_uj")
_EVAL_BUDGETS = ("accuracy_drop_pp", "min_sqnr_db")
# bench figure names that answer a budget, in order of preference (Cortex-M first, then Linux/Android runners)
_FIGURES: dict[str, tuple[str, ...]] = {
    "flash_bytes": ("flash_bytes",),
    "ram_bytes": ("ram_bytes", "model_rss_bytes", "peak_rss_bytes"),
    "latency_ms": ("latency_ms", "latency_p50_ms", "latency_mean_ms"),
    "cycles": ("cycles",),
    "energy_uj": ("energy_uj",),
}

# key -> (type(s), low bound or None, low inclusive); shared by the top level (defaults) and each deployment
_Spec = tuple[type | tuple[type, ...], float | None, bool]
_COMMON: dict[str, _Spec] = {
    "model": (str, None, True), "calib": (str, None, True), "eval": (str, None, True), "train": (str, None, True),
    "device": (str, None, True), "seed": (int, 0, True), "calib_samples": (int, 1, True),
    "eval_samples": (int, 1, True), "samples": (int, 1, True), "timeout_s": ((int, float), 0, False),
    "image_scale": (str, None, True), "allow_raw_range": (bool, None, True), "per_tensor": (bool, None, True),
}
_TOP: dict[str, _Spec] = {"name": (str, None, True), **_COMMON}
_DEPLOY: dict[str, _Spec] = {"target": (str, None, True), "out": (str, None, True), "mode": (str, None, True),
                             "search": (bool, None, True), "bench": (bool, None, True), **_COMMON}
_TABLES = ("deployments", "budgets")
_CHOICES = {"image_scale": ("unit", "symmetric", "raw"),
            "mode": ("int8", "int16x8", "float16", "dynamic", "float32")}


@dataclass(frozen=True)
class Deployment:
    """One row of the project: a model built for one target into one folder, with its budgets."""

    name: str
    target: str  # as resolved for load_target (a built-in name or an absolute .toml path)
    out_dir: Path
    model: str
    calib: str | None = None
    eval: str | None = None
    train: str | None = None
    mode: str | None = None
    search: bool = False  # accuracy budgets steer the conversion (edgeq's budget search) instead of a fixed mode
    bench: bool = True
    device: str | None = None
    samples: int | None = None  # bench inputs (Cortex-M, default 1) / timed runs (Linux, the runner's default)
    seed: int = 0
    calib_samples: int = 500
    eval_samples: int | None = None
    timeout_s: float | None = None
    image_scale: str | None = None
    allow_raw_range: bool = False
    per_tensor: bool = False
    budgets: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    path: Path
    name: str
    deployments: tuple[Deployment, ...]


@dataclass(frozen=True)
class Measured:
    """A figure a gate looked at: value, unit, and how it was obtained (kind as labelled by the bench stage)."""

    name: str
    value: float
    unit: str
    kind: str  # measured / emulated / estimated
    method: str
    where: str = ""  # the device a bench figure comes from ("qemu:mps2-an386", "host", "ssh://pi@..."), else ""


@dataclass(frozen=True)
class Gate:
    deployment: str
    budget: str
    limit: float
    unit: str
    passed: bool
    figure: Measured | None  # None: the figure could not be obtained (then `message` says why)
    message: str

    @property
    def excess(self) -> float | None:
        if self.figure is None:
            return None
        sense = BUDGETS[self.budget][1]
        return self.figure.value - self.limit if sense == "max" else self.limit - self.figure.value


@dataclass(frozen=True)
class DeploymentResult:
    name: str
    target: str
    out_dir: str
    cached: bool  # True: inputs unchanged since the recorded build, nothing was converted or benchmarked
    seconds: float
    gates: tuple[Gate, ...]
    error: str | None = None  # conversion/bench failure (its gates are then unmet)
    error_exit_code: int = EXIT_OK
    notes: tuple[str, ...] = ()
    node_id: str = ""  # the Ray node that built it (--parallel/--ray-address; "" in-process); not in any artifact
    bench_node_id: str = ""  # the Ray node whose farm device ran the bench (device = "farm:NAME")

    @property
    def passed(self) -> bool:
        return self.error is None and all(g.passed for g in self.gates)


@dataclass(frozen=True)
class BuildResult:
    project: str
    deployments: tuple[DeploymentResult, ...]

    @property
    def passed(self) -> bool:
        return all(d.passed for d in self.deployments)

    @property
    def exit_code(self) -> int:
        """0 all budgets met; 3 a budget exceeded or a target check failed; 1 a deployment could not be built."""
        codes = [d.error_exit_code for d in self.deployments if d.error]
        if any(c != EXIT_CHECK_FAILED for c in codes):
            return EXIT_ERROR
        return EXIT_OK if self.passed else EXIT_CHECK_FAILED

    def to_dict(self) -> dict:
        out = {"project": self.project, "passed": self.passed, "exit_code": self.exit_code, "deployments": []}
        for d in self.deployments:
            dd = asdict(d)
            dd["passed"] = d.passed
            for g, gd in zip(d.gates, dd["gates"]):
                gd["excess"] = g.excess
            out["deployments"].append(dd)
        return out


# ------------------------------------------------------------------------------------------------ loading
def find_project(spec: str | Path | None) -> Path:
    """PROJECT argument -> the file: a .toml path, a folder holding edgeq.toml, or ./edgeq.toml."""
    p = Path(spec) if spec else Path(PROJECT_FILE)
    if p.is_dir():
        p = p / PROJECT_FILE
    if not p.is_file():
        raise ProjectError(f"{p}: project file not found",
                           hint="create an edgeq.toml (see docs/project.md), or pass its path: edgeq build path/to/"
                                "edgeq.toml")
    return p


def _read(path: Path) -> dict:
    from edgeq.target import read_toml

    return read_toml(path, "project file", ProjectError)


def _check_value(path: Path, where: str, key: str, value, spec: _Spec) -> None:
    typ, low, low_incl = spec
    types = typ if isinstance(typ, tuple) else (typ,)
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        names = "/".join({"str": "string", "int": "integer", "float": "number", "bool": "true/false"}[t.__name__]
                         for t in types)
        raise ProjectError(f"{path}: {where}{key} = {value!r}: expected a {names}", hint=f"fix {key} in {path.name}")
    if low is not None and not isinstance(value, bool):
        ok = math.isfinite(value) and (value >= low if low_incl else value > low)
        if not ok:
            raise ProjectError(f"{path}: {where}{key} = {value!r}: must be {'>=' if low_incl else '>'} {low:g}",
                               hint=f"fix {key} in {path.name}")
    choices = _CHOICES.get(key)
    if choices and value not in choices:
        raise ProjectError(f"{path}: {where}{key} = {value!r} is not one of {', '.join(choices)}."
                           f"{did_you_mean(value, choices)}")
    if isinstance(value, str) and not value.strip():
        raise ProjectError(f"{path}: {where}{key} is empty", hint=f"give {key} a value or remove the line")


def _check_table(path: Path, where: str, table: dict, spec: dict[str, _Spec], tables: Sequence[str]) -> None:
    for key, value in table.items():
        if key in tables:
            continue
        if key not in spec:
            valid = [*spec, *tables]
            raise ProjectError(f"{path}: unknown key {where}{key}.{did_you_mean(key, valid)}",
                               hint=f"valid keys{' in ' + where.strip() if where else ''}: {', '.join(valid)}")
        _check_value(path, where, key, value, spec[key])


def _check_budgets(path: Path, where: str, table) -> dict[str, float]:
    if not isinstance(table, dict):
        raise ProjectError(f"{path}: {where}budgets must be a table", hint="write [deployments.NAME.budgets]")
    out: dict[str, float] = {}
    for key, value in table.items():
        if key not in BUDGETS:
            raise ProjectError(f"{path}: unknown budget {where}budgets.{key}.{did_you_mean(key, BUDGETS)}",
                               hint=f"budgets (units in the names): {', '.join(BUDGETS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProjectError(f"{path}: {where}budgets.{key} = {value!r}: expected a number in "
                               f"{BUDGETS[key][0]}", hint=f"e.g. {key} = {_example(key)}")
        if key in ("flash_bytes", "ram_bytes", "cycles") and isinstance(value, float) and not value.is_integer():
            raise ProjectError(f"{path}: {where}budgets.{key} = {value!r}: expected a whole number of "
                               f"{BUDGETS[key][0]}", hint=f"e.g. {key} = {_example(key)}")
        if key == "accuracy_drop_pp":
            meetable = 0 <= value <= 100
        elif key == "min_sqnr_db":
            meetable = math.isfinite(value)
        else:
            meetable = math.isfinite(value) and value > 0
        if not meetable:
            raise ProjectError(f"{path}: {where}budgets.{key} = {value!r}: no deployment can meet this budget",
                               hint=f"{key} limits the {BUDGETS[key][2]}; give a value such as {key} = "
                                    f"{_example(key)}")
        out[key] = float(value)
    return out


def _example(key: str) -> str:
    return {"flash_bytes": "131_072", "ram_bytes": "65_536", "latency_ms": "20", "cycles": "2_000_000",
            "energy_uj": "500", "accuracy_drop_pp": "1.0", "min_sqnr_db": "20"}[key]


def _resolve_input(root: Path, spec: str, path: Path, where: str) -> str:
    """A data/model path relative to the project file; `module:function` data is passed through."""
    p = Path(spec)
    cand = p if p.is_absolute() else root / p
    if cand.exists():
        return str(cand)
    head, sep, fn = spec.rpartition(":")
    if sep and fn.isidentifier():
        hp = Path(head)
        hcand = hp if hp.is_absolute() else root / hp
        if hcand.is_file():
            return f"{hcand}:{fn}"
        if "/" not in head and "\\" not in head and not hp.suffix == ".py" and all(
                part.isidentifier() for part in head.split(".")):
            return spec  # an importable module:function (checked when the data is read)
    raise ProjectError(f"{path}: {where} = {spec!r}: not found (looked for {cand})",
                       hint=f"paths are relative to the project file's folder ({root})")


def load_project(spec: str | Path | None = None) -> Project:
    """Read and validate edgeq.toml. Raises ProjectError (exit 2) naming the file, key and fix."""
    path = find_project(spec)
    raw = _read(path)
    root = path.resolve().parent
    _check_table(path, "", raw, _TOP, _TABLES)
    top_budgets = _check_budgets(path, "", raw.get("budgets", {}))
    deps = raw.get("deployments")
    if not isinstance(deps, dict) or not deps:
        raise ProjectError(f"{path}: no deployments", hint="add a table per deployment, e.g.\n"
                           "    [deployments.m4]\n    target = \"cortex-m4\"\n    out = \"build/m4\"")
    defaults = {k: v for k, v in raw.items() if k in _COMMON}
    out: list[Deployment] = []
    for name, table in deps.items():
        where = f"[deployments.{name}] "
        if not isinstance(table, dict):
            raise ProjectError(f"{path}: deployments.{name} must be a table",
                               hint=f"write [deployments.{name}] with target = ... and out = ...")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ProjectError(f"{path}: deployment name {name!r}: use letters, digits, - and _ only",
                               hint="the name appears in file names and CI test names")
        _check_table(path, where, table, _DEPLOY, ("budgets",))
        for key in ("target",):
            if key not in table:
                raise ProjectError(f"{path}: {where}missing required key {key}",
                                   hint=f"add e.g. target = \"cortex-m4\" under [deployments.{name}] "
                                        "(`edgeq targets list`)")
        merged = {**defaults, **{k: v for k, v in table.items() if k != "budgets"}}
        if "model" not in merged:
            raise ProjectError(f"{path}: {where}no model", hint="set model = \"...\" at the top of the file (for "
                                                                 "every deployment) or in this deployment")
        budgets = {**top_budgets, **_check_budgets(path, where, table.get("budgets", {}))}
        target = merged["target"]
        if target.endswith(".toml") or "/" in target or "\\" in target:
            target = str(Path(target) if Path(target).is_absolute() else root / target)
        inputs = {k: _resolve_input(root, merged[k], path, f"{where}{k}") if k in merged else None
                  for k in ("model", "calib", "eval", "train")}
        out_rel = merged.get("out", f"build/{name}")
        out.append(Deployment(
            name=name, target=target, out_dir=Path(out_rel) if Path(out_rel).is_absolute() else root / out_rel,
            model=inputs["model"], calib=inputs["calib"], eval=inputs["eval"], train=inputs["train"],
            mode=merged.get("mode"), search=merged.get("search", False), bench=merged.get("bench", True),
            device=merged.get("device"), samples=merged.get("samples"), seed=merged.get("seed", 0),
            calib_samples=merged.get("calib_samples", 500), eval_samples=merged.get("eval_samples"),
            timeout_s=merged.get("timeout_s"), image_scale=merged.get("image_scale"),
            allow_raw_range=merged.get("allow_raw_range", False), per_tensor=merged.get("per_tensor", False),
            budgets=budgets))
    project = Project(path=path, name=raw.get("name", root.name), deployments=tuple(out))
    _check_semantics(project)
    return project


def _check_semantics(project: Project) -> None:
    """What a schema cannot see: targets, modes, measurability, shared output folders."""
    from edgeq.target import load_target

    path = project.path
    seen: dict[Path, str] = {}
    for d in project.deployments:
        where = f"[deployments.{d.name}]"
        try:
            t = load_target(d.target)
        except EdgeqError as e:
            raise ProjectError(f"{path}: {where} target: {e.message}", hint=e.hint) from None
        if d.mode and d.mode not in t.quantization.modes:
            raise ProjectError(f"{path}: {where} mode = {d.mode!r} is not allowed on {t.name} (allowed: "
                               f"{', '.join(t.quantization.modes)})",
                               hint=f"use mode = \"{t.quantization.default_mode}\"")
        accuracy = [b for b in _EVAL_BUDGETS if b in d.budgets]
        if accuracy and not d.eval:
            raise ProjectError(f"{path}: {where} budget {accuracy[0]} needs evaluation data",
                               hint="add eval = \"data/test.npz\" (with labels for accuracy_drop_pp)")
        if d.search:
            if d.mode:
                raise ProjectError(f"{path}: {where} mode and search = true exclude each other",
                                   hint="the budget search chooses the mode; drop mode")
            if not accuracy or not d.calib:
                raise ProjectError(f"{path}: {where} search = true needs calib, eval and an accuracy_drop_pp or "
                                   "min_sqnr_db budget", hint="add them, or drop search")
        bench_budgets = [b for b in _BENCH_BUDGETS if b in d.budgets]
        if bench_budgets and not d.bench:
            raise ProjectError(f"{path}: {where} bench = false but budget {bench_budgets[0]} needs a bench figure",
                               hint="drop bench = false, or the budget")
        for b in bench_budgets:
            why = unmeasurable(t, d.device, b)
            if why:
                raise ProjectError(f"{path}: {where} budget {b}: {why}",
                                   hint=f"remove {b} from [deployments.{d.name}.budgets] (or from the top-level "
                                        "[budgets]), or change the target/device")
        res = d.out_dir.resolve()
        if res == path.resolve().parent or path.resolve().is_relative_to(res):
            raise ProjectError(f"{path}: {where} out = {d.out_dir}: the output folder would hold the project file",
                               hint=f"use a dedicated folder, e.g. out = \"build/{d.name}\"")
        for other_res, other in seen.items():
            if res == other_res or res.is_relative_to(other_res) or other_res.is_relative_to(res):
                how = "the same folder" if res == other_res else "nested folders"
                raise ProjectError(f"{path}: deployments {other!r} and {d.name!r} write to {how} ({res})",
                                   hint=f"give each deployment its own out, e.g. out = \"build/{d.name}\"")
        seen[res] = d.name


def unmeasurable(target, device: str | None, budget: str) -> str | None:
    """Why `budget` cannot be measured for `target` on `device` (None: it can)."""
    dev = device or ("qemu" if target.is_mcu else "host")
    if target.is_mcu:
        if budget == "energy_uj" and not target.energy.pj_per_cycle:
            return f"profile {target.name} has no [energy] pj_per_cycle, so no energy figure is produced"
        if budget == "latency_ms" and not target.cpu.clock_hz:
            return f"profile {target.name} has no [cpu] clock_hz, so no latency figure is produced"
        return None
    if budget == "cycles":
        return (f"cycles are counted on Cortex-M targets only; {target.name} ({target.family}) reports time: "
                "use latency_ms")
    if budget == "latency_ms" and dev.startswith("emulator"):
        return "the aarch64 emulator's wall time says nothing about the device's speed: bench on the device"
    if budget == "energy_uj":
        if dev.startswith("ssh://") and (target.energy.active_power_mw or target.energy.pj_per_cycle):
            return None
        return (f"no energy figure on device {dev!r}: energy is estimated only for runs on the device itself "
                f"(device = \"ssh://user@host\") from the profile's [energy]")
    return None


# ------------------------------------------------------------------------------------------------ hashing
def _hash_path(h, p: Path) -> None:
    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(p)).encode() + b"\0")
            h.update(f.read_bytes())
    else:
        h.update(p.read_bytes())


_TOOL_HASH: list[str] = []
_NOT_ARTIFACTS = ("cli", "project.py", "cluster.py", "cmake", "edgeq.mk")  # front ends: they change no artifact


def tool_fingerprint() -> str:
    """Hash of edgeq's own sources (Python, C runtime, profiles, board files): a new edgeq rebuilds everything."""
    if not _TOOL_HASH:
        from edgeq.target import targets_dir

        h = hashlib.sha256(edgeq.__version__.encode())
        pkg = Path(edgeq.__file__).resolve().parent
        for base in (pkg, targets_dir()):
            for f in sorted(base.rglob("*")):
                rel = f.relative_to(base)
                if rel.parts[0] in _NOT_ARTIFACTS or f.suffix not in (".py", ".c", ".h", ".ld", ".toml"):
                    continue
                if f.is_file() and "__pycache__" not in f.parts:
                    h.update(str(rel).encode() + b"\0" + f.read_bytes())
        _TOOL_HASH.append(h.hexdigest())
    return _TOOL_HASH[0]


def input_key(d: Deployment, target) -> str | None:
    """Content hash of everything a deployment's artifacts and figures depend on (None: not cacheable)."""
    h = hashlib.sha256(RECORD_SCHEMA.encode())
    h.update(tool_fingerprint().encode())
    h.update(target.sha256.encode())
    for spec in (d.model, d.calib, d.eval, d.train):
        h.update(b"\1")
        if spec is None:
            continue
        p = Path(spec)
        if not p.exists():
            head = spec.rpartition(":")[0]
            if not Path(head).is_file():
                return None  # module:function data: its content is only known by running it
            p = Path(head)
        _hash_path(h, p)
    opts = {k: v for k, v in asdict(d).items() if k not in ("name", "out_dir", "budgets", "model", "calib", "eval",
                                                             "train", "target")}
    if d.search:  # the accuracy budgets steer the conversion
        opts["budgets"] = {k: v for k, v in d.budgets.items() if k in _EVAL_BUDGETS}
    h.update(json.dumps(opts, sort_keys=True).encode())
    return h.hexdigest()


def _outputs_intact(out: Path) -> bool:
    from edgeq.outdir import read_manifest

    files = read_manifest(out)
    if not files:
        return False
    try:
        return all((out / f).is_file() and hashlib.sha256((out / f).read_bytes()).hexdigest() == digest
                   for f, digest in files.items())
    except OSError:
        return False


def _read_record(out: Path) -> dict | None:
    try:
        rec = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("schema") == RECORD_SCHEMA else None


# ------------------------------------------------------------------------------------------------ building
Progress = Callable[[str], None]


def plan(project: Project, only: Sequence[str] = ()) -> tuple[Deployment, ...]:
    """The deployments to build (all, or those named by --only), with every output folder checked up front."""
    from edgeq.outdir import prepare_out_dir

    names = [d.name for d in project.deployments]
    for n in only:
        if n not in names:
            raise ProjectError(f"{project.path}: no deployment named {n!r}.{did_you_mean(n, names)}",
                               hint=f"deployments: {', '.join(names)}")
    chosen = tuple(d for d in project.deployments if not only or d.name in only)
    _check_tools(project, chosen)
    for d in chosen:
        try:
            prepare_out_dir(d.out_dir, force=True, inputs=(d.model, d.calib, d.eval, d.train, project.path))
        except EdgeqError as e:
            raise ProjectError(f"{project.path}: [deployments.{d.name}] out: {e.message}", hint=e.hint) from None
    return chosen


_TOOLS = {"arm-none-eabi-gcc": "apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi",
          "qemu-system-arm": "apt-get install -y qemu-system-arm"}


def _check_tools(project: Project, deployments: Sequence[Deployment]) -> None:
    """A Cortex-M bench needs the cross compiler (and QEMU): say so before a minute of conversion, not after."""
    import shutil

    from edgeq.errors import ToolMissing
    from edgeq.target import load_target

    for d in deployments:
        if not d.bench or not any(b in d.budgets for b in _BENCH_BUDGETS) or not load_target(d.target).is_mcu:
            continue
        if (d.device or "").startswith(FARM_PREFIX):
            continue  # the farm host builds and runs the firmware
        needed = ["arm-none-eabi-gcc"] + (["qemu-system-arm"] if (d.device or "qemu").startswith("qemu") else [])
        for tool in needed:
            if shutil.which(tool) is None:
                raise ToolMissing(f"{project.path}: [deployments.{d.name}] benches on Cortex-M and needs {tool}, "
                                  "which is not installed", hint=_TOOLS[tool])


FARM_PREFIX = "farm:"  # device = "farm:NAME": the bench runs on the Ray node offering edgeq-device:NAME


RemoteBench = Callable[[Path, object, str, dict, str], tuple[object, str]]  # edgeq.cluster.farm_bench's shape


def build(project: Project, only: Sequence[str] = (), rebuild: bool = False,
          progress: Progress = lambda s: None) -> BuildResult:
    """convert -> bench -> gates for each deployment, one after another on this machine; unchanged inputs reuse
    the recorded figures. Parallel builds and farm benches: edgeq.cluster.build (which sits above this module)."""
    chosen = plan(project, only)
    farm = [d for d in chosen if (d.device or "").startswith(FARM_PREFIX)]
    if farm:
        raise ProjectError(f"{project.path}: [deployments.{farm[0].name}] device = {farm[0].device!r} is a farm "
                           "device on a Ray cluster, and no cluster was given",
                           hint="pass --ray-address HEAD:PORT (the cluster the farm host joined; docs/farm.md), or "
                                "leave that deployment out with --only NAME")
    results = [_build_one(d, rebuild, lambda s, n=d.name: progress(f"{n}: {s}")) for d in chosen]
    return BuildResult(str(project.path), tuple(results))


def cached_result(d: Deployment, rebuild: bool = False, target=None) -> DeploymentResult | None:
    """The result from the recorded figures when d's inputs did not change since its last build, else None."""
    from edgeq.target import load_target

    t0 = time.monotonic()
    target = target or load_target(d.target)
    key = input_key(d, target)
    rec = _read_record(d.out_dir)
    if (not rebuild and key is not None and rec is not None and rec.get("key") == key
            and _outputs_intact(d.out_dir)):
        figs = {n: Measured(**f) for n, f in rec["figures"].items()}
        return DeploymentResult(d.name, target.name, str(d.out_dir), True, time.monotonic() - t0,
                                _gates(d, figs, rec.get("missing", {})), notes=tuple(rec.get("notes", ())))
    return None


def _build_one(d: Deployment, rebuild: bool, progress: Progress,
               remote_bench: RemoteBench | None = None) -> DeploymentResult:
    """One deployment, serially. remote_bench runs `farm:` benches (edgeq.cluster passes it in its Ray task)."""
    from edgeq.target import load_target

    t0 = time.monotonic()
    target = load_target(d.target)
    key = input_key(d, target)
    notes: list[str] = []
    if key is None:
        notes.append("module:function data is re-read on every build (its content cannot be hashed)")
    cached = cached_result(d, rebuild, target)
    if cached is not None:
        progress("unchanged")
        return cached
    bench_node: list[str] = []
    try:
        figs, missing, run_notes = _convert_and_bench(d, target, progress, bench_node, remote_bench)
    except EdgeqError as e:
        gates = tuple(Gate(d.name, b, v, BUDGETS[b][0], False, None, f"{b}: not measured (the build failed)")
                      for b, v in d.budgets.items())
        findings = [f for f in getattr(e, "findings", ()) if f.severity == "error"]
        # a failed target check: its findings say what to fix (convert's --keep-on-failure hint does not apply)
        detail = e.message + "".join(f"\n  {f.message}" for f in findings) if findings else str(e)
        return DeploymentResult(d.name, target.name, str(d.out_dir), False, time.monotonic() - t0, gates,
                                error=detail, error_exit_code=e.exit_code, notes=tuple(notes))
    notes += run_notes
    record = {"schema": RECORD_SCHEMA, "key": key, "target": target.name,
              "figures": {n: asdict(f) for n, f in sorted(figs.items())}, "missing": missing, "notes": notes}
    _write_record(d.out_dir, record)
    return DeploymentResult(d.name, target.name, str(d.out_dir), False, time.monotonic() - t0,
                            _gates(d, figs, missing), notes=tuple(notes), bench_node_id="".join(bench_node))


def _write_record(out: Path, record: dict) -> None:
    from edgeq.outdir import add_to_manifest, write_file

    write_file(out / RECORD, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    add_to_manifest(out, [RECORD], "build")


def _convert_and_bench(d: Deployment, target, progress: Progress, bench_node: list[str] | None = None,
                       remote_bench: RemoteBench | None = None) -> tuple[dict[str, Measured], dict, list[str]]:
    from edgeq.pipeline import ConvertRequest, run

    accuracy = {k: v for k, v in d.budgets.items() if k in _EVAL_BUDGETS} if d.search else {}
    req = ConvertRequest(model=d.model, target=d.target, out_dir=str(d.out_dir), calib=d.calib, eval=d.eval,
                         mode=d.mode, per_tensor=d.per_tensor, calib_samples=d.calib_samples,
                         eval_samples=d.eval_samples, seed=d.seed, image_scale=d.image_scale,
                         allow_raw_range=d.allow_raw_range, force=True, train=d.train if d.search else None,
                         max_accuracy_drop_pp=accuracy.get("accuracy_drop_pp"),
                         min_sqnr_db=accuracy.get("min_sqnr_db"))
    res = run(req, progress=progress)
    notes = list(res.warnings)
    rep = res.report
    figs: dict[str, Measured] = {}
    missing: dict[str, str] = {}
    ev = rep.get("evaluation")
    if ev:
        how = f"{ev['samples']} evaluation samples on {ev['runtime']} ({Path(d.eval or '').name})"
        if ev.get("accuracy_drop_pp") is not None:
            figs["accuracy_drop_pp"] = Measured("accuracy_drop_pp", float(ev["accuracy_drop_pp"]), "pp", "measured",
                                                f"float minus quantized top-1 accuracy, {how}")
        else:
            missing["accuracy_drop_pp"] = "the evaluation data has no labels (accuracy needs them)"
        sqnr = [o["sqnr_db"] for o in ev.get("outputs", ()) if o.get("sqnr_db") is not None]
        if sqnr:
            figs["min_sqnr_db"] = Measured("min_sqnr_db", float(min(sqnr)), "dB", "measured",
                                           f"lowest output SQNR against the float model, {how}")
    needs_bench = d.bench and any(b in d.budgets for b in _BENCH_BUDGETS)
    if needs_bench:
        from edgeq.harness import run_bench

        progress(f"benchmarking on {d.device or ('qemu' if target.is_mcu else 'host')}")
        opts: dict = {"timeout_s": d.timeout_s} if d.timeout_s else {}
        if target.is_mcu:
            opts |= {"per_op": False, "samples": d.samples or 1, "seed": d.seed}
        elif d.samples:
            opts["runs"] = d.samples
        if (d.device or "").startswith(FARM_PREFIX):
            if remote_bench is None:
                raise ProjectError(f"[deployments.{d.name}]: device {d.device!r} is on a Ray cluster",
                                   hint="pass --ray-address HEAD:PORT (docs/farm.md)")
            bench, node = remote_bench(d.out_dir, target, d.device[len(FARM_PREFIX):], opts,
                                       f"[deployments.{d.name}]")
            if bench_node is not None:
                bench_node.append(node)
        else:
            bench = run_bench(str(d.out_dir), target, d.device, **opts)
        if bench.output_matches_reference is False and target.is_mcu:  # generated C must be bit-exact with TFLM
            raise EdgeqError(f"{d.out_dir}: the model's output on {bench.device} does not match the reference "
                             f"({'; '.join(bench.notes)})", hint="a codegen/runtime bug: please report it")
        _save_bench(d.out_dir, bench)
        if bench.output_matches_reference is False:
            notes.append(f"bench on {bench.device}: the output differs from the reference beyond the runner's "
                         "tolerance (the figures are kept; see bench.json)")
        notes += [f"bench: {n}" for n in bench.notes]
        for budget, names in _FIGURES.items():
            f = next((bench.figure(n) for n in names if bench.figure(n) is not None), None)
            if f is not None:
                figs[budget] = Measured(f.name, float(f.value), f.unit, f.kind, f.method, bench.device)
        if "flash_bytes" not in figs and rep.get("tflite"):
            figs["flash_bytes"] = Measured("tflite_bytes", float(rep["tflite"]["tflite_bytes"]), "B", "measured",
                                           "size of model.tflite (what the app ships)")
    for b in d.budgets:
        if b not in figs and b not in missing:
            missing[b] = ("no bench was run" if b in _BENCH_BUDGETS and not needs_bench else
                          f"the {'bench' if b in _BENCH_BUDGETS else 'evaluation'} did not produce this figure")
    return figs, missing, notes


def _save_bench(out: Path, bench) -> None:
    """bench.json next to the report, and the figures in the report (as `edgeq bench FOLDER` does)."""
    from edgeq import report
    from edgeq.outdir import add_to_manifest, write_file

    data = asdict(bench) | {"log": None}
    write_file(out / "bench.json", json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    rep["bench"] = data
    written = report.write(rep, out)
    add_to_manifest(out, ["bench.json", *(str(p.relative_to(out)) for p in written)], "build")


def _fmt(v: float, unit: str) -> str:
    if unit in ("B", "cycles", "instructions"):
        return f"{v:,.0f} {unit}"
    return f"{v:,.3f} {unit}" if abs(v) < 1000 else f"{v:,.1f} {unit}"


def _kind(f: Measured) -> str:
    """`estimated`, `emulated on qemu:mps2-an386`, `measured on host` (a host run is not the device)."""
    return f"{f.kind} on {f.where}" if f.where else f.kind


def _gates(d: Deployment, figs: Mapping[str, Measured], missing: Mapping[str, str]) -> tuple[Gate, ...]:
    gates = []
    for budget, limit in d.budgets.items():
        unit, sense, _ = BUDGETS[budget]
        f = figs.get(budget)
        if f is None:
            gates.append(Gate(d.name, budget, limit, unit, False, None,
                              f"{budget}: not measured ({missing.get(budget, 'no figure')})"))
            continue
        ok = f.value <= limit if sense == "max" else f.value >= limit
        cmp = ("<=" if ok else ">") if sense == "max" else (">=" if ok else "<")
        msg = f"{budget}: {_fmt(f.value, unit)} {cmp} budget {_fmt(limit, unit)}"
        if not ok:
            excess = abs(f.value - limit)
            rel = f" ({100 * excess / limit:+.0f}%)" if sense == "max" and limit else ""
            msg += f", {'over' if sense == 'max' else 'under'} by {_fmt(excess, unit)}{rel}"
        msg += f" [{_kind(f)}]"
        gates.append(Gate(d.name, budget, limit, unit, ok, f, msg))
    return tuple(gates)


# ------------------------------------------------------------------------------------------------ CI output
def junit_xml(res: BuildResult) -> str:
    """One <testsuite> per deployment, one <testcase> per budget (a deployment without budgets: one `build`)."""
    suites = []
    tests = failures = errors = 0
    for d in res.deployments:
        cases = []
        gates = d.gates or (Gate(d.name, "build", 0, "", d.error is None, None, "built"),)
        n_fail = n_err = 0
        for g in gates:
            body = ""
            if d.error:
                n_err += 1
                body = (f'<error message={quoteattr(g.message)} type="BuildError">'
                        f"{escape(d.error)}</error>")
            elif not g.passed:
                n_fail += 1
                how = f"{g.figure.name}, {_kind(g.figure)}: {g.figure.method}" if g.figure else g.message
                body = f'<failure message={quoteattr(g.message)} type="BudgetExceeded">{escape(how)}</failure>'
            elif g.figure:
                body = f"<system-out>{escape(g.message + ': ' + g.figure.method)}</system-out>"
            cases.append(f'    <testcase classname={quoteattr("edgeq." + d.name)} name={quoteattr(g.budget)}>'
                         f"{body}</testcase>")
        props = "".join(f"<property name={quoteattr(k)} value={quoteattr(v)}/>"
                        for k, v in (("target", d.target), ("out", d.out_dir)))
        suites.append(f'  <testsuite name={quoteattr(d.name)} tests="{len(gates)}" failures="{n_fail}" '
                      f'errors="{n_err}" skipped="0">\n    <properties>{props}</properties>\n'
                      + "\n".join(cases) + "\n  </testsuite>")
        tests, failures, errors = tests + len(gates), failures + n_fail, errors + n_err
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{JUNIT_MARK} tests="{tests}" failures="{failures}" '
            f'errors="{errors}">\n' + "\n".join(suites) + "\n</testsuites>\n")


def summary_markdown(res: BuildResult) -> str:
    """A table for a CI job summary: one row per deployment x budget, with the figure's kind."""
    bad = [d for d in res.deployments if not d.passed]
    head = (f"all {len(res.deployments)} deployment(s) within budget" if not bad else
            f"{len(bad)} of {len(res.deployments)} deployment(s) failed: {', '.join(d.name for d in bad)}")
    lines = [SUMMARY_MARK, f"## edgeq build: {head}", "",
             "| deployment | target | budget | limit | figure | kind | result |",
             "| --- | --- | --- | ---: | ---: | --- | --- |"]
    for d in res.deployments:
        for g in d.gates:
            fig = _fmt(g.figure.value, g.unit) if g.figure else "-"
            if d.error:
                result = "**ERROR**"
            elif g.passed:
                result = "pass"
            elif g.figure is None:
                result = "**FAIL**: not measured"
            else:
                result = f"**FAIL**: {'over' if BUDGETS[g.budget][1] == 'max' else 'under'} by " \
                         f"{_fmt(abs(g.excess or 0), g.unit)}"
            lines.append(f"| {d.name} | {d.target} | `{g.budget}` | {_fmt(g.limit, g.unit)} | {fig} | "
                         f"{_kind(g.figure) if g.figure else '-'} | {result} |")
        if not d.gates:
            lines.append(f"| {d.name} | {d.target} | - | - | - | - | {'**ERROR**' if d.error else 'built'} |")
    for d in res.deployments:
        if d.error:
            lines += ["", f"**{d.name}**: {d.error.splitlines()[0]}"]
    lines += ["", "kind: measured (on the device or from the build), emulated (counted in an emulator), estimated "
                  "(a model: cycles/ms/energy from instruction counts and the profile)."]
    return "\n".join(lines) + "\n"


def check_report_path(path: str | Path, mark: str, inputs: Sequence[str | Path] = ()) -> None:
    """A --junit/--summary file may be new, or one edgeq build wrote before; never a file of the user's."""
    from edgeq.outdir import prepare_out_file

    p = Path(path)
    ours = False
    if any(inp and p.exists() and Path(inp).exists() and Path(inp).resolve() == p.resolve() for inp in inputs):
        raise UsageError(f"{p}: is your input; edgeq never overwrites a file it reads",
                         hint="write the report to another file, e.g. build/edgeq-junit.xml")
    if p.is_file() and p.stat().st_size:
        try:
            ours = mark in p.read_text(encoding="utf-8", errors="replace")[:400]
        except OSError as e:
            raise UsageError(f"{p}: cannot read it ({e.strerror or e})") from None
        if not ours:
            raise UsageError(f"{p}: exists and was not written by edgeq build; refusing to overwrite it",
                             hint="choose another file name, or delete it first")
    # new, empty (a CI runner's placeholder) or ours: replaceable; still never an input, a folder, unwritable
    prepare_out_file(p, force=True, inputs=inputs)
