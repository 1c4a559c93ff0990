"""Generated C for the core int8 ops is bit-exact with tflite-micro, compiles warning-free for host and
Cortex-M0+/M4/M7/M33/M55, plans a smaller arena than TFLM, and fails cleanly on models it cannot handle.

Slow tests convert small Keras models (one per op/parameter combination, see codegen_models.py) once per
session, generate C, run 50 random inputs per model through a host build, and compare every output byte
with the tflite-micro interpreter.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
from pathlib import Path

import codegen_models as cm
import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, ops_core, render
from edgeq.codegen.emit import act_range, quantize_multiplier, sanitize_comment
from edgeq.codegen.plan import plan_memory
from edgeq.errors import EXIT_CHECK_FAILED, CodegenError
from edgeq.graph import Graph, Operator, QuantParams, Subgraph, Tensor

RUNTIME_INCLUDE = Path(__file__).resolve().parent.parent / "edgeq" / "runtime" / "include"
N_INPUTS = 50


# ------------------------------------------------------------------------------ TF-free unit tests


def test_quantize_multiplier_matches_tflite_frexp_rounding():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.75) == (3 << 29, 0)
    assert quantize_multiplier(1e-12) == (0, 0)          # shift < -31 flushes to zero, as TFLite does
    assert quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)  # q rounds up to 2^31 -> renormalized
    rng = np.random.default_rng(0)
    for real in rng.uniform(1e-6, 4.0, 200):
        m, s = quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert abs(m * 2.0 ** (s - 31) - real) <= real * 2.0 ** -30


def test_act_range_like_calculate_activation_range_quantized():
    assert act_range("NONE", 0.1, 3) == (-128, 127)
    assert act_range("RELU", 0.1, -5) == (-5, 127)
    assert act_range("RELU6", 6.0 / 255, -128) == (-128, 127)
    assert act_range("RELU6", 0.05, -10) == (-10, 110)
    assert act_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    with pytest.raises(ValueError):
        act_range("TANH", 0.1, 0)


def _ref_mbqm(x: int, mult: int, shift: int) -> int:
    """gemmlowp/TFLite MultiplyByQuantizedMultiplier in Python integers."""
    left, right = max(shift, 0), max(-shift, 0)
    a = (x * (1 << left) + 2**31) % 2**32 - 2**31
    if a == mult == -(2**31):
        hi = 2**31 - 1
    else:
        ab = a * mult
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        q = abs(ab + nudge) // 2**31          # C integer division truncates toward zero
        hi = q if ab + nudge >= 0 else -q
    mask = (1 << right) - 1
    rem = hi & mask
    thr = (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> right) + (1 if rem > thr else 0)


def test_c_mbqm_matches_reference(tmp_path):
    rng = random.Random(0)
    cases = [(0, 1 << 30, 0), (-1, 1 << 30, -1), (2**31 - 1, 2**31 - 1, 0), (-(2**31), -(2**31), 0),
             (12345, 1 << 30, -31), (-7, 1518500250, 3), (100, 2**31 - 1, 1)]
    # exact ties in both roundings: x * 2^30 is an odd multiple of 2^30, then halves again under a shift
    cases += [(x, 1 << 30, s) for x in range(-40, 41) for s in (1, 0, -1, -2, -5)]
    for _ in range(3000):
        shift = rng.randint(-31, 6)
        x = rng.randint(-(2**31), 2**31 - 1)
        if shift > 0:
            x >>= shift  # keep x << shift inside int32, as TFLite's callers do
        cases.append((x, rng.randint(1 << 30, 2**31 - 1), shift))
    src = tmp_path / "t.c"
    src.write_text('#include <stdio.h>\n#include "edgeq_common.h"\nint main(void){long long x,m; int s;\n'
                   'while (scanf("%lld %lld %d", &x, &m, &s) == 3) printf("%ld\\n", '
                   '(long)edgeq_mbqm((int32_t)x, (int32_t)m, s));\nreturn 0;}\n')
    exe = tmp_path / "t"
    subprocess.run(["gcc", *cm.HOST_FLAGS, "-I", str(RUNTIME_INCLUDE), str(src), "-o", str(exe)], check=True)
    stdin = "\n".join(f"{x} {m} {s}" for x, m, s in cases)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout.split()
    assert [int(v) for v in out] == [_ref_mbqm(x, m, s) for x, m, s in cases]
    assert [int(v) for v in out] == [ops_core.mbqm(x, m, s) for x, m, s in cases]  # ADD tables use it


def test_sanitize_comment_blocks_comment_escape():
    s = sanitize_comment("*/ #include <evil>\n/* ??/ \\ \x00 é")
    assert "*/" not in s and "/*" not in s and "\n" not in s and "??" not in s and "\\" not in s
    assert all(32 <= ord(ch) < 127 for ch in s)


def _tensor(i: int, shape, dtype="int8", data=None) -> Tensor:
    return Tensor(i, f"t{i}", tuple(shape), dtype, 0, QuantParams((0.1,), (0,)), data)


def _chain_graph() -> Graph:
    """A synthetic chain for the planner: conv, reshape (view), conv, conv, add, conv, relu, conv."""
    w = _tensor(9, (4, 1, 1, 4), data=bytes(16))
    ts = [_tensor(0, (1, 8, 8, 4)), _tensor(1, (1, 8, 8, 4))]
    ts += [_tensor(i, (1, 16, 4, 4)) for i in range(2, 9)] + [w]
    ops = (Operator(0, "CONV_2D", 1, (0, 9), (1,)), Operator(1, "RESHAPE", 1, (1,), (2,)),
           Operator(2, "CONV_2D", 1, (2, 9), (3,)), Operator(3, "CONV_2D", 1, (3, 9), (4,)),
           Operator(4, "ADD", 1, (4, 3), (5,)), Operator(5, "CONV_2D", 1, (5, 9), (6,)),
           Operator(6, "RELU", 1, (6,), (7,)), Operator(7, "CONV_2D", 1, (7, 9), (8,)))
    sg = Subgraph("main", tuple(ts), ops, (0,), (8,))
    return Graph("<synthetic>", 0, "0" * 64, 3, "", (sg,), (), b"")


def _assert_plan_valid(sg: Subgraph, plan) -> None:
    """No two buffers with intersecting lifetimes overlap in memory; everything fits in the arena."""
    for b in plan.buffers:
        assert b.offset >= 0 and b.offset + b.size_bytes <= plan.arena_bytes
        assert b.offset % 4 == 0
    for i, a in enumerate(plan.buffers):
        for b in plan.buffers[i + 1 :]:
            if a.first_op <= b.last_op and b.first_op <= a.last_op:
                assert a.offset + a.size_bytes <= b.offset or b.offset + b.size_bytes <= a.offset, (a, b)


def test_planner_reuses_memory_and_aliases_views_and_inplace_ops():
    g = _chain_graph()
    plan = plan_memory(g.main)
    _assert_plan_valid(g.main, plan)
    assert plan.aliases[2] == 1                  # RESHAPE output is a view of its dying input
    assert plan.aliases[7] == 6                  # RELU in place
    assert 5 in plan.aliases                     # ADD writes over an input that dies there
    assert plan.offsets[2] == plan.offsets[1]
    # at most two 256-byte activations are ever live besides the model I/O
    assert plan.arena_bytes == 512
    no_alias = plan_memory(g.main, allow_alias=False)
    _assert_plan_valid(g.main, no_alias)
    assert no_alias.arena_bytes >= plan.arena_bytes


def _with_opcode(g, k: int, opcode: str):
    """g with its operator k turned into `opcode` (inputs and outputs as they are)."""
    ops = list(g.main.operators)
    ops[k] = dataclasses.replace(ops[k], opcode=opcode)
    return dataclasses.replace(g, subgraphs=(dataclasses.replace(g.main, operators=tuple(ops)),))


def test_unknown_op_on_synthetic_graph_is_codegen_error():
    with pytest.raises(CodegenError) as e:
        render(_with_opcode(_chain_graph(), 3, "CUSTOM:my_op"))
    assert "op #3 CUSTOM:my_op" in str(e.value)
    assert e.value.exit_code == EXIT_CHECK_FAILED
    assert e.value.hint


@pytest.mark.parametrize("dtype, words", [("float32", "hybrid (dynamic-range"), ("uint8", "in uint8")])
def test_non_int8_activations_are_codegen_errors(dtype, words):
    g = _chain_graph()
    sg = g.main
    tensors = tuple(t if t.is_constant else dataclasses.replace(t, dtype=dtype) for t in sg.tensors)
    g2 = dataclasses.replace(g, subgraphs=(dataclasses.replace(sg, tensors=tensors),))
    with pytest.raises(CodegenError) as e:
        render(g2)
    assert words in str(e.value) and "op #0 CONV_2D" in str(e.value)
    assert "--mode int8" in e.value.hint


# ------------------------------------------------------------------------------------- slow: TF + TFLM


class _Models:
    """Converted models and their generated/compiled builds, created on first use, shared by the session."""

    def __init__(self, root: Path):
        self.root = root
        self._bytes: dict[str, bytes] = {}
        self._built: dict[str, tuple[Path, Graph, object]] = {}

    def tflite(self, name: str) -> bytes:
        if name not in self._bytes:
            self._bytes[name] = _build_kernel_model(name) if name in KERNEL_MODELS else cm.build(name)
            (self.root / f"{name}.tflite").write_bytes(self._bytes[name])
        return self._bytes[name]

    def path(self, name: str) -> Path:
        self.tflite(name)
        return self.root / f"{name}.tflite"

    def generated(self, name: str) -> tuple[Path, Graph, object]:
        if name not in self._built:
            g = graph_mod.parse(self.tflite(name), f"{name}.tflite")
            out = self.root / name
            res = generate(g, out)
            self._built[name] = (out, g, res)
        return self._built[name]


def _kernel_models() -> dict:
    """Models aimed at the specialized kernel paths (defined here, next to the kernels they cover): the 3x3
    depthwise kernel (stride 1/2, SAME/VALID, dilation, no bias, channel counts not divisible by 4), the
    fully connected int16-input path (odd depths, inputs too long for the scratch) and the convolution
    two-pixel int16 window path (filter rows multiple of 4 or not, filters too large for the scratch)."""
    import keras
    from keras import layers as L

    def inp(*shape):
        return keras.Input(shape=shape, batch_size=1)

    def dw3x3_paths():
        x = inp(9, 8, 6)
        a = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
        b = L.DepthwiseConv2D(3, padding="valid", use_bias=False)(x)
        c = L.DepthwiseConv2D(3, dilation_rate=2, padding="same")(x)
        y = L.Conv2D(8, 1)(x)
        d = L.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
        e = L.DepthwiseConv2D(3, strides=2, padding="valid")(y)
        return keras.Model(x, [a, b, c, d, e])

    def dw3x3_c5():
        x = inp(6, 11, 5)
        y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        return keras.Model(x, L.DepthwiseConv2D((3, 3), strides=(1, 2), padding="same")(y))

    def fc_depths():
        x = inp(1302)                                   # longer than the int16 scratch: plain int8 loop
        a = L.Dense(5)(L.Dense(7, activation="relu")(x))   # depth 7: one word and a 3-byte tail
        b = L.Dense(4)(L.Dense(30)(x))                      # depth 30: 7 words and a 2-byte tail
        return keras.Model(x, [a, b])

    def conv_x16_paths():
        x = inp(6, 7, 96)
        a = L.Conv2D(4, 3, padding="same")(x)           # 864-byte filters: too large for the int16 scratch
        y = L.Conv2D(4, 1)(x)
        b = L.Conv2D(5, (2, 3), padding="same", activation="relu")(y)   # rows of 12 bytes
        c = L.Conv2D(3, (3, 2), strides=(1, 2), padding="valid")(y)     # rows of 8 bytes, stride 2
        z = L.Conv2D(3, 1)(x)
        d = L.Conv2D(4, 3, padding="same")(z)           # rows of 9 bytes: not a multiple of 4
        return keras.Model(x, [a, b, c, d])

    def conv1x1_batch2():
        x = keras.Input(shape=(5, 3, 8), batch_size=2)  # 1x1 pixel pairs across rows and batches (odd counts)
        y = L.Conv2D(6, 1, activation="relu")(x)
        return keras.Model(x, [L.Conv2D(4, 1, strides=2)(y), L.Conv2D(3, 1)(x)])

    pc, pt = {}, {"per_channel": False}
    return {"dw3x3_paths": (dw3x3_paths, pc), "dw3x3_paths_pt": (dw3x3_paths, pt), "dw3x3_c5": (dw3x3_c5, pc),
            "fc_depths": (fc_depths, pc), "conv_x16_paths": (conv_x16_paths, pc),
            "conv1x1_batch2": (conv1x1_batch2, {"batch": 2})}


KERNEL_MODELS = ["dw3x3_paths", "dw3x3_paths_pt", "dw3x3_c5", "fc_depths", "conv_x16_paths", "conv1x1_batch2"]


def _build_kernel_model(name: str, seed: int = 1) -> bytes:
    import keras

    builder, opts = _kernel_models()[name]
    keras.utils.set_random_seed(seed)
    model = builder()
    cm._randomize(model, seed)
    return cm.convert(model, **opts)


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> _Models:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    return _Models(tmp_path_factory.mktemp("codegen_models"))


# Host builds: the plain C kernels, and the SXTB16/SMLAD code path with C models of the instructions.
VARIANTS = {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",)}


def _compare(name: str, model: bytes, g: Graph, out_dir: Path, n: int = N_INPUTS, seed: int = 0) -> int:
    """Run n random inputs through each host build and tflite-micro; assert identical bytes; return the
    number of output bytes compared per build."""
    inputs = cm.random_inputs(g, n, seed)
    ref = cm.tflm_run(model, inputs, len(g.outputs))
    compared = 0
    for variant, flags in VARIANTS.items():
        exe = cm.compile_host(out_dir, g, extra_flags=flags, exe_name=f"model_test_{variant}")
        compared = cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref, f"{name} ({variant}): ")
    return compared


@pytest.mark.slow
@pytest.mark.parametrize("name", cm.MODEL_NAMES + cm.MLPERF_NAMES + KERNEL_MODELS)
def test_bit_exact_with_tflite_micro(models, name):
    out, g, res = models.generated(name)
    _assert_plan_valid(g.main, plan_memory(g.main))
    compared = _compare(name, models.tflite(name), g, out)
    assert compared == N_INPUTS * sum(t.size_bytes for t in g.outputs)
    assert res.arena_bytes >= 0 and len(res.ops) == len(g.operators)


@pytest.mark.slow
def test_kernel_models_take_the_fast_paths(models):
    """The kernel models really reach the specialized code: short requantization and pre-extended depthwise
    weights are emitted (otherwise the bit-exactness tests above would not cover them)."""
    for name in ("dw3x3_paths", "dw3x3_paths_pt", "dw3x3_c5", "fc_depths", "conv_x16_paths", "kws_ds_cnn"):
        out, _, _ = models.generated(name)
        text = (out / "edgeq_model.c").read_text()
        assert ".rq = w_op" in text and ".mult = NULL" in text, name  # rq replaces mult/shift
        if name.startswith("dw"):
            assert ".dw_w = w_op" in text, name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dw3x3_paths", "dw3x3_c5", "fc_depths", "conv_x16_paths", "ds_cnn_small",
                                  "autoencoder", "conv_same_relu_pt"])
def test_bit_exact_with_general_requantization(models, name, tmp_path, monkeypatch):
    """Without `rq` every kernel falls back to the full MultiplyByQuantizedMultiplier; still TFLM's bytes."""
    monkeypatch.setattr(ops_core, "FAST_REQUANT", False)
    g = graph_mod.parse(models.tflite(name))
    generate(g, tmp_path)
    text = (tmp_path / "edgeq_model.c").read_text()
    assert ".rq = NULL" in text and ".rq = w_op" not in text and ".mult = w_op" in text
    assert _compare(name, models.tflite(name), g, tmp_path, n=20) > 0


