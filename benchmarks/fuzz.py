"""Fuzz campaign: malformed inputs must end in a clear EdgeqError, never a traceback, a hang or a silent crash.

Kinds:
  tflite   structural mutations of the real int8 models in tests/fixtures (bit flips, truncations, flatbuffer
           offsets/counts/scalars set to boundary values, vtable fields, spliced fields), run through
           parse (+ verifier) -> check (cortex-m4) -> report summary -> TFLM export files -> codegen ->
           tflite-micro's own model reader, in-process (every 10th also through `edgeq inspect --tensors`,
           in-process), and a sample of the
           mutants every stage accepted through the TFLM arena measurement (a subprocess: a crash of the child
           must come back as a reported error, never a hang);
  graph    graph-level mutants of the same models (ops turned into other ops the code generator knows, inputs
           rewired or dropped, activation shapes/dtypes/quantization changed), through verify -> check -> codegen;
  profile  mutations of the built-in target profiles (bytes: flips, truncation, invalid UTF-8, BOM, NUL;
           values: boundary numbers, wrong types, nesting; keys and sections renamed, duplicated, deleted;
           `extends` cycles), loaded with target.load_target; an accepted profile must satisfy the ranges and
           is used by a check;
  data     calibration/evaluation data files: benchmarks/fuzz_data.py's campaign(n, seed) when present.

Any exception that is not an EdgeqError is "uncaught" (in the CLI it would hit the last-resort handler); a case
that takes longer than --case-timeout seconds is a "hang". Both are failures; each is saved as a reproducer in
--out. Deterministic: the same --seed gives the same mutants.

Run: python benchmarks/fuzz.py [--kind tflite|profile|data|all] [--cases 10000] [--seed 0] [--tflm 40] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeq import check as check_mod  # noqa: E402
from edgeq import graph, target  # noqa: E402
from edgeq.errors import EdgeqError  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SEED_MODELS = ("cnn_int8.tflite", "cnn_int8_per_tensor.tflite", "cnn_int8_float_io.tflite", "multi_io_int8.tflite",
               "mobile/tiny_int8.tflite", "mobile/two_io_int8.tflite", "harness/harness_cnn_int8.tflite")


class Hang(Exception):
    """A case ran past its deadline."""


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise Hang in this (main) thread after `seconds` of wall time."""
    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Tally:
    kind: str
    cases: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)  # "stage: ErrorClass" -> count
    uncaught: list = field(default_factory=list)  # (case id, stage, "Type: message", reproducer path)
    hangs: list = field(default_factory=list)
    child: Counter = field(default_factory=Counter)  # TFLM subprocess outcomes
    seconds: float = 0.0
    examples: dict = field(default_factory=dict)  # rejection kind -> one message (to eyeball clarity)

    def summary(self) -> dict:
        return {"kind": self.kind, "cases": self.cases, "accepted": self.accepted,
                "rejected": sum(self.rejected.values()), "uncaught": len(self.uncaught), "hangs": len(self.hangs),
                "seconds": round(self.seconds, 1), "rejected_by": dict(self.rejected.most_common()),
                "tflm_child": dict(self.child),
                "tflm_errors": sorted({v for k, v in self.examples.items() if k.startswith("tflm: ")})[:10],
                "failures": [list(u) for u in (self.uncaught + self.hangs)[:20]]}


def _save(out: Path | None, kind: str, case: int, data: bytes, suffix: str) -> str:
    if out is None:
        return ""
    out.mkdir(parents=True, exist_ok=True)
    p = out / f"{kind}-{case:06d}-{hashlib.sha1(data).hexdigest()[:8]}{suffix}"
    p.write_bytes(data)
    return str(p)


def _run_case(tally: Tally, case: int, stages, data: bytes, suffix: str, out: Path | None, timeout_s: float,
              new_case: bool = True):
    """Run `stages` [(name, fn)] in order; an EdgeqError in a stage is a (clear) rejection."""
    tally.cases += new_case
    stage = "?"
    try:
        with deadline(timeout_s):
            for stage, fn in stages:  # noqa: B007 - `stage` names the failing stage below
                fn()
    except EdgeqError as e:
        key = f"{stage}: {type(e).__name__}"
        tally.rejected[key] += 1
        tally.examples.setdefault(key, str(e).splitlines()[0][:200])
        return False
    except Hang as e:
        tally.hangs.append((case, stage, str(e), _save(out, tally.kind, case, data, suffix)))
        return False
    except Exception as e:  # noqa: BLE001 - exactly what the campaign looks for
        tb = traceback.extract_tb(e.__traceback__)[-1]
        msg = f"{type(e).__name__}: {str(e)[:160]} at {Path(tb.filename).name}:{tb.lineno}"
        tally.uncaught.append((case, stage, msg, _save(out, tally.kind, case, data, suffix)))
        return False
    tally.accepted += new_case
    return True


