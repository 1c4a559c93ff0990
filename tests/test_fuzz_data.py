"""Deterministic data fuzzing: mutated .npy/.npz/.csv/image folders end in a clear DataError or a usable Dataset,
never a traceback or a hang (benchmarks/fuzz_data.py runs the longer campaign)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_data", ROOT / "benchmarks" / "fuzz_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mutated_data_files_give_clear_errors(fuzz):
    r = fuzz.campaign(2000, seed=16)
    assert r["cases"] == 2000
    assert (r["uncaught"], r["hangs"], r["unclear_errors"], r["bad_accepts"]) == (0, 0, 0, 0), r["defects"]
    # the mutations reach both outcomes for every kind of file (a fuzzer that only hits errors tests little)
    assert set(r["by_file_kind"]) == set(fuzz.seeds())
    assert all(c["clear_errors"] and c["accepted"] for c in r["by_file_kind"].values()), r["by_file_kind"]


def test_campaign_is_deterministic_and_counts_defects(fuzz, monkeypatch):
    assert fuzz.campaign(40, seed=3) | {"seconds": 0} == fuzz.campaign(40, seed=3) | {"seconds": 0}

    def broken(spec, inputs, **kw):
        raise IndexError("list index out of range")

    monkeypatch.setattr(fuzz, "load_dataset", broken)
    r = fuzz.campaign(10, seed=0)
    assert r["uncaught"] == 10 and "IndexError" in r["defects"][0]
