"""Fine-tuning uses the model's own loss (compiled, else from the output layer) and proves it helped (issue 13).

Real data (scikit-learn digits, Fashion-MNIST subsets): logits and softmax heads, sparse and one-hot labels, a
regression head. Every fine-tune's int8 model is recomputed here independently (tflite-micro) on the held-out
data and must not be below plain post-training quantization.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _int8_outputs(loaded, calib, x, runtime="tflm"):
    from edgeq import convert
    from edgeq.quality import evaluate

    tfl = convert.quantize(loaded, "int8", [calib[:500]], io_dtype="int8")
    return evaluate.run_tflite(tfl, [x], runtime=runtime)[0]


def _int8_accuracy(loaded, calib, x, y):
    return float(np.mean(_int8_outputs(loaded, calib, x).argmax(1) == y))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Digits split and a logits-head CNN compiled with SparseCategoricalCrossentropy(from_logits=True)."""
    from quality_models import digits_split, small_classifier

    x_tr, x_te, y_tr, y_te = digits_split()
    path = tmp_path_factory.mktemp("digits") / "logits.keras"
    return small_classifier(path, x_tr, y_tr, head="logits", epochs=5), x_tr, x_te, y_tr, y_te


def test_auto_loss_follows_the_model(tmp_path):
    import keras

    from edgeq import convert
    from edgeq.errors import DataError, UsageError
    from edgeq.quality.qat import resolve_loss

    idx = np.array([0, 3, 2, 1])
    one_hot = np.eye(4, dtype=np.float32)[idx]

    def saved(name, act, loss=None, units=4):
        inp = keras.Input((5,))
        m = keras.Model(inp, keras.layers.Dense(units, activation=act, name="head")(keras.layers.Dense(6)(inp)))
        if loss is not None:
            m.compile("adam", loss)
        m.save(tmp_path / name)
        return convert.load_model(tmp_path / name)

    def pick(m, labels, loss="auto"):
        c = resolve_loss(m, labels, loss)
        return c.name, c.source

    logits_c = saved("lc.keras", None, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert pick(logits_c, idx) == ("sparse_categorical_crossentropy_from_logits", "compiled")
    assert pick(logits_c, one_hot) == ("categorical_crossentropy_from_logits", "compiled")  # labels decide the form
    named = saved("named.keras", "softmax", "sparse_categorical_crossentropy")  # a loss name: probabilities
    assert pick(named, idx) == ("sparse_categorical_crossentropy", "compiled")
    logits = saved("l.keras", None)  # not compiled: the output layer decides
    assert pick(logits, idx) == ("sparse_categorical_crossentropy_from_logits", "output layer")
    assert pick(logits, one_hot) == ("categorical_crossentropy_from_logits", "output layer")
    softmax = saved("s.keras", "softmax")
    assert pick(softmax, idx) == ("sparse_categorical_crossentropy", "output layer")
    assert pick(softmax, one_hot) == ("categorical_crossentropy", "output layer")
    sigmoid = saved("b.keras", "sigmoid", units=1)
    assert pick(sigmoid, np.array([0, 1, 1, 0]))[0] == "binary_crossentropy"
    regression = saved("r.keras", None, units=1)
    assert pick(regression, np.array([0.5, -1.25, 3.0, 2.0]))[0] == "mse"
    assert pick(saved("rc.keras", None, "mae", units=1), np.array([0.5, -1.25, 3.0, 2.0]))[0] == "mae"
    assert pick(logits, None) == ("distill", "no labels")
    assert pick(logits, idx, "sparse_categorical_crossentropy") == ("sparse_categorical_crossentropy", "--loss")
    # a legacy .h5 keeps its compiled loss in the training_config attribute
    inp = keras.Input((5,))
    m = keras.Model(inp, keras.layers.Dense(4)(inp))
    m.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    m.save(tmp_path / "c.h5")
    assert pick(convert.load_model(tmp_path / "c.h5"), one_hot)[0] == "categorical_crossentropy_from_logits"
    with pytest.raises(DataError, match="4 classes"):
        resolve_loss(logits, np.array([0, 1, 7, 2]))
    with pytest.raises(UsageError, match="unknown QAT loss"):
        resolve_loss(logits, idx, "hinge")


def test_logits_head_never_below_ptq_and_the_issue_loss_is_caught(digits):
    """The issue's setup on digits: QAT trains the logits head as logits and the int8 model is not worse; the
    issue's bug (logits trained as probabilities) makes int8 worse, and then the original weights are kept."""
    from edgeq import data
    from edgeq.quality import qat

    m, x_tr, x_te, y_tr, y_te = digits
    train = data.Dataset("digits train", (x_tr,), y_tr)
    r = qat.fine_tune(m, train, epochs=2, runtime="tflm")
    assert r.loss == "sparse_categorical_crossentropy_from_logits" and r.loss_source == "compiled"
    c = r.check
    assert c.metric == "accuracy" and c.runtime == "tflm" and c.samples == round(0.2 * len(train))
    # recomputed here: the same held-out split, PTQ vs the kept model, on tflite-micro
    tr, val, _ = qat.split_validation(train)
    ptq = _int8_accuracy(m, tr.inputs[0], val.inputs[0], val.labels)
    kept = _int8_accuracy(qat.as_loaded(m, r), tr.inputs[0], val.inputs[0], val.labels)
    assert ptq == pytest.approx(c.ptq) and kept >= ptq
    assert kept == pytest.approx(c.fine_tuned if r.kept_fine_tuned else c.ptq)
    assert len(r.val_history) == 2 and all(np.isfinite(r.val_history))

    test = data.Dataset("digits test", (x_te,), y_te)
    bad = qat.fine_tune(m, train, epochs=2, validation=test, runtime="tflm", loss="sparse_categorical_crossentropy",
                        learning_rate=1e-3)
    assert bad.samples == len(x_tr)  # held-out data given: no split
    assert bad.check.worse and not bad.kept_fine_tuned and bad.model is m.handle
    worse = _int8_accuracy(qat.as_loaded(m, bad.fine_tuned), x_tr, x_te, y_te)
    assert worse == pytest.approx(bad.check.fine_tuned) and worse < bad.check.ptq
    assert bad.check.ptq == pytest.approx(_int8_accuracy(m, x_tr, x_te, y_te))


def test_softmax_head_one_hot_labels_never_below_ptq(digits):
    """The committed digits CNN (softmax head, compiled with the sparse loss *name*) on one-hot labels."""
    from quality_models import digits_model

    from edgeq import data
    from edgeq.quality import qat

    m = digits_model()
    _, x_tr, x_te, y_tr, y_te = digits
    onehot = data.Dataset("digits train one-hot", (x_tr,), np.eye(10, dtype=np.float32)[y_tr])
    test = data.Dataset("digits test", (x_te,), np.eye(10, dtype=np.float32)[y_te])
    r = qat.fine_tune(m, onehot, epochs=1, validation=test, runtime="tflm")
    assert r.loss == "categorical_crossentropy" and r.loss_source == "compiled" and not r.check.worse
    assert _int8_accuracy(qat.as_loaded(m, r), x_tr, x_te, y_te) >= _int8_accuracy(m, x_tr, x_te, y_te)


def test_regression_head_never_below_ptq(tmp_path):
    """A regression head (digits -> digit value, compiled with MSE): fine-tuned with MSE, judged by int8 MSE."""
    import keras
    from quality_models import digits_split

    from edgeq import convert, data
    from edgeq.quality import qat

    x_tr, _, y_tr, _ = digits_split()
    x_tr = x_tr.reshape(len(x_tr), 64)
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,), name="pixels")
    out = keras.layers.Dense(1, name="value")(keras.layers.Dense(24, activation="relu", name="fc")(inp))
    km = keras.Model(inp, out)
    km.compile(keras.optimizers.Adam(1e-2), "mse")
    km.fit(x_tr, y_tr.astype(np.float32), epochs=10, batch_size=32, verbose=0)
    km.save(tmp_path / "reg.keras")
    m = convert.load_model(tmp_path / "reg.keras")
    train = data.Dataset("digits values", (x_tr,), y_tr.astype(np.float32))
    r = qat.fine_tune(m, train, epochs=2, runtime="tflm")
    assert r.loss == "mse" and r.check.metric == "mse"
    tr, val, _ = qat.split_validation(train)

    def mse(loaded):
        return float(np.mean((_int8_outputs(loaded, tr.inputs[0], val.inputs[0])[:, 0] - val.labels) ** 2))

    assert mse(m) == pytest.approx(r.check.ptq, rel=1e-6)
    assert mse(qat.as_loaded(m, r)) <= mse(m)


