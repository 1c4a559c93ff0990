"""Command line: thin click commands, each calling one library function. Only this module prints.

Exit codes: 0 ok, 1 error, 2 usage, 3 target check failed. `import edgeq.cli` must not import TensorFlow.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import click

from edgeq import __version__
from edgeq.errors import EXIT_CHECK_FAILED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CheckFailed, EdgeqError


def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _print_findings(findings) -> None:
    con = _console()
    for f in findings:
        color = "red" if f.severity == "error" else "yellow"
        where = f"op #{f.op_index} {f.opcode}: " if f.op_index is not None else ""
        con.print(f"[{color}]{f.severity}[/{color}] {where}{f.message}", markup=True, soft_wrap=True)
        if f.hint:
            con.print(f"    fix: {f.hint}", markup=False, soft_wrap=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgeq")
@click.option("--debug", is_flag=True,  # read by main(), like EDGEQ_DEBUG (any value but 0/false/no)
              help="Show the Python traceback of an internal error [env: EDGEQ_DEBUG=1].")
def cli(debug: bool) -> None:
    """edgeq: deploy Keras models to microcontrollers, Raspberry Pi and Android.

    \b
    Quickstart:
      edgeq targets list
      edgeq convert model.keras --target cortex-m4 --calib calib.npz -o build/model
      edgeq bench build/model --target cortex-m4
    """


# ----------------------------------------------------------------------------------------------- convert
@cli.command()
@click.argument("model", type=click.Path())
@click.option("-t", "--target", required=True,
              help="Built-in target name (see `edgeq targets list`) or a .toml profile.")
@click.option("-o", "--out", "out_dir", default=None, help="Output folder [default: build/<model name>-<target>].")
@click.option("--calib", help="Representative data: .npz/.npy/.csv, an image folder, or module:function.")
@click.option("--eval", "eval_", help="Evaluation data (with labels for accuracy): same formats as --calib.")
@click.option("--mode", type=click.Choice(["int8", "int16x8", "float16", "dynamic", "float32"]),
              help="Quantization mode [default: the target's].")
@click.option("--io-dtype", type=click.Choice(["int8", "uint8", "int16", "float32"]),
              help="Model input/output type [default: the target's].")
@click.option("--per-tensor", is_flag=True, help="Per-tensor instead of per-channel weight quantization.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Use at most N calibration samples (deterministic, seeded sub-sample).")
@click.option("--eval-samples", type=click.IntRange(min=1), default=None, help="Use at most N evaluation samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--image-scale", type=click.Choice(["unit", "symmetric", "raw"]), default=None,
              help="Pixels 0..255 scaled to 0..1 (unit), -1..1 (symmetric) or left as they are (raw) [default: unit "
                   "for image folders; arrays as given, scaled only when this is set].")
@click.option("--allow-raw-range", is_flag=True,
              help="Accept 0..255 data for a model without a Rescaling layer (else an error).")
@click.option("--layerwise", is_flag=True, help="Per-layer SQNR against the float model (needs --eval).")
@click.option("--max-accuracy-drop", type=float, default=None, metavar="PP",
              help="Search the cheapest configuration the target allows with at most PP points accuracy drop.")
@click.option("--min-sqnr", type=float, default=None, metavar="DB",
              help="Search the cheapest configuration whose output SQNR is at least DB.")
@click.option("--train", default=None, help="Training data: lets the budget search try QAT; with --weights, "
              "fine-tunes under the weight constraint (kept only if better on held-out training data).")
@click.option("--weights", type=click.Choice(["int8", "int4", "ternary", "binary"]), default="int8",
              show_default=True, help="Cortex-M generated C: store the weights of --weights-layers in 4 bits "
              "(int4), 2 bits (ternary) or 1 bit (binary) per weight, bit-exact with the int8 .tflite.")
@click.option("--weights-layers", default=None, metavar="NAME[:SCHEME],...",
              help="Keras layers for --weights, each optionally with its own scheme (conv2d_1:ternary); `all`: every "
                   "weight layer [default: every weight layer but the first and the last].")
@click.option("--train-epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Fine-tuning epochs with --weights and --train.")
@click.option("--no-codegen", is_flag=True, help="Cortex-M: skip the generated C model (TFLM export only).")
@click.option("--no-rewrite", is_flag=True, help="Cortex-M: keep Keras 3's own lowering of UpSampling1D/2D and "
              "RepeatVector (TILE, which TFLM lacks) instead of the equivalent RESIZE_NEAREST_NEIGHBOR/CONCATENATION.")
@click.option("--litert", type=click.Choice(["1", "2"]), default=None,
              help="Android: Kotlin wrapper for LiteRT 2.x CompiledModel (2) or the 1.4 Interpreter (1) "
                   "[default: the target's].")
@click.option("--force", is_flag=True, help="Replace the output folder if it exists.")
@click.option("--keep-on-failure", is_flag=True, help="Write artifacts and report even when checks fail.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def convert(model, target, out_dir, calib, eval_, mode, io_dtype, per_tensor, calib_samples, eval_samples, seed,
            image_scale, allow_raw_range, layerwise, max_accuracy_drop, min_sqnr, train, weights, weights_layers,
            train_epochs, no_codegen, no_rewrite, litert, force, keep_on_failure, as_json):
    """Quantize MODEL (.keras, .h5, SavedModel dir) for TARGET, check it, and write the artifacts."""
    from edgeq.pipeline import ConvertRequest, run

    if out_dir is None:
        out_dir = str(Path("build") / f"{Path(model.rstrip('/')).stem}-{Path(target).stem}")
    req = ConvertRequest(model=model, target=target, out_dir=out_dir, calib=calib, eval=eval_, mode=mode,
                         io_dtype=io_dtype, per_tensor=per_tensor, calib_samples=calib_samples,
                         eval_samples=eval_samples, seed=seed, image_scale=image_scale,
                         allow_raw_range=allow_raw_range, force=force,
                         codegen=not no_codegen, rewrite=not no_rewrite, keep_on_failure=keep_on_failure,
                         layerwise=layerwise, max_accuracy_drop_pp=max_accuracy_drop, min_sqnr_db=min_sqnr, train=train,
                         litert=int(litert) if litert else None, weights=weights, train_epochs=train_epochs,
                         weights_layers=tuple(n.strip() for n in weights_layers.split(",") if n.strip())
                         if weights_layers is not None else None)
    if weights_layers is not None and weights == "int8":
        raise click.UsageError("--weights-layers chooses the layers for --weights int4/ternary/binary; add --weights")
    if litert:  # a target/--litert mismatch fails before the (slow) conversion
        from edgeq.android import choose_litert
        from edgeq.target import load_target

        choose_litert(load_target(target), litert)
    con = _console()
    with con.status("converting...") as status:
        res = run(req, progress=lambda s: status.update(s + "..."))
    if as_json:
        _print_json(res.report)
    else:
        _summary(res, con)
    if res.check is not None and not res.check.passed:
        sys.exit(EXIT_CHECK_FAILED)


def _summary(res, con) -> None:
    rep = res.report
    for w in res.warnings:
        con.print(f"[yellow]warning[/yellow] {w}", soft_wrap=True)
    if res.check and res.check.findings:
        _print_findings(res.check.findings)
    t = rep["tflite"]
    con.print(f"[bold]{rep['model']['path']}[/bold] -> {rep['target']['name']} ({rep['quantization']['mode']}): "
              f".tflite {t['tflite_bytes']:,} B, {sum(t['op_counts'].values())} ops, check "
              + ("[green]passed[/green]" if rep["check"]["passed"] else "[red]FAILED[/red]"), soft_wrap=True)
    if rep.get("tflm") and rep["tflm"].get("arena_macro_bytes"):
        con.print(f"TFLM arena {rep['tflm']['arena_measured_bytes']:,} B measured "
                  f"(EDGEQ_TENSOR_ARENA_SIZE {rep['tflm']['arena_macro_bytes']:,} B)")
    if rep.get("codegen") and rep["codegen"].get("arena_bytes") is not None:
        con.print(f"generated C: arena {rep['codegen']['arena_bytes']:,} B")
    if rep.get("search"):
        con.print(f"budget search chose [bold]{rep['search']['chosen']}[/bold] of "
                  f"{len(rep['search']['candidates'])} candidates (see report.md)", soft_wrap=True)
    if rep.get("layerwise"):
        worst = rep["layerwise"][0]
        con.print(f"largest share of the output error: op #{worst['op_index']} {worst['opcode']} "
                  f"{100 * (worst.get('error_share') or 0):.0f}% (SQNR {worst['sqnr_db']:.1f} dB; report.md defines "
                  "both)", soft_wrap=True)
    wt = rep.get("weights")
    if wt:
        packed = wt["packed_bytes"]
        con.print(f"weights {wt['scheme']}: {sum(1 for x in wt['layers'] if x['scheme'] != 'int8')} layer(s) packed, "
                  f"weight bytes {wt['int8_bytes']:,} int8 -> "
                  + (f"{packed:,} in the generated C ({packed / max(wt['int8_bytes'], 1):.2f}x)" if packed is not None
                     else "? (generated C did not report them)"), soft_wrap=True)
        ft = wt.get("fine_tune")
        if ft:
            con.print(f"fine-tuning ({ft['epochs']} epochs): {ft['check']['metric']} on {ft['check']['data']}: "
                      f"post-training {ft['check']['ptq']:.4g}, fine-tuned {ft['check']['fine_tuned']:.4g}; kept "
                      f"{ft['kept']}", soft_wrap=True)
        acc = wt.get("accuracy")
        if acc and acc.get("float_accuracy") is not None:
            pk = acc.get("packed_accuracy")
            con.print(f"accuracy float {100 * acc['float_accuracy']:.2f}% | int8 {100 * acc['int8_accuracy']:.2f}% | "
                      f"{wt['scheme']} packed " + (f"{100 * pk:.2f}% (generated C, = int8 on "
                                                   f"{acc['int8_runtime']}: {acc['packed_equals_int8']})"
                                                   if pk is not None else "not measured"), soft_wrap=True)
    ev = rep.get("evaluation")
    if ev:
        msg = f"eval ({ev['samples']} samples on {ev['runtime']})"
        if ev["float_accuracy"] is not None:
            msg += (f": accuracy float {100 * ev['float_accuracy']:.2f}% -> quantized {100 * ev['quant_accuracy']:.2f}%"
                    f" ({ev['accuracy_drop_pp']:+.2f} pp drop)")
        if ev.get("float_target_mse") is not None:
            msg += (f": vs targets MSE float {ev['float_target_mse']:.4g} -> quantized {ev['quant_target_mse']:.4g}, "
                    f"MAE {ev['float_target_mae']:.4g} -> {ev['quant_target_mae']:.4g}")
        if ev["top1_agreement"] is not None:
            sep = "," if ev["float_accuracy"] is not None else ":"
            msg += f"{sep} top-1 agreement {100 * ev['top1_agreement']:.2f}%"
        msg += f", SQNR {ev['outputs'][0]['sqnr_db']:.1f} dB"
        con.print(msg, soft_wrap=True)
    con.print(f"wrote {len(res.files)} files to [bold]{res.out_dir}[/bold]: {', '.join(res.files[:12])}"
              + (" ..." if len(res.files) > 12 else ""), soft_wrap=True)


# ------------------------------------------------------------------------------------------------- check
@cli.command()
@click.argument("model", type=click.Path())
@click.option("-t", "--target", required=True, help="Target name or .toml profile.")
@click.option("--json", "as_json", is_flag=True)
def check(model, target, as_json):
    """Check an existing .tflite against a target profile (ops, versions, types, budgets)."""
    from edgeq.pipeline import check_file

    res = check_file(model, target)
    if as_json:
        _print_json({"target": res.target, "passed": res.passed, "findings": [asdict(f) for f in res.findings],
                     "flash_estimate_bytes": res.flash_estimate_bytes, "ram_estimate_bytes": res.ram_estimate_bytes,
                     "ram_estimate_method": res.ram_estimate_method,
                     "flash_estimates": [asdict(e) for e in res.flash_estimates]})
    else:
        _print_findings(res.findings)
        status = "passed" if res.passed else "FAILED"
        click.echo(f"{model}: check {status} on {res.target} ({len(res.errors)} errors, {len(res.warnings)} "
                   f"warnings); flash ~{res.flash_estimate_bytes:,} B, RAM {res.ram_estimate_bytes:,} B "
                   f"({res.ram_estimate_method})")
        for e in res.flash_estimates:  # which runtime each flash figure assumes (generated C vs TFLM)
            click.echo(f"  flash with {e.describe()}: ~{e.total_bytes:,} B")
    if not res.passed:
        sys.exit(EXIT_CHECK_FAILED)


# ----------------------------------------------------------------------------------------------- inspect
@cli.command()
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@click.option("--tensors", is_flag=True, help="List every tensor, not just inputs/outputs.")
def inspect(model, as_json, tensors):
    """Print a .tflite's ops, tensors, dtypes, quantization parameters and sizes."""
    from edgeq import graph
    from edgeq.report import graph_summary

    g = graph.load(model)
    summary = graph_summary(g)
    summary["tensors"] = [{"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype,
                           "bytes": t.size_bytes, "constant": t.is_constant,
                           "scale": list(t.quant.scale) if t.quant else None,
                           "zero_point": list(t.quant.zero_point) if t.quant else None}
                          for t in g.main.tensors]
    if as_json:
        _print_json(summary)
        return
    click.echo(f"{model}: {g.size_bytes:,} B, schema v{g.schema_version}, {len(g.subgraphs)} subgraph(s), "
               f"{len(g.operators)} ops, constant data {g.weight_bytes:,} B")
    for kind, ts in (("input", g.inputs), ("output", g.outputs)):
        for t in ts:
            q = (f"scale={t.quant.scale[0]:.6g} zp={t.quant.zero_point[0]}" if t.quant and not t.quant.per_channel
                 else "float" if not t.quant else "per-channel")
            click.echo(f"  {kind:6} {t.name}  {list(t.shape)} {t.dtype}  {q}")
    click.echo("ops:")
    for op in g.operators:
        outs = g.main.op_outputs(op)
        o = outs[0] if outs else None
        opts = ", ".join(f"{k}={v}" for k, v in op.options.items() if v not in (0, False, (), "NONE", 1, 1.0))
        click.echo(f"  #{op.index:<3} {op.opcode:<22} v{op.version}  -> {list(o.shape) if o else ''} "
                   f"{o.dtype if o else ''}  {opts}")
    if tensors:
        click.echo("tensors:")
        for t in g.main.tensors:
            q = "" if not t.quant else (f"scale={t.quant.scale[0]:.6g} zp={t.quant.zero_point[0]}"
                                        if not t.quant.per_channel else f"per-channel[{len(t.quant.scale)}]")
            click.echo(f"  {t.index:<4} {t.dtype:<8} {list(t.shape)!s:<20} {t.size_bytes:>8} B "
                       f"{'const ' if t.is_constant else ''}{q} {t.name}")


