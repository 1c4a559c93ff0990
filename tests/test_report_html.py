"""report.html: self-contained, deterministic, every section present; rendered by headless Chromium when installed."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from edgeq import report_html


def _report() -> dict:
    return {
        "schema": "edgeq.report/1",
        "tools": {"edgeq": "0.1.0", "tensorflow": "2.21.0"},
        "model": {"path": "model.keras", "kind": "keras", "loader": "keras", "sha256": "ab" * 32},
        "target": {"name": "cortex-m4", "description": "Cortex-M4F <test & escape>", "runtime": "tflm"},
        "quantization": {"mode": "int8", "io_dtype": "int8", "per_channel": True},
        "tflite": {"tflite_bytes": 18040, "weight_bytes": 10768, "operators": [
            {"index": 0, "op": "CONV_2D", "inputs": ["in", "w", "b"], "outputs": ["conv"]},
            {"index": 1, "op": "FULLY_CONNECTED", "inputs": ["conv", "w2", "b2"], "outputs": ["out"]}]},
        "check": {"passed": False, "errors": 1, "warnings": 1, "flash_estimate_bytes": 111040,
                  "ram_estimate_bytes": 6416, "ram_estimate_method": "tflm",
                  "findings": [{"severity": "error", "op_index": 1, "opcode": "FULLY_CONNECTED",
                                "message": "op <unsupported>", "hint": "use int8"},
                               {"severity": "warning", "op_index": None, "opcode": None, "message": "big arena",
                                "hint": None}]},
        "evaluation": {"source": "eval.npz", "samples": 450, "runtime": "tflm", "top1_agreement": 0.9956,
                       "float_accuracy": 0.9467, "quant_accuracy": 0.9444, "accuracy_drop_pp": 0.22,
                       "top_k": 5, "float_top_k_accuracy": 0.998, "quant_top_k_accuracy": 0.998,
                       "outputs": [{"name": "digit", "max_abs_error": 0.08, "mean_abs_error": 0.0017, "mse": 5e-5,
                                    "sqnr_db": 32.5}],
                       "error_histogram": {"bin_edges": [-0.1 + 0.05 * i for i in range(5)],
                                           "counts": [1, 10, 4000, 3]}},
        "layerwise": [{"op_index": 0, "opcode": "CONV_2D", "tensor": "conv", "dtype": "int8", "sqnr_db": 45.2,
                       "max_abs_error": 0.02, "layer": "conv2d", "sqnr_drop_db": 11.5},
                      {"op_index": 1, "opcode": "FULLY_CONNECTED", "tensor": "out", "dtype": "int8",
                       "sqnr_db": float("inf"), "max_abs_error": 0.0, "layer": None, "sqnr_drop_db": 0.0}],
        "search": [{"name": "int8 per-channel", "accuracy": 0.9444, "accuracy_drop_pp": 0.22, "sqnr_db": 32.5,
                    "tflite_bytes": 18040, "estimated_latency_ms": 4.99, "met_budget": True, "chosen": True,
                    "error": None}],
        "bench": {"device": "qemu:mps2-an386",
                  "figures": [{"name": "instructions", "value": 123456.0, "unit": "instructions", "kind": "emulated",
                               "method": "SysTick x 40"}],
                  "per_op": [{"index": 0, "opcode": "CONV_2D", "macs": 900, "instructions": 12345},
                             {"index": 1, "opcode": "FULLY_CONNECTED", "macs": 40, "instructions": 678}]},
        "codegen": {"arena_bytes": 3072, "ops": [{"index": 0, "opcode": "CONV_2D", "macs": 9216}]},
        "tflm": {"arena_measured_bytes": 6416},
        "warnings": ["a <warning>"],
    }


def test_sections_escaping_and_determinism(tmp_path):
    pytest.importorskip("matplotlib")
    rep = _report()
    p = report_html.write_html(rep, tmp_path)
    text = p.read_text()
    for section in ("Summary", "Accuracy: float vs quantized", "Output error histogram", "Per-layer error",
                    "Configuration search", "Memory map", "Benchmark on qemu:mps2-an386", "Check results",
                    "Warnings"):
        assert f"<h2>{section}</h2>" in text, section
    assert text.count("<svg") >= 4  # accuracy, histogram, per-layer, latency
    assert "123,456" in text and "SysTick x 40" in text and "<h3>Per op</h3>" in text
    assert "&lt;unsupported&gt;" in text and "<unsupported>" not in text
    assert "FAILED" in text and "94.67 %" in text
    # self-contained: no scripts, no fetched resources
    assert "<script" not in text
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert report_html.write_html(rep, tmp_path).read_text() == text  # byte-identical


def test_minimal_report_without_evaluation(tmp_path):
    rep = _report()
    for k in ("evaluation", "layerwise", "search", "bench", "codegen", "tflm"):
        rep.pop(k)
    rep["warnings"] = []
    rep["check"]["findings"] = []
    text = report_html.write_html(rep, tmp_path).read_text()
    assert "No evaluation data given" in text and "All rules passed" in text


def _png_stats(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct row checksums) of a PNG without PIL: enough to tell a rendered page from a blank."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = len(raw) // h
    return w, h, len({zlib.crc32(raw[i * stride + 1 : (i + 1) * stride]) for i in range(h)})


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium not installed (apt-get install chromium)")
def test_renders_in_headless_chromium(tmp_path):
    pytest.importorskip("matplotlib")
    p = report_html.write_html(_report(), tmp_path)
    shot = tmp_path / "shot.png"
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as prof:
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--no-first-run", f"--user-data-dir={prof}",
                        f"--screenshot={shot}", "--window-size=1200,2400", p.as_uri()],
                       capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    w, h, distinct_rows = _png_stats(shot)
    assert (w, h) == (1200, 2400)
    assert distinct_rows > 300  # text, tables and plots, not a blank page


def test_markdown_bench_table_shows_modelled_cycles_per_op():
    """report.md: with the Cortex-M timing model's per-op cycles, the table gives cycles, MAC/cycle and each op's
    share of the modelled cycles (shares add to 100 %); without them, MAC/instruction as before."""
    from edgeq import report

    bench = _report()["bench"]
    plain = "\n".join(report.bench_markdown(bench))
    assert "| op | MACs | instructions | MAC/instr |" in plain and "cycles (est.)" not in plain
    bench["per_op"][0]["cycles"] = 3000
    bench["per_op"][1]["cycles"] = 1000
    text = "\n".join(report.bench_markdown(bench))
    assert "cycles (est.) | MAC/cycle | share |" in text
    assert "| #0 CONV_2D | 900 | 12,345 | 3,000 | 0.300 | 75.0 % |" in text
    assert "| #1 FULLY_CONNECTED | 40 | 678 | 1,000 | 0.040 | 25.0 % |" in text
