"""README commands as written (issue 17): `edgeq lowbit MODEL --scheme ternary` without -o, and `edgeq search -o`
writing the best found (and its candidate table) even when the budget is not met, exit 3. Real conversions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (DIGITS / "model.keras").exists(), reason="digits example")]


def test_lowbit_defaults_to_build_folder(cli, tmp_path):
    r = cli("lowbit", DIGITS / "model.keras", "--scheme", "ternary", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "build" / "model-ternary"
    assert (out / "model_ternary.keras").is_file() and (out / "weights_ternary.npz").is_file()
    assert "wrote build/model-ternary/model_ternary.keras" in r.stdout


def test_search_writes_best_found_when_budget_missed(cli, tmp_path):
    out = tmp_path / "best.tflite"
    r = cli("search", DIGITS / "model.keras", "-t", "cortex-m4", "--calib", DIGITS / "calib.npz", "--eval",
            DIGITS / "eval.npz", "--min-sqnr", "200", "-o", out)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert f"wrote the best found to {out} (it does NOT meet the budget)" in r.stderr
    table = json.loads(out.with_suffix(".search.json").read_text())
    assert table["budget_met"] is False and table["target"] == "cortex-m4" and len(table["candidates"]) >= 2
    assert out.read_bytes()[4:8] == b"TFL3"
    best = max(table["candidates"], key=lambda c: c["sqnr_db"] or 0)
    assert table["written"] == best["name"] and out.stat().st_size == best["tflite_bytes"]
    # the same command again refuses to overwrite both files without --force
    r2 = cli("search", DIGITS / "model.keras", "-t", "cortex-m4", "--calib", DIGITS / "calib.npz", "--eval",
             DIGITS / "eval.npz", "--min-sqnr", "200", "-o", out)
    assert r2.returncode == 2 and "file exists" in r2.stderr
