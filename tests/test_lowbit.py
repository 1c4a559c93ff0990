"""Ternary/binary weight clustering: exact per-channel levels, packing round trip, int8 export, accuracy effect."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeq.errors import UsageError
from edgeq.quality import lowbit


@pytest.mark.parametrize("kind,shape", [("Dense", (12, 5)), ("Conv2D", (3, 3, 4, 6)),
                                        ("DepthwiseConv2D", (3, 3, 4, 2))])
@pytest.mark.parametrize("scheme,levels", [("ternary", 3), ("binary", 2)])
def test_levels_per_channel(kind, shape, scheme, levels):
    w = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    ck, codes, a = lowbit.cluster_kernel(w, scheme, kind)
    reduced = 9 if kind == "DepthwiseConv2D" else int(np.prod(shape[:-1]))
    for c in ck.reshape(reduced, -1).T:  # one column per output channel
        vals = np.unique(np.round(c, 6))
        assert len(vals) <= levels and np.allclose(vals, -vals[::-1])  # symmetric {-a, (0,) +a}
    assert set(np.unique(codes)) <= ({-1, 0, 1} if scheme == "ternary" else {-1, 1})
    # clustering is idempotent: a clustered kernel clusters to itself
    assert np.allclose(lowbit.cluster_kernel(ck, scheme, kind)[0], ck, atol=1e-6)


@pytest.mark.parametrize("kind,shape", [("Dense", (40, 5)), ("Conv2D", (3, 3, 8, 6)),
                                        ("DepthwiseConv2D", (5, 5, 4, 2))])
def test_int4_levels_map_to_at_most_15_int8_values(kind, shape):
    """int4: k * max|w| / 7, k in -7..7 per channel; the per-channel int8 scale max|w| / 127 keeps <= 15 values."""
    w = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    w[..., 0] = 0.0  # an all-zero channel stays zero (no division by zero)
    ck, codes, a = lowbit.cluster_kernel(w, "int4", kind)
    assert codes.min() >= -7 and codes.max() <= 7 and np.all(ck[..., 0] == 0)
    reduced = int(np.prod(shape[:2])) if kind == "DepthwiseConv2D" else int(np.prod(shape[:-1]))
    cols, wcols = ck.reshape(reduced, -1).T, w.reshape(reduced, -1).T
    for c, orig in zip(cols, wcols):
        if not orig.any():
            continue
        s = np.abs(orig).max() / 7
        assert np.abs(c - orig).max() <= s / 2 + 1e-6  # nearest level
        q = np.round(c / (np.abs(c).max() / 127))  # TFLite's symmetric per-channel int8 of the clustered kernel
        assert len(np.unique(q)) <= 15 and np.abs(q).max() == 127
    assert np.allclose(lowbit.cluster_kernel(ck, "int4", kind)[0], ck, atol=1e-6)


def test_unknown_scheme():
    with pytest.raises(UsageError, match="ternary or binary"):
        lowbit.cluster_kernel(np.ones((2, 2)), "int3")


@pytest.fixture(scope="module")
def digits_setup():
    from quality_models import digits_datasets, digits_model, digits_split

    from edgeq import data

    m = digits_model()
    cal, ev = digits_datasets(m)
    x_tr, _, y_tr, _ = digits_split()
    return m, cal, ev, data.Dataset("train", (x_tr,), y_tr)


@pytest.mark.slow
def test_ternary_fine_tuned_converts_exactly_to_int8(digits_setup):
    from dataclasses import replace

    from edgeq import convert
    from edgeq.graph import parse
    from edgeq.quality import evaluate

    m, cal, ev, train = digits_setup
    raw = lowbit.cluster(m, "ternary")
    tuned = lowbit.cluster(m, "ternary", train=train, epochs=4)
    assert raw.kept_full_precision == ("conv2d", "digit")
    assert {c.name for c in tuned.layers} == {"depthwise_conv2d", "conv2d_1", "conv2d_2"}
    assert tuned.packed_bytes * 3 < tuned.int8_bytes  # 2 bits + scales vs 8 bits + scales

    def acc(r):
        lm = replace(m, handle=r.model)
        tfl = convert.quantize(lm, "int8", cal.inputs, io_dtype="int8")
        q = evaluate.run_tflite(tfl, ev.inputs, runtime="tflm")[0]
        return float(np.mean(q.argmax(1) == ev.labels)), tfl

    a_raw, _ = acc(raw)
    a_tuned, tfl = acc(tuned)
    assert a_raw < 0.6 < 0.9 < a_tuned  # clustering a trained net costs a lot; STE fine-tuning recovers it
    g = parse(tfl)
    clustered = [op for op in g.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D")][1:]
    for op in clustered:  # the clustered kernels are exactly {-127, 0, 127} per channel in the int8 model
        assert set(np.unique(g.main.tensors[op.inputs[1]].array())) <= {-127, 0, 127}
    # pack / unpack round trip
    packed = lowbit.pack(tuned)
    back = lowbit.unpack(packed)
    for c in tuned.layers:
        assert np.allclose(back[c.name], tuned.model.get_layer(c.name).get_weights()[0], atol=1e-6)


@pytest.mark.slow
def test_cli_lowbit(tmp_path, capsys):
    from quality_models import DIGITS, run_cli

    code, out, err = run_cli(capsys, "lowbit", DIGITS / "model.keras", "--scheme", "binary", "-o", tmp_path,
                             "--eval", DIGITS / "eval.npz", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["scheme"] == "binary" and info["evaluation"]["quant_accuracy"] < info["evaluation"]["float_accuracy"]
    assert (tmp_path / "model_binary.keras").exists() and (tmp_path / "weights_binary.npz").exists()
    z = np.load(tmp_path / "weights_binary.npz")
    assert str(z["scheme"]) == "binary"
