"""Project commands (registered by edgeq.cli): `edgeq build` (edgeq.toml: convert -> bench -> gates) and
`edgeq cmake` (path of the CMake module). Thin: each calls edgeq.project / prints. No TensorFlow at import time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edgeq.errors import EXIT_INTERRUPTED, EdgeqError


@click.command("build")
@click.argument("project", required=False, type=click.Path())
@click.option("--only", multiple=True, metavar="NAME", help="Build only this deployment (repeatable).")
@click.option("--junit", "junit", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML here: one test case per deployment x budget.")
@click.option("--summary", "summary", type=click.Path(dir_okay=False), default=None,
              help="Write a Markdown summary table here (e.g. for a CI job summary).")
@click.option("--rebuild", is_flag=True, help="Convert and bench again even when no input changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Build up to N deployments (and the candidates of their budget searches) at once on a local Ray "
                   "runtime (pip install 'edgeq[cluster]'); 1: in this process, no Ray.")
@click.option("--ray-address", default=None, metavar="HOST:PORT",
              help="Run the builds (and farm benches, device = \"farm:NAME\") on this existing Ray cluster.")
def build_cmd(project, only, junit, summary, rebuild, as_json, parallel, ray_address):
    """Build every deployment of PROJECT (edgeq.toml, or a folder holding one) and gate it on its budgets.

    \b
    Runs convert -> bench -> gates per deployment; a deployment whose inputs (model, data, profile, options,
    edgeq itself) did not change since its last build is not converted or benchmarked again. Exit 0: every
    budget met; 3: a budget exceeded or a target check failed (each one named, with the excess and whether the
    figure was measured, emulated or estimated); 1: a deployment could not be built; 2: a bad project file.
    With --parallel/--ray-address the output folders are byte-identical to a serial build (docs/farm.md).
    """
    from rich.console import Console

    from edgeq import project as proj

    p = proj.load_project(project)
    deployments = proj.plan(p, only)  # every output folder checked before any work
    inputs = [p.path, *(x for d in deployments for x in (d.model, d.calib, d.eval, d.train) if x)]
    for path, mark in ((junit, proj.JUNIT_MARK), (summary, proj.SUMMARY_MARK)):
        if path:
            proj.check_report_path(path, mark, inputs)
    con = Console(stderr=True, highlight=False)
    try:
        with con.status("building...") as status:
            step = lambda s: status.update(s + "...")  # noqa: E731
            if parallel > 1 or ray_address:
                from edgeq import cluster

                res = cluster.build(p, only, rebuild, step, parallel=parallel, ray_address=ray_address)
            else:
                res = proj.build(p, only, rebuild=rebuild, progress=step)
    except KeyboardInterrupt:
        # not a success even when some deployment's folder was completed: the gates did not all run
        click.echo("interrupted: the build is incomplete (each output folder is either its old or its new "
                   "version; an unchanged rebuild resumes)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    from edgeq.outdir import write_file

    if junit:
        write_file(junit, proj.junit_xml(res))
    if summary:
        write_file(summary, proj.summary_markdown(res))
    if as_json:
        click.echo(json.dumps(res.to_dict(), indent=2, sort_keys=True, default=str))
    else:
        _print(res)
    for path, what in ((junit, "JUnit XML"), (summary, "summary")):
        if path:
            click.echo(f"wrote {what} to {path}", err=as_json)
    sys.stdout.flush()
    if res.exit_code:
        sys.exit(res.exit_code)


def _print(res) -> None:
    for d in res.deployments:
        state = "ERROR" if d.error else "passed" if d.passed else "FAILED"
        how = "unchanged: figures from the last build" if d.cached else f"built in {d.seconds:.1f} s"
        if d.node_id:  # --parallel / --ray-address: which Ray node built it (and benched it, on a farm device)
            how += f" on Ray node {d.node_id[:8]}" + (f", bench on node {d.bench_node_id[:8]}" if d.bench_node_id
                                                      else "")
        click.echo(f"{d.name} ({d.target} -> {d.out_dir}): {state} ({how})")
        for g in d.gates:
            click.echo(f"  {'ok  ' if g.passed else 'FAIL'} {g.message}")
        for n in d.notes:
            click.echo(f"  note: {n}")
        if d.error:
            click.echo(f"  error: {d.error}")
    bad = [g for d in res.deployments for g in d.gates if not g.passed and not d.error]
    if bad:
        click.echo(f"{len(bad)} budget(s) exceeded: " + "; ".join(f"{g.deployment}.{g.message}" for g in bad))


@click.command("cmake")
def cmake_cmd():
    """Print the path of the CMake module: include() it, then edgeq_add_model(<target> MODEL ... TARGET ... OUT ...)."""
    from edgeq.target import targets_dir

    p = targets_dir() / "cmake" / "edgeq.cmake"
    if not p.is_file():
        raise EdgeqError(f"CMake module not found at {p}", hint="reinstall edgeq")
    click.echo(str(Path(p)))


COMMANDS = [build_cmd, cmake_cmd]
