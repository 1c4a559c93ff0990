"""QAT on real data: recovers the accuracy PTQ loses on a badly balanced model; refuses layers it cannot simulate."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def setup():
    from quality_models import digits_datasets, digits_model, digits_split, fragile

    from edgeq import data

    m = digits_model()
    cal, ev = digits_datasets(m)
    x_tr, _, y_tr, _ = digits_split()
    train = data.Dataset("digits train", (x_tr,), y_tr)
    return m, fragile(m), cal, ev, train


def _int8_accuracy(model, cal, ev):
    from edgeq import convert
    from edgeq.quality import evaluate

    tfl = convert.quantize(model, "int8", cal.inputs, io_dtype="int8")
    q = evaluate.run_tflite(tfl, ev.inputs, runtime="tflm")[0]
    return float(np.mean(q.argmax(1) == ev.labels))


def test_qat_recovers_what_ptq_loses(setup):
    from edgeq import convert
    from edgeq.quality import qat

    m, frag, cal, ev, train = setup
    f = convert.predict_float(frag, ev.inputs)[0]
    float_acc = float(np.mean(f.argmax(1) == ev.labels))
    ptq = _int8_accuracy(frag, cal, ev)
    assert float_acc - ptq > 0.10  # the imbalanced activation range really hurts int8
    r = qat.fine_tune(frag, train, epochs=3, learning_rate=1e-3)
    assert r.loss == "sparse_categorical_crossentropy" and r.loss_source == "compiled" and len(r.history) == 3
    # proven on the held-out fifth of the training data too
    assert r.check.metric == "accuracy" and r.check.fine_tuned > r.check.ptq + 0.1 and r.kept_fine_tuned
    assert set(r.quantized_layers) == {"conv2d", "depthwise_conv2d", "conv2d_1", "conv2d_2", "digit"}
    after = _int8_accuracy(qat.as_loaded(frag, r), cal, ev)
    assert after > ptq + 0.15
    assert after > float_acc - 0.06
    # the result is an ordinary float Keras model with the same layer names; the input model is untouched
    assert [ly.name for ly in r.model.layers] == [ly.name for ly in frag.handle.layers]
    assert np.allclose(convert.predict_float(frag, ev.inputs)[0], f)


def test_distillation_without_labels(setup):
    from edgeq import data
    from edgeq.quality import qat

    m, _, _, _, train = setup
    r = qat.fine_tune(m, data.Dataset("x", train.inputs, None), epochs=1)
    assert r.loss == "distill" and np.isfinite(r.history[-1])
    # proven against the float model's outputs on the held-out fifth (no labels to score accuracy with)
    assert r.check.metric == "output mse" and r.check.samples == round(0.2 * len(train))
    assert r.kept_fine_tuned == (r.check.fine_tuned <= r.check.ptq)


def test_unsupported_layers_are_named(tmp_path):
    import keras

    from edgeq import convert, data
    from edgeq.errors import ModelError
    from edgeq.quality import qat

    inp = keras.Input((6, 4), name="seq")
    h = keras.layers.LSTM(8, name="my_lstm")(inp)
    h = keras.layers.Dense(4, name="head")(h)
    out = keras.layers.Conv1D(2, 1, groups=1, name="ok")(keras.layers.Reshape((4, 1))(h))
    path = tmp_path / "rnn.keras"
    keras.Model(inp, out).save(path)
    m = convert.load_model(path)
    ds = data.Dataset("x", (np.random.default_rng(0).normal(size=(8, 6, 4)).astype(np.float32),), None)
    with pytest.raises(ModelError, match=r"my_lstm \(LSTM\)") as ei:
        qat.fine_tune(m, ds, epochs=1)
    assert "head" not in ei.value.message


def test_cli_qat_refuses_to_overwrite_and_bad_options(tmp_path, capsys):
    from quality_models import DIGITS, run_cli

    out = tmp_path / "qat.keras"
    out.write_bytes(b"mine")
    args = ("qat", DIGITS / "model.keras", "--train", DIGITS / "calib.npz")
    code, _, err = run_cli(capsys, *args, "-o", out)
    assert code == 2 and "exists" in err and out.read_bytes() == b"mine"
    code, _, err = run_cli(capsys, *args, "-o", tmp_path / "q.keras", "--validation-split", "1.5")
    assert code == 2 and "--validation-split" in err
    code, _, err = run_cli(capsys, *args, "-o", tmp_path / "q.h5")
    assert code == 2 and ".keras" in err
