"""MLPerf Tiny reference architectures on emulated Cortex-M4, M55, M7, M33 and M0+: edgeq's generated C next to
TFLM+CMSIS-NN and the published silicon figures, and bit-exact with tflite-micro on every core.

Builds the four MLPerf Tiny int8 reference architectures in Keras with seeded random weights (the figures
depend on the architecture, not on trained weights), converts each to int8 with edgeq (batch 1, int8 I/O,
per-channel weights), generates C once, and runs it with `edgeq.harness.cortexm.bench_cortexm` per target:
cortex-m4 on QEMU mps2-an386, cortex-m55 on mps3-an547, cortex-m7 on mps2-an500, cortex-m33 on mps2-an505 and
cortex-m0plus on mps2-an385's Cortex-M3 (ARMv6-M code; instructions counted with -icount shift=0, cycles
estimated by the core's timing model, a QEMU TCG plugin, docs/harness.md: M7, M33 and M55 tables are
approximations; outputs checked bit-exact against the tflite-micro interpreter).

Per model it reports MACs, instructions per inference, estimated cycles, MAC/cycle, the best published silicon
cycles for the core (benchmarks/reference/silicon-published.json: MLPerf Tiny closed division on STM32L4R5 for
the M4; KWS only on an STM32H7A3 for the M7 and an STM32U575 for the M33; none for the M0+ and M55),
MAC/instruction, edgeq's arena vs the TFLM arena
(tflite-micro's recording allocator, measured here on the 64-bit host, so pointer-sized allocations are
larger than on a 32-bit device; TFLM's arena also holds the model's input and output tensors, which edgeq's
generated C leaves to the caller: the "arena+I/O" column adds them) vs the minimum activation footprint
(the largest live input+output set of any op), code and weight flash, and the reference TFLM + CMSIS-NN
figures measured side by side (benchmarks/reference/cortex-m4-qemu-tflm.json, cortex-m55-qemu-tflm.json, copied
from the shared reference with their provenance; they were measured with a TFLM firmware built outside this
repository, so the M7, M33 and M0+ TFLM columns are '-').

Bit-exactness (--verify N, default 2): a second conversion of each model makes every activation (ReLU, ADD and
pooling outputs) a model output; it runs on every target with N more random inputs and all outputs must equal
tflite-micro's byte for byte (the model output alone is a softmax that saturates on random weights). Writes tables
to stdout and JSON + Markdown to benchmarks/out/; exits 1 if any output differs.

    python benchmarks/mlperf_tiny.py                          # all four models on the five cores (~3 min)
    python benchmarks/mlperf_tiny.py --models kws,ad --targets cortex-m4 --verify 0
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
REFERENCE_DIR = REPO / "benchmarks" / "reference"
REFERENCES = {"cortex-m4": "cortex-m4-qemu-tflm.json", "cortex-m55": "cortex-m55-qemu-tflm.json"}
# cortex-m4 first: its rows are also the JSON's top-level "models" (as before the other cores were added)
DEFAULT_TARGETS = ("cortex-m4", "cortex-m55", "cortex-m7", "cortex-m33", "cortex-m0plus")
DEFAULT_VERIFY_SAMPLES = 2
SILICON = REFERENCE_DIR / "silicon-published.json"


# ------------------------------------------------------------------------------------------ architectures


def kws_ds_cnn():
    """Keyword spotting, DS-CNN (MLPerf Tiny kws reference): 49x10 MFCC -> 12 classes."""
    import keras
    from keras import layers as L

    x = inp = keras.Input(shape=(49, 10, 1), batch_size=1)
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(64, 1, use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(12, activation="softmax")(x), name="kws_ds_cnn")


def vww_mobilenet_v1_025():
    """Visual wake words, MobileNetV1 alpha 0.25 (MLPerf Tiny vww reference): 96x96x3 -> 2 classes."""
    import keras
    from keras import layers as L

    def bn_relu(t):
        return L.ReLU()(L.BatchNormalization()(t))

    x = inp = keras.Input(shape=(96, 96, 3), batch_size=1)
    x = bn_relu(L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x))
    for filters, stride in [
        (16, 1),
        (32, 2),
        (32, 1),
        (64, 2),
        (64, 1),
        (128, 2),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (256, 2),
        (256, 1),
    ]:
        x = bn_relu(L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x))
        x = bn_relu(L.Conv2D(filters, 1, use_bias=False)(x))
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(2, activation="softmax")(x), name="vww_mobilenet_v1_0.25")


def ic_resnet8():
    """Image classification, ResNet-8 (MLPerf Tiny ic reference): 32x32x3 -> 10 classes."""
    import keras
    from keras import layers as L

    x = inp = keras.Input(shape=(32, 32, 3), batch_size=1)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(x)))
    for filters, stride in [(16, 1), (32, 2), (64, 2)]:
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(filters, 3, strides=stride, padding="same")(x)))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(10, activation="softmax")(x), name="ic_resnet8")


def ad_fc_autoencoder():
    """Anomaly detection, FC autoencoder (MLPerf Tiny ad reference): 640 -> 128x4 -> 8 -> 128x4 -> 640."""
    import keras
    from keras import layers as L

    x = inp = keras.Input(shape=(640,), batch_size=1)
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.ReLU()(L.BatchNormalization()(L.Dense(units)(x)))
    return keras.Model(inp, L.Dense(640)(x), name="ad_fc_autoencoder")


MODELS = {
    "kws_ds_cnn": kws_ds_cnn,
    "vww_mobilenet_v1_0.25": vww_mobilenet_v1_025,
    "ic_resnet8": ic_resnet8,
    "ad_fc_autoencoder": ad_fc_autoencoder,
}
SHORT = {"kws": "kws_ds_cnn", "vww": "vww_mobilenet_v1_0.25", "ic": "ic_resnet8", "ad": "ad_fc_autoencoder"}


# ------------------------------------------------------------------------------------------ pipeline


def convert_int8(model, work: Path, seed: int, taps: bool = False) -> bytes:
    """Keras -> int8 .tflite through edgeq's converter (the path `edgeq convert` takes).

    taps: every activation (ReLU, ADD and pooling outputs) becomes an extra model output, so the bit-exact check
    compares every layer's result, not only the last (a saturated softmax hides most differences)."""
    import keras

    from edgeq.convert import load_model, quantize

    rng = np.random.default_rng(seed)
    # Seeded random weights, with BatchNorm statistics that keep activations in a realistic range.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0, 0.1, mean.shape).astype("float32"),
                    rng.uniform(0.5, 2.0, var.shape).astype("float32"),
                ]
            )
    calib = rng.normal(0, 1, size=(32, *model.input_shape[1:])).astype("float32")
    if taps:
        tapped = [
            layer.output
            for layer in model.layers
            if isinstance(layer, (keras.layers.ReLU, keras.layers.Add, keras.layers.AveragePooling2D))
        ]
        model = keras.Model(model.inputs, [*tapped, *model.outputs], name=f"{model.name}_taps")
    path = work / f"{model.name}.keras"
    model.save(path)
    return quantize(load_model(path), "int8", [calib], io_dtype="int8")


