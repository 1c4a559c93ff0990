"""examples/cortex-m-firmware finds edgeq without an activated venv (issue 17: `make -C examples/cortex-m-firmware
run` after `make demo` failed with `edgeq: No such file or directory`). Real make, the real edgeq script; the
generated sources are stubbed as up to date so no conversion runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EDGEQ_SCRIPT = Path(sys.executable).parent / "edgeq"

pytestmark = pytest.mark.skipif(not (shutil.which("make") and EDGEQ_SCRIPT.exists()),
                                reason="needs GNU make and the edgeq console script next to this python")
SHOW = "show-edgeq: ; @echo EDGEQ=$(EDGEQ)"


def _clone_like(tmp: Path, with_venv: bool) -> Path:
    """A fresh-clone layout: <repo>/examples/cortex-m-firmware and, after `make setup`, <repo>/.venv/bin/edgeq."""
    ex = tmp / "repo" / "examples" / "cortex-m-firmware"
    shutil.copytree(REPO / "examples" / "cortex-m-firmware", ex, ignore=shutil.ignore_patterns("build"))
    stamp = ex / "build" / "model" / "edgeq_srcs.mk"
    stamp.parent.mkdir(parents=True)
    stamp.write_text("EDGEQ_SRCS :=\n")
    later = time.time() + 60
    os.utime(stamp, (later, later))  # newer than the model: make does not regenerate
    if with_venv:
        (tmp / "repo" / ".venv" / "bin").mkdir(parents=True)
        (tmp / "repo" / ".venv" / "bin" / "edgeq").symlink_to(EDGEQ_SCRIPT)
    return ex


def _make(ex: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}  # no venv on PATH
    return subprocess.run(["make", "-s", "--eval", SHOW, *args], cwd=ex, capture_output=True, text=True, env=env,
                          timeout=120)


def test_finds_the_repositorys_venv(tmp_path):
    ex = _clone_like(tmp_path, with_venv=True)
    p = _make(ex, "show-edgeq")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"EDGEQ={tmp_path / 'repo' / '.venv' / 'bin' / 'edgeq'}"


def test_explicit_edgeq_wins(tmp_path):
    ex = _clone_like(tmp_path, with_venv=True)
    p = _make(ex, "show-edgeq", f"EDGEQ={EDGEQ_SCRIPT}")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"EDGEQ={EDGEQ_SCRIPT}"


def test_without_edgeq_says_how(tmp_path):
    ex = _clone_like(tmp_path, with_venv=False)
    p = _make(ex, "show-edgeq")
    assert p.returncode != 0
    assert "edgeq not found on PATH" in p.stderr and "make setup" in p.stderr and "EDGEQ=" in p.stderr
