"""Cortex-M cycle model (edgeq/harness/cortexm/timing.py + timing_plugin.c): the plugin builds and loads in the
real qemu-system-arm, a hand-written Thumb-2 loop costs exactly what the table predicts, flash wait states land
where they should, tables are validated, and a board result carries the model's error next to DWT cycles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeq.errors import ProfileError
from edgeq.harness import Figure
from edgeq.harness.cortexm import timing
from edgeq.harness.cortexm.build import ModelHeader, ModelSources, SectionSizes
from edgeq.harness.cortexm.run import Calibration, FirmwareRun, SampleRun
from edgeq.target import load_target

REPO = Path(__file__).resolve().parents[1]
HAVE_TOOLS = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm")) and (
    shutil.which("cc") or shutil.which("gcc")
)
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc / qemu-system-arm / host cc missing")

# A bare-metal mps2-an386 image: reset calls bench_begin (a marker), whose loop runs LOOPS times, then branches
# to bench_end (the other marker) and exits through semihosting. The loop body is aligned and has a known mix.
LOOP_S = r"""
    .syntax unified
    .thumb
    .section .vectors, "a"
    .word 0x20010000
    .word reset + 1
    .text
    .thumb_func
reset:
    ldr r5, =0x20000000      @ data in RAM
    ldr r6, =0x20000100
    ldr r7, =flash_word      @ a constant in the code region (flash on a board)
    movs r3, #0
    bl bench_begin
    movs r0, #0x18           @ SYS_EXIT, ADP_Stopped_ApplicationExit
    ldr r1, =0x20026
    bkpt 0xab
    .align 2
    ORG
    .thumb_func
    .global bench_begin
bench_begin:
    mov.w r4, #LOOPS         @ 32-bit: the loop label stays word-aligned without padding
1:
BODY
    bne 1b                   @ branch + refill_direct when taken
    b bench_end
    .align 2
    .thumb_func
    .global bench_end
bench_end:
    bx lr
    .align 2
flash_word:
    .word 0x12345678
    .ltorg
