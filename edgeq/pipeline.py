"""The pipeline: load -> data -> quantize -> check -> evaluate -> export -> report. Sequencing only.

Artifacts are written into a fresh temporary folder next to the destination and moved into place at the end by
edgeq.outdir, which never deletes or overwrites a file edgeq did not write (see its docstring).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq import check as check_mod
from edgeq import graph as graph_mod
from edgeq.errors import CheckFailed, DataError, EdgeqError, UsageError
from edgeq.outdir import commit_dir, new_tmp_dir, prepare_out_dir, prepare_out_file  # noqa: F401 (re-exported)
from edgeq.target import Target, load_target


@dataclass(frozen=True)
class ConvertRequest:
    model: str
    target: str
    out_dir: str
    calib: str | None = None
    eval: str | None = None
    mode: str | None = None
    io_dtype: str | None = None
    per_tensor: bool = False
    calib_samples: int | None = 500
    eval_samples: int | None = None
    seed: int = 0
    image_scale: str | None = None  # None: image folders 0..1, arrays as given; set: also scales 0..255 arrays
    allow_raw_range: bool = False  # 0..255 data for a model without Rescaling is accepted (else a DataError)
    force: bool = False
    codegen: bool = True
    rewrite: bool = True  # MCU targets: trace layers whose Keras 3 lowering TFLM lacks as equivalent ops
    keep_on_failure: bool = False
    layerwise: bool = False  # per-layer SQNR against the float model (needs --eval)
    max_accuracy_drop_pp: float | None = None  # budget search (needs --eval with labels)
    min_sqnr_db: float | None = None  # budget search (needs --eval)
    train: str | None = None  # training data: lets the budget search try QAT
    litert: int | None = None  # android targets: wrapper for LiteRT 1 (Interpreter) or 2 (CompiledModel)
    weights: str = "int8"  # int8 | int4 | ternary | binary: weights packed in the generated C (edgeq.quality.lowbit)
    weights_layers: tuple[str, ...] | None = None  # Keras layers for `weights` (None: all weight layers but 1st/last)
    train_epochs: int = 5  # fine-tuning epochs under the weight constraint (with --train)


@dataclass(frozen=True)
class ConvertResult:
    out_dir: str
    files: tuple[str, ...]
    report: dict = field(repr=False)
    check: check_mod.CheckResult | None = None
    warnings: tuple[str, ...] = ()


Progress = Callable[[str], None]


def run(req: ConvertRequest, progress: Progress = lambda s: None) -> ConvertResult:
    from edgeq import convert, data, export, report
    from edgeq.quality import evaluate

    target: Target = load_target(req.target)
    out = Path(req.out_dir)
    plan = prepare_out_dir(out, req.force, inputs=(req.model, req.calib, req.eval, req.train))
    mode = req.mode or target.quantization.default_mode
    if mode not in target.quantization.modes:
        raise UsageError(f"mode {mode!r} is not allowed on {target.name} (allowed: "
                         f"{', '.join(target.quantization.modes)})",
                         hint=f"use --mode {target.quantization.default_mode}")
    io_dtype = req.io_dtype or target.quantization.io_dtype
    warnings: list[str] = []
    lowbit = req.weights != "int8"
    if lowbit:
        _check_weights_request(req, target, mode)

    progress("loading model")
    model = convert.load_model(req.model)
    warnings += model.notes
    if model.kind == "tflite" and mode != "float32":
        raise UsageError(f"{req.model} is already a .tflite; edgeq convert needs the Keras/SavedModel source",
                         hint=f"run `edgeq check {req.model} --target {target.name}` or `edgeq codegen` on it")
    weight_layers: dict[str, str] = {}
    clustered, per_channel, rewrite = None, True, False
    if lowbit:
        from edgeq.quality import lowbit as lowbit_mod

        weight_layers = lowbit_mod.resolve_layers(model, req.weights_layers, req.weights)
    scaling = {"image_scale": req.image_scale or "unit", "array_scale": req.image_scale,
               "allow_raw_range": req.allow_raw_range, "expects_raw_pixels": data.expects_raw_pixels(model)}
    budget = req.max_accuracy_drop_pp is not None or req.min_sqnr_db is not None
    if budget and not req.eval:
        raise UsageError("--max-accuracy-drop / --min-sqnr need evaluation data", hint="add --eval DATA")
    if budget and req.mode:
        raise UsageError("--mode and a budget (--max-accuracy-drop/--min-sqnr) exclude each other",
                         hint="the budget search chooses the mode; drop --mode")
    calib = ev = train = None
    if req.calib and (mode in ("int8", "int16x8") or budget):
        progress("reading calibration data")
        # the budget search decides itself how many calibration samples to use, so it gets them all
        calib = data.load_dataset(req.calib, model.inputs, role="calib", samples=None if budget else req.calib_samples,
                                  seed=req.seed, **scaling)
        warnings += calib.warnings
    elif req.calib:
        warnings.append(f"--calib ignored: mode {mode} needs no representative data")
    if req.eval:
        progress("reading evaluation data")
        ev = data.load_dataset(req.eval, model.inputs, role="eval", samples=req.eval_samples, seed=req.seed,
                               **scaling)
        warnings += ev.warnings
    if req.train:
        if not budget and not lowbit:
            warnings.append("--train is only used by the budget search (--max-accuracy-drop/--min-sqnr) and by "
                            "fine-tuning under --weights int4/ternary/binary")
        elif lowbit:
            try:
                train = data.load_dataset(req.train, model.inputs, role="train", seed=req.seed, **scaling)
            except DataError as e:  # bad input to this command: a usage error (exit 2)
                raise UsageError(f"--train (fine-tuning under --weights {req.weights}): {e.message}",
                                 hint=e.hint) from None
            _check_train_labels(req.train, model, train)
        else:
            train = data.load_dataset(req.train, model.inputs, role="train", seed=req.seed,
                                      **scaling)

    searched = None
    if budget:
        from edgeq.quality import search

        if calib is None:
            raise UsageError("the budget search needs calibration data", hint="add --calib DATA")
        progress("searching configurations within the budget")
        searched = search.search(model, target, calib, ev, max_accuracy_drop_pp=req.max_accuracy_drop_pp,
                                 min_sqnr_db=req.min_sqnr_db, train=train, progress=progress)
        tfl = searched.tflite
        mode = searched.best.config.mode
        if searched.best.config.float_ops:
            io_dtype = "float32"
            warnings.append(f"budget search kept {len(searched.best.config.float_ops)} op(s) in float: "
                            + ", ".join(searched.best.config.float_ops))
    else:
        progress(f"quantizing ({mode})")
        rewrite = target.is_mcu and req.rewrite
        if rewrite:
            warnings += [r.describe() for r in convert.mcu_rewrites(model)]
        per_channel = not req.per_tensor and target.quantization.per_channel != "forbidden"
        src = model
        if lowbit:
            clustered = _cluster(req, target, model, weight_layers, calib, train, io_dtype, progress)
            src = clustered.loaded
        tfl = convert.quantize(src, mode, calib.inputs if calib else None, io_dtype=io_dtype,
                               per_channel=per_channel, rewrite=rewrite)
    g = graph_mod.parse(tfl, "model.tflite")
    weight_bits: dict[int, int] = {}
    packed_ops = ()
    if lowbit:
        weight_bits, packed_ops = lowbit_mod.op_weight_bits(g, convert.keras_layer_names(model),
                                                            weight_layers)

    arena = None
    if target.is_mcu:
        progress("measuring the TFLM arena")
        arena = export.measure_tflm_arena(tfl, len(g.inputs))
        if arena.error:
            warnings.append(f"TFLM arena not measured: {arena.error}")
    progress("checking against the target profile")
    arena_need = max(arena.total_bytes, arena.required_bytes or 0) if arena and arena.total_bytes else None
    chk = check_mod.check(g, target, mode=mode, arena_bytes=arena_need, generated_c=None if req.codegen else False,
                          layer_names=convert.keras_layer_names(model), weight_bits=weight_bits or None)

    evres = weights_eval = None
    if lowbit and ev is None:
        warnings.append(f"--weights {req.weights} without --eval: the accuracy cost is not measured (add --eval DATA)")
    if ev is not None:
        progress(f"evaluating on {len(ev)} samples")
        f_out = evaluate.reference_outputs(model, ev.inputs)
        rt = "tflm" if target.is_mcu else "litert"
        names = convert.signature_names(model)
        try:
            q_out = evaluate.run_tflite(tfl, ev.inputs, runtime=rt, input_names=names[0], output_names=names[1])
        except EdgeqError:
            raise
        except Exception as e:  # noqa: BLE001 - runtime refused the model (e.g. TFLM lacks a kernel)
            warnings.append(f"evaluation on {rt} failed ({e}); used LiteRT instead")
            rt = "litert"
            q_out = evaluate.run_tflite(tfl, ev.inputs, runtime=rt, input_names=names[0], output_names=names[1])
        evres = evaluate.compare(f_out, q_out, labels=ev.labels, names=[s.name for s in model.outputs], runtime=rt)
        if lowbit:
            weights_eval = _weights_eval(model, tfl, ev, f_out, q_out, evres, rt, weight_bits, calib, io_dtype,
                                         per_channel, rewrite, warnings, progress)
    layers = None
    if req.layerwise:
        if ev is None:
            raise UsageError("--layerwise needs evaluation data", hint="add --eval DATA")
        from edgeq.quality import layerwise

        progress("measuring per-layer error")
        layers = layerwise.layer_errors(model, tfl, ev.inputs)

    if not chk.passed and not req.keep_on_failure:
        raise CheckFailed(f"{req.model}: {len(chk.errors)} check failure(s) on {target.name}; nothing written",
                          chk.findings, hint="fix the findings above, or pass --keep-on-failure to write the "
                                             "artifacts and report anyway")

    progress("writing artifacts")
    tmp = new_tmp_dir(out)
    try:
        (tmp / "model.tflite").write_bytes(tfl)
        codegen_res = None
        tflm_res = None
        if target.is_mcu and "tflm" in target.export_formats:
            tflm_res = export.export_tflm(g, tmp, name=Path(req.model).stem, arena=arena,
                                          margin_bytes=target.memory.arena_margin_bytes)
        if target.is_mcu and "c" in target.export_formats and req.codegen:
            codegen_res, cg_warn = _codegen(g, tmp, target.memory.flash_bytes, weight_bits)
            warnings += cg_warn
        if "android" in target.export_formats:
            warnings += _android(tmp / "model.tflite", target, tmp, Path(req.model).stem, req.litert)
        rep = report.build(req=req, target=target, model=model, mode=mode, io_dtype=io_dtype, graph=g,
                           check=chk, calib=calib, eval_data=ev, evaluation=evres, arena=arena, tflm=tflm_res,
                           codegen=codegen_res, warnings=warnings, layers=layers, searched=searched,
                           weights=_weights_section(req, clustered, packed_ops, weight_bits, codegen_res,
                                                    weights_eval) if lowbit else None)
        report.write(rep, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = commit_dir(tmp, plan, "convert")
    return ConvertResult(str(out), files, rep, chk, tuple(warnings))


def _codegen(g, out: Path, flash_budget_bytes: int | None = None, weight_bits: dict[int, int] | None = None):
    """Generated C (no interpreter). An op the generator lacks is reported, the TFLM export still stands. The
    profile's flash budget keeps CONV_2D weights int8 on DSP builds where the int16 copies would not fit.
    weight_bits (--weights): op index -> 4/2/1, those ops' weights are stored packed; then the generated C is
    what was asked for and a failure is an error, not a warning."""
    try:
        from edgeq import codegen
    except ImportError:
        return None, ["generated C not available in this build (edgeq.codegen missing)"]
    from edgeq.errors import CodegenError

    if weight_bits:
        return codegen.generate(g, out, flash_budget_bytes=flash_budget_bytes, weight_bits=weight_bits), []
    try:
        res = codegen.generate(g, out, flash_budget_bytes=flash_budget_bytes)
        kept = ", ".join(f"#{i}" for i in res.conv_int8_weight_ops)
        warn = [f"flash budget {flash_budget_bytes:,} B: CONV_2D op(s) {kept} keep int8 weights on DSP cores "
                "(the int8 kernel: slower, half the weight flash)"] if kept else []
        return res, warn
    except CodegenError as e:
        return None, [f"edgeq_model.c not generated: {e.message} (the TFLM export model_data.c still works)"]


def _check_weights_request(req: ConvertRequest, target: Target, mode: str) -> None:
    """--weights int4/ternary/binary needs edgeq's generated C (the only runtime with packed kernels) and int8."""
    from edgeq.quality.lowbit import SCHEMES

    if req.weights not in SCHEMES:
        raise UsageError(f"--weights {req.weights!r} is not a weight scheme", hint="int8, " + ", ".join(SCHEMES))
    if not (target.is_mcu and "c" in target.export_formats):
        raise UsageError(f"--weights {req.weights}: packed weights run only in edgeq's generated C, which target "
                         f"{target.name} does not export (exports: {', '.join(target.export_formats)})",
                         hint="use a Cortex-M target with generated C (e.g. --target cortex-m4), or drop --weights")
    if not req.codegen:
        raise UsageError(f"--weights {req.weights} packs the weights in the generated C, which --no-codegen skips",
                         hint="drop --no-codegen or --weights")
    if mode != "int8":
        raise UsageError(f"--weights {req.weights} needs --mode int8 (the packed kernels index int8 weight "
                         f"tables), not {mode}", hint="use --mode int8, or drop --weights")
    if req.max_accuracy_drop_pp is not None or req.min_sqnr_db is not None:
        raise UsageError(f"--weights {req.weights} and a budget (--max-accuracy-drop/--min-sqnr) exclude each other",
                         hint="`edgeq search --max-accuracy-drop PP --minimize flash` chooses the bit widths")


