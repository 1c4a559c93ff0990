"""`edgeq build` on Ray (edgeq.cluster): a real two-node cluster on this machine (head + a worker offering the
farm device `fake-board`, backed by QEMU), routing by resource, byte-identical artifacts against a serial build,
and a worker killed mid-bench. One module-scoped cluster; every process it started is gone after the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

DIGITS = ROOT / "examples" / "digits"
FARM = "fake-board"


def _project(folder: Path, deployments: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edgeq.toml").write_text(
        f'model = "{DIGITS / "model.keras"}"\ncalib = "{DIGITS / "calib.npz"}"\neval = "{DIGITS / "eval.npz"}"\n'
        "calib_samples = 64\neval_samples = 64\n" + deployments)
    return folder / "edgeq.toml"


DEPLOYMENTS = f"""
[deployments.m4]
target = "cortex-m4"
[deployments.m4.budgets]
flash_bytes = 65_536
cycles = 1_000_000
accuracy_drop_pp = 5

[deployments.pi]
target = "rpi4"
bench = false
[deployments.pi.budgets]
accuracy_drop_pp = 5

[deployments.board]
target = "cortex-m4"
device = "farm:{FARM}"
[deployments.board.budgets]
cycles = 1_000_000
"""


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------ no cluster
def test_import_and_help_do_not_import_ray():
    code = ("import sys, edgeq, edgeq.project, edgeq.cluster, edgeq.cli\n"
            "from click.testing import CliRunner\n"
            "r = CliRunner().invoke(edgeq.cli.cli, ['--help'])\n"
            "assert 'farm' in r.output, r.output\n"
            "r = CliRunner().invoke(edgeq.cli.cli, ['build', '--help'])\n"
            "assert '--parallel' in r.output and '--ray-address' in r.output, r.output\n"
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_missing_ray_says_how_to_install(monkeypatch):
    from edgeq import cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(cluster.ClusterError) as e:
        cluster.ray_module()
    assert "edgeq[cluster]" in e.value.hint


def test_unreachable_cluster_and_farm_without_cluster_are_clear(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proj = _project(tmp_path, DEPLOYMENTS)
    r = run_cli("build", proj, "--only", "pi", "--ray-address", f"127.0.0.1:{port}", timeout=120)
    assert r.returncode == 1 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in r.stderr, r.stderr
    assert "ray start --head" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("build", proj, "--only", "board", timeout=120)
    assert r.returncode == 2 and "[deployments.board]" in r.stderr and "--ray-address" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("farm", "join", "--device", "jtag:1", "--as", "x", "--address", "127.0.0.1:1")
    assert r.returncode == 2 and "unknown device kind 'jtag'" in r.stderr
    r = run_cli("farm", "join", "--device", "host", "--as", FARM, "--address", "127.0.0.1:1", "--dry-run")
    assert r.returncode == 0 and f"--resources '{{\"edgeq-device:{FARM}\": 1}}'" in r.stdout, r.stdout
    assert f"EDGEQ_FARM_DEVICES='{{\"{FARM}\": \"host\"}}'" in r.stdout
    assert not (tmp_path / "build").exists()


# ------------------------------------------------------------------------------------------------ local runtime
LOCAL = """
[deployments.searched]
target = "cortex-m4"
search = true
bench = false
[deployments.searched.budgets]
min_sqnr_db = 38  # int8 misses it, int16x8 meets it: three candidates

