"""Cortex-M harness, build half: model sources (generated C, header macros, MACs), test inputs, the firmware
build with arm-none-eabi-gcc and the linker-map sizes. Pipeline position: bench stage (see __init__)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq import objcache
from edgeq.errors import EdgeqError, ModelError, ToolMissing, UsageError

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_STACK_BYTES = 0x10000
APT_GCC = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
APT_QEMU = "apt-get install qemu-system-arm"
_QEMU_MACHINES = ("mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547")


# ------------------------------------------------------------------------------------------------ paths


def boards_dir() -> Path:
    """targets/boards: startup code, linker scripts and the harness main.c."""
    from edgeq.target import targets_dir

    return targets_dir() / "boards"


def makefile_path() -> Path:
    """The make fragment firmware projects include (`include $(shell edgeq makefile)`)."""
    from edgeq.target import targets_dir

    return targets_dir() / "edgeq.mk"


def find_tool(name: str) -> str:
    """Path of an external tool, or ToolMissing with the install command."""
    path = shutil.which(name)
    if path:
        return path
    hint = APT_QEMU if name.startswith("qemu") else APT_GCC
    raise ToolMissing(f"{name} not found on PATH (needed to build/run Cortex-M firmware)", hint=hint)


# ------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class ModelHeader:
    """The macros of edgeq_model.h (docs/codegen-api.md)."""

    num_inputs: int
    num_outputs: int
    arena_bytes: int
    num_ops: int
    input_sizes: tuple[int, ...]
    output_sizes: tuple[int, ...]
    input_zero_points: tuple[int, ...]


_DEFINE = re.compile(r"^\s*#\s*define\s+(EDGEQ_MODEL_\w+)\s+(.+?)\s*(?:/\*.*)?$", re.M)


def parse_model_header(path: Path) -> ModelHeader:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ModelError(
            f"{path}: cannot read the generated model header: {e.strerror}",
            hint="run `edgeq codegen MODEL -o DIR` (or `edgeq convert --target cortex-m4`) first",
        ) from None
    macros = {m.group(1): m.group(2) for m in _DEFINE.finditer(text)}

    def num(name: str, default: int | None = None) -> int:
        raw = macros.get(name)
        if raw is None:
            if default is not None:
                return default
            raise ModelError(
                f"{path}: missing #define {name}", hint="the header must follow docs/codegen-api.md"
            )
        raw = raw.strip("() ").rstrip("uUlL")
        try:
            return int(raw, 0)
        except ValueError:
            raise ModelError(f"{path}: #define {name} {raw!r} is not an integer") from None

    n_in, n_out = num("EDGEQ_MODEL_NUM_INPUTS"), num("EDGEQ_MODEL_NUM_OUTPUTS")
    return ModelHeader(
        num_inputs=n_in,
        num_outputs=n_out,
        arena_bytes=num("EDGEQ_MODEL_ARENA_SIZE"),
        num_ops=num("EDGEQ_MODEL_NUM_OPS"),
        input_sizes=tuple(num(f"EDGEQ_MODEL_INPUT{i}_SIZE") for i in range(n_in)),
        output_sizes=tuple(num(f"EDGEQ_MODEL_OUTPUT{i}_SIZE") for i in range(n_out)),
        input_zero_points=tuple(num(f"EDGEQ_MODEL_INPUT{i}_ZERO_POINT", 0) for i in range(n_in)),
    )


@dataclass(frozen=True)
class ModelSources:
    """A generated model ready to compile, plus what is known about its ops."""

    name: str
    model_dir: Path  # holds edgeq_model.c/.h and edgeq_runtime/
    header: ModelHeader
    tflite: Path | None
    op_names: tuple[str, ...] = ()
    op_macs: tuple[int, ...] = ()
    macs_source: str = ""

    @property
    def c_sources(self) -> list[Path]:
        srcs = [self.model_dir / "edgeq_model.c"]
        srcs += sorted((self.model_dir / "edgeq_runtime" / "src").glob("*.c"))
        return srcs

    @property
    def include_dirs(self) -> list[Path]:
        dirs = [self.model_dir]
        inc = self.model_dir / "edgeq_runtime" / "include"
        if inc.is_dir():
            dirs.append(inc)
        return dirs


def _graph_macs(tflite: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Op names and multiply-accumulates per op, counted from the .tflite shapes (no TensorFlow)."""
    from edgeq.graph import load

    g = load(tflite)
    sg = g.main
    names, macs = [], []
    for op in sg.operators:
        ins, outs = sg.op_inputs(op), sg.op_outputs(op)
        n = 0
        out_elems = outs[0].num_elements if outs else 0
        w = ins[1] if len(ins) > 1 else None
        if op.opcode in ("CONV_2D", "TRANSPOSE_CONV") and w is not None and len(w.shape) == 4:
            if op.opcode == "CONV_2D":
                n = out_elems * w.shape[1] * w.shape[2] * w.shape[3]
            else:  # MACs over the input: each input element meets kh*kw*cout weights
                x = ins[2] if len(ins) > 2 and ins[2] is not None else None
                n = (x.num_elements if x else 0) * w.shape[0] * w.shape[1] * w.shape[2]
        elif op.opcode == "DEPTHWISE_CONV_2D" and w is not None and len(w.shape) == 4:
            n = out_elems * w.shape[1] * w.shape[2]
        elif op.opcode in ("FULLY_CONNECTED", "BATCH_MATMUL") and w is not None and w.shape:
            n = out_elems * w.shape[-1 if op.opcode == "FULLY_CONNECTED" else -2]
        names.append(op.opcode)
        macs.append(int(n))
    return tuple(names), tuple(macs)


