"""Packed 4-, 2- and 1-bit weights in the generated C (edgeq_lowbit.c, codegen/ops_lowbit.py) are bit-exact with
tflite-micro running the int8 model whose weights they encode.

The models are converted to int8 as usual; then the test rewrites each weight buffer of the .tflite in place so
that every output channel keeps at most 2^bits int8 values (nearest of a value set per channel), which is what
`edgeq convert --weights` produces. That int8 .tflite is the oracle. The value sets cover every storage mode of
the generator: one table for the whole op (`shared`), per-channel a + s * j (`affine`, ternary, binary, channels
with a single value) and per-channel tables (`kmeans`, some channels sharing a table, some with one value).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import codegen_models as cm
import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, ops_lowbit, render, weight_levels
from edgeq.errors import CodegenError

N_INPUTS = 30
PACKED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _models() -> dict:
    import keras
    from keras import layers as L

    def convs():
        x = keras.Input(shape=(9, 8, 3), batch_size=1)
        a = L.Conv2D(8, 3, padding="same", activation="relu")(x)         # K = 27: 3 tail taps, zp-padded border
        b = L.Conv2D(6, 1)(a)                                            # 1x1: read in place, K = 8
        c = L.Conv2D(5, (3, 2), strides=2, padding="valid", activation="relu6")(a)  # K = 48, im2col
        d = L.Conv2D(4, 3, dilation_rate=2, padding="same", use_bias=False)(b)     # dilation, no bias
        e = L.Conv2D(3, 3, padding="same")(L.Conv2D(160, 1)(L.MaxPooling2D(2)(a)))  # K = 1440 > the column buffer
        f = L.Conv2D(6, 3, padding="same")(L.Conv2D(40, 1)(L.MaxPooling2D(2)(a)))  # K = 360: DSP 4-channel w16
        # a 1 x 1 image: too few pixels for the int8-kernel path, the packed loop
        g = L.Conv2D(7, 2, padding="same")(L.GlobalAveragePooling2D(keepdims=True)(b))
        return keras.Model(x, [c, d, e, f, g])

    def dwise():
        x = keras.Input(shape=(9, 8, 5), batch_size=1)
        a = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        b = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid")(x)
        c = L.DepthwiseConv2D((3, 2), dilation_rate=2, padding="same", activation="relu6")(a)
        d = L.DepthwiseConv2D(5, padding="same")(a)                       # K = 25
        return keras.Model(x, [b, c, d])

    def fc():
        x = keras.Input(shape=(10,), batch_size=2)
        a = L.Dense(7, activation="relu")(x)                             # K = 10: tail
        b = L.Dense(64)(a)                                                # K = 7
        c = L.Dense(33, activation="relu6")(b)                            # K = 64
        return keras.Model(x, [L.Dense(5, use_bias=False)(c), b])

    return {"convs": (convs, {}), "convs_pt": (convs, {"per_channel": False}), "dwise": (dwise, {}),
            "fc": (fc, {"batch": 2})}


class _Models:
    def __init__(self):
        self._bytes: dict[str, bytes] = {}

    def tflite(self, name: str) -> bytes:
        if name not in self._bytes:
            import keras

            builder, opts = _models()[name]
            keras.utils.set_random_seed(5)
            model = builder()
            cm._randomize(model, 5)
            self._bytes[name] = cm.convert(model, **opts)
        return self._bytes[name]


@pytest.fixture(scope="module")
def models() -> _Models:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    return _Models()


# ------------------------------------------------------------------------------------- weight projection


def _buffer_span(data: bytes, buffer_index: int) -> tuple[int, int]:
    """(offset, length) of a buffer's bytes in the .tflite (the Model table's `buffers` vector, field 4)."""
    buf = graph_mod._Buf(data, "<test>")
    model = graph_mod._Table(buf, buf.u32(0))
    return model.tables(4)[buffer_index].vector(0)


def _value_sets(rows: np.ndarray, bits: int, scheme: str, rng) -> list[np.ndarray]:
    L = 1 << bits
    sets = []
    shared = np.unique(np.round(np.linspace(-120, 120, L) + rng.integers(-5, 6, L)).astype(np.int64))
    for c, r in enumerate(rows.astype(np.int64)):
        if scheme == "shared":
            v = shared
        elif scheme == "ternary":  # {-q, 0, q} (2 bits) / {-q, q} (1 bit), q per channel
            q = max(1, int(np.round(np.abs(r).mean())))
            v = np.array([-q, 0, q] if bits >= 2 else [-q, q])
        elif scheme == "symmetric":  # int4 levels s * (-7..7), a random s per channel
            v = int(rng.integers(1, 19)) * np.arange(-7, 8)
        elif scheme == "affine":
            lo, hi = int(r.min()), int(r.max())
            s = max(1, -(-(hi - lo) // (L - 1)))
            v = np.arange(lo, lo + s * L, s)
            v = v[v <= 127]
        else:  # kmeans-like: a few quantiles of the channel, per channel
            v = np.unique(np.round(np.quantile(r, np.sort(rng.uniform(0, 1, L)))).astype(np.int64))
            if c % 3 == 2:
                v = sets[0]  # shares channel 0's table
        if c % 5 == 4:  # a channel with a single value
            v = shared[c % len(shared):][:1] if scheme == "shared" else np.array([int(np.median(r))])
        sets.append(np.asarray(v, np.int64))
    return sets


def project(data: bytes, op_bits: dict[int, int], schemes: dict[int, str], seed: int = 0) -> bytes:
    """The .tflite with each op's int8 weights replaced by the nearest value of its channel's value set."""
    g = graph_mod.parse(data)
    out = bytearray(data)
    rng = np.random.default_rng(seed)
    for index, bits in op_bits.items():
        op = g.main.operators[index]
        t = g.main.tensors[op.inputs[1]]
        rows = ops_lowbit._rows(op.opcode, t.array())
        sets = _value_sets(rows, bits, schemes[index], rng)
        new = np.stack([v[np.abs(r.astype(np.int64)[:, None] - v[None, :]).argmin(axis=1)]
                        for r, v in zip(rows, sets)]).astype(np.int8)
        arr = new.T.reshape(t.shape) if op.opcode == "DEPTHWISE_CONV_2D" else new.reshape(t.shape)
        pos, n = _buffer_span(data, t.buffer)
        assert n == arr.nbytes and bytes(data[pos:pos + n]) == t.data
        out[pos:pos + n] = arr.tobytes()
    return bytes(out)


def _packed_ops(g) -> list[int]:
    return [op.index for op in g.main.operators if op.opcode in PACKED]


SCHEMES = {4: ("affine", "shared", "kmeans", "symmetric"), 2: ("ternary", "kmeans", "shared", "affine"),
           1: ("ternary", "kmeans", "shared")}


def _plan(data: bytes, bits: int) -> tuple[bytes, dict[int, int], dict[int, str]]:
    ops = _packed_ops(graph_mod.parse(data))
    op_bits = {i: bits for i in ops}
    schemes = {i: SCHEMES[bits][k % len(SCHEMES[bits])] for k, i in enumerate(ops)}
    return project(data, op_bits, schemes, seed=bits), op_bits, schemes


def _compare(data: bytes, op_bits: dict[int, int], out_dir: Path, label: str) -> None:
    g = graph_mod.parse(data)
    res = generate(g, out_dir, weight_bits=op_bits)
    assert all(o.weight_bits == op_bits.get(o.index, 8) for o in res.ops)
    inputs = cm.random_inputs(g, N_INPUTS, 0)
    ref = cm.tflm_run(data, inputs, len(g.outputs))
    outs = {}
    # dw-fallback: no depthwise layer fits the stack buffer for the int8 kernel, all take the packed-weight loop;
    # dsp-chunks: CONV_2D on the int8 kernel over decoded int16 weights in chunks of 2-4 channels and 1-2 output rows
    # (odd chunks, top padding per chunk); dsp-packed: CONV_2D on the packed-weight DSP loop instead
    # dw-chunks: larger depthwise layers' path, the int8 kernel on chunks of 4-8 channels and 1-4 output rows
    variants = {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",),
                "dw-fallback": ("-DEDGEQ_LOWBIT_DW_BYTES=16", "-DEDGEQ_LOWBIT_DWC_BYTES=16"),
                "dw-chunks": ("-DEDGEQ_EMULATE_DSP", "-DEDGEQ_LOWBIT_DW_BYTES=16", "-DEDGEQ_LOWBIT_DWC_BYTES=480"),
                "dsp-chunks": ("-DEDGEQ_EMULATE_DSP", "-DEDGEQ_LOWBIT_W16_BYTES=400", "-DEDGEQ_LOWBIT_OUT_BYTES=48"),
                "dsp-packed": ("-DEDGEQ_EMULATE_DSP", "-DEDGEQ_LOWBIT_W16_BYTES=8")}
    has = {o.opcode for o in res.ops if o.weight_bits < 8}
    for variant, flags in variants.items():
        if (variant.startswith("dw-") and "DEPTHWISE_CONV_2D" not in has) or (
                variant.startswith("dsp-") and "CONV_2D" not in has):
            continue
        exe = cm.compile_host(out_dir, g, extra_flags=flags, exe_name=f"lowbit_{variant}")
        outs[variant] = cm.run_host(exe, g, inputs)
        cm.assert_same_bytes(outs[variant], ref, f"{label} ({variant}): ")
    # the outputs carry information: not all saturated / constant
    flat = np.concatenate([y.reshape(-1) for ys in outs["portable"] for y in ys])
    assert len(np.unique(flat)) > 20, label


# ------------------------------------------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.parametrize("bits", [4, 2, 1])
@pytest.mark.parametrize("name", ["convs", "dwise", "fc"])
def test_lowbit_bit_exact_on_host(models, name, bits, tmp_path):
    data, op_bits, schemes = _plan(models.tflite(name), bits)
    g = graph_mod.parse(data)
    modes = set()
    for i in op_bits:
        assert weight_levels(g, i) <= 1 << bits
        op = g.main.operators[i]
        mode, _, d = ops_lowbit._values(ops_lowbit._rows(op.opcode, g.main.tensors[op.inputs[1]].array()), bits)
        if mode == "table":
            modes.add("multi-table" if d["tab_idx"] is not None else "table")
        else:
            modes.add("affine-sym" if d["sym_h"] >= 0 else "affine")
    # every storage mode is exercised by each model (two values per channel are always affine)
    want = {"affine", "affine-sym", "table"} | ({"multi-table"} if bits > 1 else set())
    assert modes == want, (name, bits, modes)
    _compare(data, op_bits, tmp_path, f"{name} {bits}-bit")


@pytest.mark.slow
def test_lowbit_bit_exact_per_tensor_and_general_requantization(models, tmp_path, monkeypatch):
    from edgeq.codegen import ops_core

    data, op_bits, _ = _plan(models.tflite("convs_pt"), 4)
    _compare(data, op_bits, tmp_path / "pt", "convs per-tensor")
    monkeypatch.setattr(ops_core, "FAST_REQUANT", False)
    data, op_bits, _ = _plan(models.tflite("convs"), 2)
    _compare(data, op_bits, tmp_path / "mbqm", "convs general requantization")
    assert ".rq = NULL" in (tmp_path / "mbqm" / "edgeq_model.c").read_text()


@pytest.mark.slow
def test_lowbit_mixed_with_int8_ops(models, tmp_path):
    """Only some ops packed: the others keep the int8 kernels; weight_bytes counts the packed bytes."""
    data, op_bits, _ = _plan(models.tflite("convs"), 4)
    g = graph_mod.parse(data)
    some = dict(list(op_bits.items())[1::2])
    _compare(data, some, tmp_path, "convs, some ops packed")
    full = render(g).ops
    packed = render(g, weight_bits=some).ops
    for a, b in zip(full, packed):
        if a.index in some:
            t = g.main.tensors[g.main.operators[a.index].inputs[1]]
            assert b.weight_bits == 4
            # at most half a byte per weight (rows padded to 4 taps) plus the op's tables / per-channel data
            assert b.weight_bytes < a.weight_bytes
            assert b.weight_bytes - (a.weight_bytes - t.size_bytes) <= (-(-t.num_elements // 4) * 2
                                                                         + 16 * t.shape[0] + 16 * 3)
        else:
            assert (b.weight_bits, b.weight_bytes) == (8, a.weight_bytes)


@pytest.mark.slow
@pytest.mark.qemu
def test_lowbit_bit_exact_on_emulated_cortex_m4(models, tmp_path):
    """The real SXTB16/SMLAD code (Cortex-M4 in QEMU) on a model with every op kind and storage mode packed."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    for name, bits in (("convs", 4), ("dwise", 2), ("fc", 1)):
        data, op_bits, _ = _plan(models.tflite(name), bits)
        d = tmp_path / f"{name}{bits}"
        generate(graph_mod.parse(data), d, weight_bits=op_bits)
        (d / "model.tflite").write_bytes(data)
        res = bench_cortexm(str(d), load_target("cortex-m4"), "qemu", samples=3, per_op=False, timeout_s=300)
        assert res.output_matches_reference is True, (name, bits, res.notes)


