"""The runtime compiles warning-free with the optimisation levels firmware projects use, not only the -O2 the
harness builds with: -Os (size-optimised release builds, e.g. vendor IDE defaults) and -O0 (debug builds) leave
fewer registers for the hand-scheduled inline assembly, which must then step aside for its C twin; -Og (GCC's debug
optimisation); and builds that keep the frame pointer, which define EDGEQ_NO_ASM (edgeq_common.h)."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT

RUNTIME = ROOT / "edgeq" / "runtime"
CORES = {"cortex-m4": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
         "cortex-m55": ["-mcpu=cortex-m55", "-mfloat-abi=hard"]}


@pytest.mark.parametrize("opt", ["-Os", "-O0", "-Og", "-O2 -fno-omit-frame-pointer -DEDGEQ_NO_ASM"])
def test_runtime_compiles_at_size_and_debug_optimisation(opt, tmp_path):
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    srcs = sorted((RUNTIME / "src").glob("*.c"))
    assert srcs

    def build(job):
        core, src = job
        cmd = [gcc, *CORES[core], "-mthumb", *opt.split(), "-std=c99", "-Wall", "-Wextra", "-Werror",
               "-I", str(RUNTIME / "include"), "-c", str(src), "-o", str(tmp_path / f"{core}-{src.stem}.o")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        return f"{core} {opt} {src.name}: {r.stderr.strip()[:400]}" if r.returncode else None

    with ThreadPoolExecutor(max_workers=2) as ex:
        failed = [f for f in ex.map(build, [(c, s) for c in CORES for s in srcs]) if f]
    assert not failed, "\n".join(failed)
