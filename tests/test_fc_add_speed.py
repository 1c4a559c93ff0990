"""The Cortex-M4 (DSP, inline assembly) paths of FULLY_CONNECTED, same-shape int8 ADD and AVERAGE_POOL_2D (issue 8):

- eq_fc_w16_groups (edgeq_fc.c): full groups of four rows of a layer with rq and in_depth % 4 == 0, registers
  pinned for LDM, the four rows requantized in one asm run and stored as one word; other layers and the last
  partial group take the generic loop.
- eq_add_lut_rq's DSP loop (edgeq_eltwise.c): same-shape ADD with tables and out_rq and no clamp beyond int8, four
  elements a pass, the element count's remainder in C.
- edgeq_avg_pool_s8 in DSP builds: four channels a word summed in the int16 lanes of SXTAB16 when channels % 4 == 0
  and the window has at most 256 taps; the byte loop otherwise.

One model aims at their cases: FC depths with an even and an odd number of input words (the loop's entry at its
second half), out_depth a multiple of 4 and not (partial group), a depth % 4 != 0 (generic), ReLU, batch 2; ADD with
an element count that is not a multiple of 4 (asm then the C tail), with and without ReLU, and a broadcast ADD (the
table loop without the fast path); average pools with 8 channels (clipped windows, 63 taps), 9 channels and 272
taps. Bit-exact with tflite-micro on the host (portable and emulated DSP: the C paths)
and on QEMU: cortex-m4 and m33 (the assembly), m55 (its own paths, unchanged)."""

from __future__ import annotations

import shutil

import codegen_models as cm
import numpy as np
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import generate, scratch

pytestmark = pytest.mark.slow


def _model() -> bytes:
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(5)
    xa = keras.Input(shape=(64,), batch_size=2)
    xb = keras.Input(shape=(9, 7, 3), batch_size=2)
    h = L.Dense(12, activation="relu")(xa)                       # 16 words (even), 3 full groups
    outs = [
        L.Dense(12)(xa),                                         # the KWS head's shape
        L.Dense(10, activation="relu")(xa),                      # 2 full groups + 2 rows
        L.Dense(16)(h),                                          # 3 words (odd): entry at the loop's second half
        L.Dense(8, activation="relu")(L.Dense(8)(h)),            # K 8: 2 words
        L.Dense(5)(L.Dense(30)(xa)),                             # K 30: 7 words + 2 bytes (generic loop)
        L.Dense(8)(L.Dense(20)(L.Dense(24)(xa))),                # K 24: 3 pairs; K 20: a word + 2 pairs
    ]
    a = L.Conv2D(9, 1)(xb)
    b = L.Conv2D(9, 3, padding="same")(xb)
    c = L.Conv2D(9, (9, 1), padding="valid")(xb)                  # (1, 7, 9): broadcast along H
    d = L.Conv2D(9, (1, 3), padding="same", use_bias=False)(xb)
    outs += [
        L.Add()([a, b]),                                         # 2 x 567 elements: asm + 2-element C tail
        L.ReLU()(L.Add()([b, d])),                               # fused ReLU (zero point -128: no clamp)
        L.Add()([a, c]),                                         # broadcast: the table loop, not the fast path
    ]
    e = L.Conv2D(8, 1)(xb)
    xc = keras.Input(shape=(17, 16, 4), batch_size=2)
    outs += [
        L.AveragePooling2D(3, strides=1, padding="same")(e),    # 8 channels, clipped windows: SXTAB16 lanes
        L.AveragePooling2D((9, 7))(e),                           # 63 taps
        L.AveragePooling2D(2)(a),                                # 9 channels: the byte loop
        L.AveragePooling2D((17, 16))(xc),                        # 272 taps > 256: the byte loop
    ]
    model = keras.Model([xa, xb, xc], outs)
    cm._randomize(model, 5)
    return cm.convert(model, batch=2)


@pytest.fixture(scope="module")
def fc_add(tmp_path_factory):
    return cm.model_dir(tmp_path_factory, "fc_add", _model)


def test_fc_add_paths_bit_exact_on_host(fc_add, tmp_path):
    _, model = fc_add
    g = graph_mod.parse(model)
    generate(g, tmp_path)
    text = (tmp_path / "edgeq_model.c").read_text()
    assert text.count("edgeq_fully_connected_s8(") == 11 and text.count("edgeq_add_s8(") == 3
    assert text.count(".out_rq = w_op") >= 2          # the same-shape ADDs have tables and out_rq
    assert text.count("edgeq_avg_pool_s8(") == 4
    cm.assert_host_variants_bit_exact(model, g, tmp_path, cm.random_inputs(g, 4, 0), "fc/add")
    assert "EDGEQ_FC_UNROLL" not in (tmp_path / "edgeq_runtime" / "include" / "edgeq_config.h").read_text()


@pytest.mark.qemu
@pytest.mark.parametrize("target_name", ["cortex-m4", "cortex-m33", "cortex-m55"])
def test_fc_add_paths_bit_exact_on_cortex_m(fc_add, target_name):
    """The asm on the M4 and on another DSP core (M33: same code, other compiler scheduling), Helium (M55) unchanged;
    the plain C paths (M0+) are the host's portable build."""
    cm.assert_qemu_bit_exact(fc_add[0] / "model.tflite", target_name)


@pytest.mark.qemu
def test_fc_unrolled_loop_bit_exact_on_cortex_m4(fc_add, monkeypatch, tmp_path):
    """EDGEQ_FC_UNROLL 2 (FC-heavy models: two pairs of input words a pass; odd and even pair counts, an odd word
    first), forced for this small model."""
    root, model = fc_add
    monkeypatch.setattr(scratch, "FC_UNROLL_MIN_MACS", 1)
    generate(graph_mod.parse(model), tmp_path)
    assert "#define EDGEQ_FC_UNROLL 2" in (tmp_path / "edgeq_runtime" / "include" / "edgeq_config.h").read_text()
    cm.assert_qemu_bit_exact(root / "model.tflite", "cortex-m4")


@pytest.mark.qemu
def test_fc_narrow_clamp_on_cortex_m4(fc_add, monkeypatch, tmp_path):
    """An activation narrower than int8 (the asm groups' SSUB8/SEL pass over the stored words): converted models do
    not give FULLY_CONNECTED one (their ReLU outputs get zero point -128), so every op's range is narrowed to
    [-100, 90] in the generator and the cortex-m4 firmware is compared with the host's portable build of that C."""
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    import edgeq.harness.cortexm as cortexm
    from edgeq.codegen.emit import EmitContext
    from edgeq.target import load_target

    root, model = fc_add
    monkeypatch.setattr(EmitContext, "act_range", lambda self, activation, scale, zp: (-100, 90))
    g = graph_mod.parse(model)
    generate(g, tmp_path)
    assert (tmp_path / "edgeq_model.c").read_text().count(".act_min = -100") >= 11
    inputs = cm.random_inputs(g, 3, 1)
    want = cm.run_host(cm.compile_host(tmp_path, g, exe_name="model_narrow"), g, inputs)
    assert any(int(a.min()) == -100 or int(a.max()) == 90 for s in want for a in s)  # the clamp bites
    monkeypatch.setattr(cortexm, "reference_outputs",
                        lambda tflite, ins, n: [[np.asarray(a).tobytes() for a in s] for s in want])
    res = cortexm.bench_cortexm(str(root / "model.tflite"), load_target("cortex-m4"), "qemu", inputs=inputs,
                                per_op=False, timeout_s=300)
    assert res.output_matches_reference is True, res.notes