# ------------------------------------------------------------------------------------------------- .tflite


def structural_fields(data: bytes) -> list[tuple[int, int]]:
    """(position, size) of every flatbuffer scalar the reader looks at: offsets, vtable entries, vector lengths,
    enum/int/float fields and the elements of small vectors (shapes, scales, tensor index lists)."""
    seen: list[tuple[int, int]] = []
    orig = graph._Buf._need

    def record(self, pos, n):
        if 1 <= n <= 8:
            seen.append((pos, n))
        elif n <= 256:
            seen.extend((pos + k, 4) for k in range(0, n - 3, 4))
        return orig(self, pos, n)

    graph._Buf._need = record
    try:
        graph.parse(data, "seed.tflite")
    finally:
        graph._Buf._need = orig
    return sorted({f for f in seen if f[0] >= 0 and f[0] + f[1] <= len(data)})


_F32_SPECIAL = (0x7FC00000, 0x7F800000, 0xFF800000, 0x00000001, 0x80000000, 0x3F800000, 0xBF800000, 0x7F7FFFFF)


def _boundary(rng: random.Random, size: int, old: int, file_len: int) -> int:
    top = 1 << (8 * size)
    cands = [0, 1, top - 1, top // 2, top // 2 - 1, old + 1, old - 1, old ^ (1 << rng.randrange(8 * size)),
             rng.randrange(top)]
    if size == 2:
        cands += [2, 4, old + 2, old - 2, old + 4, old - 4, 0xFFFE]
    if size >= 4:
        cands += [file_len, file_len - 4, file_len + 4, old * 2, old + 4, old - 4, 0x10000, 0x7FFFFFFF - 3]
        cands += list(_F32_SPECIAL)
    return rng.choice(cands) % top


def mutate_tflite(data: bytes, fields: list[tuple[int, int]], rng: random.Random) -> tuple[bytes, str]:
    """One mutant: 1-3 mutations of a kind drawn at random; returns (bytes, description)."""
    b = bytearray(data)
    what = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(("field", "field", "field", "vtable", "bitflip", "truncate", "splice"))
        if kind == "truncate":
            cut = rng.choice((rng.randrange(len(b)), rng.choice(fields)[0] if fields else 0, len(b) - 1))
            del b[cut:]
            what.append(f"truncate@{cut}")
            break
        if kind == "bitflip" or not fields:
            for _ in range(rng.randint(1, 8)):
                p = rng.randrange(len(b))
                b[p] ^= 1 << rng.randrange(8)
            what.append("bitflip")
            continue
        pool = [f for f in fields if f[1] == 2] if kind == "vtable" else fields
        pos, size = rng.choice(pool or fields)
        if pos + size > len(b):
            continue
        if kind == "splice":
            src, ssize = rng.choice(fields)
            n = min(size, ssize)
            if src + n <= len(b):
                b[pos:pos + n] = b[src:src + n]
            what.append(f"splice@{pos}<-{src}")
            continue
        old = int.from_bytes(b[pos:pos + size], "little")
        new = _boundary(rng, size, old, len(b))
        b[pos:pos + size] = new.to_bytes(size, "little")
        what.append(f"{kind}@{pos}:{size}={new:#x}")
    return bytes(b), " ".join(what)


def _cli(argv: list[str]) -> None:
    """Run the CLI in-process; its last-resort handler firing ("internal error") is a failure."""
    import io

    from edgeq.cli import main as cli_main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            cli_main(argv)
        except SystemExit:
            pass
    if "internal error" in err.getvalue():
        raise RuntimeError(err.getvalue().strip().splitlines()[-1])


def _tflm_reader():
    """tflite-micro's own (Python FlatBuffers) model reader, if installed."""
    try:
        from tflite_micro.python.tflite_micro.runtime import convert_bytearray_to_object
    except ImportError:
        return None
    return convert_bytearray_to_object


