"""CONV_2D (edgeq_conv.c) is bit-exact with tflite-micro on every code path: plain C, the DSP path (host, with C
models of SXTB16/SMLAD), and on emulated Cortex-M4 (DSP), Cortex-M0+ (plain C) and Cortex-M55 (Helium).

The models aim at the kernel's cases: 1x1 (input depths that are and are not multiples of 4 and 16, stride 2,
batch 2, pixel counts that leave 0, 1 or 2 pixels to the 2 x 2 block after the 3-pixel one), KxK with windows
gathered whole or read in place with only the border gathered, filters too large for
the scratch, few-channel first layers (3 channels stride 2, 1 channel 10x4), dilation, per-tensor
quantization, and every requantization (short `rq` and the full MultiplyByQuantizedMultiplier).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import codegen_models as cm
import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, ops_core

N_INPUTS = 20


def _conv_models() -> dict:
    import keras
    from keras import layers as L

    def inp(*shape, batch=1):
        return keras.Input(shape=shape, batch_size=batch)

    def conv1x1():
        x = inp(5, 7, 24)
        a = L.Conv2D(9, 1, activation="relu")(x)                   # 24 = 16 + 8: vector tail
        b = L.Conv2D(16, 1, strides=2)(a)                           # depth 9: not a multiple of 4
        c = L.Conv2D(20, 1, activation="relu6")(L.Conv2D(64, 1)(x))  # 64: whole vectors
        return keras.Model(x, [b, c])

    def conv1x1_tail():
        x = inp(4, 4, 16)  # 16 pixels: the 3-pixel 1x1 block leaves one to the 2 x 2 block; odd channel count
        return keras.Model(x, [L.Conv2D(7, 1, activation="relu6")(x), L.Conv2D(8, 1)(L.Conv2D(12, 1)(x))])

    def conv1x1_batch2():
        x = inp(3, 5, 8, batch=2)
        return keras.Model(x, [L.Conv2D(7, 1, activation="relu")(x), L.Conv2D(4, 1, strides=2)(x)])

    def conv3x3():
        x = inp(9, 10, 16)
        a = L.Conv2D(12, 3, padding="same", activation="relu")(x)  # 144-byte windows: all gathered
        b = L.Conv2D(8, 3, strides=2, padding="valid")(x)
        y = L.Conv2D(64, 1)(x)
        c = L.Conv2D(6, 3, padding="same")(y)                       # 576 bytes: rows in place, border gathered
                                                                    # (Helium), 1 pixel x 4 channels (DSP)
        d = L.Conv2D(5, (3, 2), strides=(2, 1), padding="same")(L.Conv2D(96, 1)(x))  # 576 bytes, 2 rows wide
        return keras.Model(x, [a, b, c, d])

    def conv3x3_k288():
        x = inp(7, 8, 32)
        a = L.Conv2D(10, 3, padding="same", activation="relu")(x)  # 288-byte windows: 3 pixels x 2 channels (DSP)
        b = L.Conv2D(7, 3, strides=2, padding="same")(x)            # odd channel count, clipped windows gathered
        return keras.Model(x, [a, b])

    def conv_large():
        x = inp(6, 7, 160)
        a = L.Conv2D(4, 3, padding="same")(x)                       # 1440 bytes: larger than the scratch
        b = L.Conv2D(3, 3, padding="same", dilation_rate=2)(L.Conv2D(40, 1)(x))  # dilation: gathered
        # 1350 bytes, rows of 450 (not whole vectors: the Helium fallback's predicated tail), 5 channels
        c = L.Conv2D(5, 3, padding="same", activation="relu")(L.Conv2D(150, 1)(x))
        return keras.Model(x, [a, b, c])

    def conv_chunks(batch):
        # windows over the scratch (K4 > 320, in_c a multiple of 4): 3 pixels x 2 channels in chunks of K (DSP)
        x = inp(7, 8, 64, batch=batch)                              # 56 (112) pixels: a 2 (1)-pixel tail
        a = L.Conv2D(64, 3, padding="same", activation="relu")(x)   # IC's 64->64: whole-row chunks, 32 pairs
        b = L.Conv2D(85, 3, strides=2, activation="relu6")(x)       # 43 pairs: two channel blocks, part rows
        c = L.Conv2D(7, (1, 5), padding="same")(L.Conv2D(100, 1)(x))  # one 500-byte row: chunks split taps
        d = L.Conv2D(6, 3, padding="same", dilation_rate=2)(L.Conv2D(48, 1)(x))  # 432 bytes, dilated
        return keras.Model(x, [a, b, c, d])

    def first_layers():
        x = inp(17, 19, 3)
        a = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)   # VWW's first layer
        b = L.Conv2D(5, (5, 4), padding="valid")(x)
        c = L.Conv2D(16, 3, padding="same")(x)                                  # IC's first layer (stride 1)
        d = L.Conv2D(4, 3, padding="valid", dilation_rate=(2, 1))(x)            # rows of 9 bytes, dilated rows
        return keras.Model(x, [a, b, c, d])

    def borders():
        # clipped windows gathered row by row (the windows path): rows clipped left and right at once (kernel wider
        # than the image), whole rows above/below, the image's last bytes read tap by tap, 1- and 3-channel rows
        x = inp(5, 3, 1)
        y = inp(4, 4, 3)
        a = L.Conv2D(6, (10, 4), strides=2, padding="same", activation="relu")(x)  # K 40, lead and tail clipped
        b = L.Conv2D(4, (3, 5), padding="same")(x)                                  # K 15: the 2 x 2 block
        c = L.Conv2D(8, 5, padding="same", activation="relu")(y)                    # K 75, 16 pixels all clipped
        d = L.Conv2D(5, 3, strides=2, padding="same")(y)                            # K 27, right/bottom clipped
        return keras.Model([x, y], [a, b, c, d])

    def kws_first():
        x = inp(49, 10, 1)
        return keras.Model(x, L.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False)(x))

    pc, pt = {}, {"per_channel": False}
    return {"conv1x1": (conv1x1, pc), "conv1x1_pt": (conv1x1, pt), "conv1x1_batch2": (conv1x1_batch2, {"batch": 2}),
            "conv1x1_tail": (conv1x1_tail, pc),
            "conv3x3": (conv3x3, pc), "conv3x3_pt": (conv3x3, pt), "conv3x3_k288": (conv3x3_k288, pc),
            "conv_large": (conv_large, pc),
            "conv_chunks": (lambda: conv_chunks(1), pc),
            "conv_chunks_b2_pt": (lambda: conv_chunks(2), {"batch": 2, **pt}),
            "first_layers": (first_layers, pc), "kws_first": (kws_first, pc), "borders": (borders, pc)}


CONV_MODELS = ["conv1x1", "conv1x1_pt", "conv1x1_batch2", "conv1x1_tail", "conv3x3", "conv3x3_pt", "conv3x3_k288",
               "conv_large", "conv_chunks", "conv_chunks_b2_pt",
               "first_layers", "kws_first", "borders"]


class _Models:
    def __init__(self, root: Path):
        self.root = root
        self._bytes: dict[str, bytes] = {}

    def tflite(self, name: str) -> bytes:
        if name not in self._bytes:
            import keras

            builder, opts = _conv_models()[name]
            keras.utils.set_random_seed(3)
            model = builder()
            cm._randomize(model, 3)
            self._bytes[name] = cm.convert(model, **opts)
            (self.root / f"{name}.tflite").write_bytes(self._bytes[name])
        return self._bytes[name]

    def path(self, name: str) -> Path:
        self.tflite(name)
        return self.root / f"{name}.tflite"


@pytest.fixture(scope="session")
def conv_models(tmp_path_factory) -> _Models:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    return _Models(tmp_path_factory.mktemp("conv_models"))


def _compare_host(name: str, model: bytes, out_dir: Path, flash_budget_bytes: int | None = None) -> None:
    g = graph_mod.parse(model)
    generate(g, out_dir, flash_budget_bytes=flash_budget_bytes)
    inputs = cm.random_inputs(g, N_INPUTS, 0)
    ref = cm.tflm_run(model, inputs, len(g.outputs))
    for variant, flags in {"portable": (), "dsp": ("-DEDGEQ_EMULATE_DSP",)}.items():
        exe = cm.compile_host(out_dir, g, extra_flags=flags, exe_name=f"conv_{variant}")
        cm.assert_same_bytes(cm.run_host(exe, g, inputs), ref, f"{name} ({variant}): ")


@pytest.mark.slow
@pytest.mark.parametrize("name", CONV_MODELS)
def test_conv_bit_exact_on_host(conv_models, name, tmp_path):
    _compare_host(name, conv_models.tflite(name), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["conv1x1", "conv3x3_pt", "first_layers"])
def test_conv_bit_exact_with_general_requantization(conv_models, name, tmp_path, monkeypatch):
    monkeypatch.setattr(ops_core, "FAST_REQUANT", False)
    _compare_host(name, conv_models.tflite(name), tmp_path)
    assert ".rq = NULL" in (tmp_path / "edgeq_model.c").read_text()


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("target_name", ["cortex-m55", "cortex-m4", "cortex-m0plus"])
def test_conv_bit_exact_on_emulated_cortex_m(conv_models, target_name, tmp_path, monkeypatch):
    """Real MVE (M55), SXTB16/SMLAD (M4) and plain C (M0+) code against tflite-micro, byte for byte; on the M55
    also with the full MultiplyByQuantizedMultiplier (the vector requantization's general case)."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    target = load_target(target_name)
    names = CONV_MODELS if target_name != "cortex-m0plus" else ["conv1x1", "conv3x3", "first_layers"]
    for name in names:
        res = bench_cortexm(str(conv_models.path(name)), target, "qemu", samples=3, per_op=False, timeout_s=300)
        assert res.output_matches_reference is True, (name, target_name, res.notes)
    if target_name == "cortex-m55":
        monkeypatch.setattr(ops_core, "FAST_REQUANT", False)
        for name in ("conv1x1", "conv3x3_pt", "first_layers"):
            res = bench_cortexm(str(conv_models.path(name)), target, "qemu", samples=3, per_op=False,
                                timeout_s=300)
            assert res.output_matches_reference is True, (name, "general requantization", res.notes)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["conv1x1", "conv3x3", "first_layers", "kws_first"])
