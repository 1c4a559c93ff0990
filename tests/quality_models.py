"""Small real models and data for the quality tests (scikit-learn digits; trained in seconds, seeded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`edgeq ARGS` in-process (TensorFlow is already loaded): exit code, stdout, stderr as a user sees them."""
    from edgeq.cli import main

    capsys.readouterr()
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    return train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)


def digits_model():
    """The committed example CNN (conv -> depthwise -> 1x1 conv -> pool -> conv -> GAP -> dense softmax)."""
    from edgeq import convert

    return convert.load_model(DIGITS / "model.keras")


def digits_datasets(m):
    """(calibration, evaluation) Datasets of the committed digits example for model `m`."""
    from edgeq import data

    cal = data.load_dataset(str(DIGITS / "calib.npz"), m.inputs)
    ev = data.load_dataset(str(DIGITS / "eval.npz"), m.inputs, role="eval")
    return cal, ev


def fragile(loaded, scale: float = 256.0):
    """Same float function, one first-conv channel scaled up (and the depthwise conv after it down) by `scale`:
    the per-tensor int8 range of that activation becomes too coarse for the other channels."""
    import keras

    from edgeq.quality import qat

    m = keras.models.clone_model(loaded.handle)
    m.set_weights(loaded.handle.get_weights())
    k, b = m.get_layer("conv2d").get_weights()
    k[..., 0] *= scale
    b[0] *= scale
    m.get_layer("conv2d").set_weights([k, b])
    k2, b2 = m.get_layer("depthwise_conv2d").get_weights()
    k2[:, :, 0, :] /= scale
    m.get_layer("depthwise_conv2d").set_weights([k2, b2])
    return qat.as_loaded(loaded, qat.QatResult(m, 0, "none", (), (), 0))


def standardized_autoencoder(path: Path):
    """Dense 64-16-8-16-64 autoencoder on per-pixel standardized digits (wide-ranging inputs/outputs)."""
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from edgeq import convert

    d = load_digits()
    x = d.images.reshape(-1, 64).astype(np.float64)
    x_tr, x_te = train_test_split(x, test_size=0.25, random_state=0)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 0.05
    x_tr, x_te = ((x_tr - mu) / sd).astype(np.float32), ((x_te - mu) / sd).astype(np.float32)
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(16, activation="relu", name="enc")(inp)
    z = keras.layers.Dense(8, name="code")(h)
    h = keras.layers.Dense(16, activation="relu", name="dec")(z)
    out = keras.layers.Dense(64, name="recon")(h)
    m = keras.Model(inp, out)
    m.compile(keras.optimizers.Adam(3e-3), "mse")
    m.fit(x_tr, x_tr, epochs=40, batch_size=64, verbose=0)
    m.save(path)
    return convert.load_model(path), x_tr, x_te
