"""Android export (export stage for android-* targets): the model as an app asset plus a Kotlin wrapper class.

Writes, under `<out_dir>/android/src/main/` (the layout of an app module's `src/main`, so it can be copied or
pointed to as a source set):
  assets/<name>.tflite
  kotlin/<package path>/<ClassName>.kt   LiteRT Interpreter, delegate of the profile, threads, float in/out with
                                         the model's own scale/zero-point, shapes as constants, Closeable
and `<out_dir>/android/README.md` with the Gradle dependencies and the ops the delegate leaves to the CPU.
Generated text is deterministic (no dates, no absolute paths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import ModelError, UsageError

# LiteRT's Maven artifacts that carry the org.tensorflow.lite Interpreter API.
LITERT_VERSION = "1.4.0"
GRADLE_DEPS = {
    "xnnpack": [f"com.google.ai.edge.litert:litert:{LITERT_VERSION}"],
    "nnapi": [f"com.google.ai.edge.litert:litert:{LITERT_VERSION}"],
    "gpu": [f"com.google.ai.edge.litert:litert:{LITERT_VERSION}",
            f"com.google.ai.edge.litert:litert-gpu:{LITERT_VERSION}",
            f"com.google.ai.edge.litert:litert-gpu-api:{LITERT_VERSION}"],
}
_IO_TYPES = {  # tensor dtype -> (bytes per element, ByteBuffer put/get, integer range or None for float)
    "float32": (4, "Float", None),
    "int8": (1, "", (-128, 127)),
    "uint8": (1, "", (0, 255)),
    "int16": (2, "Short", (-32768, 32767)),
}


@dataclass(frozen=True)
class Fallback:
    """An op the delegate of the profile will not take: it runs on the CPU (LiteRT's kernels / XNNPACK)."""

    index: int
    opcode: str
    version: int
    reason: str


def delegate_fallbacks(graph, target) -> list[Fallback]:
    """Ops of `graph` the profile's delegate (NNAPI / GPU) leaves to the CPU, from the profile's [ops] table."""
    out = []
    if target.runtime.delegate not in ("nnapi", "gpu"):
        return out
    rank = target.runtime.max_tensor_rank
    for sg in graph.subgraphs:
        for op in sg.operators:
            if op.opcode not in target.ops:
                out.append(Fallback(op.index, op.opcode, op.version,
                                    f"{op.opcode} is not supported by the {target.runtime.delegate} delegate"))
            elif op.version > target.ops[op.opcode]:
                out.append(Fallback(op.index, op.opcode, op.version,
                                    f"{op.opcode} v{op.version} is newer than the delegate takes "
                                    f"(v{target.ops[op.opcode]})"))
            else:
                big = [t for t in (*sg.op_inputs(op), *sg.op_outputs(op)) if t is not None and len(t.shape) > rank]
                if big:
                    out.append(Fallback(op.index, op.opcode, op.version,
                                        f"tensor {big[0].name!r} has rank {len(big[0].shape)} > {rank}"))
    return out


def class_name_for(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    base = "".join(p[:1].upper() + p[1:] for p in parts) or "Edgeq"
    if base[0].isdigit():
        base = "M" + base
    return base if base.endswith("Model") else base + "Model"


def export_android(tflite_path: str | Path, target, out_dir: str | Path, *, name: str | None = None,
                   class_name: str | None = None, package: str = "com.example.edgeq") -> list[Path]:
    """Write assets/<name>.tflite, the Kotlin wrapper and README.md under out_dir/android; return the paths."""
    from edgeq.graph import load

    src = Path(tflite_path)
    g = load(src)
    name = name or src.stem
    asset = re.sub(r"[^0-9A-Za-z_.-]+", "_", name) + ".tflite"
    cls = class_name or class_name_for(name)
    if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", cls):
        raise UsageError(f"Kotlin class name {cls!r} is not a valid class name", hint="e.g. KwsModel")
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*", package):
        raise UsageError(f"package {package!r} is not a valid Kotlin/Java package", hint="e.g. com.example.app")
    delegate = target.runtime.delegate if target.runtime.delegate in ("nnapi", "gpu") else "xnnpack"
    root = Path(out_dir) / "android"
    main = root / "src" / "main"
    (main / "assets").mkdir(parents=True, exist_ok=True)
    kt_dir = main / "kotlin" / Path(*package.split("."))
    kt_dir.mkdir(parents=True, exist_ok=True)
    asset_path = main / "assets" / asset
    asset_path.write_bytes(g.raw)
    kt_path = kt_dir / f"{cls}.kt"
    kt_path.write_text(kotlin_source(g, target, cls, package, asset, delegate, src.name), encoding="utf-8")
    fallbacks = delegate_fallbacks(g, target)
    readme = root / "README.md"
    readme.write_text(readme_text(g, target, cls, package, asset, delegate, fallbacks), encoding="utf-8")
    return [asset_path, kt_path, readme]


# ------------------------------------------------------------------------------------------------- Kotlin


def _io(t, kind: str, i: int) -> dict:
    if t.dtype not in _IO_TYPES:
        raise ModelError(f"{kind} {i} ({t.name!r}) is {t.dtype}: the Kotlin wrapper handles float32, int8, uint8 "
                         "and int16 tensors", hint="convert with float32 or int8 I/O")
    size, put, rng = _IO_TYPES[t.dtype]
    q = t.quant if (t.quant is not None and rng is not None) else None
    if rng is not None and q is None:
        raise ModelError(f"{kind} {i} ({t.name!r}) is {t.dtype} without quantization parameters")
    if q is not None and q.per_channel:
        raise ModelError(f"{kind} {i} ({t.name!r}) has per-channel quantization; I/O tensors must be per-tensor")
    n = 1
    for d in t.shape:
        n *= max(int(d), 1)
    return {"shape": [max(int(d), 1) for d in t.shape], "n": n, "bytes": size, "put": put, "rng": rng,
            "scale": q.scale[0] if q else None, "zp": q.zero_point[0] if q else None, "dtype": t.dtype, "name": t.name}


def _f(x: float) -> str:
    return repr(float(x)) + "f"


def kotlin_source(g, target, cls: str, package: str, asset: str, delegate: str, source_name: str) -> str:
    ins = [_io(t, "input", i) for i, t in enumerate(g.inputs)]
    outs = [_io(t, "output", i) for i, t in enumerate(g.outputs)]
    L: list[str] = []
    w = L.append
    w(f"// Generated by edgeq from {source_name} for target {target.name}. Regenerate instead of editing.")
    w(f"package {package}")
    w("")
    w("import android.content.Context")
    w("import java.io.Closeable")
    w("import java.io.FileInputStream")
    w("import java.nio.ByteBuffer")
    w("import java.nio.ByteOrder")
    w("import java.nio.MappedByteBuffer")
    w("import java.nio.channels.FileChannel")
    w("import org.tensorflow.lite.Delegate")
    w("import org.tensorflow.lite.Interpreter")
    if delegate == "gpu":
        w("import org.tensorflow.lite.gpu.CompatibilityList")
        w("import org.tensorflow.lite.gpu.GpuDelegate")
    if delegate == "nnapi":
        w("import org.tensorflow.lite.nnapi.NnApiDelegate")
    w("")
    w("/**")
    w(f" * Runs the model asset `{asset}` (edgeq target {target.name}) with LiteRT's Interpreter.")
    w(" *")
    deleg_doc = {"xnnpack": "CPU with XNNPACK.",
                 "nnapi": "NNAPI delegate (vendor NPU/DSP); ops NNAPI cannot run stay on the CPU.",
                 "gpu": "GPU delegate when the device supports it (CompatibilityList), else the CPU."}[delegate]
    w(f" * Runs on: {deleg_doc}")
    w(" * Inputs and outputs are plain FloatArrays in row-major (NHWC) order; quantized tensors are")
    w(" * (de)quantized here with the model's own scale and zero point. Not thread-safe: use one instance")
    w(" * per thread. Call [close] (or `use { }`) to free the interpreter and the delegate.")
    w(" */")
    w(f"class {cls}(context: Context, numThreads: Int = {target.cpu.cores}) : Closeable {{")
    w("")
    w("    companion object {")
    w(f"        const val MODEL_ASSET = \"{asset}\"")
    for kind, arr in (("INPUT", ins), ("OUTPUT", outs)):
        for i, t in enumerate(arr):
            p = f"{kind}{i}" if len(arr) > 1 else kind
            w(f"        /** `{t['name']}`: {t['dtype']} {t['shape']} */")
            w(f"        val {p}_SHAPE = intArrayOf({', '.join(map(str, t['shape']))})")
            w(f"        const val {p}_SIZE = {t['n']}")
            if t["scale"] is not None:
                w(f"        const val {p}_SCALE = {_f(t['scale'])}")
                w(f"        const val {p}_ZERO_POINT = {t['zp']}")
    w("")
    w("        private fun loadModel(context: Context, asset: String): MappedByteBuffer =")
    w("            context.assets.openFd(asset).use { fd ->")
    w("                FileInputStream(fd.fileDescriptor).use { stream ->")
    w("                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)")
    w("                }")
    w("            }")
    w("    }")
    w("")
    w("    private val delegate: Delegate?")
    w("    private val interpreter: Interpreter")
    for kind, arr in (("input", ins), ("output", outs)):
        for i, t in enumerate(arr):
            w(f"    private val {kind}Buffer{i}: ByteBuffer = "
              f"ByteBuffer.allocateDirect({t['n'] * t['bytes']}).order(ByteOrder.nativeOrder())")
    w("")
    w("    init {")
    w("        val options = Interpreter.Options().setNumThreads(numThreads)")
    if delegate == "xnnpack":
        w("        options.setUseXNNPACK(true)")
        w("        delegate = null")
    elif delegate == "nnapi":
        w("        // NNAPI takes the ops it supports; the rest runs on the CPU (see README.md for the list).")
        w("        val nnapi = NnApiDelegate()")
        w("        options.addDelegate(nnapi)")
        w("        delegate = nnapi")
    else:
        w("        val compatibility = CompatibilityList()")
        w("        delegate = try {")
        w("            if (compatibility.isDelegateSupportedOnThisDevice) {")
        w("                GpuDelegate(compatibility.bestOptionsForThisDevice).also { options.addDelegate(it) }")
        w("            } else {")
        w("                options.setUseXNNPACK(true)")
        w("                null")
        w("            }")
        w("        } finally {")
        w("            compatibility.close()")
        w("        }")
    w("        interpreter = try {")
    w("            Interpreter(loadModel(context, MODEL_ASSET), options)")
    w("        } catch (e: Exception) {")
    w("            delegate?.close()")
    w("            throw e")
    w("        }")
    w("    }")
    w("")
    names = ["input"] if len(ins) == 1 else [f"input{i}" for i in range(len(ins))]
    sig = ", ".join(f"{n}: FloatArray" for n in names)
    ret = "FloatArray" if len(outs) == 1 else "List<FloatArray>"
    w("    /**")
    w("     * One inference. " + "; ".join(
        f"{names[i]}: {t['n']} floats, shape {t['shape']}" for i, t in enumerate(ins)) + ".")
    w("     * Returns " + ("the output" if len(outs) == 1 else f"{len(outs)} outputs") + " as float"
      + ("" if len(outs) == 1 else " arrays") + ": " + "; ".join(
          f"{t['n']} values, shape {t['shape']}" for t in outs) + ".")
    w("     */")
    w(f"    fun run({sig}): {ret} {{")
    for i, t in enumerate(ins):
        p = f"INPUT{i}" if len(ins) > 1 else "INPUT"
        n = names[i]
        msg = f"{n}: expected ${p}_SIZE floats, got ${{{n}.size}}"
        w(f"        require({n}.size == {p}_SIZE) {{ \"{msg}\" }}")
        w(f"        inputBuffer{i}.rewind()")
        if t["rng"] is None:
            w(f"        for (v in {names[i]}) inputBuffer{i}.putFloat(v)")
        else:
            lo, hi = t["rng"]
            conv = {"int8": ".toByte()", "uint8": ".toByte()", "int16": ".toShort()"}[t["dtype"]]
            w(f"        for (v in {names[i]}) {{")
            w(f"            val q = quantize(v, {p}_SCALE, {p}_ZERO_POINT, {lo}, {hi})")
            w(f"            inputBuffer{i}.put{t['put']}(q{conv})")
            w("        }")
        w(f"        inputBuffer{i}.rewind()")
    for i in range(len(outs)):
        w(f"        outputBuffer{i}.rewind()")
    w("        interpreter.runForMultipleInputsOutputs(")
    w(f"            arrayOf<Any>({', '.join(f'inputBuffer{i}' for i in range(len(ins)))}),")
    w(f"            mapOf<Int, Any>({', '.join(f'{i} to outputBuffer{i}' for i in range(len(outs)))})")
    w("        )")
    results = []
    for i, t in enumerate(outs):
        p = f"OUTPUT{i}" if len(outs) > 1 else "OUTPUT"
        w(f"        outputBuffer{i}.rewind()")
        if t["rng"] is None:
            expr = f"outputBuffer{i}.getFloat()"
        else:
            raw = {"int8": f"outputBuffer{i}.get().toInt()",
                   "uint8": f"(outputBuffer{i}.get().toInt() and 0xFF)",
                   "int16": f"outputBuffer{i}.getShort().toInt()"}[t["dtype"]]
            expr = f"({raw} - {p}_ZERO_POINT) * {p}_SCALE"
        w(f"        val result{i} = FloatArray({p}_SIZE) {{ {expr} }}")
        results.append(f"result{i}")
    w(f"        return {results[0] if len(outs) == 1 else 'listOf(' + ', '.join(results) + ')'}")
    w("    }")
    if any(t["rng"] is not None for t in ins):
        w("")
        w("    /** real -> quantized, rounding half away from zero like LiteRT's QUANTIZE kernel, then clamped. */")
        w("    private fun quantize(v: Float, scale: Float, zeroPoint: Int, min: Int, max: Int): Int {")
        w("        val r = v / scale")
        w("        val rounded = if (r >= 0f) Math.floor(r + 0.5).toInt() else Math.ceil(r - 0.5).toInt()")
        w("        return (rounded + zeroPoint).coerceIn(min, max)")
        w("    }")
    w("")
    w("    override fun close() {")
    w("        interpreter.close()")
    w("        delegate?.close()")
    w("    }")
    w("}")
    return "\n".join(L) + "\n"


def readme_text(g, target, cls: str, package: str, asset: str, delegate: str, fallbacks: list[Fallback]) -> str:
    deps = "\n".join(f'    implementation("{d}")' for d in GRADLE_DEPS[delegate])
    ins = ", ".join(f"{t.dtype}{list(t.shape)}" for t in g.inputs)
    outs = ", ".join(f"{t.dtype}{list(t.shape)}" for t in g.outputs)
    lines = [
        f"# {cls} — {asset} for {target.name}",
        "",
        f"Generated by edgeq. Model inputs: {ins}; outputs: {outs}.",
        "",
        "## Add to your app module",
        "",
        "Copy `src/main/assets/` and `src/main/kotlin/` into your app module's `src/main/` (or add them as a",
        "source set), then in `app/build.gradle.kts`:",
        "",
        "```kotlin",
        "android {",
        "    androidResources { noCompress += \"tflite\" }  // the model is memory-mapped from the APK",
        "}",
        "dependencies {",
        deps,
        "}",
        "```",
        "",
        "(`com.google.ai.edge.litert` is LiteRT, the new name of TensorFlow Lite, on Google Maven; the 1.x",
        "artifacts carry the `org.tensorflow.lite.Interpreter` API used here.)",
        "",
        "## Use",
        "",
        "```kotlin",
        f"import {package}.{cls}",
        "",
        f"{cls}(context).use {{ model ->",
        "    val output = model.run(" + ", ".join(f"FloatArray({cls}.INPUT{i if len(g.inputs) > 1 else ''}_SIZE)"
                                           for i in range(len(g.inputs))) + ")",
        "}",
        "```",
        "",
        "Create the model once (loading and delegate setup take milliseconds to seconds) and reuse it; it is not",
        "thread-safe.",
        "",
    ]
    if delegate in ("nnapi", "gpu"):
        lines += [f"## Ops left to the CPU by the {delegate.upper()} delegate", ""]
        if fallbacks:
            lines += [f"{len(fallbacks)} of {sum(len(sg.operators) for sg in g.subgraphs)} ops run on the CPU "
                      "(each boundary costs a copy between the delegate and the CPU):", ""]
            lines += [f"- op #{f.index} {f.opcode} v{f.version}: {f.reason}" for f in fallbacks]
        else:
            lines += ["None: every op type and version is in the delegate's list (the delegate may still reject an",
                      "op for its parameters at run time; `edgeq bench --device adb` shows how many nodes it took)."]
        lines.append("")
        if delegate == "nnapi":
            lines += ["NNAPI is deprecated from Android 15; on such devices prefer the android-gpu or android-cpu",
                      "target.", ""]
    return "\n".join(lines)
