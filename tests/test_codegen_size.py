"""The generated C's flash estimate (edgeq/codegen/size.py) counts what the generator emits: weights shared by
several ops (a layer applied twice, an unrolled RNN's per-timestep ops) are emitted once, int16 DSP copies
included, so they are counted once; the flash budget keeps such ops on int8 together or not at all."""

from __future__ import annotations

import re

import codegen_models as cm
import pytest

from edgeq import graph as graph_mod
from edgeq.codegen import conv_int8_ops_for_budget, dsp_flash_estimate_bytes, render, size


@pytest.fixture(scope="module")
def shared_model():
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(3)
    x = keras.Input(shape=(6, 6, 8), batch_size=1)
    conv = L.Conv2D(8, 3, padding="same", activation="relu")  # one layer, two CONV_2D ops
    dense = L.Dense(16, activation="relu")                    # one layer, two FULLY_CONNECTED ops
    y = L.Dense(16)(L.Flatten()(conv(conv(x))))
    model = keras.Model(x, dense(dense(y)))
    cm._randomize(model, 3)
    return graph_mod.parse(cm.convert(model))


def _emitted_w16_bytes(text: str, guard: str) -> int:
    """Bytes the DSP build's int32 arrays under `#ifdef guard` add over the int32 arrays of their `#else` side: the
    int16 weight copies (a 1x1 / windows stream, edgeq_conv.h, carries its bias_eff and rq inside; the int8 side
    keeps them as arrays of their own)."""
    blocks = re.findall(rf"#ifdef {guard}\n(.*?)#else\n(.*?)#endif", text, re.S)
    arrays = re.compile(r"static const int32_t \w+\[(\d+)\]")
    return sum(4 * (sum(map(int, arrays.findall(dsp))) - sum(map(int, arrays.findall(other))))
               for dsp, other in blocks)


def test_shared_weights_counted_once(shared_model):
    g = shared_model
    sg = g.main
    for opcode in ("CONV_2D", "FULLY_CONNECTED"):
        ops = [op for op in sg.operators if op.opcode == opcode and op.inputs[1] >= 0]
        keys = [size.weight_key(sg, op) for op in ops]
        assert len(keys) > len(set(keys)), f"the test model has no {opcode} ops sharing weights"
    text = render(g).files["edgeq_model.c"]
    emitted = _emitted_w16_bytes(text, "EDGEQ_CONV_W16") + _emitted_w16_bytes(text, "EDGEQ_FC_W16")
    int8_of_copied = sum(len(sg.tensors[op.inputs[1]].data) for op in
                         {size.weight_key(sg, op): op for op in sg.operators
                          if op.opcode in ("CONV_2D", "FULLY_CONNECTED")}.values())
    dsp_extra = dsp_flash_estimate_bytes(g) - size.generated_c_model_bytes(g) - size.GENERATED_C_RUNTIME_BYTES
    assert emitted > 0 and dsp_extra == emitted - int8_of_copied


def test_budget_switches_shared_conv_weights_together(shared_model):
    g = shared_model
    convs = tuple(op.index for op in g.main.operators if op.opcode == "CONV_2D")
    assert conv_int8_ops_for_budget(g, dsp_flash_estimate_bytes(g)) == ()
    assert conv_int8_ops_for_budget(g, dsp_flash_estimate_bytes(g) - 1) == convs
    src = render(g, flash_budget_bytes=dsp_flash_estimate_bytes(g) - 1)
    assert "EDGEQ_CONV_W16" not in src.files["edgeq_model.c"]