def prepare(name: str, work: Path, seed: int, taps: bool = False) -> dict:
    """Convert and generate C once per model (the generated C does not depend on the target)."""
    import keras

    from edgeq.codegen import generate
    from edgeq.export import measure_tflm_arena
    from edgeq.graph import load

    keras.utils.set_random_seed(seed)
    t0 = time.monotonic()
    tfl = convert_int8(MODELS[name](), work, seed, taps)
    out = work / (f"{name}-taps" if taps else name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.tflite").write_bytes(tfl)
    gen = generate(load(out / "model.tflite"), out)
    tflm = None if taps else measure_tflm_arena(tfl)
    return {"name": name, "dir": out, "tflite": tfl, "gen": gen, "tflm": tflm, "seconds": time.monotonic() - t0}


def verify_one(
    prep: dict, target, work: Path, samples: int, seed: int, timeout_s: float, cflags: tuple[str, ...] = ()
) -> dict:
    """The tapped model (every activation an output) on `target`: outputs byte-identical to tflite-micro?"""
    from edgeq.harness.cortexm import bench_cortexm, parse_model_header

    name, out = prep["name"], prep["dir"]
    t0 = time.monotonic()
    res = bench_cortexm(
        str(out),
        target,
        "qemu",
        per_op=False,
        samples=samples,
        seed=seed,
        timeout_s=timeout_s,
        extra_cflags=list(cflags),
        workdir=work / f"{name}-{target.name}-taps-fw",
    )
    hdr = parse_model_header(out / "edgeq_model.h")
    return {
        "model": name,
        "target": target.name,
        "outputs_checked": len(hdr.output_sizes),
        "int8_values_checked": sum(hdr.output_sizes) * samples,
        "samples": samples,
        "extra_cflags": list(cflags),
        "output_matches_tflite_micro": res.output_matches_reference,
        "mismatches": [n for n in res.notes if "mismatch" in n],
        "seconds": round(time.monotonic() - t0, 1),
    }


def bench_one(
    prep: dict,
    target,
    work: Path,
    per_op: bool,
    timeout_s: float,
    silicon: dict,
    samples: int = 1,
    seed: int = 0,
    cflags: tuple[str, ...] = (),
) -> dict:
    from edgeq.harness.cortexm import bench_cortexm, parse_model_header

    name, out, gen = prep["name"], prep["dir"], prep["gen"]
    t0 = time.monotonic()
    res = bench_cortexm(
        str(out),
        target,
        "qemu",
        per_op=per_op,
        samples=samples,
        seed=seed,
        timeout_s=timeout_s,
        extra_cflags=list(cflags),
        workdir=work / f"{name}-{target.name}-fw",
    )
    fig = {f.name: f.value for f in res.figures}
    cycles_fig = res.figure("cycles")
    hdr = parse_model_header(out / "edgeq_model.h")
    io_bytes = sum(hdr.input_sizes) + sum(hdr.output_sizes)
    by_op: dict[str, dict[str, int]] = {}
    for op in res.per_op:
        agg = by_op.setdefault(op.opcode, {"count": 0, "macs": 0, "instructions": 0, "cycles": 0})
        agg["count"] += 1
        agg["macs"] += op.macs
        agg["instructions"] += op.instructions or 0
        agg["cycles"] += op.cycles or 0
    best = silicon.get("best_cycles", {}).get(name)
    cycles = int(fig["cycles"])
    return {
        "model": name,
        "target": target.name,
        "tflite_bytes": len(prep["tflite"]),
        "macs": int(gen.total_macs),
        "instructions": int(fig["instructions"]),
        "macs_per_instruction": gen.total_macs / fig["instructions"],
        "cycles_estimated": cycles,
        "cycles_method": res.details.get("cycle_model") or (cycles_fig.method if cycles_fig else None),
        "macs_per_cycle": gen.total_macs / cycles if cycles else None,
        "silicon_best_cycles": best[0] if best else None,
        "silicon_best_what": f"{best[1]}, {silicon.get('board')}" if best else None,
        "cycles_vs_silicon_best": cycles / best[0] if best else None,
        "latency_ms_estimated": fig.get("latency_ms"),
        "energy_uj_estimated": fig.get("energy_uj"),
        "arena_bytes": int(fig["arena_bytes"]),
        "io_buffer_bytes": io_bytes,
        "tflm_arena_bytes_host64": prep["tflm"].total_bytes,
        "tflm_arena_note": prep["tflm"].error or prep["tflm"].method,
        "min_activation_bytes": int(gen.min_activation_bytes),
        "stack_bytes": int(fig["stack_bytes"]),
        "ram_bytes": int(fig["ram_bytes"]),
        "model_code_bytes": int(fig["model_code_bytes"]),
        "runtime_code_bytes": int(fig["runtime_code_bytes"]),
        "weights_bytes": int(fig["model_weights_bytes"]),
        "flash_bytes": int(fig["flash_bytes"]),
        "output_matches_tflite_micro": res.output_matches_reference,
        "samples": samples,
        "extra_cflags": list(cflags),
        "per_op_type": by_op,
        "per_op_cycles_sum": int(res.details.get("per_op_cycles_sum", 0)) or None,
        "notes": list(res.notes),
        "instructions_per_systick_tick": res.details.get("instructions_per_systick_tick"),
        "seconds_convert": round(prep["seconds"], 1),
        "seconds_bench": round(time.monotonic() - t0, 1),
    }


# ------------------------------------------------------------------------------------------ output


def _fmt(v, spec: str = ",") -> str:
    if v is None:
        return "-"
    return format(v, spec)


def table(rows: list[dict], ref: dict) -> str:
    refm = ref.get("models", {})
    head = [
        "model",
        "MACs",
        "instr edgeq",
        "instr TFLM",
        "edgeq/TFLM",
        "est. cycles",
        "MAC/cycle",
        "best silicon cycles",
        "est./silicon",
        "MAC/instr edgeq",
        "MAC/instr TFLM",
        "arena edgeq",
        "arena+I/O edgeq",
        "arena TFLM (ref)",
        "min act.",
        "code B",
        "weights B",
        "bit-exact",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        rr = refm.get(r["model"], {})
        ri = rr.get("instructions")
        lines.append(
            "| "
            + " | ".join(
                [
                    r["model"],
                    _fmt(r["macs"]),
                    _fmt(r["instructions"]),
                    _fmt(ri),
                    _fmt(r["instructions"] / ri, ".2f") if ri else "-",
                    _fmt(r["cycles_estimated"]),
                    _fmt(r["macs_per_cycle"], ".3f"),
                    _fmt(r["silicon_best_cycles"]),
                    _fmt(r["cycles_vs_silicon_best"], ".2f"),
                    _fmt(r["macs_per_instruction"], ".3f"),
                    _fmt(r["macs"] / ri, ".3f") if ri else "-",
                    _fmt(r["arena_bytes"]),
                    _fmt(r["arena_bytes"] + r["io_buffer_bytes"]),
                    _fmt(rr.get("arena_bytes")),
                    _fmt(r["min_activation_bytes"]),
                    _fmt(r["model_code_bytes"] + r["runtime_code_bytes"]),
                    _fmt(r["weights_bytes"]),
                    str(r["output_matches_tflite_micro"]),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def op_table(rows: list[dict]) -> str:
    lines = [
        "| model | op | count | MACs | instructions | instr/MAC | est. cycles | MAC/cycle | share of cycles |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        total = sum(v["cycles"] for v in r["per_op_type"].values()) or 1
        for op, v in sorted(r["per_op_type"].items(), key=lambda kv: -kv[1]["cycles"]):
            ipm = f"{v['instructions'] / v['macs']:.2f}" if v["macs"] else "-"
            mpc = f"{v['macs'] / v['cycles']:.3f}" if v["macs"] and v["cycles"] else "-"
            lines.append(
                f"| {r['model']} | {op} | {v['count']} | {v['macs']:,} | {v['instructions']:,} | {ipm} | "
                f"{v['cycles']:,} | {mpc} | {100 * v['cycles'] / total:.1f}% |"
            )
    return "\n".join(lines)


def verify_table(rows: list[dict]) -> str:
    lines = [
        "| model | target | outputs checked | int8 values checked | samples | bit-exact |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['target']} | {r['outputs_checked']} | {r['int8_values_checked']:,} | "
            f"{r['samples']} | {r['output_matches_tflite_micro']} |"
        )
    return "\n".join(lines)


NO_TFLM_REFERENCE = (
    "no TFLM+CMSIS-NN reference for {t}: the reference figures (benchmarks/reference/*-qemu-tflm.json) come from a "
    "TFLM+CMSIS-NN firmware built and run outside this repository (see their 'what'); edgeq's harness has only "
    "tflite-micro's host interpreter (the bit-exact oracle), so the TFLM columns are '-'"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="kws,vww,ic,ad", help="comma list of kws, vww, ic, ad")
    ap.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"comma list of Cortex-M profiles (default: {','.join(DEFAULT_TARGETS)})",
    )
    ap.add_argument("--target", default=None, help="one profile (overrides --targets)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    ap.add_argument(
        "--reference",
        default=None,
        help="TFLM reference JSON for the one --target (default: benchmarks/reference/<core>-qemu-tflm.json)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=1, help="test inputs per benchmark run (figures: median)")
    ap.add_argument(
        "--verify",
        type=int,
        default=DEFAULT_VERIFY_SAMPLES,
        metavar="N",
        help="also run each model with every activation as an output on every target, N random inputs, and "
        f"check all of them bit-exact against tflite-micro (default {DEFAULT_VERIFY_SAMPLES}; 0: off)",
    )
    ap.add_argument(
        "--cflags",
        default="",
        help="extra compiler flags after the harness's -O2 (e.g. '-Os', '-O2 -fno-omit-frame-pointer -DEDGEQ_NO_ASM')",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="QEMU timeout per run, seconds")
    ap.add_argument("--no-per-op", action="store_true", help="skip the profiling build (halves the run time)")
    ap.add_argument("--keep", default=None, help="keep the generated sources and firmware in this folder")
    args = ap.parse_args(argv)

    from edgeq.target import load_target

    names = [SHORT.get(m.strip(), m.strip()) for m in args.models.split(",") if m.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {', '.join(SHORT)}")
    if args.samples < 1 or args.verify < 0:
        ap.error("--samples must be >= 1 and --verify >= 0")
    from edgeq.errors import EdgeqError

    try:
        targets = [load_target(n.strip()) for n in (args.target or args.targets).split(",") if n.strip()]
    except EdgeqError as e:
        ap.error(str(e))
    if not targets:
        ap.error("no target given")
    not_m = [t.name for t in targets if t.family != "cortex-m" or not t.emulator.qemu_machine]
    if not_m:
        ap.error(
            f"not a Cortex-M profile with a QEMU machine: {', '.join(not_m)}; choose from {', '.join(DEFAULT_TARGETS)}"
        )
    cflags = tuple(shlex.split(args.cflags))
    if args.reference and len(targets) > 1:
        ap.error("--reference is one core's TFLM figures: use it with one --target")
    silicon_all = json.loads(SILICON.read_text())
    refs = {}
    for t in targets:
        ref_path = Path(args.reference) if args.reference else REFERENCE_DIR / REFERENCES.get(t.name, "-")
        refs[t.name] = (ref_path, json.loads(ref_path.read_text()) if ref_path.is_file() else {})
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="edgeq-mlperf-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {t.name: [] for t in targets}
    checks: list[dict] = []
    try:
        for n in names:
            print(f"[{n}] converting, generating C...", file=sys.stderr, flush=True)
            prep = prepare(n, work, args.seed)
            for t in targets:
                print(f"[{n}] {t.name} on QEMU {t.emulator.qemu_machine}...", file=sys.stderr, flush=True)
                silicon = silicon_all.get(t.cpu.core, {})
                r = bench_one(
                    prep,
                    t,
                    work,
                    not args.no_per_op,
                    args.timeout,
                    silicon,
                    samples=args.samples,
                    seed=args.seed,
                    cflags=cflags,
                )
                rows[t.name].append(r)
                print(
                    f"[{n}] {t.name}: {r['instructions']:,} instructions, {r['cycles_estimated']:,} est. cycles, "
                    f"{r['macs_per_cycle']:.3f} MAC/cycle, bit-exact {r['output_matches_tflite_micro']} "
                    f"({r['seconds_bench']} s)",
                    file=sys.stderr,
                )
            if args.verify:
                print(f"[{n}] every activation as an output: converting, generating C...", file=sys.stderr, flush=True)
                tprep = prepare(n, work, args.seed, taps=True)
                for t in targets:
                    c = verify_one(tprep, t, work, args.verify, args.seed + 1, args.timeout, cflags)
                    checks.append(c)
                    print(
                        f"[{n}] {t.name}: {c['outputs_checked']} outputs, {c['int8_values_checked']:,} values, "
                        f"bit-exact {c['output_matches_tflite_micro']} ({c['seconds']} s)"
                        + "".join(f"\n    {m}" for m in c["mismatches"]),
                        file=sys.stderr,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_target = {}
    text = ""
    for t in targets:
        ref_path, ref = refs[t.name]
        cyc = rows[t.name][0]["cycles_method"] if rows[t.name] else ""
        board = silicon_all.get(t.cpu.core, {}).get("board")
        per_target[t.name] = {
            "what": f"edgeq generated C on QEMU {t.emulator.qemu_machine} (-icount shift=0), target {t.name}, "
            f"MLPerf Tiny reference architectures with seeded random weights, int8; cycles: {cyc}",
            "gcc_flags": [*t.cpu.gcc_flags, *cflags],
            "reference": str(ref_path.relative_to(REPO)) if ref and ref_path.is_relative_to(REPO) else None,
            "reference_what": ref.get("what") if ref else NO_TFLM_REFERENCE.format(t=t.name),
            "silicon": board,
            "silicon_source": silicon_all.get("source"),
            "models": rows[t.name],
        }
        flags = f"; extra flags {' '.join(cflags)}" if cflags else ""
        text += f"## {t.name} (QEMU {t.emulator.qemu_machine}; cycles: {cyc}{flags})\n\n"
        text += table(rows[t.name], ref) + "\n\n" + op_table(rows[t.name]) + "\n\n"
        if board:
            text += (
                f"Best silicon cycles: {board}, published MLPerf Tiny results "
                "(benchmarks/reference/silicon-published.json); '-': none published for that model.\n\n"
            )
        else:
            text += f"No published MLPerf Tiny silicon figures for {t.name} on record (benchmarks/reference/).\n\n"
        if not ref:
            text += f"({NO_TFLM_REFERENCE.format(t=t.name)}.)\n\n"
    if checks:
        text += (
            f"## Bit-exactness, every activation (ReLU, ADD and pooling outputs and the model output compared "
            f"with tflite-micro, {args.verify} random input(s))\n\n" + verify_table(checks) + "\n\n"
        )
    first = targets[0].name
    doc = {
        "what": "edgeq generated C vs TFLM+CMSIS-NN and published silicon, MLPerf Tiny reference architectures",
        "targets": per_target,
        # the first target's rows at the top level, as before (cortex-m4 by default)
        "target": first,
        "gcc_flags": per_target[first]["gcc_flags"],
        "reference": per_target[first]["reference"],
        "reference_what": per_target[first]["reference_what"],
        "models": rows[first],
        "bit_exact_every_activation": checks,
    }
    (out / "mlperf_tiny.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "mlperf_tiny.md").write_text(text)
    print(text)
    ok = all(r["output_matches_tflite_micro"] for rs in rows.values() for r in rs)
    return 0 if ok and all(c["output_matches_tflite_micro"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
