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

As a compiler wrapper for make users (like ccache): `python -m edgeq.objcache arm-none-eabi-gcc <args>`, which
targets/edgeq.mk offers as `CC := $(EDGEQ_CC_CACHE) arm-none-eabi-gcc`. A plain compile of one C source
(`-c src.c -o obj`, no dependency-file (-M*) or other side-output flags) is served from the cache when the same
compiler, flags and preprocessed source were compiled before (e.g. the runtime after a model change rewrote it);
every other invocation (linking, -MMD, several sources, ...) runs the compiler as it is. Warnings are printed when
a source is compiled, not when its object is reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
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


# ------------------------------------------------------------------------------------- compiler wrapper
# GCC options whose value is the next argument (so it is not taken for a source file).
_VALUE_OPTS = frozenset(("-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem", "-iquote", "-idirafter",
                         "-iprefix", "-iwithprefix", "-L", "-l", "-T", "-Xlinker", "-Xassembler",
                         "-Xpreprocessor", "--param", "-MF", "-MT", "-MQ", "-x", "-aux-info"))
# Anything with outputs besides the object, or that is not a compile to an object, runs uncached.
_UNCACHEABLE = ("-M", "-save-temps", "-x", "-fdump-", "-aux-info", "-specs", "--specs", "-wrapper",
                "-fplugin", "-frecord-gcc-switches", "-flto", "-fprofile-", "-ftest-coverage", "-fstack-usage",
                "-fcallgraph-info", "-Wl,", "-Xlinker", "-l", "-L", "-T")


def single_compile(args: Sequence[str]) -> tuple[list[str], Path, Path] | None:
    """(flags without -c/-o/the source, source, object) when `args` compile exactly one C source to an object
    file and nothing else; None otherwise (the call then runs uncached)."""
    flags: list[str] = []
    sources: list[str] = []
    obj = None
    compile_only = False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-c":
            compile_only = True
        elif a == "-o":
            if i + 1 >= len(args) or obj is not None:
                return None
            obj = args[i + 1]
            i += 1
        elif a.startswith("@") or a in ("-", "-E", "-S") or any(a.startswith(u) for u in _UNCACHEABLE):
            return None
        elif a in _VALUE_OPTS:
            if i + 1 >= len(args):
                return None
            flags += [a, args[i + 1]]
            i += 1
        elif a.startswith("-"):
            flags.append(a)
        else:
            sources.append(a)
        i += 1
    if not compile_only or obj is None or len(sources) != 1 or not sources[0].endswith(".c"):
        return None
    return flags, Path(sources[0]), Path(obj)


class _PreprocessFailed(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edgeq.objcache COMPILER ARGS...`: COMPILER ARGS, its object taken from / put in the cache when
    it is a single-source compile (single_compile); the compiler's exit status and messages otherwise."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stderr.write("usage: python -m edgeq.objcache COMPILER ARGS...  (a caching compiler wrapper; see "
                         "targets/edgeq.mk EDGEQ_CC_CACHE)\n")
        return 2
    compiler, rest = args[0], args[1:]
    plan = single_compile(rest)
    if plan is None or objects_dir() is None or shutil.which(compiler) is None:
        return subprocess.run(args).returncode

    def run(cmd: list[str], what: str):
        if "-E" in cmd:  # the key's preprocessor run: its output is the key, its failure the compiler's to report
            r = subprocess.run(cmd, capture_output=True)
            if r.returncode:
                raise _PreprocessFailed
            return r.stdout
        r = subprocess.run(cmd)
        if r.returncode:
            raise SystemExit(r.returncode)
        return b""

    flags, src, obj = plan
    try:
        hit = compile_cached(shutil.which(compiler), flags, src, obj, run, f"compile {src.name}")
    except _PreprocessFailed:
        return subprocess.run(args).returncode
    except SystemExit as e:
        return int(e.code or 1)
    if not hit:
        prune()
    return 0


if __name__ == "__main__":
    sys.exit(main())
