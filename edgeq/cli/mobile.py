"""CLI commands for the Pi/Android side: `edgeq emulator setup|info` and `edgeq export-android`.

Registered by edgeq.cli (COMMANDS). Each command calls one library function and prints its result.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def emulator():
    """The emulated Raspberry Pi (qemu-aarch64 + an arm64 sysroot with LiteRT)."""


@emulator.command("setup")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where to build the sysroot [default: $EDGEQ_AARCH64_SYSROOT or ~/.cache/edgeq/aarch64-sysroot].")
@click.option("--force", is_flag=True, help="Rebuild even if a matching sysroot exists.")
@click.option("--json", "as_json", is_flag=True)
def emulator_setup(cache_dir, force, as_json):
    """Build the arm64 sysroot once (Debian arm64 python3.11 + aarch64 numpy/ai-edge-litert wheels; no root)."""
    from edgeq.harness.aarch64 import setup_emulator, sysroot_info

    root = setup_emulator(cache_dir, force=force)
    info = sysroot_info(root)
    if as_json:
        click.echo(json.dumps({"cache_dir": str(root), **info}, indent=1))
        return
    wheels = ", ".join(f"{k} {v}" for k, v in info.get("wheels", {}).items())
    click.echo(f"aarch64 sysroot ready in {root}: Debian {info.get('suite')} {info.get('python')}, {wheels}, "
               f"{info.get('size_bytes', 0) / 1e6:.0f} MB")
    click.echo("use it with: edgeq bench MODEL --target rpi4 --device emulator")


@emulator.command("info")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
def emulator_info(cache_dir):
    """Show the installed sysroot (versions, size) or how to create it."""
    from edgeq.harness.aarch64 import default_cache_dir, sysroot_info

    info = sysroot_info(cache_dir)
    if not info:
        click.echo(f"no sysroot in {cache_dir or default_cache_dir()}: run `edgeq emulator setup`")
        return
    click.echo(json.dumps(info, indent=1))


@click.command("export-android")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", default="android-cpu", show_default=True,
              help="android-cpu | android-gpu | android-npu-qualcomm | android-npu-mediatek | android-nnapi (legacy), "
                   "or a .toml extending one.")
@click.option("--litert", type=click.Choice(["1", "2"]), default=None,
              help="Wrapper API: 2 = LiteRT 2.x CompiledModel (CPU/GPU/NPU), 1 = LiteRT 1.4 Interpreter "
                   "[default: the target's; android-nnapi is 1-only, the NPU targets 2-only].")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder that receives android/src/main/{assets,kotlin} and android/README.md.")
@click.option("--class-name", default=None, help="Kotlin class name [default: from the model file name].")
@click.option("--package", "package", default="com.example.edgeq", show_default=True, help="Kotlin package.")
@click.option("--name", default=None, help="Asset name without .tflite [default: the model file's stem].")
@click.option("--force", is_flag=True, help="Replace OUT/android if it exists.")
def export_android_cmd(model, target, litert, out_dir, class_name, package, name, force):
    """Write MODEL (a .tflite) as an Android asset plus a Kotlin LiteRT wrapper class (CompiledModel or Interpreter)."""
    from edgeq.android import choose_litert, delegate_fallbacks, export_android
    from edgeq.errors import UsageError
    from edgeq.graph import load
    from edgeq.target import load_target

    t = load_target(target)
    if t.family != "android":
        raise UsageError(f"target {t.name} is not an Android profile",
                         hint="use android-cpu, android-gpu, android-npu-qualcomm, android-npu-mediatek or "
                              "android-nnapi")
    line = choose_litert(t, litert)  # a target/--litert mismatch fails before anything is written
    if t.legacy:
        click.echo(f"warning: {t.name} is a legacy target: {t.legacy}", err=True)
    from edgeq.outdir import commit_dir, new_tmp_dir, prepare_out_dir

    dest = Path(out_dir) / "android"
    plan = prepare_out_dir(dest, force, inputs=(model,))  # --force replaces only unedited files edgeq wrote
    tmp = new_tmp_dir(dest)
    try:
        paths = export_android(model, t, tmp, name=name, class_name=class_name, package=package, litert=line)
        staged = tmp / "android"
        for p in staged.iterdir():  # commit the android/ folder itself, not its temporary parent
            p.rename(tmp / p.name)
        staged.rmdir()
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    commit_dir(tmp, plan, "export-android")
    for p in paths:
        click.echo(f"wrote {dest / Path(p).relative_to(tmp / 'android')}")
    fb = delegate_fallbacks(load(model), t)
    for f in fb:
        click.echo(f"warning: op #{f.index} {f.opcode} v{f.version} runs on the CPU: {f.reason}", err=True)


COMMANDS: list[click.Command] = [emulator, export_android_cmd]
