"""The channel-planar 3x3 depthwise path of the DSP build (edgeq_dwconv.c, eq_dw_planar3x3): int16 planes of x +
in_offset, taps paired along the rows with SMLAD/SMLADX, rows along x or (taller than wide) along y. One model aims
at its cases: stride 1 and 2 along the rows and across them, SAME with an odd left padding and VALID, odd row
lengths (groups of four, then pairs, the last half-used; 12 and 13 at stride 2), maps seen transposed, more channels
than one block of the scratch holds, no bias, an activation clamp and none, batch 2; 6 x 6 outputs at stride 1 (the
small-map path eq_dw_small: each channel's whole map one 8 x 8 plane, SAME, VALID; its several blocks of channels
are test_dw_small_maps's). Bit-exact with tflite-micro on
the host (portable, and emulated DSP: the planar path's C code for every layer) and on cortex-m4 QEMU (its assembly,
which takes the layers without a clamp and with the zero point folded; the clamped one runs the older kernels
there)."""

from __future__ import annotations

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, ops_core

pytestmark = pytest.mark.slow


def _planar_model() -> bytes:
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(3)
    xa = keras.Input(shape=(12, 35, 8), batch_size=2)
    xb = keras.Input(shape=(33, 6, 12), batch_size=2)
    xc = keras.Input(shape=(6, 40, 64), batch_size=2)
    xd = keras.Input(shape=(6, 6, 24), batch_size=2)
    xe = keras.Input(shape=(8, 8, 8), batch_size=2)
    xf = keras.Input(shape=(9, 26, 4), batch_size=2)
    outs = [
        L.DepthwiseConv2D(3, padding="same")(xa),                                    # S 1, 35 wide (odd)
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(xa),     # S 2, pad 1, clamp
        L.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False)(xa),        # S 2, 17 wide, no bias
        L.DepthwiseConv2D(3, strides=(1, 2), padding="same")(xa),                    # S 2 along, 1 across
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xb),                 # transposed, 33 long
        L.DepthwiseConv2D(3, strides=(2, 1), padding="valid")(xb),                   # transposed, S 2 along
        L.DepthwiseConv2D(3, strides=2, padding="same")(xb),                         # transposed, S 2 both
        L.DepthwiseConv2D(3, padding="same")(xc),                                    # 64 channels: 6 blocks
        L.DepthwiseConv2D(3, padding="same")(xd),                    # 6 x 6 whole planes, 24 channels: one block
        L.DepthwiseConv2D(3, padding="same", activation="relu6")(xd),                # whole, clamp
        L.DepthwiseConv2D(3, padding="valid", use_bias=False)(xe),                   # whole, VALID 8 x 8 in
        L.DepthwiseConv2D(3, strides=2, padding="same")(xf),         # S 2, 13 wide (from 12 at stride 2), pad 0/1
        L.DepthwiseConv2D(3, strides=2, padding="valid")(xf),                         # S 2, 12 wide: three fours
    ]
    model = keras.Model([xa, xb, xc, xd, xe, xf], outs)
    cm._randomize(model, 3)
    return cm.convert(model, batch=2)


@pytest.fixture(scope="module")
def planar(tmp_path_factory):
    return cm.model_dir(tmp_path_factory, "dw_planar", _planar_model)


def _host_compare(model: bytes, out, n: int = 4) -> None:
    g = graph_mod.parse(model)
    generate(g, out)
    text = (out / "edgeq_model.c").read_text()
    assert text.count(".dw_w = w_op") == 13 and ".rq = w_op" in text  # every layer can take the planar path
    cm.assert_host_variants_bit_exact(model, g, out, cm.random_inputs(g, n, 0), "dw planar")


def test_planar_paths_bit_exact_on_host(planar, tmp_path):
    _, model = planar
    _host_compare(model, tmp_path / "folded")


def test_planar_paths_unfolded_rq_bit_exact_on_host(planar, tmp_path, monkeypatch):
    """rq without the output zero point folded in (the zero point added after the shift: the C path)."""
    _, model = planar
    monkeypatch.setattr(ops_core, "_dw_rq", lambda ctx, m, s, w, b, c, zp: ops_core._fast_requant(ctx, m, s, w, b,
                                                                                                  c, True))
    _host_compare(model, tmp_path / "unfolded")


@pytest.mark.qemu
def test_planar_paths_bit_exact_on_cortex_m4(planar):
    cm.assert_qemu_bit_exact(planar[0] / "model.tflite", "cortex-m4")
