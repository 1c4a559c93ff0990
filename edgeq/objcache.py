"""A compiled-object cache shared by the Cortex-M firmware build (edgeq.harness.cortexm.build) and the host
build of generated C (edgeq.codegen.host): the runtime (edgeq_runtime/src/*.c) and harness sources are the
same for every model, so they are compiled once per compiler and flag set and their objects reused across
models, builds and processes; only the model's own files compile per model.

Key of an object (sha256): the compiler (resolved path, `--version` and `-dumpmachine` output, the binary's
size and mtime), every code-generating flag in order (include directories and -D/-U are left out: what they
do is in the next item), and the source *as preprocessed* with those flags (`gcc -E -P`: the source and the
content of every header it includes, system headers too, with macros applied). A header edit that changes
what the compiler sees therefore changes the key; an object is never served for sources it was not compiled
from. (`-P` drops line markers: two sources differing only in comments or blank lines share an object whose
debug line numbers are those of the first; code and data are identical.)

Where: `$EDGEQ_CACHE_DIR/objects`, else `$XDG_CACHE_HOME/edgeq/objects`, else `~/.cache/edgeq/objects`;
`EDGEQ_OBJECT_CACHE=0` (or an unwritable folder) turns it off: everything is compiled, nothing is kept.
Writes are atomic (a temporary file in the same folder, then rename), so any number of processes may build
at once: a reader sees a whole object or none, and two writers of one key write the same bytes. A hit is
copied into the build folder (never linked: a later compile there must not change the cached file). The
folder is pruned to the most recently used MAX_ENTRIES objects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

ENV_DIR = "EDGEQ_CACHE_DIR"  # edgeq's cache root (the Cortex-M timing plugin lives there too)
ENV_SWITCH = "EDGEQ_OBJECT_CACHE"  # 0/off: no object cache
KEY_VERSION = b"edgeq-objcache-2"
MAX_ENTRIES = 4000
_OFF = ("off", "0", "none", "false", "no")
_PRUNE_LOCK = threading.Lock()


def cache_root() -> Path:
    """edgeq's user cache folder ($EDGEQ_CACHE_DIR, else $XDG_CACHE_HOME/edgeq, else ~/.cache/edgeq)."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeq"


def objects_dir() -> Path | None:
    """The object cache folder, created; None when the cache is off or the folder cannot be made."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in _OFF:
        return None
    d = cache_root() / "objects"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d if os.access(d, os.W_OK) else None


@lru_cache(maxsize=32)
def _compiler_id(path: str, size: int, mtime_ns: int) -> bytes:
    parts = [path.encode(), str(size).encode(), str(mtime_ns).encode()]
    for arg in ("--version", "-dumpmachine"):
        try:
            r = subprocess.run([path, arg], capture_output=True, timeout=60)
            parts.append(r.stdout + r.stderr)
        except (OSError, subprocess.TimeoutExpired):
            parts.append(b"?")
    return b"\0".join(parts)


def compiler_id(compiler: str) -> bytes:
    """What identifies a compiler binary (changes with an upgrade in place)."""
    real = os.path.realpath(compiler)
    st = os.stat(real)
    return _compiler_id(real, st.st_size, st.st_mtime_ns)


_PREPROCESSOR_ONLY = ("-I", "-iquote", "-isystem", "-idirafter", "-D", "-U")


def key_flags(flags: Sequence[str]) -> list[str]:
    """The flags that go into a key: all but include directories and macro definitions (-I, -iquote, -isystem,
    -idirafter, -D, -U): they act only through the preprocessor, whose output is part of the key."""
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
            continue
        if f in _PREPROCESSOR_ONLY:
            skip = True
            continue
        if f.startswith(_PREPROCESSOR_ONLY):
            continue
        out.append(f)
    return out


def object_key(compiler: str, flags: Sequence[str], source: Path,
               run: Callable[[list[str], str], object]) -> str:
    """sha256 over the compiler, the code-generating flags and the preprocessed source (see the module doc).
    `run(cmd, what)` runs the preprocessor and raises the caller's error on failure; it returns the
    preprocessed text (str or bytes)."""
    pre = run([compiler, *flags, "-E", "-P", str(source)], f"preprocess {source.name}")
    h = hashlib.sha256(KEY_VERSION)
    for part in (compiler_id(compiler), "\0".join(key_flags(flags)).encode(),
                 pre if isinstance(pre, bytes) else str(pre).encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def lookup(key: str) -> Path | None:
    d = objects_dir()
    if d is None:
        return None
    p = d / key[:2] / f"{key}.o"
    try:
        with open(p, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
        os.utime(p)  # most recently used (pruning keeps these)
    except OSError:
        return None
    return p


def store(key: str, obj: Path) -> None:
    """Put a freshly compiled object in the cache (atomic; failures only mean no caching)."""
    d = objects_dir()
    if d is None:
        return
    sub = d / key[:2]
    tmp = None
    try:
        sub.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=".tmp", dir=sub)
        with os.fdopen(fd, "wb") as f, open(obj, "rb") as src:
            shutil.copyfileobj(src, f)
        os.replace(tmp, sub / f"{key}.o")
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def fetch(key: str, dest: Path) -> bool:
    """Copy the cached object of `key` to dest; False when there is none."""
    p = lookup(key)
    if p is None:
        return False
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dest)
    except OSError:
        return False
    return True


def compile_cached(compiler: str, flags: Sequence[str], source: Path, obj: Path,
                   run: Callable[[list[str], str], object], what: str) -> bool:
    """Compile `source` to `obj` with `flags` (include dirs among them) unless the cache has the object.
    Returns True on a cache hit. `run(cmd, what)` runs a tool and raises the caller's error on failure."""
    if objects_dir() is None:
        run([compiler, *flags, "-c", str(source), "-o", str(obj)], what)
        return False
    key = object_key(compiler, flags, source, run)
    if fetch(key, obj):
        return True
    run([compiler, *flags, "-c", str(source), "-o", str(obj)], what)
    store(key, obj)
    return False


def prune(max_entries: int = MAX_ENTRIES) -> int:
    """Remove the least recently used objects beyond max_entries; returns how many were removed."""
    d = objects_dir()
    if d is None:
        return 0
    with _PRUNE_LOCK:
        try:
            entries = []
            for sub in d.iterdir():
                if sub.is_dir():
                    for p in sub.glob("*.o"):
                        try:
                            entries.append((p.stat().st_mtime_ns, p))
                        except OSError:
                            pass
        except OSError:
            return 0
        if len(entries) <= max_entries:
            return 0
        entries.sort()
        gone = 0
        for _, p in entries[: len(entries) - max_entries // 2]:
            try:
                p.unlink()
                gone += 1
            except OSError:
                pass
        return gone
