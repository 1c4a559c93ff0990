"""Packed low-bit weights (issue #9): weight flash and estimated Cortex-M4 cycles of edgeq's generated C for int8,
int4, ternary and binary weights, and whether MobileNetV3-Small fits a 1 MB-flash Cortex-M4.

KWS DS-CNN (the MLPerf Tiny keyword-spotting shape, tests/codegen_models.py, seeded random weights) is converted to
int8 once; then every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED but the first and the last gets its int8
weights projected in the .tflite (nearest value per output channel) onto
  int4     15 symmetric levels round(k * max|w| / 7), k = -7..7 (what `edgeq convert --weights int4` produces),
  ternary  {-q, 0, +q}: zero below 0.7 * mean|w|, q = mean of the kept |w| (TWN),
  binary   {-q, +q}, q = mean|w|,
and is generated with weight_bits 4 / 2 / 1 on those ops. The int8 model of each variant is the oracle:
`edgeq.harness.cortexm.bench_cortexm` runs the generated C on QEMU (mps2-an386, cortex-m4) and compares the outputs
with tflite-micro's byte for byte; flash comes from the linker map, cycles from the timing model.

"weights" is what the generator emits for the packed ops (indices + tables / per-channel values, bias excluded) next
to their int8 weight tensors; the int8 build on the DSP path stores CONV_2D / FC weights pre-extended to int16, so
its real flash is larger than the int8 tensor bytes (flash_bytes shows it).

    python benchmarks/lowbit.py                 # KWS int8/int4/ternary/binary + MobileNetV3-Small int4 flash
    python benchmarks/lowbit.py --no-mobilenet
    python benchmarks/lowbit.py --no-mobilenet --per-op   # + a profiling build per variant: est. cycles per op
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PACKED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
BITS = {"int4": 4, "ternary": 2, "binary": 1}
ONE_MB = 1 << 20


def _buffer_span(data: bytes, buffer_index: int) -> tuple[int, int]:
    from edgeq import graph as graph_mod

    buf = graph_mod._Buf(data, "<bench>")
    return graph_mod._Table(buf, buf.u32(0)).tables(4)[buffer_index].vector(0)


def _project_row(r: np.ndarray, scheme: str) -> np.ndarray:
    r = r.astype(np.float64)
    a = np.abs(r)
    if scheme == "int4":
        m = a.max()
        if m == 0:
            return np.zeros_like(r, dtype=np.int64)
        return np.round(np.clip(np.round(r / (m / 7)), -7, 7) * (m / 7)).astype(np.int64)
    if scheme == "ternary":
        keep = a > 0.7 * a.mean()
        q = int(np.round(a[keep].mean())) if keep.any() else 0
        return (np.sign(r) * keep * q).astype(np.int64)
    q = max(1, int(np.round(a.mean())))
    return np.where(r >= 0, q, -q).astype(np.int64)


def project(data: bytes, scheme: str, keep_last: bool = True, last: str | None = None) -> tuple[bytes, dict[int, int]]:
    """(.tflite with every packed op but the first (and the last: keep_last) projected, op index -> bits); last: the
    last op's scheme instead of `scheme`."""
    from edgeq import graph as graph_mod
    from edgeq.codegen import ops_lowbit

    g = graph_mod.parse(data)
    ops = [op for op in g.main.operators if op.opcode in PACKED and g.main.tensors[op.inputs[1]].is_constant]
    out = bytearray(data)
    bits = {}
    for op in ops[1:-1] if keep_last else ops[1:]:
        sch = last if last and op is ops[-1] else scheme
        t = g.main.tensors[op.inputs[1]]
        rows = ops_lowbit._rows(op.opcode, t.array())
        new = np.stack([_project_row(r, sch) for r in rows]).astype(np.int8)
        arr = new.T.reshape(t.shape) if op.opcode == "DEPTHWISE_CONV_2D" else new.reshape(t.shape)
        pos, n = _buffer_span(data, t.buffer)
        out[pos:pos + n] = arr.tobytes()
        bits[op.index] = BITS[sch]
    return bytes(out), bits


def bench(name: str, data: bytes, weight_bits: dict[int, int], work: Path, target, run: bool = True,
          flash_budget: int | None = None, per_op: bool = False) -> dict:
    from edgeq import graph as graph_mod
    from edgeq.codegen import generate
    from edgeq.harness.cortexm import bench_cortexm

    d = work / name
    g = graph_mod.parse(data)
    res = generate(g, d, weight_bits=weight_bits, flash_budget_bytes=flash_budget)
    (d / "model.tflite").write_bytes(data)
    packed_ops = set(weight_bits)
    w8 = sum(g.main.tensors[g.main.operators[i].inputs[1]].size_bytes for i in packed_ops)
    bias = sum(g.main.tensors[g.main.operators[i].inputs[2]].size_bytes for i in packed_ops
               if len(g.main.operators[i].inputs) > 2 and g.main.operators[i].inputs[2] >= 0)
    wp = sum(o.weight_bytes for o in res.ops if o.index in packed_ops) - bias
    row = {"variant": name, "packed_ops": len(packed_ops), "int8_weight_bytes": w8, "packed_weight_bytes": wp,
           "ratio": wp / w8 if w8 else None, "all_weight_bytes": res.weight_bytes}
    if run:
        t0 = time.monotonic()
        r = bench_cortexm(str(d), target, "qemu", samples=3, per_op=per_op, timeout_s=900, workdir=work / f"{name}-fw")
        fig = {f.name: f.value for f in r.figures}
        row.update(cycles=int(fig["cycles"]), instructions=int(fig["instructions"]),
                   flash_bytes=int(fig["flash_bytes"]), model_weights_bytes=int(fig["model_weights_bytes"]),
                   exact=r.output_matches_reference, seconds=round(time.monotonic() - t0, 1),
                   per_op=[(f.index, f.opcode, f.cycles, f.index in packed_ops) for f in r.per_op])
    return row