# ----------------------------------------------------------------------------------------------- errors


@pytest.mark.slow
def test_lowbit_bad_weight_bits_name_the_op_and_why(models):
    data = models.tflite("convs")
    g = graph_mod.parse(data)
    ops = _packed_ops(g)
    conv = ops[0]
    t = g.main.tensors[g.main.operators[conv].inputs[1]]
    levels = weight_levels(g, conv)
    assert levels > 16  # raw int8 weights
    with pytest.raises(CodegenError) as e:
        render(g, weight_bits={conv: 4})
    msg = str(e.value)
    assert f"op #{conv} CONV_2D" in msg and t.name[:40] in msg and "distinct int8 values; 4-bit needs <= 16" in msg
    assert e.value.hint and "--weights" in e.value.hint
    other = next(op.index for op in g.main.operators if op.opcode not in PACKED)
    with pytest.raises(CodegenError, match=rf"op #{other} {g.main.operators[other].opcode}.*CONV_2D"):
        render(g, weight_bits={other: 4})
    with pytest.raises(CodegenError, match="does not exist"):
        render(g, weight_bits={len(g.main.operators): 4})
    projected, op_bits, _ = _plan(data, 2)
    g2 = graph_mod.parse(projected)
    with pytest.raises(CodegenError, match="3 bits is not supported"):
        render(g2, weight_bits={conv: 3})
    with pytest.raises(CodegenError, match="2-bit needs <= 4|1-bit needs <= 2"):
        render(g2, weight_bits={i: 1 for i in op_bits})
    with pytest.raises(CodegenError, match="must map op indices"):
        render(g2, weight_bits=[conv])
    render(g2, weight_bits=op_bits)  # the projected model is accepted


