"""Android export: assets + Kotlin wrapper + README; delegate fallback listing; Kotlin compile check.

The compile check runs Debian's `kotlinc` (apt-get install kotlin) on the generated classes together with
STUB declarations of the few android.content / org.tensorflow.lite signatures they use
(tests/fixtures/mobile/kotlin_stubs/, written for this test: they are not the Android SDK or LiteRT). It proves
the generated Kotlin is well-formed and type-checks against those signatures; it is skipped without kotlinc.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeq.android import class_name_for, delegate_fallbacks, export_android
from edgeq.errors import UsageError
from edgeq.graph import load
from edgeq.target import load_target

FIXTURES = Path(__file__).parent / "fixtures" / "mobile"
STUBS = FIXTURES / "kotlin_stubs"


def _export(tmp: Path, model: str, target: str, **kw) -> dict[str, Path]:
    paths = export_android(FIXTURES / f"{model}.tflite", load_target(target), tmp, **kw)
    return {p.suffix: p for p in paths}


def test_layout_and_quant_params(tmp_path):
    out = _export(tmp_path, "tiny_int8", "android-nnapi", name="kws")
    assert out[".tflite"] == tmp_path / "android/src/main/assets/kws.tflite"
    assert out[".tflite"].read_bytes() == (FIXTURES / "tiny_int8.tflite").read_bytes()
    assert out[".kt"] == tmp_path / "android/src/main/kotlin/com/example/edgeq/KwsModel.kt"
    kt = out[".kt"].read_text()
    g = load(FIXTURES / "tiny_int8.tflite")
    qi, qo = g.inputs[0].quant, g.outputs[0].quant
    assert f"const val INPUT_SCALE = {float(qi.scale[0])!r}f" in kt
    assert f"const val INPUT_ZERO_POINT = {qi.zero_point[0]}" in kt
    assert f"const val OUTPUT_SCALE = {float(qo.scale[0])!r}f" in kt
    assert f"const val OUTPUT_ZERO_POINT = {qo.zero_point[0]}" in kt
    assert "val INPUT_SHAPE = intArrayOf(1, 16, 16, 3)" in kt and "const val INPUT_SIZE = 768" in kt
    assert "NnApiDelegate()" in kt and "override fun close()" in kt and "delegate?.close()" in kt
    assert "quantize(v, INPUT_SCALE, INPUT_ZERO_POINT, -128, 127)" in kt
    readme = out[".md"].read_text()
    assert 'implementation("com.google.ai.edge.litert:litert:' in readme
    assert "noCompress" in readme


def test_float_io_and_delegates(tmp_path):
    cpu = _export(tmp_path / "cpu", "tiny_int8_floatio", "android-cpu")[".kt"].read_text()
    assert "setUseXNNPACK(true)" in cpu and "putFloat(v)" in cpu and "_SCALE" not in cpu
    gpu_dir = tmp_path / "gpu"
    gpu = _export(gpu_dir, "tiny_float", "android-gpu")
    kt = gpu[".kt"].read_text()
    assert "CompatibilityList()" in kt and "GpuDelegate(compatibility.bestOptionsForThisDevice)" in kt
    assert "litert-gpu:" in gpu[".md"].read_text()


def test_multiple_inputs_and_outputs(tmp_path):
    kt = _export(tmp_path, "two_io_int8", "android-cpu", class_name="Fusion", package="org.acme.ml")[".kt"]
    src = kt.read_text()
    assert kt.name == "Fusion.kt" and "package org.acme.ml" in src
    assert "fun run(input0: FloatArray, input1: FloatArray): List<FloatArray>" in src
    assert "INPUT1_SCALE" in src and "OUTPUT1_ZERO_POINT" in src
    assert "mapOf<Int, Any>(0 to outputBuffer0, 1 to outputBuffer1)" in src


def test_deterministic(tmp_path):
    a = _export(tmp_path / "a", "tiny_int8", "android-gpu")
    b = _export(tmp_path / "b", "tiny_int8", "android-gpu")
    for k in a:
        assert a[k].read_bytes() == b[k].read_bytes()
    assert str(tmp_path) not in a[".kt"].read_text()


def test_bad_names(tmp_path):
    with pytest.raises(UsageError, match="class name"):
        _export(tmp_path, "tiny_int8", "android-cpu", class_name="my-model")
    with pytest.raises(UsageError, match="package"):
        _export(tmp_path, "tiny_int8", "android-cpu", package="Com.Bad-Name")
    assert class_name_for("kws_ds-cnn") == "KwsDsCnnModel" and class_name_for("3d") == "M3dModel"


def test_delegate_fallbacks_listed():
    g = load(FIXTURES / "tiny_int8.tflite")  # CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX
    assert delegate_fallbacks(g, load_target("android-cpu")) == []
    nnapi = delegate_fallbacks(g, load_target("android-nnapi"))
    gpu = delegate_fallbacks(g, load_target("android-gpu"))
    assert [f.opcode for f in nnapi] == [] or all(f.reason for f in nnapi)
    # Versions beyond the delegate's bound are reported (CONV_2D v3 on NNAPI is fine, v99 is not).
    from dataclasses import replace

    t = load_target("android-nnapi")
    strict = replace(t, ops={**t.ops, "CONV_2D": 1})
    conv_v = next(op.version for op in g.operators if op.opcode == "CONV_2D")
    if conv_v > 1:
        assert any(f.opcode == "CONV_2D" and "newer" in f.reason for f in delegate_fallbacks(g, strict))
    no_mean = replace(load_target("android-gpu"), ops={k: v for k, v in load_target("android-gpu").ops.items()
                                                        if k != "MEAN"})
    assert [f.opcode for f in delegate_fallbacks(g, no_mean)] == ["MEAN", *[f.opcode for f in gpu]]


def test_readme_lists_fallbacks(tmp_path):
    from dataclasses import replace

    t = load_target("android-gpu")
    t = replace(t, ops={k: v for k, v in t.ops.items() if k != "MEAN"})
    readme = next(p for p in export_android(FIXTURES / "tiny_int8.tflite", t, tmp_path) if p.suffix == ".md")
    text = readme.read_text()
    assert re.search(r"op #\d+ MEAN v\d+: MEAN is not supported by the gpu delegate", text)


def test_gpu_list_agrees_with_litert_analyzer(tmp_path):
    """Cross-check with LiteRT's own GPU compatibility checker on the float fixture: both accept every op."""
    tf = pytest.importorskip("tensorflow")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        tf.lite.experimental.Analyzer.analyze(model_content=(FIXTURES / "tiny_float.tflite").read_bytes(),
                                              gpu_compatibility=True)
    analyzer_ok = "looks compatible with GPU delegate" in buf.getvalue()
    ours_ok = not delegate_fallbacks(load(FIXTURES / "tiny_float.tflite"), load_target("android-gpu"))
    assert analyzer_ok and ours_ok


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("kotlinc"), reason="needs kotlinc (apt-get install kotlin)")
def test_kotlin_compiles_against_stubs(tmp_path):
    sources = []
    for model, target, cls in (("tiny_int8", "android-nnapi", "NnapiInt8"), ("tiny_int8_floatio", "android-cpu",
                               "CpuFloatIo"), ("tiny_float", "android-gpu", "GpuFloat"),
                               ("two_io_int8", "android-gpu", "GpuTwoIo")):
        out = export_android(FIXTURES / f"{model}.tflite", load_target(target), tmp_path / cls, class_name=cls,
                             package="com.example.edgeq")
        sources += [str(p) for p in out if p.suffix == ".kt"]
    # The example app's Activity, against the class `edgeq convert kws.keras --target android-nnapi` generates.
    kws = export_android(FIXTURES / "tiny_int8.tflite", load_target("android-nnapi"), tmp_path / "kws", name="kws")
    sources += [str(p) for p in kws if p.suffix == ".kt"]
    sources += [str(p) for p in (Path(__file__).parent.parent / "examples/android/app/src/main").rglob("*.kt")]
    usage = tmp_path / "Usage.kt"
    usage.write_text("package com.example.edgeq\n\nimport android.content.Context\n\n"
                     "fun classify(context: Context, x: FloatArray): Int {\n"
                     "    NnapiInt8(context, numThreads = 2).use { m ->\n"
                     "        val scores = m.run(x)\n"
                     "        var best = 0\n"
                     "        for (i in scores.indices) if (scores[i] > scores[best]) best = i\n"
                     "        return best\n"
                     "    }\n}\n\n"
                     "fun fuse(context: Context, a: FloatArray, b: FloatArray): List<FloatArray> =\n"
                     "    GpuTwoIo(context).use { it.run(a, b) }\n")
    p = subprocess.run(["kotlinc", *sources, str(usage), *map(str, sorted(STUBS.glob("*.kt"))), "-d",
                        str(tmp_path / "classes")], capture_output=True, text=True, timeout=300, check=False)
    errors = [ln for ln in p.stderr.splitlines() if "error:" in ln]
    assert p.returncode == 0 and not errors, p.stderr[-3000:]
    assert (tmp_path / "classes" / "com" / "example" / "edgeq" / "NnapiInt8.class").exists()
    assert (tmp_path / "classes" / "com" / "example" / "edgeqdemo" / "MainActivity.class").exists()


def test_cli_export_android(tmp_path):
    from click.testing import CliRunner

    from edgeq.cli.mobile import export_android_cmd

    r = CliRunner().invoke(export_android_cmd, [str(FIXTURES / "tiny_int8.tflite"), "-t", "android-nnapi", "-o",
                                                str(tmp_path), "--class-name", "Kws", "--package", "org.acme"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "android/src/main/kotlin/org/acme/Kws.kt").is_file()
    r = CliRunner().invoke(export_android_cmd, [str(FIXTURES / "tiny_int8.tflite"), "-t", "rpi4", "-o",
                                                str(tmp_path / "x")])
    assert r.exit_code != 0 and "not an Android profile" in str(r.exception)
