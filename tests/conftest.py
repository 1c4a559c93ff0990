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
