"""Per-layer error on real conversions: int8, int16x8 and a float-fallback (mixed) model of the digits CNN."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def setup():
    from quality_models import digits_datasets, digits_model

    from edgeq import convert

    m = digits_model()
    cal, ev = digits_datasets(m)
    flt = convert.quantize(m, "float32")
    return m, cal, ev, flt


def _by_op(errs):
    return {e.op_index: e for e in errs}


@pytest.mark.parametrize("mode,dtype", [("int8", "int8"), ("int16x8", "int16")])
def test_every_op_matched_and_ranked(setup, mode, dtype):
    from edgeq import convert
    from edgeq.graph import parse
    from edgeq.quality import layerwise

    m, cal, ev, flt = setup
    tfl = convert.quantize(m, mode, cal.inputs, io_dtype="int8")
    errs = layerwise.layer_errors(m, tfl, ev.inputs, max_samples=32, float_tflite=flt)
    g = parse(tfl)
    assert {e.op_index for e in errs} == {op.index for op in g.operators}
    assert all(e.dtype == dtype for e in errs)
    assert all(math.isfinite(e.sqnr_db) and e.sqnr_db > 15 for e in errs)
    shares = [e.error_share for e in errs]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in shares)
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)  # largest share first
    # the first op's SQNR is the best in the net, and its share is small (not an "81 dB drop")
    first = min(errs, key=lambda e: e.op_index)
    assert first.error_share < 0.5
    named = {e.layer for e in errs}
    assert {"conv2d", "depthwise_conv2d", "conv2d_1", "conv2d_2", "digit"} <= named
    assert "digit (before softmax)" in named


def test_int16x8_is_more_precise_than_int8(setup):
    from edgeq import convert
    from edgeq.quality import layerwise

    m, cal, ev, flt = setup
    e8 = _by_op(layerwise.layer_errors(m, convert.quantize(m, "int8", cal.inputs), ev.inputs, max_samples=32,
                                       float_tflite=flt))
    e16 = _by_op(layerwise.layer_errors(m, convert.quantize(m, "int16x8", cal.inputs), ev.inputs, max_samples=32,
                                        float_tflite=flt))
    conv_ops = [i for i, e in e8.items() if e.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D") and i in e16]
    assert conv_ops and all(e16[i].sqnr_db > e8[i].sqnr_db for i in conv_ops)


def test_float_fallback_model_is_matched(setup):
    """A selectively quantized model (one op kept in float, QUANTIZE/DEQUANTIZE around it) still matches."""
    from edgeq.quality import layerwise, search

    m, cal, ev, flt = setup
    base = search._convert(m, cal.inputs, search.Config("int8"), "int8")
    worst = layerwise.sensitive_ops(layerwise.layer_errors(m, base, ev.inputs, max_samples=16, float_tflite=flt), 1,
                                    base)[0]
    mixed = search._convert(m, cal.inputs, search.Config("int8", float_ops=(worst.float_tensor,)), None)
    errs = layerwise.layer_errors(m, mixed, ev.inputs, max_samples=16, float_tflite=flt)
    fl = [e for e in errs if e.dtype == "float32" and e.opcode == worst.opcode]
    assert fl, [(e.opcode, e.dtype) for e in errs]
    assert fl[0].sqnr_db > worst.sqnr_db
