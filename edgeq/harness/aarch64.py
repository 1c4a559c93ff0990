"""Emulated Raspberry Pi (bench stage, `--device emulator`): LiteRT in qemu-aarch64 on a rootless arm64 sysroot.

`setup_emulator()` builds the sysroot once into a cache folder, without root and without touching the host's
apt state: apt-get with its own state/cache/sources folders downloads Debian bookworm arm64 .debs of python3.11
and the libraries it and LiteRT need, `dpkg-deb -x` unpacks them, and `pip install --target` adds the aarch64
wheels of numpy and ai-edge-litert at the versions installed on this host (same LiteRT = same kernels, so the
outputs must be byte-identical to the host run).

Each CPU gets a small overlay folder (symlinks to the shared sysroot plus its own `/proc/cpuinfo` and
`/sys/devices/system/cpu/{possible,present,online}`): qemu-user's `-L` serves those files to the guest instead
of the x86 host's. XNNPACK's cpuinfo library reads them to pick kernels; with the host's x86 cpuinfo LiteRT 2.3
crashes when it creates the XNNPACK delegate. `-cpu max` is never used: it advertises features (SVE, SME, ...)
no Pi has, and XNNPACK then takes kernel paths that compute different results.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edgeq.errors import DeviceError, ToolMissing, UsageError
from edgeq.harness.runner import RUNNER_PATH, RunnerResult, parse_runner_output, result_from_json, runner_args

SUITE = "bookworm"
PYTHON = "python3.11"
# python3.11 and everything its stdlib and the LiteRT/numpy wheels link against (resolved once with
# `apt-cache depends --recurse python3.11 libpython3.11-stdlib`, minus perl/dpkg/tar which Python never runs).
DEBS = ("libc6", "libgcc-s1", "libstdc++6", "gcc-12-base", "zlib1g", "libexpat1", "libffi8", "libbz2-1.0",
        "liblzma5", "libcrypt1", "libssl3", "libuuid1", "libsqlite3-0", "libncursesw6", "libtinfo6", "libreadline8",
        "libdb5.3", "libgdbm6", "libnsl2", "libtirpc3", "python3.11", "python3.11-minimal",
        "libpython3.11-minimal", "libpython3.11-stdlib", "media-types")
WHEELS = ("ai-edge-litert", "numpy")
PLATFORMS = ("manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MANIFEST = "edgeq-sysroot.json"

# What /proc/cpuinfo says on the real boards (64-bit Raspberry Pi OS). MIDR fields: implementer 0x41 (Arm),
# part 0xd08 = Cortex-A72 r0p3 (BCM2711), 0xd0b = Cortex-A76 r4p1 (BCM2712).
CPUS = {
    "cortex-a72": dict(part="0xd08", variant="0x0", revision="3", features="fp asimd evtstrm crc32 cpuid",
                       model="Raspberry Pi 4 Model B Rev 1.4", revision_code="c03114"),
    "cortex-a76": dict(part="0xd0b", variant="0x4", revision="1",
                       features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm "
                                "lrcpc dcpop asimddp",
                       model="Raspberry Pi 5 Model B Rev 1.0", revision_code="d04170"),
}


# A QEMU TCG plugin (written for edgeq against the QEMU 7.x plugin API, version 1) that counts executed guest
# instructions between two marker syscalls of remote_runner.py: lseek(-1, MARK_BASE + 1 | 2). Built at setup
# with the host C compiler; it runs in the dynamic qemu-aarch64 of Debian's qemu-user package (the static
# build cannot load plugins), unpacked into the cache like the sysroot.
PLUGIN_SOURCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb)(qemu_plugin_id_t, void *);
typedef void (*syscall_cb)(qemu_plugin_id_t, unsigned int, int64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                           uint64_t, uint64_t, uint64_t, uint64_t);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb, void *);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t, syscall_cb);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
#define MARK_BASE 0x6564676571000000ULL
#define AARCH64_NR_LSEEK 62
static uint64_t insns, start, deltas[256];
static int ndeltas;
static char out_path[4096];
/* Count per translated block, added inline when the block starts (single guest thread: no atomics needed). */
static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, qemu_plugin_tb_n_insns(tb));
}
static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    (void)id; (void)vcpu; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; (void)a8;
    if (num != AARCH64_NR_LSEEK || a1 != (uint64_t)-1) return;
    if (a2 == MARK_BASE + 1) start = insns;
    else if (a2 == MARK_BASE + 2 && ndeltas < 256) deltas[ndeltas++] = insns - start;
}
static void at_exit(qemu_plugin_id_t id, void *p) {
    (void)id; (void)p;
    FILE *f = fopen(out_path, "w");
    if (!f) return;
    fprintf(f, "total %llu\n", (unsigned long long)insns);
    for (int i = 0; i < ndeltas; i++) fprintf(f, "%llu\n", (unsigned long long)deltas[i]);
    fclose(f);
}
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
    if (!out_path[0]) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
"""


