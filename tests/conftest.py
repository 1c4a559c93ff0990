"""Shared test helpers: paths to the committed fixtures and a CLI runner that reports exit codes like a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# `make test` runs pytest inside make: a make the tests start would then see MAKELEVEL/MAKEFLAGS, print
# "Entering directory" and share the outer jobserver. The suite behaves the same under make and bare pytest.
for _var in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR"):
    os.environ.pop(_var, None)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m edgeq.cli ARGS` in a subprocess (exit codes and output exactly as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "edgeq.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def cli():
    return run_cli


# The test files that take longest, longest first (from `pytest --durations`). `make test` hands whole files to
# two pytest-xdist workers in collection order (--dist loadfile --no-loadscope-reorder); starting the long ones
# first keeps a worker from being left alone with one at the end. Only the order of files changes (tests inside a
# file keep theirs); files not listed follow in the usual order. A stale list costs wall time, never coverage.
SLOW_FIRST = ("test_convert.py", "test_qat_loss.py", "test_search.py", "test_coverage.py", "test_cluster.py",
              "test_codegen_nonlinear.py", "test_harness_cortexm.py", "test_qat.py", "test_codegen_kernels.py",
              "test_android_export.py", "test_runtime_build_flags.py", "test_convert_weights.py", "test_cmake.py",
              "test_bench_script.py", "test_lowbit.py", "test_fuzz.py", "test_cli_outputs.py", "test_project.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: same order inside a file