def _check_train_labels(spec: str, model, train) -> None:
    """Fine-tuning labels must fit the model's (first) output: one per sample, class indices below the number of
    classes, one-hot rows as wide as the output."""
    lab = train.labels
    if lab is None:
        return  # no labels: distillation from the float model
    lab = np.asarray(lab)
    out = tuple(model.outputs[0].shape)
    classes = out[-1] if len(out) > 1 and out[-1] else None
    where = f"--train {spec}"
    fix = "give one label per sample matching the model's output (class indices or one-hot rows)"
    if len(lab) != len(train):
        raise UsageError(f"{where}: {len(lab)} labels for {len(train)} samples", hint=fix)
    if classes and classes > 1 and lab.ndim == 1 and np.issubdtype(lab.dtype, np.integer):
        if lab.min() < 0 or lab.max() >= classes:
            raise UsageError(f"{where}: class labels {int(lab.min())}..{int(lab.max())}, but the model's output "
                             f"{model.outputs[0].name!r} has {classes} classes (0..{classes - 1})", hint=fix)
    elif classes and lab.ndim >= 2 and lab.shape[-1] not in (classes, 1):
        raise UsageError(f"{where}: labels of shape {tuple(lab.shape[1:])} per sample, the model's output "
                         f"{model.outputs[0].name!r} is {out[1:]}", hint=fix)


