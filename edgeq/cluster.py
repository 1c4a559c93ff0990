"""The project's work on Ray: `edgeq build --parallel N / --ray-address ADDR`, and the device farm (`farm:NAME`).

Sits above `edgeq.project` (cluster.build distributes its work; project never imports this module) and never
changes what a build produces. edgeq does not
schedule anything itself: each deployment that needs building becomes one Ray task, each candidate of its budget
search (`search = true`; also `edgeq search --parallel N`) a nested task (candidate_map), and a bench on a farm device
one nested task that asks for the Ray custom resource `edgeq-device:NAME` (count 1 on the node the device is
attached to: one bench at a time per device).

Nothing is assumed about a shared filesystem. A build task gets its inputs (model, data, a custom profile) as
bytes, builds into a scratch folder on whatever node Ray picks with exactly the serial code path
(`project._build_one`), and returns the finished folder as bytes; the driver relocates the scratch paths back to
the real ones and commits the folder through `edgeq.outdir` (temp folder + rename, manifest rewritten from the
files), so the artifacts are byte-identical to a serial build and a task that dies leaves nothing half-written.
A farm bench ships the build folder the same way and gets the BenchResult back.

Ray is an optional dependency (`pip install 'edgeq[cluster]'`), imported only here and only inside functions.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from edgeq.errors import DeviceError, EdgeqError, UsageError, did_you_mean
from edgeq.project import FARM_PREFIX

RESOURCE_PREFIX = "edgeq-device:"
# on a farm node: which edgeq device string each farm name stands for, e.g. {"nucleo": "pyocd:0669FF..."}
# (`edgeq farm join` sets it for the node's Ray workers; without it: qemu for Cortex-M, host otherwise)
FARM_ENV = "EDGEQ_FARM_DEVICES"
BUILD_RETRIES = 2  # a build task whose worker or node dies is run again elsewhere (then reported)
_INSTALL = "pip install 'edgeq[cluster]'  (or: pip install 'ray>=2.9')"


class ClusterError(EdgeqError):
    """The Ray cluster cannot be used (not installed, unreachable, no node offering a farm device)."""


def ray_module():
    """`import ray`, or a ClusterError with the install hint (edgeq never imports ray at import time)."""
    try:
        import ray
    except ImportError:
        raise ClusterError("running on a Ray cluster needs the `ray` package, which is not installed",
                           hint=_INSTALL) from None
    return ray


# ------------------------------------------------------------------------------------------------ runtime
def _check_reachable(address: str) -> None:
    """A host:port that does not answer fails in seconds with the fix, not after Ray's long connect retries."""
    if address in ("auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--ray-address {address!r}: expected HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379)",
                         hint="the address `ray start --head` printed, or `auto` for the cluster on this machine")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}",
                           hint="start one with `ray start --head --port 6379` on the head node, or fix "
                                "--ray-address (HOST:PORT of the head's GCS)") from None


@contextmanager
def runtime(parallel: int = 1, address: str | None = None) -> Iterator[object]:
    """Connect to the cluster at `address`, or start a local Ray runtime with `parallel` CPUs; always shut down.

    Yields the ray module. Work already connected (a caller's own ray.init) is reused and left running.
    """
    import logging

    ray = ray_module()
    if ray.is_initialized():
        yield ray
        return
    if address:
        _check_reachable(address)
    kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=parallel, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        raise ClusterError(f"cannot start or join {where}: {str(e).splitlines()[0][:300]}",
                           hint="check `ray status` on the head (same Ray and Python versions everywhere), or "
                                "build without --ray-address / --parallel") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def farm_devices() -> dict[str, float]:
    """Farm device name -> how many alive nodes' worth of it the connected cluster offers."""
    ray = ray_module()
    return {k[len(RESOURCE_PREFIX):]: v for k, v in ray.cluster_resources().items() if k.startswith(RESOURCE_PREFIX)}


def require_farm_device(name: str, who: str) -> None:
    """A ClusterError naming `who` (deployment) when no node of the cluster offers farm device `name`."""
    have = farm_devices()
    if name not in have:
        listed = ", ".join(sorted(have)) or "none"
        raise ClusterError(f"{who}: device farm:{name}: no node of the cluster offers it (farm devices: {listed})."
                           f"{did_you_mean(name, have)}",
                           hint=f"on the host the device is attached to: edgeq farm join --device ... --as {name} "
                                f"--address HEAD:PORT (or: ray start --address HEAD:PORT --resources "
                                f"'{{\"{RESOURCE_PREFIX}{name}\": 1}}'); see docs/farm.md")


