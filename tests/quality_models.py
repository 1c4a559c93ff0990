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


FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def fashion_subset(n_train: int, n_test: int = 0, seed: int = 0):
    """(x_train, y_train, x_test, y_test): seeded subsets of Fashion-MNIST, pixels in 0..1, shape (N, 28, 28, 1).
    Skips the calling test when the dataset is not installed."""
    import gzip

    import pytest

    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")

    def idx(name):
        raw = gzip.open(FASHION_DIR / name, "rb").read()
        dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)

    rng = np.random.default_rng(seed)
    out = []
    for split, n in (("train", n_train), ("t10k", n_test)):
        x, y = idx(f"{split}-images-idx3-ubyte.gz"), idx(f"{split}-labels-idx1-ubyte.gz")
        pick = np.sort(rng.choice(len(x), n, replace=False)) if n else np.arange(0)
        out += [(x[pick].astype(np.float32) / 255.0)[..., None], y[pick].astype(np.int64)]
    return tuple(out)


def small_classifier(path: Path, x: np.ndarray, y: np.ndarray, *, head: str = "logits", epochs: int = 4,
                     compiled: bool = True, one_hot: bool = False):
    """Conv -> pool -> dense -> Dense(10) CNN trained on (x, y) and saved to `path`; head "logits" (no activation,
    from_logits=True, the Keras/TF tutorial setup) or "softmax". compiled=False saves it without its loss."""
    import keras

    from edgeq import convert

    keras.utils.set_random_seed(0)
    inp = keras.Input(x.shape[1:], name="image")
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inp)
    if x.shape[1] > 8:
        h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(32, activation="relu", name="fc")(h)
    out = keras.layers.Dense(10, activation=None if head == "logits" else "softmax", name="scores")(h)
    m = keras.Model(inp, out)
    logits = head == "logits"
    loss = (keras.losses.CategoricalCrossentropy(from_logits=logits) if one_hot else
            keras.losses.SparseCategoricalCrossentropy(from_logits=logits))
    m.compile(keras.optimizers.Adam(3e-3), loss)
    m.fit(x, np.eye(10, dtype=np.float32)[y] if one_hot else y, epochs=epochs, batch_size=32, verbose=0)
    if not compiled:
        m = _uncompiled(m)
    m.save(path)
    return convert.load_model(path)


def _uncompiled(m):
    import keras

    plain = keras.Model.from_config(m.get_config())  # (Keras 3 clone_model compiles the clone like the original)
    plain.set_weights(m.get_weights())
    return plain
