"""Android export (export stage for android-* targets): the model as an app asset plus a Kotlin wrapper class.

Writes, under `<out_dir>/android/src/main/` (the layout of an app module's `src/main`, so it can be copied or
pointed to as a source set):
  assets/<name>.tflite
  kotlin/<package path>/<ClassName>.kt   the wrapper: LiteRT 2.x `CompiledModel` (accelerator of the profile with
                                         CPU fallback) or, for android-nnapi / `--litert 1`, LiteRT 1.4's
                                         `Interpreter` with the profile's delegate; float in/out with the model's
                                         own scale/zero-point, shapes as constants, Closeable
and `<out_dir>/android/README.md` with the Gradle dependencies and the ops the accelerator leaves to the CPU.
Generated text is deterministic (no dates, no absolute paths).

API facts (google-ai-edge/LiteRT, litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/, identical in tags
v2.1.0 and v2.2.0): `CompiledModel.create(AssetManager, String, CompiledModel.Options, Environment?)`,
`Options(vararg Accelerator)` with `cpuOptions`/`gpuOptions`, `createInputBuffers()`/`createOutputBuffers()` in the
first signature's order, `run(inputs, outputs)`, `TensorBuffer.writeFloat/writeInt8/readFloat/readInt8`,
`Environment.create()` / `Environment.create(NpuAcceleratorProvider)`, `getAvailableAccelerators()`; all
`AutoCloseable` (JniHandle). Maven: `com.google.ai.edge.litert:litert:2.x` (ai.google.dev/edge/litert/next/
android_kotlin), the GPU accelerator built in for Kotlin (ai.google.dev/edge/litert/next/gpu).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import ModelError, UsageError

# LiteRT 1.x Maven artifacts carry the org.tensorflow.lite Interpreter API (kept for android-nnapi, --litert 1).
LITERT1_VERSION = "1.4.0"
# LiteRT 2.x: the CompiledModel API; 2.2.0 is the newest release tag of google-ai-edge/LiteRT read here, and the
# API the wrapper uses is unchanged from 2.1.0 (the version the Kotlin guide names).
LITERT2_VERSION = "2.2.0"
GRADLE_DEPS_V1 = {
    "xnnpack": [f"com.google.ai.edge.litert:litert:{LITERT1_VERSION}"],
    "nnapi": [f"com.google.ai.edge.litert:litert:{LITERT1_VERSION}"],
    "gpu": [f"com.google.ai.edge.litert:litert:{LITERT1_VERSION}",
            f"com.google.ai.edge.litert:litert-gpu:{LITERT1_VERSION}",
            f"com.google.ai.edge.litert:litert-gpu-api:{LITERT1_VERSION}"],
}
GRADLE_DEPS_V2 = [f"com.google.ai.edge.litert:litert:{LITERT2_VERSION}"]  # CPU, GPU (built in) and NPU dispatch
ACCELERATED = ("nnapi", "gpu", "npu")  # delegates/accelerators that leave some ops to the CPU
_KOTLIN_ACCELERATOR = {"xnnpack": "CPU", "none": "CPU", "gpu": "GPU", "npu": "NPU"}
_IO_TYPES = {  # tensor dtype -> (bytes per element, ByteBuffer put/get, integer range or None for float)
    "float32": (4, "Float", None),
    "int8": (1, "", (-128, 127)),
    "uint8": (1, "", (0, 255)),
    "int16": (2, "Short", (-32768, 32767)),
}
_IO_TYPES_V2 = ("float32", "int8")  # TensorBuffer has writeFloat/writeInt8 (and int32/int64/bool), no uint8/int16


@dataclass(frozen=True)
class Fallback:
    """An op the delegate of the profile will not take: it runs on the CPU (LiteRT's kernels / XNNPACK)."""

    index: int
    opcode: str
    version: int
    reason: str



def delegate_fallbacks(graph, target) -> list[Fallback]:
    """Ops of `graph` the profile's accelerator (NNAPI / GPU / NPU) leaves to the CPU, from its [ops] table."""
    out = []
    if target.runtime.delegate not in ACCELERATED:
        return out
    rank = target.runtime.max_tensor_rank
    for sg in graph.subgraphs:
        for op in sg.operators:
            if op.opcode not in target.ops:
                out.append(Fallback(op.index, op.opcode, op.version,
                                    f"{op.opcode} is not supported by the {accelerator_label(target)}"))
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



def accelerator_label(target) -> str:
    d = target.runtime.delegate
    if d == "npu":
        return f"{target.runtime.npu_vendor or 'vendor'} NPU (LiteRT NPU accelerator)"
    return {"gpu": "GPU accelerator/delegate", "nnapi": "NNAPI delegate"}.get(d, f"{d} delegate")


def litert_lines(target) -> tuple[int, ...]:
    """The LiteRT major versions a profile can be exported for: NNAPI only on 1.x, the NPU only on 2.x."""
    d = target.runtime.delegate
    if d == "nnapi":
        return (1,)
    if d == "npu":
        return (2,)
    return (1, 2)


def choose_litert(target, litert: int | str | None) -> int:
    """`--litert 1|2` checked against the profile; None = the profile's [runtime] version (2 if unset)."""
    lines = litert_lines(target)
    if litert is None or litert == "":
        default = str(target.runtime.version or "2").split(".")[0]
        return int(default) if default in ("1", "2") and int(default) in lines else lines[-1]
    if str(litert) not in ("1", "2"):
        raise UsageError(f"--litert {litert!r}: expected 1 (LiteRT 1.4 Interpreter) or 2 (LiteRT 2.x CompiledModel)")
    n = int(litert)
    if n not in lines:
        why = {"nnapi": "NNAPI exists only in LiteRT 1.x (LiteRT 2.x has CPU/GPU/NPU accelerators, no NNAPI)",
               "npu": "the LiteRT NPU accelerator exists only in LiteRT 2.x's CompiledModel"}[target.runtime.delegate]
        other = ("android-npu-qualcomm or android-npu-mediatek (LiteRT 2.x)" if n == 2
                 else "android-nnapi (legacy) or android-cpu / android-gpu")
        raise UsageError(f"target {target.name} cannot be exported for LiteRT {n}: {why}",
                         hint=f"drop --litert (the target uses LiteRT {lines[0]}), or choose {other}")
    return n


def class_name_for(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    base = "".join(p[:1].upper() + p[1:] for p in parts) or "Edgeq"
    if base[0].isdigit():
        base = "M" + base
    return base if base.endswith("Model") else base + "Model"


def export_android(tflite_path: str | Path, target, out_dir: str | Path, *, name: str | None = None,
                   class_name: str | None = None, package: str = "com.example.edgeq",
                   litert: int | str | None = None) -> list[Path]:
    """Write assets/<name>.tflite, the Kotlin wrapper and README.md under out_dir/android; return the paths.

    litert: 1 (Interpreter) or 2 (CompiledModel); None = the profile's default (see `choose_litert`).
    """
    from edgeq.graph import load

    src = Path(tflite_path)
    g = load(src)
    line = choose_litert(target, litert)
    name = name or src.stem
    asset = re.sub(r"[^0-9A-Za-z_.-]+", "_", name) + ".tflite"
    cls = class_name or class_name_for(name)
    if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", cls):
        raise UsageError(f"Kotlin class name {cls!r} is not a valid class name", hint="e.g. KwsModel")
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*", package):
        raise UsageError(f"package {package!r} is not a valid Kotlin/Java package", hint="e.g. com.example.app")
    delegate = target.runtime.delegate if target.runtime.delegate in ACCELERATED else "xnnpack"
    if line == 1:
        kotlin = kotlin_source_v1(g, target, cls, package, asset, delegate, src.name)
    else:
        kotlin = kotlin_source_v2(g, target, cls, package, asset, delegate, src.name)
    root = Path(out_dir) / "android"
    main = root / "src" / "main"
    (main / "assets").mkdir(parents=True, exist_ok=True)
    kt_dir = main / "kotlin" / Path(*package.split("."))
    kt_dir.mkdir(parents=True, exist_ok=True)
    asset_path = main / "assets" / asset
    asset_path.write_bytes(g.raw)
    kt_path = kt_dir / f"{cls}.kt"
    kt_path.write_text(kotlin, encoding="utf-8")
    fallbacks = delegate_fallbacks(g, target)
    readme = root / "README.md"
    readme.write_text(readme_text(g, target, cls, package, asset, delegate, fallbacks, line), encoding="utf-8")
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


def _constants(w, asset: str, ins: list[dict], outs: list[dict]) -> None:
    """Companion-object constants: the asset name, each tensor's shape, size and quantization."""
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


def _run_head(w, ins: list[dict], outs: list[dict], labels: list[str] | None) -> list[str]:
    """KDoc and signature of `run(...)` plus the size checks; returns the parameter names."""
    names = ["input"] if len(ins) == 1 else [f"input{i}" for i in range(len(ins))]
    sig = ", ".join(f"{n}: FloatArray" for n in names)
    ret = "FloatArray" if len(outs) == 1 else "List<FloatArray>"
    w("    /**")
    w("     * One inference. " + "; ".join(
        f"{names[i]}{f' (`{labels[i]}`)' if labels else ''}: {t['n']} floats, shape {t['shape']}"
        for i, t in enumerate(ins)) + ".")
    w("     * Returns " + ("the output" if len(outs) == 1 else f"{len(outs)} outputs") + " as float"
      + ("" if len(outs) == 1 else " arrays") + ": " + "; ".join(
          (f"`{t['name']}`, " if labels else "") + f"{t['n']} values, shape {t['shape']}" for t in outs) + ".")
    w("     */")
    w(f"    fun run({sig}): {ret} {{")
    for i, n in enumerate(names):
        p = f"INPUT{i}" if len(ins) > 1 else "INPUT"
        msg = f"{n}: expected ${p}_SIZE floats, got ${{{n}.size}}"
        w(f"        require({n}.size == {p}_SIZE) {{ \"{msg}\" }}")
    return names


def _run_tail(w, ins: list[dict], results: list[str]) -> None:
    """End of `run(...)`, the quantize helper when an input needs it, and the head of `close()`."""
    w(f"        return {results[0] if len(results) == 1 else 'listOf(' + ', '.join(results) + ')'}")
    w("    }")
    _quantize_fn(w, ins)
    w("")
    w("    override fun close() {")


def _quantize_fn(w, ins: list[dict]) -> None:
    if any(t["rng"] is not None for t in ins):
        w("")
        w("    /** real -> quantized, rounding half away from zero like LiteRT's QUANTIZE kernel, then clamped. */")
        w("    private fun quantize(v: Float, scale: Float, zeroPoint: Int, min: Int, max: Int): Int {")
        w("        val r = v / scale")
        w("        val rounded = if (r >= 0f) Math.floor(r + 0.5).toInt() else Math.ceil(r - 0.5).toInt()")
        w("        return (rounded + zeroPoint).coerceIn(min, max)")
        w("    }")


def kotlin_source_v1(g, target, cls: str, package: str, asset: str, delegate: str, source_name: str) -> str:
    """The LiteRT 1.4 `Interpreter` wrapper (android-nnapi, or `--litert 1`)."""
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
    _constants(w, asset, ins, outs)
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
    names = _run_head(w, ins, outs, None)
    for i, t in enumerate(ins):
        p = f"INPUT{i}" if len(ins) > 1 else "INPUT"
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
    _run_tail(w, ins, results)
    w("        interpreter.close()")
    w("        delegate?.close()")
    w("    }")
    w("}")
    return "\n".join(L) + "\n"


def _signature_order(g) -> tuple[list, list]:
    """I/O tensors in the order `createInputBuffers()`/`createOutputBuffers()` return them: the first signature's.

    LiteRT 2.x builds the buffers from the model's signature (a default one in subgraph order when the file has
    none); the converter's signature order often differs from the subgraph's input order.
    """
    main = g.main
    ins = [main.tensors[i] for _, i in g.signature_inputs] if g.signature_inputs else list(g.inputs)
    outs = [main.tensors[i] for _, i in g.signature_outputs] if g.signature_outputs else list(g.outputs)
    return ins, outs


def _gpu_precision(g) -> str:
    """FP32 for an all-float32 model, else FP16 (float16 weights, or quantized models the GPU dequantizes)."""
    dtypes = {t.dtype for sg in g.subgraphs for t in sg.tensors}
    quantized = any(t.quant is not None for sg in g.subgraphs for t in sg.tensors)
    return "FP32" if dtypes <= {"float32", "int32", "int64", "bool"} and not quantized else "FP16"


def kotlin_source_v2(g, target, cls: str, package: str, asset: str, delegate: str, source_name: str) -> str:
    """The LiteRT 2.x `CompiledModel` wrapper: the profile's accelerator, CPU fallback, TensorBuffer I/O."""
    in_t, out_t = _signature_order(g)
    for kind, arr in (("input", in_t), ("output", out_t)):
        for i, t in enumerate(arr):
            if t.dtype not in _IO_TYPES_V2:
                raise ModelError(f"{kind} {i} ({t.name!r}) is {t.dtype}: LiteRT 2.x TensorBuffer reads and writes "
                                 "float32 and int8 (no uint8/int16 access)",
                                 hint="convert with float32 or int8 I/O (--io-dtype), or export with --litert 1")
    ins = [_io(t, "input", i) for i, t in enumerate(in_t)]
    outs = [_io(t, "output", i) for i, t in enumerate(out_t)]
    accel = _KOTLIN_ACCELERATOR.get(delegate, "CPU")
    L: list[str] = []
    w = L.append
    w(f"// Generated by edgeq from {source_name} for target {target.name} (LiteRT {LITERT2_VERSION}). "
      "Regenerate instead of editing.")
    w(f"package {package}")
    w("")
    w("import android.content.Context")
    w("import com.google.ai.edge.litert.Accelerator")
    if accel == "NPU":
        w("import com.google.ai.edge.litert.BuiltinNpuAcceleratorProvider")
    w("import com.google.ai.edge.litert.CompiledModel")
    w("import com.google.ai.edge.litert.Environment")
    w("import com.google.ai.edge.litert.LiteRtException")
    w("import com.google.ai.edge.litert.TensorBuffer")
    w("import java.io.Closeable")
    w("")
    w("/**")
    w(f" * Runs the model asset `{asset}` (edgeq target {target.name}) with LiteRT 2.x's CompiledModel.")
    w(" *")
    w(f" * [accelerator] defaults to {accel} from the profile. When that accelerator is missing on the device or")
    w(" * cannot compile the model, the model is compiled for the CPU (XNNPACK) instead: see [activeAccelerator]")
    w(" * and [fallbackReason]. GPU/NPU compilation also places ops they cannot run on the CPU.")
    if accel == "NPU":
        w(f" * The {target.runtime.npu_vendor} NPU runtime libraries must ship with the app (see README.md): they are")
        w(" * looked up in the app's native library folder (BuiltinNpuAcceleratorProvider).")
    w(" * Inputs and outputs are plain FloatArrays in row-major (NHWC) order, in the model signature's order;")
    w(" * int8 tensors are (de)quantized here with the model's own scale and zero point. Not thread-safe: use one")
    w(" * instance per thread. Call [close] (or `use { }`) to free the buffers, the compiled model and the runtime.")
    w(" */")
    params = ["    context: Context", f"    accelerator: Accelerator = Accelerator.{accel}",
              f"    numThreads: Int = {target.cpu.cores}"]
    if accel == "GPU":
        params.append(f"    gpuPrecision: CompiledModel.GpuOptions.Precision = "
                      f"CompiledModel.GpuOptions.Precision.{_gpu_precision(g)}")
    w(f"class {cls}(")
    w(",\n".join(params))  # no trailing comma: Kotlin < 1.4 (Debian's kotlinc) rejects it
    w(") : Closeable {")
    w("")
    w("    companion object {")
    _constants(w, asset, ins, outs)
    w("")
    w("        private fun options(accelerator: Accelerator, numThreads: Int"
      + (", gpuPrecision: CompiledModel.GpuOptions.Precision" if accel == "GPU" else "") + "): CompiledModel.Options {")
    w("            // A non-CPU accelerator is listed with the CPU so ops it cannot run stay on the CPU.")
    w("            val options = if (accelerator == Accelerator.CPU) CompiledModel.Options(Accelerator.CPU)")
    w("                else CompiledModel.Options(accelerator, Accelerator.CPU)")
    w("            options.cpuOptions = CompiledModel.CpuOptions(numThreads = numThreads)")
    if accel == "GPU":
        w("            if (accelerator == Accelerator.GPU) {")
        w("                options.gpuOptions = CompiledModel.GpuOptions(precision = gpuPrecision)")
        w("            }")
    w("            return options")
    w("        }")
    w("    }")
    w("")
    w("    private val environment: Environment =")
    if accel == "NPU":
        w("        Environment.create(BuiltinNpuAcceleratorProvider(context))")
    else:
        w("        Environment.create()")
    w("    private val model: CompiledModel")
    w("    private val inputBuffers: List<TensorBuffer>")
    w("    private val outputBuffers: List<TensorBuffer>")
    w("")
    w("    /** The accelerator the model was compiled for: the requested one, or CPU after a fallback. */")
    w("    val activeAccelerator: Accelerator")
    w("")
    w("    /** Why the requested accelerator is not used (\"\" when it is). */")
    w("    val fallbackReason: String")
    w("")
    w("    init {")
    opt_args = "numThreads" + (", gpuPrecision" if accel == "GPU" else "")
    w("        var reason = \"\"")
    w("        var compiled: CompiledModel? = null")
    w("        if (accelerator != Accelerator.CPU) {")
    w("            if (accelerator !in environment.getAvailableAccelerators()) {")
    w("                reason = \"$accelerator is not available on this device\"")
    w("            } else {")
    w("                try {")
    w(f"                    compiled = CompiledModel.create(context.assets, MODEL_ASSET, "
      f"options(accelerator, {opt_args}), environment)")
    w("                } catch (e: Exception) {  // LiteRtException, or another exception from the native side")
    w("                    reason = \"$accelerator could not compile the model: ${e.message}\"")
    w("                }")
    w("            }")
    w("        }")
    w("        activeAccelerator = if (compiled != null) accelerator else Accelerator.CPU")
    w("        fallbackReason = reason")
    w("        model = try {")
    w(f"            compiled ?: CompiledModel.create(context.assets, MODEL_ASSET, "
      f"options(Accelerator.CPU, {opt_args}), environment)")
    w("        } catch (e: LiteRtException) {")
    w("            environment.close()")
    w("            throw e")
    w("        }")
    w("        try {")
    w("            inputBuffers = model.createInputBuffers()")
    w("            outputBuffers = model.createOutputBuffers()")
    w("        } catch (e: LiteRtException) {")
    w("            model.close()")
    w("            environment.close()")
    w("            throw e")
    w("        }")
    w("    }")
    w("")
    names = _run_head(w, ins, outs, [n for n, _ in g.signature_inputs] or [t["name"] for t in ins])
    for i, t in enumerate(ins):
        p = f"INPUT{i}" if len(ins) > 1 else "INPUT"
        n = names[i]
        if t["rng"] is None:
            w(f"        inputBuffers[{i}].writeFloat({n})")
        else:
            lo, hi = t["rng"]
            w(f"        inputBuffers[{i}].writeInt8(ByteArray({p}_SIZE) {{")
            w(f"            quantize({n}[it], {p}_SCALE, {p}_ZERO_POINT, {lo}, {hi}).toByte()")
            w("        })")
    w("        model.run(inputBuffers, outputBuffers)")
    results = []
    for i, t in enumerate(outs):
        p = f"OUTPUT{i}" if len(outs) > 1 else "OUTPUT"
        if t["rng"] is None:
            w(f"        val result{i} = outputBuffers[{i}].readFloat()")
        else:
            w(f"        val raw{i} = outputBuffers[{i}].readInt8()")
            w(f"        val result{i} = FloatArray({p}_SIZE) {{ (raw{i}[it].toInt() - {p}_ZERO_POINT) * {p}_SCALE }}")
        results.append(f"result{i}")
    _run_tail(w, ins, results)
    w("        inputBuffers.forEach { it.close() }")
    w("        outputBuffers.forEach { it.close() }")
    w("        model.close()")
    w("        environment.close()")
    w("    }")
    w("}")
    return "\n".join(L) + "\n"

def readme_text(g, target, cls: str, package: str, asset: str, delegate: str, fallbacks: list[Fallback],
                litert: int = 2) -> str:
    deps_list = GRADLE_DEPS_V1[delegate if delegate in GRADLE_DEPS_V1 else "xnnpack"] if litert == 1 else GRADLE_DEPS_V2
    deps = "\n".join(f'    implementation("{d}")' for d in deps_list)
    ins = ", ".join(f"{t.dtype}{list(t.shape)}" for t in g.inputs)
    outs = ", ".join(f"{t.dtype}{list(t.shape)}" for t in g.outputs)
    n_in = len(g.inputs)
    api = ("LiteRT 1.4 `org.tensorflow.lite.Interpreter`" if litert == 1
           else f"LiteRT {LITERT2_VERSION} `CompiledModel`")
    lines = [
        f"# {cls} — {asset} for {target.name}",
        "",
        f"Generated by edgeq for {api}. Model inputs: {ins}; outputs: {outs}.",
        "",
    ]
    if target.legacy:
        lines += [f"**Legacy target:** {target.legacy}.", ""]
    lines += [
        "## Add to your app module",
        "",
        "Copy `src/main/assets/` and `src/main/kotlin/` into your app module's `src/main/` (or add them as a",
        "source set), then in `app/build.gradle.kts`:",
        "",
        "```kotlin",
        "android {",
        "    androidResources { noCompress += \"tflite\" }  // keep the model uncompressed: it is read in place",
        "}",
        "dependencies {",
        deps,
        "}",
        "```",
        "",
    ]
    if litert == 1:
        lines += ["(`com.google.ai.edge.litert` is LiteRT, the new name of TensorFlow Lite, on Google Maven; the 1.x",
                  "artifacts carry the `org.tensorflow.lite.Interpreter` API used here.)", ""]
    else:
        lines += ["(LiteRT 2.x on Google Maven: one `litert` artifact carries `CompiledModel`, the CPU (XNNPACK) and,",
                  "for Kotlin, the GPU accelerator — ai.google.dev/edge/litert/next/android_kotlin and .../next/gpu.",
                  "The API this wrapper uses is the same from 2.1.0 on.)", ""]
    if delegate == "npu":
        vendor = target.runtime.npu_vendor
        lines += [
            f"### {vendor.capitalize()} NPU runtime",
            "",
            "The `litert` artifact dispatches to the NPU, but the vendor runtime libraries are not on Maven: ship",
            "them with the app through Google Play for On-device AI (an AI Pack for the model plus the NPU runtime",
            "feature modules; see LiteRT's `compiled_model_api/image_segmentation` Kotlin sample) or in the app's",
            "native library folder, where `BuiltinNpuAcceleratorProvider` looks. Without them `Accelerator.NPU`",
            "is not in `getAvailableAccelerators()` and the wrapper runs on the CPU (`fallbackReason` says why).",
            "",
            "This bundle ships the plain `.tflite`: LiteRT compiles it for the NPU on the device at load time",
            "(on-device/JIT compilation, higher first-run cost). For large models compile ahead of time (AOT) for",
            "your target SoCs with LiteRT's AOT compiler and ship the compiled model instead; the wrapper is the same.",
            "",
        ]
    call = ", ".join(f"FloatArray({cls}.INPUT{i if n_in > 1 else ''}_SIZE)" for i in range(n_in))
    lines += ["## Use", "", "```kotlin", f"import {package}.{cls}", "", f"{cls}(context).use {{ model ->",
              f"    val output = model.run({call})"]
    if litert == 2:
        lines.append("    Log.i(\"edgeq\", \"running on ${model.activeAccelerator} ${model.fallbackReason}\")")
    lines += ["}", "```", "",
              "Create the model once (loading and accelerator setup take milliseconds to seconds) and reuse it; it is",
              "not thread-safe.", ""]
    if litert == 2 and n_in > 1:
        lines += ["Inputs and outputs follow the model signature's order (the order of `createInputBuffers()`).", ""]
    if delegate in ACCELERATED:
        label = accelerator_label(target)
        lines += [f"## Ops left to the CPU by the {label}", ""]
        if fallbacks:
            lines += [f"{len(fallbacks)} of {sum(len(sg.operators) for sg in g.subgraphs)} ops run on the CPU "
                      "(each boundary costs a copy between the accelerator and the CPU):", ""]
            lines += [f"- op #{f.index} {f.opcode} v{f.version}: {f.reason}" for f in fallbacks]
        else:
            lines += ["None: every op type and version is in the profile's list (the accelerator may still reject an",
                      "op for its parameters at run time; `edgeq bench --device adb` shows how many nodes it took)."]
        lines.append("")
    return "\n".join(lines)
