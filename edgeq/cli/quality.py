"""Quality commands (registered by edgeq.cli): `edgeq eval`, `edgeq qat`, `edgeq search`, `edgeq lowbit`.

Thin click commands: each calls one library function (evaluate / layerwise / qat / search / lowbit) and prints.
No TensorFlow import at module level.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from edgeq.errors import CheckFailed, UsageError
from edgeq.quality.qat import LOSSES as QAT_LOSSES  # numpy only: no TensorFlow at import time


def _con():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _eval_dict(r) -> dict:
    d = asdict(r)
    d["accuracy_drop_pp"] = r.accuracy_drop_pp
    return d


@click.command("eval")
@click.argument("model", type=click.Path())
@click.argument("tflite", type=click.Path(exists=True, dir_okay=False))
@click.option("--eval", "eval_", required=True, help="Evaluation data (.npz/.npy/.csv/image folder/module:function).")
@click.option("-t", "--target", default=None, help="Run on the kernels this target ships (tflm for Cortex-M).")
@click.option("--runtime", type=click.Choice(["litert", "litert-ref", "tflm", "edgeq-c"]), default=None,
              help="Runtime for the quantized model [default: from --target, else litert]; edgeq-c compiles "
                   "edgeq's generated C for this host.")
@click.option("--metric", type=click.Choice(["auto", "accuracy", "mse"]), default="auto", show_default=True,
              help="accuracy needs labels; mse compares outputs (and targets) for regression/autoencoders.")
@click.option("--layerwise", is_flag=True,
              help="Also per op: SQNR and its share of the output error (largest share first).")
@click.option("--eval-samples", type=click.IntRange(min=1), default=None, help="Use at most N samples.")
@click.option("--image-scale", type=click.Choice(["unit", "symmetric", "raw"]), default=None,
              help="Pixels 0..255 scaled to 0..1 (unit), -1..1 (symmetric) or left as they are (raw) [default: unit "
                   "for image folders; arrays as given, scaled only when this is set].")
@click.option("--allow-raw-range", is_flag=True,
              help="Accept 0..255 data for a model without a Rescaling layer (else an error).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def eval_cmd(model, tflite, eval_, target, runtime, metric, layerwise, eval_samples, image_scale, allow_raw_range,
             as_json):
    """Compare float MODEL with quantized TFLITE on evaluation data (accuracy, SQNR, error histogram)."""
    from edgeq import convert, data
    from edgeq.quality import evaluate

    if runtime is None:
        runtime = "litert"
        if target:
            from edgeq.target import load_target

            runtime = evaluate.runtime_for(load_target(target))
    con = _con()
    with con.status("loading...") as st:
        m = convert.load_model(model)
        if m.kind == "tflite":
            raise UsageError(f"{model}: MODEL must be the float source (.keras/.h5/SavedModel), not a .tflite",
                             hint="edgeq eval model.keras model.tflite --eval data.npz")
        # the same data checks as `edgeq convert --eval`: 0..255 data for a model without Rescaling is refused
        ds = data.load_dataset(eval_, m.inputs, role="eval", samples=eval_samples, image_scale=image_scale or "unit",
                               array_scale=image_scale, allow_raw_range=allow_raw_range,
                               expects_raw_pixels=data.expects_raw_pixels(m))
        tfl = Path(tflite).read_bytes()
        wbits = _packed_weight_bits(tflite, tfl) if runtime == "edgeq-c" else None
        st.update(f"evaluating {len(ds)} samples on {runtime}...")
        r = evaluate.evaluate(m, tfl, ds, runtime=runtime, metric=metric, weight_bits=wbits)
        lw = None
        if layerwise:
            from edgeq.quality import layerwise as lw_mod

            st.update("per-layer error...")
            lw = lw_mod.layer_errors(m, tfl, ds.inputs)
    for w in ds.warnings:
        con.print(f"[yellow]warning[/yellow] {w}", soft_wrap=True)
    if as_json:
        out = _eval_dict(r)
        out["weight_bits"] = {str(k): v for k, v in wbits.items()} if wbits else None
        out["warnings"] = list(ds.warnings)
        out["scaling"] = ds.scaling
        if lw is not None:
            out["layerwise"] = [asdict(e) for e in lw]
        _echo_json(out)
        return
    click.echo(f"{r.samples} samples, quantized model on {r.runtime} ({r.task})")
    if wbits:
        click.echo("  packed weights (from report.json beside the .tflite): "
                   + ", ".join(f"op #{k} {v}-bit" for k, v in sorted(wbits.items())))
    if r.float_accuracy is not None:
        click.echo(f"  accuracy   float {100 * r.float_accuracy:.2f} %  quantized {100 * r.quant_accuracy:.2f} %  "
                   f"drop {r.accuracy_drop_pp:+.2f} pp")
    if r.float_top_k_accuracy is not None:
        click.echo(f"  top-{r.top_k}      float {100 * r.float_top_k_accuracy:.2f} %  quantized "
                   f"{100 * r.quant_top_k_accuracy:.2f} %")
    if r.float_target_mse is not None:
        click.echo(f"  MSE vs targets  float {r.float_target_mse:.6g}  quantized {r.quant_target_mse:.6g}")
        click.echo(f"  MAE vs targets  float {r.float_target_mae:.6g}  quantized {r.quant_target_mae:.6g}")
    if r.top1_agreement is not None:
        click.echo(f"  top-1 agreement {100 * r.top1_agreement:.2f} %")
    for o in r.outputs:
        click.echo(f"  output {o.name}: SQNR {o.sqnr_db:.2f} dB, MSE {o.mse:.4g}, MAE {o.mean_abs_error:.4g}, "
                   f"max abs error {o.max_abs_error:.4g}")
    if lw:
        from edgeq.quality.layerwise import LAYERWISE_LEGEND

        click.echo("per-layer error, largest share of the output error first:")
        for e in lw:
            share = "    -" if e.error_share is None else f"{100 * e.error_share:5.1f}"
            click.echo(f"  #{e.op_index:<3} {e.opcode:<20} {e.dtype:<7} SQNR {e.sqnr_db:7.2f} dB  share {share} %  "
                       f"max|err| {e.max_abs_error:.4g}  {e.layer or ''}")
        click.echo(LAYERWISE_LEGEND)


def _packed_weight_bits(tflite: str, tfl: bytes) -> dict[int, int] | None:
    """The ops `edgeq convert --weights` stored packed, from the report.json beside TFLITE (when it belongs to this
    .tflite): edgeq-c then runs the same packed kernels the build ships."""
    rp = Path(tflite).parent / "report.json"
    if not rp.is_file():
        return None
    try:
        rep = json.loads(rp.read_text())
    except (OSError, ValueError):
        return None
    import hashlib

    w = rep.get("weights") if isinstance(rep, dict) else None
    if not w or (rep.get("tflite") or {}).get("sha256") != hashlib.sha256(tfl).hexdigest():
        return None
    return {int(k): int(v) for k, v in (w.get("weight_bits") or {}).items()} or None


@click.command("qat")
@click.argument("model", type=click.Path())
@click.option("--train", required=True, help="Training data; labels give a supervised loss, none: distillation.")
@click.option("--epochs", type=int, default=3, show_default=True)
@click.option("-o", "--out", "out", required=True, type=click.Path(), help="Output .keras file.")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--learning-rate", type=float, default=1e-4, show_default=True)
@click.option("--loss", type=click.Choice(("auto",) + QAT_LOSSES), default="auto", show_default=True,
              help="auto: the loss the model was compiled with, else from the output layer (softmax/sigmoid: "
                   "probabilities, none: logits) and the labels; *_from_logits for heads without softmax/sigmoid.")
@click.option("--eval", "eval_", default=None,
              help="Held-out data to prove the fine-tune helped [default: a split of --train].")
@click.option("--validation-split", type=float, default=0.2, show_default=True,
              help="Fraction of --train held out when --eval is not given (at most 2,000 samples).")
@click.option("--calib", default=None, help="Calibration data for the int8 check [default: 500 training samples].")
@click.option("-t", "--target", default=None,
              help="Measure int8 on the kernels this target ships (tflite-micro for Cortex-M) [default: LiteRT].")
@click.option("--allow-worse", is_flag=True, help="Write the fine-tuned model even if its int8 model is worse.")
@click.option("--image-scale", type=click.Choice(["unit", "symmetric", "raw"]), default="unit", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("--json", "as_json", is_flag=True)
def qat_cmd(model, train, epochs, out, batch_size, learning_rate, loss, eval_, validation_split, calib, target,
            allow_worse, image_scale, force, as_json):
    """Quantization-aware fine-tuning: writes a float .keras that converts to int8 with less loss.

    The int8 model of MODEL (PTQ) and of the fine-tuned one are measured on held-out data; exit 3 with both
    figures (nothing written) when fine-tuning made it worse, unless --allow-worse.
    """
    from edgeq import convert, data
    from edgeq.outdir import prepare_out_file, save_with
    from edgeq.quality import evaluate, qat

    outp = Path(out)
    if outp.suffix != ".keras":
        raise UsageError(f"{out}: the QAT output is a Keras 3 model and must end in .keras", hint="-o model_qat.keras")
    prepare_out_file(outp, force, ".keras", inputs=(model, train, eval_, calib))
    if not 0 < validation_split < 1:
        raise UsageError(f"--validation-split {validation_split:g} must be between 0 and 1", hint="e.g. 0.2")
    runtime, io_dtype, per_channel = "litert", "int8", True
    if target:
        from edgeq.target import load_target

        t = load_target(target)
        runtime = evaluate.runtime_for(t)
        io_dtype = t.quantization.io_dtype
        per_channel = t.quantization.per_channel != "forbidden"
    con = _con()
    with con.status("loading...") as st:
        m = convert.load_model(model)
        ds = data.load_dataset(train, m.inputs, role="train", image_scale=image_scale)
        ev = data.load_dataset(eval_, m.inputs, role="eval", image_scale=image_scale) if eval_ else None
        cal = data.load_dataset(calib, m.inputs, role="calib", image_scale=image_scale).inputs if calib else None
        choice = qat.resolve_loss(m, ds.labels, loss)
        con.print(f"loss: {choice.name} ({choice.note or choice.source})", soft_wrap=True)
        st.update(f"QAT on {len(ds)} samples...")

        def epoch_done(e):
            val = f", held-out {e.val_loss:.4g}" if e.val_loss is not None else ""
            con.print(f"epoch {e.epoch}/{e.epochs}: loss {e.loss:.4g}{val}")
            st.update(f"QAT epoch {e.epoch + 1}/{e.epochs}..." if e.epoch < e.epochs else
                      f"measuring int8 (PTQ and fine-tuned) on {runtime}...")

        r = qat.fine_tune(m, ds, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, loss=loss,
                          progress=epoch_done, validation=ev, validation_fraction=validation_split, calib=cal,
                          runtime=runtime, io_dtype=io_dtype, per_channel=per_channel)
    c = r.check
    if c.worse and not allow_worse:
        raise CheckFailed(f"{model}: fine-tuning made the int8 model worse: {c.describe()}; nothing written",
                          hint="try fewer --epochs or a lower --learning-rate (e.g. 1e-5), check --loss, or pass "
                               "--allow-worse to write it anyway")
    save_with(outp, r.fine_tuned.save)
    info = {"out": str(outp), "epochs": r.epochs, "loss": r.loss, "loss_source": r.loss_source,
            "history": list(r.history), "held_out_history": list(r.val_history), "best_epoch": r.best_epoch or r.epochs,
            "samples": r.samples, "quantized_layers": list(r.quantized_layers),
            "int8_check": {**asdict(c), "worse": c.worse}}
    if as_json:
        _echo_json(info)
        return
    click.echo(f"QAT: {r.epochs} epoch(s) on {r.samples} samples, loss {r.loss}: "
               + " -> ".join(f"{v:.4g}" for v in r.history)
               + (f" (kept epoch {r.best_epoch}: lowest held-out loss)" if r.best_epoch else ""))
    click.echo(c.describe())
    if c.worse:
        click.echo("warning: fine-tuning made the int8 model worse; written anyway (--allow-worse)")
    click.echo(f"wrote {outp}; convert it as usual: edgeq convert {outp} --target ... --calib ...")


@click.command("search")
@click.argument("model", type=click.Path())
@click.option("-t", "--target", required=True)
@click.option("--calib", required=True, help="Calibration data.")
@click.option("--eval", "eval_", required=True, help="Evaluation data (labels for --max-accuracy-drop).")
@click.option("--max-accuracy-drop", type=float, default=None, help="Budget: accuracy drop in percentage points.")
@click.option("--min-sqnr", type=float, default=None, help="Budget: output SQNR vs float in dB.")
@click.option("--train", default=None, help="Training data: enables the QAT candidate.")
@click.option("--qat-epochs", type=int, default=2, show_default=True)
@click.option("--exhaustive", is_flag=True, help="Evaluate every permitted candidate, not only up to the first fit.")
@click.option("--minimize", type=click.Choice(["cost", "flash"]), default="cost", show_default=True,
              help="cost: the cheapest quantization configuration; flash: the smallest weights in edgeq's generated "
                   "C, choosing int8/int4/ternary/binary per layer (Cortex-M targets; needs --max-accuracy-drop).")
@click.option("--layers", "search_layers", default=None, metavar="NAME,...",
              help="--minimize flash: the Keras layers that may be packed [default: every Dense/Conv layer].")
@click.option("-o", "--out", "out", default=None, type=click.Path(),
              help="Write the chosen model here (.tflite) and the candidate table next to it (.search.json); if no "
                   "configuration meets the budget, the best found (exit 3).")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Evaluate up to N candidates at once on a local Ray runtime (pip install 'edgeq[cluster]'); "
                   "same result as N = 1.")
@click.option("--ray-address", default=None, metavar="HOST:PORT",
              help="Evaluate the candidates on this existing Ray cluster.")
def search_cmd(model, target, calib, eval_, max_accuracy_drop, min_sqnr, train, qat_epochs, exhaustive, minimize,
               search_layers, out, force, as_json, parallel, ray_address):
    """Cheapest quantization configuration TARGET permits that meets the budget (exit 3 if none does).

    With --minimize flash: the smallest model (per-layer weight bit widths in the generated C) within
    --max-accuracy-drop.
    """
    from contextlib import nullcontext

    from edgeq import convert, data
    from edgeq.pipeline import prepare_out_file
    from edgeq.quality import search
    from edgeq.target import load_target

    t = load_target(target)
    if minimize == "flash":
        return _search_flash(model, t, calib, eval_, max_accuracy_drop, min_sqnr, train, search_layers, out, force,
                             as_json)
    if search_layers is not None:
        raise UsageError("--layers chooses the layers of --minimize flash", hint="add --minimize flash")
    if out:
        prepare_out_file(Path(out), force, ".tflite", inputs=(model, calib, eval_, train))
        prepare_out_file(_search_table_path(out), force, inputs=(model, calib, eval_, train))
    con = _con()
    with con.status("loading...") as st:
        m = convert.load_model(model)
        c = data.load_dataset(calib, m.inputs, role="calib", samples=None)
        e = data.load_dataset(eval_, m.inputs, role="eval")
        tr = data.load_dataset(train, m.inputs, role="train") if train else None
        mapper, ray_ctx = None, nullcontext()
        if parallel > 1 or ray_address:  # candidates as Ray tasks (edgeq.cluster); the result is the serial one
            from edgeq import cluster

            st.update("starting Ray..." if not ray_address else f"joining the Ray cluster at {ray_address}...")
            mapper, ray_ctx = cluster.candidate_map(), cluster.runtime(parallel, ray_address)
        try:
            with ray_ctx:
                res = search.search(m, t, c, e, max_accuracy_drop_pp=max_accuracy_drop, min_sqnr_db=min_sqnr,
                                    train=tr, exhaustive=exhaustive, qat_epochs=qat_epochs,
                                    progress=lambda s: st.update(s + "..."), map_candidates=mapper)
        except CheckFailed as err:
            failed = getattr(err, "search_result", None)
            if failed is not None and not as_json:
                st.stop()
                _print_candidates(failed)
            if out and failed is not None and failed.tflite:
                table = _write_search(out, failed, t.name)
                err.message += (f"; wrote the best found to {out} (it does NOT meet the budget) and the candidates "
                                f"to {table}")
            raise
    if out:
        _write_search(out, res, t.name)
    if as_json:
        _echo_json({"chosen": res.best.name, "candidates": search.candidates_table(res), "skipped": list(res.skipped),
                    "sensitive_ops": list(res.sensitive_ops), "out": out})
        return
    _print_candidates(res)
    click.echo(f"chosen: {res.best.name}" + (f"; wrote {out} and {_search_table_path(out)}" if out else ""))


def _search_flash(model, t, calib, eval_, max_accuracy_drop, min_sqnr, train, layers, out, force, as_json):
    """`edgeq search --minimize flash` (edgeq.quality.lowbit.search_flash)."""
    from edgeq import convert, data
    from edgeq.outdir import prepare_out_file, write_file
    from edgeq.quality import lowbit

    if max_accuracy_drop is None:
        raise UsageError("--minimize flash needs an accuracy budget", hint="add --max-accuracy-drop PP")
    if min_sqnr is not None:
        raise UsageError("--minimize flash takes --max-accuracy-drop, not --min-sqnr", hint="drop --min-sqnr")
    if not (t.is_mcu and "c" in t.export_formats):
        raise UsageError(f"--minimize flash packs weights in edgeq's generated C, which target {t.name} does not "
                         "export", hint="use a Cortex-M target (e.g. --target cortex-m4)")
    if "int8" not in t.quantization.modes:
        raise UsageError(f"--minimize flash needs int8 on {t.name}", hint="use a target that allows int8")
    if out:
        prepare_out_file(Path(out), force, ".tflite", inputs=(model, calib, eval_, train))
        prepare_out_file(_search_table_path(out), force, inputs=(model, calib, eval_, train))
    con = _con()
    if train:
        con.print("[yellow]warning[/yellow] --train is not used by --minimize flash (post-training search); "
                  "fine-tune the chosen layers with `edgeq convert ... --train`", soft_wrap=True)
    with con.status("loading...") as st:
        m = convert.load_model(model)
        c = data.load_dataset(calib, m.inputs, role="calib", samples=None)
        e = data.load_dataset(eval_, m.inputs, role="eval")
        names = [n.strip() for n in layers.split(",") if n.strip()] if layers else None
        try:
            res = lowbit.search_flash(m, t, c, e, max_accuracy_drop_pp=max_accuracy_drop, layers=names,
                                      progress=lambda s: st.update(s + "..."))
        except CheckFailed as err:
            failed = getattr(err, "search_result", None)
            if failed is not None and not as_json:
                st.stop()
                _print_flash(failed)
            raise
    rows = [{"name": x.name, "schemes": x.schemes, "flash_bytes": x.flash_bytes, "accuracy": x.accuracy,
             "accuracy_drop_pp": x.accuracy_drop_pp, "met_budget": x.met_budget, "chosen": x.chosen}
            for x in res.candidates]
    info = {"minimize": "flash", "chosen": res.best.name, "schemes": res.best.schemes,
            "flash_bytes": res.best.flash_bytes, "float_accuracy": res.float_accuracy, "runtime": res.runtime,
            "weight_bits": {str(k): v for k, v in sorted(res.weight_bits.items())},
            "convert_args": res.convert_args(), "candidates": rows, "out": out,
            "budget": {"max_accuracy_drop_pp": max_accuracy_drop}}
    if out:
        write_file(out, res.tflite)
        write_file(_search_table_path(out), json.dumps({"target": t.name, **info}, indent=2, default=str) + "\n")
    if as_json:
        _echo_json(info)
        return
    _print_flash(res)
    base = next(x for x in res.candidates if x.name == "int8")
    click.echo(f"chosen: {res.best.name}: weights {res.best.flash_bytes:,} B in the generated C "
               f"({res.best.flash_bytes / base.flash_bytes:.2f}x int8), accuracy {100 * res.best.accuracy:.2f} % "
               f"(float {100 * res.float_accuracy:.2f} %, {res.runtime})")
    click.echo(f"build it: edgeq convert {model} --target {t.name} --calib {calib} {res.convert_args()}"
               + (f"; wrote {out} and {_search_table_path(out)}" if out else ""))


def _print_flash(res) -> None:
    for x in res.candidates:
        click.echo(f"{'*' if x.chosen else ' '} {x.name:<60} {x.flash_bytes:>9,} B  accuracy {100 * x.accuracy:6.2f} %"
                   f"  drop {x.accuracy_drop_pp:+6.2f} pp  {'meets' if x.met_budget else 'misses'}")


def _search_table_path(out: str) -> Path:
    return Path(out).with_suffix(".search.json")


def _write_search(out: str, res, target: str) -> Path:
    """The chosen (or, when nothing met the budget, the best found) .tflite and the candidate table beside it."""
    from edgeq.outdir import write_file
    from edgeq.quality import search

    rows = search.candidates_table(res)
    same_size = [c["name"] for c in rows if c.get("tflite_bytes") == len(res.tflite)]  # the best found has no flag
    best = res.best.name if res.best is not None else (same_size[0] if len(same_size) == 1 else None)
    table = _search_table_path(out)
    write_file(out, res.tflite)
    write_file(table, json.dumps({"target": target, "budget_met": res.best is not None, "written": best,
                                  "model": Path(out).name, "candidates": rows,
                                  "skipped": list(res.skipped), "sensitive_ops": list(res.sensitive_ops)},
                                 indent=2, default=str) + "\n")
    return table


def _print_candidates(res) -> None:
    from edgeq.quality import search

    for row in search.candidates_table(res):
        sq = f"{row['sqnr_db']:.1f} dB" if row["sqnr_db"] is not None else "-"
        dr = f"{row['accuracy_drop_pp']:+.2f} pp" if row["accuracy_drop_pp"] is not None else "-"
        lat = f"{row['estimated_latency_ms']:.3f} ms" if row["estimated_latency_ms"] is not None else "-"
        state = "meets" if row["met_budget"] else (row["error"] or "misses")
        click.echo(f"{'*' if row['chosen'] else ' '} {row['name']:<60} drop {dr:<10} SQNR {sq:<9} "
                   f"{row['tflite_bytes']:>9,} B  est. {lat:<10} {state}")
    for s in res.skipped:
        click.echo(f"  not tried: {s}")


@click.command("lowbit")
@click.argument("model", type=click.Path())
@click.option("--scheme", type=click.Choice(["int4", "ternary", "binary"]), default="ternary", show_default=True)
@click.option("-o", "--out", "out", default=None, type=click.Path(),
              help="Output folder [default: build/<model name>-<scheme>].")
@click.option("--eval", "eval_", default=None, help="Evaluation data: measure the accuracy effect.")
@click.option("--all-layers", is_flag=True, help="Also cluster the first and last weight layers.")
@click.option("--train", default=None, help="Training data: fine-tune with the clustered weights simulated (STE).")
@click.option("--epochs", type=int, default=5, show_default=True, help="Fine-tuning epochs (with --train).")
@click.option("--loss", type=click.Choice(("auto",) + QAT_LOSSES), default="auto", show_default=True,
              help="Fine-tuning loss; auto: the model's compiled loss, else from its output layer (see `edgeq qat`).")
@click.option("-t", "--target", default=None,
              help="Prove the fine-tune on the kernels TARGET ships (tflite-micro for Cortex-M) [default: LiteRT].")
@click.option("--force", is_flag=True, help="Write into OUT even if it holds files.")
@click.option("--json", "as_json", is_flag=True)
def lowbit_cmd(model, scheme, out, eval_, all_layers, train, epochs, loss, target, force, as_json):
    """int4/ternary/binary per-channel weight clustering: clustered .keras, packed weights .npz, accuracy effect.

    To ship the packed weights in the generated C, use `edgeq convert --weights SCHEME` instead.

    With --train, the fine-tuned kernels are kept only if their int8 model is not worse than the clustered model
    without fine-tuning, measured on --eval (else on a held-out fifth of --train).
    """
    import numpy as np

    from edgeq import convert, data
    from edgeq.outdir import commit_dir, new_tmp_dir, prepare_out_dir
    from edgeq.quality import evaluate, lowbit

    outp = Path(out) if out else Path("build") / f"{Path(model.rstrip('/')).stem}-{scheme}"  # as convert's default
    plan = prepare_out_dir(outp, force, inputs=(model, eval_, train))
    m = convert.load_model(model)
    tr = data.load_dataset(train, m.inputs, role="train") if train else None
    ds = data.load_dataset(eval_, m.inputs, role="eval") if eval_ else None
    runtime, io_dtype = "litert", "int8"
    if target:
        from edgeq.target import load_target

        t = load_target(target)
        runtime, io_dtype = evaluate.runtime_for(t), t.quantization.io_dtype
    con = _con()
    with con.status(f"clustering ({scheme})...") as st:
        def epoch_done(e):
            val = f", held-out {e.val_loss:.4g}" if e.val_loss is not None else ""
            con.print(f"fine-tuning epoch {e.epoch}/{e.epochs}: loss {e.loss:.4g}{val}")
            if e.epoch == e.epochs:
                st.update(f"measuring int8 (with and without fine-tuning) on {runtime}...")

        r = lowbit.cluster(m, scheme, keep_first_last=not all_layers, train=tr, epochs=epochs if tr else 0,
                           loss=loss, validation=ds, runtime=runtime, io_dtype=io_dtype, progress=epoch_done)
    tmp = new_tmp_dir(outp)
    try:
        r.model.save(tmp / f"model_{scheme}.keras")
        np.savez_compressed(tmp / f"weights_{scheme}.npz", **lowbit.pack(r))
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit_dir(tmp, plan, "lowbit")
    info = {"scheme": scheme, "packed_bytes": r.packed_bytes, "int8_bytes": r.int8_bytes,
            "layers": [asdict(x) for x in r.layers], "kept_full_precision": list(r.kept_full_precision)}
    if r.check is not None:
        info["fine_tune"] = {"loss": r.loss, "history": list(r.history), "kept": r.fine_tuned,
                             "int8_check": {**asdict(r.check), "worse": r.check.worse}}
    if ds is not None:
        from dataclasses import replace

        f0 = convert.predict_float(m, ds.inputs)
        f1 = convert.predict_float(replace(m, handle=r.model), ds.inputs)
        cmp = evaluate.compare(f0, f1, labels=ds.labels, names=[s.name for s in m.outputs], runtime="keras")
        info["evaluation"] = _eval_dict(cmp)
    if as_json:
        _echo_json(info)
        return
    click.echo(f"{scheme}: clustered {len(r.layers)} layer(s) (kept in full precision: "
               f"{', '.join(r.kept_full_precision) or 'none'}); packed {r.packed_bytes:,} B vs int8 {r.int8_bytes:,} B")
    ev = info.get("evaluation")
    if ev and ev["float_accuracy"] is not None:
        click.echo(f"accuracy: float {100 * ev['float_accuracy']:.2f} % -> {scheme} {100 * ev['quant_accuracy']:.2f} %")
    elif ev:
        click.echo(f"output SQNR vs float: {ev['outputs'][0]['sqnr_db']:.2f} dB")
    if r.check is not None:
        click.echo(f"fine-tuning ({r.loss}): {r.check.describe().replace('PTQ', 'without fine-tuning')}; kept "
                   + ("the fine-tuned kernels" if r.fine_tuned else "the kernels clustered without fine-tuning"))
    click.echo(f"wrote {outp}/model_{scheme}.keras (converts to int8 exactly) and weights_{scheme}.npz (packed)")
    sys.stdout.flush()


COMMANDS = [eval_cmd, qat_cmd, search_cmd, lowbit_cmd]