def default_cache_dir() -> Path:
    env = os.environ.get("EDGEQ_AARCH64_SYSROOT")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeq" / "aarch64-sysroot"


def qemu_binary() -> str:
    for name in ("qemu-aarch64-static", "qemu-aarch64"):
        p = shutil.which(name)
        if p:
            return p
    raise ToolMissing("qemu-aarch64 not found: the emulated Pi needs QEMU user-mode emulation",
                      hint="apt-get install qemu-user-static")


def _run(cmd: list[str], timeout_s: float, what: str, **kw) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False, **kw)
    except FileNotFoundError:
        raise ToolMissing(f"`{cmd[0]}` not found (needed to {what})",
                          hint="the emulator setup needs Debian/Ubuntu's apt-get and dpkg-deb") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"emulator setup: timed out after {timeout_s:g} s while trying to {what}",
                          hint="check the network connection to the Debian mirror / PyPI and retry") from None
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-12:])
        raise DeviceError(f"emulator setup: failed to {what} (exit {p.returncode})\n{tail}",
                          hint="retry; set EDGEQ_DEBIAN_MIRROR to another Debian mirror if the default is unreachable")
    return p


def _host_versions() -> dict[str, str]:
    out = {}
    for w in WHEELS:
        try:
            out[w] = importlib.metadata.version(w)
        except importlib.metadata.PackageNotFoundError:
            out[w] = ""
    return out


