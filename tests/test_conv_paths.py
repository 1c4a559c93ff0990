"""Per-model CONV_2D code paths (edgeq/codegen/scratch.py conv_path -> EDGEQ_CONV_PATH_* in the generated
edgeq_config.h -> edgeq_conv.c compiles only those paths).

The generator's mirror of eq_conv_general's choice must match the kernel: a model built with its own config runs
the same kernel functions as often as with the runtime's defaults (all paths), same output bytes (host builds,
callgrind). A path compiled out must still give the same bytes (the layer falls through to the next path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import codegen_models as cm
import pytest
from test_codegen_conv import conv_models  # noqa: F401  (the session's converted CONV_2D models)
from test_scratch_sizes import NO_INLINE, _profile

from edgeq.codegen import CONFIG_PATH, RUNTIME_DIR, generate, scratch
from edgeq.codegen.host import HostModel
from edgeq.graph import load

DSP = ("-DEDGEQ_EMULATE_DSP",)


def _layer(k_h, k_w, in_c, pad=0, w16=True, rq=True, dil_w=1):
    ptrs = {"bias_eff"} | ({"w16"} if w16 else {"filter"}) | ({"rq"} if rq else set())
    return scratch.Layer("edgeq_conv2d_params", "p", {"k_h": k_h, "k_w": k_w, "in_c": in_c, "pad_h": pad,
                                                      "pad_w": pad, "dil_w": dil_w}, ptrs=ptrs)


def test_conv_path_mirror():
    P = "EDGEQ_CONV_PATH_"
    assert scratch.conv_path(_layer(1, 1, 64), True) == ""               # 1x1 stream (edgeq_conv1x1.c)
    assert scratch.conv_path(_layer(1, 1, 4), True) == P + "WINDOWS"     # 1x1 below EQ_W16_THREE_1X1_MIN
    assert scratch.conv_path(_layer(1, 1, 64, rq=False), True) == P + "WINDOWS"  # full requantization
    assert scratch.conv_path(_layer(3, 3, 3), True) == P + "WINDOWS"     # VWW / IC first layer
    vww0 = _layer(3, 3, 3)  # VWW's first layer (ReLU-like stream: bias_eff NULL): eq_conv_first
    vww0.ptrs.discard("bias_eff")
    vww0.f.update(stride_h=2, stride_w=2, dil_h=1, in_w=96, out_w=48)
    assert scratch.conv_path(vww0, True) == P + "FIRST"
    vww0.f.update(pad_w=1)  # (left padding: the windows path)
    assert scratch.conv_path(vww0, True) == P + "WINDOWS"
    assert scratch.conv_path(_layer(3, 3, 32), True) == P + "WINDOWS"    # 288 bytes
    assert scratch.conv_path(_layer(3, 3, 64), True) == P + "CHUNKS"     # IC 64->64
    assert scratch.conv_path(_layer(10, 4, 1, w16=False), False) == P + "IM2COL"  # KWS first layer, int8
    assert scratch.conv_path(_layer(3, 3, 3, w16=False), False) == P + "GENERAL_FAST"
    assert scratch.conv_path(_layer(1, 1, 64), False) == P + "GENERAL_FAST"  # (a w16 layer's int8 twin)
    shipped = (RUNTIME_DIR / "include" / "edgeq_config.h").read_text()
    conv_c = (RUNTIME_DIR / "src" / "edgeq_conv.c").read_text()
    for k in scratch.CONV_PATHS:  # the runtime's defaults keep every path
        assert f"#define {k} 1\n" in shipped and f"#define {k} 1\n" in conv_c, k
    assert scratch.default_header().count("EDGEQ_CONV_PATH_") == 0  # (no switches: the kernels' defaults)


def _run(g, d: Path, inputs, flags, tag: str):
    exe = HostModel.compile(g, d, extra_cflags=(*flags, *NO_INLINE), exe_name=f"m_{tag}")
    return _profile(exe, inputs, d / f"callgrind.{tag}")


@pytest.mark.slow
@pytest.mark.parametrize("name,flags,off", [
    ("conv_chunks", DSP, {"IM2COL", "GENERAL_FAST", "WINDOWS", "FIRST"}),  # int16 chunks (+ 1x1 streams) only
    ("first_layers", DSP, {"IM2COL", "GENERAL_FAST", "CHUNKS", "FIRST"}),  # int16 windows only (VWW / IC first
                                                                            # layers; VWW's own takes FIRST)
    ("conv_large", DSP, {"IM2COL", "WINDOWS", "FIRST"}),                   # int8 general loop (over 2x the scratch),
                                                                            # chunks
    ("kws_first", (), {"GENERAL_FAST", "WINDOWS", "CHUNKS", "FIRST"}),     # plain build (M0+, hosts): im2col only
    ("first_layers", (), {"IM2COL", "WINDOWS", "CHUNKS", "FIRST"}),        # plain build: the general loop only
])
def test_model_config_runs_the_same_kernels(conv_models, name, flags, off, tmp_path):  # noqa: F811
    """The model's config (paths switched off) vs the runtime's defaults: the same kernel calls and output bytes."""
    if not shutil.which("valgrind"):
        pytest.skip("valgrind not installed")
    g = load(conv_models.path(name))
    sized, default = tmp_path / "sized", tmp_path / "default"
    generate(g, sized)
    shutil.copytree(sized, default)
    shutil.copyfile(RUNTIME_DIR / "include" / "edgeq_config.h", default / CONFIG_PATH)
    cfg = (sized / CONFIG_PATH).read_text()
    dsp_part, other_part = cfg.split("\n#else\n", 1)
    part = dsp_part if flags else other_part
    for k in scratch.CONV_PATHS:
        assert f"#define {k} {int(k[len('EDGEQ_CONV_PATH_'):] not in off)}\n" in part, (name, k)
    inputs = cm.random_inputs(g, 2, seed=5)
    a, b = (_run(g, d, inputs, flags, d.name) for d in (sized, default))
    assert a[2] == b[2], name                        # same output bytes
    assert a[1] == b[1], name                        # the same kernel functions called as often: the same paths
    assert abs(a[0] - b[0]) <= b[0] // 200, (name, a[0], b[0])


@pytest.mark.slow
@pytest.mark.parametrize("name,flags,off,gone", [
    ("conv3x3_k288", DSP, ("WINDOWS",), "eq_conv_windows_x16"),          # int16 windows -> the chunked path
    ("kws_first", (), ("IM2COL",), "eq_conv_im2col"),                    # -> the general loop
    ("first_layers", (), ("GENERAL_FAST",), None),                       # -> its compact form (slower)
])
def test_a_path_compiled_out_falls_through_bit_exact(conv_models, name, flags, off, gone, tmp_path):  # noqa: F811
    """A wrong mirror costs speed, never bytes: the path switched off, the layers take the next path (other
    kernel calls: what the test above would catch) and give the same output."""
    if not shutil.which("valgrind"):
        pytest.skip("valgrind not installed")
    g = load(conv_models.path(name))
    generate(g, tmp_path)
    shutil.copyfile(RUNTIME_DIR / "include" / "edgeq_config.h", tmp_path / CONFIG_PATH)
    inputs = cm.random_inputs(g, 2, seed=7)
    full = _run(g, tmp_path, inputs, flags, "full")
    cut = _run(g, tmp_path, inputs, (*flags, *(f"-DEDGEQ_CONV_PATH_{k}=0" for k in off)), "cut")
    assert cut[2] == full[2], name
    if gone:
        assert full[1].get(gone) and not cut[1].get(gone), (name, full[1], cut[1])
    else:  # (no function of its own: more instructions)
        assert cut[0] > full[0] + full[0] // 50, (name, cut[0], full[0])