def print_per_op(rows: list[dict]) -> None:
    """Estimated cycles per op of every variant (packed ops marked *), next to the int8 build's (rows[0])."""
    base = {i: c for i, _, c, _ in rows[0]["per_op"]}
    print(f"{'op':>3} {'opcode':18} " + " ".join(f"{r['variant']:>14}" for r in rows))
    for i, opcode, _c0, _ in rows[0]["per_op"]:
        cells = []
        for r in rows:
            m = {j: (c, pk) for j, _, c, pk in r["per_op"]}
            c, pk = m.get(i, (None, False))
            cells.append(f"{'-':>14}" if c is None else f"{c:>9d}{'*' if pk else ' '}{c / max(base[i], 1):4.2f}")
        print(f"{i:3d} {opcode:18} " + " ".join(cells))


def mobilenet_v3_small() -> bytes:
    import codegen_models as cm
    import keras

    keras.utils.set_random_seed(1)
    # Keras' own random initialization (weights=None; random normal weights would give negative BN variances);
    # logits out (the softmax of a random classifier has an input scale TFLM rejects)
    m = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.75, weights=None,
                                            include_preprocessing=False, classifier_activation=None)
    return cm.convert(m)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-mobilenet", action="store_true")
    ap.add_argument("--no-kws", action="store_true")
    ap.add_argument("--per-op", action="store_true", help="KWS: a profiling build per variant, cycles per op")
    args = ap.parse_args()
    import codegen_models as cm

    from edgeq.target import load_target

    target = load_target("cortex-m4")
    ok = True
    with tempfile.TemporaryDirectory(prefix="edgeq-lowbit-") as tmp:
        work = Path(tmp)
        if not args.no_kws:
            kws = cm.build("kws_ds_cnn")
            rows = [bench("int8", kws, {}, work, target, per_op=args.per_op)]
            for scheme in BITS:
                data, bits = project(kws, scheme)
                rows.append(bench(scheme, data, bits, work, target, per_op=args.per_op))
            base = rows[0]
            print("KWS DS-CNN (64 channels, 4 blocks), cortex-m4 QEMU mps2-an386; packed: every weight op but the "
                  "first and the last")
            print(f"{'variant':8} {'ops':>3} {'weights int8':>12} {'packed':>8} {'ratio':>6} {'flash_bytes':>11} "
                  f"{'vs int8':>7} {'est. cycles':>11} {'vs int8':>7} exact")
            for r in rows:
                w8 = r["int8_weight_bytes"] if r["packed_ops"] else rows[1]["int8_weight_bytes"]
                wp = r["packed_weight_bytes"] if r["packed_ops"] else w8
                print(f"{r['variant']:8} {r['packed_ops']:3d} {w8:12d} {wp:8d} {wp / w8:6.3f} {r['flash_bytes']:11d} "
                      f"{r['flash_bytes'] / base['flash_bytes']:7.3f} {r['cycles']:11d} "
                      f"{r['cycles'] / base['cycles']:7.3f} {r['exact']}")
                ok &= r["exact"] is True
            if args.per_op:
                print_per_op(rows)
        if not args.no_mobilenet:
            mb = mobilenet_v3_small()
            r8 = bench("mnv3_int8", mb, {}, work, target)
            r8b = bench("mnv3_int8_budget", mb, {}, work, target, flash_budget=ONE_MB)
            data, bits = project(mb, "int4", keep_last=False)
            r4 = bench("mnv3_int4", data, bits, work, target, flash_budget=ONE_MB)
            data, bits = project(mb, "int4", keep_last=False, last="ternary")
            r42 = bench("mnv3_int4_t", data, bits, work, target, flash_budget=ONE_MB)
            print("MobileNetV3-Small (alpha 0.75, 96x96, random weights), cortex-m4 QEMU; int8 without and with a "
                  "1 MiB flash budget (CONV_2D kept int8 instead of int16 on the DSP path), int4: every weight op "
                  "but the first, with the 1 MiB budget; int4_t: the same with the classifier (1x1 conv 1024 -> 1000) "
                  "ternary")
            for r in (r8, r8b, r4, r42):
                print(f"{r['variant']:10} flash_bytes {r['flash_bytes']:9d} ({r['flash_bytes'] / ONE_MB:.3f} MiB; "
                      f"fits 1 MiB: {r['flash_bytes'] <= ONE_MB}), model weights {r['model_weights_bytes']}, "
                      f"packed ops {r['packed_ops']}: {r['int8_weight_bytes']} -> {r['packed_weight_bytes']} bytes, "
                      f"est. cycles {r['cycles']}, exact {r['exact']}")
                ok &= r["exact"] is True
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
