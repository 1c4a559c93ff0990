"""Per-model stack scratch sizes (edgeq/codegen/scratch.py -> the generated edgeq_runtime/include/edgeq_config.h).

The sized runtime must run exactly what the defaults run: same outputs and same instruction counts (host builds of
the DSP path with -DEDGEQ_EMULATE_DSP counted by valgrind; the Helium and the M4 builds counted by QEMU), on less
stack. A kernel that changes how it uses one of the macros without scratch.py following fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import codegen_models as cm
import pytest
from test_codegen_core import models  # noqa: F401  (the session's converted models)

from edgeq.codegen import CONFIG_PATH, RUNTIME_DIR, generate, ops_core, render, scratch
from edgeq.codegen.host import HostModel
from edgeq.graph import load

FIXTURE = Path(__file__).parent / "fixtures" / "cnn_int8.tflite"
SRC = RUNTIME_DIR / "src"


# ------------------------------------------------------------------------------------------- fast, no compiler


def _defines(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"#define (EDGEQ_\w+_BYTES) (\d+)", text)}


def test_defaults_agree_with_the_runtime():
    """scratch.DEFAULTS == the runtime's edgeq_config.h == every kernel's own #ifndef fallback; the generator's
    int16-weight decision (CONV_X16_WORDS) is the default scratch; the DSP-build condition is EDGEQ_CONV_W16's."""
    shipped = _defines((RUNTIME_DIR / "include" / "edgeq_config.h").read_text())
    assert shipped == scratch.DEFAULTS
    fallbacks: dict[str, set[int]] = {}
    for p in [*SRC.glob("edgeq_*.c"), RUNTIME_DIR / "include" / "edgeq_conv.h"]:
        for k, v in _defines(p.read_text()).items():
            fallbacks.setdefault(k, set()).add(v)
    for k, v in scratch.DEFAULTS.items():
        assert fallbacks.get(k, {v}) == {v}, (k, fallbacks.get(k))
    assert scratch.DEFAULTS["EDGEQ_CONV_SCRATCH_BYTES"] == 4 * ops_core.CONV_X16_WORDS
    conv_h = (RUNTIME_DIR / "include" / "edgeq_conv.h").read_text()
    cond = re.search(r"#if (.*?)\n#define EDGEQ_CONV_W16 1", conv_h, re.S).group(1)
    assert " ".join(cond.replace("\\\n", " ").split()) == " ".join(scratch.W16_CONDITION.replace("\\\n", " ").split())
    assert '#include "edgeq_config.h"' in (RUNTIME_DIR / "include" / "edgeq_common.h").read_text()


def test_generator_constants_mirror_the_runtime():
    """The kernels' internal constants scratch.py and ops_core.py copy to mirror a path's conditions and sizes equal
    the runtime's #defines (a kernel edited alone would size a scratch, or choose a layout, for another kernel);
    eq_first_blocks' ring row offsets (its asm's immediates: 632, 1264 bytes) are EQ_FIRST_RWW words."""
    mirrors = {  # (file, C name): the Python copy
        ("src/edgeq_dwconv.c", "EQ_DWP_WK"): scratch._EQ_DWP_WK,
        ("src/edgeq_dwconv.c", "EQ_DWP_HDR"): scratch._EQ_DWP_HDR,
        ("include/edgeq_conv.h", "EQ_W16_THREE_MIN"): scratch._EQ_W16_THREE_MIN,
        ("src/edgeq_conv1x1.c", "EQ_W16_THREE_1X1_MIN"): scratch._EQ_W16_THREE_1X1_MIN,
        ("src/edgeq_conv_mve.c", "EQ_MVE_INTER_GATHER_MAX"): scratch._EQ_MVE_INTER_GATHER_MAX,
        ("src/edgeq_dwconv_mve.c", "EQ_DW_MAX_KH"): scratch._EQ_DW_MAX_KH,
        ("src/edgeq_conv.c", "EQ_FIRST_RWW"): scratch._CONV_FIRST_RWW,
    }
    for (path, name), value in mirrors.items():
        found = re.findall(rf"^#define {name} (\d+)\b", (RUNTIME_DIR / path).read_text(), re.M)
        assert found == [str(value)], (path, name, found, value)
    conv = (SRC / "edgeq_conv.c").read_text()
    rww = 4 * scratch._CONV_FIRST_RWW
    assert f"EQ_F_STEP({rww}, {rww + 12}, {rww + 24}," in conv
    assert f"EQ_F_STEP({2 * rww}, {2 * rww + 12}, {2 * rww + 24}," in conv


