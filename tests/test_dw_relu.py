"""EDGEQ_DW_RELU_ONLY (edgeq_dwconv.c, written by edgeq/codegen/scratch.py into a model's edgeq_config.h): when every
3x3 depthwise layer the M4 assembly takes is ReLU-like (output zero point -128 = act_min, act_max 127), that
assembly drops the "acc < 0" rounding correction of its requantization (a negative sum gives -128 either way) and
takes only ReLU-like layers; any other layer runs the per-pixel C loop. One ReLU model aims at every assembly path
(planar stride 1 and 2 incl. the 12-wide stride-2 rows, 6 x 6 whole maps, padded narrow rows, per-pixel windows
with clipped borders; batch 2): the generator sets the switch, and the M4 build is bit-exact with tflite-micro. The
same layers plus a linear one: the generator leaves it off, and forcing it on (-D) stays bit-exact (the linear layer
leaves the assembly). Every layer's scales are set so its multiplier is exactly 2^-9 (m = 2^30): rounding ties
are common, so a requantization that dropped the correction where it matters (a negative sum of a layer that is not
ReLU-like) would differ from tflite-micro."""

from __future__ import annotations

import shutil

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, scratch

pytestmark = pytest.mark.slow


def _model(linear: bool) -> bytes:
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(7)
    xa = keras.Input(shape=(12, 20, 8), batch_size=2)
    xb = keras.Input(shape=(6, 6, 16), batch_size=2)
    xc = keras.Input(shape=(3, 3, 32), batch_size=2)
    xd = keras.Input(shape=(9, 24, 4), batch_size=2)
    outs = [
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xa),                # planar, stride 1, 20 wide
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(xa),    # per pixel, clipped right/bottom
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xb),                # 6 x 6 whole maps
        L.DepthwiseConv2D(3, padding="same", activation="relu")(xc),                # padded rows, 3 wide
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(xd),     # planar, stride 2, 12 wide
    ]
    if linear:
        outs.append(L.DepthwiseConv2D(3, padding="same")(xa))                       # full range: not ReLU-like
    model = keras.Model([xa, xb, xc, xd], outs)
    cm._randomize(model, 7)
    return _tie_scales(cm.convert(model, batch=2))


def _tie_scales(model: bytes) -> bytes:
    """Each DEPTHWISE_CONV_2D's weight scales 2^-7, bias scales s_in * 2^-7, output scale 4 s_in (zero points kept):
    the multiplier s_in * s_w / s_out is exactly 2^-9, so the int8 outputs (mostly inside the range) often sit on a
    rounding tie."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    m = fbu.convert_bytearray_to_object(bytearray(model))
    sg = m.subgraphs[0]
    codes = [c.builtinCode if c.builtinCode else c.deprecatedBuiltinCode for c in m.operatorCodes]
    for op in sg.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.DEPTHWISE_CONV_2D:
            continue
        x, w, b = (sg.tensors[i] for i in op.inputs[:3])
        s_in = float(x.quantization.scale[0])
        w.quantization.scale = [2.0 ** -7] * len(w.quantization.scale)
        b.quantization.scale = [s_in * 2.0 ** -7] * len(b.quantization.scale)
        sg.tensors[op.outputs[0]].quantization.scale = [s_in * 4.0]
    return bytes(fbu.convert_object_to_bytearray(m))


def _needs_tools():
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")


def _generated(model: bytes, out) -> str:
    generate(graph_mod.parse(model), out)
    text = (out / "edgeq_model.c").read_text()
    m = [int(a.split("{")[1].split(",")[0]) for a in text.split("_rq[")[1:]]
    assert m and set(m) == {1 << 30}  # every layer's multiplier 2^-9 exactly (_tie_scales)
    return text


def _m4(model: bytes, root, cflags=()) -> None:
    root.mkdir()
    (root / "model.tflite").write_bytes(model)
    cm.assert_qemu_bit_exact(root / "model.tflite", "cortex-m4", workdir=root / "fw", extra_cflags=list(cflags))


@pytest.mark.qemu
def test_relu_only_switch_set_and_bit_exact_on_cortex_m4(tmp_path):
    _needs_tools()
    model = _model(linear=False)
    text = _generated(model, tmp_path / "gen")
    assert text.count(".dw_w = w_op") == 5 and scratch.dw_relu_only(text)
    assert "#define EDGEQ_DW_RELU_ONLY 1" in (tmp_path / "gen" / "edgeq_runtime" / "include" /
                                              "edgeq_config.h").read_text()
    _m4(model, tmp_path / "m4")


@pytest.mark.qemu
def test_relu_only_forced_on_a_linear_layer_bit_exact_on_cortex_m4(tmp_path):
    _needs_tools()
    model = _model(linear=True)
    text = _generated(model, tmp_path / "gen")
    assert text.count(".dw_w = w_op") == 6 and not scratch.dw_relu_only(text)
    assert "EDGEQ_DW_RELU_ONLY" not in (tmp_path / "gen" / "edgeq_runtime" / "include" / "edgeq_config.h").read_text()
    _m4(model, tmp_path / "m4", ["-DEDGEQ_DW_RELU_ONLY=1"])
