"""The CLI as a user meets it: help, exit codes, --json, inspect, targets docs, doctor."""

import json
import shutil

import pytest


def test_help_and_version(cli):
    r = cli("--help")
    assert r.returncode == 0
    for cmd in ("convert", "check", "inspect", "targets", "doctor", "codegen", "bench", "makefile"):
        assert cmd in r.stdout
    assert cli("--version").stdout.strip().startswith("edgeq")
    assert cli("convert", "--help").returncode == 0


def test_usage_errors_exit_2(cli):
    r = cli("convert")
    assert r.returncode == 2 and "Missing argument" in r.stderr
    r = cli("frobnicate")
    assert r.returncode == 2
    r = cli("targets", "show", "rpi3")
    assert r.returncode == 2 and "Did you mean `rpi4`" in r.stderr


def test_inspect_json(cli, fixtures):
    r = cli("inspect", fixtures / "cnn_int8.tflite", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["op_counts"]["CONV_2D"] == 1 and d["inputs"][0]["dtype"] == "int8"
    assert any(t["constant"] and t["scale"] and len(t["scale"]) == 8 for t in d["tensors"])
    r = cli("inspect", fixtures / "cnn_int8.tflite", "--tensors")
    assert "DEPTHWISE_CONV_2D" in r.stdout and "per-channel[8]" in r.stdout


def test_check_exit_codes_and_json(cli, fixtures):
    assert cli("check", fixtures / "cnn_int8.tflite", "-t", "cortex-m4").returncode == 0
    r = cli("check", fixtures / "cnn_float32.tflite", "-t", "cortex-m4", "--json")
    assert r.returncode == 3
    d = json.loads(r.stdout)
    assert not d["passed"] and any(f["rule"] == "integer_only" and f["op_index"] is not None for f in d["findings"])
    r = cli("check", fixtures / "nope.tflite", "-t", "cortex-m4")
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_targets_docs_table(cli, tmp_path):
    out = tmp_path / "ops.md"
    assert cli("targets", "docs", "-o", out).returncode == 0
    text = out.read_text()
    assert "| CONV_2D |" in text and "cortex-m4" in text and "integer_only" in text
    r = cli("targets", "list", "--json")
    assert {t["name"] for t in json.loads(r.stdout)} >= {"cortex-m4", "rpi5", "android-gpu"}


def test_doctor_reports_install_commands(cli):
    r = cli("doctor", "--json")
    assert r.returncode == 0
    rows = {x["tool"]: x for x in json.loads(r.stdout)}
    assert rows["arm-none-eabi-gcc"]["install"].startswith("apt-get install")
    assert all(x["present"] == (x["version"] is not None) for x in rows.values())


def test_file_and_folder_outputs_never_replace_user_files(cli, fixtures, tmp_path):
    """Found by QA: targets docs / export-android / search / lowbit used to overwrite without --force."""
    doc = tmp_path / "mine.md"
    doc.write_text("my notes")
    r = cli("targets", "docs", "-o", doc)
    assert r.returncode == 2 and "--force" in r.stderr and doc.read_text() == "my notes"
    assert cli("targets", "docs", "-o", doc, "--force").returncode == 0 and "CONV_2D" in doc.read_text()
    kt = tmp_path / "app" / "android" / "src" / "Model.kt"
    kt.parent.mkdir(parents=True)
    kt.write_text("// edited by hand")
    r = cli("export-android", fixtures / "cnn_int8.tflite", "-o", tmp_path / "app")
    assert r.returncode == 2 and kt.read_text() == "// edited by hand"
    r = cli("search", fixtures / "cnn_int8.tflite", "-t", "cortex-m4", "--calib", "x", "--eval", "y",
            "--min-sqnr", "1", "-o", doc)
    assert r.returncode == 2 and ".tflite" in r.stderr and doc.read_text().startswith("# edgeq")


@pytest.mark.qemu
@pytest.mark.skipif(not shutil.which("qemu-system-arm") or not shutil.which("arm-none-eabi-gcc"),
                    reason="needs qemu-system-arm and arm-none-eabi-gcc")
def test_cortexm_bench_takes_float_samples_keyed_by_input_name(cli, fixtures, tmp_path):
    """Found by QA: --inputs took only positional, pre-quantized int8 arrays."""
    import numpy as np

    np.savez(tmp_path / "x.npz", img=np.random.default_rng(0).random((3, 12, 12, 3)).astype(np.float32))
    r = cli("bench", fixtures / "cnn_int8.tflite", "-t", "cortex-m4", "--inputs", tmp_path / "x.npz", "--no-per-op",
            "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["output_matches_reference"] is True
    assert any("median of 3 run(s)" in f["method"] for f in res["figures"] if f["name"] == "instructions")


# ------------------------------------------------------------- last-resort handler, Ctrl-C, --json errors


def _run_main(argv, capsys):
    from edgeq.cli import main

    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def crashing_load(monkeypatch, tmp_path):
    """graph.load raising a bug-like exception; crash reports go to tmp_path."""
    from edgeq import graph

    def boom(path):
        raise IndexError("tuple index out of range\nsecond line")

    monkeypatch.setattr(graph, "load", boom)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("EDGEQ_DEBUG", raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return tmp_path


def test_internal_error_is_one_line_with_a_report_file(crashing_load, fixtures, capsys):
    code, out, err = _run_main(["inspect", fixtures / "cnn_int8.tflite"], capsys)
    assert code == 1 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("internal error in inspect: IndexError: tuple index out of range; please report it")
    (report,) = crashing_load.glob("edgeq-internal-error-*.txt")
    assert str(report) in line and "--debug" in line
    text = report.read_text()
    assert "Traceback" in text and "IndexError" in text and "edgeq inspect" in text


@pytest.mark.parametrize("how", ["option", "env"])
def test_debug_shows_the_traceback(crashing_load, fixtures, capsys, monkeypatch, how):
    argv = ["inspect", fixtures / "cnn_int8.tflite"]
    if how == "option":
        argv.insert(0, "--debug")
    else:
        monkeypatch.setenv("EDGEQ_DEBUG", "1")
    code, _, err = _run_main(argv, capsys)
    assert code == 1 and "Traceback (most recent call last)" in err and "in boom" in err
    assert "internal error in inspect" in err


def test_internal_error_with_json_prints_an_error_object(crashing_load, fixtures, capsys):
    code, out, err = _run_main(["targets", "show", "cortex-m4", "--json"], capsys)  # not affected: works
    assert code == 0 and json.loads(out)["name"] == "cortex-m4"
    code, out, err = _run_main(["inspect", fixtures / "cnn_int8.tflite", "--json"], capsys)
    e = json.loads(out)["error"]
    assert code == 1 and e["type"] == "InternalError" and e["exit_code"] == 1
    assert e["message"].startswith("internal error in inspect") and "--debug" in e["hint"]


def test_interrupt_exits_130(monkeypatch, fixtures, capsys):
    import click

    from edgeq import graph

    for exc in (KeyboardInterrupt(), click.exceptions.Abort()):
        def stop(path, exc=exc):
            raise exc

        monkeypatch.setattr(graph, "load", stop)
        code, out, err = _run_main(["inspect", fixtures / "cnn_int8.tflite", "--json"], capsys)
        assert code == 130 and "aborted" in err
        assert json.loads(out)["error"]["exit_code"] == 130


def test_json_error_object_for_user_errors(fixtures, tmp_path, capsys):
    code, out, err = _run_main(["check", tmp_path / "missing.tflite", "-t", "cortex-m4", "--json"], capsys)
    e = json.loads(out)["error"]
    assert code == 1 and e == {"type": "ModelError", "message": f"{tmp_path / 'missing.tflite'}: file not found",
                               "hint": "check the path", "exit_code": 1}
    assert "error:" in err and "file not found" in err  # the human message stays on stderr
    code, out, err = _run_main(["check", fixtures / "cnn_int8.tflite", "-t", "cortex-m44", "--json"], capsys)
    e = json.loads(out)["error"]
    assert code == 2 and e["type"] == "UsageError" and "cortex-m4" in e["message"] and e["hint"]
    code, out, _ = _run_main(["check", "--json"], capsys)  # click usage error
    assert code == 2 and json.loads(out)["error"]["exit_code"] == 2
    code, out, err = _run_main(["targets", "show", "cortex-m44"], capsys)  # without --json: stderr only
    assert code == 2 and out == "" and "Did you mean" in err


def test_corrupt_model_is_a_clear_error_not_internal(fixtures, tmp_path, capsys):
    data = bytearray((fixtures / "cnn_int8.tflite").read_bytes())
    p = tmp_path / "bad.tflite"
    p.write_bytes(bytes(data[: len(data) // 3]))
    code, _, err = _run_main(["inspect", p], capsys)
    assert code == 1 and err.startswith(f"error: {p}") and "internal error" not in err