def test_cli_fashion_logits(tmp_path, capsys):
    """The issue's Fashion-MNIST setup (subset): logits head, sparse labels, through `edgeq qat`; a fine-tune that
    makes int8 worse exits 3 with both figures and writes nothing; --allow-worse writes it."""
    from quality_models import fashion_subset, run_cli, small_classifier

    from edgeq.quality.qat import compiled_loss

    x, y, _, _ = fashion_subset(2000)
    logits = small_classifier(tmp_path / "logits.keras", x[:1000], y[:1000], head="logits", epochs=3)
    np.savez(tmp_path / "train.npz", image=x[1000:], y=y[1000:])
    out = tmp_path / "qat.keras"
    code, stdout, err = run_cli(capsys, "qat", logits.path, "--train", tmp_path / "train.npz", "--epochs", "1",
                                "-t", "cortex-m4", "-o", out)
    assert code == 0, err
    assert "sparse_categorical_crossentropy_from_logits" in err and "epoch 1/1: loss" in err
    assert "PTQ" in stdout and "fine-tuned" in stdout and "tflm" in stdout and out.exists()
    # the written model carries the loss it was trained with
    assert compiled_loss(out) == "sparse_categorical_crossentropy_from_logits"

    # the issue's loss (logits trained as probabilities) on a few samples: worse -> exit 3, nothing written
    np.savez(tmp_path / "few.npz", image=x[1000:1300], y=y[1000:1300])
    bad = ("qat", logits.path, "--train", tmp_path / "few.npz", "--epochs", "2", "--loss",
           "sparse_categorical_crossentropy", "--learning-rate", "0.003", "-o", tmp_path / "bad.keras")
    code, stdout, err = run_cli(capsys, *bad)
    assert code == 3 and "worse" in err and "PTQ" in err and "fine-tuned" in err and "--allow-worse" in err, err
    assert not (tmp_path / "bad.keras").exists()
    code, stdout, err = run_cli(capsys, *bad, "--allow-worse")
    assert code == 0 and (tmp_path / "bad.keras").exists() and "worse" in stdout
