"""Report stage: report.json (stable keys, machine-readable) and report.md (for people); report.html if present.

The JSON schema is versioned (`schema`); keys are only ever added. No timestamps: the same inputs give
byte-identical reports.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from dataclasses import asdict
from pathlib import Path

import edgeq
from edgeq.quality.layerwise import LAYERWISE_LEGEND

SCHEMA = "edgeq.report/1"
_PACKAGES = ("tensorflow", "keras", "tf-keras", "ai-edge-litert", "tflite-micro", "numpy")


def tool_versions() -> dict[str, str]:
    out = {"edgeq": edgeq.__version__}
    for p in _PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    return out


def _tensor(t) -> dict:
    q = None
    if t.quant is not None:
        q = {"scale": list(t.quant.scale) if t.quant.per_channel else t.quant.scale[0],
             "zero_point": list(t.quant.zero_point) if t.quant.per_channel else t.quant.zero_point[0],
             "axis": t.quant.axis if t.quant.per_channel else None}
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.size_bytes, "quantization": q}


def graph_summary(g) -> dict:
    ops = []
    for op in g.operators:
        ops.append({"index": op.index, "op": op.opcode, "version": op.version,
                    "inputs": [g.main.tensors[i].name if i >= 0 else None for i in op.inputs],
                    "outputs": [g.main.tensors[i].name for i in op.outputs],
                    "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in op.options.items()}})
    counts: dict[str, int] = {}
    for op in g.operators:
        counts[op.opcode] = counts.get(op.opcode, 0) + 1
    return {"tflite_bytes": g.size_bytes, "sha256": g.sha256, "weight_bytes": g.weight_bytes,
            "inputs": [_tensor(t) for t in g.inputs], "outputs": [_tensor(t) for t in g.outputs],
            "op_counts": dict(sorted(counts.items())), "operators": ops,
            "subgraphs": len(g.subgraphs)}


def build(*, req, target, model, mode, io_dtype, graph, check, calib, eval_data, evaluation, arena, tflm,
          codegen, warnings, layers=None, searched=None, weights=None) -> dict:
    rep: dict = {
        "schema": SCHEMA,
        "tools": tool_versions(),
        "model": {"path": Path(model.path).name, "kind": model.kind, "loader": model.loader,
                  "sha256": model.sha256,
                  "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in model.inputs],
                  "outputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in model.outputs]},
        "target": {"name": target.name, "description": target.description, "family": target.family,
                   "profile_sha256": target.sha256, "runtime": target.runtime.name,
                   "delegate": target.runtime.delegate},
        "quantization": {"mode": mode, "io_dtype": io_dtype,
                         "per_channel": not req.per_tensor and target.quantization.per_channel != "forbidden"},
        "tflite": graph_summary(graph),
        "check": {"passed": check.passed, "errors": len(check.errors), "warnings": len(check.warnings),
                  "flash_estimate_bytes": check.flash_estimate_bytes, "ram_estimate_bytes": check.ram_estimate_bytes,
                  "ram_estimate_method": check.ram_estimate_method,
                  # which runtime each flash figure assumes: generated C first when the target ships it, then TFLM
                  "flash_estimates": [asdict(e) for e in check.flash_estimates],
                  "findings": [asdict(f) for f in check.findings]},
        "calibration": None if calib is None else {
            "source": Path(calib.source).name, "samples": len(calib), "total_samples": calib.total_samples,
            "seed": req.seed, "scaling": calib.scaling},
        "evaluation": None,
        "tflm": None,
        "codegen": None,
        "warnings": list(warnings),
    }
    if evaluation is not None:
        rep["evaluation"] = {"source": Path(eval_data.source).name, "scaling": eval_data.scaling,
                             "accuracy_drop_pp": evaluation.accuracy_drop_pp, **asdict(evaluation)}
    if layers is not None:
        rep["layerwise"] = [asdict(e) for e in layers]
    if searched is not None:
        from edgeq.quality.search import candidates_table

        rep["search"] = {"candidates": candidates_table(searched), "chosen": searched.best.name,
                         "skipped": list(searched.skipped), "sensitive_ops": list(searched.sensitive_ops),
                         "budget": {"max_accuracy_drop_pp": req.max_accuracy_drop_pp, "min_sqnr_db": req.min_sqnr_db}}
    if weights is not None:  # edgeq convert --weights int4/ternary/binary (edgeq.pipeline._weights_section)
        rep["weights"] = weights
    if arena is not None:
        rep["tflm"] = {"arena_measured_bytes": arena.total_bytes, "arena_activations_bytes": arena.head_bytes,
                       "arena_persistent_bytes": arena.tail_bytes, "arena_required_bytes": arena.required_bytes,
                       "method": arena.method, "error": arena.error or None,
                       "arena_macro_bytes": tflm.arena_macro_bytes if tflm else None,
                       "symbol": tflm.symbol if tflm else None}
    if codegen is not None:
        rep["codegen"] = _codegen_summary(codegen)
    return rep


def _codegen_summary(cg) -> dict:
    out = {}
    for key in ("arena_bytes", "total_macs", "min_activation_bytes", "weight_bytes"):
        if hasattr(cg, key):
            out[key] = getattr(cg, key)
    ops = getattr(cg, "ops", None) or getattr(cg, "per_op", None)
    if ops:
        out["ops"] = [asdict(o) if hasattr(o, "__dataclass_fields__") else o for o in ops]
    return out


def _num(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _fmt_q(q) -> str:
    if q is None:
        return "float"
    if isinstance(q["scale"], list):
        return f"per-channel ({len(q['scale'])} scales, axis {q['axis']})"
    return f"scale {q['scale']:.6g}, zero point {q['zero_point']}"


def _flash_rows(chk: dict) -> list[str]:
    """One row per runtime the flash figure may assume (reports from before flash_estimates: the single figure)."""
    ests = chk.get("flash_estimates")
    if not ests:
        return [f"| flash estimate (model + runtime code) | {chk['flash_estimate_bytes']:,} |"]
    return [f"| flash estimate, {e['runtime']} (model {e['model_bytes']:,} + runtime code {e['runtime_bytes']:,}) "
            f"| {e['total_bytes']:,} |" for e in ests]


def markdown(rep: dict) -> str:
    t = rep["tflite"]
    lines = [f"# edgeq report: {rep['model']['path']} -> {rep['target']['name']}", "",
             f"- target: **{rep['target']['name']}** ({rep['target']['description']})",
             f"- model: `{rep['model']['path']}` ({rep['model']['kind']}, loaded with {rep['model']['loader']}), "
             f"sha256 `{rep['model']['sha256'][:16]}`",
             f"- quantization: **{rep['quantization']['mode']}**, I/O {rep['quantization']['io_dtype']}, "
             f"{'per-channel' if rep['quantization']['per_channel'] else 'per-tensor'} weights",
             f"- check: **{'PASSED' if rep['check']['passed'] else 'FAILED'}** ({rep['check']['errors']} errors, "
             f"{rep['check']['warnings']} warnings)", "",
             "## Sizes", "", "| what | bytes |", "| --- | ---: |",
             f"| .tflite | {t['tflite_bytes']:,} |", f"| constant data (weights, biases) | {t['weight_bytes']:,} |",
             *_flash_rows(rep["check"]),
             f"| RAM / arena ({rep['check']['ram_estimate_method']}) | {rep['check']['ram_estimate_bytes']:,} |"]
    if rep.get("tflm") and rep["tflm"]["arena_measured_bytes"]:
        lines.append(f"| TFLM arena macro (measured + margin) | {rep['tflm']['arena_macro_bytes']:,} |")
    if rep.get("codegen") and rep["codegen"].get("arena_bytes") is not None:
        lines.append(f"| edgeq generated-C arena | {rep['codegen']['arena_bytes']:,} |")
    lines += ["", "## Inputs and outputs", "", "| tensor | shape | dtype | quantization |", "| --- | --- | --- | --- |"]
    for kind in ("inputs", "outputs"):
        for x in t[kind]:
            lines.append(f"| {kind[:-1]} `{x['name']}` | {x['shape']} | {x['dtype']} | {_fmt_q(x['quantization'])} |")
    lines += ["", "## Ops", "", "| op | count |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in t["op_counts"].items()]
    lines += ["", "## Check results", ""]
    if not rep["check"]["findings"]:
        lines.append("All rules passed.")
    for f in rep["check"]["findings"]:
        where = f"op #{f['op_index']} {f['opcode']}: " if f["op_index"] is not None else ""
        lines.append(f"- **{f['severity']}** {where}{f['message']}" + (f" — fix: {f['hint']}" if f["hint"] else ""))
    ev = rep.get("evaluation")
    if ev:
        lines += ["", f"## Float vs quantized ({ev['samples']} samples, quantized model on {ev['runtime']})", ""]
        if ev["top1_agreement"] is not None:
            lines.append(f"- top-1 agreement: {100 * ev['top1_agreement']:.2f} %")
        if ev["float_accuracy"] is not None:
            lines.append(f"- accuracy: float {100 * ev['float_accuracy']:.2f} %, quantized "
                         f"{100 * ev['quant_accuracy']:.2f} % (drop {ev['accuracy_drop_pp']:.2f} pp)")
        if ev.get("float_top_k_accuracy") is not None:
            lines.append(f"- top-{ev['top_k']} accuracy: float {100 * ev['float_top_k_accuracy']:.2f} %, quantized "
                         f"{100 * ev['quant_top_k_accuracy']:.2f} %")
        if ev.get("float_target_mse") is not None:
            lines.append(f"- against the targets ({ev['task']}): MSE float {ev['float_target_mse']:.5g}, quantized "
                         f"{ev['quant_target_mse']:.5g}; MAE float {ev['float_target_mae']:.5g}, quantized "
                         f"{ev['quant_target_mae']:.5g}")
        elif ev.get("task") == "regression":
            lines.append("- no targets in the evaluation data: quantized compared with float only (table below)")
        lines += ["", "| output | max abs error | mean abs error | SQNR (dB) |", "| --- | ---: | ---: | ---: |"]
        for m in ev["outputs"]:
            lines.append(f"| {m['name']} | {m['max_abs_error']:.5g} | {m['mean_abs_error']:.5g} | "
                         f"{m['sqnr_db']:.2f} |")
    if rep.get("weights"):
        lines += weights_markdown(rep["weights"])
    if rep.get("search"):
        sr = rep["search"]
        lines += ["", f"## Budget search (chosen: {sr['chosen']})", "",
                  "| candidate | accuracy drop (pp) | SQNR (dB) | .tflite bytes | est. latency (ms) | meets budget |",
                  "| --- | ---: | ---: | ---: | ---: | :---: |"]
        for c in sr["candidates"]:
            lines.append(f"| {c['name']}{' **(chosen)**' if c['chosen'] else ''} | {_num(c['accuracy_drop_pp'])} | "
                         f"{_num(c['sqnr_db'])} | {c['tflite_bytes']:,} | {_num(c['estimated_latency_ms'], 3)} | "
                         f"{'yes' if c['met_budget'] else 'no'} |")
        lines += [f"- not tried: {s}" for s in sr["skipped"]]
    if rep.get("layerwise"):
        lines += ["", "## Per-layer error (largest share of the output error first)", "",
                  "| op | layer | dtype | SQNR (dB) | share of output error |", "| --- | --- | --- | ---: | ---: |"]
        for e in rep["layerwise"][:15]:
            share = e.get("error_share")
            lines.append(f"| #{e['op_index']} {e['opcode']} | {e.get('layer') or '`' + e['tensor'][:60] + '`'} | "
                         f"{e['dtype']} | {_num(e['sqnr_db'])} | {'-' if share is None else f'{100 * share:.1f} %'} |")
        lines += ["", LAYERWISE_LEGEND]
    if rep.get("calibration"):
        c = rep["calibration"]
        lines += ["", "## Calibration", "", f"{c['samples']} of {c['total_samples']} samples from "
                  f"`{c['source']}` (seed {c['seed']})" + (f"; {c['scaling']}" if c["scaling"] else "")]
    if rep.get("bench"):
        lines += bench_markdown(rep["bench"])
    if rep["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in rep["warnings"]]
    lines += ["", "## Tools", "", ", ".join(f"{k} {v}" for k, v in rep["tools"].items() if v), ""]
    return "\n".join(lines)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def weights_markdown(w: dict) -> list[str]:
    """The report's packed-weights section (`edgeq convert --weights`): per op scheme, bits and bytes; accuracy."""
    lines = ["", f"## Weights: {w['scheme']} ({w['tflite']})", "",
             "| op | layer | scheme | bits | int8 values per channel (max) | weights | int8 bytes | packed bytes |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for x in w["layers"]:
        pb = "-" if x["packed_bytes"] is None else f"{x['packed_bytes']:,}"
        lines.append(f"| #{x['op_index']} {x['opcode']} | {x['layer'] or '-'} | {x['scheme']} | {x['bits']} | "
                     f"{x['levels']} | {x['weights']:,} | {x['int8_bytes']:,} | {pb} |")
    if w.get("packed_bytes") is not None:
        lines.append(f"| **total** | | | | | | {w['int8_bytes']:,} | {w['packed_bytes']:,} "
                     f"({w['packed_bytes'] / max(w['int8_bytes'], 1):.2f}x) |")
    lines += ["", "Bytes are the op's constant data (weights + bias): packed = what edgeq_model.c stores (b-bit "
              "indices plus per-channel tables of int8 values), int8 = the same op with int8 weights."]
    ft = w.get("fine_tune")
    if ft:
        c = ft["check"]
        fmt = _pct if c["metric"] == "accuracy" else (lambda v: f"{v:.6g}")
        lines += ["", f"Fine-tuning under the constraint: {ft['epochs']} epoch(s), loss {ft['loss']}; int8 "
                  f"{c['metric']} on {c['samples']} held-out samples ({c['data']}, {c['runtime']}): post-training "
                  f"{fmt(c['ptq'])}, fine-tuned {fmt(c['fine_tuned'])}; kept **{ft['kept']}**."]
    acc = w.get("accuracy")
    if acc:
        lines += ["", f"Accuracy cost on {acc['samples']} evaluation samples:", "",
                  "| model | runs on | accuracy | output SQNR vs float (dB) |", "| --- | --- | ---: | ---: |",
                  f"| float | Keras | {_pct(acc['float_accuracy'])} | - |",
                  f"| int8 (no clustering) | {acc['int8_runtime']} | {_pct(acc['int8_accuracy'])} | "
                  f"{_num(acc['int8_sqnr_db'])} |",
                  f"| {w['scheme']} packed | {acc['packed_runtime']} (host build) | {_pct(acc['packed_accuracy'])} | "
                  f"{_num(acc['packed_sqnr_db'])} |"]
        eq = acc.get("packed_equals_int8")
        if eq is not None:
            lines.append(f"\nPacked generated C output equals the int8 model on {acc['int8_runtime']} byte for byte: "
                         f"**{'yes' if eq else 'NO'}**.")
    return lines


def bench_markdown(b: dict) -> list[str]:
    """The report's benchmark section: every figure with its kind and method, then per-op MACs, instructions and,
    when the Cortex-M timing model gave them, estimated cycles, MAC/cycle and each op's share of the cycles."""
    lines: list[str] = []
    lines += ["", f"## Benchmark on {b.get('device')}", "", "| figure | value | unit | kind | how |",
              "| --- | ---: | --- | --- | --- |"]
    for f in b.get("figures") or []:
        v = f["value"]
        val = f"{int(v):,}" if float(v).is_integer() else f"{v:,.3f}"
        lines.append(f"| {f['name']} | {val} | {f['unit']} | {f['kind']} | {f['method']} |")
    per_op = [o for o in b.get("per_op") or [] if o.get("instructions") is not None]
    if per_op:
        cyc = any(o.get("cycles") is not None for o in per_op)  # the Cortex-M timing model's per-op cycles
        total = sum(o.get("cycles") or 0 for o in per_op) if cyc else sum(o["instructions"] for o in per_op)
        head = "| op | MACs | instructions | " + ("cycles (est.) | MAC/cycle | share |" if cyc else "MAC/instr |")
        lines += ["", head, "| --- | ---: | ---: | ---: |" + (" ---: | ---: |" if cyc else "")]
        for o in per_op:
            row = f"| #{o['index']} {o['opcode']} | {o['macs']:,} | {o['instructions']:,} | "
            if cyc:
                c = o.get("cycles") or 0
                row += f"{c:,} | {o['macs'] / c if c else 0:.3f} | {100 * c / total if total else 0:.1f} % |"
            else:
                row += f"{o['macs'] / o['instructions'] if o['instructions'] else 0:.3f} |"
            lines.append(row)
    return lines

def write(rep: dict, out_dir: Path) -> list[Path]:
    paths = [out_dir / "report.json", out_dir / "report.md"]
    paths[0].write_text(json.dumps(rep, indent=2, sort_keys=True, default=str) + "\n")
    paths[1].write_text(markdown(rep))
    try:
        from edgeq import report_html
    except ImportError:
        return paths
    paths.append(report_html.write_html(rep, out_dir))
    return paths