def _tflm_reads(data: bytes) -> None:
    """A file the verifier accepted must be one TFLM can read: TFLM's Python interpreter walks every field of
    every table first; if it cannot, the verifier missed a corrupt field (a failure, not a rejection)."""
    try:
        _tflm_reader()(bytearray(data))
    except Exception as e:  # noqa: BLE001 - any failure of the reader is the finding
        raise RuntimeError(f"verifier accepted a file TFLM's reader fails on: {type(e).__name__}: {e}") from None


def tflite_stages(data: bytes, tgt, *, workdir: Path | None = None, path: str = "mutant.tflite"):
    """parse -> check -> report summary -> TFLM export files -> codegen -> TFLM reader [-> `edgeq inspect`]; the
    graph is shared between stages through `state`."""
    from edgeq import codegen
    from edgeq.export import ArenaMeasurement, export_tflm
    from edgeq.report import graph_summary

    state: dict = {}

    def parse():
        state["g"] = graph.parse(data, path)

    def export():
        with tempfile.TemporaryDirectory(dir=workdir) as td:
            export_tflm(state["g"], Path(td), arena=ArenaMeasurement(None, None, None, "not measured", "fuzz"))

    def inspect():
        p = workdir / path
        p.write_bytes(data)
        _cli(["inspect", str(p), "--tensors"])

    stages = [("parse", parse),
              ("check", lambda: check_mod.check(state["g"], tgt)),
              ("summary", lambda: graph_summary(state["g"])),
              ("export", export),
              ("codegen", lambda: codegen.render(state["g"]))]
    if _tflm_reader() is not None:
        stages.append(("tflm reader", lambda: _tflm_reads(data)))
    if workdir is not None:
        stages.append(("cli inspect", inspect))
    return stages, state


def _random_options(opcode: str, rng: random.Random) -> dict:
    """Options as the reader would decode them for `opcode`: defaults (a missing table) or odd values."""
    out: dict[str, object] = {}
    for name, kind, default in graph._OPTIONS.get(opcode, []):
        if rng.random() < 0.5:
            out[name] = default
        elif kind == "act":
            out[name] = rng.choice(list(graph.ACTIVATIONS.values()))
        elif kind == "pad":
            out[name] = rng.choice(list(graph.PADDINGS.values()))
        elif kind == "I":
            out[name] = tuple(rng.choice((-1, 0, 1, 2, 3)) for _ in range(rng.randrange(5)))
        elif kind == "f":
            out[name] = rng.choice((0.0, -1.0, 1.0, 1e-30, 1e30, 0.5))
        elif kind == "?":
            out[name] = rng.random() < 0.5
        else:
            out[name] = rng.choice((-1, 0, 1, 2, 3, 4, 7, 100))
    return out


