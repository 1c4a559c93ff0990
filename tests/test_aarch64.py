"""aarch64 emulator runner: real qemu-aarch64 on the real cached sysroot, outputs vs host LiteRT bit for bit.

The sysroot is built once by `edgeq emulator setup` (CI runs it before the tests) into the default cache dir or
$EDGEQ_AARCH64_SYSROOT; the fixture reuses it, or builds it (about 20 s, ~160 MB, needs the Debian mirror and
PyPI).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeq.errors import DeviceError, UsageError
from edgeq.harness import run_bench
from edgeq.harness.aarch64 import CPUS, cpuinfo_text, default_cache_dir, run_python, setup_emulator, sysroot_info
from edgeq.target import load_target

FIXTURES = Path(__file__).parent / "fixtures" / "mobile"

needs_qemu = pytest.mark.skipif(not (shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")),
                                reason="needs qemu-user-static")


@pytest.fixture(scope="module")
def sysroot() -> Path:
    pytest.importorskip("ai_edge_litert")
    return setup_emulator(default_cache_dir())


def test_cpuinfo_matches_the_boards():
    a72 = cpuinfo_text("cortex-a72")
    assert a72.count("processor\t:") == 4 and "CPU part\t: 0xd08" in a72 and "Raspberry Pi 4" in a72
    a76 = cpuinfo_text("cortex-a76")
    assert "CPU part\t: 0xd0b" in a76 and "asimddp" in a76 and "fphp" in a76 and "Raspberry Pi 5" in a76
    assert "max" not in CPUS


def test_not_set_up_is_a_clear_error(tmp_path):
    with pytest.raises(DeviceError, match="not set up") as e:
        run_bench(str(FIXTURES / "tiny_int8.tflite"), load_target("rpi4"), "emulator", cache_dir=str(tmp_path))
    assert "edgeq emulator setup" in e.value.hint


@needs_qemu
@pytest.mark.slow
def test_cpu_max_is_refused(sysroot):
    with pytest.raises(UsageError, match="never `max`"):
        run_python(sysroot, "max", ["-c", "pass"], 60)


@needs_qemu
@pytest.mark.slow
@pytest.mark.parametrize("target,model", [("rpi4", "tiny_int8"), ("rpi5", "tiny_int8"),
                                          ("rpi4", "tiny_int8_floatio")])
def test_emulated_int8_is_bit_exact_with_host(sysroot, target, model):
    t = load_target(target)
    r = run_bench(str(FIXTURES / f"{model}.tflite"), t, "emulator", runs=2)
    assert r.device == f"emulator:{t.emulator.qemu_cpu}"
    assert r.details["machine"] == "aarch64"
    assert r.details["xnnpack_applied"] == "yes"  # the fake /proc/cpuinfo lets XNNPACK initialise
    assert ("Cortex-A72" if target == "rpi4" else "Cortex-A76") in r.details["cpu_model"]
    assert r.output_matches_reference is True and r.details["bit_exact"] == "true"
    lat = r.figure("latency_p50_ms")
    assert lat.kind == "emulated" and "NOT predictive" in lat.method
    assert r.figure("energy_uj") is None
    assert any("says nothing about device latency" in n for n in r.notes)
    if sysroot_info(sysroot).get("instruction_counting") == "yes":
        ins = r.figure("instructions")
        assert ins.kind == "emulated" and ins.value > 1000 and "not cycles" in ins.method


@needs_qemu
@pytest.mark.slow
def test_emulated_float_within_tolerance(sysroot):
    r = run_bench(str(FIXTURES / "tiny_float.tflite"), load_target("rpi5"), "emulator", runs=1)
    assert r.output_matches_reference is True
    assert float(r.details["max_abs_diff"]) < 1e-5


@needs_qemu
@pytest.mark.slow
def test_builtin_kernels_in_emulator_match_host(sysroot):
    """Same check with XNNPACK off on both sides (LiteRT's builtin optimized int8 kernels)."""
    import numpy as np

    from edgeq.harness.aarch64 import run_emulated
    from edgeq.harness.host import run_host
    from edgeq.harness.linux import write_inputs

    model = FIXTURES / "tiny_int8.tflite"
    inputs = write_inputs(model, sysroot / "test-inputs.npz", seed=7)
    emu = run_emulated(model, inputs, cpu="cortex-a72", cache_dir=sysroot, runs=1, kernels="builtin")
    host = run_host(model, inputs, runs=1, kernels="builtin")
    assert emu.delegate_applied is False
    assert np.array_equal(emu.outputs[0].array(), host.outputs[0].array())
    inputs.unlink()


@needs_qemu
@pytest.mark.slow
def test_instruction_counts_are_deterministic_and_cpu_specific(sysroot):
    """The TCG plugin counts the same instructions on every run; XNNPACK picks other kernels on the A76."""
    if sysroot_info(sysroot).get("instruction_counting") != "yes":
        pytest.skip(f"instruction counting unavailable: {sysroot_info(sysroot).get('instruction_counting')}")
    model = str(FIXTURES / "tiny_int8.tflite")
    a72 = [run_bench(model, load_target("rpi4"), "emulator", runs=1).figure("instructions").value
           for _ in range(2)]
    a76 = run_bench(model, load_target("rpi5"), "emulator", runs=1).figure("instructions").value
    assert abs(a72[0] - a72[1]) <= 0.01 * a72[0]
    assert a76 < a72[0]  # SDOT kernels (dotprod) on the Cortex-A76: fewer instructions per inference


@needs_qemu
def test_manifest_records_versions(sysroot):
    info = sysroot_info(sysroot)
    assert info["wheels"]["ai-edge-litert"] and info["size_bytes"] > 50_000_000