# ----------------------------------------------------------------------------------------------- targets
@cli.group()
def targets():
    """List and show target profiles."""


@targets.command("list")
@click.option("--json", "as_json", is_flag=True)
def targets_list(as_json):
    """List the built-in target profiles."""
    from edgeq.target import builtin_names, load_target

    ts = [load_target(n) for n in builtin_names()]
    if as_json:
        _print_json([{"name": t.name, "family": t.family, "description": t.description,
                      "default_mode": t.quantization.default_mode, "legacy": t.legacy} for t in ts])
        return
    width = max([15, *(len(t.name) for t in ts)])
    for t in ts:
        click.echo(f"{t.name:<{width}} {t.family:<9} {t.quantization.default_mode:<8} {t.description}")
        if t.legacy:
            click.echo(f"{'':<{width}} legacy: {t.legacy}")


@targets.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def targets_show(name, as_json):
    """Show one profile, merged with what it extends."""
    from edgeq.target import load_target

    t = load_target(name)
    if as_json:
        _print_json({"name": t.name, "path": t.path, "sha256": t.sha256, **t.merged})
        return
    click.echo(f"{t.name}: {t.description}\n  profile {t.path} (sha256 {t.sha256[:12]})")
    click.echo(f"  runtime {t.runtime.name} delegate={t.runtime.delegate}; modes {', '.join(t.quantization.modes)} "
               f"(default {t.quantization.default_mode}), I/O {t.quantization.io_dtype}, per-channel "
               f"{t.quantization.per_channel}, integer-only {t.quantization.integer_only}")
    mem = t.memory
    click.echo(f"  flash {mem.flash_bytes or '-'} B, RAM {mem.ram_bytes or '-'} B; cpu {t.cpu.core} @ "
               f"{t.cpu.clock_hz / 1e6:g} MHz; energy {t.energy.pj_per_cycle or t.energy.active_power_mw} "
               f"{'pJ/cycle' if t.energy.pj_per_cycle else 'mW'}")
    click.echo(f"  emulator {t.emulator.kind} {t.emulator.qemu_machine or t.emulator.qemu_cpu}; exports "
               f"{', '.join(t.export_formats)}")
    ops = ", ".join(k + (f"<=v{v}" if v < 99 else "") for k, v in sorted(t.ops.items()))
    click.echo(f"  ops ({len(t.ops)}): {ops}")


