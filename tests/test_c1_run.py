"""The 1x1 stream's block loop in the asm (edgeq_conv1x1.c EQ_C1_NEXT_BLOCK: a stride-1 ReLU-like 1x1 layer's blocks
of three pixels stepped, expanded and run in one asm run) on the edges test_conv1x1.py leaves out: exactly three
pixels (one block, no next one: in_c 8's variant called with its pixels, and the MAC-loop variant), a single channel
pair (the pair loop's last pair its first), one or two pixels left for "the last three again" with in_c 8 and 12,
and in_c 320 (the default scratch's largest 1x1 stream: its context words do not fit after the pixels, so the C
loop runs the blocks one asm call each). QEMU's Cortex-M4 (the asm) and host builds (plain C and
-DEDGEQ_EMULATE_DSP: the C twin) against tflite-micro, byte for byte."""

from __future__ import annotations

from pathlib import Path

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate

N_INPUTS = 4


def _tflite() -> bytes:
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(23)
    a = keras.Input(shape=(1, 3, 8), batch_size=1)     # 3 pixels, in_c 8: one block
    b = keras.Input(shape=(3, 1, 16), batch_size=1)    # 3 pixels, in_c 16: one block, the MAC loop's variant
    c = keras.Input(shape=(2, 7, 8), batch_size=1)     # 14 pixels: 2 left
    d = keras.Input(shape=(5, 2, 12), batch_size=1)    # 10 pixels: 1 left
    e = keras.Input(shape=(2, 2, 320), batch_size=1)   # 4 pixels, in_c 320: the C block loop, 1 left
    outs = [
        L.Conv2D(6, 1, activation="relu")(a),
        L.Conv2D(4, 1, activation="relu6")(b),
        L.Conv2D(2, 1, activation="relu")(c),      # one channel pair
        L.Conv2D(4, 1, activation="relu")(c),
        L.Conv2D(10, 1, activation="relu")(d),
        L.Conv2D(2, 1, activation="relu")(d),
        L.Conv2D(6, 1, activation="relu")(e),
    ]
    model = keras.Model([a, b, c, d, e], outs)
    cm._randomize(model, 23)
    return cm.convert(model, per_channel=True, batch=1)


@pytest.mark.slow
@pytest.mark.qemu
def test_stream_run_edges_bit_exact(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    tfl = _tflite()
    g = graph_mod.parse(tfl)
    generate(g, tmp_path)
    src = (tmp_path / "edgeq_model.c").read_text()
    assert src.count(".bias_eff = NULL") == 7, src.count(".bias_eff = NULL")  # every layer on the stream
    cm.assert_host_variants_bit_exact(tfl, g, tmp_path, cm.random_inputs(g, N_INPUTS, 5), "stream run edges",
                                      exe_prefix="c1r")
    path = Path(tmp_path) / "c1r.tflite"
    path.write_bytes(tfl)
    cm.assert_qemu_bit_exact(path, "cortex-m4", workdir=tmp_path / "fw")
