"""The channel-planar 3x3 depthwise path's row assembly (edgeq_dwconv.c, edgeq_dwp_rows_s1/_s2: a channel's weights
resident in registers for its whole output row, the ring of three plane rows interleaved word by word): taken by
models whose every 3x3 depthwise layer the DSP assembly takes is ReLU-like (EDGEQ_DW_RELU_ONLY 1, MLPerf Tiny's KWS
and VWW). One model aims at its cases: stride 1 and 2 along the rows, SAME (padding rows above and below the map: the
ring's slot cleared) and VALID, row lengths with no tail and with a tail of one, two and three outputs after the
groups of four (the pairs), a map seen transposed (KWS's 25 x 5), several blocks of channels, no bias, batch 2.
Bit-exact with tflite-micro on the host (portable and emulated DSP: the C code of the interleaved ring) and on
cortex-m4 and cortex-m7 QEMU (the assembly)."""

from __future__ import annotations

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, scratch

pytestmark = pytest.mark.slow


def _rows_model() -> bytes:
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(7)
    xa = keras.Input(shape=(9, 22, 8), batch_size=2)
    xb = keras.Input(shape=(27, 5, 12), batch_size=2)
    xc = keras.Input(shape=(5, 40, 64), batch_size=2)
    xd = keras.Input(shape=(10, 27, 4), batch_size=2)
    outs = [
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xa),                      # S 1, 22: 5 x 4 + 2
        L.DepthwiseConv2D(3, padding="valid", activation="relu", use_bias=False)(xa),     # S 1, 20: no tail
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(xa),           # S 2, 11: 2 x 4 + 3
        L.DepthwiseConv2D(3, strides=(1, 2), padding="valid", activation="relu")(xa),     # S 2 along, 1 across
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xb),                      # transposed, 27: + 3
        L.DepthwiseConv2D(3, strides=(2, 1), padding="valid", activation="relu")(xb),     # transposed S 2, 13
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xc),                      # 64 channels: 6 blocks
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(xc),           # S 2, 20, 2 blocks
        L.DepthwiseConv2D(3, padding="valid", activation="relu")(xd),                     # S 1, 25: 6 x 4 + 1
        L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu")(xd),          # S 2, 13: 3 x 4 + 1
    ]
    model = keras.Model([xa, xb, xc, xd], outs)
    cm._randomize(model, 7)
    return cm.convert(model, batch=2)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return cm.model_dir(tmp_path_factory, "dw_planar_rows", _rows_model)


def test_rows_model_takes_the_relu_only_assembly(rows, tmp_path):
    """The model's config compiles the row assembly in (every 3x3 depthwise layer ReLU-like, output zero point
    -128), and on the host every layer is bit-exact through the C code of the interleaved ring."""
    _, model = rows
    g = graph_mod.parse(model)
    out = tmp_path / "gen"
    generate(g, out)
    text = (out / "edgeq_model.c").read_text()
    assert text.count(".dw_w = w_op") == 10
    assert scratch.dw_relu_only(text)
    cm.assert_host_variants_bit_exact(model, g, out, cm.random_inputs(g, 3, 0), "dw rows")


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m7"])
def test_rows_assembly_bit_exact_on_qemu(rows, core):
    """The assembly on the M4 and the M7 (the same DSP code)."""
    cm.assert_qemu_bit_exact(rows[0] / "model.tflite", core)