def resolve_model(model_path: str | Path, workdir: Path) -> ModelSources:
    """An edgeq build folder as is, or a .tflite run through the generator into `workdir`/model."""
    p = Path(model_path)
    if p.is_dir():
        header = parse_model_header(p / "edgeq_model.h")
        if not (p / "edgeq_model.c").is_file():
            raise ModelError(
                f"{p}: no edgeq_model.c in the build folder",
                hint="the folder must hold the generated C model (docs/codegen-api.md)",
            )
        tfl = p / "model.tflite"
        tflite = tfl if tfl.is_file() else None
        names, macs, src = (), (), ""
        if tflite is not None:
            names, macs = _graph_macs(tflite)
            src = "counted from the .tflite tensor shapes"
            gen = _generator_ops(tflite)
            if gen is not None and len(gen[0]) == header.num_ops:  # the generator's op numbering
                names, macs, src = gen[0], gen[1], "from the code generator"
        return ModelSources(p.name if p.name else str(p), p, header, tflite, names, macs, src)
    if p.suffix == ".tflite":
        if not p.is_file():
            raise ModelError(f"{p}: model file not found")
        try:
            from edgeq.codegen import generate
        except ImportError as e:
            raise EdgeqError(
                f"edgeq.codegen is not available to turn {p} into C: {e}",
                hint="pass an edgeq build folder (edgeq convert --target cortex-m4 -o DIR)",
            ) from None
        from edgeq.graph import load

        out = workdir / "model"
        res = generate(load(p), out)
        shutil.copyfile(p, out / "model.tflite")
        names, macs = _graph_macs(p)
        src = "counted from the .tflite tensor shapes"
        gen_macs = _result_op_macs(res)
        if gen_macs is not None and len(gen_macs) == len(names):
            macs, src = gen_macs, "from the code generator"
        return ModelSources(
            p.stem, out, parse_model_header(out / "edgeq_model.h"), out / "model.tflite", names, macs, src
        )
    raise UsageError(f"{p}: expected a .tflite file or an edgeq build folder (with edgeq_model.c/.h)")


def _generator_ops(tflite: Path) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """Op names and MACs in the order the generator emits them (render() writes no files), if it can."""
    try:
        from edgeq.codegen import render
        from edgeq.graph import load

        ops = render(load(tflite)).ops
        return tuple(o.opcode for o in ops), tuple(int(o.macs) for o in ops)
    except (ImportError, EdgeqError, AttributeError):
        return None