@dataclass(frozen=True)
class _Clustered:
    loaded: object  # LoadedModel of the clustered (maybe fine-tuned) float model
    result: object  # lowbit.LowbitResult


def _cluster(req: ConvertRequest, target: Target, model, layers, calib, train, io_dtype, progress) -> _Clustered:
    """The float model with `layers` clustered to req.weights levels per channel; with --train, fine-tuned under
    that constraint and kept only if its int8 model is better on a held-out part of the training data, measured
    on the kernels the target ships (tflite-micro, which the generated C matches bit for bit)."""
    from edgeq.quality import evaluate, lowbit, qat

    epochs = req.train_epochs if train is not None else 0
    if train is not None and calib is None:
        raise UsageError("--train under --weights needs calibration data for the int8 check", hint="add --calib DATA")

    def epoch_done(e):
        progress(f"fine-tuning {req.weights} epoch {e.epoch}/{e.epochs} (loss {e.loss:.4g})")

    n = sum(v != "int8" for v in layers.values())
    progress(f"clustering {n} layer(s)" + (" and fine-tuning" if epochs else ""))
    r = lowbit.cluster(model, req.weights, layers=layers, train=train, epochs=epochs,
                       calib=calib.inputs if calib is not None else None, runtime=evaluate.runtime_for(target),
                       io_dtype=io_dtype, progress=epoch_done)
    return _Clustered(qat.as_loaded(model, r.model), r)


