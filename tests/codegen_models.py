"""Test helpers for the generated-C path: small Keras models per op/parameter combination, int8 conversion,
the tflite-micro oracle, and host/Arm compilation of the generated sources.

TensorFlow and tflite-micro are imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeq.codegen import host
from edgeq.graph import Graph

HOST_FLAGS = list(host.HOST_CFLAGS)
ARM_CPUS = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"],
    "cortex-m33": ["-mcpu=cortex-m33", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}


# ------------------------------------------------------------------------------------------- models


def _models() -> dict[str, tuple[Callable, dict]]:
    """name -> (builder, converter options). Builders import keras lazily."""
    import keras
    from keras import layers as L

    def inp(*shape):
        return keras.Input(shape=shape, batch_size=1)

    def batch2_conv_fc():
        x = keras.Input(shape=(6, 5, 3), batch_size=2)
        y = L.Conv2D(4, 3, padding="same", activation="relu")(x)
        y = L.DepthwiseConv2D(3, strides=2, padding="same")(y)
        y = L.MaxPooling2D(2, padding="same")(y)
        return keras.Model(x, L.Dense(3)(L.Flatten()(y)))

    def conv_same_relu():
        x = inp(7, 5, 3)
        return keras.Model(x, L.Conv2D(8, 3, padding="same", activation="relu")(x))

    def conv_valid_s2_relu6():
        x = inp(9, 7, 4)
        return keras.Model(x, L.Conv2D(6, (3, 2), strides=2, padding="valid", activation="relu6")(x))

    def conv_dil2_nobias():
        x = inp(8, 8, 3)
        y = L.Conv2D(5, 3, dilation_rate=2, padding="same")(x)
        return keras.Model(x, L.Conv2D(3, 1, use_bias=False)(y))

    def conv_s2_same_even():
        x = inp(8, 6, 2)
        return keras.Model(x, L.Conv2D(4, 3, strides=2, padding="same")(x))

    def dw_m1_same_relu():
        x = inp(7, 5, 3)
        return keras.Model(x, L.DepthwiseConv2D(3, padding="same", activation="relu")(x))

    def dw_m2_s2_valid_relu6():
        x = inp(9, 8, 3)
        return keras.Model(x, L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid",
                                                activation="relu6")(x))

    def dw_m3_dil2_same():
        x = inp(10, 9, 2)
        return keras.Model(x, L.DepthwiseConv2D(3, dilation_rate=2, depth_multiplier=3, padding="same")(x))

    def dw_s2_same():
        x = inp(7, 6, 4)
        return keras.Model(x, L.DepthwiseConv2D((3, 2), strides=2, padding="same")(x))

    def dw_k5x3_s1_relu6():  # stride 1, a non-3x3 window: the Helium channel-planar path's generic tap loop
        x = inp(7, 9, 12)
        return keras.Model(x, L.DepthwiseConv2D((5, 3), padding="same", activation="relu6")(x))

    def dw3x3_narrow():  # Helium planar 3x3 on maps <= 6 wide (row pitch 8): 6 lanes (two groups) and 4, odd rows
        x = inp(5, 6, 12)
        a = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
        return keras.Model(x, [a, L.DepthwiseConv2D(3, padding="valid")(a)])

    def dw3x3_tall():  # 33 rows of 4 lanes: more row pairs than one pass of the narrow loop holds, then the odd row
        x = inp(33, 4, 5)
        return keras.Model(x, L.DepthwiseConv2D(3, padding="same")(x))

    def fc_flatten():
        x = inp(4, 3, 2)
        y = L.Dense(10, activation="relu")(L.Flatten()(x))
        return keras.Model(x, L.Dense(5)(y))

    def fc_nobias_3d():
        x = inp(5, 8)
        y = L.Dense(6, use_bias=False)(x)
        return keras.Model(x, L.Dense(4, activation="relu6")(y))

    def pools():
        x = inp(9, 7, 3)
        y = L.Conv2D(4, 1)(x)
        a = L.AveragePooling2D(2)(y)
        b = L.MaxPooling2D(3, strides=2, padding="same")(y)
        c = L.AveragePooling2D(3, strides=1, padding="same")(y)
        d = L.MaxPooling2D((2, 3), strides=(1, 2), padding="valid")(y)
        return keras.Model(x, [a, b, c, d])

    def add_relu():
        x = inp(6, 5, 3)
        a = L.Conv2D(4, 1)(x)
        b = L.Conv2D(4, 3, padding="same")(x)
        return keras.Model(x, L.ReLU()(L.Add()([a, b])))

    def add_broadcast():
        x = inp(4, 5, 3)
        y = L.Conv2D(3, 1)(x)
        w = L.AveragePooling2D((1, 5))(y)   # (4,1,3): broadcast along W
        h = L.AveragePooling2D((4, 1))(y)   # (1,5,3): broadcast along H
        c = L.Conv2D(1, 1)(x)               # (4,5,1): broadcast along C
        return keras.Model(x, [y + w, y + h, y + c])

    def mul_broadcast():
        x = inp(6, 5, 4)
        y = L.Conv2D(4, 1)(x)
        s = L.GlobalAveragePooling2D(keepdims=True)(y)
        s = L.Dense(4, activation="relu")(s)
        z = L.Conv2D(4, 3, padding="same")(x)
        return keras.Model(x, [y * s, y * z])

    def mean_variants():
        x = inp(6, 5, 4)
        y = L.Conv2D(4, 1)(x)
        a = L.GlobalAveragePooling2D(keepdims=True)(y)
        b = L.GlobalAveragePooling2D()(y)
        c = keras.ops.mean(y, axis=-1)
        return keras.Model(x, [a, b, c])

    def concat_axes():
        x = inp(4, 5, 3)
        a = L.Conv2D(2, 1)(x)
        b = L.Conv2D(2, 3, padding="same")(x)
        c = L.Conv2D(3, 1, activation="relu")(x)
        return keras.Model(x, [L.Concatenate(axis=-1)([a, c]), L.Concatenate(axis=1)([a, b]),
                               L.Concatenate(axis=2)([b, a, b])])

    def pad_conv():
        x = inp(5, 4, 3)
        y = L.ZeroPadding2D(((1, 2), (2, 1)))(x)
        return keras.Model(x, L.Conv2D(4, 3)(y))

    def reshape_squeeze():
        x = inp(4, 4, 2)
        y = L.Conv2D(4, 1)(x)
        y = L.Reshape((8, 8))(y)
        y = L.Dense(3)(y)
        z = L.Conv2D(3, (4, 4))(x)          # (1,1,3)
        z = keras.ops.squeeze(z, axis=(1, 2))
        return keras.Model(x, [y, L.Dense(2)(z)])

    def relu_standalone():
        x = inp(6, 5, 3)
        a = L.Conv2D(3, 1)(L.ReLU()(x))
        b = L.Conv2D(3, 1)(L.ReLU(max_value=6.0)(x))
        return keras.Model(x, [a, b])

    def relu_n1_to_1():
        x = inp(5, 5, 2)
        y = L.Conv2D(4, 3)(x)
        return keras.Model(x, L.Activation(lambda t: keras.ops.clip(t, -1.0, 1.0))(y))

    def ds_cnn(width: int, blocks: int):
        """MLPerf Tiny keyword-spotting DS-CNN shape: conv 10x4/2, `blocks` x (depthwise 3x3 + 1x1), pool, dense."""
        x = inp(49, 10, 1)
        y = L.Conv2D(width, (10, 4), strides=2, padding="same", activation="relu")(x)
        for _ in range(blocks):
            y = L.DepthwiseConv2D(3, padding="same", activation="relu")(y)
            y = L.Conv2D(width, 1, activation="relu")(y)
        y = L.AveragePooling2D((25, 5))(y)
        return keras.Model(x, L.Dense(12)(L.Flatten()(y)))

    def ds_cnn_small():
        return ds_cnn(16, 2)

    def resnet_block():
        x = inp(8, 8, 3)
        y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        z = L.Conv2D(8, 3, padding="same", activation="relu")(y)
        z = L.Conv2D(8, 3, padding="same")(z)
        y = L.ReLU()(L.Add()([y, z]))
        y = L.GlobalAveragePooling2D()(y)
        return keras.Model(x, L.Dense(4)(y))

    def autoencoder():
        x = inp(64)
        y = L.Dense(32, activation="relu")(x)
        y = L.Dense(8, activation="relu")(y)
        y = L.Dense(32, activation="relu")(y)
        return keras.Model(x, L.Dense(64)(y))

    def binary_act_const():
        x = inp(5, 4, 3)
        a = L.Conv2D(3, 1)(x)
        b = L.Conv2D(3, 3, padding="same")(x)
        c = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(1, 4, 3)
        return keras.Model(x, [L.ReLU(6.0)(L.Add()([a, b])), L.ReLU()(L.Multiply()([a, b])),
                               L.Lambda(lambda t: t + c)(a), L.Lambda(lambda t: t * c)(b)])

    def pad_mean_axes():
        x = inp(5, 4, 3)
        y = L.Conv2D(4, 1)(x)
        p = L.Lambda(lambda t: keras.ops.pad(t, ((0, 0), (1, 0), (0, 2), (1, 2))))(y)
        m = L.Lambda(lambda t: keras.ops.mean(t, axis=1, keepdims=True))(y)
        m2 = L.Lambda(lambda t: keras.ops.mean(t, axis=(1, 3)))(y)
        return keras.Model(x, [L.Conv2D(2, 1)(p), m, m2])

    def pool_act_concat_const():
        x = inp(8, 6, 2)
        y = L.Conv2D(4, 1)(x)
        a = L.ReLU()(L.MaxPooling2D(2)(y))
        b = L.ReLU(6.0)(L.AveragePooling2D(2)(y))
        c = np.linspace(-0.5, 0.5, 4 * 3 * 1, dtype=np.float32).reshape(1, 4, 3, 1)
        return keras.Model(x, [a, b, L.Lambda(lambda t: keras.ops.concatenate([t, c], axis=-1))(a)])

    # MLPerf Tiny reference architectures (random weights): realistic sizes for bit-exactness and arena.
    def kws_ds_cnn():
        return ds_cnn(64, 4)

    def ic_resnet8():
        x = inp(32, 32, 3)
        y = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        for filters, stride in ((16, 1), (32, 2), (64, 2)):
            z = L.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(y)
            z = L.Conv2D(filters, 3, padding="same")(z)
            if stride != 1:
                y = L.Conv2D(filters, 1, strides=stride)(y)
            y = L.ReLU()(L.Add()([y, z]))
        y = L.AveragePooling2D(8)(y)
        return keras.Model(x, L.Dense(10)(L.Flatten()(y)))

    def ad_autoencoder():
        x = inp(640)
        y = x
        for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
            y = L.Dense(units, activation="relu")(y)
        return keras.Model(x, L.Dense(640)(y))

    def vww_mobilenet_v1_025():
        x = inp(96, 96, 3)
        y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        for filters, stride in ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1),
                                (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)):
            y = L.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu")(y)
            y = L.Conv2D(filters, 1, activation="relu")(y)
        y = L.AveragePooling2D(3)(y)
        return keras.Model(x, L.Dense(2)(L.Flatten()(y)))

    pc, pt = {}, {"per_channel": False}
    return {
        "conv_same_relu": (conv_same_relu, pc),
        "conv_same_relu_pt": (conv_same_relu, pt),
        "conv_valid_s2_relu6": (conv_valid_s2_relu6, pc),
        "conv_dil2_nobias": (conv_dil2_nobias, pc),
        "conv_s2_same_even": (conv_s2_same_even, pc),
        "dw_m1_same_relu": (dw_m1_same_relu, pc),
        "dw_m2_s2_valid_relu6": (dw_m2_s2_valid_relu6, pc),
        "dw_m2_s2_valid_relu6_pt": (dw_m2_s2_valid_relu6, pt),
        "dw_m3_dil2_same": (dw_m3_dil2_same, pc),
        "dw_s2_same": (dw_s2_same, pc),
        "fc_flatten": (fc_flatten, pc),
        "fc_flatten_pt": (fc_flatten, pt),
        "fc_nobias_3d": (fc_nobias_3d, pc),
        "pools": (pools, pc),
        "add_relu": (add_relu, pc),
        "add_broadcast": (add_broadcast, pc),
        "mul_broadcast": (mul_broadcast, pc),
        "mean_variants": (mean_variants, pc),
        "concat_axes": (concat_axes, pc),
        "pad_conv": (pad_conv, pc),
        "reshape_squeeze": (reshape_squeeze, pc),
        "relu_standalone": (relu_standalone, pc),
        "relu_n1_to_1": (relu_n1_to_1, pc),
        "float_io": (conv_same_relu, {"float_io": True}),
        "ds_cnn_small": (ds_cnn_small, pc),
        "resnet_block": (resnet_block, pc),
        "autoencoder": (autoencoder, pc),
        "binary_act_const": (binary_act_const, pc),
        "batch2_conv_fc": (batch2_conv_fc, {"batch": 2}),
        "pad_mean_axes": (pad_mean_axes, pc),
        "pool_act_concat_const": (pool_act_concat_const, pc),
        "kws_ds_cnn": (kws_ds_cnn, pc),
        "ic_resnet8": (ic_resnet8, pc),
        "ad_autoencoder": (ad_autoencoder, pc),
        "vww_mobilenet_v1_025": (vww_mobilenet_v1_025, pc),
        "dw_k5x3_s1_relu6": (dw_k5x3_s1_relu6, pc),
        "dw3x3_narrow": (dw3x3_narrow, pc),
        "dw3x3_tall": (dw3x3_tall, pc),
    }


MODEL_NAMES = [
    "conv_same_relu", "conv_same_relu_pt", "conv_valid_s2_relu6", "conv_dil2_nobias", "conv_s2_same_even",
    "dw_m1_same_relu", "dw_m2_s2_valid_relu6", "dw_m2_s2_valid_relu6_pt", "dw_m3_dil2_same", "dw_s2_same",
    "fc_flatten", "fc_flatten_pt", "fc_nobias_3d", "pools", "add_relu", "add_broadcast", "mul_broadcast",
    "mean_variants", "concat_axes", "pad_conv", "reshape_squeeze", "relu_standalone", "relu_n1_to_1",
    "float_io", "ds_cnn_small", "resnet_block", "autoencoder", "binary_act_const", "pad_mean_axes",
    "pool_act_concat_const", "batch2_conv_fc",
]
MLPERF_NAMES = ["kws_ds_cnn", "ic_resnet8", "ad_autoencoder", "vww_mobilenet_v1_025"]


def _randomize(model, seed: int) -> None:
    """Non-trivial weights and biases (Keras initializes biases to zero), deterministic per model."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])