def _result_op_macs(res) -> tuple[int, ...] | None:
    """Per-op MACs from a codegen result, whichever of the likely shapes it has."""
    for attr in ("op_macs", "macs_per_op"):
        v = getattr(res, attr, None)
        if v is not None:
            return tuple(int(x) for x in v)
    ops = getattr(res, "ops", None) or getattr(res, "per_op", None)
    if ops:
        try:
            return tuple(int(o.macs) for o in ops)
        except (AttributeError, TypeError, ValueError):
            return None
    return None


# ------------------------------------------------------------------------------------------------ inputs


def make_inputs(header: ModelHeader, samples: int = 1, seed: int = 0) -> list[list[np.ndarray]]:
    """Deterministic int8 test inputs covering the whole int8 range, one list of input arrays per sample."""
    rng = np.random.default_rng(seed)
    return [
        [rng.integers(-128, 128, size=n, dtype=np.int16).astype(np.int8) for n in header.input_sizes]
        for _ in range(samples)
    ]


def harness_data_lines(header: ModelHeader, inputs: Sequence[Sequence[np.ndarray]], title: str, ctype: str,
                       values: Callable[[int, int, np.ndarray], tuple[int, str]]) -> list[str]:
    """eq_harness_data.c's common part for model I/O of C type ctype (see main.c): each sample's inputs as const
    arrays (flash; values(sample, input, array) checks one and gives its element count and C initializer), the
    output buffers, their sizes; the tables main.c reads hold them as int8_t pointers."""
    size = {"int8_t": 1, "int16_t": 2, "float": 4}[ctype]
    cast = "" if ctype == "int8_t" else "(const int8_t *)"
    lines = [title, '#include "eq_harness_data.h"', ""]
    refs = []
    for s, sample in enumerate(inputs):
        if len(sample) != header.num_inputs:
            raise UsageError(f"sample {s} has {len(sample)} inputs; the model takes {header.num_inputs}")
        for i, arr in enumerate(sample):
            n, body = values(s, i, arr)
            lines.append(f"static const {ctype} eq_in_{s}_{i}[{n}] __attribute__((aligned(16))) = {{{body}}};")
            refs.append(f"{cast}eq_in_{s}_{i}")
    lines.append(f"static const int8_t *const eq_in_table[{len(refs)}] = {{{', '.join(refs)}}};")
    for j, n in enumerate(header.output_sizes):
        lines.append(f"static {ctype} eq_out_{j}[{(n + size - 1) // size}] __attribute__((aligned(16)));")
    out_bufs = ", ".join(f"{cast.replace('const ', '')}eq_out_{j}" for j in range(header.num_outputs))
    out_sizes = ", ".join(str(n) for n in header.output_sizes)
    return lines + [
        f"const int eq_num_samples = {len(inputs)};",
        "const int8_t *const *const eq_sample_inputs = eq_in_table;",
        f"int8_t *const eq_outputs[EDGEQ_MODEL_NUM_OUTPUTS] = {{{out_bufs}}};",
        f"const uint32_t eq_output_sizes[EDGEQ_MODEL_NUM_OUTPUTS] = {{{out_sizes}}};",
        "",
    ]


def write_harness_data(path: Path, header: ModelHeader, inputs: Sequence[Sequence[np.ndarray]]) -> None:
    """eq_harness_data.c: the test inputs as const arrays (flash), output buffers, sizes (see main.c)."""

    def values(s: int, i: int, arr: np.ndarray) -> tuple[int, str]:
        b = np.ascontiguousarray(arr).astype(np.int8, copy=False).tobytes()
        if len(b) != header.input_sizes[i]:
            raise UsageError(f"sample {s} input {i}: {len(b)} bytes, the model expects {header.input_sizes[i]}")
        return len(b), ",".join(str(v) for v in np.frombuffer(b, dtype=np.int8))

    title = "/* Generated by edgeq.harness.cortexm: test inputs of the benchmark firmware. */"
    path.write_text("\n".join(harness_data_lines(header, inputs, title, "int8_t", values)), encoding="utf-8")


