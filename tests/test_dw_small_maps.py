"""The small-map 3x3 depthwise path of the DSP build (edgeq_dwconv.c, eq_dw_small): each channel's whole input map
one int16 plane, 3 outputs a row at stride 1 (eq_dws_chan3), 6 at stride 1 (eq_dwp_group6) or 6 at stride 2 (two
halves of eq_dws_chan3), the channel blocks (doubled weights, output step, doubled bias, rq) generated into flash
(`dwp`, ops_core._dw_small_blocks) and read in place. One model aims at its cases: SAME (odd left padding) and VALID,
stride 2 with padding 0/1 and 1/1, maps taller than wide, more channels than one block of the scratch holds (72 at
3 x 3, 12 at 12 -> 6, 32 at 6 x 6), no bias, an activation clamp and none, batch 2, and layers it must leave to the
other paths (3 outputs at stride 2, channels not a multiple of 4). Bit-exact with tflite-micro on the host
(portable, and emulated DSP: the path's C code) and on cortex-m4 QEMU (its assembly)."""

from __future__ import annotations

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate
from edgeq.codegen.scratch import _dsp_small, config_header, dw_small, parse_layers, scratch_sizes

pytestmark = pytest.mark.slow


def _small_model() -> bytes:
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(7)
    xa = keras.Input(shape=(3, 3, 72), batch_size=2)
    xb = keras.Input(shape=(12, 12, 12), batch_size=2)
    xc = keras.Input(shape=(5, 3, 8), batch_size=2)
    xd = keras.Input(shape=(11, 11, 8), batch_size=2)
    xe = keras.Input(shape=(6, 6, 32), batch_size=2)
    xf = keras.Input(shape=(3, 3, 6), batch_size=2)
    outs = [
        L.DepthwiseConv2D(3, padding="same")(xa),                                    # 3 x 3 s1: 64 + 8 channels
        L.DepthwiseConv2D(3, padding="same", activation="relu6", use_bias=False)(xa),  # clamp, no bias
        L.DepthwiseConv2D(3, strides=2, padding="same")(xb),                         # 12 -> 6 s2, pad 0/1, 8 + 4
        L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(xb),     # 12 -> 5: other paths
        L.DepthwiseConv2D(3, padding="same")(xc),                                    # 3 wide, 5 tall
        L.DepthwiseConv2D(3, strides=2, padding="same")(xd),                         # 11 -> 6 s2, pad 1/1
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xe),                 # 6 x 6 s1: 28 + 4
        L.DepthwiseConv2D(3, strides=2, padding="same")(xe),                         # 6 -> 3 s2: other paths
        L.DepthwiseConv2D(3, padding="valid")(L.ZeroPadding2D(1)(xe)),               # 8 x 8 VALID -> 6 x 6
        L.DepthwiseConv2D(3, padding="same")(xf),                                    # 6 channels: other paths
    ]
    model = keras.Model([xa, xb, xc, xd, xe, xf], outs)
    cm._randomize(model, 7)
    return cm.convert(model, batch=2)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return cm.model_dir(tmp_path_factory, "dw_small", _small_model)


def test_small_map_paths_bit_exact_on_host(small, tmp_path):
    _, model = small
    g = graph_mod.parse(model)
    out = tmp_path / "gen"
    generate(g, out)
    text = (out / "edgeq_model.c").read_text()
    dw = [p for p in parse_layers(text) if p.ctype == "edgeq_conv_params"]
    taken = [bool(_dsp_small(p)[0]) for p in dw]
    # the generator's blocks exactly for the layers the kernel takes (scratch.py mirrors its conditions)
    assert taken == ["dwp" in p.ptrs for p in dw]
    shapes = sorted((p.f["out_h"], p.f["out_w"], p.f["stride_w"], p.f["in_c"]) for p, t in zip(dw, taken) if t)
    assert shapes == sorted([(3, 3, 1, 72)] * 2 + [(6, 6, 2, 12), (5, 3, 1, 8), (6, 6, 2, 8)] + [(6, 6, 1, 32)] * 2)
    assert "EDGEQ_DW_SMALL" not in (out / "edgeq_runtime" / "include" / "edgeq_config.h").read_text()
    cm.assert_host_variants_bit_exact(model, g, out, cm.random_inputs(g, 4, 0), "dw small")


@pytest.mark.qemu
def test_small_map_paths_bit_exact_on_cortex_m4(small):
    cm.assert_qemu_bit_exact(small[0] / "model.tflite", "cortex-m4")


def test_small_map_path_compiled_out_without_blocks(small, tmp_path):
    """A model none of whose layers holds dwp: EDGEQ_DW_SMALL 0 in its config (eq_dw_small's code off its budget),
    still bit-exact on the host (emulated DSP: the dispatcher without it)."""
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(8)
    x = keras.Input(shape=(6, 6, 8), batch_size=1)
    model = keras.Model(x, L.DepthwiseConv2D(3, strides=2, padding="same")(x))  # 6 -> 3 s2: not the small path
    cm._randomize(model, 8)
    tfl = cm.convert(model)
    g = graph_mod.parse(tfl)
    out = tmp_path / "gen"
    generate(g, out)
    text = (out / "edgeq_model.c").read_text()
    assert ".dw_w = w_op" in text and not dw_small(text)
    assert "#define EDGEQ_DW_SMALL 0" in config_header(scratch_sizes(text), "m")
    assert "#define EDGEQ_DW_SMALL 0" in (out / "edgeq_runtime" / "include" / "edgeq_config.h").read_text()
    inputs = cm.random_inputs(g, 2, 0)
    ref = cm.tflm_run(tfl, inputs, len(g.outputs))
    exe = cm.compile_host(out, g, extra_flags=("-DEDGEQ_EMULATE_DSP",), exe_name="model_dsp")
    assert cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref, "dw small off: ") > 0