def setup_emulator(cache_dir: str | Path | None = None, *, force: bool = False, timeout_s: float = 1200) -> Path:
    """Build (or reuse) the arm64 sysroot in `cache_dir`; returns its path. Needs network, not root."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    versions = _host_versions()
    sysroot = root / "sysroot"
    man = root / MANIFEST
    if man.is_file() and not force:
        try:
            old = json.loads(man.read_text())
        except ValueError:
            old = {}
        if old.get("wheels") == {k: v for k, v in versions.items() if v} or not any(versions.values()):
            _write_cpu_overlays(root)
            if "instruction_counting" not in old:  # sysroot from an older edgeq: add the counter
                old["instruction_counting"] = _setup_instruction_counter(root, timeout_s)
                man.write_text(json.dumps(old, indent=1) + "\n")
            return root
    if not Path(KEYRING).is_file():
        raise ToolMissing(f"{KEYRING} not found: needed to verify the Debian arm64 packages",
                          hint="apt-get install debian-archive-keyring")
    t0 = time.monotonic()
    if root.exists():
        for sub in ("sysroot", "apt", "debs", "wheels"):
            shutil.rmtree(root / sub, ignore_errors=True)
        man.unlink(missing_ok=True)
    apt = root / "apt"
    for d in ("state/lists/partial", "cache/archives/partial", "etc/preferences.d"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "state" / "status").write_text("")
    mirror = os.environ.get("EDGEQ_DEBIAN_MIRROR", "http://deb.debian.org/debian").rstrip("/")
    sec = os.environ.get("EDGEQ_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security").rstrip("/")
    (apt / "etc" / "sources.list").write_text(
        f"deb [arch=arm64 signed-by={KEYRING}] {mirror} {SUITE} main\n"
        f"deb [arch=arm64 signed-by={KEYRING}] {mirror} {SUITE}-updates main\n"
        f"deb [arch=arm64 signed-by={KEYRING}] {sec} {SUITE}-security main\n")
    # A private apt configuration: own lists, cache, status and sources; arm64 only; no lock on /var.
    opts = []
    for k, v in (("Dir::State", apt / "state"), ("Dir::State::status", apt / "state" / "status"),
                 ("Dir::Cache", apt / "cache"), ("Dir::Etc::SourceList", apt / "etc" / "sources.list"),
                 ("Dir::Etc::SourceParts", apt / "etc" / "sources.list.d"),
                 ("Dir::Etc::Preferences", apt / "etc" / "preferences"),
                 ("Dir::Etc::PreferencesParts", apt / "etc" / "preferences.d"),
                 ("APT::Architecture", "arm64"), ("APT::Architectures", "arm64"), ("Debug::NoLocking", "1"),
                 ("APT::Sandbox::User", "root" if os.geteuid() == 0 else "")):
        opts += ["-o", f"{k}={v}"]
    _run(["apt-get", *opts, "-q", "update"], timeout_s, "download the Debian arm64 package lists")
    debs = root / "debs"
    debs.mkdir()
    _run(["apt-get", *opts, "-q", "download", *DEBS], timeout_s, "download the arm64 .debs", cwd=debs)
    sysroot.mkdir(parents=True)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(sysroot)], 120, f"unpack {deb.name}")
    _relativize_symlinks(sysroot)
    site = sysroot / "usr" / "lib" / "python3" / "dist-packages"
    site.mkdir(parents=True, exist_ok=True)
    wheels = root / "wheels"
    pins = [f"{w}=={v}" if v else w for w, v in versions.items()]
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    flags = [*plat, "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--no-deps"]
    _run([*pip, "download", "--dest", str(wheels), *flags, *pins], timeout_s, "download the aarch64 wheels")
    _run([*pip, "install", "--no-compile", "--target", str(site), *flags, *map(str, sorted(wheels.glob("*.whl")))],
         timeout_s, "install the aarch64 wheels")
    # Keep only the sysroot: the .debs, wheels and apt lists are not needed to run (setup --force refetches).
    for d in (debs, wheels, apt):
        shutil.rmtree(d, ignore_errors=True)
    counter = _setup_instruction_counter(root, timeout_s)
    size = sum(f.stat().st_size for f in sysroot.rglob("*") if f.is_file() and not f.is_symlink())
    man.write_text(json.dumps({"suite": SUITE, "python": PYTHON, "debs": list(DEBS),
                               "wheels": {k: v for k, v in versions.items() if v},
                               "instruction_counting": counter, "size_bytes": size,
                               "setup_s": round(time.monotonic() - t0, 1)}, indent=1) + "\n")
    _write_cpu_overlays(root)
    check = run_python(root, "cortex-a72", ["-c", "import numpy, ai_edge_litert.interpreter; print('ok')"], 300)
    if check.stdout.strip() != "ok":
        raise DeviceError(f"emulator setup: the new sysroot in {root} does not run Python + LiteRT\n"
                          f"{check.stderr[-2000:]}", hint="rerun with force=True (--force)")
    return root


def _setup_instruction_counter(root: Path, timeout_s: float) -> str:
    """Unpack Debian's dynamic qemu-aarch64 (host arch) and build the counting plugin. Optional: returns "yes"
    or why not, and the emulator works without it."""
    qdir = root / "qemu"
    shutil.rmtree(qdir, ignore_errors=True)
    qdir.mkdir(parents=True)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "no: no C compiler (apt-get install gcc)"
    try:
        _run(["apt-get", "-q", "download", "qemu-user"], timeout_s, "download qemu-user", cwd=qdir)
        deb = next(qdir.glob("qemu-user_*.deb"))
        _run(["dpkg-deb", "-x", str(deb), str(qdir / "root")], 120, "unpack qemu-user")
        deb.unlink()
        for f in (qdir / "root" / "usr" / "bin").iterdir():  # the package holds every target; keep aarch64
            if f.name != "qemu-aarch64":
                f.unlink()
        shutil.rmtree(qdir / "root" / "usr" / "share", ignore_errors=True)
        (qdir / "edgeq_insn.c").write_text(PLUGIN_SOURCE)
        _run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(qdir / "libedgeq_insn.so"),
              str(qdir / "edgeq_insn.c")], 120, "build the instruction-counting plugin")
        _run([str(qdir / "root" / "usr" / "bin" / "qemu-aarch64"), "-version"], 60, "run the dynamic qemu-aarch64")
    except (DeviceError, ToolMissing, StopIteration) as e:
        shutil.rmtree(qdir, ignore_errors=True)
        return f"no: {getattr(e, 'message', 'qemu-user package not found')}".splitlines()[0][:200]
    return "yes"


def _counter(root: Path) -> tuple[str, str] | None:
    q = root / "qemu" / "root" / "usr" / "bin" / "qemu-aarch64"
    plugin = root / "qemu" / "libedgeq_insn.so"
    return (str(q), str(plugin)) if q.is_file() and plugin.is_file() else None


def _relativize_symlinks(sysroot: Path) -> None:
    """Absolute symlinks inside the sysroot would resolve against the x86 host's / : make them relative."""
    for p in sysroot.rglob("*"):
        if p.is_symlink():
            dest = os.readlink(p)
            if dest.startswith("/"):
                p.unlink()
                p.symlink_to(os.path.relpath(sysroot / dest.lstrip("/"), p.parent))


