"""The Helium depthwise kernels of edgeq_dwconv_mve.c are bit-exact with tflite-micro on QEMU mps3-an547
(Cortex-M55). Shapes aimed at the channel-planar 3x3 loop for narrow maps (eq_mve_dwp_3x3_q8_blk: maps <= 6 lanes,
several channels per asm run): two vector groups per row (5 and 6 lanes) and one (3 and 4 lanes), even and odd row
counts, SAME and VALID padding, a clamped activation, a channel count that leaves a partial run (13), batch 2;
and a map too tall for its sums buffer (the C loop on the same planes). Then the loop for 7-28 lanes
(eq_mve_dwp_3x3_wblk): KWS's 25x5 maps, 10 lanes with a partial last group, and a map too big for it. And the
padded-rows path's row copy (four pixels per gather, then single pixels): stride 2, VALID and SAME; and its
stride-1 case (the generic loop since the rq-only stride-1 specialisation went, issue 12)."""

from __future__ import annotations

import shutil

import pytest


def _model(seed: int):
    import codegen_models as cm
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(seed)
    x = keras.Input((5, 6, 13), batch_size=2)
    a = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)  # 6 lanes x 5 rows: 2 groups, odd, 4+4+4+1 ch
    b = L.DepthwiseConv2D(3, padding="valid")(a)  # 4 lanes x 3 rows: one group, odd
    c = L.DepthwiseConv2D(3, padding="same", activation="relu")(b)
    y = keras.Input((6, 5, 20), batch_size=2)
    d = L.DepthwiseConv2D(3, padding="same")(y)  # 6 rows x 5 lanes: even rows, runs of 4 channels
    e = L.DepthwiseConv2D(3, padding="same", activation="relu6")(L.Cropping2D(((0, 3), (0, 2)))(d))  # 3x3
    z = keras.Input((52, 4, 3), batch_size=2)
    f = L.DepthwiseConv2D(3, padding="same")(z)  # 52 rows of 4 lanes: more than a run holds, the C loop instead
    u = keras.Input((25, 5, 9), batch_size=2)
    g = L.DepthwiseConv2D(3, padding="same", activation="relu")(u)  # KWS-like: 25 lanes along y, 5 rows (odd)
    w = keras.Input((12, 12, 7), batch_size=2)
    h = L.DepthwiseConv2D(3, padding="valid")(w)  # 10 lanes x 10 rows, the last group of 2
    v = keras.Input((24, 16, 4), batch_size=2)
    i = L.DepthwiseConv2D(3, padding="same")(v)  # 16 lanes x 24 rows: too many sums for a run, the per-row asm
    t = keras.Input((12, 13, 20), batch_size=2)
    j = L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6")(t)  # padded rows: 4-pixel gathers + 1
    r = L.DepthwiseConv2D(3, strides=2, padding="same")(L.Conv2D(8, 1)(t))  # padded rows, 8 channels, 15 columns
    q = keras.Input((5, 5, 8), batch_size=2)
    k = L.DepthwiseConv2D(3, padding="same")(q)  # 5x5 (vectors 62 % full): padded rows, stride 1, the generic loop
    model = keras.Model([x, y, z, u, w, v, t, q], [a, c, d, e, f, g, h, i, j, r, k])
    cm._randomize(model, seed)
    return cm.convert(model, batch=2, seed=seed)


@pytest.mark.slow
@pytest.mark.qemu
def test_helium_planar_depthwise_bit_exact(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    path = tmp_path / "dw_narrow.tflite"
    path.write_bytes(_model(3))
    res = bench_cortexm(str(path), load_target("cortex-m55"), "qemu", samples=2, per_op=False, timeout_s=300,
                        workdir=tmp_path / "fw")
    assert res.output_matches_reference is True, res.notes
