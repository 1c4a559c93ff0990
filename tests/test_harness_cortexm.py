"""Cortex-M harness: real arm-none-eabi-gcc builds run in real qemu-system-arm (edgeq/harness/cortexm/).

Stand-in models (hand-written C following docs/codegen-api.md) exercise what a real model cannot do on demand:
a loop of known instruction count (calibration), a fault, a hang, a wrong output. Real models go through the
code generator (edgeq.codegen) and are checked bit-exact against the tflite-micro interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import DeviceError, ToolMissing, UsageError
from edgeq.harness import cortexm
from edgeq.target import load_target

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "harness" / "harness_cnn_int8.tflite"
HAVE_TOOLS = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc / qemu-system-arm not installed")

HEADER = """#ifndef EDGEQ_MODEL_H
#define EDGEQ_MODEL_H
#include <stdint.h>
#define EDGEQ_MODEL_NUM_INPUTS   1
#define EDGEQ_MODEL_NUM_OUTPUTS  1
#define EDGEQ_MODEL_ARENA_SIZE   {arena}
#define EDGEQ_MODEL_NUM_OPS      1
#define EDGEQ_MODEL_INPUT0_SIZE  {n_in}
#define EDGEQ_MODEL_INPUT0_SCALE 0.5f
#define EDGEQ_MODEL_INPUT0_ZERO_POINT (-1)
#define EDGEQ_MODEL_INPUT0_DIMS  {{1, {n_in}}}
#define EDGEQ_MODEL_INPUT0_RANK  2
#define EDGEQ_MODEL_OUTPUT0_SIZE {n_out}
#define EDGEQ_MODEL_OUTPUT0_SCALE 0.5f
#define EDGEQ_MODEL_OUTPUT0_ZERO_POINT (-1)
#define EDGEQ_MODEL_OUTPUT0_DIMS {{1, {n_out}}}
#define EDGEQ_MODEL_OUTPUT0_RANK 2
int edgeq_model_invoke(const int8_t *const inputs[], int8_t *const outputs[]);
static inline int edgeq_model_run(const int8_t *in, int8_t *out) {{
    const int8_t *const ins[1] = {{in}};
    int8_t *const outs[1] = {{out}};
    return edgeq_model_invoke(ins, outs);
}}
#endif
"""

SOURCE = """#include "edgeq_model.h"
#ifdef EDGEQ_PROFILE
void edgeq_profile_op(int op_index);
#else
#define edgeq_profile_op(i) ((void)0)
#endif
static int8_t arena[EDGEQ_MODEL_ARENA_SIZE] __attribute__((aligned(16)));
int edgeq_model_invoke(const int8_t *const inputs[], int8_t *const outputs[]) {{
    edgeq_profile_op(0);
    {body}
    edgeq_profile_op(1);
    return 0;
}}
"""

SPIN = """uint32_t n = {n};
    __asm__ volatile(".syntax unified\\n1:\\n\\tsubs %0, %0, #1\\n\\tbne 1b" : "+l"(n) : : "cc");
    (void)inputs; (void)outputs; (void)arena;"""
COPY_PLUS_ONE = """for (int i = 0; i < EDGEQ_MODEL_INPUT0_SIZE; i++) arena[i] = (int8_t)(inputs[0][i] + 1);
    for (int i = 0; i < EDGEQ_MODEL_OUTPUT0_SIZE; i++) outputs[0][i] = arena[i % EDGEQ_MODEL_INPUT0_SIZE];"""
FAULT = """(void)inputs; (void)outputs; (void)arena;
    *(volatile uint32_t *)0xF0000000u = 1u;  /* no memory there: BusFault */"""
HANG = """(void)inputs; (void)outputs; (void)arena;
    for (volatile int spin = 1; spin;) {}"""
ZEROS = """(void)inputs; (void)arena;
    for (int i = 0; i < EDGEQ_MODEL_OUTPUT0_SIZE; i++) outputs[0][i] = 0;"""


def standin(
    tmp_path: Path, body: str, n_in: int = 8, n_out: int = 8, arena: int = 64, name: str = "m"
) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "edgeq_model.h").write_text(HEADER.format(arena=arena, n_in=n_in, n_out=n_out))
    (d / "edgeq_model.c").write_text(SOURCE.format(body=body))
    return d


def codegen_ready() -> str | None:
    """None if the generator can turn the fixture into C, else the reason to skip."""
    try:
        from edgeq.codegen import generate  # noqa: F401
    except ImportError as e:
        return f"edgeq.codegen.generate not available yet: {e}"
    return None


def skip_without_codegen() -> None:
    reason = codegen_ready()
    if reason:
        pytest.skip(reason)


# ------------------------------------------------------------------------------------------ no emulator


def test_parse_log_and_calibration_ratio():
    log = "\n".join(
        [
            "boot noise",
            "EQ begin board=mps2-an386 counter=systick",
            "EQ calib n1=100000 t1=5000 n2=2100000 t2=105000 empty=0",
            "EQ run 0 rc=0 ticks=2504 stack=160 stack_invoke=64",
            "EQ out 0 0 " + "00" * 32,
            "EQ out 0 0 0203",
            "EQ op 0 0 ticks=2501",
            "EQ op 0 1 ticks=2",
            "EQ end",
        ]
    )
    run = cortexm.parse_log(log, num_outputs=1)
    assert run.board == "mps2-an386" and run.counter == "systick"
    assert run.calibration.instructions_per_tick == pytest.approx(40.0)
    s = run.samples[0]
    assert (s.rc, s.ticks, s.stack_bytes, s.stack_invoke_bytes) == (0, 2504, 160, 64)
    assert s.outputs == (bytes(32) + b"\x02\x03",)
    assert s.op_ticks == (2501, 2)


def test_parse_log_incomplete_is_device_error():
    with pytest.raises(DeviceError, match="did not finish"):
        cortexm.parse_log("EQ begin board=x counter=systick\nEQ fault HardFault pc=0x1", num_outputs=1)


def test_parse_model_header(tmp_path):
    d = standin(tmp_path, COPY_PLUS_ONE, n_in=12, n_out=3, arena=96)
    h = cortexm.parse_model_header(d / "edgeq_model.h")
    assert (h.num_inputs, h.num_outputs, h.arena_bytes, h.num_ops) == (1, 1, 96, 1)
    assert h.input_sizes == (12,) and h.output_sizes == (3,) and h.input_zero_points == (-1,)


def test_makefile_path_and_boards():
    assert cortexm.makefile_path().is_file()
    for b in ("mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "nucleo-l4r5zi"):
        assert (cortexm.boards_dir() / b / "link.ld").is_file(), b
    assert cortexm.board_for(load_target("cortex-m4"), "pyocd") == "nucleo-l4r5zi"
    assert cortexm.board_for(load_target("cortex-m0plus"), "qemu") == "mps2-an385"


def test_unknown_device_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="unknown Cortex-M device"):
        cortexm.bench_cortexm(str(tmp_path), load_target("cortex-m4"), "jtag:0")


@needs_tools
def test_float_io_model_inputs_of_another_type_are_usage_error():
    """float32-I/O models run (harness/cortexm/io.py); inputs given in another type are refused before the build."""
    skip_without_codegen()
    fx = REPO / "tests" / "fixtures" / "cnn_int8_float_io.tflite"
    if not fx.is_file():
        pytest.skip("fixture cnn_int8_float_io.tflite not present")
    with pytest.raises(UsageError, match="bytes, the model expects") as e:
        cortexm.bench_cortexm(str(fx), load_target("cortex-m4"), inputs=[[np.zeros(3, np.int8)]])
    assert "sample 0 input 0" in str(e.value)


def test_missing_tools_raise_tool_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: nothing is found
    with pytest.raises(ToolMissing) as e:
        cortexm.bench_cortexm(str(tmp_path), load_target("cortex-m4"), "qemu")
    assert "apt-get install" in (e.value.hint or "")


def test_pyocd_missing_is_tool_missing(tmp_path):
    try:
        import pyocd  # noqa: F401
    except ImportError:
        with pytest.raises(ToolMissing, match="pyOCD") as e:
            cortexm.run_pyocd(tmp_path / "fw.elf", None, None, 1.0)
        assert e.value.hint == "pip install pyocd"
    else:
        pytest.skip("pyOCD is installed: covered by the hardware test")


# ------------------------------------------------------------------------------------------ QEMU runs


@needs_tools
@pytest.mark.qemu
@pytest.mark.parametrize(
    "target, machine, ratio",
    [
        ("cortex-m4", "mps2-an386", 40.0),  # 25 MHz SysTick
        ("cortex-m33", "mps2-an505", 50.0),  # 20 MHz
        ("cortex-m55", "mps3-an547", 31.25),  # 32 MHz: not an integer number of instructions per tick
        ("cortex-m0plus", "mps2-an385", 40.0),  # ARMv6-M code on the M3 machine
    ],
)
def test_calibration_known_loop(tmp_path, target, machine, ratio):
    n = 250_000  # 500,000 instructions in the loop
    d = standin(tmp_path, SPIN.format(n=n))
    r = cortexm.bench_cortexm(str(d), load_target(target), "qemu", per_op=False)
    assert r.device == f"qemu:{machine}"
    assert float(r.details["instructions_per_systick_tick"]) == pytest.approx(ratio, rel=2e-5)
    instr = r.figure("instructions").value
    # 2n loop instructions plus the call, return and loop set-up; one tick of resolution at each end
    assert 2 * n - 2 * ratio <= instr <= 2 * n + 2 * ratio + 16, instr
    assert r.figure("instructions").kind == "emulated"
    assert r.figure("cycles").kind == "estimated"
    assert r.output_matches_reference is None


@needs_tools
@pytest.mark.qemu
def test_systick_wraps_are_counted(tmp_path):
    """A 4096-tick SysTick period (163,840 instructions on mps2-an386): the calibration loops and the model's
    1,000,000-instruction loop wrap it many times; the counts must not change beyond the few instructions of
    the wrap interrupt itself (exception entry/exit and a counter increment)."""
    n = 500_000
    d = standin(tmp_path, SPIN.format(n=n))
    r = cortexm.bench_cortexm(
        str(d), load_target("cortex-m4"), "qemu", per_op=False, extra_cflags=["-DEQ_SYST_RELOAD=0xFFF"]
    )
    assert float(r.details["instructions_per_systick_tick"]) == pytest.approx(40.0, rel=1e-4)
    wraps = 2 * n // (40 * 4096) + 1
    assert 2 * n - 80 <= r.figure("instructions").value <= 2 * n + 96 + 12 * wraps


@needs_tools
@pytest.mark.qemu
def test_fault_is_device_error_with_output(tmp_path):
    d = standin(tmp_path, FAULT)
    with pytest.raises(DeviceError) as e:
        cortexm.bench_cortexm(str(d), load_target("cortex-m4"), "qemu", per_op=False)
    msg = str(e.value)
    assert "crashed" in msg and "BusFault" in msg and "pc=0x" in msg
    assert "EQ begin board=mps2-an386" in msg  # the emulator output is part of the error


@needs_tools
@pytest.mark.qemu
def test_hang_times_out(tmp_path):
    d = standin(tmp_path, HANG)
    with pytest.raises(DeviceError, match="timed out after 3 s") as e:
        cortexm.bench_cortexm(str(d), load_target("cortex-m4"), "qemu", per_op=False, timeout_s=3)
    assert "EQ calib" in str(e.value)  # output up to the hang is kept


@needs_tools
@pytest.mark.qemu
def test_output_mismatch_detected(tmp_path):
    from edgeq.graph import load

    g = load(FIXTURE)
    n_in, n_out = g.inputs[0].size_bytes, g.outputs[0].size_bytes
    d = standin(tmp_path, ZEROS, n_in=n_in, n_out=n_out)
    shutil.copyfile(FIXTURE, d / "model.tflite")
    r = cortexm.bench_cortexm(str(d), load_target("cortex-m4"), "qemu", per_op=False)
    assert r.output_matches_reference is False
    assert any("output mismatch vs tflite-micro" in n for n in r.notes)


@needs_tools
@pytest.mark.qemu
def test_budget_exceeded_note(tmp_path):
    prof = tmp_path / "tiny.toml"
    prof.write_text(
        'extends = "cortex-m4"\ndescription = "tiny part"\n[memory]\nflash_bytes = 1000\nram_bytes = 100\n'
    )
    d = standin(tmp_path, COPY_PLUS_ONE, arena=4096)
    r = cortexm.bench_cortexm(str(d), load_target(prof), "qemu", per_op=False)
    flash = r.figure("flash_bytes").value
    ram = r.figure("ram_bytes").value
    assert ram >= 4096
    notes = " ".join(r.notes)
    assert (
        "RAM budget exceeded" in notes
        and "ram_bytes is 100 B" in notes
        and f"over by {int(ram) - 100} B" in notes
    )
    if flash > 1000:
        assert "flash budget exceeded" in notes
    assert r.figure("arena_bytes").value == 4096


@needs_tools
@pytest.mark.qemu
def test_stack_high_water_counts_invoke_stack(tmp_path):
    body = """volatile int8_t big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (int8_t)i;
    for (int i = 0; i < EDGEQ_MODEL_OUTPUT0_SIZE; i++) outputs[0][i] = (int8_t)(big[i * 3] + inputs[0][i]);
    (void)arena;"""
    d = standin(tmp_path, body)
    r = cortexm.bench_cortexm(str(d), load_target("cortex-m4"), "qemu", per_op=False, samples=2)
    stack = r.figure("stack_bytes").value
    assert 1000 <= stack <= 1100
    assert r.details["samples"] == "2"


@needs_tools
@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m33"])
def test_real_model_bit_exact_and_figures(tmp_path, target):
    skip_without_codegen()
    pytest.importorskip("tflite_micro", reason="tflite-micro (reference interpreter) not installed")
    t = load_target(target)
    r = cortexm.bench_cortexm(str(FIXTURE), t, "qemu", samples=2, workdir=tmp_path / "w")
    assert r.output_matches_reference is True, r.notes
    names = {f.name for f in r.figures}
    assert {
        "instructions",
        "cycles",
        "latency_ms",
        "energy_uj",
        "macs",
        "macs_per_instruction",
        "flash_bytes",
        "model_code_bytes",
        "model_weights_bytes",
        "arena_bytes",
        "stack_bytes",
        "ram_bytes",
    } <= names
    instr = r.figure("instructions").value
    cyc = r.figure("cycles")
    assert cyc.kind == "estimated" and f"{target} timing model (QEMU TCG plugin, 0 flash wait states" in cyc.method
    # the plugin counts the same instructions SysTick does, to SysTick's resolution (one tick, 40 instructions,
    # at each end) plus the few instructions of the counter reads and the eq_invoke_end() call
    assert abs(int(r.details["cycle_model_instructions"]) - instr) <= 2 * 40 + 20
    assert instr < cyc.value < 3 * instr  # an in-order M4/M33 runs int8 kernels at 1-3 cycles per instruction
    assert r.figure("latency_ms").value == pytest.approx(cyc.value / t.cpu.clock_hz * 1e3)
    assert r.figure("energy_uj").value == pytest.approx(
        r.figure("cycles").value * t.energy.pj_per_cycle * 1e-6, rel=1e-6
    )
    # per-op counts (profiling build) add up to the total within the hook's overhead
    ops = r.per_op
    assert [o.opcode for o in ops][:2] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert sum(o.macs for o in ops) == r.figure("macs").value > 0
    total_ops = sum(o.instructions for o in ops)
    assert abs(total_ops - instr) <= 0.02 * instr + 100 * len(ops)
    # per-op cycles (profiling build under the cycle model) add up exactly to that build's window, which is the
    # headline figure within the differences the hook calls cause in the compiled code (register allocation)
    per_op_cycles = sum(o.cycles for o in ops)
    assert per_op_cycles == int(r.details["per_op_cycles_sum"])
    assert per_op_cycles + int(r.details["cycles_outside_ops"]) == int(r.details["profile_build_cycles"])
    # (another build: GCC allocates registers differently around the hook calls)
    assert abs(int(r.details["profile_build_cycles"]) - cyc.value) <= 0.02 * cyc.value
    # weights of the model land in flash: at least the .tflite's constant bytes of the conv/fc weights
    assert r.figure("model_weights_bytes").value > 1000
    assert r.figure("ram_bytes").value >= r.figure("arena_bytes").value


@needs_tools
@pytest.mark.qemu
def test_build_folder_with_explicit_inputs(tmp_path):
    skip_without_codegen()
    pytest.importorskip("tflite_micro", reason="tflite-micro (reference interpreter) not installed")
    from edgeq.codegen import generate
    from edgeq.graph import load

    out = tmp_path / "build"
    generate(load(FIXTURE), out)
    shutil.copyfile(FIXTURE, out / "model.tflite")
    g = load(FIXTURE)
    x = np.full(g.inputs[0].shape, 17, dtype=np.int8)
    r = cortexm.bench_cortexm(
        str(out), load_target("cortex-m7"), "qemu:mps2-an500", inputs=[[x]], per_op=False
    )
    assert r.device == "qemu:mps2-an500" and r.output_matches_reference is True


@needs_tools
@pytest.mark.qemu
def test_make_fragment_regenerates_and_exports_sources(tmp_path):
    skip_without_codegen()
    model = tmp_path / "m.tflite"
    shutil.copyfile(FIXTURE, model)
    edgeq_cmd = f"{sys.executable} -m edgeq.cli"
    (tmp_path / "Makefile").write_text(
        f"EDGEQ := {edgeq_cmd}\nEDGEQ_MODEL := m.tflite\nEDGEQ_OUT := out\n"
        f"include {cortexm.makefile_path()}\n"
        "print:\n\t@echo SRCS=$(EDGEQ_SRCS)\n\t@echo INCS=$(EDGEQ_INCLUDES)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run(["make", "-s", "print"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "out/edgeq_model.c" in p.stdout and "out/edgeq_runtime/src/" in p.stdout
    assert "-Iout -Iout/edgeq_runtime/include" in p.stdout
    stamp = tmp_path / "out" / "edgeq_srcs.mk"
    first = stamp.stat().st_mtime_ns
    p = subprocess.run(["make", "-s", "print"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert stamp.stat().st_mtime_ns == first  # up to date: not regenerated
    os.utime(model)  # the model changed
    os.utime(model, ns=(first + 10**9, first + 10**9))
    p = subprocess.run(["make", "-s", "print"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert p.returncode == 0 and stamp.stat().st_mtime_ns > first


@needs_tools
@pytest.mark.qemu
@pytest.mark.slow
def test_example_firmware_runs(tmp_path):
    skip_without_codegen()
    pytest.importorskip("tensorflow", reason="the example converts a Keras model")
    src = REPO / "examples" / "cortex-m-firmware"
    dst = tmp_path / "fw"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "EDGEQ": f"{sys.executable} -m edgeq.cli"}
    p = subprocess.run(
        ["make", "-s", "run", f"EDGEQ={sys.executable} -m edgeq.cli"],
        cwd=dst,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "prediction: 0 (label 0)" in p.stdout + p.stderr  # QEMU writes semihosting output to stderr


@needs_tools
@pytest.mark.qemu
def test_uart_firmware_over_serial_port(tmp_path):
    """The serial:PORT path end to end: a -DEQ_IO_UART firmware on QEMU's CMSDK UART, exposed as a pty."""
    pytest.importorskip("serial", reason="pyserial not installed (pip install pyserial)")
    d = standin(tmp_path, COPY_PLUS_ONE)
    model = cortexm.resolve_model(d, tmp_path)
    data = tmp_path / "eq_harness_data.c"
    x = np.arange(8, dtype=np.int8)
    cortexm.write_harness_data(data, model.header, [[x]])
    flags = load_target("cortex-m4").cpu.gcc_flags
    fw = cortexm.build_firmware(model, "mps2-an386", flags, tmp_path / "fw", io="uart", extra_sources=[data])
    cmd = [
        shutil.which("qemu-system-arm"),
        "-M",
        "mps2-an386",
        "-S",
        "-display",
        "none",
        "-monitor",
        "stdio",
        "-serial",
        "pty",
        "-icount",
        "shift=0",
        "-kernel",
        str(fw.elf),
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        port = ""
        for _ in range(20):
            line = proc.stdout.readline()
            if "/dev/pts/" in line:
                port = line[line.index("/dev/pts/") :].split()[0]
                break
        assert port, "QEMU did not report its pty"

        def start():
            import time

            time.sleep(1.5)  # QEMU polls for a pty reader once a second and drops output until it sees one
            proc.stdin.write("cont\n")
            proc.stdin.flush()

        log = cortexm.run_serial(port, 115200, 30, on_open=start)
    finally:
        proc.kill()
        proc.wait()
    run = cortexm.parse_log(log, num_outputs=1)
    assert run.samples[0].outputs[0] == bytes((x + 1).astype(np.uint8))
    assert run.calibration.instructions_per_tick == pytest.approx(40.0, rel=2e-5)
    assert "EQ exit 0" in log


# ------------------------------------------------------------------------------------------ hardware


@pytest.mark.hardware
@pytest.mark.skipif(
    not os.environ.get("EDGEQ_PYOCD_PROBE"), reason="no board: set EDGEQ_PYOCD_PROBE=<probe id>"
)
def test_pyocd_board_measures_cycles():
    pytest.importorskip("pyocd")
    probe = os.environ["EDGEQ_PYOCD_PROBE"]
    r = cortexm.bench_cortexm(str(FIXTURE), load_target("cortex-m4"), f"pyocd:{probe}")
    assert r.figure("cycles").kind == "measured"
    assert r.output_matches_reference is True


# ------------------------------------------------------------------------------------------ object cache

PROBE_H = "#define EQ_PROBE_LEN {n}\nextern const int eq_probe[EQ_PROBE_LEN];\n"
PROBE_C = '#include "eq_probe.h"\nconst int eq_probe[EQ_PROBE_LEN] = {{{n}}};\n'
USE_PROBE = """(void)arena;
    extern const int eq_probe[];
    for (int i = 0; i < EDGEQ_MODEL_OUTPUT0_SIZE; i++) outputs[0][i] = (int8_t)(inputs[0][i] + eq_probe[0]);"""


def _with_runtime(tmp_path: Path, name: str, n: int) -> Path:
    """A stand-in model with a one-file 'runtime' (edgeq_runtime/src + include) whose header sets an array size."""
    d = standin(tmp_path, USE_PROBE, name=name)
    (d / "edgeq_runtime" / "src").mkdir(parents=True)
    (d / "edgeq_runtime" / "include").mkdir()
    (d / "edgeq_runtime" / "include" / "eq_probe.h").write_text(PROBE_H.format(n=n))
    (d / "edgeq_runtime" / "src" / "eq_probe.c").write_text(PROBE_C.format(n=n))
    return d


def _fw_build(tmp_path: Path, d: Path, out: str):
    model = cortexm.resolve_model(d, tmp_path)
    data = tmp_path / f"{out}-data" / "eq_harness_data.c"
    data.parent.mkdir()
    cortexm.write_harness_data(data, model.header, cortexm.make_inputs(model.header))
    flags = load_target("cortex-m4").cpu.gcc_flags
    return cortexm.build_firmware(model, "mps2-an386", flags, tmp_path / out, extra_sources=[data])


def _probe_size(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    return next(int(p[1], 16) for p in (ln.split() for ln in out.splitlines()) if p[-1] == "eq_probe")


def _loadable(elf: Path, tmp_path: Path) -> bytes:
    img = tmp_path / (elf.parent.name + ".bin")
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(img)], check=True)
    return img.read_bytes()


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
def test_object_cache_reuses_runtime_objects_and_never_serves_stale(tmp_path, monkeypatch):
    """Runtime and harness objects come from the user's object cache (edgeq.objcache) for a second model in
    another folder, giving the same firmware image; a runtime header edit recompiles what includes it (the
    firmware shows the edit); EDGEQ_OBJECT_CACHE=0 compiles everything and keeps nothing."""
    from concurrent.futures import ThreadPoolExecutor

    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGEQ_CACHE_DIR", str(cache))
    a, b = _with_runtime(tmp_path, "a", 3), _with_runtime(tmp_path, "b", 3)
    with ThreadPoolExecutor(2) as pool:  # two cold builds at once into one empty cache
        cold = list(pool.map(lambda x: _fw_build(tmp_path, *x), [(a, "fw-a1"), (a, "fw-a2")]))
    # an empty cache: every file compiled by at least one of them (the slower one may already find the other's
    # object, which is the point of sharing the cache; both images are compared below)
    assert all(any(f in fw.compiled for fw in cold) for f in ("eq_probe.c", "main.c"))
    assert list((cache / "objects").glob("*/*.tmp")) == []
    warm = _fw_build(tmp_path, b, "fw-b")  # same runtime, another model folder: only per-model files compile
    assert sorted(warm.compiled) == ["edgeq_model.c", "eq_harness_data.c"]
    assert _loadable(warm.elf, tmp_path) == _loadable(cold[0].elf, tmp_path) == _loadable(cold[1].elf, tmp_path)
    assert _probe_size(warm.elf) == 3 * 4

    (b / "edgeq_runtime" / "include" / "eq_probe.h").write_text(PROBE_H.format(n=5))  # header only
    edited = _fw_build(tmp_path, b, "fw-b2")
    assert "eq_probe.c" in edited.compiled and "main.c" not in edited.compiled
    assert _probe_size(edited.elf) == 5 * 4

    monkeypatch.setenv("EDGEQ_OBJECT_CACHE", "0")
    before = sorted(p.name for p in (cache / "objects").rglob("*.o"))
    off = _fw_build(tmp_path, a, "fw-off")
    assert "eq_probe.c" in off.compiled and "main.c" in off.compiled and "counter.c" in off.compiled
    assert sorted(p.name for p in (cache / "objects").rglob("*.o")) == before
    assert _loadable(off.elf, tmp_path) == _loadable(cold[0].elf, tmp_path)


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
def test_check_runtime_code_is_the_firmware_runtime_size(tmp_path, monkeypatch):
    """The check's generated-C runtime figure is measured: the bytes the benchmark firmware's map gives the
    runtime objects for the same model and core; without arm-none-eabi-gcc, the documented constant, labelled
    estimated."""
    from edgeq import check
    from edgeq.graph import load
    from edgeq.harness.cortexm import build

    skip_without_codegen()
    t = load_target("cortex-m4")
    est = check.check(load(FIXTURE), t).flash_estimates[0]
    assert est.runtime == "edgeq generated C" and "runtime code measured" in est.method, est.method
    fw = _fw_build(tmp_path, cortexm.resolve_model(FIXTURE, tmp_path / "gen").model_dir, "fw")
    sizes = cortexm.map_sizes(fw.map_path, fw.objects)
    assert est.runtime_bytes == sizes["runtime"].flash > 0
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    est = check.check(load(FIXTURE), t).flash_estimates[0]
    assert est.runtime_bytes == check.GENERATED_C_RUNTIME_BYTES and "runtime code estimated" in est.method


@pytest.mark.slow
def test_reference_outputs_fit_models_with_large_activations(tmp_path):
    """A 1x1 conv on a 96x96 image: 27 KB of activations for a ~1 KB model. tflite-micro's own default arena
    (10x the model's bytes) cannot hold it; the harness's reference interpreter is sized from the tensors."""
    import keras

    from edgeq.convert import load_model, quantize
    from edgeq.harness.cortexm import build

    inp = keras.Input((96, 96, 3), batch_size=1)
    keras.Model(inp, keras.layers.Conv2D(1, 1)(inp)).save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(8, 96, 96, 3)).astype("float32")
    tfl = quantize(load_model(tmp_path / "m.keras"), "int8", [x], io_dtype="int8")
    assert 10 * len(tfl) < 96 * 96 * 4  # the case tflite-micro's default arena does not cover
    path = tmp_path / "m.tflite"
    path.write_bytes(tfl)
    sample = [np.zeros((1, 96, 96, 3), np.int8)]
    outs = build.reference_outputs(path, [sample], 1)
    assert len(outs) == 1 and len(outs[0][0]) == 96 * 96
