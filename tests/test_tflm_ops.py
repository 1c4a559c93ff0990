"""The Cortex-M profile's op x type table is measured: the committed probe models (benchmarks/tflm_ops.py, one tiny
model per op and activation type) are re-run on the installed tflite-micro and must agree with targets/cortex-m.toml.
When tflite-micro gains or loses a kernel, this fails: re-run `python benchmarks/tflm_ops.py` and commit the diff."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgeq import target as tg

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("tflite_micro")


def _probe_module():
    spec = importlib.util.spec_from_file_location("tflm_ops", ROOT / "benchmarks" / "tflm_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def measured():
    mod = _probe_module()
    return mod, mod.measure()


def test_probe_models_exist_for_both_modes(measured):
    _, table = measured
    assert len(table["int8"]) >= 40 and len(table["int16x8"]) >= 30
    # the ops issue 15 names as int16-capable in TFLM are among the measured ones
    assert {"SPLIT", "SPLIT_V", "UNPACK", "PACK", "TRANSPOSE_CONV", "RESIZE_NEAREST_NEIGHBOR", "SLICE", "RELU",
            "BATCH_MATMUL", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM"} <= {o for o, ok in table["int16x8"].items()
                                                                           if ok}


def test_profile_int16x8_ops_are_what_tflite_micro_runs(measured):
    mod, table = measured
    t = tg.load_target("cortex-m4")
    assert sorted(t.quantization.int16x8_ops) == mod.int16x8_list(table), (
        "targets/cortex-m.toml int16x8_ops disagrees with the installed tflite-micro; "
        "run `python benchmarks/tflm_ops.py` and commit the profile")


def test_profile_ops_cover_every_int8_probe_that_runs(measured):
    _, table = measured
    ops = set(tg.load_target("cortex-m4").ops)
    runs = {o for o, ok in table["int8"].items() if ok}
    assert runs <= ops, f"tflite-micro runs {sorted(runs - ops)} but the profile's [ops] lacks them"


def test_op_without_kernel_is_not_in_profile(measured):
    mod, table = measured
    ops = set(tg.load_target("cortex-m4").ops)
    # TILE (what Keras 3 lowers UpSampling2D to) has no TFLM kernel: the profile must not claim it
    assert table["int8"]["TILE"] is False and "TILE" not in ops
    ok, why = mod.runs_on_tflm(mod.fixture_path("TILE", "int8").read_bytes())
    assert not ok and "TILE" in why


def test_profile_and_probe_disagreement_is_detected(measured, tmp_path):
    mod, table = measured
    prof = tmp_path / "cortex-m.toml"
    prof.write_text((ROOT / "targets" / "cortex-m.toml").read_text())
    mod.write_profile(["ADD"], prof)
    text = prof.read_text()
    assert 'int16x8_ops = ["ADD"]' in text and "[ops]" in text and "SPLIT = 99" in text
    assert mod.int16x8_list(table) != ["ADD"]


def test_docs_ops_table_is_current(measured):
    mod, table = measured
    doc = (ROOT / "docs" / "ops.md").read_text()
    assert doc == mod.ops_doc(table), "docs/ops.md is stale: run `python benchmarks/tflm_ops.py --docs`"
    assert "| SPLIT | yes | yes | yes | yes | - |" in doc
    assert "| TILE | **no** | **no** | - | - | - |" in doc