def _rq_c(acc: int, m: int, e: int) -> int:
    """eq_rq_fast in Python: one rounding SMMLAR of 2 * acc and an arithmetic shift."""
    c = (1 << (e - 1)) - (1 if acc < 0 else 0)
    return (c + ((2 * acc * m + 2**31) >> 32)) >> e


def test_fast_requantization_formula_matches_mbqm():
    """The identity behind eq_rq_fast, on ties, signs, extremes of the |acc| < 2^30 range and random values."""
    rng = random.Random(1)
    cases = [(a, 1 << 30, e) for a in range(-70, 71) for e in (1, 2, 3, 5, 31)]
    cases += [(a, m, e) for a in (2**30 - 1, -(2**30) + 1, 0, -1, 1) for m in (1 << 30, 2**31 - 1)
              for e in (1, 12, 31)]
    for _ in range(20000):
        cases.append((rng.randint(-(2**30) + 1, 2**30 - 1), rng.randint(1 << 30, 2**31 - 1), rng.randint(1, 31)))
        cases.append((rng.randint(-5000, 5000), rng.randint(1 << 30, 2**31 - 1), rng.randint(1, 20)))
    for a, m, e in cases:
        assert _rq_c(a, m, e) == _ref_mbqm(a, m, -e), (a, m, e)