def reference_outputs(
    tflite: Path, inputs: Sequence[Sequence[np.ndarray]], num_outputs: int
) -> list[list[bytes]]:
    """Outputs of the tflite-micro Python interpreter (the TFLM kernels) on the same inputs."""
    from edgeq.convert import TflmError, tflm_interpreter

    try:
        interp = tflm_interpreter(tflite.read_bytes())
    except TflmError as e:
        raise ModelError(f"{tflite}: {e}", hint="the reference outputs come from tflite-micro's interpreter") from None
    in_details = interp.get_input_details
    out: list[list[bytes]] = []
    for sample in inputs:
        for i, arr in enumerate(sample):
            d = in_details(i)
            interp.set_input(np.asarray(arr).reshape(d["shape"]).astype(d["dtype"]), i)
        interp.invoke()
        out.append([np.ascontiguousarray(interp.get_output(j)).tobytes() for j in range(num_outputs)])
        interp.reset()
    return out


# ------------------------------------------------------------------------------------------------ build


@dataclass(frozen=True)
class Firmware:
    elf: Path
    map_path: Path
    board: str
    profile: bool
    objects: dict[str, str] = field(default_factory=dict)  # object path -> group (model/runtime/harness)
    compiled: tuple[str, ...] = ()  # sources compiled by this build (the rest came from the object cache)


def board_for(target, device_kind: str, board: str | None = None) -> str:
    """Board folder for a run: explicit, else the profile's [emulator] board/qemu_machine (QEMU), else the
    hardware board whose board.txt names the profile's core (pyOCD / serial)."""
    if board:
        name = board
    elif device_kind == "qemu":
        name = target.emulator.board or target.emulator.qemu_machine
        if not name:
            raise UsageError(
                f"target {target.name!r} names no QEMU machine",
                hint='add [emulator] qemu_machine = "mps2-an386" to the profile',
            )
    else:
        name = ""
        for cand in sorted(boards_dir().glob("*/board.txt")):
            info = _board_info(cand.parent.name)
            if info.get("core") == target.cpu.core:
                name = cand.parent.name
                break
        if not name:
            raise UsageError(
                f"no hardware board folder for core {target.cpu.core!r} in {boards_dir()}",
                hint="pass board=NAME, or add targets/boards/<board>/ with link.ld and board.txt",
            )
    if not (boards_dir() / name / "link.ld").is_file():
        avail = sorted(p.parent.name for p in boards_dir().glob("*/link.ld"))
        raise UsageError(
            f"no board folder {name!r} with a link.ld in {boards_dir()}",
            hint=f"available boards: {', '.join(avail)}",
        )
    return name


def _board_info(board: str) -> dict[str, str]:
    """targets/boards/<board>/board.txt: `key = value` lines (core, pyocd_target, clock_hz, uart_baud)."""
    path = boards_dir() / board / "board.txt"
    info: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if "=" in line:
                k, v = line.split("=", 1)
                info[k.strip()] = v.strip().strip('"')
    return info


def _run_tool(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)
    except FileNotFoundError:
        raise ToolMissing(f"{cmd[0]} not found", hint=APT_GCC) from None
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip()
        if len(msg) > 4000:
            msg = msg[:4000] + "\n..."
        hint = "check the generated sources" if what.startswith("compile") else "see the linker message"
        if "will not fit in region" in msg or "overflowed by" in msg:
            hint = "the model does not fit the board's memory regions (targets/boards/<board>/link.ld)"
        raise EdgeqError(f"{what} failed:\n{msg}", hint=hint)
    return proc.stdout