# ------------------------------------------------------------------------------------------------ shipping
@dataclass(frozen=True)
class Shipped:
    """A file or a folder as bytes (relative path -> content); a file is the single entry ''."""

    name: str
    files: tuple[tuple[str, bytes], ...]

    @staticmethod
    def pack(p: Path, skip: Sequence[str] = ()) -> Shipped:
        if p.is_file():
            return Shipped(p.name, (("", p.read_bytes()),))
        files = tuple((str(f.relative_to(p)), f.read_bytes()) for f in sorted(p.rglob("*"))
                      if f.is_file() and str(f.relative_to(p)) not in skip)
        return Shipped(p.name, files)

    def unpack(self, parent: Path) -> Path:
        dest = parent / self.name
        for rel, data in self.files:
            f = dest / rel if rel else dest
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
        return dest


def _ship_input(spec: str | None) -> tuple[Shipped | None, str]:
    """(what to ship, the suffix to re-attach: ':function' for a `file.py:function` spec); None: nothing local."""
    if spec is None:
        return None, ""
    p = Path(spec)
    if p.exists():
        return Shipped.pack(p), ""
    head, _, fn = spec.rpartition(":")
    if head and Path(head).is_file():
        return Shipped.pack(Path(head)), f":{fn}"
    return None, ""  # an importable module:function: the worker's Python must have it


@dataclass(frozen=True)
class _Job:
    deployment: object  # edgeq.project.Deployment
    inputs: tuple[tuple[str, str, Shipped, str], ...]  # (field, original spec, bytes, suffix)


@dataclass(frozen=True)
class _Done:
    result: object  # edgeq.project.DeploymentResult, paths already relocated to the driver's
    folder: Shipped | None  # the finished output folder (None: nothing was committed, as in a serial run)
    node_id: str


def _job(d) -> _Job:
    inputs = []
    for field_ in ("model", "calib", "eval", "train", "target"):
        spec = getattr(d, field_)
        if field_ == "target":
            if not (spec.endswith(".toml") and Path(spec).is_file()):
                continue  # a built-in profile: every node has it
            # a user's profile: its folder's profiles travel along (for `extends` of a sibling)
            files = tuple((f.name, f.read_bytes()) for f in sorted(Path(spec).parent.glob("*.toml")))
            inputs.append((field_, spec, Shipped(Path(spec).parent.name or "profiles", files), Path(spec).name))
            continue
        shipped, suffix = _ship_input(spec)
        if shipped is not None:
            inputs.append((field_, spec, shipped, suffix))
    return _Job(d, tuple(inputs))


def _relocate(data: bytes, pairs: Sequence[tuple[str, str]]) -> bytes:
    for old, new in pairs:
        data = data.replace(old.encode(), new.encode())
    return data


def _run_job(job: _Job, board=None) -> _Done:
    """In a Ray worker: materialize the inputs, build with the serial code path in a scratch folder, pack it."""
    import ray

    from edgeq import project

    d = job.deployment
    scratch = Path(tempfile.mkdtemp(prefix="edgeq-ray-"))
    try:
        changes, pairs = {}, []
        for field_, spec, shipped, suffix in job.inputs:
            where = shipped.unpack(scratch / "in" / field_)
            if field_ == "target":
                changes[field_] = str(where / suffix)
                pairs.append((str(where / suffix), spec))
            else:
                changes[field_] = str(where) + suffix
                pairs.append((str(where), spec[: len(spec) - len(suffix)] if suffix else spec))
        out = scratch / "out" / d.out_dir.name
        pairs.insert(0, (str(out), str(d.out_dir)))
        pairs.append((str(scratch), str(d.out_dir.parent)))  # anything else under the scratch root

        def progress(s: str) -> None:
            if board is not None:
                board.set.remote(d.name, s)

        from edgeq.quality.search import parallel_candidates

        with parallel_candidates(candidate_map(f"[deployments.{d.name}]")):  # its budget search, if any, fans out
            res = project._build_one(replace(d, out_dir=out, **changes), True, progress, remote_bench=farm_bench)
        folder = None
        if out.is_dir() and any(out.iterdir()):
            from edgeq.outdir import MANIFEST

            folder = Shipped.pack(out, skip=(MANIFEST,))  # the driver's commit writes the manifest again
            folder = Shipped(folder.name, tuple((r, _relocate(b, pairs)) for r, b in folder.files))
        text = [(s and _relocate(s.encode(), pairs).decode()) for s in (res.error, *res.notes)]
        res = replace(res, out_dir=str(d.out_dir), error=text[0], notes=tuple(text[1:]))
        return _Done(res, folder, ray.get_runtime_context().get_node_id())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _commit(d, folder: Shipped) -> None:
    """The worker's finished folder into d.out_dir through edgeq.outdir (never over a user's file)."""
    from edgeq.outdir import commit_dir, new_tmp_dir, prepare_out_dir

    plan = prepare_out_dir(d.out_dir, force=True, inputs=(d.model, d.calib, d.eval, d.train))
    tmp = new_tmp_dir(d.out_dir)
    try:
        for rel, data in folder.files:
            f = tmp / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit_dir(tmp, plan, "build")


