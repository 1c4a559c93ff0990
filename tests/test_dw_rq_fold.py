"""DEPTHWISE_CONV_2D's `rq` with the output zero point folded into the rounding constant (ops_core._dw_rq) and
the runtime telling folded from unfolded constants apart (eq_rq_zp in edgeq_dsp.h): the low-bit depthwise path
still hands the int8 kernel unfolded {m, 2^(e-1), e} triples, so both layouts must stay bit-exact."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, ops_core


class _Ctx:
    """The one EmitContext method the rq helpers call: records the arrays."""

    def __init__(self):
        self.arrays = []

    def const_array(self, base_name, ctype, values):
        self.arrays.append((base_name, list(values)))
        return f"w_{base_name}{len(self.arrays)}"


def _dw(channels=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-127, 128, size=(1, 3, 3, channels)).astype(np.int8)


def test_dw_rq_folds_zero_point_where_it_fits():
    w = _dw()
    bias = np.arange(-4, 4, dtype=np.int64) * 1000
    mult = [1 << 30 | (97 * i) for i in range(8)]
    shift = [-(7 + i) for i in range(8)]
    for zp in (-128, -5, 3, 127):
        ctx = _Ctx()
        assert ops_core._dw_rq(ctx, mult, shift, w, bias, 8, zp) != "NULL"
        (_, vals), = ctx.arrays
        assert vals[0::3] == mult and vals[2::3] == [-s for s in shift]
        assert vals[1::3] == [(1 << (-s - 1)) + (zp << -s) for s in shift]
    ctx = _Ctx()  # zero point 0: folded and unfolded are the same constants
    ops_core._dw_rq(ctx, mult, shift, w, bias, 8, 0)
    assert ctx.arrays[0][1][1::3] == [1 << (-s - 1) for s in shift]


def test_dw_rq_falls_back_to_unfolded_when_the_constant_overflows():
    """zp << e past int32 (e = 25, zp = -128): the unfolded triples, which the runtime recognises."""
    w = _dw()
    mult, shift = [1 << 30] * 8, [-25] * 8
    ctx = _Ctx()
    assert ops_core._dw_rq(ctx, mult, shift, w, None, 8, -128) != "NULL"
    (_, vals), = ctx.arrays
    assert vals[1::3] == [1 << 24] * 8
    ctx = _Ctx()  # the same layer with a small zero point folds
    ops_core._dw_rq(ctx, mult, shift, w, None, 8, 1)
    assert ctx.arrays[0][1][1::3] == [(1 << 24) + (1 << 25)] * 8


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dw3x3_paths", "dw3x3_c5"])
def test_unfolded_depthwise_rq_still_bit_exact(name, tmp_path, monkeypatch):
    """The generator's default (folded) and the unfolded layout (forced here) both give tflite-micro's bytes on
    the portable and the emulated-DSP host builds, and the two generated sources really differ in rq."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    from test_codegen_core import _build_kernel_model, _compare

    model = _build_kernel_model(name)
    g = graph_mod.parse(model)
    generate(g, tmp_path / "folded")
    folded = (tmp_path / "folded" / "edgeq_model.c").read_text()
    monkeypatch.setattr(ops_core, "_dw_rq", lambda ctx, m, s, w, b, c, zp: ops_core._fast_requant(ctx, m, s, w, b,
                                                                                                  c, True))
    g = graph_mod.parse(model)
    generate(g, tmp_path / "unfolded")
    unfolded = (tmp_path / "unfolded" / "edgeq_model.c").read_text()
    assert folded != unfolded and ".rq = w_op" in unfolded
    assert _compare(name, model, g, tmp_path / "unfolded", n=20) > 0


@pytest.mark.slow
@pytest.mark.qemu
def test_folded_rq_with_a_clamp_bit_exact_on_cortex_m4(tmp_path):
    """A ReLU depthwise whose output shares a CONCATENATION's scale (zero point -60, so the ReLU clamps at -60) and
    whose rq has the zero point folded: on the M4 its narrow 7-wide map runs the int8 3x3 kernel's clamping asm
    variant, which must not add the zero point a second time (it did: 117 of 560 bytes differed)."""
    import shutil

    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    import codegen_models as cm
    import keras
    from keras import layers as L

    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    keras.utils.set_random_seed(4)
    x = keras.Input(shape=(5, 7, 8), batch_size=1)
    model = keras.Model(x, L.Concatenate()([L.DepthwiseConv2D(3, padding="same", activation="relu")(x), x]))
    cm._randomize(model, 4)
    (tmp_path / "model.tflite").write_bytes(cm.convert(model))
    generate(graph_mod.parse((tmp_path / "model.tflite").read_bytes()), tmp_path / "gen")
    text = (tmp_path / "gen" / "edgeq_model.c").read_text()
    act_min = int(text.split(".act_min = ")[1].split(",")[0])
    m, c, e = (int(v) for v in text.split("_rq[")[1].split("{")[1].split(",")[:3])
    assert act_min > -128 and c != 1 << (e - 1)  # a clamp, and the zero point folded into rq
    res = bench_cortexm(str(tmp_path / "model.tflite"), load_target("cortex-m4"), "qemu", samples=3, per_op=False,
                        timeout_s=300)
    assert res.output_matches_reference is True, res.notes
