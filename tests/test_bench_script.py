"""benchmarks/mlperf_tiny.py (`make bench`): the five Cortex-M cores it runs by default, their silicon anchors, the
TFLM columns where no reference exists, and the every-activation bit-exact check (one small model on QEMU)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("edgeq_mlperf_tiny", ROOT / "benchmarks" / "mlperf_tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_default_targets_are_cortexm_profiles_with_their_silicon_anchors(bench):
    """The silicon column looks figures up by the profile's [cpu] core: a renamed core or JSON key would silently
    empty it."""
    from edgeq.target import load_target

    silicon = json.loads(bench.SILICON.read_text())
    cores = {}
    for name in bench.DEFAULT_TARGETS:
        t = load_target(name)
        assert t.family == "cortex-m" and t.emulator.qemu_machine, name
        cores[name] = silicon.get(t.cpu.core, {}).get("best_cycles", {})
    assert {"cortex-m4", "cortex-m55", "cortex-m7", "cortex-m33", "cortex-m0plus"} <= set(bench.DEFAULT_TARGETS)
    assert bench.DEFAULT_TARGETS[0] == "cortex-m4"  # its rows stay the JSON's top-level "models"
    assert set(cores["cortex-m4"]) == set(bench.MODELS)
    assert "kws_ds_cnn" in cores["cortex-m7"] and "kws_ds_cnn" in cores["cortex-m33"]
    for name in bench.DEFAULT_TARGETS:  # every TFLM reference file named exists
        if name in bench.REFERENCES:
            assert (bench.REFERENCE_DIR / bench.REFERENCES[name]).is_file()


@pytest.mark.parametrize(
    "args, named",
    [
        (["--targets", "rpi4"], "rpi4"),
        (["--targets", "no-such-core"], "no-such-core"),
        (["--targets", "cortex-m"], "cortex-m"),
        (["--reference", "m4.json"], "--reference"),  # one core's TFLM figures for five cores
    ],
)
def test_bad_targets_are_usage_errors_before_any_work(bench, args, named, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        bench.main([*args, "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.skipif(not shutil.which("qemu-system-arm") or not shutil.which("arm-none-eabi-gcc"),
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_ad_on_m0plus_and_m33_every_activation_bit_exact(bench, tmp_path, capsys):
    """The FC autoencoder (the cheapest model) on the M0+ (no DSP, ARMv6-M) and the M33: figures, '-' TFLM columns,
    and the tapped model's 10 outputs (9 ReLU + the last Dense) byte-identical to tflite-micro."""
    out = tmp_path / "out"
    rc = bench.main(["--models", "ad", "--targets", "cortex-m0plus,cortex-m33", "--no-per-op", "--verify", "1",
                     "--out", str(out)])
    assert rc == 0, capsys.readouterr().err[-3000:]
    doc = json.loads((out / "mlperf_tiny.json").read_text())
    assert list(doc["targets"]) == ["cortex-m0plus", "cortex-m33"] and doc["target"] == "cortex-m0plus"
    m0, m33 = (doc["targets"][t]["models"][0] for t in ("cortex-m0plus", "cortex-m33"))
    for r in (m0, m33):
        assert r["model"] == "ad_fc_autoencoder" and r["output_matches_tflite_micro"] is True
        assert r["macs"] == 640 * 128 + 3 * 128 * 128 + 128 * 8 + 8 * 128 + 3 * 128 * 128 + 128 * 640
        assert r["cycles_estimated"] > r["instructions"] // 2 and r["arena_bytes"] > 0
    assert m0["instructions"] > 3 * m33["instructions"]  # no SMLAD, no 32-bit loads of packed weights on ARMv6-M
    for t in ("cortex-m0plus", "cortex-m33"):
        assert doc["targets"][t]["reference"] is None and "TFLM" in doc["targets"][t]["reference_what"]
    checks = doc["bit_exact_every_activation"]
    assert [(c["target"], c["outputs_checked"], c["output_matches_tflite_micro"]) for c in checks] == [
        ("cortex-m0plus", 10, True), ("cortex-m33", 10, True)]
    assert checks[0]["int8_values_checked"] == 8 * 128 + 8 + 640  # eight 128-wide ReLUs, the 8-wide code, 640 out
    md = (out / "mlperf_tiny.md").read_text()
    assert "No published MLPerf Tiny silicon figures for cortex-m0plus" in md
    assert "STM32U575" in md  # the M33's silicon board (KWS only: this AD row shows '-')
    rows = [line.split(" | ") for line in md.splitlines() if line.startswith("| ad_fc_autoencoder | 264,192 | ")]
    assert len(rows) == 2 and all(r[3] == "-" and r[4] == "-" for r in rows)  # instr TFLM, edgeq/TFLM