def test_round_up_stays_between_need_and_default():
    for default in (128, 1152, 1280, 1536, 4096):
        for need in range(0, default + 1, 7):
            got = scratch.round_up(need, default)
            assert max(need, scratch.MIN_BYTES) <= got <= default and got % 4 == 0
            assert got <= max(scratch.MIN_BYTES, need + need // 4 + 4) or need == 0  # at most a quarter over
    assert scratch.round_up(0, 1536) == 1536  # unused: the default (never called, and not inlined for its size)


def test_generated_config_is_written_and_smaller(tmp_path):
    g = load(FIXTURE)
    src = render(g)
    cfg = src.files[CONFIG_PATH]
    assert "One runtime serving several models" in cfg
    generate(g, tmp_path)
    assert (tmp_path / CONFIG_PATH).read_text() == cfg  # not overwritten by the runtime's defaults
    sized = _defines(cfg)
    assert all(v <= scratch.DEFAULTS[k] for k, v in sized.items())
    assert sum(sized.values()) < sum(scratch.DEFAULTS.values()) * 3 / 4, sized


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55", "cortex-m0plus"])
def test_sized_kernels_compile_warning_free(cpu, tmp_path):
    """The kernels that read the sizes, compiled with a small model's generated config (-Wall -Wextra -Werror:
    e.g. -Warray-bounds on a buffer the compiler sees too small for a path)."""
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    from codegen_models import ARM_CPUS

    generate(load(FIXTURE), tmp_path)
    assert _defines((tmp_path / CONFIG_PATH).read_text()) != scratch.DEFAULTS
    for name in ("edgeq_conv.c", "edgeq_conv_mve.c", "edgeq_dwconv.c", "edgeq_dwconv_mve.c"):
        r = subprocess.run(["arm-none-eabi-gcc", *ARM_CPUS[cpu], "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                            "-I", str(tmp_path / "edgeq_runtime" / "include"), "-c",
                            str(tmp_path / "edgeq_runtime" / "src" / name), "-o", "/dev/null"],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{cpu} {name}:\n{r.stderr[:3000]}"


def test_a_scratch_override_below_the_int16_layers_need_is_a_build_error(tmp_path):
    """-DEDGEQ_CONV_SCRATCH_BYTES below what the model's int16-weight CONV_2D layers need would make them fall
    through to a path that reads their (absent) int8 filter: the generated config stops the build, naming the fix."""
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    from codegen_models import ARM_CPUS

    generate(load(FIXTURE), tmp_path)
    cfg = (tmp_path / CONFIG_PATH).read_text()
    need = scratch.scratch_sizes(render(load(FIXTURE)).files["edgeq_model.c"]).need_dsp["EDGEQ_CONV_SCRATCH_BYTES"]
    assert need > 0 and f"#if EDGEQ_CONV_SCRATCH_BYTES < {need}" in cfg

    def build(cpu: str, size: int):
        return subprocess.run(["arm-none-eabi-gcc", *ARM_CPUS[cpu], "-O2", f"-DEDGEQ_CONV_SCRATCH_BYTES={size}",
                               "-I", str(tmp_path / "edgeq_runtime" / "include"), "-c",
                               str(tmp_path / "edgeq_runtime" / "src" / "edgeq_conv.c"), "-o", "/dev/null"],
                              capture_output=True, text=True)

    r = build("cortex-m4", need - 4)
    assert r.returncode != 0 and f"remove the -D override or set it to at least {need}" in r.stderr, r.stderr[:2000]
    assert build("cortex-m4", need).returncode == 0
    assert build("cortex-m0plus", need - 4).returncode == 0  # int8 weights there: any size is a slower path at worst


def test_packed_weight_models_keep_the_defaults():
    assert scratch.scratch_sizes("", packed=True).dsp == scratch.DEFAULTS


# --------------------------------------------------------------------------- host builds, instruction counts


# Host builds without size-dependent inlining or cloning: GCC inlines a kernel whose stack frame shrank where it
# did not inline the larger one, which changes the instruction count but not the path.
NO_INLINE = ("-fno-inline-functions", "-fno-inline-small-functions", "-fno-inline-functions-called-once",
             "-fno-ipa-cp", "-fno-ipa-cp-clone", "-fno-ipa-sra", "-fno-ipa-icf")


def _profile(exe: HostModel, inputs, out: Path) -> tuple[int, dict[str, int], bytes]:
    """One run of the host executable under callgrind: total instructions, calls per runtime function, output."""
    r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe.exe)],
                       input=exe._sample_bytes(inputs), capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    names: dict[str, str] = {}
    calls: dict[str, int] = {}
    total, cfn = 0, ""
    for line in out.read_text().splitlines():
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "cfn":
                cfn = names.get(m.group(2), m.group(2))
        elif line.startswith("calls=") and cfn.startswith(("eq_", "edgeq_")):
            calls[cfn] = calls.get(cfn, 0) + int(line.split()[0][6:])
        elif line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    return total, calls, r.stdout