def build_firmware(
    model: ModelSources,
    board: str,
    gcc_flags: Sequence[str],
    out_dir: Path,
    *,
    profile: bool = False,
    io: str = "semihost",
    counter: str = "systick",
    extra_sources: Sequence[Path] = (),
    extra_cflags: Sequence[str] = (),
    stack_bytes: int = DEFAULT_STACK_BYTES,
    jobs: int = 2,
) -> Firmware:
    """Compile model + runtime + harness for `board` and link fw.elf (with a linker map) in `out_dir`."""
    gcc = find_tool("arm-none-eabi-gcc")
    common, bdir = boards_dir() / "common", boards_dir() / board
    out_dir.mkdir(parents=True, exist_ok=True)
    cflags = [
        *gcc_flags,
        "-O2",
        "-g",
        "-std=gnu11",
        "-Wall",
        "-ffunction-sections",
        "-fdata-sections",
        f'-DEQ_BOARD_NAME="{board}"',
    ]
    if profile:
        cflags.append("-DEDGEQ_PROFILE")
    if io == "uart":
        cflags.append("-DEQ_IO_UART")
    elif io == "memlog":
        cflags.append("-DEQ_IO_MEMLOG")
    if counter == "dwt":
        cflags.append("-DEQ_COUNTER_DWT")
    cflags += list(extra_cflags)
    incs = [f"-I{d}" for d in (*model.include_dirs, out_dir, bdir, common)]
    units: list[tuple[Path, str]] = [
        (s, "model" if s.name == "edgeq_model.c" else "runtime") for s in model.c_sources
    ]
    units += [(s, "harness") for s in sorted(common.glob("*.c"))]
    units += [(s, "harness") for s in sorted(bdir.glob("*.c"))]
    units += [(Path(s), "harness") for s in extra_sources]
    objs: dict[str, str] = {}
    jobs_: list[tuple[Path, Path, bool]] = []  # (source, object, cacheable)
    per_model = {Path(s).resolve() for s in extra_sources} | {model.model_dir.resolve() / "edgeq_model.c"}
    for src, group in units:
        obj = out_dir / "obj" / group / (src.stem + ".o")
        obj.parent.mkdir(parents=True, exist_ok=True)
        objs[str(obj)] = group
        jobs_.append((src, obj, Path(src).resolve() not in per_model))

    def compile_one(src: Path, obj: Path, cacheable: bool) -> bool:
        what = f"compile {src.name} for {board}"
        if cacheable:  # runtime and harness sources: the same objects for every model (edgeq.objcache)
            return objcache.compile_cached(gcc, [*cflags, *incs], src, obj, _run_tool, what)
        _run_tool([gcc, *cflags, *incs, "-c", str(src), "-o", str(obj)], what)
        return False

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = [(j[0], pool.submit(compile_one, *j)) for j in jobs_]
        hits = [src for src, f in futs if f.result()]
    compiled = tuple(src.name for src, _, _ in jobs_ if src not in hits)
    if len(hits) < sum(1 for j in jobs_ if j[2]):
        objcache.prune()
    elf, mapf = out_dir / "fw.elf", out_dir / "fw.map"
    link = [
        gcc,
        *gcc_flags,
        "-nostartfiles",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-Wl,--gc-sections",
        f"-Wl,--defsym=__stack_size={stack_bytes}",
        f"-L{common}",
        f"-T{bdir / 'link.ld'}",
        f"-Wl,-Map={mapf}",
        *objs,
        "-o",
        str(elf),
        "-lgcc",
    ]
    _run_tool(link, f"link firmware for {board}")
    return Firmware(elf, mapf, board, profile, objs, compiled)


# ------------------------------------------------------------------------------------------------ runtime size

_RUNTIME_SIZES: dict[tuple, int] = {}
_CALL = re.compile(r"\b(edgeq_[A-Za-z0-9_]+)\b")  # calls and function-pointer uses alike


