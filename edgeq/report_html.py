"""Report stage, HTML part: one self-contained `report.html` (inline SVG plots, no scripts, no external files).

Reads the report dict built by `edgeq.report` (schema edgeq.report/1) and the optional keys other stages add:
`evaluation.error_histogram` ({bin_edges, counts}), `layerwise` (list of LayerError dicts), `search` (list of
candidate rows from `edgeq.quality.search.candidates_table`), `codegen.ops`, `bench`. The per-op memory map comes from
`model.tflite` in the same folder (parsed without TensorFlow) when present. Plots are drawn with matplotlib's Agg
backend as SVG with a fixed hash salt and no date, so the same report gives a byte-identical file. Without
matplotlib the report still renders, with tables instead of plots.
"""

from __future__ import annotations

import html
import io
import math
from pathlib import Path

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#12803a;font-weight:600}
.bad{color:#c0262d;font-weight:600}.warn{color:#a86400}.muted{color:#777;font-size:12px}.kpi{display:inline-block;
margin:6px 18px 6px 0}.kpi b{display:block;font-size:20px}svg{max-width:100%;height:auto}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(v, fmt: str = "{:,}") -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return "∞" if v > 0 else "–∞"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return _e(v)


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        matplotlib.rcParams["svg.hashsalt"] = "edgeq"
        matplotlib.rcParams["svg.fonttype"] = "path"  # text as paths: renders identically without fonts
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "edgeq"})
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _accuracy_plot(plt, ev: dict) -> str:
    labels, fl, qu = [], [], []
    if ev.get("float_accuracy") is not None:
        labels.append("top-1")
        fl.append(100 * ev["float_accuracy"])
        qu.append(100 * ev["quant_accuracy"])
    if ev.get("float_top_k_accuracy") is not None:
        labels.append(f"top-{ev.get('top_k')}")
        fl.append(100 * ev["float_top_k_accuracy"])
        qu.append(100 * ev["quant_top_k_accuracy"])
    if not labels:
        return ""
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    xs = range(len(labels))
    ax.bar([x - 0.18 for x in xs], fl, 0.36, label="float", color="#4c78a8")
    ax.bar([x + 0.18 for x in xs], qu, 0.36, label="quantized", color="#f58518")
    for x, a, b in zip(xs, fl, qu):
        ax.text(x - 0.18, a, f"{a:.2f}", ha="center", va="bottom", fontsize=8)
        ax.text(x + 0.18, b, f"{b:.2f}", ha="center", va="bottom", fontsize=8)
    lo = max(0.0, min(fl + qu) - 5)
    ax.set_ylim(lo, 100.5)
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("accuracy (%)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _hist_plot(plt, h: dict) -> str:
    edges, counts = h.get("bin_edges") or [], h.get("counts") or []
    if len(edges) != len(counts) + 1 or not counts:
        return ""
    fig, ax = plt.subplots(figsize=(7, 2.6))
    widths = [edges[i + 1] - edges[i] for i in range(len(counts))]
    ax.bar(edges[:-1], [max(c, 0) for c in counts], widths, align="edge", color="#54a24b", edgecolor="white")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("quantized − float (first output, every element)")
    ax.set_ylabel("count")
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _layer_plot(plt, layers: list[dict]) -> str:
    rows = sorted(layers, key=lambda d: d.get("op_index", 0))
    if not rows:
        return ""
    names = [f"#{d['op_index']} {d['opcode']}" + (f" ({d['layer']})" if d.get("layer") else "") for d in rows]
    sq = [min(float(d["sqnr_db"]), 120.0) if d.get("sqnr_db") is not None and d["sqnr_db"] == d["sqnr_db"] else 0.0
          for d in rows]
    share = [float(d.get("error_share") or 0.0) for d in rows]
    worst = [i for i in sorted(range(len(rows)), key=lambda i: -share[i])[:3] if share[i] > 0.05]
    colors = ["#e45756" if i in worst else ("#72b7b2" if rows[i].get("dtype") == "int16" else
              "#bab0ac" if str(rows[i].get("dtype", "")).startswith("float") else "#4c78a8") for i in range(len(rows))]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.2))
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, sq, color=colors)
    for y, v, d in zip(ys, sq, share):
        ax.text(v, y, f" {v:.1f} dB" + (f"  ({100 * d:.0f} % of the error)" if d >= 0.005 else ""), va="center",
                fontsize=7)
    ax.set_yticks(ys, names, fontsize=7)
    ax.set_xlabel("SQNR vs float (dB, higher is better); red: the 3 largest shares of the output error")
    ax.set_xlim(0, max(sq + [1.0]) * 1.18)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def _memory_rows(out_dir: Path) -> list[tuple[int, str, int, int, str]]:
    """(op index, opcode, weight bytes, activation bytes, output name) per op from model.tflite, if present."""
    p = out_dir / "model.tflite"
    if not p.exists():
        return []
    try:
        from edgeq.graph import parse

        g = parse(p.read_bytes(), str(p))
    except Exception:  # noqa: BLE001 - a report must never fail on a damaged artifact
        return []
    rows = []
    for op in g.operators:
        w = sum(g.main.tensors[i].size_bytes for i in op.inputs if i >= 0 and g.main.tensors[i].is_constant)
        a = sum(g.main.tensors[i].size_bytes for i in op.outputs)
        rows.append((op.index, op.opcode, int(w), int(a), g.main.tensors[op.outputs[0]].name if op.outputs else ""))
    return rows