@targets.command("docs")
@click.option("-o", "--out", "out", default="-", help="Write the Markdown table here [default: stdout].")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def targets_docs(out, force):
    """Write the supported-ops table (ops x targets) and the check rules as Markdown."""
    from edgeq.check import rules_doc
    from edgeq.target import builtin_names, load_target

    ts = [load_target(n) for n in builtin_names()]
    ops = sorted({o for t in ts for o in t.ops})
    lines = ["# edgeq targets: supported ops", "",
             "Cell = highest op version the target's runtime takes (any = every version TF 2.21 emits; "
             "blank = not supported).", "",
             "| op | " + " | ".join(t.name for t in ts) + " |", "| --- |" + " :---: |" * len(ts)]
    for o in ops:
        cells = [("any" if t.ops[o] >= 99 else f"v{t.ops[o]}") if o in t.ops else "" for t in ts]
        lines.append(f"| {o} | " + " | ".join(cells) + " |")
    lines += ["", "# Check rules", "", "| rule | statement |", "| --- | --- |"]
    lines += [f"| `{n}` | {d} |" for n, d in rules_doc()]
    text = "\n".join(lines) + "\n"
    if out == "-":
        click.echo(text)
    else:
        from edgeq.outdir import prepare_out_file, write_file

        prepare_out_file(Path(out), force)
        write_file(out, text)
        click.echo(f"wrote {out}", err=True)


