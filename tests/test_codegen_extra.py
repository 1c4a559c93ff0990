"""Generated C for the ops unrolled LSTM/GRU, U-Nets and upsampling models need (edgeq/codegen/ops_extra.py,
edgeq/runtime/src/edgeq_extra.c): every one bit-exact with tflite-micro on host builds.

Fast path: the committed probe models of benchmarks/tflm_ops.py (one op each, int8 with float I/O) need no
TensorFlow. Slow path: Keras layers with the parameter variants that matter (broadcasting, fused activations,
align_corners/half-pixel resizing, strides and paddings of Conv2DTranspose), converted here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import codegen_models as cm
import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, render
from edgeq.codegen.ops_extra import bilinear_table, nearest_map
from edgeq.errors import CodegenError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tflm_ops"
EXTRA_OPS = ["SPLIT", "SPLIT_V", "UNPACK", "PACK", "SUB", "SQUARED_DIFFERENCE", "RESIZE_NEAREST_NEIGHBOR",
             "RESIZE_BILINEAR", "TRANSPOSE_CONV", "GATHER", "BATCH_MATMUL", "SLICE", "MAXIMUM", "MINIMUM"]


def compare_with_tflm(model: bytes, out_dir: Path, n: int = 6, seed: int = 0) -> int:
    """Generate, build on the host, run n random inputs through it and tflite-micro; assert identical bytes."""
    g = graph_mod.parse(model)
    generate(g, out_dir)
    inputs = cm.random_inputs(g, n, seed)
    if any(t.dtype == "int16" for t in g.inputs):  # int16x8 with integer I/O: full int16 range
        rng = np.random.default_rng(seed)
        inputs = [[rng.integers(-32768, 32768, size=t.shape, dtype=np.int16) for t in g.inputs] for _ in range(n)]
    ref = cm.tflm_run(model, inputs, len(g.outputs))
    exe = cm.compile_host(out_dir, g)
    return cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref)


@pytest.mark.parametrize("op", EXTRA_OPS)
def test_probe_model_bit_exact(op, tmp_path):
    pytest.importorskip("tflite_micro")
    model = (FIXTURES / f"{op.lower()}_int8.tflite").read_bytes()
    g = graph_mod.parse(model)
    assert op in {o.opcode for o in g.main.operators}
    assert compare_with_tflm(model, tmp_path, n=8) > 0


def test_nearest_map_matches_integer_upsampling():
    # align_corners=False, half_pixel_centers=False with an integer factor is the repeat Keras computes
    assert nearest_map(3, 6, False, False) == [0, 0, 1, 1, 2, 2]
    assert nearest_map(3, 6, False, True) == [0, 0, 1, 1, 2, 2]
    assert nearest_map(3, 5, True, False) == [0, 1, 1, 2, 2]  # round half away: 0.5 -> 1, 1.5 -> 2


def test_bilinear_table_weights():
    tab = np.array(bilinear_table(2, 4, False, False)).reshape(-1, 3)
    assert tab.tolist() == [[0, 0, 0], [0, 1, 512], [1, 1, 0], [1, 1, 512]]
    tab = np.array(bilinear_table(2, 4, False, True)).reshape(-1, 3)
    assert tab[0].tolist() == [0, 0, -256]  # half-pixel border: TFLM's negative weight, kept


def test_op_without_c_names_op_layer_and_tflm_workaround():
    g = graph_mod.parse((FIXTURES / "mirror_pad_int8.tflite").read_bytes())
    sg = g.main
    t = sg.tensors[next(o for o in sg.operators if o.opcode == "MIRROR_PAD").outputs[0]]
    renamed = dataclasses.replace(t, name="functional_1/my_reflect_pad_1/MirrorPad")
    tensors = tuple(renamed if x.index == t.index else x for x in sg.tensors)
    g = dataclasses.replace(g, subgraphs=(dataclasses.replace(sg, tensors=tensors),))
    with pytest.raises(CodegenError) as e:
        render(g)
    msg = str(e.value) + " " + (e.value.hint or "")
    assert "MIRROR_PAD" in msg and "Keras layer 'my_reflect_pad'" in msg and "TFLM export" in msg


# ------------------------------------------------------------------------------------- slow: Keras


def _keras_models() -> dict:
    import keras
    from keras import layers as L

    def inp(*shape):
        return keras.Input(shape=shape, batch_size=1)

    def sub_broadcast_relu():
        x = inp(4, 5, 3)
        a = L.Conv2D(3, 1)(x)
        b = L.AveragePooling2D((4, 1))(a)
        return keras.Model(x, [L.ReLU()(L.Subtract()([a, b])), a - L.Conv2D(1, 1)(x),
                               keras.ops.square(a - b)])

    def resize_variants():
        x = inp(5, 4, 3)
        y = L.Conv2D(3, 1)(x)
        return keras.Model(x, [L.Resizing(9, 7, interpolation="bilinear")(y),
                               L.Resizing(3, 2, interpolation="bilinear")(y),
                               L.Resizing(10, 12, interpolation="nearest")(y),
                               L.UpSampling2D((2, 3), interpolation="bilinear")(y)])

    def tconv_variants():
        x = inp(5, 4, 3)
        y = L.Conv2D(4, 1)(x)
        return keras.Model(x, [L.Conv2DTranspose(5, 3, strides=2, padding="same", activation="relu")(y),
                               L.Conv2DTranspose(3, (2, 3), strides=(1, 2), padding="valid")(y),
                               L.Conv2DTranspose(2, 4, strides=3, padding="same", use_bias=False)(y)])

    def lstm():
        x = inp(8, 5)
        return keras.Model(x, L.Dense(4)(L.LSTM(12, unroll=True)(x)))

    def gru():
        x = inp(8, 5)
        return keras.Model(x, L.Dense(4)(L.GRU(12, unroll=True)(x)))

    return {"sub_broadcast_relu": sub_broadcast_relu, "resize_variants": resize_variants,
            "tconv_variants": tconv_variants, "lstm": lstm, "gru": gru}


def build_keras(name: str, builder, seed: int = 1) -> bytes:
    import keras

    keras.utils.set_random_seed(seed)
    model = builder()
    cm._randomize(model, seed)
    return cm.convert(model)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sub_broadcast_relu", "resize_variants", "tconv_variants", "lstm", "gru"])
def test_keras_layers_bit_exact(name, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    model = build_keras(name, _keras_models()[name])
    assert compare_with_tflm(model, tmp_path, n=6) > 0


QEMU_MODELS = ["unet", "gru_classifier", "lstm_classifier"]


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("target_name", ["cortex-m4", "cortex-m0plus"])
def test_new_ops_bit_exact_on_emulated_cortex_m(target_name):
    """RESIZE_NEAREST_NEIGHBOR, TRANSPOSE_CONV, SPLIT, UNPACK, PACK, SUB in firmware on the emulated core, checked by
    the harness against tflite-micro byte for byte (committed coverage models: no TensorFlow needed)."""
    import shutil

    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    target = load_target(target_name)
    cov = Path(__file__).resolve().parent / "fixtures" / "coverage"
    names = QEMU_MODELS if target_name == "cortex-m4" else QEMU_MODELS[:1]
    for name in names:
        res = bench_cortexm(str(cov / f"{name}_int8.tflite"), target, "qemu", samples=2, per_op=False,
                            timeout_s=300)
        assert res.output_matches_reference is True, (name, target_name, res.notes)


# ------------------------------------------------------------------------------------- int16x8

INT16_OPS = ["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "SQUARED_DIFFERENCE",
             "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "PAD", "RESHAPE", "STRIDED_SLICE", "TRANSPOSE",
             "SPLIT", "SPLIT_V", "UNPACK", "PACK", "RESIZE_NEAREST_NEIGHBOR", "RELU", "RELU6", "MEAN", "TRANSPOSE_CONV",
             "SLICE", "MAXIMUM", "MINIMUM", "LOGISTIC", "TANH", "SOFTMAX"]


@pytest.mark.parametrize("op", INT16_OPS)
def test_int16x8_probe_model_bit_exact(op, tmp_path):
    """int16 activations (float I/O: QUANTIZE float->int16 and DEQUANTIZE at the edges) through the int16 emitters."""
    pytest.importorskip("tflite_micro")
    model = (FIXTURES / f"{op.lower()}_int16x8.tflite").read_bytes()
    g = graph_mod.parse(model)
    assert any(o.opcode == op and any(g.main.tensors[i].dtype == "int16" for i in o.outputs)
               for o in g.main.operators)
    assert compare_with_tflm(model, tmp_path, n=6) > 0


def test_int16x8_op_without_c_kernel_is_named():
    g = graph_mod.parse((FIXTURES / "leaky_relu_int16x8.tflite").read_bytes())
    with pytest.raises(CodegenError) as e:
        render(g)
    assert "LEAKY_RELU" in str(e.value) and "int16" in str(e.value) and "FULLY_CONNECTED" in str(e.value)


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m55"])
def test_new_kernels_cross_compile_warning_free(cpu, tmp_path):
    """The int16 kernels and a model using them build with arm-none-eabi-gcc -Wall -Wextra -Werror (the Cortex-M
    harness runs int8-I/O models only, so int16 I/O is checked on the host and compiled here)."""
    import shutil

    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    cov = Path(__file__).resolve().parent / "fixtures" / "coverage"
    for name in ("conv1d_audio_int16x8", "unet_int8"):
        out = tmp_path / name
        generate(graph_mod.parse((cov / f"{name}.tflite").read_bytes()), out)
        srcs = [out / "edgeq_model.c", out / "edgeq_runtime/src/edgeq_extra.c", out / "edgeq_runtime/src/edgeq_int16.c"]
        cm.compile_arm(out, cpu, srcs)


def test_synthetic_int16_chain_renders_and_unsupported_int16_op_is_named():
    """A graph whose activations are all int16 (conv, reshape view, add, relu) now generates; an int16 op without an
    int16 kernel (LEAKY_RELU) is named with the list of int16 ops the generated C has."""
    from edgeq.graph import Graph, Operator, QuantParams, Subgraph, Tensor

    def t(i, shape, dtype="int16", data=None):
        return Tensor(i, f"t{i}", tuple(shape), dtype, 0, QuantParams((0.01,), (0,)), data)

    ts = (t(0, (1, 4, 4, 2)), t(1, (1, 4, 4, 2)), t(2, (1, 4, 4, 2)), t(3, (1, 4, 4, 2)),
          t(4, (2, 1, 1, 2), "int8", bytes(4)), t(5, (1, 4, 4, 2)))
    ops = (Operator(0, "CONV_2D", 1, (0, 4), (1,)), Operator(1, "ADD", 1, (1, 0), (2,)),
           Operator(2, "RELU", 1, (2,), (3,)), Operator(3, "RESHAPE", 1, (3,), (5,)))
    g = Graph("<synthetic>", 0, "0" * 64, 3, "", (Subgraph("main", ts, ops, (0,), (5,)),), (), b"")
    src = render(g)
    assert "edgeq_conv2d_s16" in src.files["edgeq_model.c"] and "int16_t" in src.files["edgeq_model.h"]
    bad = dataclasses.replace(g.main, operators=(*ops[:2], dataclasses.replace(ops[2], opcode="LEAKY_RELU"), ops[3]))
    with pytest.raises(CodegenError) as e:
        render(dataclasses.replace(g, subgraphs=(bad,)))
    assert "op #2 LEAKY_RELU" in str(e.value) and "int16" in str(e.value) and "CONV_2D" in str(e.value)