def _memory_plot(plt, rows) -> str:
    if not rows:
        return ""
    fig, ax = plt.subplots(figsize=(8, 2.8))
    xs = [r[0] for r in rows]
    ax.bar([x - 0.2 for x in xs], [r[2] for r in rows], 0.4, label="weights + biases (flash)", color="#4c78a8")
    ax.bar([x + 0.2 for x in xs], [r[3] for r in rows], 0.4, label="output activation (RAM)", color="#f58518")
    ax.set_xticks(xs, [f"{r[0]}\n{r[1][:10]}" for r in rows], fontsize=6)
    ax.set_ylabel("bytes")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _fig_value(v) -> str:
    if not isinstance(v, (int, float)):
        return _e(v)
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.3f}"


def _bench_rows(bench) -> tuple[list[str], list[list[str]], list[tuple[str, float]]]:
    """Per-op latency rows from a bench result of unknown exact shape (a list of dicts under per_op/ops/layers)."""
    if not isinstance(bench, dict):
        return [], [], []
    ops = None
    for key in ("per_op", "ops", "layers", "op_profile", "profile"):
        if isinstance(bench.get(key), list) and bench[key] and isinstance(bench[key][0], dict):
            ops = bench[key]
            break
    if not ops:
        return [], [], []
    keys = list(ops[0].keys())
    tkey = next((k for k in keys if any(s in k for s in ("_ms", "_us", "cycles", "instructions", "time"))), None)
    name_key = next((k for k in keys if k in ("name", "op", "opcode", "node")), keys[0])
    rows = [[_e(o.get(k)) if not isinstance(o.get(k), float) else f"{o[k]:.4g}" for k in keys] for o in ops]
    series = [(str(o.get(name_key)), float(o.get(tkey) or 0)) for o in ops] if tkey else []
    return keys, rows, series


