"""Bench stage, Cortex-M: build a firmware around the generated C model and run it in QEMU or on a board.

Pipeline position: after export (edgeq_model.c/.h from `edgeq.codegen.generate`), before report.

What `bench_cortexm` does:

1. Resolves the model: an edgeq build folder (edgeq_model.c/.h, edgeq_runtime/, usually model.tflite) or a
   `.tflite` (then the generator writes the C into a temporary folder).
2. Generates `eq_harness_data.c` with the test input(s) (seeded random int8 unless given), and builds a
   firmware with arm-none-eabi-gcc: the profile's `[cpu] gcc_flags`, -O2, per-function/data sections with
   --gc-sections, newlib-nano without its startup files (targets/boards/common/startup.c is ours), the board's
   linker script (targets/boards/<board>/link.ld). A second build with -DEDGEQ_PROFILE gives per-op counts;
   the headline figures always come from the build without the hook.
3. Runs it: `qemu-system-arm -M <machine> -icount shift=0` with semihosting output and exit code, or on a
   board through pyOCD (results read from a RAM mailbox) or a UART (pyserial).
4. Checks the output bytes against the tflite-micro Python interpreter (what TFLM computes on a device) and
   turns counter ticks into figures.

Instruction counting in QEMU (kind "emulated"). With `-icount shift=0` QEMU advances its virtual clock by
exactly 1 ns per executed instruction, and SysTick (clocked from the CPU clock, CLKSOURCE=1) ticks once per
(1e9 / SysTick clock) instructions: 40 on mps2-an385/an386/an500 (25 MHz), 50 on mps2-an505 (20 MHz), 31.25 on
mps3-an547 (32 MHz). The ratio is not assumed: every firmware run starts with a calibration that times
`eq_spin(n)` — a SUBS/BNE loop of exactly 2n instructions — for n1 = 100,000 and n2 = 2,100,000 and takes
instructions per tick = 2 (n2 - n1) / (t2 - t1); the difference cancels the call overhead. SysTick is 24-bit:
its wraps are counted in an interrupt handler (and a wrap pending while the counter is read is accounted for),
so runs of any length are measured. Resolution is one tick (40 instructions on mps2-an386) at each end.

Cycles, milliseconds and energy are estimates (kind "estimated"): cycles = instructions x the profile's
`[cpu] cycles_per_instruction`, ms at `[cpu] clock_hz`, energy = cycles x `[energy] pj_per_cycle`. On a board
(device "pyocd[:ID]" or "serial:PORT") the firmware counts DWT->CYCCNT instead: cycles are "measured" and ms
follow from the clock the firmware ran at.

Memory (from the linker map of the firmware, after --gc-sections): model code (edgeq_model.o text), model
constants (its rodata: weights, requantization parameters), runtime code/constants (edgeq_runtime objects),
the whole firmware; RAM = the model's arena (EDGEQ_MODEL_ARENA_SIZE) + its other static data + the stack
high-water of the invoke (stack painted before, scanned after).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import DeviceError, EdgeqError, ModelError, ToolMissing, UsageError
from edgeq.harness import BenchResult, Figure, OpFigure

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


def write_harness_data(path: Path, header: ModelHeader, inputs: Sequence[Sequence[np.ndarray]]) -> None:
    """eq_harness_data.c: the test inputs as const arrays (flash), output buffers, sizes (see main.c)."""
    lines = [
        "/* Generated by edgeq.harness.cortexm: test inputs of the benchmark firmware. */",
        '#include "eq_harness_data.h"',
        "",
    ]
    refs = []
    for s, sample in enumerate(inputs):
        if len(sample) != header.num_inputs:
            raise UsageError(f"sample {s} has {len(sample)} inputs; the model takes {header.num_inputs}")
        for i, arr in enumerate(sample):
            b = np.ascontiguousarray(arr).astype(np.int8, copy=False).tobytes()
            if len(b) != header.input_sizes[i]:
                raise UsageError(
                    f"sample {s} input {i}: {len(b)} bytes, the model expects {header.input_sizes[i]}"
                )
            body = ",".join(str(v) for v in np.frombuffer(b, dtype=np.int8))
            lines.append(
                f"static const int8_t eq_in_{s}_{i}[{len(b)}] __attribute__((aligned(16))) = {{{body}}};"
            )
            refs.append(f"eq_in_{s}_{i}")
    lines.append(f"static const int8_t *const eq_in_table[{len(refs)}] = {{{', '.join(refs)}}};")
    for j, n in enumerate(header.output_sizes):
        lines.append(f"static int8_t eq_out_{j}[{n}] __attribute__((aligned(16)));")
    out_bufs = ", ".join(f"eq_out_{j}" for j in range(header.num_outputs))
    out_sizes = ", ".join(str(n) for n in header.output_sizes)
    lines += [
        f"const int eq_num_samples = {len(inputs)};",
        "const int8_t *const *const eq_sample_inputs = eq_in_table;",
        f"int8_t *const eq_outputs[EDGEQ_MODEL_NUM_OUTPUTS] = {{{out_bufs}}};",
        f"const uint32_t eq_output_sizes[EDGEQ_MODEL_NUM_OUTPUTS] = {{{out_sizes}}};",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def reference_outputs(
    tflite: Path, inputs: Sequence[Sequence[np.ndarray]], num_outputs: int
) -> list[list[bytes]]:
    """Outputs of the tflite-micro Python interpreter (the TFLM kernels) on the same inputs."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ToolMissing(
            "tflite-micro is not installed (needed for the reference outputs)",
            hint="pip install tflite-micro",
        ) from None
    interp = runtime.Interpreter.from_bytes(tflite.read_bytes())
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
    cmds = []
    for src, group in units:
        obj = out_dir / "obj" / group / (src.stem + ".o")
        obj.parent.mkdir(parents=True, exist_ok=True)
        objs[str(obj)] = group
        cmds.append(
            ([gcc, *cflags, *incs, "-c", str(src), "-o", str(obj)], f"compile {src.name} for {board}")
        )
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for f in [pool.submit(_run_tool, c, w) for c, w in cmds]:
            f.result()
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
    return Firmware(elf, mapf, board, profile, objs)


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