def convert(model, *, per_channel: bool = True, float_io: bool = False, quantize: bool | str = True,
            seed: int = 0, batch: int = 1) -> bytes:
    """Keras -> .tflite from a fixed-batch concrete function; full-integer int8 unless quantize=False (float)
    or quantize="dynamic" (dynamic-range: int8 weights, float activations)."""
    import tensorflow as tf

    shapes = [tuple([batch, *[int(d) for d in i.shape[1:]]]) for i in model.inputs]
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    if len(specs) == 1:
        fn = tf.function(lambda a: model(a))
    else:
        fn = tf.function(lambda *a: model(list(a)))
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Freeze Keras 3 variables: otherwise calibration sees READ_VARIABLE ops without their resources.
    cf = convert_variables_to_constants_v2(fn.get_concrete_function(*specs))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf])
    if quantize == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize:
        rng = np.random.default_rng(seed)

        def rep():
            for _ in range(20):
                yield [rng.uniform(-1.0, 1.0, s).astype(np.float32) for s in shapes]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not float_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        if not per_channel:
            conv._experimental_disable_per_channel = True
    return conv.convert()


def build(name: str, seed: int = 1) -> bytes:
    import keras

    builder, opts = _models()[name]
    keras.utils.set_random_seed(seed)
    model = builder()
    _randomize(model, seed)
    return convert(model, **opts)


