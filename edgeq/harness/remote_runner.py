"""Self-contained LiteRT benchmark runner, copied to the device (Pi over SSH, aarch64 emulator, or run on host).

It must run with nothing but the device's python3, numpy and one of ai-edge-litert / tflite-runtime /
tensorflow: no edgeq import, stdlib only otherwise. It loads the model, feeds inputs (from an .npz written by
edgeq, or deterministic ones it makes itself), does warm-up + N timed invocations and prints exactly one line
`EDGEQ_RESULT {json}` on stdout: latency percentiles, peak RSS, runtime and version, CPU model, machine,
whether a delegate (XNNPACK) was applied, and the outputs (base64 bytes) for the reference check.
Failures print the same line with an "error" key ("no_numpy", "no_runtime", "bad_model", "run_failed").
"""

import argparse
import base64
import hashlib
import json
import os
import platform
import resource
import sys
import time

MARKER = "EDGEQ_RESULT "
# The hints name this very interpreter: with a venv (`--remote-python ~/litert/bin/python`) that is the venv's
# pip, which is where the runtime has to go (Raspberry Pi OS Bookworm refuses pip installs into the system Python).
PIP_HINT = "{py} -m pip install ai-edge-litert   (or, where no wheel exists for this Python: tflite-runtime)"


def _emit(obj):
    sys.stdout.write(MARKER + json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def _cpu_model():
    """The CPU as /proc/cpuinfo names it: 'model name' (x86), else 'Model' (Pi) / implementer+part (Arm)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "unknown"
    fields = {}
    for line in text.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            fields.setdefault(k.strip(), v.strip())
    if "model name" in fields:
        return fields["model name"]
    parts = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1"}
    core = parts.get(fields.get("CPU part", ""), fields.get("CPU part", ""))
    board = fields.get("Model", "")
    return " / ".join(x for x in (board, core) if x) or "unknown"


def _load_runtime(preferred):
    """(Interpreter class, OpResolverType or None, runtime name, version) from the first runtime found."""
    errors = []
    order = ["ai_edge_litert", "tflite_runtime", "tensorflow"]
    if preferred and preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    for name in order:
        try:
            if name == "ai_edge_litert":
                import ai_edge_litert as pkg
                from ai_edge_litert import interpreter as mod
            elif name == "tflite_runtime":
                import tflite_runtime as pkg
                from tflite_runtime import interpreter as mod
            else:
                import tensorflow as pkg

                version = getattr(pkg, "__version__", "unknown")
                return (pkg.lite.Interpreter, getattr(pkg.lite.experimental, "OpResolverType", None), name,
                        version)
            version = getattr(pkg, "__version__", "unknown")
            return mod.Interpreter, getattr(mod, "OpResolverType", None), name, version
        except Exception as e:  # ImportError, or a broken wheel raising something else
            errors.append(f"{name}: {type(e).__name__}: {e}")
    return None, None, None, "; ".join(errors)


def _make_inputs(np, details, seed):
    """Deterministic inputs when none are given: full integer range, or [0, 1) floats."""
    rng = np.random.default_rng(seed)
    out = []
    for d in details:
        shape = [int(s) for s in d["shape"]]
        dt = np.dtype(d["dtype"])
        if dt.kind in "iu":
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64).astype(dt))
        elif dt.kind == "b":
            out.append(rng.integers(0, 2, size=shape).astype(dt))
        else:
            out.append(rng.random(size=shape, dtype=np.float32).astype(dt))
    return out


# Marker for an emulator plugin: lseek(-1, MARK_BASE + code) fails with EBADF and has no effect, but the
# plugin sees the syscall and its arguments (code 1 = start counting, 2 = stop).
MARK_BASE = 0x6564676571000000


def _mark(code):
    try:
        os.lseek(-1, MARK_BASE + code, 0)
    except OSError:
        pass


def _percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def main(argv=None):
    ap = argparse.ArgumentParser(description="edgeq LiteRT benchmark runner")
    ap.add_argument("model")
    ap.add_argument("--inputs", default="", help=".npz with arrays input_0, input_1, ... (else generated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--kernels", choices=["default", "builtin", "reference"], default="default",
                    help="default: builtin + XNNPACK; builtin: no default delegate; reference: reference kernels")
    ap.add_argument("--runtime", default="", help="preferred runtime module")
    ap.add_argument("--no-outputs", action="store_true")
    ap.add_argument("--mark-instructions", type=int, default=0, metavar="N",
                    help="after the timed runs, bracket 1 and N invokes with marker syscalls (3 times each) for "
                         "an instruction-counting emulator plugin")
    a = ap.parse_args(argv)

    base = {"machine": platform.machine(), "python": platform.python_version(), "cpu_model": _cpu_model(),
            "pid": os.getpid(), "executable": sys.executable, "in_venv": sys.prefix != sys.base_prefix}
    try:
        import numpy as np
    except ImportError as e:
        hint = (sys.executable or "python3") + " -m pip install numpy"
        _emit({**base, "error": "no_numpy", "message": str(e), "hint": hint})
        return 3
    Interpreter, Resolver, rt_name, rt_version = _load_runtime(a.runtime)
    if Interpreter is None:
        hint = PIP_HINT.format(py=sys.executable or "python3")
        _emit({**base, "error": "no_runtime", "message": rt_version, "hint": hint})
        return 3
    base.update(runtime=rt_name, runtime_version=rt_version, numpy_version=np.__version__)
    kw = {}
    if a.kernels != "default":
        if Resolver is None:
            _emit({**base, "error": "bad_option", "message": f"{rt_name} cannot select op resolvers"})
            return 2
        kw["experimental_op_resolver_type"] = (Resolver.BUILTIN_REF if a.kernels == "reference"
                                               else Resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    # Peak RSS before the model exists (Python + numpy + runtime library), to report the model's own share.
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        it = Interpreter(model_path=a.model, num_threads=a.threads, **kw)
        it.allocate_tensors()
    except Exception as e:
        _emit({**base, "error": "bad_model", "message": f"{type(e).__name__}: {e}"})
        return 4
    init_ms = (time.perf_counter() - t0) * 1e3
    in_det = it.get_input_details()
    out_det = it.get_output_details()
    try:
        ops = [d.get("op_name", "") for d in it._get_ops_details()]
    except Exception:
        ops = []
    # A delegate (XNNPACK with the default resolver) shows up as an extra DELEGATE node in the graph.
    delegated = any(o == "DELEGATE" for o in ops)
    if a.inputs:
        with np.load(a.inputs) as z:
            feeds = [z[f"input_{i}"] for i in range(len(in_det))]
    else:
        feeds = _make_inputs(np, in_det, a.seed)
    try:
        for d, x in zip(in_det, feeds):
            it.set_tensor(d["index"], np.asarray(x, dtype=d["dtype"]).reshape(d["shape"]))
        t1 = time.perf_counter()
        it.invoke()
        first_ms = (time.perf_counter() - t1) * 1e3
        outputs = [np.array(it.get_tensor(d["index"])) for d in out_det]
        for _ in range(max(a.warmup - 1, 0)):
            it.invoke()
        times = []
        for _ in range(a.runs):
            t = time.perf_counter()
            it.invoke()
            times.append((time.perf_counter() - t) * 1e3)
        marks = []
        if a.mark_instructions > 1:
            for k in (1, a.mark_instructions) * 3:
                _mark(1)
                for _ in range(k):
                    it.invoke()
                _mark(2)
                marks.append(k)
    except Exception as e:
        _emit({**base, "error": "run_failed", "message": f"{type(e).__name__}: {e}"})
        return 5
    times.sort()
    # ru_maxrss is KiB on Linux: the peak of this process, which holds only the runtime and the model.
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = {**base, "threads": a.threads, "kernels": a.kernels, "delegate_applied": delegated,
           "ops": [o for o in ops if o != "DELEGATE"], "init_ms": init_ms, "first_ms": first_ms,
           "runs": len(times), "warmup": a.warmup, "min_ms": times[0] if times else first_ms,
           "p50_ms": _percentile(times, 50), "p90_ms": _percentile(times, 90),
           "mean_ms": sum(times) / len(times) if times else first_ms, "peak_rss_bytes": rss_kib * 1024,
           "baseline_rss_bytes": baseline_kib * 1024, "instruction_marks": marks,
           "outputs": []}
    for d, o in zip(out_det, outputs):
        raw = np.ascontiguousarray(o).tobytes()
        entry = {"name": d.get("name", ""), "dtype": str(o.dtype), "shape": list(o.shape),
                 "sha256": hashlib.sha256(raw).hexdigest()}
        if not a.no_outputs:
            entry["b64"] = base64.b64encode(raw).decode("ascii")
        res["outputs"].append(entry)
    _emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