def qemu_command(elf: Path, machine: str) -> list[str]:
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
        "-kernel",
        str(elf),
    ]


def run_qemu(elf: Path, machine: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Run a firmware to its semihosting exit; DeviceError on a fault, a non-zero exit or a timeout."""
    if machine not in _QEMU_MACHINES:
        raise UsageError(
            f"QEMU machine {machine!r} has no board support here",
            hint=f"supported: {', '.join(_QEMU_MACHINES)}",
        )
    cmd = qemu_command(elf, machine)
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


def _pyocd_session(probe_id: str | None, pyocd_target: str | None):
    """An open-able pyOCD session for the chosen probe (lazy import: pyOCD is optional)."""
    try:
        from pyocd.core.helpers import ConnectHelper
    except ImportError:
        raise ToolMissing(
            "pyOCD is not installed (needed to flash and run a board)", hint="pip install pyocd"
        ) from None
    options = {"target_override": pyocd_target} if pyocd_target else {}
    session = ConnectHelper.session_with_chosen_probe(unique_id=probe_id, blocking=False, options=options)
    if session is None:
        raise DeviceError(
            f"no debug probe found{' with id ' + probe_id if probe_id else ''}",
            hint="connect the board over USB; `pyocd list` shows the probes",
        )
    return session


def flash_and_reset(elf: Path, probe_id: str | None, pyocd_target: str | None) -> None:
    """Program `elf` through pyOCD and let it run from reset (the serial:PORT path)."""
    session = _pyocd_session(probe_id, pyocd_target)
    from pyocd.flash.file_programmer import FileProgrammer

    with session:
        FileProgrammer(session).program(str(elf))
        session.board.target.reset()


def run_pyocd(elf: Path, probe_id: str | None, pyocd_target: str | None, timeout_s: float) -> str:
    """Flash and run a -DEQ_IO_MEMLOG firmware on a board through pyOCD; return its console text.

    The firmware writes its report into a RAM mailbox (eq_log_buf / eq_log_len) and sets eq_log_done; the host
    polls that word through the probe, so neither semihosting nor RTT is needed on the host side."""
    session = _pyocd_session(probe_id, pyocd_target)
    from pyocd.flash.file_programmer import FileProgrammer

    syms = _elf_symbols(elf)
    missing = [s for s in ("eq_log_buf", "eq_log_len", "eq_log_done", "eq_log_exit_code") if s not in syms]
    if missing:
        raise EdgeqError(
            f"{elf}: not a mailbox firmware (missing {', '.join(missing)})", hint='build it with io="memlog"'
        )
    with session:
        FileProgrammer(session).program(str(elf))
        target = session.board.target
        target.reset_and_halt()
        target.write32(syms["eq_log_done"], 0)
        target.resume()
        deadline = time.monotonic() + timeout_s
        while target.read32(syms["eq_log_done"]) != 0xE0D0E0D0:
            if time.monotonic() > deadline:
                target.halt()
                pc = target.read_core_register("pc")
                text = _read_mailbox(target, syms)
                raise DeviceError(
                    f"board run of {elf} timed out after {timeout_s:g} s (pc=0x{pc:08x})\n{_tail(text)}",
                    hint="raise timeout_s, or look up pc with arm-none-eabi-addr2line",
                )
            time.sleep(0.05)
        text = _read_mailbox(target, syms)
        code = target.read32(syms["eq_log_exit_code"])
    if code != 0:
        raise DeviceError(f"firmware {elf} on the board exited with status {code}\n{_tail(text)}")
    return text


def _read_mailbox(target, syms: dict[str, int]) -> str:
    n = min(target.read32(syms["eq_log_len"]), 1 << 20)
    return bytes(target.read_memory_block8(syms["eq_log_buf"], n)).decode(errors="replace")


def _elf_symbols(elf: Path) -> dict[str, int]:
    nm = find_tool("arm-none-eabi-nm")
    out = _run_tool([nm, str(elf)], f"read symbols of {elf}")
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    return syms


def run_serial(port: str, baud: int, timeout_s: float, on_open: Callable[[], None] | None = None) -> str:
    """Read the report of a -DEQ_IO_UART firmware from a serial port, up to its "EQ exit N" line.

    on_open runs once the port is open (flash + reset the board, start an emulator): output sent before the
    port is open would be lost."""
    try:
        import serial  # pyserial
    except ImportError:
        raise ToolMissing(
            "pyserial is not installed (needed for device serial:PORT)", hint="pip install pyserial"
        ) from None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        with serial.Serial(port, baud, timeout=0.5) as ser:
            ser.reset_input_buffer()
            if on_open is not None:
                on_open()
            while time.monotonic() < deadline:
                raw = ser.readline()
                if not raw:
                    continue
                line = raw.decode(errors="replace").rstrip("\r\n")
                lines.append(line)
                if line.startswith("EQ exit"):  # a fault prints "EQ fault ..." then "EQ exit 3"
                    break
    except serial.SerialException as e:
        raise DeviceError(
            f"serial port {port}: {e}", hint="check the port name and permissions (dialout group)"
        ) from None
    text = "\n".join(lines)
    if not any(ln.startswith("EQ exit") for ln in lines):
        raise DeviceError(
            f"no complete report on {port} within {timeout_s:g} s\n{_tail(text)}",
            hint="reset the board after opening the port, or raise timeout_s",
        )
    if any(ln.startswith("EQ fault") for ln in lines) or not any(ln == "EQ exit 0" for ln in lines):
        raise DeviceError(f"firmware on {port} failed\n{_tail(text)}")
    return text


# ------------------------------------------------------------------------------------------------ bench


def _check_int8_io(model: ModelSources, given: str) -> None:
    """The firmware passes int8 buffers to edgeq_model_invoke(); float/int16 I/O models need another path."""
    if model.tflite is None:
        return
    from edgeq.graph import load

    g = load(model.tflite)
    bad = [f"{t.name!r} ({t.dtype})" for t in (*g.inputs, *g.outputs) if t.dtype != "int8"]
    if bad:
        raise UsageError(
            f"{given}: the Cortex-M harness runs int8-I/O models; these inputs/outputs are not int8: "
            + ", ".join(bad),
            hint="convert with int8 I/O (the cortex-m profiles' default: `edgeq convert --io-dtype int8`)",
        )


def _parse_device(device: str) -> tuple[str, str]:
    kind, _, arg = (device or "qemu").partition(":")
    if kind not in ("qemu", "pyocd", "serial"):
        raise UsageError(
            f"unknown Cortex-M device {device!r}", hint="use qemu[:MACHINE], pyocd[:PROBE_ID] or serial:PORT"
        )
    if kind == "serial" and not arg:
        raise UsageError("device serial:PORT needs a port", hint="e.g. serial:/dev/ttyACM0")
    return kind, arg


def bench_cortexm(model_path: str, target, device: str = "qemu", **options) -> BenchResult:
    """Build, run and measure `model_path` on a Cortex-M `target` (edgeq.target.Target).

    device: "qemu" (the profile's machine), "qemu:MACHINE", "pyocd[:PROBE_ID]", "serial:PORT".
    options: timeout_s (120), samples (1; `runs` is an alias) or inputs (list per sample of int8 arrays),
    seed (0), per_op (True: a second, profiling build for per-op counts), board (board folder override),
    workdir (keep the build there), stack_bytes (65536), extra_cflags, extra_sources; serial:PORT only:
    baud (115200), flash ("pyocd": program and reset through `probe`, or "none": you flash and reset).
    A run that faults, exits non-zero or exceeds timeout_s raises DeviceError with the device output.
    """
    kind, arg = _parse_device(device)
    timeout_s = float(options.get("timeout_s", DEFAULT_TIMEOUT_S))
    per_op = bool(options.get("per_op", True))
    keep = options.get("workdir")
    tmp = None
    if keep:
        work = Path(keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="edgeq-bench-")
        work = Path(tmp.name)
    try:
        return _bench(model_path, target, kind, arg, work, timeout_s, per_op, options)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _bench(model_path, target, kind, arg, work: Path, timeout_s: float, per_op: bool, options) -> BenchResult:
    find_tool("arm-none-eabi-gcc")
    if kind == "qemu":
        find_tool("qemu-system-arm")
    model = resolve_model(model_path, work)
    _check_int8_io(model, model_path)
    board = board_for(target, kind, options.get("board") or (arg if kind == "qemu" and arg else None))
    machine = board
    binfo = _board_info(board)
    inputs = options.get("inputs")
    if inputs is None:
        n = int(options.get("samples", options.get("runs", 1)))  # `edgeq bench --runs N`: N test inputs
        inputs = make_inputs(model.header, n, int(options.get("seed", 0)))
    else:
        inputs = [[np.asarray(a) for a in s] for s in inputs]
    data_dir = work / "harness"
    data_dir.mkdir(parents=True, exist_ok=True)
    write_harness_data(data_dir / "eq_harness_data.c", model.header, inputs)

    io, counter = {"qemu": ("semihost", "systick"), "pyocd": ("memlog", "dwt"), "serial": ("uart", "dwt")}[
        kind
    ]
    build_kw = dict(
        io=io,
        counter=counter,
        stack_bytes=int(options.get("stack_bytes", DEFAULT_STACK_BYTES)),
        extra_sources=[data_dir / "eq_harness_data.c", *options.get("extra_sources", ())],
        extra_cflags=list(options.get("extra_cflags", ())),
    )
    gcc_flags = list(target.cpu.gcc_flags) or [f"-mcpu={target.cpu.core}", "-mthumb"]

    def run(fw: Firmware) -> FirmwareRun:
        if kind == "qemu":
            log = run_qemu(fw.elf, machine, timeout_s)
        elif kind == "pyocd":
            log = run_pyocd(fw.elf, arg or None, binfo.get("pyocd_target"), timeout_s)
        else:
            baud = int(options.get("baud", binfo.get("uart_baud", 115200)))
            flash = options.get("flash", "pyocd")  # "none": flash it yourself and press reset
            on_open = None
            if flash == "pyocd":
                probe, pt = options.get("probe"), binfo.get("pyocd_target")
                on_open = lambda: flash_and_reset(fw.elf, probe, pt)  # noqa: E731
            log = run_serial(arg, baud, timeout_s, on_open)
        return parse_log(log, model.header.num_outputs)

    fw = build_firmware(model, board, gcc_flags, work / "fw", **build_kw)
    res = run(fw)
    prof = None
    if per_op and model.header.num_ops > 0:
        prof = run(build_firmware(model, board, gcc_flags, work / "fw-profile", profile=True, **build_kw))
    sizes = map_sizes(fw.map_path, fw.objects)
    return _result(model, target, kind, arg, board, binfo, res, prof, sizes, inputs)


def _result(
    model: ModelSources,
    target,
    kind: str,
    arg: str,
    board: str,
    binfo: dict[str, str],
    res: FirmwareRun,
    prof: FirmwareRun | None,
    sizes: dict[str, SectionSizes],
    inputs,
) -> BenchResult:
    notes: list[str] = []
    figures: list[Figure] = []
    details: dict[str, str] = {"board": board, "counter": res.counter}
    device = f"qemu:{board}" if kind == "qemu" else f"{kind}:{arg}" if arg else kind

    # --- output check
    matches: bool | None = None
    if model.tflite is not None:
        try:
            ref = reference_outputs(model.tflite, inputs, model.header.num_outputs)
        except ToolMissing as e:
            notes.append(f"no reference comparison: {e.message} ({e.hint})")
        else:
            matches = True
            for s, run in enumerate(res.samples):
                for j, (got, want) in enumerate(zip(run.outputs, ref[s])):
                    if got != want:
                        matches = False
                        g, w = np.frombuffer(got, np.int8), np.frombuffer(want, np.int8)
                        if g.size != w.size:
                            notes.append(
                                f"output mismatch: sample {s} output {j} has {g.size} bytes, "
                                f"the reference {w.size}"
                            )
                        else:
                            bad = np.flatnonzero(g != w)
                            notes.append(
                                f"output mismatch vs tflite-micro: sample {s} output {j}: {bad.size} of "
                                f"{g.size} bytes differ (first at {bad[0]}: got {g[bad[0]]}, "
                                f"want {w[bad[0]]})"
                            )
    else:
        notes.append("no model.tflite next to the generated C: outputs not compared with a reference")

    # --- time
    ticks = sorted(r.ticks for r in res.samples)
    med_ticks = ticks[len(ticks) // 2]
    n_samples = len(res.samples)
    if res.counter == "systick":
        ipt = res.calibration.instructions_per_tick
        instructions = med_ticks * ipt
        details["instructions_per_systick_tick"] = f"{ipt:.6g}"
        details["calibration"] = (
            f"eq_spin {res.calibration.n1} -> {res.calibration.t1} ticks, "
            f"{res.calibration.n2} -> {res.calibration.t2} ticks"
        )
        figures.append(
            Figure(
                "instructions",
                float(round(instructions)),
                "instructions",
                "emulated",
                f"QEMU {board} -icount shift=0: SysTick ticks of one edgeq_model_invoke() x "
                f"{ipt:.6g} instructions/tick (calibrated with a loop of known length; "
                f"resolution {ipt:.3g}); median of {n_samples} run(s)",
            )
        )
        cycles = float(round(instructions * target.cpu.cycles_per_instruction))  # ms and energy use this figure
        figures.append(
            Figure(
                "cycles",
                cycles,
                "cycles",
                "estimated",
                f"instructions x {target.cpu.cycles_per_instruction} cycles/instruction "
                f"(profile {target.name} [cpu] cycles_per_instruction)",
            )
        )
        cyc_kind = "estimated"
    else:
        cycles = float(med_ticks)
        instructions = None
        figures.append(
            Figure(
                "cycles",
                cycles,
                "cycles",
                "measured",
                f"DWT->CYCCNT around one edgeq_model_invoke() on {board}; median of {n_samples} run(s)",
            )
        )
        cyc_kind = "measured"
        notes.append(
            "cycles measured at the clock the firmware runs at (reset clock, its flash wait states); "
            "the ms figure scales them to the profile clock"
        )
    if target.cpu.clock_hz:
        figures.append(
            Figure(
                "latency_ms",
                cycles / target.cpu.clock_hz * 1e3,
                "ms",
                "estimated",
                f"{'estimated' if cyc_kind == 'estimated' else 'measured'} cycles at the profile "
                f"clock {target.cpu.clock_hz / 1e6:g} MHz",
            )
        )
    if target.energy.pj_per_cycle:
        figures.append(
            Figure(
                "energy_uj",
                cycles * target.energy.pj_per_cycle * 1e-6,
                "uJ",
                "estimated",
                f"cycles x {target.energy.pj_per_cycle:g} pJ/cycle (profile [energy]"
                f"{'; ' + target.energy.source if target.energy.source else ''})",
            )
        )
    total_macs = sum(model.op_macs) if model.op_macs else 0
    if total_macs:
        figures.append(
            Figure(
                "macs",
                float(total_macs),
                "MAC",
                "estimated",
                f"multiply-accumulates per inference, {model.macs_source}",
            )
        )
        if instructions:
            figures.append(
                Figure(
                    "macs_per_instruction",
                    total_macs / instructions,
                    "MAC/instruction",
                    "emulated",
                    "MACs / emulated instructions",
                )
            )
        else:
            figures.append(
                Figure("macs_per_cycle", total_macs / cycles, "MAC/cycle", cyc_kind, "MACs / cycles")
            )

    # --- memory
    zero = SectionSizes()
    m, rt = sizes.get("model", zero), sizes.get("runtime", zero)
    fw_total = SectionSizes(
        *(sum(getattr(s, k) for s in sizes.values()) for k in ("text", "rodata", "data", "bss"))
    )
    how = f"linker map of the {board} firmware after --gc-sections"
    arena = model.header.arena_bytes
    model_flash = m.flash + rt.flash
    figures += [
        Figure("model_code_bytes", float(m.text), "B", "measured", f"edgeq_model.o .text, {how}"),
        Figure(
            "model_weights_bytes",
            float(m.rodata + m.data),
            "B",
            "measured",
            f"edgeq_model.o .rodata/.data (weights, biases, requantization parameters), {how}",
        ),
        Figure("runtime_code_bytes", float(rt.flash), "B", "measured", f"edgeq_runtime objects, {how}"),
        Figure(
            "flash_bytes",
            float(model_flash),
            "B",
            "measured",
            f"model + runtime code and constants, {how} (harness, libc and test data excluded)",
        ),
        Figure(
            "firmware_flash_bytes",
            float(fw_total.flash),
            "B",
            "measured",
            f"whole benchmark firmware (.text+.rodata+.data), {how}",
        ),
        Figure("arena_bytes", float(arena), "B", "measured", "EDGEQ_MODEL_ARENA_SIZE in edgeq_model.h"),
    ]
    stack_inv = max(r.stack_invoke_bytes for r in res.samples)
    stack_kind = "emulated" if kind == "qemu" else "measured"
    figures.append(
        Figure(
            "stack_bytes",
            float(stack_inv),
            "B",
            stack_kind,
            "stack high-water of edgeq_model_invoke(): stack painted before the call, scanned after",
        )
    )
    other_static = max(0, (m.ram + rt.ram) - arena)
    io_bytes = sum(model.header.input_sizes) + sum(model.header.output_sizes)
    ram = arena + other_static + stack_inv + io_bytes
    figures.append(
        Figure(
            "ram_bytes",
            float(ram),
            "B",
            stack_kind,
            f"arena {arena} + other model/runtime static data {other_static} + invoke stack {stack_inv} "
            f"+ the caller's input/output buffers {io_bytes}",
        )
    )
    figures.append(
        Figure(
            "firmware_ram_bytes",
            float(fw_total.ram + max(r.stack_bytes for r in res.samples)),
            "B",
            stack_kind,
            "whole firmware .data+.bss (incl. test data buffers) + its stack high-water",
        )
    )

    # --- budgets
    if target.memory.flash_bytes and model_flash > target.memory.flash_bytes:
        notes.append(
            f"flash budget exceeded: the model needs {model_flash} B, the {target.name} profile's "
            f"[memory] flash_bytes is {target.memory.flash_bytes} B "
            f"(over by {model_flash - target.memory.flash_bytes} B)"
        )
    if target.memory.ram_bytes and ram > target.memory.ram_bytes:
        notes.append(
            f"RAM budget exceeded: the model needs {ram} B (arena + static + stack + I/O), the {target.name} "
            f"profile's [memory] ram_bytes is {target.memory.ram_bytes} B "
            f"(over by {ram - target.memory.ram_bytes} B)"
        )
    if kind == "qemu":
        notes.append(
            "QEMU counts instructions exactly but does not model pipelines, wait states or caches: "
            "cycles, ms and energy are estimates"
        )
        if arg and target.emulator.qemu_machine and arg != target.emulator.qemu_machine:
            notes.append(f"ran on {arg}, not the profile's machine {target.emulator.qemu_machine}: the "
                         f"{target.name} firmware ran on another core model, so counts may not match that core")
    if any(r.rc != 0 for r in res.samples):
        notes.append(f"edgeq_model_invoke returned {[r.rc for r in res.samples]}")

    # --- per op
    per_op: list[OpFigure] = []
    if prof is not None and prof.samples and prof.samples[0].op_ticks:
        op_ticks = prof.samples[0].op_ticks
        scale = prof.calibration.instructions_per_tick if prof.counter == "systick" else None
        for i, t in enumerate(op_ticks):
            per_op.append(
                OpFigure(
                    index=i,
                    opcode=model.op_names[i] if i < len(model.op_names) else "?",
                    macs=model.op_macs[i] if i < len(model.op_macs) else 0,
                    instructions=int(round(t * scale)) if scale else None,
                )
            )
        if scale:
            details["per_op_method"] = (
                "second build with -DEDGEQ_PROFILE: SysTick read before each op; "
                "includes the hook's own few instructions per op"
            )
        else:
            details["per_op_cycles"] = ",".join(str(t) for t in op_ticks)
        if model.op_names and len(model.op_names) != len(op_ticks):
            notes.append(
                f"the generated C has {len(op_ticks)} ops, the .tflite {len(model.op_names)}: per-op "
                "names/MACs may not line up (fused or elided ops)"
            )
    details["stack_firmware_bytes"] = str(max(r.stack_bytes for r in res.samples))
    details["samples"] = str(n_samples)
    return BenchResult(
        target=target.name,
        device=device,
        model=model.name,
        figures=tuple(figures),
        output_matches_reference=matches,
        per_op=tuple(per_op),
        notes=tuple(notes),
        log=res.log,
        details=details,
    )


__all__ = [
    "bench_cortexm",
    "build_firmware",
    "run_qemu",
    "parse_log",
    "map_sizes",
    "makefile_path",
    "boards_dir",
    "Calibration",
    "FirmwareRun",
    "ModelSources",
    "resolve_model",
    "DEFAULT_TIMEOUT_S",
]