def _weights_eval(model, tfl, ev, f_out, q_out, evres, rt, weight_bits, calib, io_dtype, per_channel, rewrite,
                  warnings, progress) -> dict:
    """Accuracy cost of the packed weights on the eval set: float, the int8 model without clustering (what plain
    `edgeq convert` gives), and the packed model run on edgeq's generated C built for this host (whose outputs
    must equal the int8 model's on `rt` byte for byte)."""
    from edgeq import convert
    from edgeq.errors import EdgeqError
    from edgeq.quality import evaluate

    progress("measuring the int8 model without clustering")
    names = convert.signature_names(model)
    plain = convert.quantize(model, "int8", calib.inputs if calib else None, io_dtype=io_dtype,
                             per_channel=per_channel, rewrite=rewrite)
    p_out = evaluate.run_tflite(plain, ev.inputs, runtime=rt, input_names=names[0], output_names=names[1])
    outs = [s.name for s in model.outputs]
    int8 = evaluate.compare(f_out, p_out, labels=ev.labels, names=outs, runtime=rt)
    res = {"samples": len(ev), "float_accuracy": evres.float_accuracy, "int8_accuracy": int8.quant_accuracy,
           "int8_runtime": rt, "clustered_int8_accuracy": evres.quant_accuracy, "packed_accuracy": None,
           "packed_runtime": "edgeq-c", "packed_equals_int8": None,
           "int8_sqnr_db": int8.outputs[0].sqnr_db, "packed_sqnr_db": evres.outputs[0].sqnr_db}
    progress("measuring the packed model on the generated C (host build)")
    try:
        c_out = evaluate.run_tflite(tfl, ev.inputs, runtime="edgeq-c", input_names=names[0], output_names=names[1],
                                    weight_bits=weight_bits)
    except EdgeqError as e:
        warnings.append(f"packed model not measured on the generated C: {e.message}")
        return res
    # both dequantized with the same scale and zero point (a one-to-one map): equal floats <=> equal bytes
    res["packed_equals_int8"] = all(np.array_equal(a, b) for a, b in zip(c_out, q_out))
    if not res["packed_equals_int8"]:
        warnings.append(f"the packed generated C differs from {rt} on the int8 model (it must not): please report "
                        "this with the model")
    packed = evaluate.compare(f_out, c_out, labels=ev.labels, names=outs, runtime="edgeq-c")
    res["packed_accuracy"] = packed.quant_accuracy
    res["packed_sqnr_db"] = packed.outputs[0].sqnr_db
    return res