[deployments.pi]
target = "rpi4"
bench = false
"""


@pytest.mark.slow
def test_local_parallel_build_with_a_budget_search_is_byte_identical(tmp_path):
    """`edgeq build --parallel 2` on the local Ray runtime edgeq starts and stops: two deployments at once, one
    of them a budget search whose candidates are Ray tasks too; every output file equals the serial build's.
    Run as the user runs it, in its own process (a Ray runtime started and shut down inside the pytest process
    would leave Ray's per-process state behind for the cluster tests that follow)."""
    pytest.importorskip("ray")
    pytest.importorskip("tensorflow")
    from edgeq import project as proj

    before = proj.tool_fingerprint()
    serial = proj.build(proj.load_project(_project(tmp_path / "serial", LOCAL)))
    r = run_cli("build", _project(tmp_path / "par", LOCAL), "--parallel", "2", "--json", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    par = json.loads(r.stdout)
    assert [d.error for d in serial.deployments] == [None, None]
    assert [d["error"] for d in par["deployments"]] == [None, None], par
    assert all(d["node_id"] for d in par["deployments"])  # built by Ray tasks
    s_gate = next(g for g in serial.deployments[0].gates if g.budget == "min_sqnr_db")
    p_gate = next(g for g in par["deployments"][0]["gates"] if g["budget"] == "min_sqnr_db")
    assert (s_gate.passed, s_gate.message) == (p_gate["passed"], p_gate["message"])
    report = json.loads((tmp_path / "par" / "build" / "searched" / "report.json").read_text())
    tried = [c["name"] for c in report["search"]["candidates"]]  # the deployment's search went past int8
    assert len(tried) >= 2 and report["search"]["chosen"] == tried[-1] != tried[0], tried
    proj._TOOL_HASH.clear()
    if proj.tool_fingerprint() != before:
        pytest.skip("edgeq's own sources changed between the two builds: their artifacts cannot be compared")
    for name in ("searched", "pi"):
        a, b = _tree(tmp_path / "serial" / "build" / name), _tree(tmp_path / "par" / "build" / name)
        assert a and a == b, {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


# ------------------------------------------------------------------------------------------------ the cluster
def _ray_cli() -> str:
    return shutil.which("ray") or str(Path(sys.executable).with_name("ray"))


# Runs `ray start --block ...` and, when it ends or this test process dies (even by SIGKILL, when no teardown
# runs), kills every process of its session: no raylet outlives the tests.
_WATCHDOG = r"""
import os, signal, subprocess, sys, time
parent, scratch = int(sys.argv[1]), sys.argv[2]
child = subprocess.Popen(sys.argv[3:])
while child.poll() is None and os.getppid() == parent:
    time.sleep(0.5)
me = os.getsid(0)
for pid in [int(d) for d in os.listdir("/proc") if d.isdigit()]:
    try:
        if pid != os.getpid() and os.getsid(pid) == me:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
if scratch != "-":
    import shutil
    time.sleep(0.5)
    shutil.rmtree(scratch, ignore_errors=True)
"""


def _kill_session(proc: subprocess.Popen) -> None:
    """Stop a `ray start --block` we started in its own session: the group, then any straggler of its session
    (Ray's worker processes get their own process groups but stay in the session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a throwaway cluster: no graceful shutdown needed
    except ProcessLookupError:
        pass
    for _ in range(3):
        left = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getsid(int(d.name)) == proc.pid:
                        left.append(int(d.name))
                except OSError:
                    pass
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not left:
            break
        time.sleep(0.5)
    proc.wait(10)


@pytest.fixture(scope="module")
def cluster():
    """Starts the head and the worker node in the background; `_connect(cluster)` waits for both (so a test can
    do its serial build while the nodes start)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("tensorflow")
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    if ray.is_initialized():
        pytest.skip("this process is already connected to a Ray cluster")
    # a private cluster: no token file of the user's, fast node-death detection, short socket paths
    env = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "500",
           "RAY_health_check_failure_threshold": "4"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    temp = tempfile.mkdtemp(prefix="eqray", dir="/tmp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block", "--disable-usage-stats"]
    log = open(Path(temp) / "nodes.log", "wb")  # noqa: SIM115 - closed in teardown
    procs: list[subprocess.Popen] = []

    def start(args, scratch="-"):
        procs.append(subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), scratch, _ray_cli(),
                                       "start", *args, *common], stdout=log, stderr=log, start_new_session=True))
        return procs[-1]

    try:
        start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"], scratch=temp)
        worker = start(["--address", address, "--resources", json.dumps({f"edgeq-device:{FARM}": 1})])
        yield {"address": address, "procs": procs, "worker": worker}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(procs):
            _kill_session(p)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _connect(cluster: dict) -> dict:
    import ray

    if ray.is_initialized():
        return cluster
    deadline = time.monotonic() + 150
    while True:
        try:
            ray.init(address=cluster["address"], log_to_driver=False, logging_level="ERROR")
            break
        except Exception:  # noqa: BLE001 - the head is still starting
            assert time.monotonic() < deadline and cluster["procs"][0].poll() is None, "the head did not start"
            time.sleep(1)
    while f"edgeq-device:{FARM}" not in ray.cluster_resources():
        assert time.monotonic() < deadline and cluster["worker"].poll() is None, "the worker node did not join"
        time.sleep(0.5)
    nodes = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
    cluster["worker_id"] = next(i for i, n in nodes.items() if f"edgeq-device:{FARM}" in n["Resources"])
    cluster["head_id"] = next(i for i in nodes if i != cluster["worker_id"])
    return cluster


