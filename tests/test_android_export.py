"""Android export: assets + Kotlin wrapper + README; delegate fallback listing; Kotlin compile check.

Two wrappers: LiteRT 2.x `CompiledModel` (android-cpu/-gpu by default, the NPU targets) and LiteRT 1.4
`Interpreter` (android-nnapi, or `--litert 1`). No Maven or Google repository is reachable here, so the real
LiteRT AARs cannot be compiled against: the compile check runs Debian's `kotlinc` (apt-get install kotlin) on the
generated classes together with STUB declarations of the android.content / org.tensorflow.lite /
com.google.ai.edge.litert signatures they use (tests/fixtures/mobile/kotlin_stubs/, written for this test from
LiteRT's documented API and public Kotlin declarations: ai.google.dev/edge/litert/next/android_kotlin and
google-ai-edge/LiteRT litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/*.kt @ v2.1.0/v2.2.0; they are
not the Android SDK or LiteRT). It proves the generated Kotlin is well-formed and type-checks against those
signatures; it is skipped without kotlinc.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeq.android import choose_litert, class_name_for, delegate_fallbacks, export_android
from edgeq.errors import ModelError, UsageError
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
    cpu = _export(tmp_path / "cpu", "tiny_int8_floatio", "android-cpu")[".kt"].read_text()  # LiteRT 2 default
    assert "import com.google.ai.edge.litert.CompiledModel" in cpu
    assert "accelerator: Accelerator = Accelerator.CPU" in cpu and "org.tensorflow.lite" not in cpu
    assert "inputBuffers[0].writeFloat(input)" in cpu and "outputBuffers[0].readFloat()" in cpu and "_SCALE" not in cpu
    cpu1 = _export(tmp_path / "cpu1", "tiny_int8_floatio", "android-cpu", litert=1)[".kt"].read_text()
    assert "setUseXNNPACK(true)" in cpu1 and "putFloat(v)" in cpu1
    gpu = _export(tmp_path / "gpu", "tiny_float", "android-gpu")
    kt = gpu[".kt"].read_text()
    assert "accelerator: Accelerator = Accelerator.GPU" in kt
    assert "CompiledModel.Options(accelerator, Accelerator.CPU)" in kt  # the CPU takes what the GPU does not
    assert "Precision = CompiledModel.GpuOptions.Precision.FP32" in kt  # all-float32 model
    assert "accelerator !in environment.getAvailableAccelerators()" in kt
    assert "could not compile the model" in kt and "catch (e: LiteRtException)" in kt
    readme = gpu[".md"].read_text()
    assert 'implementation("com.google.ai.edge.litert:litert:2.' in readme and "litert-gpu" not in readme
    gpu1 = _export(tmp_path / "gpu1", "tiny_float", "android-gpu", litert=1)
    assert "GpuDelegate(compatibility.bestOptionsForThisDevice)" in gpu1[".kt"].read_text()
    assert "litert-gpu:1.4.0" in gpu1[".md"].read_text()
    int8_gpu = _export(tmp_path / "gpu8", "tiny_int8", "android-gpu")[".kt"].read_text()
    assert "Precision.FP16" in int8_gpu  # quantized model: the GPU dequantizes, fp16 precision


def test_litert2_int8_io_uses_the_models_scale_and_zero_point(tmp_path):
    out = _export(tmp_path, "tiny_int8", "android-npu-qualcomm", name="kws")
    kt = out[".kt"].read_text()
    g = load(FIXTURES / "tiny_int8.tflite")
    qi, qo = g.inputs[0].quant, g.outputs[0].quant
    assert f"const val INPUT_SCALE = {float(qi.scale[0])!r}f" in kt
    assert f"const val OUTPUT_ZERO_POINT = {qo.zero_point[0]}" in kt
    assert "inputBuffers[0].writeInt8(ByteArray(INPUT_SIZE) {" in kt
    assert "quantize(input[it], INPUT_SCALE, INPUT_ZERO_POINT, -128, 127).toByte()" in kt
    assert "(raw0[it].toInt() - OUTPUT_ZERO_POINT) * OUTPUT_SCALE" in kt
    assert "Environment.create(BuiltinNpuAcceleratorProvider(context))" in kt
    assert "accelerator: Accelerator = Accelerator.NPU" in kt
    assert "override fun close()" in kt and "environment.close()" in kt and "model.close()" in kt
    readme = out[".md"].read_text()
    assert "Qualcomm NPU runtime" in readme and "on-device/JIT compilation" in readme and "(AOT)" in readme


def test_litert_line_checked_against_the_target(tmp_path):
    assert choose_litert(load_target("android-nnapi"), None) == 1
    assert choose_litert(load_target("android-cpu"), None) == 2
    assert choose_litert(load_target("android-npu-mediatek"), None) == 2
    assert choose_litert(load_target("android-gpu"), "1") == 1
    with pytest.raises(UsageError, match="NNAPI exists only in LiteRT 1.x") as e:
        _export(tmp_path, "tiny_int8", "android-nnapi", litert=2)
    assert "android-npu-qualcomm" in e.value.hint
    with pytest.raises(UsageError, match="NPU accelerator exists only in LiteRT 2.x"):
        _export(tmp_path, "tiny_int8", "android-npu-qualcomm", litert=1)
    with pytest.raises(UsageError, match="expected 1"):
        choose_litert(load_target("android-cpu"), "3")
    assert not (tmp_path / "android").exists()  # nothing written


def test_litert2_rejects_io_types_tensorbuffer_cannot_access(tmp_path, monkeypatch):
    import edgeq.android as android

    monkeypatch.setattr(android, "_IO_TYPES_V2", ("float32",))  # as if the model had uint8/int16 I/O
    with pytest.raises(ModelError, match="TensorBuffer reads and writes") as e:
        _export(tmp_path, "tiny_int8", "android-cpu")
    assert "--litert 1" in e.value.hint
    assert _export(tmp_path / "v1", "tiny_int8", "android-cpu", litert=1)[".kt"].exists()


def test_multiple_inputs_and_outputs(tmp_path):
    kt = _export(tmp_path, "two_io_int8", "android-cpu", class_name="Fusion", package="org.acme.ml")[".kt"]
    src = kt.read_text()
    assert kt.name == "Fusion.kt" and "package org.acme.ml" in src
    assert "fun run(input0: FloatArray, input1: FloatArray): List<FloatArray>" in src
    assert "INPUT1_SCALE" in src and "OUTPUT1_ZERO_POINT" in src
    # LiteRT 2.x buffers follow the signature (a, b), not the subgraph's input order (b, a)
    g = load(FIXTURES / "two_io_int8.tflite")
    assert [n for n, _ in g.signature_inputs] == ["a", "b"] and g.inputs[0].name == "serving_default_b:0"
    assert src.index("`serving_default_a:0`") < src.index("`serving_default_b:0`")
    assert "input0 (`a`)" in src
    v1 = _export(tmp_path / "v1", "two_io_int8", "android-cpu", class_name="Fusion", litert=1)[".kt"].read_text()
    assert "mapOf<Int, Any>(0 to outputBuffer0, 1 to outputBuffer1)" in v1
    assert v1.index("`serving_default_b:0`") < v1.index("`serving_default_a:0`")  # Interpreter: subgraph order


def test_android_profiles_and_legacy(tmp_path):
    from click.testing import CliRunner

    from edgeq.cli import cli

    nnapi = load_target("android-nnapi")
    assert "deprecated from Android 15" in nnapi.legacy and nnapi.runtime.version == "1"
    for name, vendor in (("android-npu-qualcomm", "qualcomm"), ("android-npu-mediatek", "mediatek")):
        t = load_target(name)
        assert t.runtime.delegate == "npu" and t.runtime.npu_vendor == vendor and t.runtime.cpu_fallback
        assert not t.legacy and {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "QUANTIZE"} <= set(t.ops)
    # Spot checks of the vendor lists (Qualcomm_QNN_Compiler.md / mediatek compiler_plugin.cc kSupportedOps)
    assert "GATHER" in load_target("android-npu-qualcomm").ops
    assert "GATHER" not in load_target("android-npu-mediatek").ops
    assert not load_target("android-cpu").legacy and not load_target("android-gpu").legacy
    r = CliRunner().invoke(cli, ["targets", "list"])
    assert r.exit_code == 0 and "legacy: NNAPI is deprecated" in r.output
    r = CliRunner().invoke(cli, ["targets", "list", "--json"])
    rows = {row["name"]: row for row in __import__("json").loads(r.output)}
    assert rows["android-nnapi"]["legacy"] and rows["android-npu-qualcomm"]["legacy"] == ""
    readme = _export(tmp_path, "tiny_int8", "android-nnapi")[".md"].read_text()
    assert "**Legacy target:** NNAPI is deprecated" in readme


def test_npu_fallbacks_listed(tmp_path):
    from dataclasses import replace

    t = load_target("android-npu-mediatek")
    t = replace(t, ops={k: v for k, v in t.ops.items() if k != "MEAN"})
    fb = delegate_fallbacks(load(FIXTURES / "tiny_int8.tflite"), t)
    assert [f.opcode for f in fb] == ["MEAN"] and "mediatek NPU" in fb[0].reason


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
    assert re.search(r"op #\d+ MEAN v\d+: MEAN is not supported by the GPU accelerator/delegate", text)


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
    for model, target, cls, line in (
            ("tiny_int8", "android-nnapi", "NnapiInt8", None),  # LiteRT 1.4 Interpreter wrappers
            ("tiny_int8_floatio", "android-cpu", "CpuFloatIo1", 1),
            ("two_io_int8", "android-gpu", "GpuTwoIo1", 1),
            ("tiny_int8_floatio", "android-cpu", "CpuFloatIo", None),  # LiteRT 2.x CompiledModel wrappers
            ("tiny_float", "android-gpu", "GpuFloat", None),
            ("two_io_int8", "android-gpu", "GpuTwoIo", None),
            ("tiny_int8", "android-npu-qualcomm", "QnnInt8", None),
            ("two_io_int8", "android-npu-mediatek", "MtkTwoIo", None)):
        out = export_android(FIXTURES / f"{model}.tflite", load_target(target), tmp_path / cls, class_name=cls,
                             package="com.example.edgeq", litert=line)
        sources += [str(p) for p in out if p.suffix == ".kt"]
    # The example app's Activity, against the class `edgeq convert kws.keras --target android-gpu` generates.
    kws = export_android(FIXTURES / "tiny_int8.tflite", load_target("android-gpu"), tmp_path / "kws", name="kws")
    sources += [str(p) for p in kws if p.suffix == ".kt"]
    sources += [str(p) for p in (Path(__file__).parent.parent / "examples/android/app/src/main").rglob("*.kt")]
    usage = tmp_path / "Usage.kt"
    usage.write_text("package com.example.edgeq\n\nimport android.content.Context\n"
                     "import com.google.ai.edge.litert.Accelerator\n"
                     "import com.google.ai.edge.litert.CompiledModel\n\n"
                     "fun classify(context: Context, x: FloatArray): Int {\n"
                     "    NnapiInt8(context, numThreads = 2).use { m ->\n"
                     "        val scores = m.run(x)\n"
                     "        var best = 0\n"
                     "        for (i in scores.indices) if (scores[i] > scores[best]) best = i\n"
                     "        return best\n"
                     "    }\n}\n\n"
                     "fun fuse(context: Context, a: FloatArray, b: FloatArray): List<FloatArray> =\n"
                     "    GpuTwoIo1(context).use { it.run(a, b) }\n\n"
                     "fun fuse2(context: Context, a: FloatArray, b: FloatArray): List<FloatArray> =\n"
                     "    GpuTwoIo(context, gpuPrecision = CompiledModel.GpuOptions.Precision.FP32)\n"
                     "        .use { it.run(a, b) }\n\n"
                     "fun npu(context: Context, x: FloatArray): String =\n"
                     "    QnnInt8(context, accelerator = Accelerator.NPU, numThreads = 2).use { m ->\n"
                     "        val y: FloatArray = m.run(x)\n"
                     "        \"${m.activeAccelerator} ${m.fallbackReason} ${y.size}\"\n"
                     "    }\n")
    p = subprocess.run(["kotlinc", *sources, str(usage), *map(str, sorted(STUBS.glob("*.kt"))), "-d",
                        str(tmp_path / "classes")], capture_output=True, text=True, timeout=600, check=False)
    errors = [ln for ln in p.stderr.splitlines() if "error:" in ln]
    assert p.returncode == 0 and not errors, p.stderr[-3000:]
    for cls in ("NnapiInt8", "CpuFloatIo", "QnnInt8", "MtkTwoIo"):
        assert (tmp_path / "classes" / "com" / "example" / "edgeq" / f"{cls}.class").exists()
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


def test_cli_litert_option(tmp_path):
    from click.testing import CliRunner

    from edgeq.cli.mobile import export_android_cmd

    model = str(FIXTURES / "tiny_int8.tflite")
    r = CliRunner().invoke(export_android_cmd, [model, "-t", "android-gpu", "--litert", "1", "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert "GpuDelegate" in next((tmp_path / "a/android/src/main/kotlin").rglob("*.kt")).read_text()
    r = CliRunner().invoke(export_android_cmd, [model, "-t", "android-nnapi", "--litert", "2",
                                                "-o", str(tmp_path / "b")])
    assert r.exit_code != 0 and "NNAPI exists only in LiteRT 1.x" in str(r.exception)
    assert not (tmp_path / "b").exists()
    r = CliRunner().invoke(export_android_cmd, [model, "-t", "android-nnapi", "-o", str(tmp_path / "c")])
    assert r.exit_code == 0 and "android-nnapi is a legacy target" in r.output  # stderr is part of output