def _patched(model: bytes, fn) -> bytes:
    from tensorflow.lite.tools import flatbuffer_utils as fu

    m = fu.convert_bytearray_to_object(bytearray(model))
    fn(m)
    return bytes(fu.convert_object_to_bytearray(m))


@pytest.mark.slow
def test_mean_with_equal_input_output_quantization(models, tmp_path):
    """Older TFLM took a plain sum / count path when MEAN keeps scale and zero point; the oracle does not."""
    base = models.tflite("mean_variants")
    g0 = graph_mod.parse(base)

    def same_quant(m):
        sg = m.subgraphs[0]
        for op in sg.operators:
            if g0.main.operators[sg.operators.index(op)].opcode == "MEAN":
                qi = sg.tensors[op.inputs[0]].quantization
                qo = sg.tensors[op.outputs[0]].quantization
                qo.scale, qo.zeroPoint = list(qi.scale), list(qi.zeroPoint)

    model = _patched(base, same_quant)
    g = graph_mod.parse(model)
    generate(g, tmp_path)
    assert _compare("mean_same_quant", model, g, tmp_path) > 0


HOSTILE = ["*/ #include <evil>\n int x = 1; /*", "??/\nbad\\", "\x00\x01\xff name \"quoted\" 'q'",
           "é中文 */ } ; { /*", "a" * 500]