@pytest.mark.slow
@pytest.mark.qemu
def test_cluster_build_is_byte_identical_and_benches_on_the_farm_node(cluster, tmp_path):
    from edgeq import cluster as cluster_mod
    from edgeq import project as proj

    before = proj.tool_fingerprint()
    serial = proj.build(proj.load_project(_project(tmp_path / "serial", DEPLOYMENTS)), only=("m4", "pi"))
    _connect(cluster)
    lines: list[str] = []
    res = cluster_mod.build(proj.load_project(_project(tmp_path / "cluster", DEPLOYMENTS)), progress=lines.append,
                            ray_address=cluster["address"])
    by = {d.name: d for d in res.deployments}
    assert res.passed and serial.passed, [d.error for d in (*res.deployments, *serial.deployments)]
    # routing by resource: the farm bench ran on the worker node, whoever built the deployment
    assert by["board"].bench_node_id == cluster["worker_id"]
    assert not by["m4"].bench_node_id
    # two build tasks ran at once: one per node (each node offers one CPU)
    assert {by[n].node_id for n in by} == {cluster["worker_id"], cluster["head_id"]}
    assert any("done]" in s for s in lines)
    cycles = {n: next(g.figure.value for g in by[n].gates if g.budget == "cycles") for n in ("m4", "board")}
    assert cycles["m4"] == cycles["board"]  # the same model, the same QEMU: the same figure
    gate = next(g for g in by["board"].gates if g.budget == "cycles")
    assert f"farm:{FARM}/qemu:mps2-an386" in gate.message
    # unchanged inputs: the cluster build is cached like a serial one (no task runs)
    again = cluster_mod.build(proj.load_project(tmp_path / "cluster" / "edgeq.toml"), ray_address=cluster["address"])
    assert all(d.cached for d in again.deployments)
    # a farm device no node offers: refused before any work, naming the deployment and the fix
    from edgeq.cluster import ClusterError

    typo = _project(tmp_path / "typo", DEPLOYMENTS.replace(f"farm:{FARM}", "farm:fake-bord"))
    with pytest.raises(ClusterError) as e:
        cluster_mod.build(proj.load_project(typo), only=("board",), ray_address=cluster["address"])
    assert "[deployments.board]" in e.value.message and f"Did you mean `{FARM}`" in e.value.message
    assert "edgeq farm join" in e.value.hint and not (tmp_path / "typo" / "build").exists()
    # byte-identical to the serial build, manifests and records included
    proj._TOOL_HASH.clear()  # recomputed: did someone edit edgeq's sources while the two builds ran?
    if proj.tool_fingerprint() != before:
        pytest.skip("edgeq's own sources changed between the two builds: their artifacts cannot be compared")
    for name in ("m4", "pi"):
        a, b = _tree(tmp_path / "serial" / "build" / name), _tree(tmp_path / "cluster" / "build" / name)
        assert a == b, {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert [p.name for p in (tmp_path / "cluster" / "build").iterdir()] != []
    assert not [p for p in (tmp_path / "cluster" / "build").iterdir() if p.name.startswith(".")]  # no temp dirs


_BENCH_DIR = re.compile(r"(/[^\s\0]*/edgeq-(?:farm|bench)-[^/\s\0]+)")


def _session_bench_dir(session: int) -> str | None:
    """The temporary folder of a farm bench that a process of `session` (the worker node) is working in right
    now: the bench's compiler or QEMU names it on its command line. The bench removes it before it returns."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.getsid(int(d.name)) != session:
                continue
            m = _BENCH_DIR.search((d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
        if m:
            return m.group(1)
    return None


@pytest.mark.slow
@pytest.mark.qemu
def test_worker_killed_mid_bench_is_reported_and_nothing_is_written(cluster, tmp_path):
    """Runs last: it kills the farm node while its bench runs. The deployment's error names the deployment and the
    device; no half-written folder appears.

    The kill does not depend on timing: a watcher looks every 10 ms for the bench's compiler/QEMU process in the
    worker node's session and kills the whole session (raylet and Ray workers, which have their own process
    groups) as soon as one appears; the bench's temporary folder still being there afterwards proves the bench
    was killed before it finished (it removes the folder before it returns its figures)."""
    from edgeq import cluster as cluster_mod
    from edgeq import project as proj

    p = proj.load_project(_project(tmp_path, DEPLOYMENTS))
    _connect(cluster)
    worker = cluster["worker"]
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            found = _session_bench_dir(worker.pid)
            if found:
                _kill_session(worker)  # the node's raylet and every Ray worker on it, mid-bench
                seen.append(found)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    try:
        res = cluster_mod.build(p, only=("board",), ray_address=cluster["address"])
    finally:
        stop.set()
        watcher.join(30)
    assert seen, "the bench never started on the farm node"
    killed_mid_bench = Path(seen[0]).exists()
    shutil.rmtree(seen[0], ignore_errors=True)  # what the killed bench left in /tmp
    assert killed_mid_bench, f"the bench had finished ({seen[0]} was removed) before its node was killed"
    (d,) = res.deployments
    assert d.error and "[deployments.board]" in d.error and f"farm:{FARM}" in d.error, d.error
    assert "Traceback" not in d.error and res.exit_code == 1
    # nothing half-written: what a serial build leaves when its bench fails (the converted folder, consistent with
    # its manifest), and no record (the next build starts over), no bench figures, no temporary folders
    out = tmp_path / "build" / "board"
    if out.exists():
        from edgeq.outdir import read_manifest

        files = read_manifest(out)
        assert files and _tree(out) == {**files, ".edgeq-manifest.json": _tree(out)[".edgeq-manifest.json"]}
        assert not (out / proj.RECORD).exists() and not (out / "bench.json").exists()
    assert not [q for q in (tmp_path / "build").glob(".*")] if (tmp_path / "build").exists() else True
    assert time.monotonic() - t0 < 120