def cpuinfo_text(cpu: str, cores: int = 4) -> str:
    c = CPUS[cpu]
    block = ("processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
             "CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n")
    text = "".join(block.format(i=i, **c) for i in range(cores))
    return text + f"Revision\t: {c['revision_code']}\nModel\t\t: {c['model']}\n"


def _write_cpu_overlays(root: Path) -> None:
    sysroot = root / "sysroot"
    for cpu in CPUS:
        ov = root / f"cpu-{cpu}"
        ov.mkdir(exist_ok=True)
        for entry in sysroot.iterdir():
            link = ov / entry.name
            if entry.name in ("proc", "sys"):
                continue
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(entry, ov))
        (ov / "proc").mkdir(exist_ok=True)
        (ov / "proc" / "cpuinfo").write_text(cpuinfo_text(cpu))
        sysdir = ov / "sys" / "devices" / "system" / "cpu"
        sysdir.mkdir(parents=True, exist_ok=True)
        for f in ("possible", "present", "online"):
            (sysdir / f).write_text("0-3\n")


def sysroot_info(cache_dir: str | Path | None = None) -> dict:
    """The manifest of an installed sysroot (versions, size, setup time); {} when not set up."""
    man = (Path(cache_dir) if cache_dir else default_cache_dir()) / MANIFEST
    try:
        return json.loads(man.read_text())
    except (OSError, ValueError):
        return {}


def _require(cache_dir: str | Path | None) -> Path:
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    if not (root / MANIFEST).is_file():
        raise DeviceError(f"the aarch64 emulator is not set up (no sysroot in {root})",
                          hint=f"run once: edgeq emulator setup{' --cache-dir ' + str(root) if cache_dir else ''}")
    return root


