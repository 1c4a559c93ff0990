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
from edgeq.harness.linux import RUNNER_PATH, RunnerResult, parse_runner_output, result_from_json, runner_args

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
    shutil.rmtree(debs, ignore_errors=True)
    shutil.rmtree(apt / "cache", ignore_errors=True)
    size = sum(f.stat().st_size for f in sysroot.rglob("*") if f.is_file() and not f.is_symlink())
    man.write_text(json.dumps({"suite": SUITE, "python": PYTHON, "debs": list(DEBS),
                               "wheels": {k: v for k, v in versions.items() if v},
                               "size_bytes": size, "setup_s": round(time.monotonic() - t0, 1)}, indent=1) + "\n")
    _write_cpu_overlays(root)
    check = run_python(root, "cortex-a72", ["-c", "import numpy, ai_edge_litert.interpreter; print('ok')"], 300)
    if check.stdout.strip() != "ok":
        raise DeviceError(f"emulator setup: the new sysroot in {root} does not run Python + LiteRT\n"
                          f"{check.stderr[-2000:]}", hint="rerun with force=True (--force)")
    return root


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


def run_python(root: Path, cpu: str, args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
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
    cmd = [qemu_binary(), "-L", str(ov), "-cpu", cpu, str(ov / "usr" / "bin" / PYTHON), "-I", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"emulator:{cpu}: no result after {timeout_s:g} s",
                          hint="emulation is ~10-50x slower than native; lower --runs or raise the timeout") from None


def run_emulated(model: str | Path, inputs: str | Path, *, cpu: str = "cortex-a72", cache_dir=None,
                 threads: int = 1, warmup: int = 1, runs: int = 5, kernels: str = "default",
                 timeout_s: float = 900) -> RunnerResult:
    """remote_runner.py under qemu-aarch64 -cpu `cpu` on the cached sysroot (host paths are visible as-is)."""
    root = _require(cache_dir)
    # -I ignores PYTHONPATH: put the wheels on sys.path from the runner's own argv instead.
    site = str(root / f"cpu-{cpu}" / "usr" / "lib" / "python3" / "dist-packages")
    boot = ("import sys, runpy; sys.path.insert(0, sys.argv.pop(1)); sys.argv.pop(0); "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    argv = ["-c", boot, site, str(RUNNER_PATH),
            *runner_args(str(Path(model).resolve()), inputs=str(Path(inputs).resolve()), threads=threads,
                         warmup=warmup, runs=runs, kernels=kernels)]
    p = run_python(root, cpu, argv, timeout_s)
    if p.returncode < 0 or "uncaught target signal" in p.stderr:
        raise DeviceError(f"emulator:{cpu}: the runner crashed\n{p.stderr.strip()[-1500:]}",
                          hint="LiteRT crashed under emulation; check the model on --device host first")
    obj = parse_runner_output(p.stdout, p.stderr, f"emulator:{cpu}")
    if obj.get("machine") != "aarch64":
        raise DeviceError(f"emulator:{cpu}: the runner reports machine {obj.get('machine')!r}, not aarch64")
    return result_from_json(obj, log=p.stderr)