def test_pack_rows_layout():
    """Pair codes {j[k], j[k+2]}, {j[k+1], j[k+3]} per group of 4 taps, little-endian bit order, rows byte-aligned."""
    idx = np.array([[1, 2, 3, 4, 5]])
    assert ops_lowbit.pack_rows(idx, 4).tolist() == [[1 | 3 << 4, 2 | 4 << 4, 5, 0]]
    assert ops_lowbit.pack_rows(np.array([[1, 2, 3, 0]]), 2).tolist() == [[(1 | 3 << 2) | (2 << 4)]]
    assert ops_lowbit.pack_rows(np.array([[1, 0, 1, 1, 0, 1]]), 1).tolist() == [[0b11 | 0b10 << 2 | 0b00 << 4
                                                                                  | 0b01 << 6]]
    assert ops_lowbit.pack_stream(np.array([[1, 2, 3], [0, 3, 1]]), 2).tolist() == [1 | 2 << 2 | 3 << 4, 3 | 1 << 2]


def test_flash_budget_never_keeps_packed_ops_on_int8():
    """Packed ops have no int16 weight copy: the flash budget neither picks them for int8 storage nor counts them
    at int8 / int16 size."""
    from edgeq.codegen import conv_int8_ops_for_budget, dsp_flash_estimate_bytes

    g = graph_mod.load(Path(__file__).parent / "fixtures" / "coverage" / "conv2d_autoencoder_int8.tflite")
    convs = [op.index for op in g.main.operators if op.opcode == "CONV_2D"]
    assert set(conv_int8_ops_for_budget(g, 1)) == set(convs)
    packed = {convs[0]: 4}
    assert set(conv_int8_ops_for_budget(g, 1, packed)) == set(convs[1:])
    assert dsp_flash_estimate_bytes(g, {i: 1 for i in convs}) < dsp_flash_estimate_bytes(g)