def run_python(root: Path, cpu: str, args: list[str], timeout_s: float,
               plugin_out: Path | None = None) -> subprocess.CompletedProcess:
    """Run the sysroot's python3.11 under qemu-aarch64 with the given CPU model."""
    if cpu == "max" or cpu not in CPUS:
        raise UsageError(f"emulated CPU {cpu!r} is not supported",
                         hint=f"use one of {', '.join(CPUS)} (never `max`: XNNPACK computes wrong results on it)")
    ov = root / f"cpu-{cpu}"
    if not (ov / "proc" / "cpuinfo").is_file():
        _write_cpu_overlays(root)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(Path.home()), "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ov / "usr" / "lib" / "python3" / "dist-packages"),
           "TF_CPP_MIN_LOG_LEVEL": "2", "QEMU_LD_PREFIX": str(ov)}
    qemu = [qemu_binary()]
    counter = _counter(root) if plugin_out is not None else None
    if counter:
        qemu = [counter[0], "-plugin", f"{counter[1]},out={plugin_out}"]
    cmd = [*qemu, "-L", str(ov), "-cpu", cpu, str(ov / "usr" / "bin" / PYTHON), "-I", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"emulator:{cpu}: no result after {timeout_s:g} s",
                          hint="emulation is ~10-50x slower than native; lower --runs or raise the timeout") from None


def run_emulated(model: str | Path, inputs: str | Path, *, cpu: str = "cortex-a72", cache_dir=None,
                 threads: int = 1, warmup: int = 1, runs: int = 5, kernels: str = "default",
                 timeout_s: float = 900, count_instructions: bool = True) -> RunnerResult:
    """remote_runner.py under qemu-aarch64 -cpu `cpu` on the cached sysroot (host paths are visible as-is)."""
    root = _require(cache_dir)
    # -I ignores PYTHONPATH: put the wheels on sys.path from the runner's own argv instead.
    site = str(root / f"cpu-{cpu}" / "usr" / "lib" / "python3" / "dist-packages")
    boot = ("import sys, runpy; sys.path.insert(0, sys.argv.pop(1)); sys.argv.pop(0); "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    argv = ["-c", boot, site, str(RUNNER_PATH),
            *runner_args(str(Path(model).resolve()), inputs=str(Path(inputs).resolve()), threads=threads,
                         warmup=warmup, runs=runs, kernels=kernels)]
    counting = count_instructions and threads == 1 and _counter(root) is not None
    plugin_out = None
    if counting:
        import tempfile

        argv += ["--mark-instructions", str(MARK_RUNS)]
        fd, name = tempfile.mkstemp(prefix="edgeq-insn-", suffix=".txt")
        os.close(fd)
        plugin_out = Path(name)
    try:
        p = run_python(root, cpu, argv, timeout_s, plugin_out=plugin_out)
        counts = plugin_out.read_text().splitlines()[1:] if plugin_out and plugin_out.exists() else []
    finally:
        if plugin_out:
            plugin_out.unlink(missing_ok=True)
    if p.returncode < 0 or "uncaught target signal" in p.stderr:
        raise DeviceError(f"emulator:{cpu}: the runner crashed\n{p.stderr.strip()[-1500:]}",
                          hint="LiteRT crashed under emulation; check the model on --device host first")
    obj = parse_runner_output(p.stdout, p.stderr, f"emulator:{cpu}")
    if obj.get("machine") != "aarch64":
        raise DeviceError(f"emulator:{cpu}: the runner reports machine {obj.get('machine')!r}, not aarch64")
    res = result_from_json(obj, log=p.stderr)
    if counting:
        from dataclasses import replace

        res = replace(res, instructions_per_inference=instructions_per_inference(res.instruction_marks, counts))
    return res


MARK_RUNS = 4


def instructions_per_inference(marks: tuple[int, ...], counts: list[str]) -> float | None:
    """Median over the (1, N) window pairs of (count(N) - count(1)) / (N - 1): constant overhead cancels."""
    deltas = [int(c) for c in counts if c.strip().isdigit()]
    if not marks or len(deltas) != len(marks):
        return None
    per = sorted((deltas[i + 1] - deltas[i]) / (marks[i + 1] - marks[i])
                 for i in range(0, len(marks) - 1, 2) if marks[i + 1] > marks[i])
    return float(round(per[len(per) // 2])) if per else None
