"""CMake integration: `edgeq cmake`, edgeq_add_model() and the examples/cortex-m-cmake firmware run in QEMU.

The example is copied the way a fresh clone lays it out (cortex-m-cmake next to cortex-m-firmware, whose main.c
and model it shares), configured with its arm-none-eabi toolchain file, built (the conversion runs as a custom
command), run on mps2-an386, then checked to rebuild nothing when nothing changed and to reconvert when the
calibration data does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

EXAMPLES = ROOT / "examples"
EDGEQ = Path(sys.executable).with_name("edgeq")


def test_edgeq_cmake_prints_the_module():
    r = run_cli("cmake")
    assert r.returncode == 0, r.stderr
    p = Path(r.stdout.strip())
    assert p.name == "edgeq.cmake" and p.is_file()
    text = p.read_text()
    assert "function(edgeq_add_model" in text and "function(edgeq_add_gate" in text


def _cmake(*args, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["cmake", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def example(tmp_path):
    for tool in ("cmake", "arm-none-eabi-gcc", "qemu-system-arm"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    if not EDGEQ.exists():
        pytest.skip("the edgeq command is not installed next to this Python")
    for name in ("cortex-m-cmake", "cortex-m-firmware"):
        shutil.copytree(EXAMPLES / name, tmp_path / name, ignore=shutil.ignore_patterns("build"))
    return tmp_path / "cortex-m-cmake"


def _configure(src: Path, build: Path, *extra: str) -> subprocess.CompletedProcess:
    return _cmake("-S", src, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={src / 'arm-none-eabi.cmake'}",
                  f"-DEDGEQ_EXECUTABLE={EDGEQ}", *extra, cwd=src)


def test_bad_model_path_fails_at_configure_time(example):
    r = _configure(example, example / "build", "-DDIGITS_MODEL=nope/missing.keras")
    assert r.returncode != 0
    err = " ".join(r.stderr.split())  # CMake wraps its messages
    assert "edgeq_add_model: MODEL" in err and "nope/missing.keras not found (looked for" in err, err


@pytest.mark.slow
@pytest.mark.qemu
def test_cmake_example_builds_runs_and_regenerates(example):
    pytest.importorskip("tensorflow")
    build = example / "build"
    r = _configure(example, build)
    assert r.returncode == 0, r.stdout + r.stderr
    r = _cmake("--build", build, cwd=example)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "edgeq: converting" in r.stdout and (build / "model" / "edgeq_model.c").is_file()

    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                          "enable=on,target=native", "-icount", "shift=0", "-kernel", build / "firmware.elf"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "prediction: 0 (label 0)" in run.stdout + run.stderr  # semihosting writes to stderr

    r = _cmake("--build", build, cwd=example)  # nothing changed: no conversion, no compilation
    assert r.returncode == 0 and "edgeq:" not in r.stdout and "Building C object" not in r.stdout, r.stdout
    (example.parent / "cortex-m-firmware" / "model" / "calib.npz").touch()
    r = _cmake("--build", build, "--", "-n", cwd=example)  # what make would run now (dry run: no conversion)
    assert f"{EDGEQ} convert" in r.stdout and "--calib" in r.stdout, r.stdout
