"""Output folders never lose a user's file: --force replaces only what edgeq wrote (issue: --force deleted the
input model), inputs and project folders are refused, `-o .` works, read-only folders fail before the work,
and what edgeq writes is readable by others (the user's umask, not the temp folder's 0700)."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from edgeq import outdir
from edgeq.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits"


def _tree(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


def _write(out: Path, files: dict[str, str], force: bool = True, inputs=()) -> tuple[str, ...]:
    plan = outdir.prepare_out_dir(out, force, inputs)
    tmp = outdir.new_tmp_dir(out)
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    return outdir.commit_dir(tmp, plan, "test")


def test_convert_force_refuses_a_folder_holding_its_inputs(cli, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(DIGITS / "model.keras", model / "cnn.keras")
    shutil.copy(DIGITS / "calib.npz", model / "calib.npz")
    before = _tree(model)
    r = cli("convert", model / "cnn.keras", "-t", "cortex-m4", "--calib", model / "calib.npz", "-o", model,
            "--force")
    assert r.returncode == 2, r.stderr
    assert "contains your input" in r.stderr and "Traceback" not in r.stderr
    assert _tree(model) == before
    # the same from inside the folder, with `-o .`
    r = cli("convert", "cnn.keras", "-t", "cortex-m4", "--calib", "calib.npz", "-o", ".", "--force", cwd=model)
    assert r.returncode == 2 and "contains your input" in r.stderr, r.stderr
    assert _tree(model) == before


def test_force_never_touches_a_project_folder(cli, fixtures, tmp_path):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "train.py").write_text("print('mine')\n")
    (proj / "src" / "app.c").write_text("int main(void) { return 0; }\n")
    before = _tree(proj)
    work = tmp_path / "work"
    work.mkdir()
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", "../proj", "--force", cwd=work)
    assert r.returncode == 2 and "looks like a project folder" in r.stderr, r.stderr
    assert _tree(proj) == before


def test_codegen_force_replaces_only_edgeqs_files(cli, fixtures, tmp_path):
    out = tmp_path / "gen"
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", out)
    assert r.returncode == 0, r.stderr
    first = _tree(out)
    assert outdir.MANIFEST in first and "edgeq_model.c" in first
    assert set(outdir.read_manifest(out)) == set(first) - {outdir.MANIFEST}
    # without --force: refused, nothing changed
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", out)
    assert r.returncode == 2 and "--force" in r.stderr
    # the user's own files next to edgeq's survive --force; a stale edgeq file is removed
    (out / "notes.txt").write_text("my notes\n")
    (out / "mine").mkdir()
    (out / "mine" / "board.c").write_text("/* mine */\n")
    stale = out / "edgeq_runtime" / "src" / "edgeq_old_kernel.c"
    stale.write_text("/* edgeq's once */\n")
    m = outdir.read_manifest(out)
    outdir.write_manifest(out, [*m, "edgeq_runtime/src/edgeq_old_kernel.c"], "codegen")
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", out, "--force")
    assert r.returncode == 0, r.stderr
    after = _tree(out)
    assert after["notes.txt"] == b"my notes\n" and after["mine/board.c"] == b"/* mine */\n"
    assert not stale.exists()
    assert {k: v for k, v in after.items() if k not in ("notes.txt", "mine/board.c")} == first
    # a file edgeq wrote but the user edited since is the user's now: refused, kept as edited
    (out / "edgeq_model.h").write_text("/* tuned by hand */\n")
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", out, "--force")
    assert r.returncode == 2 and "edgeq_model.h" in r.stderr and "edited" in r.stderr, r.stderr
    assert (out / "edgeq_model.h").read_text() == "/* tuned by hand */\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_dot_output_and_umask_modes(cli, fixtures, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", ".", cwd=here)
    assert r.returncode == 0, r.stderr
    assert (here / "edgeq_model.c").is_file()
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", ".", "--force", cwd=here)  # the cwd itself stays put
    assert r.returncode == 0, r.stderr
    out = tmp_path / "new" / "gen"
    r = cli("codegen", fixtures / "cnn_int8.tflite", "-o", out)
    assert r.returncode == 0
    mask = os.umask(0)
    os.umask(mask)
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert mode == want, (p, oct(mode))


@pytest.mark.skipif(not hasattr(os, "geteuid") or shutil.which("setpriv") is None, reason="needs setpriv")
def test_read_only_output_fails_before_the_work(fixtures):
    """As an unprivileged user (root ignores permissions): a clear error, exit 1, no traceback."""
    import subprocess
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path sits in a 0700 folder of root's
    base.chmod(0o755)
    ro = base / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    cmd = [sys.executable, "-m", "edgeq.cli", "codegen", str(fixtures / "cnn_int8.tflite"), "-o", str(ro / "gen")]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    assert r.returncode == 1, r.stderr
    assert "permission denied" in r.stderr and "Traceback" not in r.stderr
    assert list(ro.iterdir()) == []
    shutil.rmtree(base)


def test_file_outputs_never_overwrite_an_input(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    with pytest.raises(UsageError, match="is your input"):
        outdir.prepare_out_file(model, force=True, suffix=".keras", inputs=(str(model),))
    assert model.read_bytes() == b"x"


def test_manifest_cannot_point_outside_the_folder(tmp_path):
    out = tmp_path / "out"
    _write(out, {"a.txt": "1"})
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    outdir.write_manifest(out, ["a.txt"], "test")
    text = (out / outdir.MANIFEST).read_text().replace('"a.txt"', '"../victim.txt"')
    (out / outdir.MANIFEST).write_text(text)
    (out / "note.txt").write_text("user")
    _write(out, {"b.txt": "2"})
    assert victim.read_text() == "keep" and (out / "note.txt").read_text() == "user"
    assert (out / "a.txt").exists()  # no longer listed as edgeq's: kept


def test_ctrl_c_during_the_commit_leaves_a_complete_folder(tmp_path, monkeypatch):
    """Ctrl-C while the result moves into place is held until the move is done: the folder is old or new,
    never mixed, and the CLI then knows the output is complete (exit 0, not 130)."""
    import signal

    out = tmp_path / "out"
    _write(out, {"a.txt": "old", "b.txt": "old"})
    (out / "user.txt").write_text("mine")
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(outdir.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _write(out, {"a.txt": "new", "b.txt": "new"})
    assert (out / "a.txt").read_text() == "new" and (out / "b.txt").read_text() == "new"
    assert (out / "user.txt").read_text() == "mine"
    assert outdir.last_committed() == out.resolve()


def test_qat_refuses_to_write_over_its_input(cli, tmp_path):
    model = tmp_path / "m.keras"
    shutil.copy(DIGITS / "model.keras", model)
    before = model.read_bytes()
    r = cli("qat", model, "--train", DIGITS / "calib.npz", "-o", model, "--force")
    assert r.returncode == 2 and "is your input" in r.stderr, r.stderr
    assert model.read_bytes() == before


def test_save_with_leaves_no_partial_file(tmp_path):
    out = tmp_path / "model.keras"
    out.write_bytes(b"previous")

    def failing_save(path):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(outdir.OutputError, match="No space left"):
        outdir.save_with(out, failing_save)
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
    outdir.save_with(out, lambda p: Path(p).write_bytes(b"new"))
    assert out.read_bytes() == b"new"