def build_float(name: str = "conv_same_relu", quantize: bool | str = False) -> bytes:
    """The model as float32 .tflite (quantize=False) or dynamic-range quantized (quantize="dynamic")."""
    import keras

    builder, _ = _models()[name]
    keras.utils.set_random_seed(1)
    return convert(builder(), quantize=quantize)


# ------------------------------------------------------------------------------------------- oracle


def random_inputs(graph: Graph, n: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        xs = []
        for t in graph.inputs:
            if t.dtype == "int8":
                xs.append(rng.integers(-128, 128, size=t.shape, dtype=np.int8))
            else:
                xs.append(rng.uniform(-1.5, 1.5, size=t.shape).astype(np.float32))
        out.append(xs)
    return out


def tflm_run(model: bytes, inputs: list[list[np.ndarray]], n_outputs: int) -> list[list[np.ndarray]]:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model)
    results = []
    for xs in inputs:
        for k, x in enumerate(xs):
            interp.set_input(x, k)
        interp.invoke()
        results.append([np.array(interp.get_output(k)) for k in range(n_outputs)])
    return results


def tflm_arena_bytes(model_path: Path) -> int:
    """TFLM's arena use for this model ("Arena allocation total" of the RecordingMicroAllocator), i.e. what a
    firmware must reserve for the interpreter. tflite-micro's Python API has no arena_used_bytes(); the figure
    is printed from C++, so it is read from a child process's output."""
    import re
    import sys

    code = ("import sys\nfrom tflite_micro.python.tflite_micro import runtime\n"
            "i = runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read())\ni.print_allocations()\n")
    r = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True, text=True,
                       timeout=120)
    m = re.search(r"Arena allocation total (\d+) bytes", r.stdout + r.stderr)
    if not m:
        raise AssertionError(f"no arena figure from tflite-micro: {(r.stdout + r.stderr)[-2000:]}")
    return int(m.group(1))


