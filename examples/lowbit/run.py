"""Sub-byte weights on real data: float, int8, int4, ternary, binary (+ fine-tuning) on the full test set.

For each dataset this runs `edgeq convert --target cortex-m4` (the library call behind it, edgeq.pipeline.run) once
per weight scheme and prints, from each conversion's report:
  - accuracy on the full test set: float (Keras), int8 (tflite-micro), packed (edgeq's generated C built for this
    machine with the packed kernels; the report also checks it equals tflite-micro on the int8 model byte for byte);
  - weight flash: the constant data (weights + biases) the generated C stores, packed vs the plain int8 build.
Default layers: every weight layer but the first and the last (those stay int8), as `edgeq convert --weights`.

Data (offline): digits from scikit-learn (the committed examples/digits model; 450 test images) and Fashion-MNIST
from the Debian package dataset-fashion-mnist (the committed examples/fashion-mnist model; 10,000 test images).

    python examples/lowbit/run.py                       # both datasets
    python examples/lowbit/run.py --dataset digits      # quick (a few minutes)
    python examples/lowbit/run.py --dataset fashion --train-samples 20000 --epochs 2

Writes results.json next to this file (every figure printed) unless --no-save.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGETS = {"int4": (0.55, 1.0), "ternary": (0.30, 2.0)}  # issue #9: flash <= x of int8, accuracy drop <= pp vs int8


def digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    # the split examples/digits/make_example.py trained on (its eval.npz is this test part)
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    return ROOT / "examples" / "digits" / "model.keras", "image", x_tr, y_tr.astype(np.int64), x_te, \
        y_te.astype(np.int64)


def fashion_data():
    sys.path.insert(0, str(ROOT / "examples" / "fashion-mnist"))
    from make_example import load_fashion_mnist

    x_tr, y_tr, x_te, y_te = load_fashion_mnist()
    return ROOT / "examples" / "fashion-mnist" / "model.keras", None, x_tr, y_tr, x_te, y_te


def input_name(model_path: Path) -> str:
    from edgeq import convert

    return convert.load_model(str(model_path)).inputs[0].name


def run_dataset(name: str, epochs: int, train_samples: int | None, schemes: list[str], work: Path) -> dict:
    from edgeq.pipeline import ConvertRequest, run

    model, key, x_tr, y_tr, x_te, y_te = digits_data() if name == "digits" else fashion_data()
    key = key or input_name(model)
    rng = np.random.default_rng(0)
    if train_samples and train_samples < len(x_tr):
        idx = np.sort(rng.permutation(len(x_tr))[:train_samples])
        x_tr, y_tr = x_tr[idx], y_tr[idx]
    cal_idx = np.sort(np.random.default_rng(1).permutation(len(x_tr))[:500])
    files = {"calib": work / f"{name}_calib.npz", "eval": work / f"{name}_eval.npz",
             "train": work / f"{name}_train.npz"}
    np.savez(files["calib"], **{key: x_tr[cal_idx]})
    np.savez(files["eval"], **{key: x_te, "y": y_te})
    np.savez(files["train"], **{key: x_tr, "y": y_tr})
    print(f"\n== {name}: {model.relative_to(ROOT)}, {len(x_te):,} test images, fine-tuning on {len(x_tr):,} "
          f"training images ({epochs} epoch(s), a fifth held out to choose post-training vs fine-tuned)", flush=True)

    rows = []
    base = None
    for spec in ["int8", *schemes]:
        scheme, ft = spec.removesuffix("+ft"), spec.endswith("+ft")
        t0 = time.time()
        req = ConvertRequest(model=str(model), target="cortex-m4", out_dir=str(work / f"{name}-{spec}"),
                             calib=str(files["calib"]), eval=str(files["eval"]), force=True, weights=scheme,
                             train=str(files["train"]) if ft else None, train_epochs=epochs)
        rep = run(req).report
        cg = rep["codegen"]
        ev = rep["evaluation"]
        row = {"scheme": spec, "seconds": round(time.time() - t0, 1), "float_accuracy": ev["float_accuracy"]}
        if scheme == "int8":
            row.update(accuracy=ev["quant_accuracy"], runtime=ev["runtime"], weight_bytes=cg["weight_bytes"],
                       packed_layers=[])
            base = row
        else:
            w = rep["weights"]
            acc = w["accuracy"]
            row.update(accuracy=acc["packed_accuracy"], runtime="edgeq-c (packed)", weight_bytes=cg["weight_bytes"],
                       equals_tflm=acc["packed_equals_int8"], tflm_accuracy=acc["clustered_int8_accuracy"],
                       packed_layers=[x["layer"] for x in w["layers"] if x["scheme"] != "int8"],
                       fine_tune=None if not w["fine_tune"] else {
                           "kept": w["fine_tune"]["kept"], "held_out_post_training": w["fine_tune"]["check"]["ptq"],
                           "held_out_fine_tuned": w["fine_tune"]["check"]["fine_tuned"]})
        row["flash_vs_int8"] = round(row["weight_bytes"] / base["weight_bytes"], 4)
        row["drop_vs_int8_pp"] = round(100 * (base["accuracy"] - row["accuracy"]), 2)
        goal = TARGETS.get(scheme)
        row["meets_issue_target"] = None if goal is None else bool(row["flash_vs_int8"] <= goal[0]
                                                                  and row["drop_vs_int8_pp"] <= goal[1])
        rows.append(row)
        extra = ""
        if row.get("fine_tune"):
            f = row["fine_tune"]
            extra = (f"  held-out: post-training {100 * f['held_out_post_training']:.2f} %, fine-tuned "
                     f"{100 * f['held_out_fine_tuned']:.2f} % -> kept {f['kept']}")
        print(f"{spec:<12} accuracy {100 * row['accuracy']:6.2f} % ({row['runtime']})  drop vs int8 "
              f"{row['drop_vs_int8_pp']:+6.2f} pp  weight flash {row['weight_bytes']:>9,} B "
              f"({row['flash_vs_int8']:.3f}x int8)  [{row['seconds']:.0f} s]" + extra, flush=True)
        if scheme != "int8" and row["equals_tflm"] is not True:
            print(f"   WARNING: packed C vs tflite-micro equal: {row['equals_tflm']}")
    print(f"float accuracy {100 * base['float_accuracy']:.2f} %; packed layers: "
          f"{', '.join(rows[-1]['packed_layers'])}")
    return {"model": str(model.relative_to(ROOT)), "test_images": len(x_te), "train_images": len(x_tr),
            "epochs": epochs, "rows": rows}


def bench_dataset(name: str, schemes: list[str], work: Path) -> list[dict]:
    """Flash (linker map) and estimated Cortex-M4 cycles per scheme: `edgeq convert` (post-training, no eval) then
    `edgeq bench` in QEMU with the cortex-m4 timing model. Fine-tuning changes the values, not the layout, so the
    post-training build stands for both."""
    import subprocess

    from edgeq.pipeline import ConvertRequest, run

    model, key, x_tr, *_ = digits_data() if name == "digits" else fashion_data()
    key = key or input_name(model)
    calib = work / f"{name}_bench_calib.npz"
    np.savez(calib, **{key: x_tr[np.sort(np.random.default_rng(1).permutation(len(x_tr))[:500])]})
    rows = []
    for scheme in dict.fromkeys(s.removesuffix("+ft") for s in ["int8", *schemes]):
        out = work / f"{name}-bench-{scheme}"
        run(ConvertRequest(model=str(model), target="cortex-m4", out_dir=str(out), calib=str(calib), force=True,
                           weights=scheme))
        r = subprocess.run([sys.executable, "-m", "edgeq", "bench", str(out), "-t", "cortex-m4", "--no-per-op",
                            "--json"], capture_output=True, text=True)
        if r.returncode:
            print(f"{scheme:<12} bench failed: {r.stderr.strip()[-500:]}", flush=True)
            continue
        b = json.loads((out / "bench.json").read_text())
        fig = {f["name"]: f["value"] for f in b["figures"]}
        row = {"scheme": scheme, "flash_bytes": int(fig["flash_bytes"]),
               "model_weights_bytes": int(fig["model_weights_bytes"]), "cycles": int(fig["cycles"]),
               "output_matches_reference": b.get("output_matches_reference")}
        rows.append(row)
        print(f"{scheme:<12} flash {row['flash_bytes']:>9,} B (model constants {row['model_weights_bytes']:,} B, "
              f"linker map)  est. M4 cycles {row['cycles']:>12,}  output vs reference: "
              f"{'identical' if row['output_matches_reference'] else row['output_matches_reference']}", flush=True)
    return rows


def results_markdown(res: dict) -> str:
    """The README table, from results.json."""
    lines = []
    for name in ("digits", "fashion"):
        if name not in res:
            continue
        d = res[name]
        if "rows" not in d:
            continue
        base = d["rows"][0]
        lines += [f"**{name}** (`{d['model']}`, {d['test_images']:,} test images; float accuracy "
                  f"{100 * base['float_accuracy']:.2f} %; fine-tuning: {d['epochs']} epoch(s) on "
                  f"{d['train_images']:,} training images, a fifth held out; packed layers: "
                  f"{', '.join(d['rows'][-1]['packed_layers'])})", "",
                  "| weights | accuracy | runs on | vs int8 | weight flash (B) | vs int8 | issue target | "
                  "fine-tuning (held-out int8 accuracy: post-training -> fine-tuned, kept) |",
                  "| --- | ---: | --- | ---: | ---: | ---: | :---: | --- |"]
        for r in d["rows"]:
            ft = r.get("fine_tune")
            ftxt = (f"{100 * ft['held_out_post_training']:.2f} % -> {100 * ft['held_out_fine_tuned']:.2f} %, "
                    f"{ft['kept']}") if ft else ""
            goal = {None: "", True: "met", False: "missed"}[r["meets_issue_target"]]
            run_on = r["runtime"] + ("" if r.get("equals_tflm") in (None, True) else " (DIFFERS from tflm!)")
            gain = (-r["drop_vs_int8_pp"]) or 0.0
            lines.append(f"| {r['scheme']} | {100 * r['accuracy']:.2f} % | {run_on} | {gain:+.2f} pp | "
                         f"{r['weight_bytes']:,} | {r['flash_vs_int8']:.3f}x | {goal} | {ftxt} |")
        lines.append("")
        if d.get("bench"):
            b0 = d["bench"][0]
            lines += ["`edgeq bench` on QEMU (cortex-m4 timing model; post-training builds):", "",
                      "| weights | flash (B, linker map) | model constants (B) | vs int8 | est. M4 cycles | vs int8 | "
                      "output vs reference |", "| --- | ---: | ---: | ---: | ---: | ---: | :---: |"]
            for b in d["bench"]:
                lines.append(f"| {b['scheme']} | {b['flash_bytes']:,} | {b['model_weights_bytes']:,} | "
                             f"{b['model_weights_bytes'] / b0['model_weights_bytes']:.3f}x | {b['cycles']:,} | "
                             f"{b['cycles'] / b0['cycles']:.2f}x | "
                             f"{'identical' if b['output_matches_reference'] else b['output_matches_reference']} |")
            lines.append("")
    return "\n".join(lines)


def update_readme(res: dict) -> None:
    p = HERE / "README.md"
    text = p.read_text()
    start, end = "<!-- RESULTS -->", "<!-- /RESULTS -->"
    if start in text and end in text:
        a, b = text.index(start) + len(start), text.index(end)
        p.write_text(text[:a] + "\n" + results_markdown(res) + text[b:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=["digits", "fashion", "both"], default="both")
    ap.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs [digits 5, fashion 2]")
    ap.add_argument("--train-samples", type=int, default=20000,
                    help="fine-tune on at most N training images (seeded subset) [20000]")
    ap.add_argument("--schemes", default="int4,int4+ft,ternary,ternary+ft,binary+ft",
                    help="comma-separated; +ft = with fine-tuning under the constraint")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--bench", action="store_true", help="also flash (linker map) and estimated M4 cycles per scheme "
                    "with `edgeq bench` (QEMU)")
    ap.add_argument("--bench-only", action="store_true", help="only the --bench part (keeps the accuracy figures)")
    a = ap.parse_args(argv)
    schemes = [s.strip() for s in a.schemes.split(",") if s.strip()]
    out = {}
    with tempfile.TemporaryDirectory(prefix="edgeq-lowbit-") as tmp:
        for name in (["digits", "fashion"] if a.dataset == "both" else [a.dataset]):
            epochs = a.epochs or (5 if name == "digits" else 2)
            if not a.bench_only:
                out[name] = run_dataset(name, epochs, a.train_samples, schemes, Path(tmp))
            if a.bench or a.bench_only:
                print(f"\n== {name}: edgeq bench per scheme", flush=True)
                out.setdefault(name, {})["bench"] = bench_dataset(name, schemes, Path(tmp))
    if not a.no_save:
        p = HERE / "results.json"
        old = json.loads(p.read_text()) if p.exists() else {}
        for name, d in out.items():
            old.setdefault(name, {}).update(d)
        p.write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
        update_readme(old)
        print(f"\nwrote {p.relative_to(ROOT)} and the table in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
