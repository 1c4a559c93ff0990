"""Bench stage, Cortex-M: build a firmware around the generated C model and run it in QEMU or on a board.

Pipeline position: after export (edgeq_model.c/.h from `edgeq.codegen.generate`), before report.

What `bench_cortexm` does:

1. Resolves the model: an edgeq build folder (edgeq_model.c/.h, edgeq_runtime/, usually model.tflite) or a
   `.tflite` (then the generator writes the C into a temporary folder).
2. Generates `eq_harness_data.c` with the test input(s) (seeded random over the whole range of the model's I/O
   type unless given: int8, int16 for int16x8 models, or float32; io.py), and builds a
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

Cycles, milliseconds and energy are estimates (kind "estimated") from the core's timing model (timing.py): the
QEMU runs load a TCG plugin that charges every executed instruction its cost from targets/timing/<core>.toml (TRM
instruction timing, load pipelining, branch refills, flash wait states from `[memory] flash_wait_states`)
between edgeq_model_invoke()'s entry and its return; the profiling build marks op boundaries for per-op cycles.
ms at `[cpu] clock_hz`, energy = cycles x `[energy] pj_per_cycle`. A core with no table falls back to
instructions x `[cpu] cycles_per_instruction`, labelled so. On a board (device "pyocd[:ID]" or "serial:PORT")
the firmware counts DWT->CYCCNT instead: cycles are "measured", ms follow from the clock the firmware ran at,
and the same model under the timing model in QEMU gives `cycles_model` and its error next to them.

Modules: build (sources, firmware, sizes), run (QEMU, report parsing), devices (pyOCD, serial), timing (cycle
model); this one ties them into `bench_cortexm`.

Memory (from the linker map of the firmware, after --gc-sections): model code (edgeq_model.o text), model
constants (its rodata: weights, requantization parameters), runtime code/constants (edgeq_runtime objects),
the whole firmware; RAM = the model's arena (EDGEQ_MODEL_ARENA_SIZE) + its other static data + the stack
high-water of the invoke (stack painted before, scanned after).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgeq.errors import DeviceError, ToolMissing, UsageError
from edgeq.harness.cortexm.build import (
    DEFAULT_STACK_BYTES,
    DEFAULT_TIMEOUT_S,
    Firmware,
    ModelHeader,
    ModelSources,
    SectionSizes,
    _board_info,
    _elf_symbols,
    board_for,
    boards_dir,
    build_firmware,
    find_tool,
    make_inputs,
    makefile_path,
    map_sizes,
    parse_model_header,
    reference_outputs,
    resolve_model,
    write_harness_data,
)
from edgeq.harness.cortexm.devices import flash_and_reset, run_pyocd, run_serial
from edgeq.harness.cortexm.io import IO_TYPES, invoke_symbol, io_type, make_typed_inputs, write_typed_harness_data
from edgeq.harness.cortexm.run import Calibration, FirmwareRun, SampleRun, parse_log, qemu_command, run_qemu
from edgeq.harness.cortexm.timing import (
    MARK_SYMBOLS,
    CycleEstimate,
    TimingRun,
    estimate,
    model_error_figures,
    run_qemu_timed,
    table_for,
)
from edgeq.harness.result import BenchResult, Figure, OpFigure

# ------------------------------------------------------------------------------------------------ bench


def _marks(syms: dict[str, int], io_t: str) -> list[int]:
    """Addresses of the cycle window's marks: the model's invoke function for its I/O type (edgeq_model_invoke,
    _s16 or _f32), eq_invoke_end, edgeq_profile_op; a missing one is an address never executed."""
    names = (invoke_symbol(io_t), *MARK_SYMBOLS[1:])
    return [syms.get(s, 0xFFFFFFFF) for s in names]


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
    options: timeout_s (120), samples (1; `runs` is an alias) or inputs (list per sample of arrays of the model's
    I/O type), seed (0), per_op (True: a second, profiling build for per-op counts), board (board folder override),
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
    io_t = io_type(model, model_path)  # int8, int16 (int16x8 models) or float32 I/O: io.py
    board = board_for(target, kind, options.get("board") or (arg if kind == "qemu" and arg else None))
    machine = board
    binfo = _board_info(board)
    inputs = options.get("inputs")
    if inputs is None:
        n = int(options.get("samples", options.get("runs", 1)))  # `edgeq bench --runs N`: N test inputs
        inputs = make_typed_inputs(model, io_t, n, int(options.get("seed", 0)))
    else:
        dt = IO_TYPES[io_t][1]
        inputs = [[np.asarray(a).astype(dt, copy=False) for a in s] for s in inputs]
    data_dir = work / "harness"
    data_dir.mkdir(parents=True, exist_ok=True)
    write_typed_harness_data(data_dir / "eq_harness_data.c", model.header, inputs, io_t)

    io, counter = {"qemu": ("semihost", "systick"), "pyocd": ("memlog", "dwt"), "serial": ("uart", "dwt")}[kind]
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

    table = table_for(target) if options.get("cycle_model", True) else None
    wait_states = int(options.get("flash_wait_states", target.memory.flash_wait_states))
    num_ops = model.header.num_ops

    def run_timed(fw: Firmware, qemu_machine: str) -> tuple[FirmwareRun, TimingRun]:
        marks = _marks(_elf_symbols(fw.elf), io_t)
        log, counted = run_qemu_timed(fw.elf, qemu_machine, table, wait_states, marks, timeout_s)
        return parse_log(log, model.header.num_outputs), counted

    fw = build_firmware(model, board, gcc_flags, work / "fw", **build_kw)
    est: CycleEstimate | None = None
    prof = None
    if kind == "qemu" and table is not None:
        res, counted = run_timed(fw, machine)
        counted_prof = None
        if per_op and num_ops > 0:
            kw = dict(build_kw, extra_cflags=[*build_kw["extra_cflags"], "-DEQ_PROFILE_MARK"])
            pfw = build_firmware(model, board, gcc_flags, work / "fw-profile", profile=True, **kw)
            prof, counted_prof = run_timed(pfw, machine)
        est = estimate(counted, table, wait_states, counted_prof, num_ops)
    else:
        res = run(fw)
        if per_op and num_ops > 0:
            prof = run(build_firmware(model, board, gcc_flags, work / "fw-profile", profile=True, **build_kw))
        if kind != "qemu" and table is not None and options.get("model_check", True):
            est = _model_next_to_board(model, target, table, wait_states, work, gcc_flags, build_kw, timeout_s, io_t)
    sizes = map_sizes(fw.map_path, fw.objects)
    return _result(model, target, kind, arg, board, binfo, res, prof, sizes, inputs, est, io_t)


def _model_next_to_board(model, target, table, wait_states, work, gcc_flags, build_kw, timeout_s, io_t="int8"):
    """On a board: the same model under the cycle model in QEMU (the profile's machine), so the report can show
    the model's error next to the measured DWT cycles. None (with no error) when QEMU is not available."""
    try:
        qboard = board_for(target, "qemu")
        find_tool("qemu-system-arm")
        kw = dict(build_kw, io="semihost", counter="systick")
        kw["extra_sources"] = [s for s in build_kw["extra_sources"] if Path(s).name == "eq_harness_data.c"]
        qfw = build_firmware(model, qboard, gcc_flags, work / "fw-model", **kw)
        marks = _marks(_elf_symbols(qfw.elf), io_t)
        _, counted = run_qemu_timed(qfw.elf, qboard, table, wait_states, marks, timeout_s)
    except (UsageError, ToolMissing, DeviceError):
        return None
    return estimate(counted, table, wait_states)


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
    est: CycleEstimate | None = None,
    io_t: str = "int8",
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
                        dt = IO_TYPES[io_t][1]
                        if len(got) != len(want) or len(got) % np.dtype(dt).itemsize:
                            notes.append(
                                f"output mismatch: sample {s} output {j} has {len(got)} bytes, the reference "
                                f"{len(want)}"
                            )
                        else:
                            g, w = np.frombuffer(got, dt), np.frombuffer(want, dt)
                            bad = np.flatnonzero(g.view(f"u{g.itemsize}") != w.view(f"u{w.itemsize}"))
                            notes.append(
                                f"output mismatch vs tflite-micro: sample {s} output {j}: {bad.size} of "
                                f"{g.size} {io_t} values differ (first at {bad[0]}: got {g[bad[0]]}, "
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
        if est is not None:
            cycles = float(est.cycles)  # ms and energy use this figure
            kind_txt = "TRM timing" if est.table.kind == "trm" else "approximation"
            how = (
                f"estimated: {est.method}: one edgeq_model_invoke(), median of {est.samples} run(s); "
                f"table {est.table.path.name} ({kind_txt})"
            )
            _model_details(details, est)
        else:
            cpi = target.cpu.cycles_per_instruction
            cycles = float(round(instructions * cpi))
            how = (
                f"fallback (no timing table for core {target.cpu.core}): instructions x {cpi} "
                f"cycles/instruction (profile {target.name} [cpu] cycles_per_instruction)"
            )
        figures.append(Figure("cycles", cycles, "cycles", "estimated", how))
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
        if est is not None:
            figures += model_error_figures(cycles, est)
            _model_details(details, est)
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
        if cycles and (est is not None or not instructions):
            figures.append(
                Figure("macs_per_cycle", total_macs / cycles, "MAC/cycle", cyc_kind, f"MACs / {cyc_kind} cycles")
            )

    # --- memory
    zero = SectionSizes()
    m, rt = sizes.get("model", zero), sizes.get("runtime", zero)
    fw_total = SectionSizes(*(sum(getattr(s, k) for s in sizes.values()) for k in ("text", "rodata", "data", "bss")))
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
            f"cycles, ms and energy are estimates from the {est.method} (pipeline and flash wait states "
            "modelled; no caches, bus contention or data-dependent divide timing)"
            if est is not None
            else "QEMU counts instructions exactly but does not model pipelines, wait states or caches: "
            "cycles, ms and energy are estimates"
        )
        if arg and target.emulator.qemu_machine and arg != target.emulator.qemu_machine:
            notes.append(
                f"ran on {arg}, not the profile's machine {target.emulator.qemu_machine}: the "
                f"{target.name} firmware ran on another core model, so counts may not match that core"
            )
    if any(r.rc != 0 for r in res.samples):
        notes.append(f"edgeq_model_invoke returned {[r.rc for r in res.samples]}")

    # --- per op
    per_op: list[OpFigure] = []
    if est is not None and est.per_op_cycles:
        for i, (c, n) in enumerate(zip(est.per_op_cycles, est.per_op_instructions)):
            per_op.append(
                OpFigure(
                    index=i,
                    opcode=model.op_names[i] if i < len(model.op_names) else "?",
                    macs=model.op_macs[i] if i < len(model.op_macs) else 0,
                    instructions=n,
                    cycles=c,
                )
            )
        details["per_op_method"] = (
            "second build with -DEDGEQ_PROFILE -DEQ_PROFILE_MARK run under the cycle model: counters between "
            "calls of the (empty) per-op hook; per-op cycles + cycles_outside_ops = profile_build_cycles"
        )
        details["per_op_cycles_sum"] = str(sum(est.per_op_cycles))
        details["cycles_outside_ops"] = str(est.outside_ops_cycles)
        details["profile_build_cycles"] = str(est.profile_cycles)
        if model.op_names and len(model.op_names) != len(est.per_op_cycles):
            notes.append(
                f"the generated C has {len(est.per_op_cycles)} ops, the .tflite {len(model.op_names)}: per-op "
                "names/MACs may not line up (fused or elided ops)"
            )
    elif prof is not None and prof.samples and prof.samples[0].op_ticks:
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


def _model_details(details: dict[str, str], est: CycleEstimate) -> None:
    details["cycle_model"] = est.method
    details["cycle_model_table"] = f"targets/timing/{est.table.path.name}"
    details["cycle_model_sources"] = "; ".join(est.table.sources)
    details["cycle_model_instructions"] = str(est.instructions)
    details["flash_wait_states"] = str(est.wait_states)


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
    "DEFAULT_STACK_BYTES",
    "Firmware",
    "ModelHeader",
    "SampleRun",
    "SectionSizes",
    "board_for",
    "find_tool",
    "flash_and_reset",
    "make_inputs",
    "parse_model_header",
    "qemu_command",
    "reference_outputs",
    "run_pyocd",
    "run_serial",
    "write_harness_data",
]