# ------------------------------------------------------------------------------------------- C build


def write_driver(graph: Graph, path: Path, prefix: str = "edgeq_model") -> None:
    """The host driver (edgeq.codegen.host): reads all inputs per inference from stdin, writes all outputs."""
    host.write_driver(graph, path, prefix)


def _runtime_objects(rt: Path, flags: tuple[str, ...]) -> list[str]:
    """The runtime compiled once per process for each flag set (edgeq.codegen.host.runtime_objects)."""
    return [str(p) for p in host.runtime_objects(rt, flags)]


def compile_host(out_dir: Path, graph: Graph, prefix: str = "edgeq_model", extra_flags: tuple[str, ...] = (),
                 exe_name: str = "model_test") -> host.HostModel:
    """Host build of the generated model + runtime + driver; extra_flags e.g. ("-DEDGEQ_EMULATE_DSP",)."""
    return host.HostModel.compile(graph, out_dir, prefix=prefix, extra_cflags=extra_flags, exe_name=exe_name)


def run_host(exe: host.HostModel, graph: Graph, inputs: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Every input through one run of the host build (compile_host's result); per sample, per output."""
    assert exe.graph is graph or exe.graph.sha256 == graph.sha256, "run_host: executable built for another model"
    return exe.run(inputs, timeout_s=120)


def assert_same_bytes(got: list[list[np.ndarray]], ref: list[list[np.ndarray]], label: str = "") -> int:
    """Every output of every sample byte-identical to tflite-micro's (ref); returns the output bytes compared."""
    compared = 0
    for i, (gy, ry) in enumerate(zip(got, ref)):
        for k, (a, r) in enumerate(zip(gy, ry)):
            r = np.asarray(r).reshape(a.shape).astype(a.dtype)
            assert a.tobytes() == r.tobytes(), (
                f"{label}input #{i} output {k}: {int((a != r).sum())} of {a.size} values differ from TFLM\n"
                f"edgeq: {a.reshape(-1)[:16]}\ntflm:  {r.reshape(-1)[:16]}")
            compared += a.nbytes
    return compared


# The two host builds a DSP path's bit-exactness test compares: the portable C and the emulated DSP (its C code).
HOST_VARIANTS: dict[str, tuple[str, ...]] = {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",)}


def model_dir(tmp_path_factory, name: str, build: Callable[[], bytes]) -> tuple[Path, bytes]:
    """A module fixture's converted model (build()) written to <tmp>/<name>/model.tflite (what the QEMU bench
    reads): (that directory, the model). Skips without tensorflow or tflite-micro."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    root = tmp_path_factory.mktemp(name)
    model = build()
    (root / "model.tflite").write_bytes(model)
    return root, model


def assert_host_variants_bit_exact(model: bytes, graph: Graph, out_dir: Path, inputs: list[list[np.ndarray]],
                                   label: str, exe_prefix: str = "model") -> None:
    """The model generated in out_dir, built for the host in each HOST_VARIANTS flavour (<exe_prefix>_<variant>):
    every output of every input byte-identical to tflite-micro's."""
    ref = tflm_run(model, inputs, len(graph.outputs))
    for variant, flags in HOST_VARIANTS.items():
        exe = compile_host(out_dir, graph, extra_flags=flags, exe_name=f"{exe_prefix}_{variant}")
        assert assert_same_bytes(run_host(exe, graph, inputs), ref, f"{label} ({variant}): ") > 0


def assert_qemu_bit_exact(model_path: Path, core: str = "cortex-m4", samples: int = 3, timeout_s: int = 300,
                          **bench_kw) -> None:
    """`edgeq bench` of the model on QEMU for core (bench_kw: bench_cortexm's other options, e.g. extra_cflags,
    workdir): outputs bit-exact with tflite-micro. Skips without qemu-system-arm or arm-none-eabi-gcc."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    res = bench_cortexm(str(model_path), load_target(core), "qemu", samples=samples, per_op=False,
                        timeout_s=timeout_s, **bench_kw)
    assert res.output_matches_reference is True, (model_path.name, core, bench_kw, res.notes)


def compile_arm(out_dir: Path, cpu: str, sources: list[Path], prefix: str = "edgeq_model") -> None:
    for src in sources:
        cmd = ["arm-none-eabi-gcc", *ARM_CPUS[cpu], *HOST_FLAGS, "-I", str(out_dir),
               "-I", str(out_dir / "edgeq_runtime/include"), "-c", str(src), "-o", "/dev/null"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise AssertionError(f"{cpu}: {src.name} failed to compile:\n{r.stderr[:4000]}")