"""
BODY = """
    ldr r0, [r5]             @ load
    ldr r1, [r5, #4]         @ load, pipelined after a load
    ldr r2, [r5, #8]         @ load, pipelined
    str r0, [r6]             @ store_immediate, after a load (already one cycle: nothing to pipeline away)
    mla r3, r0, r1, r3       @ mla
    smlad r3, r1, r2, r3     @ dsp_mul
    ldm r5, {r0-r2}          @ multiple_base + 3 x multiple_per_register
    ldr r0, [r7]             @ load from flash (nothing pipelines after LDM)
    subs r4, #1              @ alu
"""
LINK_LD = "ENTRY(reset)\nSECTIONS { . = 0; .text : { KEEP(*(.vectors)) *(.text*) } }\n"


def _build_loop(tmp_path: Path, loops: int, org: int | None = None, body: str = BODY) -> tuple[Path, int, int]:
    tag = f"{loops}-{org}-{abs(hash(body))}"
    src, ld, elf = tmp_path / f"loop{tag}.S", tmp_path / "loop.ld", tmp_path / f"loop{tag}.elf"
    src.write_text(LOOP_S.replace("ORG", f".org 0x{org:x}" if org else "").replace("BODY", body.strip("\n")))
    ld.write_text(LINK_LD)
    subprocess.run(
        ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", f"-DLOOPS={loops}", "-T", str(ld),
         "-x", "assembler-with-cpp", str(src), "-o", str(elf)],
        check=True, capture_output=True,
    )  # fmt: skip
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], check=True, capture_output=True, text=True).stdout
    syms = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.splitlines()) if len(p) == 3}
    return elf, syms["bench_begin"], syms["bench_end"]


def _window(elf: Path, begin: int, end: int, table, wait_states: int = 0) -> tuple[int, int]:
    _, run = timing.run_qemu_timed(elf, "mps2-an386", table, wait_states, [begin, end], timeout_s=30)
    (w,) = timing.segment(run, 0, 1)
    return w["end"][0] - w["start"][0], w["end"][1] - w["start"][1]


def _per_iteration(c: dict[str, int]) -> int:
    """The loop body's cost from the table, term by term (the comments of LOOP_S)."""
    return (
        c["load"] + 2 * (c["load"] - c["load_pipelining"]) + max(1, c["store_immediate"] - c["load_pipelining"])
        + c["mla"] + c["dsp_mul"] + c["multiple_base"] + 3 * c["multiple_per_register"] + c["load"]
        + c["alu"] + c["branch"] + c["refill_direct"]
    )  # fmt: skip


@needs_tools
@pytest.mark.qemu
def test_plugin_builds_loads_and_charges_the_table_exactly(tmp_path):
    table = timing.load_timing_table("cortex-m4")
    lib = timing.plugin_library()
    assert lib.is_file() and timing.plugin_library() == lib  # cached
    elf, begin, end = _build_loop(tmp_path, 100)
    cycles, instructions = _window(elf, begin, end, table)
    c = table.cycles
    # window: refill of the BL into bench_begin, MOV.W, 100 iterations (the last BNE falls through), B
    want = c["refill_call"] + c["alu"] + 100 * _per_iteration(c) - c["refill_direct"] + c["branch"]
    assert instructions == 1 + 100 * 10 + 1
    assert cycles == want
    # the Cortex-M4 TRM figures behind it (3.3.1 Table 3-1, 3.3.2): 2+1+1+1 +1 +1 +(1+3) +2 +1 +(1+1) = 16
    assert _per_iteration(c) == 16

    # the same loop with its MLA straddling a 1 KiB page (QEMU ends a block there and, in 7.2, reports the
    # peeked halfword as part of the previous instruction): the count must not change, except that bench_begin
    # now starts at a halfword address with a 32-bit instruction (one more fetch after the BL)
    elf, begin, end = _build_loop(tmp_path, 100, org=0x3F2 - 8)  # .org counts from .text, after the 8 B of vectors
    assert begin & ~1 == 0x3F2
    assert _window(elf, begin, end, table) == (want + c["refill_unaligned_32bit"], instructions)


@needs_tools
@pytest.mark.qemu
def test_flash_wait_states_charge_fetches_and_flash_loads(tmp_path):
    table = timing.load_timing_table("cortex-m4")
    e1, b1, x1 = _build_loop(tmp_path, 100)
    e2, b2, x2 = _build_loop(tmp_path, 200)
    for ws in (0, 2):
        per_iter = (_window(e2, b2, x2, table, ws)[0] - _window(e1, b1, x1, table, ws)[0]) / 100
        # 24 bytes of word-aligned loop body = 6 instruction fetch words, plus the LDR from flash_word
        assert per_iter == 16 + ws * (6 + 1)


@needs_tools
@pytest.mark.qemu
def test_m0plus_and_m7_tables_differ_as_documented(tmp_path):
    elf, begin, end = _build_loop(tmp_path, 100)
    m4 = _window(elf, begin, end, timing.load_timing_table("cortex-m4"))[0]
    m7 = _window(elf, begin, end, timing.load_timing_table("cortex-m7"))[0]
    m0 = timing.load_timing_table("cortex-m0plus")
    assert m7 < m4  # dual issue, single-cycle loads
    assert _per_iteration(m0.cycles) == 19  # no load pipelining: 2+2+2+2 +1 +1 +4 +2 +1 +2


def test_every_cortex_m_profile_has_a_valid_table():
    from edgeq.target import builtin_names

    for name in builtin_names():
        t = load_target(name)
        if t.family != "cortex-m":
            continue
        table = timing.table_for(t)
        # a core's own table, or the one its profile names explicitly (cortex-m85: the M55 table, labelled so)
        assert table is not None and table.core == (t.cpu.timing_model or t.cpu.core), name
        if table.core != t.cpu.core:
            assert table.kind == "approximation", f"{name}: another core's table is only an approximation"
        assert set(table.cycles) == {k for keys in timing.TABLE_SECTIONS.values() for k in keys}
        assert table.sources, f"{table.path}: cite the TRM sections"


def test_table_errors_say_what_to_fix(tmp_path):
    bad = tmp_path / "bad.toml"
    text = (timing.timing_dir() / "cortex-m4.toml").read_text().replace("mla = 1", "mla_typo = 1")
    bad.write_text(text)
    with pytest.raises(ProfileError) as e:
        timing.load_timing_table(str(bad))
    assert "misses mla" in e.value.message and "unknown keys mla_typo" in e.value.message
    with pytest.raises(ProfileError) as e:
        timing.load_timing_table("cortex-m99")
    assert "cortex-m4" in e.value.hint


def test_board_result_shows_model_error_next_to_dwt_cycles(tmp_path):
    """No board here: a DWT run's parsed report goes through _result with a model estimate beside it."""
    from edgeq.harness.cortexm import _result

    t = load_target("cortex-m4")
    table = timing.table_for(t)
    header = ModelHeader(1, 1, 1024, 2, (16,), (4,), (0,))
    model = ModelSources("m", tmp_path, header, None, ("CONV_2D", "FULLY_CONNECTED"), (1000, 200), "test")
    run = FirmwareRun(
        "nucleo-l4r5zi", "dwt_cyccnt", Calibration(1, 1, 2, 2, 0),
        (SampleRun(0, 0, 125_000, 2048, 512, (b"\0\0\0\0",)),),
    )  # fmt: skip
    est = timing.CycleEstimate(table, 0, 100_000, 80_000, 1)
    r = _result(model, t, "pyocd", "", "nucleo-l4r5zi", {}, run, None, {"model": SectionSizes(100, 50)}, [], est)
    cyc = r.figure("cycles")
    assert (cyc.kind, cyc.value) == ("measured", 125_000)
    assert r.figure("cycles_model").value == 100_000 and r.figure("cycles_model").kind == "estimated"
    assert r.figure("cycles_model_error_pct").value == pytest.approx(-20.0)
    assert r.details["cycle_model"].startswith("cortex-m4 timing model (QEMU TCG plugin, 0 flash wait states")
    assert isinstance(timing.model_error_figures(0, est)[0], Figure)


@needs_tools
@pytest.mark.qemu
@pytest.mark.slow
def test_bench_json_reports_estimated_cycles_and_per_op_cycles(tmp_path):
    pytest.importorskip("tflite_micro", reason="tflite-micro (reference interpreter) not installed")
    fixture = REPO / "tests" / "fixtures" / "harness" / "harness_cnn_int8.tflite"
    p = subprocess.run(
        [sys.executable, "-m", "edgeq.cli", "bench", str(fixture), "--target", "cortex-m4", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout)
    cyc = next(f for f in res["figures"] if f["name"] == "cycles")
    assert cyc["kind"] == "estimated"
    assert "cortex-m4 timing model (QEMU TCG plugin, 0 flash wait states)" in cyc["method"]
    ops = res["per_op"]
    assert ops and all(o["cycles"] > 0 for o in ops if o["opcode"] != "RESHAPE")
    d = res["details"]
    assert sum(o["cycles"] for o in ops) + int(d["cycles_outside_ops"]) == int(d["profile_build_cycles"])
    energy = next(f for f in res["figures"] if f["name"] == "energy_uj")
    assert energy["value"] == pytest.approx(cyc["value"] * 320e-6)


# Stores and address dependencies (TRM 3.3.2): an immediate-offset STR takes one cycle, a register-offset STR two
# (one right after an LDR), and a load or store whose address a data-processing instruction just wrote waits a cycle.
STORE_BODY = """
    mov r8, r5               @ alu
    ldr r0, [r8, #12]        @ load + address_dependency_stall (r8 written by the MOV)
    str r0, [r6, #4]         @ store_immediate, after a load
    str r1, [r6, #8]         @ store_immediate (nothing pipelines after a store)
    lsls r2, r4, #2          @ alu
    str r1, [r6, r2]         @ store (register offset) + address_dependency_stall (r2 written by the LSLS)
    ldr r1, [r5, #16]        @ load (after a store: not pipelined)
    str r1, [r6, r3]         @ store (register offset), pipelined after a load
    add r9, r6, #32          @ alu
    str r1, [r6, #12]        @ store_immediate: its address does not use r9, no stall
    subs r4, #1              @ alu
"""


def _store_body_cost(c: dict[str, int]) -> int:
    """STORE_BODY's cost from the table, term by term (its comments), + the taken BNE."""
    stall, lp = c["address_dependency_stall"], c["load_pipelining"]
    return (
        c["alu"] + c["load"] + stall + max(1, c["store_immediate"] - lp) + c["store_immediate"]
        + c["alu"] + c["store"] + stall + c["load"] + max(1, c["store"] - lp)
        + c["alu"] + c["store_immediate"] + c["alu"] + c["branch"] + c["refill_direct"]
    )  # fmt: skip


@needs_tools
@pytest.mark.qemu
def test_store_forms_and_address_dependency_stall(tmp_path):
    e1, b1, x1 = _build_loop(tmp_path, 100, body=STORE_BODY)
    e2, b2, x2 = _build_loop(tmp_path, 200, body=STORE_BODY)
    for core, want in (("cortex-m4", 18), ("cortex-m0plus", 20)):
        table = timing.load_timing_table(core)
        per_iter = (_window(e2, b2, x2, table)[0] - _window(e1, b1, x1, table)[0]) / 100
        assert per_iter == _store_body_cost(table.cycles) == want, core
    # M4 (TRM 3.3.1/3.3.2): 1 +(2+1) +1 +1 +1 +(2+1) +2 +1 +1 +1 +1 +(1+1) = 18;
    # M0+ (every load/store 2, no pipelining, no stall): 1 +2 +2 +2 +1 +2 +2 +2 +1 +2 +1 +(1+1) = 20
