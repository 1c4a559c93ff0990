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


def test_cc_cache_wrapper_reuses_objects_after_regeneration(tmp_path):
    """targets/edgeq.mk's EDGEQ_CC_CACHE (edgeq.objcache as a compiler wrapper): after a regeneration rewrote the
    sources (every object out of date) only sources whose preprocessed text changed are compiled again; the
    makefile's own first target stays the default goal although the fragment is included before it."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("needs gcc")
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "m.tflite").write_bytes(b"stub")
    (out / "h.h").write_text("#define K 3\n")
    (out / "a.c").write_text('#include "h.h"\nint a(void) { return K; }\n')
    (out / "main.c").write_text('#include <stdio.h>\nint a(void);\nint main(void) { printf("%d\\n", a()); }\n')
    stamp = out / "edgeq_srcs.mk"
    stamp.write_text(f"EDGEQ_SRCS := {out / 'a.c'} {out / 'main.c'}\n")
    later = time.time() + 60
    os.utime(stamp, (later, later))  # newer than the model: make does not regenerate
    log = tmp_path / "cc.log"
    cc = tmp_path / "cc.sh"  # gcc, logging its calls
    cc.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {gcc} "$@"\n')
    cc.chmod(0o755)
    (tmp_path / "Makefile").write_text(
        f"EDGEQ_MODEL := m.tflite\nEDGEQ_OUT := out\ninclude {REPO / 'targets' / 'edgeq.mk'}\n"
        f"CC := $(EDGEQ_CC_CACHE) {cc}\n"
        "OBJS := $(addprefix obj/,$(notdir $(EDGEQ_SRCS:.c=.o)))\nvpath %.c out\n"
        "prog: $(OBJS)\n\t$(CC) $(OBJS) -o $@\n"
        "obj/%.o: %.c $(EDGEQ_STAMP) | obj\n\t$(CC) -O1 -Wall $(EDGEQ_INCLUDES) -c $< -o $@\n"
        "obj:\n\tmkdir -p $@\n")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "EDGEQ_CACHE_DIR": str(tmp_path / "cache")}

    def build() -> tuple[int, str]:
        """make (default goal): how many sources the compiler compiled, what the program printed."""
        before = log.read_text().count(" -c ") if log.exists() else 0
        p = subprocess.run(["make", "-s", f"EDGEQ={EDGEQ_SCRIPT}"], cwd=tmp_path, capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        run = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True, timeout=30)
        assert run.returncode == 0
        return log.read_text().count(" -c ") - before, run.stdout.strip()

    assert build() == (2, "3")
    first = (tmp_path / "obj" / "a.o").read_bytes()
    os.utime(stamp, (later + 10, later + 10))  # regenerated: every object out of date, the sources as before
    assert build() == (0, "3")
    assert (tmp_path / "obj" / "a.o").read_bytes() == first
    (out / "h.h").write_text("#define K 4\n")  # a header the generator changed: a.c compiles again
    os.utime(stamp, (later + 20, later + 20))
    assert build() == (1, "4")
