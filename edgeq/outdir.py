"""Output folders and files: the last step of every command that writes (`convert`, `codegen`, `lowbit`,
`export-android`, `search -o`, `qat -o`, `targets docs -o`, `bench` into a build folder).

The rule is that edgeq never deletes or overwrites a file it did not write:

- Work happens in a fresh temporary folder next to the destination; only a finished result is moved into place,
  so a failure or Ctrl-C never leaves a half-written folder.
- Every folder edgeq writes carries a manifest (`.edgeq-manifest.json`) listing the files it wrote. `--force`
  replaces exactly those files; anything else in the folder (the user's own files) stays untouched, and a new
  file that would land on a user's file is refused.
- A folder that holds one of the command's inputs, or looks like a project (a `.git`, `pyproject.toml`,
  `Makefile`, `src/`, ...), the user's home or the filesystem root is refused as an output folder even with
  `--force`.
- Writability is checked before the work starts; OS errors become clear errors naming the path.
- Folders and files get the user's umask (a temporary folder is created 0700: that mode must not survive).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import EdgeqError, UsageError

MANIFEST = ".edgeq-manifest.json"
MANIFEST_SCHEMA = "edgeq.manifest/1"

# Names whose presence marks a folder as somebody's project (or a source tree), never an output folder.
PROJECT_MARKERS = (".git", ".hg", ".svn", "pyproject.toml", "setup.py", "setup.cfg", "package.json", "Cargo.toml",
                   "CMakeLists.txt", "Makefile", "makefile", "GNUmakefile", "build.gradle", "build.gradle.kts",
                   "settings.gradle", "go.mod", "west.yml", "platformio.ini", "src", ".venv", "requirements.txt")


class OutputError(EdgeqError):
    """An output folder or file edgeq cannot write (permissions, disk). Refusals to write are UsageErrors."""


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _display(p: Path) -> str:
    return str(p) if str(p) not in ("", ".") else f"{p.resolve()} (.)"


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, str] | None:
    """Relative path -> sha256 of the files edgeq wrote into folder (None: no manifest, not an edgeq folder)."""
    p = folder / MANIFEST
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("schema") != MANIFEST_SCHEMA or not isinstance(files, dict):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # never trust an entry that points outside the folder
    return {f: h for f, h in files.items() if isinstance(f, str) and isinstance(h, str) and f
            and not Path(f).is_absolute() and ".." not in Path(f).parts}


def write_manifest(folder: Path, files: Iterable[str], command: str, old: dict[str, str] | None = None) -> None:
    """Record the files edgeq wrote (with their hashes: a file the user edits afterwards is no longer edgeq's)."""
    entries = dict(old or {})
    for f in set(files) - {MANIFEST}:
        entries[f] = _sha256(folder / f)
    body = {"schema": MANIFEST_SCHEMA, "tool": "edgeq", "command": command,
            "note": "files edgeq wrote here; `--force` replaces only these (unless edited since), nothing else",
            "files": dict(sorted(entries.items()))}
    (folder / MANIFEST).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def _check_writable(target: Path) -> None:
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"{probe}: is a file, so {_display(target)} cannot be created",
                          hint="choose another -o/--out path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{_display(target)}: cannot write to {_display(probe)} (permission denied)",
                          hint="choose a writable -o/--out folder, or fix its permissions (chmod u+w)")


def _input_paths(inp: str | Path | None) -> list[Path]:
    """The file or folder behind an input argument (`data.npz`, `saved_model/`, `pkg.mod:function`, `f.py:fn`)."""
    if not inp:
        return []
    p = Path(inp)
    if p.exists():
        return [p]
    head = str(inp).rsplit(":", 1)[0]
    return [Path(head)] if head != str(inp) and Path(head).exists() else []


def _refuse_special(out: Path) -> None:
    res = out.resolve()
    if res == Path(res.anchor):
        raise UsageError(f"{_display(out)}: the filesystem root cannot be an output folder",
                          hint="choose a dedicated folder, e.g. -o build/model")
    home = Path.home().resolve()
    if res == home:
        raise UsageError(f"{_display(out)}: your home folder cannot be an output folder",
                          hint="choose a dedicated folder, e.g. -o build/model")


@dataclass(frozen=True)
class OutDirPlan:
    """What replacing `out` means: the edgeq files to remove, and the user's files that must stay."""

    out: Path
    exists: bool
    ours: frozenset[str]  # files listed in the previous manifest (edgeq's own)
    foreign: frozenset[str]  # files edgeq did not write (kept; never overwritten)


