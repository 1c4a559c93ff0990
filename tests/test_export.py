"""TFLM export: compiles warning-free for every Cortex-M profile, arena macro = fresh tflite-micro measurement."""

import re
import shutil
import subprocess

import pytest

from edgeq import export, graph
from edgeq.target import builtin_names, load_target

MCUS = [n for n in builtin_names() if load_target(n).is_mcu]
needs_arm = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"),
                               reason="arm-none-eabi-gcc missing: apt-get install -y gcc-arm-none-eabi")


def test_c_identifier_is_valid_and_does_not_clash():
    seen = {}
    for name in ("model", "my-model", "my_model", "my model", "3d-net", "int", "*/evil", "über", "", "a..b"):
        s = export.c_identifier(name)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s), (name, s)
        assert s not in seen, f"{name!r} and {seen.get(s)!r} both map to {s}"
        seen[s] = name
    assert export.c_identifier("model") == "model"  # clean names stay readable


@pytest.mark.parametrize("text", ["x */ #include <evil.h> /* \\\n ??/ \x00", "/*\\ int pwned = 1; //zzzz",
                                  "*/ int main(){}; /*\\\n", "*\\/", "**//", "*/*/", "a???/b"])
def test_comment_sanitizer_cannot_be_escaped(text):
    """Found by QA: replacing the backslash after the delimiters turned '/*\\' into '_*/'."""
    from edgeq.codegen.emit import sanitize_comment

    for c in (export.c_comment(text), sanitize_comment(text)):
        assert "*/" not in c and "/*" not in c and "\\" not in c and "\n" not in c and "??" not in c, c


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fixtures=None):
    from tests.conftest import FIXTURES

    g = graph.load(FIXTURES / "cnn_int8.tflite")
    out = tmp_path_factory.mktemp("tflm")
    res = export.export_tflm(g, out, name="cnn-int8 */ model", margin_bytes=256)
    return g, out, res


def test_arena_macro_matches_fresh_measurement(exported):
    g, out, res = exported
    fresh = export.measure_tflm_arena(g.raw)
    assert fresh.total_bytes and fresh.total_bytes == res.arena.total_bytes
    assert fresh.required_bytes == res.arena.required_bytes
    m = re.search(rf"#define {res.symbol.upper()}_TENSOR_ARENA_SIZE (\d+)", (out / "model_data.h").read_text())
    need = max(fresh.total_bytes, fresh.required_bytes)
    assert int(m.group(1)) == (need + 256 + 15) // 16 * 16
    assert fresh.head_bytes + fresh.tail_bytes == fresh.total_bytes


def test_required_arena_is_the_smallest_that_works(fixtures):
    """Found by QA: TFLM's recorded total can be smaller than what allocation needs (MLP / multi-I/O models)."""
    import subprocess
    import sys
    import tempfile

    data = (fixtures / "multi_io_int8.tflite").read_bytes()
    m = export.measure_tflm_arena(data, 2)
    assert m.required_bytes >= m.total_bytes

    def works(size):
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(data)
            f.flush()
            return subprocess.run([sys.executable, "-c", export._MEASURE, f.name, "2", str(size)],
                                  capture_output=True, timeout=60).returncode == 0

    assert works(m.required_bytes) and not works(m.required_bytes - 16)


def test_header_content(exported):
    g, out, res = exported
    h = (out / "model_data.h").read_text()
    up = res.symbol.upper()
    scale = g.inputs[0].quant.scale[0]
    assert f"#define {up}_INPUT0_SCALE {scale!r}f" in h
    assert f"#define {up}_INPUT0_ZERO_POINT ({g.inputs[0].quant.zero_point[0]})" in h
    assert f"#define {up}_DATA_LEN {g.size_bytes}u" in h
    c = (out / "model_data.c").read_text()
    assert "aligned(16)" in c and c.count("0x") == g.size_bytes
    r = (out / "op_resolver.h").read_text()
    assert re.findall(r"resolver\.(\w+)\(\)", r) == [
        "AddAveragePool2D", "AddConv2D", "AddDepthwiseConv2D", "AddFullyConnected", "AddReshape", "AddSoftmax"]
    assert f"MicroMutableOpResolver<{len(g.op_names())}>" in r


@needs_arm
@pytest.mark.parametrize("name", MCUS)
def test_model_data_compiles_warning_free(exported, tmp_path, name):
    _, out, _ = exported
    flags = list(load_target(name).cpu.gcc_flags)
    main = tmp_path / "use.c"
    main.write_text('#include "model_data.h"\n'
                    "unsigned int edgeq_use(void);\n"
                    "unsigned int edgeq_use(void) { return g_" + exported[2].symbol + "_data_len + "
                    "g_" + exported[2].symbol + "_data[0] + EDGEQ_TENSOR_ARENA_SIZE; }\n")
    for src in (out / "model_data.c", main):
        r = subprocess.run(["arm-none-eabi-gcc", *flags, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                            "-pedantic", "-I", str(out), "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr, r.stderr
    sym = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "model_data.o")], capture_output=True, text=True).stdout
    assert re.search(r" R g_\w+_data\n", sym), sym  # const: lives in flash (.rodata)