@pytest.mark.slow
def test_hostile_tensor_names_compile_and_stay_in_comments(models, tmp_path):
    base = models.tflite("concat_axes")

    def rename(m):
        for i, t in enumerate(m.subgraphs[0].tensors):
            t.name = HOSTILE[i % len(HOSTILE)].encode("utf-8")
        m.description = b"*/ #error pwned /*"

    model = _patched(base, rename)
    g = graph_mod.parse(model)
    generate(g, tmp_path)
    for f in ("edgeq_model.c", "edgeq_model.h"):
        text = (tmp_path / f).read_text(encoding="ascii")
        for line in text.splitlines():
            assert not line.lstrip().startswith(("#include <evil", "#error", "int x")), line
    assert _compare("hostile", model, g, tmp_path, n=5) > 0


@pytest.mark.slow
def test_unsupported_op_is_codegen_error(models):
    with pytest.raises(CodegenError) as e:
        render(_with_opcode(graph_mod.parse(models.tflite("pools")), 1, "MIRROR_PAD"))
    msg = str(e.value)
    assert "op #1 MIRROR_PAD" in msg and "tensor #" in msg
    assert e.value.exit_code == EXIT_CHECK_FAILED


@pytest.mark.slow
@pytest.mark.parametrize("name, quantize, words", [
    ("conv_same_relu", False, ("float32", "op #0 CONV_2D")),
    ("ad_autoencoder", "dynamic", ("hybrid", "FULLY_CONNECTED")),  # big enough to get int8 weights
], ids=["float", "hybrid"])
def test_float_or_hybrid_model_is_codegen_error(models, tmp_path, name, quantize, words):
    g = graph_mod.parse(cm.build_float(name, quantize=quantize))
    with pytest.raises(CodegenError) as e:
        generate(g, tmp_path)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert "edgeq convert --mode int8" in e.value.hint