def prepare_out_dir(out: Path | str, force: bool, inputs: Sequence[str | Path | None] = ()) -> OutDirPlan:
    """Check before any work that `out` may receive edgeq's artifacts. Raises OutputError/UsageError with the fix.

    inputs: the command's input paths (model, data, ...); an output folder containing one is refused.
    """
    try:
        return _prepare_out_dir(Path(out), force, inputs)
    except OSError as e:
        raise OutputError(f"{_display(Path(out))}: cannot use it as the output folder ({e.strerror or e}: "
                          f"{e.filename or ''})", hint="choose a folder you can read and write") from None


def _prepare_out_dir(out: Path, force: bool, inputs: Sequence[str | Path | None]) -> OutDirPlan:
    _refuse_special(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{_display(out)}: exists and is not a directory", hint="choose another -o/--out folder")
    res = out.resolve()
    for inp in inputs:
        for ip in _input_paths(inp):
            ipr = ip.resolve()
            if ipr == res or _inside(ipr, res) or (ip.is_dir() and _inside(res, ipr)):
                raise UsageError(f"{_display(out)}: the output folder contains your input {inp}; edgeq will not "
                                  "write its artifacts next to (or into) the files it reads",
                                  hint=f"choose a separate folder, e.g. -o build/{ip.stem or 'model'}")
    _check_writable(out)
    if not out.exists():
        return OutDirPlan(out, False, frozenset(), frozenset())
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() or p.is_symlink()}
    present.discard(MANIFEST)
    if not present and not any(out.iterdir()):
        return OutDirPlan(out, True, frozenset(), frozenset())
    manifest = read_manifest(out) or {}
    ours = frozenset(f for f in present & manifest.keys() if _sha256(out / f) == manifest[f])
    foreign = frozenset(present - ours)  # the user's files, and edgeq's files the user has edited since
    if not force:
        what = "edgeq's output from an earlier run" if not foreign else "files"
        raise UsageError(f"{_display(out)}: output folder exists and holds {what}; refusing to overwrite",
                         hint="choose a new folder, or pass --force to replace edgeq's own files there "
                              "(files edgeq did not write are never touched)")
    markers = sorted(m for m in PROJECT_MARKERS if (out / m).exists() and m not in ours)
    if markers:
        raise UsageError(f"{_display(out)}: looks like a project folder ({', '.join(markers)}); edgeq will not "
                          "write its artifacts into it, even with --force",
                          hint="use a dedicated subfolder, e.g. -o build/model")
    return OutDirPlan(out, True, ours, foreign)


def prepare_out_file(out: Path | str, force: bool, suffix: str | None = None,
                     inputs: Sequence[str | Path | None] = ()) -> None:
    """Refuse to replace a user's file unless --force, and never an input; optionally insist on a file type."""
    out = Path(out)
    try:
        _prepare_out_file(out, force, suffix, inputs)
    except OSError as e:
        raise OutputError(f"{out}: cannot write it ({e.strerror or e})", hint="choose a writable path") from None


def _prepare_out_file(out: Path, force: bool, suffix: str | None, inputs: Sequence[str | Path | None]) -> None:
    if suffix and out.suffix.lower() != suffix:
        raise UsageError(f"{out}: expected a {suffix} file name", hint=f"e.g. -o model{suffix}")
    if out.is_dir():
        raise UsageError(f"{out}: is a directory", hint="give a file name")
    for inp in inputs:
        if inp and Path(inp).exists() and out.exists() and Path(inp).resolve() == out.resolve():
            raise UsageError(f"{out}: is your input; edgeq never overwrites the file it reads",
                              hint=f"write to another name, e.g. -o {out.with_stem(out.stem + '-edgeq')}")
    if out.exists() and not force:
        raise UsageError(f"{out}: file exists; refusing to overwrite it", hint="choose another name, or pass --force")
    _check_writable(out.parent)


def new_tmp_dir(out: Path | str) -> Path:
    """A fresh temporary folder next to `out` (same filesystem, so the final move is a rename), with umask modes."""
    out = Path(out)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.resolve().name}.edgeq-", dir=parent))
        tmp.chmod(0o777 & ~umask())
    except OSError as e:
        raise OutputError(f"{_display(out)}: cannot create a working folder in {parent}: {e.strerror}",
                          hint="choose a writable -o/--out folder") from None
    return tmp


_committed: list[Path] = []


def forget_commits() -> None:
    """Start of a command (edgeq.cli.main): outputs committed before it do not count for it."""
    _committed.clear()


def last_committed() -> Path | None:
    """The output committed by this process, if any (the CLI uses it to tell an interrupt after the output was
    complete from one before: the former is a success)."""
    return _committed[-1] if _committed else None


