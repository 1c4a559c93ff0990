"""The ReLU-like stream (edgeq_conv1x1.c eq_c1_pairs3, marked by bias_eff NULL) on shapes test_conv1x1.py leaves out:
a strided 1x1 layer whose pixel count leaves one or two pixels after the blocks of three (eq_conv1x1_x16_3's
non-consecutive loop then recomputes the batch, row and column of "the last three again"; test_conv1x1's stride-2
layer has 12 / 24 pixels, none left), in batch 2 where that last block straddles images; and windows layers on the
stream that are dilated (no in-place rows: every window gathered) or strided VALID with pixels left. Host builds
(plain C and -DEDGEQ_EMULATE_DSP: the stream's C twin, the same pixel loop as the asm builds) against tflite-micro,
and the generator's stream words checked: e's low byte the rq's shift, the loop state above it.
"""

from __future__ import annotations

import re

import codegen_models as cm
import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate
from edgeq.codegen.ops_core import _conv1x1_stream

N_INPUTS = 6


def _model():
    import keras
    from keras import layers as L

    a = keras.Input(shape=(7, 7, 8), batch_size=2)    # s2: 4 x 4 = 16 a image, 32 in all: 2 left
    b = keras.Input(shape=(9, 7, 16), batch_size=2)   # s2: 5 x 4 = 20, 40: 1 left
    c = keras.Input(shape=(9, 9, 3), batch_size=2)
    outs = [
        L.Conv2D(10, 1, strides=2, activation="relu")(a),                    # 1x1 stream, strided, 2 left
        L.Conv2D(6, 1, strides=2, activation="relu6")(b),                    # 1x1 stream, strided, 1 left
        L.Conv2D(8, 3, dilation_rate=2, activation="relu")(c),               # K 27 dilated: 5 x 5 = 25, 50: 2 left
        L.Conv2D(6, 3, strides=2, activation="relu")(L.Conv2D(4, 1)(c)),     # K 36 s2 VALID: 4 x 4, 32: 2 left
    ]
    return keras.Model([a, b, c], outs)


@pytest.mark.slow
def test_stream_strided_and_dilated_with_pixels_left_bit_exact_on_host(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    import keras

    keras.utils.set_random_seed(11)
    model = _model()
    cm._randomize(model, 11)
    tfl = cm.convert(model, per_channel=True, batch=2)
    g = graph_mod.parse(tfl)
    generate(g, tmp_path)
    src = (tmp_path / "edgeq_model.c").read_text()
    # all four ReLU-like layers on the stream (else this test would not reach the paths it is about)
    assert src.count(".bias_eff = NULL") == 4, src.count(".bias_eff = NULL")
    inputs = cm.random_inputs(g, N_INPUTS, 3)
    ref = cm.tflm_run(tfl, inputs, len(g.outputs))
    for variant, flags in {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",)}.items():
        exe = cm.compile_host(tmp_path, g, extra_flags=flags, exe_name=f"c1e_{variant}")
        cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref, f"stream edges ({variant}): ")


@pytest.mark.parametrize("oc", [2, 6, 16, 512])
def test_stream_e_words_carry_shift_and_loop_state(oc):
    """ops_core._conv1x1_stream: per pair {2 b0, 2 b1}, the weights, {m, c, e} x 2; every e's low byte is the rq's e
    (ASR by register reads bits 0-7 only), channel 1's bits 8-30 the pair's output offset 2 i, channel 0's bit 31 set
    on the last pair only, nothing else above bit 7."""
    rng = np.random.default_rng(oc)
    c = 8
    w = rng.integers(-128, 128, (oc, 1, 1, c))
    shape = dict(out_c=oc, in_c=c, k_h=1, k_w=1, pad_h=0, pad_w=0, batches=1, out_h=2, out_w=2)
    rq = [v for ch in range(oc) for v in (int(rng.integers(2**29, 2**31)), 1 << 8, 9 + ch % 20)]
    bias = [int(v) for v in rng.integers(-1000, 1000, oc)]
    s = _conv1x1_stream(w, shape, rq, bias, -128, 127, -128)
    assert s is not None
    per = len(s) // (oc // 2)
    assert per == 2 + c + 6 and len(s) == oc // 2 * per, per  # 2 biases, 2 x c int16 weights, 2 x {m, c, e}
    for i in range(oc // 2):
        blk = s[i * per:(i + 1) * per]
        assert blk[:2] == [2 * bias[2 * i], 2 * bias[2 * i + 1]]
        m0, c0, e0, m1, c1, e1 = blk[-6:]
        assert [m0, c0, m1, c1] == [rq[6 * i], rq[6 * i + 1], rq[6 * i + 3], rq[6 * i + 4]]
        assert e0 & 0xFF == rq[6 * i + 2] and e1 & 0xFF == rq[6 * i + 5]
        assert -2**31 <= e0 < 2**31 and -2**31 <= e1 < 2**31  # int32 words
        assert (e1 & 0x7FFFFFFF) >> 8 == 2 * i and e1 >= 0
        last = i == oc // 2 - 1
        assert (e0 < 0) == last and (e0 & 0x7FFFFF00) == 0


@pytest.mark.slow
def test_stream_int8_variant_rq_masked(tmp_path):
    """The generated model's int8 variant (non-DSP builds) of a stream layer gets rq e words without the loop state."""
    pytest.importorskip("tensorflow")
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(3)
    x = keras.Input(shape=(3, 3, 8), batch_size=1)
    model = keras.Model(x, L.Conv2D(6, 1, activation="relu")(x))
    cm._randomize(model, 3)
    g = graph_mod.parse(cm.convert(model))
    generate(g, tmp_path)
    src = (tmp_path / "edgeq_model.c").read_text()
    assert src.count(".bias_eff = NULL") == 1
    int8_part = src.split("#ifdef EDGEQ_CONV_W16", 1)[1].split("#else", 1)[1].split("#endif", 1)[0]
    rq = re.search(r"static const int32_t \w*rq\w*\[18\] = \{(.*?)\};", int8_part, re.S)
    assert rq, int8_part[:800]
    vals = [int(v) for v in re.findall(r"-?\d+", rq.group(1))]
    assert all(1 <= e <= 31 for e in vals[2::3]), vals