# ------------------------------------------------------------------------------------------------ building
@dataclass(frozen=True)
class TaskRun:
    """Where a deployment's build ran (shown with --json; not part of any artifact)."""

    deployment: str
    node_id: str
    attempts_failed: str = ""


def _failure(d, target_name: str, message: str, hint: str, t0: float):
    from edgeq import project

    gates = tuple(project.Gate(d.name, b, v, project.BUDGETS[b][0], False, None,
                               f"{b}: not measured (the build failed)") for b, v in d.budgets.items())
    return project.DeploymentResult(d.name, target_name, str(d.out_dir), False, time.monotonic() - t0, gates,
                                    error=f"{message} ({hint})", error_exit_code=1)


def build(project_, only: Sequence[str] = (), rebuild: bool = False, progress: Callable[[str], None] = lambda s: None,
          parallel: int = 1, ray_address: str | None = None):
    """`edgeq build --parallel N / --ray-address ADDR`: edgeq.project.build's work as Ray tasks (a local runtime
    started and stopped here for parallel > 1, else the given cluster). The output folders end up byte-identical
    to a serial build; deployments benching on `farm:NAME` need ray_address."""
    from edgeq import project

    if parallel <= 1 and not ray_address:
        return project.build(project_, only, rebuild, progress)
    chosen = project.plan(project_, only)
    farm = [d for d in chosen if (d.device or "").startswith(FARM_PREFIX)]
    if farm and not ray_address:
        raise project.ProjectError(
            f"{project_.path}: [deployments.{farm[0].name}] device = {farm[0].device!r} is a farm device on a Ray "
            "cluster, and no cluster was given",
            hint="pass --ray-address HEAD:PORT (the cluster the farm host joined; docs/farm.md), or leave that "
                 "deployment out with --only NAME")
    results, nodes = build_on_cluster(chosen, rebuild, progress, parallel, ray_address)
    results = [replace(r, node_id=nodes.get(r.name, "")) for r in results]
    return project.BuildResult(str(project_.path), tuple(results))


def build_on_cluster(deployments: Sequence, rebuild: bool, progress: Callable[[str], None],
                     parallel: int = 1, address: str | None = None) -> tuple[list, dict[str, str]]:
    """Build `deployments` as Ray tasks (at most `parallel` at once on a local runtime). Returns the
    DeploymentResults in the given order and {deployment: node id it was built on}."""
    from edgeq import project

    results: dict[str, object] = {}
    nodes: dict[str, str] = {}
    queue = []
    for d in deployments:  # unchanged deployments are answered here, without a task (or a runtime)
        cached = project.cached_result(d, rebuild)
        if cached is not None:
            progress(f"{d.name}: unchanged")
            results[d.name] = cached
        else:
            queue.append(d)
    if not queue:
        return [results[d.name] for d in deployments], nodes
    with runtime(parallel, address) as ray:
        for d in queue:
            if d.device and d.device.startswith(FARM_PREFIX):
                require_farm_device(d.device[len(FARM_PREFIX):], f"[deployments.{d.name}]")
        board = _Board.options(num_cpus=0).remote()
        task = ray.remote(_run_job).options(num_cpus=1, max_retries=BUILD_RETRIES, retry_exceptions=False)
        pending: dict[object, tuple[object, float]] = {}
        limit = max(1, parallel) if not address else max(parallel, len(queue), 1)
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    d = queue.pop(0)
                    progress(f"{d.name}: shipping inputs")
                    pending[task.remote(_job(d), board)] = (d, time.monotonic())
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                try:
                    states = ray.get(board.get.remote(), timeout=5)
                except Exception:  # noqa: BLE001 - the display is best effort
                    states = {}
                running = [f"{d.name}: {states.get(d.name, 'queued')}" for d, _ in pending.values()]
                done = len(results)
                progress(f"[{done}/{len(deployments)} done] " + "; ".join(running))
                for ref in ready:
                    d, t0 = pending.pop(ref)
                    results[d.name] = _collect(ray, ref, d, t0, nodes)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(board)
    return [results[d.name] for d in deployments], nodes


