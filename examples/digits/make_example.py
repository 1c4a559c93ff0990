"""Train the bundled example: a small CNN on scikit-learn's 8x8 digits (ships offline), saved as model.keras.

Writes model.keras, calib.npz (300 training samples, key = the model's input name) and eval.npz (the held-out
test split with labels under `y`). Deterministic: seeded data split and weights. Run: python make_example.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main(out_dir: str = ".") -> None:
    keras.utils.set_random_seed(0)
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # 0..16 -> 0..1, (N, 8, 8, 1)
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    inp = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    h = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = keras.layers.Conv2D(32, 1, activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax", name="digit")(h)
    model = keras.Model(inp, out, name="digits_cnn")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=60, batch_size=32, verbose=0, validation_split=0.1)
    _, acc = model.evaluate(x_te, y_te, verbose=0)
    print(f"float test accuracy: {acc:.4f} on {len(x_te)} samples")
    model.save(os.path.join(out_dir, "model.keras"))
    np.savez_compressed(os.path.join(out_dir, "calib.npz"), image=x_tr[:300])
    np.savez_compressed(os.path.join(out_dir, "eval.npz"), image=x_te, y=y_te)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
