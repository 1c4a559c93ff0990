"""edgeq.toml and `edgeq build`: validation before any work, gates, JUnit/summary, the content-hash cache.

The validation tests need no TensorFlow. The end-to-end test builds one small model for two targets (Cortex-M4
in QEMU and a Pi profile benched on this host) with budgets that are and are not met, then rebuilds unchanged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from edgeq import project as proj
from edgeq.errors import EXIT_CHECK_FAILED, EXIT_USAGE

DIGITS = ROOT / "examples" / "digits"


def _write(tmp: Path, text: str, data: bool = True) -> Path:
    if data:
        for f in ("model.keras", "calib.npz", "eval.npz"):
            dst = tmp / "data" / f
            dst.parent.mkdir(exist_ok=True)
            if not dst.exists():
                shutil.copy(DIGITS / f, dst)
    p = tmp / "edgeq.toml"
    p.write_text(text)
    return p


BASE = 'model = "data/model.keras"\ncalib = "data/calib.npz"\neval = "data/eval.npz"\n'


@pytest.mark.parametrize("body, words", [
    ('[deployments.m4]\ntaget = "cortex-m4"\n', ["unknown key [deployments.m4] taget", "Did you mean `target`?"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\n[deployments.m4.budgets]\nlatency_us = 5\n',
     ["unknown budget [deployments.m4] budgets.latency_us", "`latency_ms`"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\n[deployments.m4.budgets]\nflash_bytes = "64k"\n',
     ["budgets.flash_bytes = '64k'", "expected a number in B"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\nsamples = 2.5\n', ["samples = 2.5", "expected a integer"]),
    ('[deployments.m4]\nout = "build/m4"\n', ["[deployments.m4] missing required key target"]),
    ('[deployments.m4]\ntarget = "cortex-m44"\n', ["unknown target 'cortex-m44'", "`cortex-m4`"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\ncalib = "data/nope.npz"\n',
     ["[deployments.m4] calib = 'data/nope.npz': not found"]),
    ('[deployments.a]\ntarget = "cortex-m4"\nout = "build/x"\n'
     '[deployments.b]\ntarget = "cortex-m7"\nout = "build/x/"\n',
     ["deployments 'a' and 'b' write to the same folder"]),
    ('[deployments.a]\ntarget = "cortex-m4"\nout = "build"\n[deployments.b]\ntarget = "cortex-m7"\nout = "build/b"\n',
     ["deployments 'a' and 'b' write to nested folders"]),
    ('[deployments.pi]\ntarget = "rpi4"\n[deployments.pi.budgets]\ncycles = 1000\n',
     ["budget cycles: cycles are counted on Cortex-M targets only", "use latency_ms"]),
    ('[deployments.pi]\ntarget = "rpi4"\n[deployments.pi.budgets]\nenergy_uj = 5\n',
     ["budget energy_uj: no energy figure on device 'host'"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\n[deployments.m4.budgets]\nflash_bytes = 0\n',
     ["budgets.flash_bytes = 0: no deployment can meet this budget"]),
    ('[budgets]\naccuracy_drop_pp = -1\n[deployments.m4]\ntarget = "cortex-m4"\n',
     ["budgets.accuracy_drop_pp = -1: no deployment can meet"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\nmode = "float16"\n', ["mode = 'float16' is not allowed on cortex-m4"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\nout = "."\n', ["the output folder would hold the project file"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\nsearch = true\nmode = "int8"\n', ["mode and search = true exclude"]),
    ('[deployments.m4]\ntarget = "cortex-m4"\nsearch = true\n', ["search = true needs calib, eval and an"]),
])
def test_bad_project_is_an_error_before_any_work(tmp_path, body, words):
    p = _write(tmp_path, BASE + body)
    with pytest.raises(proj.ProjectError) as e:
        proj.load_project(p)
    msg = str(e.value)
    assert str(p) in msg
    for w in words:
        assert w in msg, msg
    assert e.value.hint


def test_accuracy_budget_needs_eval_data(tmp_path):
    p = _write(tmp_path, 'model = "data/model.keras"\n[deployments.m4]\ntarget = "cortex-m4"\n'
                         '[deployments.m4.budgets]\nmin_sqnr_db = 20\n')
    with pytest.raises(proj.ProjectError, match="budget min_sqnr_db needs evaluation data"):
        proj.load_project(p)


def test_cli_bad_project_exit_2_no_traceback_nothing_written(tmp_path):
    p = _write(tmp_path, BASE + '[deployments.m4]\ntarget = "cortex-m4"\nout = "out/m4"\n'
                                '[deployments.m4.budgets]\nlatncy_ms = 3\n')
    r = run_cli("build", p, "--junit", tmp_path / "junit.xml")
    assert r.returncode == EXIT_USAGE, r.stderr
    assert "Did you mean `latency_ms`?" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "junit.xml").exists()
    r = run_cli("build", tmp_path / "nowhere")
    assert r.returncode == EXIT_USAGE and "project file not found" in r.stderr


def test_only_unknown_name_and_user_report_file(tmp_path):
    p = _write(tmp_path, BASE + '[deployments.m4]\ntarget = "cortex-m4"\n')
    project = proj.load_project(tmp_path)  # a folder holding edgeq.toml
    assert project.path == p and project.deployments[0].out_dir == tmp_path / "build" / "m4"
    with pytest.raises(proj.ProjectError, match="no deployment named 'm4x'. Did you mean `m4`?"):
        proj.plan(project, ["m4x"])
    mine = tmp_path / "notes.md"
    mine.write_text("my notes\n")
    with pytest.raises(proj.UsageError, match="not written by edgeq build"):
        proj.check_report_path(mine, proj.SUMMARY_MARK)
    with pytest.raises(proj.UsageError, match="is your input"):
        proj.check_report_path(p, proj.JUNIT_MARK, [p])


def _gate_names(res) -> set[tuple[str, str]]:
    return {(g.deployment, g.budget) for d in res.deployments for g in d.gates if not g.passed}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two targets, budgets met and not met; built once for the whole module (about a minute)."""
    pytest.importorskip("tensorflow")
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    tmp = tmp_path_factory.mktemp("project")
    text = ('model = "data/model.keras"\ncalib = "data/calib.npz"\neval_samples = 100\n'
            '[deployments.m4]\ntarget = "cortex-m4"\neval = "data/eval.npz"\n'
            '[deployments.m4.budgets]\nflash_bytes = 65_536\ncycles = 1_000\naccuracy_drop_pp = 2.0\n'
            'min_sqnr_db = 15\n'
            '[deployments.pi]\ntarget = "rpi4"\nout = "build/pi"\n'
            '[deployments.pi.budgets]\nflash_bytes = 1_000\nlatency_ms = 1_000\n')
    p = _write(tmp, text)
    t0 = time.monotonic()
    res = proj.build(proj.load_project(p))
    return p, res, time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.qemu
