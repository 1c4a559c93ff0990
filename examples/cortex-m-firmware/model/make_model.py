"""Train the example's tiny digits classifier and write its calibration data and a test sample.

Writes (next to this script): digits.keras (8x8x1 image -> 10 logits), calib.npz (200 training images, the
representative dataset for int8 calibration) and ../sample_digit.h (one held-out test image as floats, and
its label, for the firmware). Uses scikit-learn's bundled `load_digits` (no download). Deterministic:
seeded; run it again only to change the model.

    python examples/cortex-m-firmware/model/make_model.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    import keras
    from keras import layers as L
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

    inp = keras.Input(shape=(8, 8, 1), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = L.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = L.Conv2D(16, 1, activation="relu")(h)
    h = L.AveragePooling2D(2)(h)
    h = L.Flatten()(h)
    out = L.Dense(10, name="logits")(h)
    model = keras.Model(inp, out, name="digits")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    model.save(HERE / "digits.keras")
    np.savez_compressed(HERE / "calib.npz", image=x_train[:200])

    i = 0
    vals = ", ".join(f"{v:.4f}f" for v in x_test[i].ravel())
    (HERE.parent / "sample_digit.h").write_text(
        "/* One held-out test image of scikit-learn's digits set (8x8, values in [0, 1]); written by\n"
        " * model/make_model.py. */\n"
        "#ifndef SAMPLE_DIGIT_H\n#define SAMPLE_DIGIT_H\n"
        f"#define SAMPLE_DIGIT_LABEL {int(y_test[i])}\n"
        f"static const float sample_digit[64] = {{{vals}}};\n#endif\n", encoding="ascii")
    print(f"float test accuracy {acc:.3f}; wrote digits.keras, calib.npz, ../sample_digit.h")


if __name__ == "__main__":
    main()
