"""Cross-check of the Cortex-M4 cycle model against llvm-mca on the hottest loops of a real model.

Runs a model's benchmark firmware (edgeq generated C + runtime, arm-none-eabi-gcc -O2, QEMU mps2-an386) under
the timing plugin with a per-block listing (inside the edgeq_model_invoke() window), takes the hottest
translated blocks (straight-line code ending in a branch; "loop" when the branch goes back to the block's own
start), disassembles each and feeds it to `llvm-mca -mcpu=cortex-m4` (LLVM's Cortex-M4 scheduling model,
ARMScheduleM4.td), then compares cycles per execution of the block:

- model (static): the block's cost in the plugin without the path-dependent parts (taken-branch refill, pairing
  across block edges): what llvm-mca models too (it has no pipeline refill);
- model (charged): what the plugin charged per execution in the run, refills included;
- llvm-mca: Total Cycles / iterations of the block repeated (steady state);
- model, LLVM load policy: the static cost with the load rows of the table set the way LLVM's M4 model times
  loads (issue 1 cycle, result 1 cycle later: load = store = 1, LDRD/STRD 2, no LDR/LDR pipelining, a 1-cycle
  load-use stall). The TRM charges 2 cycles per LDR unless it pipelines behind another load; this column
  shows how much of the difference is that one policy.

    python benchmarks/cycle_model_vs_mca.py                          # the harness fixture model
    python benchmarks/cycle_model_vs_mca.py path/to/model.tflite --top 12
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{4}(?: [0-9a-f]{4})?)\s+(\S+)\s*(.*)$")
_BRANCH = re.compile(r"^(b|bl|bx|blx|cbz|cbnz)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(\.[nw])?$")


def disassemble(elf: Path, start: int, end: int) -> list[tuple[int, str, str]]:
    out = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "-w", f"--start-address=0x{start:x}",
         f"--stop-address=0x{end:x}", str(elf)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    insns = []
    for line in out.splitlines():
        m = _INSN.match(line)
        if m:
            ops = m.group(3).split(";")[0].split("@")[0].strip()
            insns.append((int(m.group(1), 16), m.group(2), ops))
    return insns


def symbol_at(elf: Path, addr: int) -> str:
    out = subprocess.run(["arm-none-eabi-addr2line", "-f", "-e", str(elf), hex(addr)], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.stdout else "?"


_POST_INDEX = re.compile(r"\[(\w+)\],\s*(#-?\d+)")
_PRE_INDEX_WB = re.compile(r"\[(\w+),\s*(#-?\d+)\]!")


def mca_input(insns: list[tuple[int, str, str]]) -> str:
    """The block as llvm-mca input. Branches go to the block's top. Loads/stores with base writeback are
    written without it (`[r2], #4` -> `[r2, #4]`): llvm-mca 14 crashes on Thumb-2 writeback forms with
    -mcpu=cortex-m4, and on the M4 the writeback costs nothing extra (same class, same issue cycle)."""
    lines = [".syntax unified", ".thumb", "loop_top:"]
    for _, mnem, ops in insns:
        ops = _PRE_INDEX_WB.sub(r"[\1, \2]", _POST_INDEX.sub(r"[\1, \2]", ops))
        if _BRANCH.match(mnem):
            if mnem.startswith(("cbz", "cbnz")):
                ops = ops.split(",")[0] + ", loop_top"
            elif not mnem.startswith(("bx", "blx")):
                ops = "loop_top"
        lines.append(f"{mnem} {ops}".strip())
    return "\n".join(lines) + "\n"


def run_mca(text: str, iterations: int = 1000) -> float | None:
    mca = shutil.which("llvm-mca-14") or shutil.which("llvm-mca")
    p = subprocess.run(
        [mca, "-mtriple=thumbv7em-none-eabi", "-mcpu=cortex-m4", f"-iterations={iterations}"],
        input=text, capture_output=True, text=True,
    )  # fmt: skip
    m = re.search(r"Total Cycles:\s+(\d+)", p.stdout)
    return int(m.group(1)) / iterations if m else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default=str(REPO / "tests/fixtures/harness/harness_cnn_int8.tflite"))
    ap.add_argument("--target", default="cortex-m4")
    ap.add_argument("--top", type=int, default=10, help="hottest loop blocks to compare")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.harness.cortexm.build import _elf_symbols
    from edgeq.harness.cortexm.timing import MARK_SYMBOLS, run_qemu_timed, table_for
    from edgeq.target import load_target

    target = load_target(args.target)
    table = table_for(target)
    work = Path(tempfile.mkdtemp(prefix="edgeq-mca-"))
    try:
        bench_cortexm(args.model, target, "qemu", per_op=False, workdir=work)
        elf = work / "fw" / "fw.elf"
        syms = _elf_symbols(elf)
        blocks, blocks_llvm = work / "blocks.txt", work / "blocks-llvm.txt"
        marks = [syms.get(s, 0xFFFFFFFF) for s in MARK_SYMBOLS]
        run_qemu_timed(elf, target.emulator.qemu_machine, table, 0, marks, 600, blocks=blocks)
        llvm_loads = dict(table.cycles, load=1, load_literal=1, store=1, load_double=2, store_double=2,
                          load_pipelining=0, load_use_stall=1)  # fmt: skip
        run_qemu_timed(elf, target.emulator.qemu_machine, replace(table, cycles=llvm_loads), 0, marks, 600,
                       blocks=blocks_llvm)  # fmt: skip
        static_llvm = {}
        for line in blocks_llvm.read_text().splitlines():
            _, start, end, _n, _execs, _charged, static = line.split()
            static_llvm[(int(start, 16), int(end, 16))] = int(static)
        agg: dict[tuple[int, int], list[int]] = {}
        for line in blocks.read_text().splitlines():
            _, start, end, _n, execs, charged, static = line.split()
            a = agg.setdefault((int(start, 16), int(end, 16)), [0, 0, int(static)])
            a[0] += int(execs)
            a[1] += int(charged)
        total = sum(c for _, c, _ in agg.values())
        rows = []
        for (start, end), (execs, charged, static) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
            insns = disassemble(elf, start, end)
            if not insns or execs < 50 or insns[-1][1] in ("bl", "blx"):
                continue  # llvm-mca cannot model a call (it times BL as a long-latency instruction)
            back = False
            if _BRANCH.match(insns[-1][1]):
                try:
                    back = int(insns[-1][2].split(",")[-1].strip().split()[0], 16) == start
                except ValueError:
                    pass
            mca = run_mca(mca_input(insns))
            if mca is None:
                continue
            fn = symbol_at(elf, start) + (" (loop)" if back else "")
            rows.append((fn, start, len(insns), execs, charged / total, charged / execs, static,
                         static_llvm.get((start, end)), mca))  # fmt: skip
            if len(rows) >= args.top:
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| function | block | instr | executions | share of cycles | model (charged) | model (static) | llvm-mca "
          "| diff | model, LLVM load policy | diff |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    wsum = wdiff = wsigned = wdiff2 = 0.0
    for fn, start, n, execs, share, charged, static, static2, mca in rows:
        diff = (static - mca) / mca * 100
        diff2 = (static2 - mca) / mca * 100 if static2 is not None else 0.0
        wsum += share
        wdiff += share * abs(diff)
        wsigned += share * diff
        wdiff2 += share * abs(diff2)
        print(f"| {fn} | 0x{start:x} | {n} | {execs:,} | {share:.1%} | {charged:.2f} | {static} | {mca:.2f} | "
              f"{diff:+.1f}% | {static2} | {diff2:+.1f}% |")
    if wsum:
        print(f"\nover these blocks ({wsum:.0%} of the invoke's cycles), cycle-weighted: TRM model vs llvm-mca: "
              f"mean |diff| {wdiff / wsum:.1f}% (signed {wsigned / wsum:+.1f}%); with LLVM's load policy: mean "
              f"|diff| {wdiff2 / wsum:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