def test_conv_bit_exact_with_int8_weights_under_a_flash_budget(conv_models, name, tmp_path):
    """A flash budget too small for any int16 copy: every CONV_2D keeps int8 weights, the DSP build (emulated)
    runs the int8 kernels and stays bit-exact."""
    _compare_host(name, conv_models.tflite(name), tmp_path, flash_budget_bytes=1)
    assert "EDGEQ_CONV_W16" not in (tmp_path / "edgeq_model.c").read_text()


AUTOENCODER = Path(__file__).parent / "fixtures" / "coverage" / "conv2d_autoencoder_int8.tflite"


def test_flash_budget_keeps_int8_weights_only_where_needed(tmp_path):
    """No budget, or a budget the int16 layout fits: every eligible CONV_2D gets int16 weights. One byte short: the
    op with the fewest MACs per saved byte falls back to int8, enough to fit. No room at all: all of them; the
    result reports which."""
    from edgeq.codegen import conv_int8_ops_for_budget, dsp_flash_estimate_bytes, render

    g = graph_mod.load(AUTOENCODER)
    sg = g.main
    extra = {op.index: ops_core.conv_w16_extra_bytes(sg, op) for op in sg.operators if op.opcode == "CONV_2D"}
    eligible = sorted(i for i, e in extra.items() if e > 0)
    assert len(eligible) >= 2
    estimate = dsp_flash_estimate_bytes(g)

    def w16_ops(text: str) -> int:
        return text.count("#ifdef EDGEQ_CONV_W16")

    assert w16_ops(render(g).files["edgeq_model.c"]) == len(eligible)
    assert conv_int8_ops_for_budget(g, None) == conv_int8_ops_for_budget(g, estimate) == ()
    short = conv_int8_ops_for_budget(g, estimate - 1)
    assert len(short) == 1 and extra[short[0]] >= 1
    assert conv_int8_ops_for_budget(g, estimate - sum(extra.values())) == tuple(eligible)
    src = render(g, flash_budget_bytes=estimate - 1)
    assert src.conv_int8_ops == short and w16_ops(src.files["edgeq_model.c"]) == len(eligible) - 1
    res = generate(g, tmp_path, flash_budget_bytes=1)
    assert res.conv_int8_weight_ops == tuple(eligible) and res.flash_budget_bytes == 1
    assert w16_ops((tmp_path / "edgeq_model.c").read_text()) == 0