def mutate_graph(g, rng: random.Random):
    """A structurally plausible but odd graph (what the byte mutations rarely reach): ops turned into other
    ops the code generator knows, inputs rewired or dropped, activation shapes/dtypes/quantization changed.
    Returns (graph, description); run through verify() like a parsed file."""
    from dataclasses import replace

    from edgeq.codegen.emit import load_emitters

    sg = g.main
    tensors, ops = list(sg.tensors), list(sg.operators)
    emit_ops = sorted(load_emitters())
    what = []
    for _ in range(rng.choice((1, 1, 2))):
        kind = rng.choice(("opcode", "opcode", "rewire", "drop", "shape", "quant", "options", "dtype"))
        i = rng.randrange(len(ops))
        op = ops[i]
        if kind == "opcode":
            new = rng.choice(emit_ops)
            ops[i] = replace(op, opcode=new, options=_random_options(new, rng))
            what.append(f"op{i}->{new}")
        elif kind == "rewire" and op.inputs:
            ins = list(op.inputs)
            ins[rng.randrange(len(ins))] = rng.randrange(len(tensors))
            ops[i] = replace(op, inputs=tuple(ins))
            what.append(f"op{i}.inputs={ins}")
        elif kind == "drop":
            ins = list(op.inputs)
            r = rng.random()
            if r < 0.4 and ins:
                ins[rng.randrange(len(ins))] = -1
            elif r < 0.7 and ins:
                ins.pop()
            else:
                ins.append(rng.choice((-1, rng.randrange(len(tensors)))))
            ops[i] = replace(op, inputs=tuple(ins))
            what.append(f"op{i}.inputs={ins}")
        elif kind in ("shape", "quant", "dtype"):
            ti = rng.choice([t.index for t in tensors if not t.is_constant] or [0])
            t = tensors[ti]
            if kind == "shape":
                shape = list(t.shape)
                r = rng.random()
                if r < 0.5 and shape:
                    k = rng.randrange(len(shape))
                    shape[k] = rng.choice((0, 1, 2, 3, shape[k] + 1, shape[k] * 2, max(shape[k] // 2, 1)))
                elif r < 0.75 and shape:
                    shape.pop(rng.randrange(len(shape)))
                else:
                    shape.insert(rng.randrange(len(shape) + 1), rng.choice((1, 2)))
                tensors[ti] = replace(t, shape=tuple(shape), shape_signature=None)
            elif kind == "quant":
                q = None if rng.random() < 0.2 else graph.QuantParams(
                    (rng.choice((1e-6, 1e-3, 0.0039, 0.5, 1.0, 7.0, 1e4)),), (rng.randrange(-128, 128),))
                tensors[ti] = replace(t, quant=q)
            else:
                tensors[ti] = replace(t, dtype=rng.choice(("int16", "float32", "uint8", "int32", "bool")))
            what.append(f"t{ti}.{kind}")
        elif kind == "options":
            ops[i] = replace(op, options=_random_options(op.opcode, rng))
            what.append(f"op{i}.options")
    sg2 = replace(sg, tensors=tuple(tensors), operators=tuple(ops))
    return replace(g, subgraphs=(sg2, *g.subgraphs[1:])), " ".join(what)


def graph_stages(g, tgt):
    from edgeq import codegen
    from edgeq.report import graph_summary
    from edgeq.verify import verify

    return [("verify", lambda: verify(g)), ("check", lambda: check_mod.check(g, tgt)),
            ("summary", lambda: graph_summary(g)), ("codegen", lambda: codegen.render(g))]


def campaign_graph(n: int, seed: int, *, out: Path | None = None, timeout_s: float = 20.0, progress=None) -> Tally:
    """Graph-level mutants of the seed models through verify -> check -> summary -> codegen."""
    rng = random.Random(seed)
    tgt = target.load_target("cortex-m4")
    seeds = [graph.load(FIXTURES / s) for s in SEED_MODELS if (FIXTURES / s).exists()]
    tally = Tally("graph")
    t0 = time.monotonic()
    for case in range(n):
        g, what = mutate_graph(rng.choice(seeds), rng)
        _run_case(tally, case, graph_stages(g, tgt), what.encode(), ".txt", out, timeout_s)
        if progress and case % 500 == 0:
            progress(f"graph {case}/{n}")
    tally.seconds = time.monotonic() - t0
    return tally


def tflm_stage(data: bytes, g, tally: Tally, timeout_s: float) -> None:
    """TFLM arena in its subprocess: a result, or an error message (never an exception, never a hang)."""
    from edgeq.export import measure_tflm_arena

    m = measure_tflm_arena(data, len(g.inputs), timeout_s=timeout_s)
    if m.total_bytes is not None and not m.error:
        tally.child["measured"] += 1
    elif m.error.strip():
        tally.child["reported error"] += 1
        tally.examples.setdefault("tflm: " + m.error[:60], m.error[:200])
    else:
        raise RuntimeError("TFLM measurement failed without saying why")


def campaign_tflite(n: int, seed: int, *, tflm: int = 0, out: Path | None = None, timeout_s: float = 20.0,
                    progress=None, cli_every: int = 10) -> Tally:
    rng = random.Random(seed)
    tgt = target.load_target("cortex-m4")
    seeds = [(FIXTURES / s).read_bytes() for s in SEED_MODELS if (FIXTURES / s).exists()]
    fields = [structural_fields(s) for s in seeds]
    tally = Tally("tflite")
    t0 = time.monotonic()
    accepted: list[tuple[int, bytes, object]] = []
    seen: set[bytes] = set()
    with tempfile.TemporaryDirectory(prefix="edgeq-fuzz-") as td:
        for case in range(n):
            k = rng.randrange(len(seeds))
            data, what = mutate_tflite(seeds[k], fields[k], rng)
            # the CLI runs on every cli_every-th mutant: it parses again, so it only adds the printing code
            stages, state = tflite_stages(data, tgt, workdir=Path(td) if case % cli_every == 0 else None)
            if _run_case(tally, case, stages, data, ".tflite", out, timeout_s) and what != "bitflip":
                h = hashlib.sha1(data).digest()
                if h not in seen:
                    seen.add(h)
                    accepted.append((case, data, state["g"]))
            if progress and case % 500 == 0:
                progress(f"tflite {case}/{n}")
    # TFLM: the structurally mutated mutants that every stage accepted, a deterministic sample
    for case, data, g in rng.sample(accepted, min(tflm, len(accepted))):
        _run_case(tally, case, [("tflm", lambda d=data, g=g: tflm_stage(d, g, tally, timeout_s * 3))], data,
                  ".tflite", out, timeout_s * 3 * 8, new_case=False)
    tally.seconds = time.monotonic() - t0
    return tally


# ------------------------------------------------------------------------------------------------ profiles

_VALUES = ("-1", "0", "1", "-0.0", "nan", "inf", "-inf", "1e308", "9223372036854775807", "-9223372036854775808",
           '""', '"x"', "[]", '[1, "a"]', "true", "{}", "{ a = 1 }", "1979-05-27", '"\u00e9\u00e9"', "0x7fffffff",
           "[[1]]", '"../nope.toml"', '"fuzz.toml"', "3.5", "80", '"cortex-m"', '["int8"]', '"int8"', "[{a=1}]")


def mutate_profile(text: bytes, rng: random.Random) -> bytes:
    b = bytearray(text)
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(("value", "value", "value", "key", "line", "bytes", "utf8", "truncate", "extends"))
        lines = bytes(b).split(b"\n")
        kv = [i for i, ln in enumerate(lines) if b"=" in ln and not ln.lstrip().startswith(b"#")]
        if kind == "value" and kv:
            i = rng.choice(kv)
            key = lines[i].split(b"=", 1)[0]
            lines[i] = key + b"= " + rng.choice(_VALUES).encode()
        elif kind == "key" and lines:
            i = rng.randrange(len(lines))
            ln = bytearray(lines[i])
            if ln:
                ln[rng.randrange(len(ln))] = rng.choice(b"abcxyz_[]=.\"' ")
            lines[i] = bytes(ln)
        elif kind == "line" and lines:
            i = rng.randrange(len(lines))
            op = rng.choice(("dup", "del", "swap", "section"))
            if op == "dup":
                lines.insert(i, lines[i])
            elif op == "del":
                del lines[i]
            elif op == "swap":
                j = rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(i, rng.choice((b"[memory]", b"[cpu]", b"[energy]", b"[ops]", b"[nope]", b"[[memory]]",
                                            b"abstract = true", b"inherit_ops = false")))
        elif kind == "extends":
            lines.insert(0, rng.choice((b'extends = "fuzz.toml"', b'extends = "cortex-m"', b'extends = ""',
                                        b'extends = "/"', b'extends = "rpi4"', b'extends = "\\u0000.toml"')))
        b = bytearray(b"\n".join(lines))
        if kind == "bytes" and b:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == "utf8":
            pos = rng.randrange(len(b) + 1)
            b[pos:pos] = rng.choice((b"\xff", b"\xc3\x28", b"\x00", b"\xef\xbb\xbf", b"\xe2\x82", b"\r", b"\x1b"))
        elif kind == "truncate" and b:
            del b[rng.randrange(len(b)):]
    return bytes(b)


def _profile_invariants(t) -> None:
    """An accepted profile holds only values the later stages can use (issue 16: -1 budgets, 0 Hz clocks)."""
    m, c, e = t.memory, t.cpu, t.energy
    bad = [(k, v) for k, v in (("flash_bytes", m.flash_bytes), ("ram_bytes", m.ram_bytes)) if v is not None and v <= 0]
    bad += [("clock_hz", c.clock_hz)] if not c.clock_hz > 0 else []
    bad += [(k, v) for k, v in (("pj_per_cycle", e.pj_per_cycle), ("active_power_mw", e.active_power_mw))
            if v is not None and not v >= 0]
    if bad:
        raise AssertionError(f"profile accepted with out-of-range values {bad}")


def campaign_profile(n: int, seed: int, *, out: Path | None = None, timeout_s: float = 20.0,
                     progress=None) -> Tally:
    rng = random.Random(seed)
    seeds = [p.read_bytes() for p in sorted(target.targets_dir().glob("*.toml"))]
    seeds.append(b'extends = "cortex-m4"\ndescription = "my board"\n[memory]\nram_bytes = 65_536\n'
                 b"[cpu]\nclock_hz = 80_000_000\n[energy]\npj_per_cycle = 300\n[ops]\nSOFTMAX = 0\n")
    g = graph.load(FIXTURES / "cnn_int8.tflite")
    tally = Tally("profile")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edgeq-fuzz-") as td:
        path = Path(td) / "fuzz.toml"
        for case in range(n):
            data = mutate_profile(rng.choice(seeds), rng)
            path.write_bytes(data)
            state: dict = {}

            def load(p=path, state=state):
                state["t"] = target.load_target(str(p))

            _run_case(tally, case, [("load", load), ("ranges", lambda s=state: _profile_invariants(s["t"])),
                                    ("check", lambda s=state: check_mod.check(g, s["t"]))],
                      data, ".toml", out, timeout_s)
            if progress and case % 500 == 0:
                progress(f"profile {case}/{n}")
    tally.seconds = time.monotonic() - t0
    return tally


# ---------------------------------------------------------------------------------------------------- data


def campaign_data(n: int, seed: int, **_) -> dict:
    """Delegates to benchmarks/fuzz_data.py (data-file fuzzing lives with the data loader's owner)."""
    p = Path(__file__).resolve().parent / "fuzz_data.py"
    if not p.exists():
        return {"kind": "data", "skipped": f"{p.name} not present"}
    spec = importlib.util.spec_from_file_location("edgeq_fuzz_data", p)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t0 = time.monotonic()
    res = mod.campaign(n, seed)
    if hasattr(res, "summary"):
        res = res.summary()
    elif hasattr(res, "__dataclass_fields__"):
        from dataclasses import asdict

        res = asdict(res)
    res = dict(res) if isinstance(res, dict) else {"result": res}
    res.setdefault("kind", "data")
    res.setdefault("seconds", round(time.monotonic() - t0, 1))
    return res


# ----------------------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=("tflite", "graph", "profile", "data", "all"), default="all")
    ap.add_argument("--cases", type=int, default=10_000, help="cases per kind [10000]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tflm", type=int, default=40, help="accepted .tflite mutants measured in TFLM [40]")
    ap.add_argument("--case-timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz", help="reproducers of failures")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    kinds = ("tflite", "graph", "profile", "data") if a.kind == "all" else (a.kind,)
    def say(s):
        return print(s, file=sys.stderr, flush=True) if not a.json else None
    results = []
    for kind in kinds:
        if kind == "tflite":
            r = campaign_tflite(a.cases, a.seed, tflm=a.tflm, out=a.out, timeout_s=a.case_timeout,
                                progress=say).summary()
        elif kind == "graph":
            r = campaign_graph(a.cases, a.seed, out=a.out, timeout_s=a.case_timeout, progress=say).summary()
        elif kind == "profile":
            r = campaign_profile(a.cases, a.seed, out=a.out, timeout_s=a.case_timeout, progress=say).summary()
        else:
            r = campaign_data(a.cases, a.seed)
        results.append(r)
        if not a.json:
            print(f"{kind:8} cases {r.get('cases', '-')}, accepted {r.get('accepted', '-')}, rejected "
                  f"{r.get('rejected', r.get('clear_errors', '-'))}, uncaught {r.get('uncaught', '-')}, "
                  f"hangs {r.get('hangs', '-')}, "
                  f"{r.get('seconds', '-')} s" + (f"  ({r['skipped']})" if "skipped" in r else ""))
            if r.get("tflm_child"):
                print(f"         TFLM subprocess: {r['tflm_child']}")
                for e in r.get("tflm_errors", []):
                    print(f"           {e}")
            for f in r.get("failures", [])[:10]:
                print(f"         FAIL case {f[0]} [{f[1]}] {f[2]}  {f[3]}")
    if a.json:
        print(json.dumps(results, indent=2, default=str))
    failed = sum(int(r.get("uncaught") or 0) + int(r.get("hangs") or 0) for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
