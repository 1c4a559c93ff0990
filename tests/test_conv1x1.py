"""The DSP 1x1 CONV_2D paths (edgeq_conv1x1.c) are bit-exact with tflite-micro: ReLU-like layers (output zero point
-128, activation range the whole int8 range: ReLU, ReLU6 on [0, 6]) take the whole-channel-loop block whose
requantization drops the rounding's sign correction, other 1x1 layers the shared 3 x 2 block, in_c 4 the windows
path. Shapes: in_c 8 / 12 / 16 / 20 / 24 / 32 / 36 / 72 (every entry point of the MAC loop after the block's first
group, one and more passes), pixel counts leaving 0, 1 or 2 pixels to the 2 x 2 tail, odd out_c, stride 2, batch 2,
per-tensor and per-channel quantization. Host builds (plain C and the DSP path with C models of the instructions: the
asm block's C twin) and QEMU runs of the asm (cortex-m4 at -O2 and -Os, cortex-m7).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate

N_INPUTS = 12


def _model(batch: int):
    import keras
    from keras import layers as L

    x = keras.Input(shape=(5, 7, 16), batch_size=batch)      # 35 pixels: 11 blocks of 3 + 2 left
    y = keras.Input(shape=(4, 4, 8), batch_size=batch)       # 16 pixels: 1 left (batch 2: 32, 2 left)
    z = keras.Input(shape=(3, 3, 12), batch_size=batch)      # 9 pixels: none left; 3 groups of 4 taps (odd)
    u = keras.Input(shape=(1, 2, 16), batch_size=batch)      # 2 pixels (batch 2: 4): under 3, the 2 x 2 block
    outs = [
        L.Conv2D(16, 1, activation="relu6")(x),                # ReLU6: the asm block
        L.Conv2D(10, 1, activation="relu")(L.Conv2D(32, 1, activation="relu")(x)),  # in_c 32 -> 10
        L.Conv2D(7, 1, activation="relu")(x),                  # odd out_c: the shared block
        L.Conv2D(12, 1, strides=2, activation="relu6")(x),     # stride 2 (3 x 4 pixels)
        L.Conv2D(6, 1)(x),                                     # no activation: the shared block
        L.Conv2D(8, 1, activation="relu")(y),                  # in_c 8 (the stream's two-group block)
        L.Conv2D(12, 1, strides=2, activation="relu")(y),      # in_c 8, stride 2: a call a block (batch 2: 8 pixels)
        L.Conv2D(4, 1, activation="relu")(L.Conv2D(4, 1)(y)),  # in_c 4: the windows path
        L.Conv2D(14, 1, activation="relu")(z),                 # in_c 12: odd group count
        # in_c 20 and 36: after the block's first group 4 and 8 left (the MAC loop entered mid-way, at its top)
        L.Conv2D(6, 1, activation="relu")(L.Conv2D(36, 1, activation="relu")(L.Conv2D(20, 1, activation="relu")(z))),
        # in_c 24 and 72: the MAC loop (eight groups a pass) entered at its group 3 and at its last one with two whole
        # passes after it (with 8, 12, 16, 20, 32 and 36 above: entries 7, 6, 5, 4, 1, 0; the windows test's K 28: 2)
        L.Conv2D(6, 1, activation="relu")(L.Conv2D(72, 1, activation="relu")(L.Conv2D(24, 1, activation="relu")(z))),
        L.Conv2D(6, 1, activation="relu")(u),
    ]
    return keras.Model([x, y, z, u], outs)


_CACHE: dict[str, bytes] = {}


def _tflite(name: str) -> bytes:
    if name not in _CACHE:
        import keras

        batch = 2 if name == "batch2" else 1
        keras.utils.set_random_seed(5)
        model = _model(batch)
        cm._randomize(model, 5)
        _CACHE[name] = cm.convert(model, per_channel=name != "per_tensor", batch=batch)
    return _CACHE[name]


def _relu_like_1x1(src: str) -> int:
    """1x1 CONV_2D params in the generated C that the ReLU-like block takes (even out_c, zero point and range)."""
    n = 0
    for body in re.findall(r"static const edgeq_conv2d_params \w+ = \{\n(.*?)\n\};", src, re.S):
        f = dict(re.findall(r"\.(\w+) = (-?\w+)", body))
        if (f["k_h"], f["k_w"]) == ("1", "1") and f["out_offset"] == "-128" and f["act_min"] == "-128" and \
                f["act_max"] == "127" and int(f["out_c"]) % 2 == 0 and int(f["in_c"]) % 4 == 0 and \
                int(f["in_c"]) >= 8 and f["rq"] != "NULL" and f["w16"] != "NULL" and \
                int(f["batches"]) * int(f["out_h"]) * int(f["out_w"]) >= 3:
            n += 1
    return n


@pytest.mark.slow
@pytest.mark.parametrize("name", ["per_channel", "per_tensor", "batch2"])
def test_conv1x1_bit_exact_on_host(name, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    model = _tflite(name)
    g = graph_mod.parse(model)
    generate(g, tmp_path)
    # the model reaches the ReLU-like block: 16, 32 and 10 (in_c 32), 12 (stride 2), 8 and 14 (in_c 12) channels;
    # (batch 2: the 2-pixel one too); its stream replaces their w16
    src = (tmp_path / "edgeq_model.c").read_text()
    assert _relu_like_1x1(src) == 13 + (name == "batch2") == src.count(".bias_eff = NULL")  # (the stream's mark)
    w16_sizes = sorted(int(n) for n in re.findall(r"static const int32_t \w*w16\w*\[(\d+)\]", src))
    shapes = [(16, 16), (16, 32), (32, 10), (16, 12), (8, 8), (12, 14), (12, 24), (24, 72), (72, 6)]
    shapes += [(16, 6)] * (name == "batch2")
    stream = [oc // 2 * (2 + ic + 6) for ic, oc in shapes]  # per pair: 2 biases, in_c words, 2 x {m, c, e}
    assert all(n in w16_sizes for n in stream), (stream, w16_sizes)
    inputs = cm.random_inputs(g, N_INPUTS, 1)
    ref = cm.tflm_run(model, inputs, len(g.outputs))
    for variant, flags in {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",)}.items():
        exe = cm.compile_host(tmp_path, g, extra_flags=flags, exe_name=f"c1_{variant}")
        cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref, f"{name} ({variant}): ")


# The asm runs on QEMU in the builds that compile it: the M4 at -O2 and -Os (EDGEQ_ASM_REGS holds there too), the M7.
QEMU_BUILDS = pytest.mark.parametrize("target_name,cflags", [
    ("cortex-m4", ()), ("cortex-m4", ("-Os",)), ("cortex-m7", ())], ids=["m4", "m4-Os", "m7"])


@pytest.mark.slow
@pytest.mark.qemu
@QEMU_BUILDS
def test_conv1x1_bit_exact_on_emulated_cortex_m4(target_name, cflags, tmp_path):
    """The asm block itself (SMLAD/SMMLAR on QEMU's Cortex-M4) against tflite-micro, byte for byte."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    path = Path(tmp_path) / "c1.tflite"
    path.write_bytes(_tflite("batch2"))
    res = bench_cortexm(str(path), load_target(target_name), "qemu", samples=3, per_op=False, timeout_s=300,
                        extra_cflags=cflags)
    assert res.output_matches_reference, res


def _windows_model(batch: int):
    """ReLU-like windows layers of the 3-pixel block (K rounded up to words >= 24) on the stream, others not."""
    import keras
    from keras import layers as L

    x = keras.Input(shape=(11, 9, 3), batch_size=batch)      # VWW L0-like: 3x3 s2 SAME 3 -> 8 (K 27, rows of 9 B)
    y = keras.Input(shape=(13, 6, 1), batch_size=batch)      # KWS L0-like: 10x4 s2 1 -> 16 (K 40)
    z = keras.Input(shape=(6, 7, 16), batch_size=batch)      # 3x3 16 -> 16 (K 144), VALID: 4 x 5 = 20 pixels, 2 left
    w = keras.Input(shape=(7, 21, 3), batch_size=batch)      # K 27 rows long enough for runs of blocks in one call
    outs = [
        L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x),   # 6 x 5 = 30 pixels: none left
        L.Conv2D(16, (10, 4), strides=2, padding="same", activation="relu")(y),  # 7 x 3 = 21
        L.Conv2D(16, 3, activation="relu6")(z),                             # 20 pixels: the last three again
        L.Conv2D(10, 3, padding="same", activation="relu")(z),              # 42 pixels, borders gathered
        L.Conv2D(16, 3)(z),                                                 # no activation: the shared block
        L.Conv2D(7, 3, activation="relu")(z),                               # odd out_c: the shared block
        L.Conv2D(6, 2, activation="relu")(x),                               # K 12: the 2 x 2 block
        # runs of in-place blocks gathered and run by one eq_c1_pairs3 call: 5 x 19 (runs of 6 a row, then a block
        # across two rows, the last two pixels again), 4 x 11 s2 SAME (runs of 3 after the left border's block)
        L.Conv2D(8, 3, activation="relu")(w),
        L.Conv2D(12, 3, strides=2, padding="same", activation="relu")(w),
    ]
    return keras.Model([x, y, z, w], outs)


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 2])
def test_conv_windows_stream_bit_exact_on_host(batch, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    import keras

    keras.utils.set_random_seed(7)
    model = _windows_model(batch)
    cm._randomize(model, 7)
    tfl = cm.convert(model, per_channel=True, batch=batch)
    _CACHE[f"windows{batch}"] = tfl
    g = graph_mod.parse(tfl)
    generate(g, tmp_path)
    src = (tmp_path / "edgeq_model.c").read_text()
    assert src.count(".bias_eff = NULL") == 6  # the six ReLU-like layers of K >= 24 and even out_c
    inputs = cm.random_inputs(g, N_INPUTS, 1)
    ref = cm.tflm_run(tfl, inputs, len(g.outputs))
    for variant, flags in {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",)}.items():
        exe = cm.compile_host(tmp_path, g, extra_flags=flags, exe_name=f"cw_{variant}")
        cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref, f"windows batch {batch} ({variant}): ")


@pytest.mark.slow
@pytest.mark.qemu
@QEMU_BUILDS
def test_conv_windows_stream_bit_exact_on_emulated_cortex_m4(target_name, cflags, tmp_path):
    """The windows path's stream (the asm block on QEMU's Cortex-M4) against tflite-micro, byte for byte."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    import keras

    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    if "windows2" not in _CACHE:
        keras.utils.set_random_seed(7)
        model = _windows_model(2)
        cm._randomize(model, 7)
        _CACHE["windows2"] = cm.convert(model, per_channel=True, batch=2)
    path = Path(tmp_path) / "cw.tflite"
    path.write_bytes(_CACHE["windows2"])
    res = bench_cortexm(str(path), load_target(target_name), "qemu", samples=3, per_op=False, timeout_s=300,
                        extra_cflags=cflags)
    assert res.output_matches_reference, res
