"""Deterministic fuzzing (issue 16): mutated .tflite files and target profiles end in a clear EdgeqError.

A few thousand cases in seconds, from the same mutation engine as the long campaign (benchmarks/fuzz.py): any
exception that is not an EdgeqError (what the CLI's last-resort handler would have to catch) or a case past its
deadline fails the test. The CLI part runs rejected mutants through `edgeq inspect`/`check` in-process and fails
on any "internal error".
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from edgeq import graph
from edgeq.errors import EdgeqError

_spec = importlib.util.spec_from_file_location("edgeq_fuzz", Path(__file__).resolve().parents[1] / "benchmarks" /
                                               "fuzz.py")
fuzz = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuzz  # dataclasses look their module up while the file runs
_spec.loader.exec_module(fuzz)


def _failures(t) -> list:
    return [f"case {c} [{stage}] {msg}" for c, stage, msg, _ in t.uncaught + t.hangs]


def test_tflite_mutants_parse_check_codegen():
    t = fuzz.campaign_tflite(1000, seed=16, tflm=0, cli_every=40)
    assert not _failures(t), "\n".join(_failures(t))
    assert t.cases == 1000 and t.hangs == []
    # the mutations must reach every stage, and the verifier must be what rejects most of them
    assert t.accepted > 100 and t.rejected["parse: ModelError"] > 350, t.summary()


def test_graph_mutants_verify_check_codegen():
    """Odd but decodable graphs (ops swapped for other emitter ops, inputs dropped, shapes changed)."""
    t = fuzz.campaign_graph(400, seed=16)
    assert not _failures(t), "\n".join(_failures(t))
    assert t.accepted > 20 and t.rejected["verify: ModelError"] > 100, t.summary()


def test_profile_mutants_load_and_check():
    t = fuzz.campaign_profile(500, seed=16)
    assert not _failures(t), "\n".join(_failures(t))
    assert t.accepted > 15 and sum(t.rejected.values()) > 300, t.summary()


def test_mutations_are_deterministic():
    data = (fuzz.FIXTURES / "cnn_int8.tflite").read_bytes()
    fields = fuzz.structural_fields(data)
    assert len(fields) > 200  # offsets, vtables, lengths, scalars the reader looks at
    a = [fuzz.mutate_tflite(data, fields, random.Random(7)) for _ in range(5)]
    b = [fuzz.mutate_tflite(data, fields, random.Random(7)) for _ in range(5)]
    assert a == b


def test_cli_reports_rejected_mutants_without_internal_error(tmp_path, capsys):
    """The last-resort handler is not how malformed files are reported: every rejection is a clear error."""
    from edgeq.cli import main

    data = (fuzz.FIXTURES / "cnn_int8.tflite").read_bytes()
    fields = fuzz.structural_fields(data)
    rng = random.Random(16)
    ran = 0
    while ran < 25:
        mutant, what = fuzz.mutate_tflite(data, fields, rng)
        try:
            graph.parse(mutant, "m.tflite")
            continue  # accepted: nothing to report
        except EdgeqError:
            pass
        p = tmp_path / f"m{ran}.tflite"
        p.write_bytes(mutant)
        for argv in (["inspect", str(p)], ["check", str(p), "-t", "cortex-m4", "--json"]):
            with pytest.raises(SystemExit) as e:
                main(argv)
            err = capsys.readouterr().err
            assert e.value.code == 1, (what, err)
            assert "internal error" not in err and "Traceback" not in err, (what, err)
            assert p.name in err, (what, err)  # names the file
        ran += 1


def test_tflm_child_crash_is_a_reported_error(monkeypatch):
    """A crash of the TFLM subprocess comes back as ArenaMeasurement.error, never an exception or a hang."""
    from edgeq import export

    monkeypatch.setattr(export, "_MEASURE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    m = export.measure_tflm_arena((fuzz.FIXTURES / "cnn_int8.tflite").read_bytes(), timeout_s=60)
    assert m.total_bytes is None and "tflite-micro crashed (SIGSEGV)" in m.error
    monkeypatch.setattr(export, "_MEASURE", "import time; time.sleep(30)")
    m = export.measure_tflm_arena((fuzz.FIXTURES / "cnn_int8.tflite").read_bytes(), timeout_s=1)
    assert m.total_bytes is None and "timed out" in m.error


def test_tflm_python_failure_is_one_clear_line(monkeypatch):
    from edgeq import export

    monkeypatch.setattr(export, "_MEASURE", "import struct\nstruct.unpack_from('<I', b'', 5)")
    m = export.measure_tflm_arena((fuzz.FIXTURES / "cnn_int8.tflite").read_bytes(), timeout_s=60)
    assert m.error.startswith("tflite-micro could not load the model (struct.error: unpack_from requires")