# Helium builds: edgeq_conv.o's .text (the issue-12 cap is 25 KB for a whole model's runtime; 5,780 B now, 9,444 B
# when the rare layers' fallback still held the SMLAD loops).
M55_CONV_TEXT_MAX = 6300


def _cross_compile_conv(tmp_path: Path, flags: list[str], name: str) -> tuple[int, str]:
    import subprocess

    runtime = Path(ops_core.__file__).parent.parent / "runtime"
    obj = tmp_path / f"{name}.o"
    cmd = ["arm-none-eabi-gcc", *flags, "-O2", "-std=gnu11", "-Wall", "-Wextra", "-ffunction-sections",
           "-I", str(runtime / "include"), "-c", str(runtime / "src" / "edgeq_conv.c"), "-o", str(obj)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    size = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True)
    text = sum(int(line.split()[1]) for line in size.stdout.splitlines() if line.startswith(".text"))
    return text, res.stderr


def test_conv_runtime_code_size_and_warnings_per_core(tmp_path):
    """edgeq_conv.c compiles warning-free (-Wall -Wextra) for Helium, DSP and plain-C cores, and the Helium build
    stays small: layers no Helium path takes (windows over 1280 bytes, dilated ones over 320; conv_large) run
    one loop of predicated VMLADAV/VADDVA there, not a second copy of the SMLAD kernels."""
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    sizes = {}
    for core, fpu in (("cortex-m55", "hard"), ("cortex-m4", "hard"), ("cortex-m0plus", "soft")):
        sizes[core], warnings = _cross_compile_conv(tmp_path, [f"-mcpu={core}", "-mthumb", f"-mfloat-abi={fpu}"], core)
        assert "warning" not in warnings, (core, warnings)
    assert 0 < sizes["cortex-m55"] <= M55_CONV_TEXT_MAX, sizes
    # the Helium build holds no SMLAD kernels: smaller than the DSP build
    assert sizes["cortex-m55"] < sizes["cortex-m4"], sizes


