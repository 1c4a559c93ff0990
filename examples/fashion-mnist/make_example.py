"""Fashion-MNIST example: train a small CNN, then measure float vs int8 (PTQ) vs QAT on the full 10k test set.

Data: the Debian package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist, offline), or the folder in
$FASHION_MNIST_DIR holding the four original *-idx?-ubyte.gz files. Writes into this folder:

  model.keras          the trained float CNN
  calib.npz            500 training images (key `image`), for `edgeq convert --calib`
  eval.npz             the 10,000 test images with labels (`y`), for `--eval` (not committed: 31 MB)
  results.json         every figure quoted in README.md, produced by this script
  README.md            the results table between the RESULTS markers is rewritten

The int8 model is full-integer (int8 I/O) as for the cortex-m4 target and is run by tflite-micro, i.e. exactly what
TFLM computes on the device. A second, "fragile" copy of the same network shows what QAT recovers when PTQ loses
accuracy: one channel of the first convolution is scaled up by 256 and the next convolution scaled down by 1/256
(ReLU is positively homogeneous, so the float model computes the same function), which makes the per-tensor int8
activation range of that layer 256x too coarse for the other channels — the imbalance depthwise/unfolded networks
show in practice. Run: python make_example.py [--epochs 8] [--qat-epochs 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_DIRS = [os.environ.get("FASHION_MNIST_DIR", ""), "/usr/share/datasets/fashion-mnist"]
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FRAGILE_SCALE = 256.0


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist():
    for d in DATA_DIRS:
        p = Path(d) if d else None
        if p and (p / "t10k-images-idx3-ubyte.gz").exists():
            x_tr = _idx(p / "train-images-idx3-ubyte.gz")
            y_tr = _idx(p / "train-labels-idx1-ubyte.gz")
            x_te = _idx(p / "t10k-images-idx3-ubyte.gz")
            y_te = _idx(p / "t10k-labels-idx1-ubyte.gz")
            f = lambda x: (x.astype(np.float32) / 255.0)[..., None]  # noqa: E731
            return f(x_tr), y_tr.astype(np.int64), f(x_te), y_te.astype(np.int64)
    sys.exit("Fashion-MNIST not found: apt-get install dataset-fashion-mnist (or set FASHION_MNIST_DIR)")


def build_model():
    import keras

    inp = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dropout(0.3, name="dropout")(h)
    h = keras.layers.Dense(64, activation="relu", name="fc1")(h)
    out = keras.layers.Dense(10, activation="softmax", name="label")(h)
    return keras.Model(inp, out, name="fashion_cnn")


def make_fragile(model, channel: int = 0, scale: float = FRAGILE_SCALE):
    """Same float function, badly balanced activation range: conv1[c] * scale, conv2[:, :, c] / scale."""
    import keras

    frag = keras.models.clone_model(model)
    frag.set_weights(model.get_weights())
    k1, b1 = frag.get_layer("conv1").get_weights()
    k1[..., channel] *= scale
    b1[channel] *= scale
    frag.get_layer("conv1").set_weights([k1, b1])
    k2, b2 = frag.get_layer("conv2").get_weights()
    k2[:, :, channel, :] /= scale
    frag.get_layer("conv2").set_weights([k2, b2])
    return frag


def int8_accuracy(loaded, calib, x_te, y_te):
    from edgeq import convert
    from edgeq.quality import evaluate

    tfl = convert.quantize(loaded, "int8", [calib], io_dtype="int8")
    q = evaluate.run_tflite(tfl, [x_te], runtime="tflm")
    return float(np.mean(q[0].argmax(1) == y_te)), len(tfl)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--qat-epochs", type=int, default=2)
    ap.add_argument("--retrain", action="store_true", help="train even if model.keras exists")
    ap.add_argument("--readme-only", action="store_true", help="rewrite README.md from results.json")
    args = ap.parse_args()
    if args.readme_only:
        _write_readme(json.loads((HERE / "results.json").read_text()))
        return
    import keras

    from edgeq import convert, data
    from edgeq.quality import qat

    keras.utils.set_random_seed(0)
    x_tr, y_tr, x_te, y_te = load_fashion_mnist()
    rng = np.random.default_rng(0)
    calib = x_tr[np.sort(rng.choice(len(x_tr), 500, replace=False))]
    t0 = time.time()
    model_path = HERE / "model.keras"
    if args.retrain or not model_path.exists():
        model = build_model()
        model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_tr, y_tr, epochs=args.epochs, batch_size=128, verbose=2, validation_split=0.05)
        plain = keras.models.clone_model(model)  # without the optimizer state: a third of the file size
        plain.set_weights(model.get_weights())
        plain.save(model_path)
    np.savez_compressed(HERE / "calib.npz", image=calib)
    np.savez(HERE / "eval.npz", image=x_te, y=y_te)

    loaded = convert.load_model(model_path)
    results: dict = {"test_samples": int(len(x_te)), "train_samples": int(len(x_tr)), "calib_samples": len(calib),
                     "int8_runtime": "tflite-micro", "io_dtype": "int8"}
    f = convert.predict_float(loaded, [x_te])[0]
    results["float_accuracy"] = float(np.mean(f.argmax(1) == y_te))
    results["int8_accuracy"], results["int8_tflite_bytes"] = int8_accuracy(loaded, calib, x_te, y_te)

    train = data.Dataset("fashion-mnist train", (x_tr,), y_tr)
    r = qat.fine_tune(loaded, train, epochs=args.qat_epochs, learning_rate=1e-4, batch_size=128)
    qloaded = qat.as_loaded(loaded, r)
    fq = convert.predict_float(qloaded, [x_te])[0]
    results["qat_float_accuracy"] = float(np.mean(fq.argmax(1) == y_te))
    results["qat_int8_accuracy"], _ = int8_accuracy(qloaded, calib, x_te, y_te)
    results["qat_epochs"] = args.qat_epochs

    frag = make_fragile(loaded.handle)
    floaded = qat.as_loaded(loaded, qat.QatResult(frag, 0, "none", (), (), 0))
    ff = convert.predict_float(floaded, [x_te])[0]
    results["fragile_float_accuracy"] = float(np.mean(ff.argmax(1) == y_te))
    results["fragile_int8_accuracy"], _ = int8_accuracy(floaded, calib, x_te, y_te)
    results["layerwise"] = {"cnn": _layerwise(loaded, calib, x_te), "fragile": _layerwise(floaded, calib, x_te)}
    r2 = qat.fine_tune(floaded, train, epochs=args.qat_epochs, learning_rate=1e-3, batch_size=128)
    q2 = qat.as_loaded(floaded, r2)
    results["fragile_qat_float_accuracy"] = float(np.mean(convert.predict_float(q2, [x_te])[0].argmax(1) == y_te))
    results["fragile_qat_int8_accuracy"], _ = int8_accuracy(q2, calib, x_te, y_te)
    results["seconds"] = round(time.time() - t0, 1)
    (HERE / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    _write_readme(results)
    print(json.dumps(results, indent=2, sort_keys=True))


def _layerwise(loaded, calib, x_te) -> list[dict]:
    """Per-layer error of the int8 model on the first 256 test images (op order)."""
    from edgeq import convert
    from edgeq.quality import layerwise

    tfl = convert.quantize(loaded, "int8", [calib], io_dtype="int8")
    errs = layerwise.layer_errors(loaded, tfl, [x_te], max_samples=256)
    return [{"op": e.op_index, "opcode": e.opcode, "layer": e.layer, "sqnr_db": round(e.sqnr_db, 2),
             "channel_sqnr_db": None if e.channel_sqnr_db is None else round(e.channel_sqnr_db, 2),
             "sqnr_drop_db": round(e.sqnr_drop_db, 2)} for e in sorted(errs, key=lambda e: e.op_index)]


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def _write_readme(r: dict) -> None:
    pp = lambda a, b: f"{100 * (a - b):+.2f} pp"  # noqa: E731
    table = "\n".join([
        f"Full Fashion-MNIST test set ({r['test_samples']:,} images); int8 = full-integer (int8 I/O), run by "
        f"tflite-micro; calibration: {r['calib_samples']} training images; QAT: {r['qat_epochs']} epoch(s) on the "
        f"{r['train_samples']:,} training images.",
        "",
        "| model | float accuracy | int8 accuracy | int8 vs float |",
        "| --- | ---: | ---: | ---: |",
        f"| CNN, post-training quantization | {_pct(r['float_accuracy'])} | {_pct(r['int8_accuracy'])} | "
        f"{pp(r['int8_accuracy'], r['float_accuracy'])} |",
        f"| CNN, QAT fine-tuned | {_pct(r['qat_float_accuracy'])} | {_pct(r['qat_int8_accuracy'])} | "
        f"{pp(r['qat_int8_accuracy'], r['float_accuracy'])} |",
        f"| fragile CNN (same function, imbalanced conv1 range), PTQ | {_pct(r['fragile_float_accuracy'])} | "
        f"{_pct(r['fragile_int8_accuracy'])} | {pp(r['fragile_int8_accuracy'], r['fragile_float_accuracy'])} |",
        f"| fragile CNN, QAT fine-tuned | {_pct(r['fragile_qat_float_accuracy'])} | "
        f"{_pct(r['fragile_qat_int8_accuracy'])} | "
        f"{pp(r['fragile_qat_int8_accuracy'], r['fragile_float_accuracy'])} |",
        "",
        f"int8 model size: {r['int8_tflite_bytes']:,} bytes. \"int8 vs float\" compares with the original float "
        "model; QAT also trains for more epochs, so part of its gain over the float model is extra training. "
        "Produced by `python make_example.py` (figures in results.json).",
    ])
    lw = r.get("layerwise")
    if lw:
        def row(name, layer):
            e = next((d for d in lw[name] if d["layer"] == layer), None)
            return "–" if e is None else (f"{e['sqnr_db']:.1f} dB" + (
                f" (per-channel mean {e['channel_sqnr_db']:.1f} dB)" if e["channel_sqnr_db"] is not None else ""))
        table += "\n\nPer-layer SQNR of the int8 model vs float (first 256 test images, `edgeq.quality.layerwise`):\n\n"
        table += "| layer | CNN | fragile CNN |\n| --- | --- | --- |\n"
        for layer in ("conv1", "conv2", "conv3", "fc1", "label"):
            table += f"| {layer} | {row('cnn', layer)} | {row('fragile', layer)} |\n"
        table = table.rstrip("\n")
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else "<!-- RESULTS -->\n<!-- /RESULTS -->\n"
    text = re.sub(r"<!-- RESULTS -->.*<!-- /RESULTS -->", f"<!-- RESULTS -->\n{table}\n<!-- /RESULTS -->", text,
                  flags=re.S)
    readme.write_text(text)


if __name__ == "__main__":
    main()