def runtime_flash_bytes(model_c: str, gcc_flags: Sequence[str], board: str = "", config_h: str = "") -> int | None:
    """Flash bytes (text + rodata + data) of edgeq's C runtime that a firmware keeps for a model whose generated
    edgeq_model.c is `model_c` (and edgeq_config.h `config_h`: the model's scratch sizes, which change the code GCC
    emits; empty: the runtime's defaults): the runtime objects (compiled with the firmware build's flags, through
    the object cache) linked with --gc-sections, rooted at the runtime symbols the model names; the same figure as
    the `runtime` group of the benchmark firmware's map. None when arm-none-eabi-gcc is not installed."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return None
    from edgeq.codegen import RUNTIME_DIR

    calls = tuple(sorted(set(_CALL.findall(model_c))))
    key = (gcc, tuple(gcc_flags), board, calls, config_h, objcache.compiler_id(gcc))
    if key in _RUNTIME_SIZES:
        return _RUNTIME_SIZES[key]
    import tempfile

    srcs = sorted((RUNTIME_DIR / "src").glob("*.c"))
    with tempfile.TemporaryDirectory(prefix="edgeq-rtsize-") as tmp:
        t = Path(tmp)
        inc = RUNTIME_DIR / "include"
        if config_h:  # a copy of the headers with the model's config: edgeq_common.h's #include "edgeq_config.h"
            # finds the file beside it before any -I path
            inc = t / "include"
            shutil.copytree(RUNTIME_DIR / "include", inc)
            (inc / "edgeq_config.h").write_text(config_h)
        includes = [f"-I{inc}"]
        cflags = [*gcc_flags, "-O2", "-g", "-std=gnu11", "-Wall", "-ffunction-sections", "-fdata-sections",
                  f'-DEQ_BOARD_NAME="{board}"', *includes]
        objs = [t / (src.stem + ".o") for src in srcs]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for f in [pool.submit(objcache.compile_cached, gcc, cflags, src, obj, _run_tool,
                                  f"compile {src.name} (runtime size)") for src, obj in zip(srcs, objs)]:
                f.result()
        nm = shutil.which("arm-none-eabi-nm") or "arm-none-eabi-nm"
        defined = set()
        for line in _run_tool([nm, "--defined-only", "-g", *map(str, objs)], "list runtime symbols").splitlines():
            parts = line.split()
            if len(parts) == 3:
                defined.add(parts[2])
        roots = [c for c in calls if c in defined]
        if not roots:
            _RUNTIME_SIZES[key] = 0
            return 0
        mapf = t / "rt.map"
        _run_tool([gcc, *gcc_flags, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                   "-Wl,--gc-sections", f"-Wl,-e,{roots[0]}", *(f"-Wl,--require-defined={r}" for r in roots),
                   f"-Wl,-Map={mapf}", *map(str, objs), "-o", str(t / "rt.elf"), "-lgcc"],
                  "link the runtime (runtime size)")
        size = map_sizes(mapf, {str(o): "runtime" for o in objs}).get("runtime", SectionSizes()).flash
    _RUNTIME_SIZES[key] = size
    return size


# ------------------------------------------------------------------------------------------------ sizes


@dataclass(frozen=True)
class SectionSizes:
    text: int = 0
    rodata: int = 0
    data: int = 0
    bss: int = 0

    @property
    def flash(self) -> int:
        return self.text + self.rodata + self.data  # .data's initial values live in flash too

    @property
    def ram(self) -> int:
        return self.data + self.bss


_MAP_ENTRY = re.compile(r"^ (\.[\w.$]+|COMMON)?\s*0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


def map_sizes(map_path: Path, objects: dict[str, str]) -> dict[str, SectionSizes]:
    """Bytes kept after --gc-sections per group (model, runtime, harness, libc) from a GNU ld map file."""
    text = map_path.read_text(encoding="utf-8", errors="replace")
    start = text.find("Linker script and memory map")
    lines = text[start:].splitlines() if start >= 0 else []
    acc: dict[str, dict[str, int]] = {}
    pending: str | None = None
    for line in lines:
        name_only = re.match(r"^ (\.[\w.$]+|COMMON)\s*$", line)
        if name_only:
            pending = name_only.group(1)
            continue
        m = _MAP_ENTRY.match(line)
        if not m:
            pending = None
            continue
        sect = m.group(1) or pending
        pending = None
        if not sect:
            continue
        size, origin = int(m.group(3), 16), m.group(4).strip()
        if size == 0 or origin.startswith("*fill*") or "load address" in origin:
            continue
        if sect.startswith((".text", ".vectors", ".glue", ".vfp11", ".v4_bx", ".ARM.ex")):
            kind = "text"
        elif sect.startswith(".rodata"):
            kind = "rodata"
        elif sect.startswith(".data"):
            kind = "data"
        elif sect.startswith(".bss") or sect == "COMMON":
            kind = "bss"
        else:
            continue
        group = objects.get(origin) or ("libc" if ".a(" in origin or origin.endswith(".a") else "other")
        acc.setdefault(group, {}).setdefault(kind, 0)
        acc[group][kind] += size
    return {g: SectionSizes(**v) for g, v in acc.items()}


def _elf_symbols(elf: Path) -> dict[str, int]:
    nm = find_tool("arm-none-eabi-nm")
    out = _run_tool([nm, str(elf)], f"read symbols of {elf}")
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return syms
