"""Per-layer mixed int8/int16 (edgeq.quality.mixed): models derived from the committed int16x8 coverage fixtures,
run by tflite-micro and as edgeq's generated C (host build), compared byte for byte; the derivation's numerics
checked against the int16x8 model it comes from."""

from __future__ import annotations

from pathlib import Path

import codegen_models as cm
import numpy as np
import pytest
from test_codegen_extra import compare_with_tflm

from edgeq import graph as graph_mod

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "coverage"

pytestmark = pytest.mark.slow  # the flatbuffer rewrite uses TensorFlow's schema module


def _inputs(g, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.integers(-20000, 20000, size=t.shape, dtype=np.int16) for t in g.inputs] for _ in range(n)]


def _sqnr_db(ref: list, got: list) -> float:
    a = np.concatenate([np.asarray(r[0], np.float64).ravel() for r in ref])
    b = np.concatenate([np.asarray(r[0], np.float64).ravel() for r in got])
    return float(10 * np.log10((a ** 2).sum() / max(((a - b) ** 2).sum(), 1e-12)))


@pytest.mark.parametrize("name", ["conv1d_audio", "lstm_classifier"])
def test_mixed_models_run_in_tflm_and_as_c_bit_exact(name, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    from edgeq.quality import mixed

    m16 = (FIXTURES / f"{name}_int16x8.tflite").read_bytes()
    g16 = graph_mod.parse(m16)
    xs = _inputs(g16)
    ref16 = cm.tflm_run(m16, xs, 1)
    cands = mixed.int16_ops(m16)
    for label, keep in (("all int8", set()), ("every third int16", set(cands[::3])), ("all int16", set(cands))):
        model, down = mixed.mixed_from_int16x8(m16, keep)
        g = graph_mod.parse(model)
        sg = g.main
        assert [t.dtype for t in (*g.inputs, *g.outputs)] == [t.dtype for t in (*g16.inputs, *g16.outputs)]
        # every downgraded op computes in int8; LOGISTIC / TANH (fixed int8 output parameters) always stay int16
        assert not set(down) & keep
        fixed = [o for o in g16.main.operators if o.opcode in ("LOGISTIC", "TANH")]
        assert all(o.index not in down for o in fixed)
        int8_ops = [o for o in sg.operators if o.opcode != "QUANTIZE" and o.outputs
                    and sg.tensors[o.outputs[0]].dtype == "int8"]
        assert len(int8_ops) == len([i for i in down if g16.main.operators[i].opcode != "QUANTIZE"]), label
        boundaries = sum(1 for o in sg.operators if o.opcode == "QUANTIZE"
                         and {sg.tensors[o.inputs[0]].dtype, sg.tensors[o.outputs[0]].dtype} == {"int8", "int16"})
        assert (boundaries > 0) == (0 < len(down) < len(cands)) or label == "all int8", label
        got = cm.tflm_run(model, xs, 1)
        if not down:
            assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, ref16)), "keeping every op int16 changed it"
        else:  # same scales x256: close to the int16x8 model (a wrong scale or bias gives noise, < 0 dB)
            assert _sqnr_db(ref16, got) > 20.0, (label, _sqnr_db(ref16, got))
        assert compare_with_tflm(model, tmp_path / label.replace(" ", "_"), n=3) > 0


def test_int16_constant_operands_of_int8_ops_are_converted():
    """An int16 constant feeding a downgraded op (the LSTM's fused gate bias of an ADD) gets an int8 copy at 256x
    its scale; the int16 original stays for the ops that keep int16."""
    pytest.importorskip("tensorflow")
    from edgeq.quality import mixed

    m16 = (FIXTURES / "lstm_classifier_int16x8.tflite").read_bytes()
    s16 = graph_mod.parse(m16).main
    model, down = mixed.mixed_from_int16x8(m16, ())
    sg = graph_mod.parse(model).main
    consts8 = [t for t in sg.tensors if t.is_constant and t.name.endswith("/int8")]
    assert consts8
    for t in consts8:
        orig = next(x for x in s16.tensors if x.name == t.name[: -len("/int8")])
        assert orig.dtype == "int16" and t.dtype == "int8"
        assert np.isclose(t.quant.scale[0], orig.quant.scale[0] * 256, rtol=1e-6)
        v16 = np.frombuffer(orig.data, "<i2").astype(np.int32)
        v8 = np.frombuffer(t.data, np.int8).astype(np.int32)
        inside = np.abs(v16) <= 127 * 256 + 127  # beyond: the int8 range's top, clipped to +-127 / -128
        assert np.all(np.abs(v8 * 256 - v16)[inside] <= 128)
        assert np.all(np.isin(v8[~inside], (-128, 127)))


def test_non_negative_activations_use_the_whole_int8_range():
    """RELU outputs (and what pools / reshapes make of them) become int8 at 128x the int16 scale with zero point
    -128 (one bit more than symmetric); tensors an int8 op needs with equal parameters stay equal; the derived
    int8 model is closer to the int16x8 one than with symmetric scales everywhere."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    from edgeq.quality import mixed

    m16 = (FIXTURES / "conv1d_audio_int16x8.tflite").read_bytes()
    g16 = graph_mod.parse(m16)
    model, down = mixed.mixed_from_int16x8(m16, ())
    sg = graph_mod.parse(model).main
    by_name = {t.name: t for t in g16.main.tensors}
    relu_outs = {g16.main.tensors[o.outputs[0]].name for o in g16.main.operators
                 if o.options.get("fused_activation_function") == "RELU"}
    asym = [t for t in sg.tensors if t.dtype == "int8" and not t.is_constant and t.quant.zero_point[0] == -128]
    assert relu_outs and relu_outs <= {t.name for t in asym}
    for t in asym:
        src = by_name[t.name.removesuffix("/int8")]
        assert np.isclose(t.quant.scale[0], src.quant.scale[0] * 128, rtol=1e-6)
    for op in sg.operators:  # equal parameters where the int8 kernel requires them
        if op.opcode in mixed.SAME_PARAMS and sg.tensors[op.outputs[0]].dtype == "int8":
            ps = {(float(sg.tensors[i].quant.scale[0]), int(sg.tensors[i].quant.zero_point[0]))
                  for i in (*op.inputs, *op.outputs) if i >= 0 and not sg.tensors[i].is_constant}
            assert len(ps) == 1, (op.index, op.opcode, ps)
    xs = _inputs(g16)
    ref16 = cm.tflm_run(m16, xs, 1)
    symmetric = mixed._int8_factors
    try:
        mixed._int8_factors = lambda *a: {}  # every tensor symmetric at 256x, as before
        sym_model, _ = mixed.mixed_from_int16x8(m16, ())
    finally:
        mixed._int8_factors = symmetric
    assert _sqnr_db(ref16, cm.tflm_run(model, xs, 1)) > _sqnr_db(ref16, cm.tflm_run(sym_model, xs, 1)) + 0.5