@contextmanager
def _deferred_sigint() -> Iterator[None]:
    """Hold Ctrl-C while the result moves into place, so the folder ends up either old or new, never mixed."""
    got: list[int] = []
    try:
        prev = signal.signal(signal.SIGINT, lambda s, f: got.append(s))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, prev)
    if got:
        raise KeyboardInterrupt


def _fix_modes(root: Path) -> None:
    mask = umask()
    for p in [root, *root.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o777 & ~mask)


def commit_dir(tmp: Path, plan: OutDirPlan | Path | str, command: str = "convert") -> tuple[str, ...]:
    """Move the finished tmp folder's files into place, replacing only edgeq's earlier files. Returns the
    relative paths written. tmp is removed in every case."""
    if not isinstance(plan, OutDirPlan):
        plan = prepare_out_dir(plan, force=True)
    out = plan.out
    try:
        new = tuple(sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file() and p.name != MANIFEST))
        clash = sorted(set(new) & plan.foreign)
        if clash:
            raise UsageError(f"{_display(out)}: would overwrite {', '.join(clash[:5])}, which edgeq did not write "
                              "(or which was edited after edgeq wrote it)",
                              hint="move those files away, or choose another -o/--out folder")
        write_manifest(tmp, new, command)
        _fix_modes(tmp)
        res = out.resolve()
        with _deferred_sigint():
            # a whole-folder swap is atomic, but only for a folder holding nothing of the user's and not the
            # current directory (or one of its parents: `-o .`), which must stay where the user's shell is
            if not res.exists() or (not plan.foreign and _only_ours(res, plan)
                                    and not _inside(Path.cwd().resolve(), res)):
                _swap_dirs(tmp, res)
            else:
                _merge_into(tmp, res, plan)
            _committed.append(out)
    except OSError as e:
        raise OutputError(f"{_display(out)}: could not write the output ({e.strerror or e}: {e.filename or ''})",
                          hint="check the folder's permissions and free space; nothing was changed") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return new


def _only_ours(out: Path, plan: OutDirPlan) -> bool:
    """True when out holds nothing but edgeq's files (re-checked at commit time: the user may have added some)."""
    for p in out.rglob("*"):
        rel = str(p.relative_to(out))
        if p.is_dir() and not p.is_symlink():
            if not any(o.startswith(rel + "/") for o in plan.ours):
                return False  # a folder of the user's (even an empty one)
        elif rel != MANIFEST and rel not in plan.ours:
            return False
    return True


def _swap_dirs(tmp: Path, out: Path) -> None:
    backup = None
    if out.exists():
        backup = out.with_name(f".{out.name}.edgeq-old")
        if backup.exists():
            shutil.rmtree(backup)
        out.rename(backup)
    try:
        tmp.rename(out)
    except OSError:
        if backup is not None:
            backup.rename(out)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _merge_into(tmp: Path, out: Path, plan: OutDirPlan) -> None:
    """out also holds the user's files: remove edgeq's old files, move the new ones in, keep everything else."""
    for rel in sorted(plan.ours):
        p = out / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
    for p in sorted(out.rglob("*"), key=lambda q: len(q.parts), reverse=True):  # folders edgeq's files left empty
        if p.is_dir() and not p.is_symlink() and not any(p.iterdir()):
            rel = str(p.relative_to(out))
            if any(o.startswith(rel + "/") for o in plan.ours):
                p.rmdir()
    for p in sorted(tmp.rglob("*")):
        dest = out / p.relative_to(tmp)
        if p.is_dir():
            dest.mkdir(exist_ok=True)
        else:
            os.replace(p, dest)


def write_file(out: Path | str, data: bytes | str) -> None:
    """Write one output file atomically (temp file + rename) with umask permissions; OS errors become clear."""
    out = Path(out)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            os.chmod(name, 0o666 & ~umask())
            os.replace(name, out)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"{out}: could not write it ({e.strerror or e})",
                          hint="check the folder's permissions and free space") from None


def save_with(out: Path | str, save) -> None:
    """Write one output file through a library's own writer (e.g. `keras.Model.save`, which needs the real suffix):
    into a temporary name in the same folder, then renamed over `out`, so a failure never leaves half a file."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.edgeq-{os.getpid()}{out.suffix}")
        try:
            save(tmp)
            os.chmod(tmp, 0o666 & ~umask())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"{out}: could not write it ({e.strerror or e})",
                          hint="check the folder's permissions and free space") from None


def add_to_manifest(folder: Path, files: Iterable[str], command: str) -> None:
    """Record files a later command (e.g. bench) wrote into an edgeq folder, so --force may replace them later."""
    write_manifest(folder, files, command, old=read_manifest(folder))