def test_generator_and_runtime_agree_on_the_int16_scratch():
    """The generator emits int16 weights exactly for the windows the DSP kernel's scratch holds."""
    import re

    header = (Path(ops_core.__file__).parent.parent / "runtime" / "include" / "edgeq_conv.h").read_text()
    scratch = int(re.search(r"#define EDGEQ_CONV_SCRATCH_BYTES (\d+)", header).group(1))
    assert "#define EDGEQ_X16_WORDS (EDGEQ_CONV_SCRATCH_BYTES / 4)" in header
    assert ops_core.CONV_X16_WORDS == scratch // 4


@pytest.mark.parametrize("block", [2, 4])
def test_w16_layout_blocks_channels_and_pads(block):
    """_conv_w16 on a small filter, against the layout spelled out in edgeq_conv.h: three channels of 5 taps ->
    8 taps -> two groups; channels padded with zeros to a whole block of 2 (pairs) or 4 (quads)."""
    w = np.arange(1, 16, dtype=np.int64).reshape(3, 5) * np.array([1, -1, 1, -1, 1])
    words = np.array(ops_core._conv_w16(w, block), dtype=np.int64) % 2**32
    lo, hi = (words & 0xFFFF).astype(np.uint16).view(np.int16), (words >> 16).astype(np.uint16).view(np.int16)
    pad = np.zeros((4, 8), np.int64)
    pad[:3, :5] = w
    expect = []
    for blk in range(4 // block):
        for g in range(2):
            for ch in range(block * blk, block * blk + block):
                k = 4 * g
                expect += [(pad[ch, k], pad[ch, k + 2]), (pad[ch, k + 1], pad[ch, k + 3])]
    assert list(zip(lo.tolist(), hi.tolist())) == [tuple(map(int, e)) for e in expect]