def test_build_gates_junit_and_unchanged_rebuild(built, capsys):
    p, res, cold_s = built
    assert [d.name for d in res.deployments] == ["m4", "pi"] and not any(d.cached for d in res.deployments)
    assert all(d.error is None for d in res.deployments), [d.error for d in res.deployments]
    assert _gate_names(res) == {("m4", "cycles"), ("pi", "flash_bytes")}
    assert res.exit_code == EXIT_CHECK_FAILED
    m4 = {g.budget: g for g in res.deployments[0].gates}
    cyc = m4["cycles"]
    assert cyc.figure.kind == "estimated" and cyc.excess == cyc.figure.value - 1000 > 0
    assert "over by" in cyc.message and "[estimated on qemu:mps2-an386]" in cyc.message
    assert m4["flash_bytes"].passed and m4["flash_bytes"].figure.kind == "measured"
    assert 0 < m4["flash_bytes"].figure.value < 65_536
    assert m4["accuracy_drop_pp"].passed and m4["min_sqnr_db"].figure.value > 15
    pi_flash = res.deployments[1].gates[0]
    assert pi_flash.figure.name == "tflite_bytes" and "over by" in pi_flash.message

    junit = ET.fromstring(proj.junit_xml(res))
    assert (junit.get("tests"), junit.get("failures"), junit.get("errors")) == ("6", "2", "0")
    cases = {(c.get("classname"), c.get("name")): c for c in junit.iter("testcase")}
    assert len(cases) == 6 and cases[("edgeq.m4", "cycles")].find("failure") is not None
    assert "estimated" in cases[("edgeq.m4", "cycles")].find("failure").get("message")
    assert cases[("edgeq.m4", "flash_bytes")].find("failure") is None
    assert "| m4 | cortex-m4 | `cycles` |" in proj.summary_markdown(res)

    # unchanged: no conversion, no bench, no file touched; a budget edit re-gates the recorded figures
    out = Path(res.deployments[0].out_dir)
    before = {f: f.stat().st_mtime_ns for f in out.rglob("*")}
    (p.parent / "data" / "calib.npz").touch()  # a newer timestamp with the same content changes nothing
    t0 = time.monotonic()
    again = proj.build(proj.load_project(p))
    warm_s = time.monotonic() - t0
    assert all(d.cached for d in again.deployments) and _gate_names(again) == _gate_names(res)
    assert warm_s < 5 and warm_s < cold_s / 5, (cold_s, warm_s)
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*")} == before
    p.write_text(p.read_text().replace("cycles = 1_000\n", "cycles = 100_000_000\n")
                 .replace("flash_bytes = 1_000\n", "flash_bytes = 65_536\n"))
    ok = proj.build(proj.load_project(p), only=["m4"])
    assert [d.name for d in ok.deployments] == ["m4"] and ok.deployments[0].cached and ok.exit_code == 0

    # the command line on the same (cached) project: exit code, JUnit, summary, --json
    from edgeq.cli import main

    p.write_text(p.read_text().replace("min_sqnr_db = 15\n", "min_sqnr_db = 90\n"))
    junit_path, summary_path = p.parent / "ci" / "junit.xml", p.parent / "ci" / "summary.md"
    for argv in (["build", str(p), "--junit", str(junit_path), "--summary", str(summary_path)],
                 ["build", str(p), "--json", "--junit", str(junit_path)]):
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == EXIT_CHECK_FAILED
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 3 and [d["cached"] for d in data["deployments"]] == [True, True]
    failed = [g for d in data["deployments"] for g in d["gates"] if not g["passed"]]
    assert [(g["deployment"], g["budget"]) for g in failed] == [("m4", "min_sqnr_db")]
    assert failed[0]["figure"]["kind"] == "measured" and failed[0]["excess"] > 0
    assert "under by" in summary_path.read_text() and summary_path.read_text().startswith(proj.SUMMARY_MARK)
    assert ET.parse(junit_path).getroot().get("failures") == "1"