def _collect(ray, ref, d, t0: float, nodes: dict[str, str]):
    from ray.exceptions import RayError, RayTaskError

    target_name = Path(d.target).stem
    try:
        done: _Done = ray.get(ref)
    except RayTaskError as e:  # edgeq raised something other than an EdgeqError in the worker: a bug
        cause = e.cause if getattr(e, "cause", None) else e
        return _failure(d, target_name, f"[deployments.{d.name}] failed on the cluster: {type(cause).__name__}: "
                        f"{str(cause).splitlines()[0][:300] if str(cause) else ''}",
                        f"nothing was written to {d.out_dir}; please report it", t0)
    except RayError as e:  # the worker or its node died (after BUILD_RETRIES retries), or the task was cancelled
        return _failure(d, target_name, f"[deployments.{d.name}]: the Ray worker building it died "
                        f"({type(e).__name__}) after {BUILD_RETRIES} retries",
                        f"nothing was written to {d.out_dir}; run edgeq build again (finished deployments are not "
                        "rebuilt), and check the cluster with `ray status`", t0)
    nodes[d.name] = done.node_id
    if done.folder is not None:
        _commit(d, done.folder)
    return done.result


class _BoardImpl:
    """Latest progress line per deployment, written by the build tasks, read by the driver's display."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}

    def set(self, key: str, value: str) -> None:
        self.state[key] = value

    def get(self) -> dict[str, str]:
        return dict(self.state)


class _LazyActor:
    """`ray.remote(_BoardImpl)` made on first use, so importing this module does not import ray."""

    def __init__(self, cls) -> None:
        self.cls, self.actor = cls, None

    def options(self, **kw):
        if self.actor is None:
            self.actor = ray_module().remote(self.cls)
        return self.actor.options(**kw)


_Board = _LazyActor(_BoardImpl)


# ------------------------------------------------------------------------------------------------ budget search
def _candidate_task(shared, job):
    """In a Ray worker: one budget-search candidate (edgeq.quality.search.evaluate_candidate)."""
    from edgeq.quality.search import evaluate_candidate

    return evaluate_candidate(shared, job)


class _CandidateHandle:
    def __init__(self, ray, ref, job, who: str) -> None:
        self.ray, self.ref, self.job, self.who = ray, ref, job, who

    def result(self):
        from ray.exceptions import RayError, RayTaskError

        where = f"{self.who}: " if self.who else ""
        try:
            return self.ray.get(self.ref)
        except RayTaskError as e:  # evaluate_candidate reports a candidate's own failure: this is edgeq's bug
            cause = e.cause if getattr(e, "cause", None) else e
            raise ClusterError(f"{where}budget search candidate {self.job.name!r} failed on the Ray cluster: "
                               f"{type(cause).__name__}: {str(cause).splitlines()[0][:300] if str(cause) else ''}",
                               hint="nothing was written; please report it (the search without --parallel runs "
                                    "it in this process)") from None
        except RayError as e:
            raise ClusterError(f"{where}budget search candidate {self.job.name!r}: the Ray worker evaluating it "
                               f"died ({type(e).__name__}) after {BUILD_RETRIES} retries",
                               hint="nothing was written; run it again, and check the cluster with `ray status`") \
                from None

    def cancel(self) -> None:
        try:
            self.ray.cancel(self.ref, force=True)
        except Exception:  # noqa: BLE001 - finished or already gone
            pass


def candidate_map(who: str = ""):
    """A parallel map for edgeq.quality.search (`search(map_candidates=...)`, `parallel_candidates`): each
    candidate one Ray task (1 CPU) on the connected runtime; what they share (model, data, float outputs) is
    put in the object store once per search. `who` names the deployment in errors."""
    shipped: dict[int, tuple[object, object]] = {}

    def mapper(shared, jobs):
        ray = ray_module()
        if not ray.is_initialized():
            raise ClusterError(f"{who or 'the budget search'}: a parallel search needs a Ray runtime",
                               hint="use edgeq.cluster.runtime(...) around it, or search without --parallel")
        if id(shared) not in shipped:
            try:
                shipped[id(shared)] = (shared, ray.put(shared))  # the pair keeps id(shared) from being reused
            except Exception as e:  # noqa: BLE001 - pickling errors vary (a model that cannot be serialized)
                raise ClusterError(f"{who + ': ' if who else ''}the budget search's model and data cannot be "
                                   f"shipped to Ray workers: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                                   hint="run the search without --parallel / --ray-address") from None
        ref = shipped[id(shared)][1]
        task = ray.remote(_candidate_task).options(num_cpus=1, max_retries=BUILD_RETRIES, retry_exceptions=False)
        return [_CandidateHandle(ray, task.remote(ref, job), job, who) for job in jobs]

    return mapper


# ------------------------------------------------------------------------------------------------ farm bench
def _farm_map() -> dict[str, str]:
    raw = os.environ.get(FARM_ENV, "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except ValueError:
        return dict(kv.split("=", 1) for kv in raw.split(",") if "=" in kv)


def _farm_bench_task(folder: Shipped, target, name: str, options: Mapping) -> tuple[object, str]:
    """On the node offering `edgeq-device:NAME`: bench the shipped build folder on the device behind NAME."""
    import ray

    from edgeq.harness import run_bench

    device = _farm_map().get(name) or ("qemu" if target.is_mcu else "host")
    with tempfile.TemporaryDirectory(prefix="edgeq-farm-") as tmp:
        where = folder.unpack(Path(tmp))
        bench = run_bench(str(where), target, device, **options)
        bench = replace(bench, model=bench.model.replace(str(where.parent), "<farm>"))
    return bench, ray.get_runtime_context().get_node_id()


def farm_bench(out_dir: Path, target, name: str, options: Mapping, who: str = ""):
    """Run the bench of build folder `out_dir` on farm device `name`: (BenchResult, id of the node it ran on).

    Needs a connected Ray cluster (`edgeq build --ray-address`); a node offering `edgeq-device:NAME` runs it.
    """
    ray = ray_module()
    who = who or str(out_dir)
    if not ray.is_initialized():
        raise ClusterError(f"{who}: device farm:{name} is on a Ray cluster, and this build is not connected to one",
                           hint="pass --ray-address HEAD:PORT (the cluster the farm host joined); docs/farm.md")
    require_farm_device(name, who)
    from ray.exceptions import RayError

    skip = ("report.html", "report.md", "report.json", "bench.json")  # the bench reads the model sources only
    task = ray.remote(_farm_bench_task).options(resources={RESOURCE_PREFIX + name: 1}, num_cpus=0, max_retries=0)
    ref = task.remote(Shipped.pack(out_dir, skip=skip), target, name, dict(options))
    try:
        while True:
            ready, _ = ray.wait([ref], timeout=2)
            if ready:
                bench, node = ray.get(ref)
                break
            if name not in farm_devices():  # its node left while the task waited for the device
                ray.cancel(ref, force=True)
                raise RayError()
    except RayError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, EdgeqError):  # the bench itself failed on the farm host (device error, timeout)
            raise type(cause)(f"{who}: on farm:{name}: {cause.message}", hint=cause.hint) from None
        raise DeviceError(f"{who}: the bench on farm:{name} was lost: its node died or left the cluster "
                          f"({type(e).__name__})",
                          hint=f"check the farm host (`ray status` lists the nodes offering {RESOURCE_PREFIX}{name}), "
                               "then run edgeq build again; nothing was written for this deployment") from None
    # the figures say which farm device (and which runner on it) produced them
    bench = replace(bench, model=bench.model.replace("<farm>", str(out_dir.parent)),
                    device=f"{FARM_PREFIX}{name}/{bench.device}")
    return bench, node
