"""Host runner (real LiteRT in a subprocess), device dispatch, reference comparison, energy estimate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import DataError, DeviceError, ModelError, UsageError
from edgeq.harness import run_bench
from edgeq.harness.linux import (
    RUNNER_PATH,
    compare_outputs,
    parse_device,
    parse_runner_output,
    resolve_model,
    write_inputs,
)
from edgeq.harness.power import estimate_energy, open_monitor
from edgeq.target import load_target

FIXTURES = Path(__file__).parent / "fixtures" / "mobile"
INT8 = FIXTURES / "tiny_int8.tflite"
FLOAT = FIXTURES / "tiny_float.tflite"

pytest.importorskip("ai_edge_litert")


def test_host_bench_int8():
    r = run_bench(str(INT8), load_target("rpi4"), "host", runs=10)
    assert r.device == "host"
    p50, p90, mn = (r.figure(n).value for n in ("latency_p50_ms", "latency_p90_ms", "latency_min_ms"))
    assert 0 < mn <= p50 <= p90
    assert r.figure("latency_p50_ms").kind == "measured"
    assert r.figure("peak_rss_bytes").value > r.figure("model_rss_bytes").value >= 0
    assert r.figure("energy_uj") is None  # the profile's power describes a Pi, not this host
    assert r.details["xnnpack_applied"] == "yes" and r.details["runtime"] == "ai_edge_litert"
    assert r.output_matches_reference is True  # XNNPACK vs builtin kernels, within one step
    assert "builtin kernels" in r.details["reference"]


def test_host_bench_float_and_threads():
    r = run_bench(str(FLOAT), load_target("rpi5"), "host", runs=5, threads=2)
    assert r.details["threads"] == "2"
    assert r.output_matches_reference is True


def test_expected_outputs_file(tmp_path):
    from edgeq.harness.host import run_host

    inputs = write_inputs(INT8, tmp_path / "in.npz", seed=3)
    ref = run_host(INT8, inputs, runs=1)
    np.save(tmp_path / "expected.npy", ref.outputs[0].array())
    np.save(tmp_path / "x.npy", np.load(inputs)["input_0"])
    r = run_bench(str(INT8), load_target("rpi4"), "host", runs=2, inputs=str(tmp_path / "x.npy"),
                  expected=str(tmp_path / "expected.npy"))
    assert r.output_matches_reference is True and r.details["bit_exact"] == "true"
    wrong = ref.outputs[0].array().astype(np.int16) + 5
    np.save(tmp_path / "wrong.npy", wrong.astype(np.int8))
    r = run_bench(str(INT8), load_target("rpi4"), "host", runs=1, inputs=str(tmp_path / "x.npy"),
                  expected=str(tmp_path / "wrong.npy"))
    assert r.output_matches_reference is False


def test_runner_script_is_self_contained(tmp_path):
    # The runner is copied alone to devices: it must not import edgeq.
    src = RUNNER_PATH.read_text()
    assert "edgeq" not in "".join(ln for ln in src.splitlines() if ln.startswith(("import", "from")))
    p = subprocess.run([sys.executable, "-I", str(RUNNER_PATH), str(INT8), "--runs", "2", "--kernels", "reference"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    obj = parse_runner_output(p.stdout, p.stderr, "host")
    assert obj["delegate_applied"] is False and obj["runs"] == 2 and obj["outputs"][0]["dtype"] == "int8"
    assert json.loads(p.stdout.split("EDGEQ_RESULT ", 1)[1])["machine"]


def test_bad_inputs_and_options(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(DataError, match="quantize it"):
        write_inputs(INT8, tmp_path / "o.npz", tmp_path / "f.npy")
    np.save(tmp_path / "s.npy", np.zeros((1, 3), np.int8))
    with pytest.raises(DataError, match="shape"):
        write_inputs(INT8, tmp_path / "o.npz", tmp_path / "s.npy")
    with pytest.raises(UsageError, match="did you mean|Did you mean"):
        run_bench(str(INT8), load_target("rpi4"), "host", thread=2)
    with pytest.raises(UsageError, match="unknown device"):
        parse_device("sssh://pi@x")
    with pytest.raises(UsageError, match="adb"):
        run_bench(str(INT8), load_target("android-cpu"), "emulator")
    with pytest.raises(ModelError):
        resolve_model(tmp_path / "missing.tflite")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "model.tflite").write_bytes(INT8.read_bytes())
    assert resolve_model(tmp_path / "build").name == "model.tflite"


def test_corrupt_model_is_a_device_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(INT8.read_bytes()[:200])
    with pytest.raises((DeviceError, ModelError)):
        run_bench(str(bad), load_target("rpi4"), "host", runs=1)


def test_compare_outputs_tolerances():
    a = np.array([1, 2, 3], np.int8)
    assert compare_outputs([a], [a.copy()]).bit_exact
    c = compare_outputs([a], [np.array([1, 2, 4], np.int8)])
    assert c.matches and not c.bit_exact and c.max_abs_diff == 1
    assert not compare_outputs([a], [np.array([1, 2, 6], np.int8)]).matches
    f = np.array([0.5, 0.25], np.float32)
    assert compare_outputs([f], [f + 1e-7]).matches
    assert not compare_outputs([f], [f + 0.1]).matches
    assert not compare_outputs([f], [f, f]).matches


@pytest.mark.parametrize("name", ["rpi4", "rpi5", "android-cpu", "android-nnapi", "android-gpu"])
def test_energy_estimate_is_labelled(name):
    t = load_target(name)
    e = estimate_energy(2.0, t)
    assert e is not None and e.kind == "estimated" and e.unit == "uJ"
    assert e.value == pytest.approx(2.0 * t.energy.active_power_mw)
    assert t.energy.source and "mW" in e.method


def test_power_monitor_without_package_or_hardware():
    from edgeq.errors import DeviceError, ToolMissing

    with pytest.raises(UsageError):
        open_monitor("multimeter")
    for spec in ("joulescope", "ppk2"):
        with pytest.raises((ToolMissing, DeviceError)):
            open_monitor(spec)


@pytest.mark.hardware
def test_power_monitor_on_hardware():
    pytest.skip("needs a Joulescope or PPK2 attached")