def test_missing_cross_compiler_is_said_before_any_conversion(tmp_path, monkeypatch):
    from edgeq.errors import ToolMissing

    p = _write(tmp_path, BASE + '[deployments.m4]\ntarget = "cortex-m4"\n[deployments.m4.budgets]\ncycles = 10\n'
                                '[deployments.acc]\ntarget = "cortex-m7"\n[deployments.acc.budgets]\nmin_sqnr_db = 9\n')
    project = proj.load_project(p)
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert proj.plan(project, ["acc"])  # accuracy budgets only: no firmware is built, no tool needed
    with pytest.raises(ToolMissing, match=r"\[deployments.m4\] benches on Cortex-M and needs arm-none-eabi-gcc") as e:
        proj.plan(project)
    assert "apt-get install" in e.value.hint and not (tmp_path / "build").exists()


def test_make_fragment_edgeq_gate(tmp_path):
    if not shutil.which("make"):
        pytest.skip("make not installed")
    mk = tmp_path / "Makefile"
    mk.write_text(f"EDGEQ := /opt/bin/edgeq\nEDGEQ_PROJECT := ci/edgeq.toml\nEDGEQ_GATE_FLAGS := --junit j.xml\n"
                  f"include {ROOT / 'targets' / 'edgeq.mk'}\n")
    r = subprocess.run(["make", "-n", "edgeq-gate"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "/opt/bin/edgeq build ci/edgeq.toml --junit j.xml"
    mk.write_text(f"include {ROOT / 'targets' / 'edgeq.mk'}\n")  # neither a model nor a project: a clear error
    r = subprocess.run(["make", "-n", "edgeq-gate"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "set EDGEQ_MODEL" in r.stderr and "EDGEQ_PROJECT" in r.stderr