def _weights_section(req: ConvertRequest, clustered: _Clustered, packed_ops, weight_bits, codegen_res,
                     weights_eval) -> dict:
    """report.json `weights`: per CONV/DEPTHWISE/FC op its scheme, bits and bytes (packed as the generated C
    stores them vs int8), the fine-tuning check and the accuracy cost."""
    cg_bytes = {o.index: o.weight_bytes for o in getattr(codegen_res, "ops", ())}
    layers = []
    for p in packed_ops:
        layers.append({"op_index": p.op_index, "opcode": p.opcode, "layer": p.layer, "scheme": p.scheme,
                       "bits": p.bits, "levels": p.levels, "weights": p.weights, "int8_bytes": p.int8_bytes,
                       "packed_bytes": cg_bytes.get(p.op_index)})
    r = clustered.result
    out = {"scheme": req.weights, "layers": layers, "weight_bits": {str(k): v for k, v in sorted(weight_bits.items())},
           "int8_bytes": sum(x["int8_bytes"] for x in layers),
           "packed_bytes": (sum(x["packed_bytes"] for x in layers) if all(x["packed_bytes"] is not None
                                                                           for x in layers) else None),
           "tflite": "model.tflite holds int8 weights (TFLM runs it as int8; it is the bit-exactness oracle); "
                     "edgeq_model.c stores the packed ones",
           "fine_tune": None, "accuracy": weights_eval}
    if r.check is not None:
        from dataclasses import asdict

        out["fine_tune"] = {"epochs": len(r.history), "loss": r.loss, "history": list(r.history),
                            "kept": "fine-tuned" if r.fine_tuned else "post-training",
                            "check": {**asdict(r.check), "worse": r.check.worse}}
    return out


def _android(tflite: Path, target: Target, out: Path, name: str, litert: int | None = None) -> list[str]:
    try:
        from edgeq import android
    except ImportError:
        return ["Android export not available in this build"]
    android.export_android(tflite, target, out, name=name, litert=litert)
    return []


def check_file(path: str, target_name: str, arena: bool = True) -> check_mod.CheckResult:
    """`edgeq check`: rules on an existing .tflite (measuring the TFLM arena for MCU targets)."""
    from edgeq import export

    target = load_target(target_name)
    g = graph_mod.load(path)
    arena_bytes = None
    if arena and target.is_mcu:
        m = export.measure_tflm_arena(g.raw, len(g.inputs))
        arena_bytes = max(m.total_bytes, m.required_bytes or 0) if m.total_bytes else None
    return check_mod.check(g, target, arena_bytes=arena_bytes)
