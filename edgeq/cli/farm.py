"""Device farm commands (registered by edgeq.cli): `edgeq farm join` (this host's boards/phones join a Ray cluster
as custom resources) and `edgeq farm list`. Thin: the cluster logic is edgeq.cluster; ray is imported lazily.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click

from edgeq.errors import EdgeqError, ToolMissing, UsageError

_KINDS = ("qemu", "pyocd", "serial", "adb", "host", "ssh")


def _check_device(device: str) -> None:
    """What can be checked here before the host advertises the device: the kind, and the tools it needs."""
    kind = device.split(":", 1)[0] if not device.startswith("ssh://") else "ssh"
    if kind not in _KINDS:
        raise UsageError(f"--device {device!r}: unknown device kind {kind!r}",
                         hint="one of qemu[:MACHINE], pyocd:PROBE_ID, serial:PORT, adb:SERIAL, host, ssh://user@host")
    need = {"qemu": ["qemu-system-arm", "arm-none-eabi-gcc"], "pyocd": ["arm-none-eabi-gcc"],
            "serial": ["arm-none-eabi-gcc"], "adb": ["adb"]}.get(kind, [])
    for tool in need:
        if shutil.which(tool) is None:
            raise ToolMissing(f"--device {device}: needs {tool} on this host, which is not installed",
                              hint="install it here (see `edgeq doctor`), then join again")
    if kind == "serial":
        port = device.split(":", 1)[1] if ":" in device else ""
        if not port or not Path(port).exists():
            raise UsageError(f"--device {device}: no serial port {port or '(none given)'} on this host",
                             hint="e.g. --device serial:/dev/ttyACM0 (ls /dev/ttyACM* /dev/ttyUSB*)")
    if kind in ("pyocd", "adb") and ":" not in device:
        raise UsageError(f"--device {device}: name the exact {kind} device, one per farm name",
                         hint=f"e.g. --device {kind}:{'0669FF555' if kind == 'pyocd' else 'emulator-5554'} "
                              "(`edgeq devices` lists them)")


def _ray_cli() -> str:
    exe = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(exe).exists():
        raise EdgeqError("joining a farm needs the `ray` command, which is not installed",
                         hint="pip install 'edgeq[cluster]'  (the same Ray and Python versions as the head node)")
    return exe


@click.group("farm")
def farm_group():
    """Device farm: boards and phones attached to hosts of a Ray cluster, benched by `device = "farm:NAME"`."""


@farm_group.command("join")
@click.option("--device", "devices", multiple=True, required=True, metavar="DEVICE",
              help="qemu[:MACHINE], pyocd:PROBE_ID, serial:PORT, adb:SERIAL, host, ssh://user@host (repeatable, "
                   "paired with --as in order).")
@click.option("--as", "names", multiple=True, required=True, metavar="NAME",
              help="The farm name deployments use: device = \"farm:NAME\" (repeatable).")
@click.option("--address", default=lambda: os.environ.get("RAY_ADDRESS"), metavar="HOST:PORT",
              help="The cluster's head (default: $RAY_ADDRESS).")
@click.option("--num-cpus", type=click.IntRange(min=0), default=None,
              help="CPUs this node offers to other work (default: Ray's; 0: only farm benches run here).")
@click.option("--dry-run", is_flag=True, help="Print the `ray start` command instead of running it.")
def join_cmd(devices, names, address, num_cpus, dry_run):
    """Join the Ray cluster at --address as a node offering each DEVICE as the custom resource
    `edgeq-device:NAME` (count 1: one bench at a time per device).

    \b
    edgeq farm join --device pyocd:0669FF555 --as nucleo-l4r5zi --address 10.0.0.5:6379
    Equivalent plain Ray: EDGEQ_FARM_DEVICES='{"nucleo-l4r5zi": "pyocd:0669FF555"}' ray start \\
        --address 10.0.0.5:6379 --resources '{"edgeq-device:nucleo-l4r5zi": 1}'
    Leave with `ray stop` on this host.
    """
    from edgeq.cluster import FARM_ENV, RESOURCE_PREFIX, _check_reachable

    if len(devices) != len(names):
        raise UsageError(f"{len(devices)} --device but {len(names)} --as: give one --as NAME per --device",
                         hint="e.g. --device qemu --as fake-board --device pyocd:0669FF555 --as nucleo")
    if not address:
        raise UsageError("no cluster address", hint="pass --address HEAD:PORT (printed by `ray start --head`) or "
                                                    "set RAY_ADDRESS")
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", n):
            raise UsageError(f"--as {n!r}: use letters, digits, '.', '-' and '_'",
                             hint="the name is used as device = \"farm:NAME\" in edgeq.toml")
    if len(set(names)) != len(names):
        raise UsageError("the same --as NAME twice", hint="each device needs its own farm name")
    for dev in devices:
        _check_device(dev)
    mapping = dict(zip(names, devices))
    resources = {RESOURCE_PREFIX + n: 1 for n in names}
    cmd = [_ray_cli(), "start", "--address", address, "--resources", json.dumps(resources)]
    if num_cpus is not None:
        cmd += ["--num-cpus", str(num_cpus)]
    env_value = json.dumps(mapping)
    if dry_run:
        import shlex

        click.echo(f"{FARM_ENV}={shlex.quote(env_value)} {shlex.join(cmd)}")
        return
    _check_reachable(address)
    try:
        proc = subprocess.run(cmd, env={**os.environ, FARM_ENV: env_value}, capture_output=True, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired:
        raise EdgeqError(f"`ray start --address {address}` did not finish within 180 s",
                         hint="check `ray status` on the head, and that this host reaches it") from None
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise EdgeqError(f"joining the cluster at {address} failed: {' | '.join(tail)}",
                         hint="same Ray and Python versions as the head? `ray stop` here first if this host "
                              "already runs a node")
    for n, dev in mapping.items():
        click.echo(f"joined {address}: farm:{n} -> {dev} (resource {RESOURCE_PREFIX}{n}: 1)")
    click.echo("leave with `ray stop` on this host")


@farm_group.command("list")
@click.option("--address", default=lambda: os.environ.get("RAY_ADDRESS"), metavar="HOST:PORT",
              help="The cluster's head (default: $RAY_ADDRESS).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(address, as_json):
    """The farm devices the cluster's alive nodes offer (name, node, node address)."""
    from edgeq.cluster import RESOURCE_PREFIX, runtime

    if not address:
        raise UsageError("no cluster address", hint="pass --address HEAD:PORT or set RAY_ADDRESS")
    with runtime(address=address) as ray:
        rows = [{"name": k[len(RESOURCE_PREFIX):], "node_id": n["NodeID"], "node_ip": n["NodeManagerAddress"]}
                for n in ray.nodes() if n.get("Alive")
                for k in sorted(n.get("Resources", {})) if k.startswith(RESOURCE_PREFIX)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no farm devices in the cluster (edgeq farm join --device ... --as NAME on a device host)")
    for r in rows:
        click.echo(f"farm:{r['name']:<24} node {r['node_id'][:12]} at {r['node_ip']}")


COMMANDS = [farm_group]
