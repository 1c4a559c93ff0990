"""Quantization-quality figures: an autoencoder (MSE metric) where int8 visibly hurts, and what the automatic
budget search does about it; plus the Fashion-MNIST example's float/int8/QAT accuracy when its results exist.

Run: python benchmarks/quality.py [--json]. Deterministic (seeded data split and training). The autoencoder
is a dense 64-32-8-32-64 network on scikit-learn's 8x8 digits, standardized per pixel (StandardScaler, a common
preprocessing for sensor/anomaly-detection autoencoders): rarely-inked border pixels become values of 10-40 while
most values stay within +-2, so one per-tensor int8 scale for the linear output is too coarse for the typical
pixel. "MSE" is reconstruction MSE (standardized units) against the input on the 450 held-out images; SQNR is
the quantized output against the float output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

BUDGET_SQNR_DB = 30.0


def autoencoder(path: Path):
    """Train (or reuse) the digits autoencoder; returns (model path, x_train, x_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.reshape(-1, 64).astype(np.float64)
    x_tr, x_te = train_test_split(x, test_size=0.25, random_state=0)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 0.05  # +0.05: pixels that never vary in training stay finite
    x_tr, x_te = ((x_tr - mu) / sd).astype(np.float32), ((x_te - mu) / sd).astype(np.float32)
    if not path.exists():
        import keras

        keras.utils.set_random_seed(0)
        inp = keras.Input((64,), name="pixels")
        h = keras.layers.Dense(32, activation="relu", name="enc1")(inp)
        z = keras.layers.Dense(8, name="code")(h)
        h = keras.layers.Dense(32, activation="relu", name="dec1")(z)
        out = keras.layers.Dense(64, name="recon")(h)
        m = keras.Model(inp, out, name="digits_ae")
        m.compile(keras.optimizers.Adam(3e-3), "mse")
        m.fit(x_tr, x_tr, epochs=150, batch_size=64, verbose=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        m.save(path)
    return path, x_tr, x_te


def run_autoencoder(work: Path) -> dict:
    from edgeq import convert, data, target
    from edgeq.errors import CheckFailed
    from edgeq.quality import evaluate, search

    path, x_tr, x_te = autoencoder(work / "digits_ae_std.keras")
    m = convert.load_model(path)
    calib = data.Dataset("digits train", (x_tr,), None)
    ev = data.Dataset("digits test", (x_te,), x_te)  # targets = the inputs (reconstruction)
    train = data.Dataset("digits train", (x_tr,), None)
    f = convert.predict_float(m, [x_te])[0]
    out: dict = {"float_mse": float(np.mean((f - x_te) ** 2)), "test_samples": len(x_te), "targets": {}}
    for tname in ("cortex-m4", "rpi5"):
        t = target.load_target(tname)
        tfl = convert.quantize(m, "int8", [x_tr[:500]], io_dtype=t.quantization.io_dtype)
        r = evaluate.evaluate(m, tfl, ev, runtime=evaluate.runtime_for(t))
        row = {"int8_mse": r.quant_target_mse, "int8_sqnr_db": r.outputs[0].sqnr_db, "budget_sqnr_db": BUDGET_SQNR_DB}
        t0 = time.time()
        try:
            res = search.search(m, t, calib, ev, min_sqnr_db=BUDGET_SQNR_DB, train=train, exhaustive=True)
            q = evaluate.run_tflite(res.tflite, [x_te], runtime=evaluate.runtime_for(t))[0]
            row.update(chosen=res.best.name, chosen_mse=float(np.mean((q - x_te) ** 2)),
                       chosen_sqnr_db=res.best.sqnr_db, candidates=search.candidates_table(res),
                       skipped=list(res.skipped))
        except CheckFailed as e:
            row.update(chosen=None, error=str(e))
        row["search_seconds"] = round(time.time() - t0, 1)
        out["targets"][tname] = row
    return out


def run_lowbit() -> dict:
    """Ternary/binary clustering of the digits example CNN: accuracy as clustered, and after STE fine-tuning."""
    from dataclasses import replace

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from edgeq import convert, data
    from edgeq.quality import evaluate, lowbit

    m = convert.load_model(ROOT / "examples" / "digits" / "model.keras")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    train = data.Dataset("digits train", (x_tr,), y_tr)

    def int8_acc(model) -> float:
        tfl = convert.quantize(model, "int8", [x_tr[:300]], io_dtype="int8")
        return float(np.mean(evaluate.run_tflite(tfl, [x_te], runtime="tflm")[0].argmax(1) == y_te))

    out = {"float_accuracy": float(np.mean(convert.predict_float(m, [x_te])[0].argmax(1) == y_te)),
           "int8_accuracy": int8_acc(m), "test_samples": len(x_te)}
    for scheme in ("ternary", "binary"):
        for epochs in (0, 5):
            r = lowbit.cluster(m, scheme, train=train if epochs else None, epochs=epochs)
            lm = replace(m, handle=r.model)
            out[f"{scheme}_{'tuned' if epochs else 'raw'}"] = {
                "float_accuracy": float(np.mean(convert.predict_float(lm, [x_te])[0].argmax(1) == y_te)),
                "int8_accuracy": int8_acc(lm), "fine_tune_epochs": epochs, "packed_bytes": r.packed_bytes,
                "int8_bytes": r.int8_bytes, "clustered_layers": [c.name for c in r.layers]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--work", default=str(ROOT / "benchmarks" / ".work"))
    args = ap.parse_args()
    res = {"autoencoder": run_autoencoder(Path(args.work)), "lowbit": run_lowbit()}
    fm = ROOT / "examples" / "fashion-mnist" / "results.json"
    if fm.exists():
        res["fashion_mnist"] = json.loads(fm.read_text())
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True, default=str))
        return
    ae = res["autoencoder"]
    print(f"Autoencoder (digits, {ae['test_samples']} test images): float reconstruction MSE {ae['float_mse']:.5f}")
    for tname, row in ae["targets"].items():
        print(f"\n  target {tname}: int8 MSE {row['int8_mse']:.5f} (SQNR {row['int8_sqnr_db']:.1f} dB); "
              f"budget SQNR >= {row['budget_sqnr_db']} dB")
        for c in row.get("candidates", []):
            mark = "*" if c["chosen"] else " "
            sq = f"{c['sqnr_db']:.1f} dB" if c["sqnr_db"] is not None else c["error"]
            lat = f"{c['estimated_latency_ms']:.3f} ms" if c["estimated_latency_ms"] is not None else "n/a"
            print(f"   {mark} {c['name']:<58} SQNR {sq:<10} {c['tflite_bytes']:>7,} B  est. {lat}  "
                  f"{'meets' if c['met_budget'] else 'misses'}")
        if row.get("chosen"):
            print(f"    chosen: {row['chosen']}: MSE {row['int8_mse']:.5f} -> {row['chosen_mse']:.5f}")
        else:
            print(f"    none met the budget: {row.get('error')}")
        for s in row.get("skipped", []):
            print(f"    not tried: {s}")
    lb = res["lowbit"]
    print(f"\nLow-bit weights, digits CNN ({lb['test_samples']} test images; first/last layer kept int8): float "
          f"{100 * lb['float_accuracy']:.2f} %, int8 {100 * lb['int8_accuracy']:.2f} %")
    for key in ("ternary_raw", "ternary_tuned", "binary_raw", "binary_tuned"):
        r = lb[key]
        print(f"  {key:<14} float {100 * r['float_accuracy']:6.2f} %  int8 {100 * r['int8_accuracy']:6.2f} %  "
              f"(fine-tune {r['fine_tune_epochs']} epochs; clustered kernels {r['packed_bytes']:,} B packed vs "
              f"{r['int8_bytes']:,} B int8)")
    fm = res.get("fashion_mnist")
    if fm:
        print(f"\nFashion-MNIST CNN ({fm['test_samples']} test images): float {100 * fm['float_accuracy']:.2f} %, "
              f"int8 {100 * fm['int8_accuracy']:.2f} %, QAT int8 {100 * fm['qat_int8_accuracy']:.2f} %; fragile "
              f"variant: float {100 * fm['fragile_float_accuracy']:.2f} %, PTQ int8 "
              f"{100 * fm['fragile_int8_accuracy']:.2f} %, QAT int8 {100 * fm['fragile_qat_int8_accuracy']:.2f} %")


if __name__ == "__main__":
    main()
