"""Guards on what the hand-written DSP assembly assumes about its own encoding, checked on the built objects
(arm-none-eabi-gcc + arm-none-eabi-objdump, no QEMU, ~1-2 s).

edgeq_conv1x1.c's 1x1 / windows stream (eq_c1_block) enters its eight-group MAC loop by `ADD PC, Rm` at an offset
eq_c1_pairs3 computes as ((1 - n4) & 7) * 88: that is only right if the ADD is 16-bit and followed by one 16-bit
NOP (PC reads as the ADD's address + 4 = label 1), and if each of the eight groups is exactly 22 32-bit
instructions. A 16-bit encoding the assembler picks for some register allocation, or a group edited to another
length, would jump into the middle of an instruction: wrong outputs or a fault on some layers only, which the
bit-exact tests catch only where such a layer happens to be built. The ADD also sits at a word address (everything
from the word-aligned label 3 to it 32-bit) so that label 1 and every group are word-aligned branch targets (timing).
Between the CMP that reads the last pair's mark (bit 31 of an e word) and the BPL that ends the pair loop nothing may
set the flags (a 16-bit flag-setting form chosen for a plain ASR/ADD would break the loop)."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT

RUNTIME = ROOT / "edgeq" / "runtime"
SRC = RUNTIME / "src" / "edgeq_conv1x1.c"
BUILDS = {  # the cores that take the DSP stream, and the optimisation levels that keep the asm (EDGEQ_ASM_REGS)
    "m4-O2": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"],
    "m4-Os": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os"],
    "m4-Og": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Og"],
    "m4-O3": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O3"],
    "m4-soft-O2": ["-mcpu=cortex-m4", "-mfloat-abi=soft", "-O2"],
    "m7-O2": ["-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2"],
    "m33-O2": ["-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2"],
}
GROUP = ["ldr"] * 5 + ["smlad"] * 6 + ["ldr"] * 5 + ["smlad"] * 6  # EQ_W16_PAIR3_GROUP (edgeq_conv.h)
# mnemonics that write the flags (objdump prints the S forms with the suffix; compares and tests)
FLAG_SETTERS = re.compile(r"^(cmp|cmn|tst|teq|msr|[a-z]+s)$")
NOT_FLAG_SETTERS = {"mrs", "cps"}  # (end in s, write no flags)


def _insns(obj_dump: str) -> list[tuple[int, int, str, str]]:
    """(address, width in bytes, mnemonic without .w/.n, operands) of every instruction in objdump -d output."""
    out = []
    for line in obj_dump.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        width = 4 if m.group(3) else 2
        mnem = re.sub(r"\.(w|n)$", "", m.group(4))
        out.append((int(m.group(1), 16), width, mnem, m.group(5).split(";")[0].strip()))
    return out


def _branch_target(ops: str) -> int:
    return int(ops.split()[0], 16)


def _build(job, tmp_path):
    name, flags = job
    gcc = shutil.which("arm-none-eabi-gcc")
    obj = tmp_path / f"{name}.o"
    r = subprocess.run([gcc, "-mthumb", *flags, "-std=c99", "-I", str(RUNTIME / "include"), "-c", str(SRC),
                        "-o", str(obj)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{name}: {r.stderr[:600]}"
    d = subprocess.run([shutil.which("arm-none-eabi-objdump"), "-d", str(obj)], capture_output=True, text=True,
                       timeout=120, check=True)
    return name, _insns(d.stdout)


def _check_dispatch(name: str, insns: list[tuple[int, int, str, str]], mask: int, step: int, ctx: int = 4) -> list[str]:
    errs = []
    at = {a: i for i, (a, *_rest) in enumerate(insns)}
    adds = [i for i, (_a, _w, mn, ops) in enumerate(insns) if mn == "add" and re.match(r"pc,\s*\w+$", ops)]
    if not adds:
        return [f"{name}: no `add pc, Rm` (the stream's MAC loop entry) in {SRC.name}"]
    for i in adds:
        a, w, _mn, ops = insns[i]
        rm = ops.split(",")[1].strip()
        where = f"{name} add pc at {a:#x}"
        if w != 2:
            errs.append(f"{where}: 32-bit (PC + 4 no longer lands on label 1)")
        # the LDR of the entry offset just before it, into the ADD's register
        pa, _pw, pmn, pops = insns[i - 1]
        if pmn != "ldr" or not pops.startswith(rm + ","):
            errs.append(f"{where}: not preceded by the entry offset's LDR into {rm} ({pmn} {pops})")
        nop = insns[i + 1]
        if nop[2] != "nop" or nop[1] != 2 or nop[0] != a + 2:
            errs.append(f"{where}: followed by {nop[2]} ({nop[1]} bytes), not one 16-bit NOP")
        label1 = a + 4
        if label1 not in at:
            errs.append(f"{where}: no instruction at PC ({label1:#x})")
            continue
        j = at[label1]
        groups = mask + 1
        body = insns[j:j + groups * len(GROUP)]
        for g in range(groups):
            part = body[g * len(GROUP):(g + 1) * len(GROUP)]
            mnems = [x[2] for x in part]
            if mnems != GROUP:
                errs.append(f"{where}: group {g} is {mnems}, not EQ_W16_PAIR3_GROUP's 22 instructions")
                break
            if any(x[1] != 4 for x in part):
                errs.append(f"{where}: group {g} has 16-bit instructions "
                            f"({[f'{x[0]:#x} {x[2]} {x[3]}' for x in part if x[1] != 4]})")
                break
            if part[0][0] != label1 + g * step:
                errs.append(f"{where}: group {g} starts at {part[0][0]:#x}, not label 1 + {g} x {step}")
                break
        k = j + groups * len(GROUP)
        if insns[k][2] != "cmp" or insns[k + 1][2] != "bne" or _branch_target(insns[k + 1][3]) != label1:
            errs.append(f"{where}: the eight groups are not followed by CMP; BNE to label 1 ({insns[k][2:]}, "
                        f"{insns[k + 1][2:]})")
            continue
        # the pair loop: the BPL after the groups goes back to label 3, word-aligned; from label 3 to the ADD every
        # instruction 32-bit, so the ADD (and label 1, every group) sits at a word address
        bpl = next((m for m in range(k + 2, min(k + 80, len(insns))) if insns[m][2] == "bpl"), None)
        if bpl is None:
            errs.append(f"{where}: no BPL closing the pair loop")
            continue
        label3 = _branch_target(insns[bpl][3])
        if label3 % 4:
            errs.append(f"{where}: label 3 ({label3:#x}) at a halfword address")
        if label3 not in at or at[label3] > i:
            errs.append(f"{where}: BPL target {label3:#x} is not before the ADD")
            continue
        narrow = [f"{x[0]:#x} {x[2]} {x[3]}" for x in insns[at[label3]:i] if x[1] != 4]
        if narrow:
            errs.append(f"{where}: 16-bit instructions between label 3 and the ADD PC: {narrow}")
        if a % 4:
            errs.append(f"{where}: at a halfword address")
        # the context words the run reads after the pixels ([end, #k]) fit in the EQ_C1_CTX words callers reserve
        base = re.match(r"\w+, \[(\w+), #8\]$", pops)
        if base:
            offs = [int(o or 0) for x in insns[at[label3]:bpl] if x[2] == "ldr"
                    for o in re.findall(r"^\w+, \[" + base.group(1) + r"(?:, #(\d+))?\]$", x[3])] + [0]
            if max(offs) > 4 * (ctx - 1):
                errs.append(f"{where}: reads context word {max(offs) // 4} past EQ_C1_CTX {ctx}")
        else:
            errs.append(f"{where}: the entry offset's LDR is not [Rend, #8] ({pops})")
        # the last pair's mark: CMP (bit 31 of channel 0's e) ... BPL with nothing setting the flags between
        cmps = [m for m in range(k + 2, bpl) if insns[m][2] == "cmp"]
        if len(cmps) != 1 or not insns[cmps[0]][3].endswith("#0"):
            errs.append(f"{where}: expected one CMP Rx, #0 (the last pair's mark) before the BPL, got "
                        f"{[insns[m][2:] for m in cmps]}")
            continue
        setters = [f"{x[0]:#x} {x[2]} {x[3]}" for x in insns[cmps[0] + 1:bpl]
                   if FLAG_SETTERS.match(x[2]) and x[2] not in NOT_FLAG_SETTERS]
        if setters:
            errs.append(f"{where}: flags overwritten between the mark's CMP and the BPL: {setters}")
    return errs


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("arm-none-eabi-objdump") is None,
                    reason="arm-none-eabi toolchain not installed")
def test_c1_stream_dispatch_encoding(tmp_path):
    src = SRC.read_text()
    m = re.search(r"\(\(1 - n4\) & (\d+)\) \* (\d+)", src)
    assert m, f"{SRC.name}: the MAC loop entry ((1 - n4) & mask) * step not found (update this guard)"
    mask, step = int(m.group(1)), int(m.group(2))
    assert mask + 1 == 8 and step == 4 * len(GROUP), (mask, step)
    ctx = re.search(r"#define EQ_C1_CTX (\d+)", (RUNTIME / "include" / "edgeq_conv.h").read_text())
    assert ctx, "EQ_C1_CTX not found in edgeq_conv.h (update this guard)"
    with ThreadPoolExecutor(max_workers=2) as ex:
        built = list(ex.map(lambda job: _build(job, tmp_path), BUILDS.items()))
    errs = [e for name, insns in built for e in _check_dispatch(name, insns, mask, step, int(ctx.group(1)))]
    assert not errs, "\n".join(errs)


def test_guard_catches_a_16bit_group_instruction():
    """The checker itself: a dispatch region with one 16-bit LDR in a group, or a 32-bit NOP, is reported."""
    def region(narrow_at=None, wide_nop=False):
        out = []

        def emit(width, op, args):
            out.append((0x100 + sum(w for _, w, _, _ in out), width, op, args))

        for n in range(26):  # label 3's part: 26 32-bit instructions
            emit(4, "ldr" if n % 2 else "smlad", "r0, [r1, #-4]")
        emit(4, "ldr", "lr, [r7, #8]")  # (end in r7)
        emit(2, "add", "pc, lr")
        emit(4 if wide_nop else 2, "nop", "")
        label1 = 0x100 + sum(w for _, w, _, _ in out)
        for n in range(8 * len(GROUP)):
            emit(2 if n == narrow_at else 4, GROUP[n % len(GROUP)], "r0, [r2, #-8]")
        emit(2, "cmp", "r2, r7")
        emit(4, "bne", f"{label1:x} <x>")
        emit(4, "cmp", "r9, #0")
        emit(4, "asr", "r1, r1, r9")
        emit(4, "bpl", "100 <x>")
        return out

    assert _check_dispatch("ok", region(), 7, 88) == []
    assert any("16-bit" in e for e in _check_dispatch("narrow", region(narrow_at=30), 7, 88))
    assert any("NOP" in e for e in _check_dispatch("nop", region(wide_nop=True), 7, 88))
    flags = region()
    flags[-2] = (flags[-2][0], 2, "asrs", "r1, r9")
    assert any("flags" in e for e in _check_dispatch("flags", flags, 7, 88))
    far = region()
    far.insert(-3, (far[-4][0], 4, "ldr", "r1, [r7, #16]"))  # (addresses no longer checked after the BNE)
    assert any("EQ_C1_CTX" in e for e in _check_dispatch("ctx", far, 7, 88, 4))
    assert _check_dispatch("ctx5", far, 7, 88, 5) == []


# The per-model switches and cores test_runtime_build_flags.py does not build (it builds M4 and M55 with the default
# config): EDGEQ_DW_RELU_ONLY 1 (the generator sets it for ReLU-only models such as KWS and VWW: its own asm
# variants in edgeq_dwconv.c) at the optimisation levels that keep the asm, and the M7/M33 builds that share the DSP
# asm; warning-free and with operands GCC can place ("impossible constraints" is an error).
DSP_FLAG_BUILDS = [
    ("edgeq_dwconv.c", ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Og", "-DEDGEQ_DW_RELU_ONLY=1"]),
    ("edgeq_dwconv.c", ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O3", "-DEDGEQ_DW_RELU_ONLY=1"]),
    ("edgeq_dwconv.c", ["-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2", "-DEDGEQ_DW_RELU_ONLY=1"]),
    ("edgeq_dwconv.c", ["-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2", "-DEDGEQ_DW_RELU_ONLY=1"]),
    ("edgeq_conv.c", ["-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2"]),
    ("edgeq_conv.c", ["-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2"]),
    ("edgeq_conv1x1.c", ["-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2"]),
    ("edgeq_conv1x1.c", ["-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-O2"]),
]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_dsp_switches_and_cores_compile_warning_free(tmp_path):
    gcc = shutil.which("arm-none-eabi-gcc")

    def build(job):
        i, (src, flags) = job
        r = subprocess.run([gcc, "-mthumb", *flags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I",
                            str(RUNTIME / "include"), "-c", str(RUNTIME / "src" / src), "-o", str(tmp_path / f"{i}.o")],
                           capture_output=True, text=True, timeout=300)
        return f"{src} {' '.join(flags)}: {r.stderr.strip()[:400]}" if r.returncode else None

    with ThreadPoolExecutor(max_workers=2) as ex:
        failed = [f for f in ex.map(build, enumerate(DSP_FLAG_BUILDS)) if f]
    assert not failed, "\n".join(failed)


def test_c1_stream_context_words_fit():
    """The stream's context words after the pixels (edgeq_conv1x1.c, [%[end], #k] in its asm): every call reads
    ctx[4] (EQ_C1_NEXT_BLOCK: 0, no next block), so callers reserve at least 5 (EQ_C1_CTX); the stride-1 run reads
    up to the last word the asm addresses, and eq_c1_pairs3 takes that run only where the caller's xbuf holds that
    many words after the pixels (its `6 * n4 + N <= EQ_X16_WORDS3 + EQ_C1_CTX`). Source text, no build (~0 s)."""
    src = SRC.read_text()
    offs = [int(k) for k in re.findall(r"\[%\[end\], #(\d+)\]", src)]
    words = max(offs) // 4 + 1
    ctx = re.search(r"#define EQ_C1_CTX (\d+)", (RUNTIME / "include" / "edgeq_conv.h").read_text())
    assert ctx and int(ctx.group(1)) >= 5, ctx
    room = re.search(r"6 \* n4 \+ (\d+) <= EQ_X16_WORDS3 \+ EQ_C1_CTX", src)
    assert room, f"{SRC.name}: the run's room check not found (update this guard)"
    assert int(room.group(1)) >= words, (room.group(1), words)
    assert "end[4] = 0;" in src  # (written before every asm call: the single blocks' exit)