@pytest.mark.slow
def test_generation_is_deterministic(models, tmp_path):
    g = graph_mod.parse(models.tflite("ds_cnn_small"), "some/absolute/path/x.tflite")
    a, b = tmp_path / "a", tmp_path / "b"
    ra, rb = generate(g, a), generate(graph_mod.parse(models.tflite("ds_cnn_small")), b)
    files_a = sorted(p.relative_to(a) for p in ra.files)
    assert files_a == sorted(p.relative_to(b) for p in rb.files)
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert "absolute" not in (a / "edgeq_model.c").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("cpu", sorted(cm.ARM_CPUS))
def test_cross_compiles_for_cortex_m(models, cpu):
    few = ["ds_cnn_small", "float_io", "concat_axes", "mul_broadcast"]
    names = cm.MODEL_NAMES if cpu == "cortex-m4" else few
    for i, name in enumerate(names):
        out, _, _ = models.generated(name)
        srcs = [out / "edgeq_model.c"]
        if i == 0:
            srcs += sorted((out / "edgeq_runtime/src").glob("*.c"))
        cm.compile_arm(out, cpu, srcs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet_block", "add_relu", "mul_broadcast", "concat_axes", *cm.MLPERF_NAMES])
def test_arena_not_larger_than_tflm(models, name):
    _, g, res = models.generated(name)
    tflm = cm.tflm_arena_bytes(models.path(name))
    io_bytes = sum(t.size_bytes for t in (*g.inputs, *g.outputs))
    # TFLM keeps model I/O inside its arena; the generated code takes caller buffers, so count them too.
    assert res.arena_bytes + io_bytes <= tflm, (res.arena_bytes, io_bytes, tflm)
    if name in MLPERF_MIN_ACTIVATION_BYTES:
        # DESIGN.md section 7: the reference models' minimum activation RAM; the arena must reach it.
        assert res.min_activation_bytes == MLPERF_MIN_ACTIVATION_BYTES[name]
        assert res.arena_bytes <= MLPERF_MIN_ACTIVATION_BYTES[name]


MLPERF_MIN_ACTIVATION_BYTES = {"kws_ds_cnn": 16000, "ic_resnet8": 49152, "ad_autoencoder": 768,
                               "vww_mobilenet_v1_025": 55296}


@pytest.mark.slow
def test_result_figures_and_profile_hook(models, tmp_path):
    out, g, res = models.generated("ds_cnn_small")
    by_op = {o.index: o for o in res.ops}
    conv0 = by_op[0]
    assert conv0.opcode == "CONV_2D" and conv0.macs == 25 * 5 * 16 * 10 * 4 * 1
    dw = next(o for o in res.ops if o.opcode == "DEPTHWISE_CONV_2D")
    assert dw.macs == 25 * 5 * 16 * 3 * 3
    fc = next(o for o in res.ops if o.opcode == "FULLY_CONNECTED")
    assert fc.macs == 16 * 12 and fc.weight_bytes == 16 * 12 + 12 * 4
    assert res.total_macs == sum(o.macs for o in res.ops)
    assert all(p.exists() for p in res.files)
    assert res.min_activation_bytes >= max(t.size_bytes for t in g.inputs)
    driver = tmp_path / "prof.c"
    driver.write_text(
        '#include <stdio.h>\n#include "edgeq_model.h"\nstatic int calls[EDGEQ_MODEL_NUM_OPS + 1];\n'
        "void edgeq_profile_op(int i) { calls[i]++; }\n"
        "int main(void) { static int8_t in[EDGEQ_MODEL_INPUT0_SIZE]; "
        "static int8_t o[EDGEQ_MODEL_OUTPUT0_SIZE]; int i;\n"
        "if (edgeq_model_run(in, o)) return 1;\n"
        "for (i = 0; i <= EDGEQ_MODEL_NUM_OPS; ++i) if (calls[i] != 1) return 2;\nreturn 0; }\n")
    exe = tmp_path / "prof"
    srcs = [str(out / "edgeq_model.c"), str(driver), *map(str, sorted((out / "edgeq_runtime/src").glob("*.c")))]
    subprocess.run(["gcc", *cm.HOST_FLAGS, "-DEDGEQ_PROFILE", "-I", str(out),
                    "-I", str(out / "edgeq_runtime/include"), *srcs, "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0


QEMU_MODELS = ["kws_ds_cnn", "conv_dil2_nobias", "dw_s2_same", "dw_m3_dil2_same", "add_broadcast", "pools",
               "mean_variants", "fc_nobias_3d"]


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("target_name", ["cortex-m4", "cortex-m0plus", "cortex-m55"])
def test_bit_exact_on_emulated_cortex_m(models, target_name):
    """The real SXTB16/SMLAD path (M4, M55) and the plain C path (M0+) on the core, checked by the harness
    against tflite-micro byte for byte."""
    import shutil

    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    target = load_target(target_name)
    names = QEMU_MODELS if target_name == "cortex-m4" else QEMU_MODELS[:3]
    if target_name != "cortex-m0plus":
        names = [*names, "dw3x3_paths", "fc_depths"]  # the SMMLAR requantization and DSP depthwise/FC paths
    for name in names:
        res = bench_cortexm(str(models.path(name)), target, "qemu", samples=3, per_op=False, timeout_s=300)
        assert res.output_matches_reference is True, (name, target_name, res.notes)