def _bench_plot(plt, series) -> str:
    if not series:
        return ""
    fig, ax = plt.subplots(figsize=(8, 0.26 * len(series) + 1.0))
    ys = list(range(len(series)))[::-1]
    ax.barh(ys, [v for _, v in series], color="#b279a2")
    ax.set_yticks(ys, [n[:40] for n, _ in series], fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def _weights_html(w: dict) -> str:
    """`edgeq convert --weights`: per op scheme, bits, int8 vs packed bytes; float vs int8 vs packed accuracy."""
    parts = [f"<h2>Weights: {_e(w['scheme'])}</h2>", f"<p>{_e(w.get('tflite', ''))}.</p>"]
    rows = [[f"#{x['op_index']}", _e(x["opcode"]), _e(x.get("layer") or "–"), _e(x["scheme"]), str(x["bits"]),
             str(x["levels"]), _num(x["weights"]), _num(x["int8_bytes"]), _num(x.get("packed_bytes"))]
            for x in w["layers"]]
    if w.get("packed_bytes") is not None:
        rows.append(["", "<b>total</b>", "", "", "", "", "", _num(w["int8_bytes"]),
                     f"{w['packed_bytes']:,} ({w['packed_bytes'] / max(w['int8_bytes'], 1):.2f}x)"])
    parts.append(_table(["op", "opcode", "Keras layer", "scheme", "bits", "int8 values / channel (max)", "weights",
                         "int8 bytes", "packed bytes"], rows, {4, 5, 6, 7, 8}))
    ft = w.get("fine_tune")
    if ft:
        c = ft["check"]
        fmt = _pct if c["metric"] == "accuracy" else (lambda v: _num(v, "{:.6g}"))
        parts.append(f"<p>Fine-tuning under the constraint: {ft['epochs']} epoch(s), loss {_e(ft['loss'])}; int8 "
                     f"{_e(c['metric'])} on {c['samples']} held-out samples ({_e(c['data'])}, {_e(c['runtime'])}): "
                     f"post-training {fmt(c['ptq'])}, fine-tuned {fmt(c['fine_tuned'])}; kept <b>{_e(ft['kept'])}</b>."
                     "</p>")
    acc = w.get("accuracy")
    if acc:
        parts.append(_table(["model", "runs on", "accuracy", "output SQNR vs float (dB)"],
                            [["float", "Keras", _pct(acc.get("float_accuracy")), "–"],
                             ["int8 (no clustering)", _e(acc["int8_runtime"]), _pct(acc.get("int8_accuracy")),
                              _num(acc.get("int8_sqnr_db"), "{:.2f}")],
                             [f"{_e(w['scheme'])} packed", "edgeq-c (host build)", _pct(acc.get("packed_accuracy")),
                              _num(acc.get("packed_sqnr_db"), "{:.2f}")]], {2, 3}))
        eq = acc.get("packed_equals_int8")
        if eq is not None:
            parts.append(f"<p>Packed generated C output equals the int8 model on {_e(acc['int8_runtime'])} byte for "
                         f"byte: " + ("<span class='ok'>yes</span>" if eq else "<span class='bad'>NO</span>") + "</p>")
    return "".join(parts)


def render(rep: dict, out_dir: Path | None = None) -> str:
    """The report as one HTML string."""
    plt = _plt()
    m, t, qz, tf = rep.get("model", {}), rep.get("target", {}), rep.get("quantization", {}), rep.get("tflite", {})
    chk = rep.get("check") or {}
    passed = chk.get("passed")
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>edgeq report: {_e(m.get('path'))}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>edgeq report: {_e(m.get('path'))} → {_e(t.get('name'))}</h1>",
             f"<div class='muted'>{_e(t.get('description', ''))}</div>", "<h2>Summary</h2>"]
    kpis = [("check", f"<span class='{'ok' if passed else 'bad'}'>{'PASSED' if passed else 'FAILED'}</span>"),
            ("mode", _e(qz.get("mode"))), ("I/O", _e(qz.get("io_dtype"))),
            (".tflite", _num(tf.get("tflite_bytes")) + " B"), ("weights", _num(tf.get("weight_bytes")) + " B"),
            ("flash est.", _num(chk.get("flash_estimate_bytes")) + " B"),
            ("RAM est.", _num(chk.get("ram_estimate_bytes")) + " B")]
    ev = rep.get("evaluation")
    if ev and ev.get("accuracy_drop_pp") is not None:
        kpis.append(("accuracy drop", f"{ev['accuracy_drop_pp']:.2f} pp"))
    if ev and ev.get("outputs"):
        kpis.append(("output SQNR", _num(ev["outputs"][0].get("sqnr_db"), "{:.1f}") + " dB"))
    parts.append("".join(f"<div class='kpi'>{_e(k)}<b>{v}</b></div>" for k, v in kpis))
    parts.append(f"<p>Model <code>{_e(m.get('path'))}</code> ({_e(m.get('kind'))}, sha256 "
                 f"<code>{_e(str(m.get('sha256', ''))[:16])}</code>); "
                 f"{'per-channel' if qz.get('per_channel') else 'per-tensor'} weights; runtime "
                 f"{_e(t.get('runtime'))}.</p>")

    parts.append("<h2>Accuracy: float vs quantized</h2>")
    if not ev:
        parts.append("<p class='muted'>No evaluation data given (<code>--eval DATA</code>).</p>")
    else:
        parts.append(f"<p>{_num(ev.get('samples'))} samples from <code>{_e(ev.get('source'))}</code>, quantized model "
                     f"run on <b>{_e(ev.get('runtime'))}</b>.</p>")
        rows = []
        if ev.get("float_accuracy") is not None:
            rows.append(["top-1 accuracy", _pct(ev["float_accuracy"]), _pct(ev["quant_accuracy"]),
                         f"{ev['accuracy_drop_pp']:.2f} pp"])
        if ev.get("float_top_k_accuracy") is not None:
            k = ev.get("top_k")
            rows.append([f"top-{k} accuracy", _pct(ev["float_top_k_accuracy"]), _pct(ev["quant_top_k_accuracy"]),
                         f"{100 * (ev['float_top_k_accuracy'] - ev['quant_top_k_accuracy']):.2f} pp"])
        if ev.get("float_target_mse") is not None:
            rows.append(["MSE vs targets", _num(ev["float_target_mse"], "{:.6g}"),
                         _num(ev["quant_target_mse"], "{:.6g}"),
                         _num(ev["quant_target_mse"] - ev["float_target_mse"], "{:+.6g}")])
        if ev.get("float_target_mae") is not None:
            rows.append(["MAE vs targets", _num(ev["float_target_mae"], "{:.6g}"),
                         _num(ev["quant_target_mae"], "{:.6g}"),
                         _num(ev["quant_target_mae"] - ev["float_target_mae"], "{:+.6g}")])
        if ev.get("top1_agreement") is not None:
            rows.append(["top-1 agreement with float", "", _pct(ev["top1_agreement"]), ""])
        if rows:
            parts.append(_table(["metric", "float", "quantized", "difference"], rows, {1, 2, 3}))
        if plt is not None:
            parts.append(_accuracy_plot(plt, ev))
        parts.append(_table(["output", "max abs error", "mean abs error", "MSE", "SQNR (dB)"],
                            [[_e(o["name"]), _num(o["max_abs_error"], "{:.5g}"), _num(o["mean_abs_error"], "{:.5g}"),
                              _num(o.get("mse"), "{:.5g}"), _num(o["sqnr_db"], "{:.2f}")] for o in ev["outputs"]],
                            {1, 2, 3, 4}))
        h = ev.get("error_histogram")
        if h:
            parts.append("<h2>Output error histogram</h2>")
            parts.append(_hist_plot(plt, h) if plt is not None else _table(
                ["from", "to", "count"], [[f"{a:.4g}", f"{b:.4g}", str(c)] for a, b, c in
                                          zip(h["bin_edges"][:-1], h["bin_edges"][1:], h["counts"])], {0, 1, 2}))

    lw = rep.get("layerwise")
    parts.append("<h2>Per-layer error</h2>")
    if not lw:
        parts.append("<p class='muted'>Not computed (needs evaluation data and the float source model).</p>")
    else:
        from edgeq.quality.layerwise import LAYERWISE_LEGEND

        parts.append(f"<p>{_e(LAYERWISE_LEGEND)} Largest share first in the table.</p>")
        if plt is not None:
            parts.append(_layer_plot(plt, lw))
        parts.append(_table(["op", "opcode", "Keras layer", "dtype", "SQNR (dB)", "share of output error",
                             "max abs error"],
                            [[str(d["op_index"]), _e(d["opcode"]), _e(d.get("layer") or "–"), _e(d["dtype"]),
                              _num(d["sqnr_db"], "{:.2f}"),
                              "–" if d.get("error_share") is None else f"{100 * d['error_share']:.1f} %",
                              _num(d["max_abs_error"], "{:.4g}")] for d in lw], {0, 4, 5, 6}))

    w = rep.get("weights")
    if w:
        parts.append(_weights_html(w))

    sr = rep.get("search")
    if sr:
        parts.append("<h2>Configuration search</h2>")
        cands = sr.get("candidates", sr) if isinstance(sr, dict) else sr
        parts.append(_table(["", "candidate", "accuracy", "drop (pp)", "SQNR (dB)", "size (B)", "est. latency (ms)",
                             "budget"],
                            [["★" if c.get("chosen") else "", _e(c["name"]), _pct(c.get("accuracy")),
                              _num(c.get("accuracy_drop_pp"), "{:.2f}"), _num(c.get("sqnr_db"), "{:.1f}"),
                              _num(c.get("tflite_bytes")), _num(c.get("estimated_latency_ms"), "{:.3f}"),
                              "<span class='ok'>meets</span>" if c.get("met_budget") else
                              f"<span class='bad'>{_e(c.get('error') or 'misses')}</span>"] for c in cands],
                            {2, 3, 4, 5, 6}))

    parts.append("<h2>Memory map</h2>")
    mem = _memory_rows(out_dir) if out_dir else []
    if mem:
        if plt is not None:
            parts.append(_memory_plot(plt, mem))
        parts.append(_table(["op", "opcode", "weights (B)", "output activation (B)", "output tensor"],
                            [[str(r[0]), _e(r[1]), _num(r[2]), _num(r[3]), f"<code>{_e(r[4][:70])}</code>"]
                             for r in mem], {0, 2, 3}))
    else:
        ops = tf.get("operators") or []
        parts.append(_table(["op", "opcode", "inputs", "outputs"],
                            [[str(o["index"]), _e(o["op"]), _e(", ".join(str(i) for i in o["inputs"] if i)[:80]),
                              _e(", ".join(o["outputs"])[:80])] for o in ops], {0}))
    tflm = rep.get("tflm")
    cg = rep.get("codegen")
    if tflm or cg:
        rows = []
        if tflm and tflm.get("arena_measured_bytes"):
            rows.append(["TFLM arena (measured)", _num(tflm["arena_measured_bytes"])])
        if cg and cg.get("arena_bytes") is not None:
            rows.append(["generated C arena", _num(cg["arena_bytes"])])
        if cg and cg.get("min_activation_bytes") is not None:
            rows.append(["minimum activation RAM", _num(cg["min_activation_bytes"])])
        if rows:
            parts.append(_table(["arena", "bytes"], rows, {1}))
        if cg and cg.get("ops"):
            keys = list(cg["ops"][0].keys())
            parts.append("<p>Generated C, per op:</p>" + _table(keys, [[_e(o.get(k)) for k in keys]
                                                                       for o in cg["ops"]]))

    bench = rep.get("bench")
    if bench:
        parts.append(f"<h2>Benchmark on {_e(bench.get('device'))}</h2>")
        figs = [f for f in bench.get("figures") or [] if isinstance(f, dict)]
        if figs:
            parts.append(_table(["figure", "value", "unit", "kind", "how"],
                                [[_e(f.get("name")), _fig_value(f.get("value")), _e(f.get("unit")), _e(f.get("kind")),
                                  _e(f.get("method"))] for f in figs]))
        keys, rows, series = _bench_rows(bench)
        if rows:
            parts.append("<h3>Per op</h3>")
            if plt is not None and series:
                parts.append(_bench_plot(plt, series))
            parts.append(_table(keys, rows))

    parts.append("<h2>Check results</h2>")
    findings = chk.get("findings") or []
    if not findings:
        parts.append("<p class='ok'>All rules passed.</p>")
    else:
        parts.append(_table(["severity", "op", "message", "fix"],
                            [[f"<span class='{'bad' if f.get('severity') == 'error' else 'warn'}'>"
                              f"{_e(f.get('severity'))}</span>",
                              _e(f"#{f['op_index']} {f.get('opcode')}" if f.get("op_index") is not None else ""),
                              _e(f.get("message")), _e(f.get("hint") or "")] for f in findings]))
    if rep.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in rep["warnings"]) + "</ul>")
    tools = rep.get("tools") or {}
    parts.append("<p class='muted'>" + _e(", ".join(f"{k} {v}" for k, v in tools.items() if v)) +
                 (" · plots need matplotlib (pip install 'edgeq[report]')" if plt is None else "") + "</p>")
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)


def write_html(rep: dict, out_dir: Path) -> Path:
    """Write `out_dir/report.html` and return its path."""
    out_dir = Path(out_dir)
    path = out_dir / "report.html"
    path.write_text(render(rep, out_dir), encoding="utf-8")
    return path