def _sized_and_default(g, root: Path) -> tuple[Path, Path]:
    sized, default = root / "sized", root / "default"
    generate(g, sized)
    shutil.copytree(sized, default)
    shutil.copyfile(RUNTIME_DIR / "include" / "edgeq_config.h", default / CONFIG_PATH)
    return sized, default


@pytest.mark.slow
@pytest.mark.parametrize("name,flags", [
    ("dw3x3_paths", ("-DEDGEQ_EMULATE_DSP",)),      # DSP depthwise: padded rows, clipped windows, plain; 1x1 conv
    ("dw3x3_c5", ("-DEDGEQ_EMULATE_DSP",)),         # 5 channels: tails; stride (1, 2)
    ("conv_x16_paths", ("-DEDGEQ_EMULATE_DSP",)),   # CONV_2D int16 windows, 3 pixels x 2, quads, 1x1
    ("conv_s2_same_even", ()),                       # the plain build's im2col
])
def test_sized_runtime_runs_the_same_instructions_on_the_host(models, name, flags, tmp_path,  # noqa: F811
                                                              monkeypatch):
    if not shutil.which("valgrind"):
        pytest.skip("valgrind not installed")
    monkeypatch.setattr(scratch, "SIZE_DSP_CONV_SCRATCH", True)  # the int16 CONV_2D scratch sized too (optional)
    g = load(models.path(name))
    sized, default = _sized_and_default(g, tmp_path)
    assert _defines((sized / CONFIG_PATH).read_text()) != scratch.DEFAULTS
    inputs = cm.random_inputs(g, 2, seed=3)
    runs = [_profile(HostModel.compile(g, d, extra_cflags=(*flags, *NO_INLINE)), inputs, d / "callgrind.out")
            for d in (sized, default)]
    assert runs[0][2] == runs[1][2]  # same output bytes
    assert runs[0][1] == runs[1][1], name  # the same kernel functions called as often: the same paths and chunks
    assert runs[0][1], name
    # and the same instructions, but for code generated from other constants (frame sizes, folded bounds)
    assert abs(runs[0][0] - runs[1][0]) <= runs[1][0] // 200, (name, runs[0][0], runs[1][0])


# ------------------------------------------------------------------------------------- QEMU: Helium and M4


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("name,target_name", [("dw3x3_paths", "cortex-m55"), ("conv_x16_paths", "cortex-m55"),
                                              ("dw3x3_paths", "cortex-m4")])
def test_sized_runtime_runs_the_same_instructions_on_cortex_m(models, name, target_name, tmp_path):  # noqa: F811
    """Helium paths (host builds cannot run them) and one M4 build: per op the same instructions (within the code
    generation noise below), built without size-dependent inlining; the stack no larger (smaller on the M4, whose
    deepest frames are the scratch)."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    g = load(models.path(name))
    sized, default = _sized_and_default(g, tmp_path)
    figs = []
    for d in (sized, default):
        shutil.copyfile(models.path(name), d / "model.tflite")
        res = bench_cortexm(str(d), load_target(target_name), "qemu", samples=1, per_op=True, timeout_s=300,
                            workdir=d.parent / f"fw-{d.name}", extra_cflags=NO_INLINE)
        assert res.output_matches_reference is True, (name, target_name, d.name, res.notes)
        figs.append(({f.name: f.value for f in res.figures}, [(o.opcode, o.instructions) for o in res.per_op]))
    (s, s_ops), (d, d_ops) = figs
    # Per op within a few percent: the same path, in code compiled from other constants (stack frames set up with
    # other immediates; code a small scratch rules out folded away, e.g. the 3 pixels x 2 channels CONV_2D block
    # when no window fits it, which changes how GCC compiles the shared window gather). Host builds check the
    # DSP and plain paths call for call (above); a Helium path the sized scratch lost costs far more.
    for (op, a), (_, b) in zip(s_ops, d_ops):
        assert abs(a - b) <= 16 + b // 20, (name, target_name, op, a, b)
    assert s["stack_bytes"] <= d["stack_bytes"], (s["stack_bytes"], d["stack_bytes"])
    if target_name == "cortex-m4":
        assert s["stack_bytes"] < d["stack_bytes"], (s["stack_bytes"], d["stack_bytes"])
