"""Budget search, mixed int8/int16 candidate: a digits CNN with one wide-range activation (quality_models.fragile)
loses everything in int8; keeping the layers around that activation in int16 (ranked by layerwise, matched by
Keras layer in one int16x8 conversion) meets the budget at a fraction of whole-model int16x8's estimated cost,
and the chosen model runs in tflite-micro and as generated C byte for byte."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fragile_setup():
    from quality_models import digits_datasets, digits_model, fragile

    m = digits_model()
    cal, ev = digits_datasets(m)
    return fragile(m), cal, ev


def test_mixed_candidate_meets_the_budget_int8_misses(fragile_setup, tmp_path):
    pytest.importorskip("tflite_micro")
    from test_codegen_extra import compare_with_tflm

    from edgeq import convert, graph
    from edgeq.quality import search
    from edgeq.target import load_target

    m, cal, ev = fragile_setup
    target = load_target("cortex-m4")
    res = search.search(m, target, cal, ev, min_sqnr_db=25.0)
    first, best = res.candidates[0], res.best
    assert first.name.startswith("int8") and not first.met_budget
    assert best.config.mode == "mixed" and best.met_budget and best.sqnr_db >= 25.0
    layers = set(best.config.int16_layers)
    # the wide channel is made by conv2d and read by depthwise_conv2d: both must stay int16, not every layer
    assert {"conv2d", "depthwise_conv2d"} <= layers and "conv2d_2" not in layers
    assert all(x in best.name for x in best.config.int16_layers) and "est. cycles" in best.name
    assert not any(c.config.mode == "int16x8" for c in res.candidates)  # stopped before whole-model int16x8
    g = graph.parse(res.tflite)
    dtypes = {g.main.tensors[op.outputs[0]].dtype for op in g.operators if op.opcode != "QUANTIZE"}
    assert dtypes == {"int8", "int16"}
    # cheaper than whole-model int16x8 by the same cost model, dearer than int8 (int16 ops, boundary QUANTIZEs)
    g16 = graph.parse(convert.quantize(m, "int16x8", cal.inputs, io_dtype=target.quantization.io_dtype))
    cost16 = search.estimate_cost(g16, target)[1]
    assert first.cost < best.cost < 0.5 * cost16
    assert best.arena_bytes is not None and first.arena_bytes is not None and best.arena_bytes > first.arena_bytes
    row = next(r for r in search.candidates_table(res) if r["chosen"])
    assert row["config"]["int16_layers"] == best.config.int16_layers and row["arena_bytes"] == best.arena_bytes
    assert compare_with_tflm(res.tflite, tmp_path / "c", n=2) > 0