# ----------------------------------------------------------------------------------------------- codegen
@cli.command()
@click.argument("model", type=click.Path())
@click.option("-o", "--out", "out_dir", required=True, help="Output folder for edgeq_model.c/.h and the runtime.")
@click.option("--force", is_flag=True, help="Replace the output folder if it exists.")
@click.option("--json", "as_json", is_flag=True)
def codegen(model, out_dir, force, as_json):
    """Generate C inference code (no interpreter) from an int8 .tflite."""
    from edgeq import graph
    from edgeq.outdir import commit_dir, new_tmp_dir, prepare_out_dir

    try:
        from edgeq.codegen import generate
    except ImportError as e:
        raise EdgeqError(f"code generator unavailable: {e}") from None
    out = Path(out_dir)
    plan = prepare_out_dir(out, force, inputs=(model,))
    g = graph.load(model)
    tmp = new_tmp_dir(out)
    try:
        res = generate(g, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit_dir(tmp, plan, "codegen")
    info = {k: getattr(res, k) for k in ("arena_bytes", "total_macs", "min_activation_bytes") if hasattr(res, k)}
    if as_json:
        _print_json({"out_dir": str(out), **info})
    else:
        click.echo(f"wrote {out}/edgeq_model.c/.h: " + ", ".join(f"{k} {v:,}" for k, v in info.items()))


# ------------------------------------------------------------------------------------------------- bench
@cli.command()
@click.argument("model", type=click.Path())
@click.option("-t", "--target", required=True, help="Target name or .toml profile.")
@click.option("-d", "--device", default=None,
              help="qemu[:MACHINE] | pyocd[:ID] | serial:PORT (Cortex-M); host | ssh://user@host[:port] | "
                   "emulator[:cortex-a72|cortex-a76] | adb[:SERIAL] (Pi/Android) "
                   "[default: qemu for Cortex-M, host otherwise].")
@click.option("--runs", type=click.IntRange(min=1), default=None,
              help="Timed runs (Pi/Android) / input samples (Cortex-M).")
@click.option("--warmup", type=int, default=None, help="Warm-up runs before timing (Pi/Android).")
@click.option("--threads", type=int, default=None, help="Interpreter threads (Pi/Android).")
@click.option("--inputs", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Input samples (.npy/.npz, .npz keys = input names) instead of seeded random ones; Cortex-M: "
                   "float samples are quantized with the model's input scale/zero point.")
@click.option("--expected", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Expected outputs (.npy/.npz) to check against (Pi/Android).")
@click.option("--seed", type=int, default=None, help="Seed of the random inputs.")
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds before a run counts as hung.")
@click.option("--ssh-option", "ssh_options", multiple=True, help="Extra `ssh -o` option (repeatable).")
@click.option("--remote-python", default=None, metavar="PATH",
              help="ssh: the device's Python with LiteRT, e.g. a venv's: '~/litert/bin/python' (quoted: ~ is the "
                   "device user's home) [default: python3].")
@click.option("--allow-arch-mismatch", is_flag=True, default=None, help="Run even if the device is not aarch64.")
@click.option("--benchmark-binary", default=None, envvar="EDGEQ_BENCHMARK_MODEL",
              help="adb: path of TFLite's benchmark_model for the phone [env: EDGEQ_BENCHMARK_MODEL].")
@click.option("--taskset", default=None, help="adb: CPU affinity mask, e.g. f0 for the big cores.")
@click.option("--litert", "bench_litert", type=click.Choice(["1", "2"]), default=None,
              help="adb: the benchmark_model generation, when its own strings do not tell (1 = --use_xnnpack/"
                   "--use_nnapi/--use_gpu, 2 = LiteRT 2.x --use_cpu/--use_gpu/--use_npu).")
@click.option("--accelerator-lib", "accelerator_libs", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="adb: a .so pushed next to benchmark_model (LiteRT GPU accelerator, NPU dispatch/runtime "
                   "libraries; repeatable).")
@click.option("--power-monitor", default=None, help="joulescope[:SERIAL] | ppk2[:PORT]: measure energy.")
@click.option("--no-per-op", is_flag=True, help="Cortex-M: skip the second, per-op profiling build.")
@click.option("--keep-build", type=click.Path(file_okay=False), default=None,
              help="Cortex-M: keep the firmware build here.")
@click.option("--json", "as_json", is_flag=True)
def bench(model, target, device, runs, warmup, threads, inputs, expected, seed, timeout_s, ssh_options,
          remote_python, allow_arch_mismatch, benchmark_binary, taskset, bench_litert, accelerator_libs, power_monitor,
          no_per_op, keep_build, as_json):
    """Measure latency, memory and energy of MODEL (a .tflite or an edgeq build folder) on a device.

    When MODEL is an edgeq build folder, the figures are also saved there (bench.json) and added to its report.
    """
    from edgeq.harness import run_bench
    from edgeq.target import load_target

    t = load_target(target)
    opts = {"runs": runs, "warmup": warmup, "threads": threads, "expected": expected, "seed": seed,
            "timeout_s": timeout_s,
            # `--ssh-option Key=Value` means `ssh -o Key=Value`; raw flags (`-4`, `-oKey=V`) pass through
            "ssh_options": [o if o.startswith("-") else f"-o{o}" for o in ssh_options] or None,
            "remote_python": remote_python,
            "allow_arch_mismatch": allow_arch_mismatch, "benchmark_binary": benchmark_binary, "taskset": taskset,
            "power_monitor": power_monitor, "workdir": keep_build, "litert": bench_litert,
            "accelerator_libs": list(accelerator_libs) or None}
    if t.is_mcu:
        opts.pop("expected")  # the Cortex-M harness always checks against tflite-micro
        for k in ("warmup", "threads", "ssh_options", "remote_python", "allow_arch_mismatch", "benchmark_binary",
                  "taskset", "power_monitor", "litert", "accelerator_libs"):
            if opts.get(k):
                raise click.UsageError(f"--{k.replace('_', '-')} does not apply to a Cortex-M target")
            opts.pop(k)
        if no_per_op:
            opts["per_op"] = False
        if inputs:
            opts["inputs"] = _mcu_inputs(inputs, model)
    else:
        opts.pop("workdir")
        if inputs:
            opts["inputs"] = inputs
    opts = {k: v for k, v in opts.items() if v is not None}
    folder = Path(model)
    saving = folder.is_dir() and (folder / "report.json").exists()
    if saving and not os.access(folder, os.W_OK | os.X_OK):
        saving = False
        click.echo(f"warning: {model} is not writable: the figures will be printed but not saved there", err=True)
    with _console().status(f"benchmarking on {device or 'the default device'}..."):
        res = run_bench(model, t, device, **opts)
    # print first: a failed save (read-only folder, full disk) must never lose the measurement
    if as_json:
        _print_json(asdict(res) | {"log": None})
    else:
        click.echo(f"{res.model} on {res.device} ({res.target})")
        for f in res.figures:
            val = f"{f.value:,.3f}" if isinstance(f.value, float) and not f.value.is_integer() else f"{int(f.value):,}"
            click.echo(f"  {f.name:<28} {val:>16} {f.unit:<8} [{f.kind}] {f.method}")
        if res.output_matches_reference is not None:
            click.echo("  output vs reference: " + ("identical" if res.output_matches_reference else "MISMATCH"))
        for n in res.notes:
            click.echo(f"  note: {n}")
    if saving:
        try:
            saved = _save_bench(model, res)
        except EdgeqError as e:
            click.echo(f"warning: figures not saved: {e}", err=True)
        else:
            click.echo(f"  saved to {saved} and added to the report" if saved else
                       f"  not saved: {model} was built for another target than {res.target}", err=as_json)
    if res.output_matches_reference is False:
        sys.exit(EXIT_ERROR)


def _mcu_inputs(path: str, model: str) -> list:
    """Cortex-M bench inputs: an .npy/.npz of samples (N, ...); .npz keys may be the model's input names (as for
    --calib); float samples are quantized with the model's own input scale/zero point."""
    import numpy as np

    from edgeq import graph

    mp = Path(model) / "model.tflite" if Path(model).is_dir() else Path(model)
    g = graph.load(mp)
    data = np.load(path, allow_pickle=False)
    if hasattr(data, "files"):
        sig = dict(g.signature_inputs)
        names = [k for k in data.files if k not in ("y", "label", "labels")]
        if sig and all(k in sig for k in names) and len(names) == len(g.inputs):
            pos = {g.main.inputs.index(sig[k]): k for k in names}
            arrays = [data[pos[i]] for i in range(len(g.inputs))]
        else:
            arrays = [data[k] for k in names]
    else:
        arrays = [data]
    if len(arrays) != len(g.inputs):
        raise click.UsageError(f"{path}: {len(arrays)} arrays for {len(g.inputs)} model inputs")
    out = []
    for a, t in zip(arrays, g.inputs):
        if a.dtype.kind == "f":
            if t.quant is None:
                raise click.UsageError(f"{path}: float samples but input {t.name!r} has no quantization")
            a = np.clip(np.round(a / t.quant.scale[0]) + t.quant.zero_point[0], -128, 127).astype(np.int8)
        elif a.dtype != np.int8:
            raise click.UsageError(f"{path}: samples are {a.dtype}; give float32 (quantized here) or int8")
        out.append(a.reshape((-1, *t.shape[1:])) if a.size % max(t.num_elements, 1) == 0 else a)
    return [[a[i] for a in out] for i in range(len(out[0]))]


def _save_bench(model: str, res) -> Path | None:
    """Record a bench of an edgeq build folder next to its report (report.html shows latency per op)."""
    folder = Path(model)
    rep_path = folder / "report.json"
    if not folder.is_dir() or not rep_path.exists():
        return None
    from edgeq import report
    from edgeq.outdir import add_to_manifest, write_file

    rep = json.loads(rep_path.read_text())
    if rep.get("target", {}).get("name") != res.target:
        return None  # a bench for another target must not replace the folder's own figures
    bench_d = asdict(res) | {"log": None}
    write_file(folder / "bench.json", json.dumps(bench_d, indent=2, sort_keys=True, default=str) + "\n")
    rep["bench"] = bench_d
    try:
        written = report.write(rep, folder)
    except OSError as e:
        from edgeq.outdir import OutputError

        raise OutputError(f"{folder}: could not update the report ({e.strerror or e})") from None
    add_to_manifest(folder, ["bench.json", *(str(p.relative_to(folder)) for p in written)], "bench")
    return folder / "bench.json"


# ---------------------------------------------------------------------------------------------- makefile
@cli.command()
@click.option("--python", "python", is_flag=True,
              help="Print the Python interpreter edgeq runs on instead (the fragment's EDGEQ_CC_CACHE: "
                   "`<python> -m edgeq.objcache`, the compiled-object cache as a compiler wrapper).")
def makefile(python: bool):
    """Print the path of the make fragment for firmware projects (include $(shell edgeq makefile))."""
    if python:
        click.echo(sys.executable)
        return
    from edgeq.target import targets_dir

    p = targets_dir() / "edgeq.mk"
    if not p.exists():
        raise EdgeqError(f"make fragment not found at {p}", hint="reinstall edgeq")
    click.echo(str(p))


# ------------------------------------------------------------------------------------------------ doctor
_TOOLS = [
    # (what, how to find it, install command)
    ("arm-none-eabi-gcc", "bin", "apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi"),
    ("qemu-system-arm", "bin", "apt-get install -y qemu-system-arm"),
    ("qemu-aarch64-static", "bin", "apt-get install -y qemu-user-static"),
    ("ssh", "bin", "apt-get install -y openssh-client"),
    ("adb", "bin", "apt-get install -y adb   (or: pip install adbutils)"),
    ("gcc", "bin", "apt-get install -y gcc"),
    ("tensorflow", "py", "pip install 'tensorflow==2.21.*'"),
    ("tf_keras", "py", "pip install 'tf-keras==2.21.*'"),
    ("ai_edge_litert", "py", "pip install ai-edge-litert"),
    ("tflite_micro", "py", "pip install tflite-micro"),
    ("matplotlib", "py", "pip install matplotlib"),
    ("adbutils", "py", "pip install adbutils"),
    ("pyocd", "py", "pip install pyocd"),
]


def _version_of(tool: str, kind: str) -> str | None:
    if kind == "py":
        import importlib.metadata as md
        import importlib.util

        if importlib.util.find_spec(tool) is None:
            return None
        for dist in (tool, tool.replace("_", "-")):
            try:
                return md.version(dist)
            except md.PackageNotFoundError:
                continue
        return "installed"
    path = shutil.which(tool)
    if not path:
        return None
    flag = {"ssh": "-V", "adb": "version"}.get(tool, "--version")
    try:
        r = subprocess.run([path, flag], capture_output=True, text=True, timeout=10, check=False)
        first = (r.stdout or r.stderr).strip().splitlines()
        return first[0][:80] if first else path
    except (OSError, subprocess.TimeoutExpired):
        return path


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json):
    """Show which toolchains and runtimes are present, with the install command for each missing one."""
    rows = [(name, _version_of(name, kind), fix) for name, kind, fix in _TOOLS]
    if as_json:
        _print_json([{"tool": n, "version": v, "present": v is not None, "install": f} for n, v, f in rows])
        return
    for name, ver, fix in rows:
        if ver:
            click.echo(f"  ok       {name:<22} {ver}")
        else:
            click.echo(f"  missing  {name:<22} -> {fix}")


# ---------------------------------------------------------------------------- commands from other modules
for _mod in ("edgeq.cli.mobile", "edgeq.cli.quality", "edgeq.cli.project", "edgeq.cli.farm"):
    try:
        _m = importlib.import_module(_mod)
    except ImportError:
        continue
    for _cmd in getattr(_m, "COMMANDS", []):
        cli.add_command(_cmd)


def _command_name(args: list[str]) -> str:
    """`edgeq targets show` -> 'targets show': the (sub)command a command line runs, for error messages."""
    group, words = cli, []
    for a in args:
        if a.startswith("-"):
            continue
        sub = group.commands.get(a) if isinstance(group, click.Group) else None
        if sub is None:
            break
        words.append(a)
        group = sub
    return " ".join(words) or "edgeq"


def _debug_wanted(args: list[str]) -> bool:
    return "--debug" in args or os.environ.get("EDGEQ_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _crash_report(command: str, args: list[str], exc: BaseException) -> Path | None:
    """Write the traceback, version and command line to a file the user can attach to a bug report."""
    import tempfile
    import traceback

    text = (f"edgeq {__version__} internal error in `{command}`\npython {sys.version.split()[0]} on "
            f"{sys.platform}\ncommand line: edgeq {' '.join(args)}\n\n"
            + "".join(traceback.format_exception(exc)))
    try:
        fd, name = tempfile.mkstemp(prefix="edgeq-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        return Path(name)
    except OSError:
        return None


def _fail(args: list[str], code: int, kind: str, message: str, hint: str | None = None, findings=()) -> None:
    """Print an error (stderr; plus a JSON error object on stdout with --json) and exit with `code`."""
    if "--json" in args:
        err = {"type": kind, "message": message, "hint": hint, "exit_code": code}
        if findings:
            err["findings"] = [asdict(f) for f in findings]
        click.echo(json.dumps({"error": err}, indent=2, sort_keys=True, default=str))
    sys.exit(code)


def main(argv=None) -> None:
    """Entry point: runs the click group and turns every exception into a message and an exit code.

    EdgeqError: its message (stderr) and exit code. Anything else is a bug: one line naming the command and
    a crash-report file, exit 1 (the traceback with --debug or EDGEQ_DEBUG=1). Ctrl-C: exit 130.
    """
    from edgeq.outdir import forget_commits

    args = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    forget_commits()
    try:
        cli.main(args=args, prog_name="edgeq", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        code = EXIT_USAGE if isinstance(e, click.UsageError) else e.exit_code
        _fail(args, code, type(e).__name__, e.format_message())
    except (click.exceptions.Abort, KeyboardInterrupt):
        from edgeq.outdir import last_committed

        done = last_committed()
        if done is not None:  # the output was already complete: that is a success, and the exit code says so
            click.echo(f"interrupted after the output was complete; {done} is finished and kept", err=True)
            sys.exit(0)
        click.echo("aborted", err=True)
        _fail(args, EXIT_INTERRUPTED, "Interrupted", "aborted by the user")
    except CheckFailed as e:
        _print_findings(e.findings)
        click.echo(f"error: {e}", err=True)
        _fail(args, e.exit_code, type(e).__name__, e.message, e.hint, e.findings)
    except EdgeqError as e:
        click.echo(f"error: {e}", err=True)
        _fail(args, e.exit_code, type(e).__name__, e.message, e.hint)
    except BrokenPipeError:
        # `edgeq inspect m.tflite | head`: the reader went away; nothing left to tell anyone
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush quiet
        except OSError:
            pass
        sys.exit(EXIT_ERROR)
    except Exception as e:  # the last resort: a bug in edgeq, not a user error
        command = _command_name(args)
        if _debug_wanted(args):
            import traceback

            traceback.print_exception(e, file=sys.stderr)
        report = _crash_report(command, args, e)
        detail = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")[:300]
        where = f" with this file: {report}" if report else ""
        msg = f"internal error in {command}: {detail}; please report it{where}"
        click.echo(msg + ("" if _debug_wanted(args) else " (--debug shows the traceback)"), err=True)
        _fail(args, EXIT_ERROR, "InternalError", msg, "re-run with --debug (or EDGEQ_DEBUG=1) for the traceback")


if __name__ == "__main__":
    main()
