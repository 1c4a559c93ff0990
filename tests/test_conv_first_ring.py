"""edgeq_conv.c eq_conv_first (3x3 stride-2 CONV_2D on 3 input channels without left padding, ReLU-like: VWW's first
layer) is bit-exact with tflite-micro: the int16 row ring (rows converted once, odd output rows upside down with the
generator's row-reversed weight set), its zero rows and columns for the padding, the last one or two pixels of a row
run again, batches, VALID and SAME, odd and even output rows; host builds (plain C and the DSP path with C models of
the instructions, which runs the C twin of the asm block) and the real asm on an emulated Cortex-M4."""

from __future__ import annotations

import codegen_models as cm
import pytest
from test_codegen_conv import _compare_host

from edgeq import graph as graph_mod
from edgeq.codegen import CONFIG_PATH, generate, render, scratch


def _models() -> dict:
    import keras
    from keras import layers as L

    def inp(*shape, batch=1):
        return keras.Input(shape=shape, batch_size=batch)

    def vww_like():
        x = inp(20, 24, 3)  # out 10x12 (rows of 4 blocks), SAME: the bottom row's window pads below
        return keras.Model(x, [L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)])

    def odd_rows_b2():
        x = inp(9, 16, 3, batch=2)  # out 5x8: padding above and below, 8 = 2 blocks + 2 pixels run again
        a = L.Conv2D(6, 3, strides=2, padding="same", activation="relu6")(x)
        b = L.Conv2D(4, 3, strides=2, padding="valid", activation="relu")(x)  # out 4x7, a ring row wider than 3 ow
        return keras.Model(x, [a, b])

    return {"vww_like": vww_like, "odd_rows_b2": odd_rows_b2}


@pytest.fixture(scope="module")
def first_models(tmp_path_factory):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    import keras

    root, out = tmp_path_factory.mktemp("conv_first"), {}
    for name, builder in _models().items():
        keras.utils.set_random_seed(7)
        model = builder()
        cm._randomize(model, 7)
        out[name] = root / f"{name}.tflite"
        out[name].write_bytes(cm.convert(model))
    return out


def _takes_first(path, tmp_path) -> None:
    """The generator chose eq_conv_first's layout for every CONV_2D (its path switch on in DSP builds only), and the
    stack estimate of a DSP build counts the path's int16 row ring (12 * EQ_FIRST_RWW bytes)."""
    g = graph_mod.load(path)
    sizes = render(g).scratch
    assert sizes.stack_bytes("dsp") >= 12 * scratch._CONV_FIRST_RWW > sizes.stack_bytes("plain")
    generate(g, tmp_path)
    cfg = (tmp_path / CONFIG_PATH).read_text()
    dsp, other = cfg.split("\n#else\n", 1)
    assert "#define EDGEQ_CONV_PATH_FIRST 1\n" in dsp and "#define EDGEQ_CONV_PATH_WINDOWS 0\n" in dsp
    assert "#define EDGEQ_CONV_PATH_FIRST 0\n" in other


@pytest.mark.parametrize("name", ["vww_like", "odd_rows_b2"])
def test_conv_first_bit_exact_on_host(first_models, name, tmp_path):
    _takes_first(first_models[name], tmp_path / "cfg")
    _compare_host(name, first_models[name].read_bytes(), tmp_path)


def test_conv_first_compiled_out_is_a_build_error(first_models, tmp_path):
    """The layout has no other reader: a DSP build with EDGEQ_CONV_PATH_FIRST 0 stops with an error naming the path,
    a plain build (int8 weights) does not care."""

    g = graph_mod.load(first_models["vww_like"])
    generate(g, tmp_path)
    cm.compile_host(tmp_path, g, extra_flags=("-DEDGEQ_CONV_PATH_FIRST=0",), exe_name="plain_off")
    with pytest.raises(Exception) as err:
        cm.compile_host(tmp_path, g, extra_flags=("-DEDGEQ_EMULATE_DSP", "-DEDGEQ_CONV_PATH_FIRST=0"),
                        exe_name="dsp_off")
    assert "laid out for edgeq_conv.c eq_conv_first" in str(err.value) + str(getattr(err.value, "stderr", ""))


def test_conv_first_layout_only_where_the_kernel_takes_it():
    base = dict(k_h=3, k_w=3, in_c=3, stride_h=2, stride_w=2, dil_h=1, dil_w=1, pad_h=0, pad_w=0, in_w=96, out_w=48)
    assert scratch.conv_first_ok(base)
    for change in (dict(pad_w=1), dict(in_c=4), dict(stride_w=1), dict(in_w=98, out_w=49), dict(k_w=2),
                   dict(in_w=108, out_w=54), dict(out_w=2, in_w=4), dict(dil_h=2)):
        assert not scratch.conv_first_ok(dict(base, **change)), change


@pytest.mark.qemu
@pytest.mark.parametrize("target_name,cflags", [("cortex-m4", ()), ("cortex-m4", ("-Os",)), ("cortex-m7", ())],
                         ids=["m4", "m4-Os", "m7"])
def test_conv_first_bit_exact_on_emulated_cortex_m(first_models, target_name, cflags):
    """The asm block loop and row conversion (real SXTAB16/PKH/SMLAD/SMMLAR, the block loop's two words pushed) against
    tflite-micro, byte for byte, in the builds that compile the asm."""
    for name in ("vww_like", "odd_rows_b2"):
        cm.assert_qemu_bit_exact(first_models[name], target_name, extra_cflags=list(cflags))
