"""CONV_2D's Helium paths (edgeq_conv_mve.c) are bit-exact with tflite-micro on QEMU mps3-an547 (Cortex-M55) where
their edge cases are: the interleaved path's 3 pixels x 2 channels passes (a last group of 1 or 2 pixels, windows
with and without a partial last chunk, odd channel counts, a layer with only the last pair or one channel, channel
pairs in the asm loop up to the last when there is no partial chunk, a ReLU6 clamp), its gathers (rows of <= 16
bytes, rows clipped by SAME padding as one run, dilated rows tap by tap, rows of whole vectors in place, batch 2),
the 1x1 <= 16-channel driver (one output channel, odd counts, stride 2, batch 2, pixel counts not multiples of 4),
and the same layers with the general MultiplyByQuantizedMultiplier (no rq: the C loops).
"""

from __future__ import annotations

import shutil

import codegen_models as cm
import pytest

from edgeq.codegen import ops_core


def _models() -> dict:
    import keras
    from keras import layers as L

    def mve_pairs():
        x = keras.Input(shape=(7, 11, 12), batch_size=1)  # 77 pixels: the last group holds 2
        a = L.Conv2D(1, 1)(x)                                             # 1x1, K = 12, one channel
        b = L.Conv2D(5, 3, padding="same", activation="relu")(x)          # K = 108 (tail 12), odd, clipped rows
        c = L.Conv2D(2, 3, strides=2, padding="valid")(x)                 # only the last pair (C tail)
        d = L.Conv2D(6, 1, activation="relu6")(L.Conv2D(32, 1)(x))        # K = 32: every pair in asm; 32 ch short
        e = L.Conv2D(3, (2, 5), padding="same", dilation_rate=(1, 2))(x)  # dilated rows: tap by tap
        f = L.Conv2D(7, 3, strides=2, padding="same")(L.Conv2D(16, 1)(x))  # K = 144 in place, 4x6: groups of 3
        return keras.Model(x, [a, b, c, d, e, f])

    def mve_first():
        x = keras.Input(shape=(15, 9, 1), batch_size=2)
        a = L.Conv2D(9, (5, 4), strides=2, padding="same")(x)             # KWS-like: rows of 4 bytes, clipped
        y = L.Conv2D(16, 1, activation="relu")(x)                          # K = 1
        b = L.Conv2D(5, 1, strides=2)(y)                                   # K = 16, stride 2, 8x5 x 2 pixels
        c = L.Conv2D(10, 3, padding="same", activation="relu")(y)          # K = 144, rows of whole vectors
        return keras.Model(x, [a, b, c])

    return {"mve_pairs": (mve_pairs, {}), "mve_first": (mve_first, {"batch": 2})}


@pytest.fixture(scope="module")
def mve_models(tmp_path_factory):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    root = tmp_path_factory.mktemp("conv_mve")
    paths = {}
    for name, (fn, opts) in _models().items():
        model = fn()
        cm._randomize(model, 5)
        paths[name] = root / f"{name}.tflite"
        paths[name].write_bytes(cm.convert(model, **opts))
    return paths


def _bench(path):
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    return bench_cortexm(str(path), load_target("cortex-m55"), "qemu", samples=3, per_op=False, timeout_s=300)


@pytest.mark.slow
@pytest.mark.qemu
def test_helium_conv_paths_bit_exact(mve_models):
    for name, path in mve_models.items():
        res = _bench(path)
        assert res.output_matches_reference is True, (name, res.notes)


@pytest.mark.slow
@pytest.mark.qemu
def test_helium_conv_paths_bit_exact_with_general_requantization(mve_models, monkeypatch):
    monkeypatch.setattr(ops_core, "FAST_REQUANT", False)
    res = _bench(mve_models["mve_pairs"])
    assert res.output_matches_reference is True, res.notes
