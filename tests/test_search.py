"""Budget search on real models: reachable and unreachable budgets, target permissions, the autoencoder case."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def digits_setup():
    from quality_models import digits_datasets, digits_model


    m = digits_model()
    cal, ev = digits_datasets(m)
    return m, cal, ev


@pytest.fixture(scope="session")
def ae_setup(tmp_path_factory):
    from quality_models import standardized_autoencoder

    from edgeq import data

    m, x_tr, x_te = standardized_autoencoder(tmp_path_factory.mktemp("ae") / "ae.keras")
    return m, data.Dataset("train", (x_tr,), None), data.Dataset("test", (x_te,), x_te)


def test_reachable_budget_picks_the_cheapest(digits_setup):
    from edgeq.quality import search
    from edgeq.target import load_target

    m, cal, ev = digits_setup
    res = search.search(m, load_target("cortex-m4"), cal, ev, max_accuracy_drop_pp=1.0)
    assert res.best.name.startswith("int8 per-channel") and res.best.met_budget
    assert len(res.candidates) == 1  # stops at the first that fits
    assert res.best.accuracy_drop_pp <= 1.0 and res.tflite[4:8] == b"TFL3"
    assert res.best.estimated_latency_ms > 0 and res.best.macs > 100_000


def test_unreachable_budget_fails_with_exit_code_3(digits_setup):
    from edgeq.errors import EXIT_CHECK_FAILED, CheckFailed
    from edgeq.quality import search
    from edgeq.target import load_target

    m, cal, ev = digits_setup
    with pytest.raises(CheckFailed) as ei:
        search.search(m, load_target("cortex-m0plus"), cal, ev, min_sqnr_db=70)
    e = ei.value
    assert e.exit_code == EXIT_CHECK_FAILED
    assert "best found: int8 per-channel" in e.message and "SQNR" in e.message
    assert "int16x8: not in cortex-m0plus's modes" in e.hint and "integer-only" in e.hint
    sr = e.search_result  # every candidate tried travels with the error (for a report written on failure)
    assert sr.best is None and len(sr.candidates) == 2 and not any(c.met_budget for c in sr.candidates)
    assert sr.tflite[4:8] == b"TFL3"


def test_accuracy_budget_needs_labels(digits_setup):
    from edgeq import data
    from edgeq.errors import DataError
    from edgeq.quality import search
    from edgeq.target import load_target

    m, cal, ev = digits_setup
    with pytest.raises(DataError, match="needs labels"):
        search.search(m, load_target("cortex-m4"), cal, data.Dataset("nolab", ev.inputs, None),
                      max_accuracy_drop_pp=1.0)


def test_autoencoder_int16x8_on_cortex_m(ae_setup):
    """int8 hurts the wide-range autoencoder; the search moves to int16x8, which TFLM runs on Cortex-M."""
    from edgeq.graph import parse
    from edgeq.quality import evaluate, search
    from edgeq.target import load_target

    m, calib, ev = ae_setup
    res = search.search(m, load_target("cortex-m4"), calib, ev, min_sqnr_db=28.0)
    names = [c.name for c in res.candidates]
    assert names[0].startswith("int8") and not res.candidates[0].met_budget
    assert res.best.name.startswith("int16x8") and res.best.sqnr_db >= 28.0
    assert res.best.estimated_latency_ms > res.candidates[0].estimated_latency_ms  # int16 costs more
    assert {t.dtype for t in parse(res.tflite).inputs} == {"int16"}
    q = evaluate.run_tflite(res.tflite, ev.inputs, runtime="tflm")[0]
    f = evaluate.compare([q], [q]).outputs[0]
    assert f.max_abs_error == 0.0


def test_float_fallback_only_where_allowed(ae_setup):
    from edgeq.graph import parse
    from edgeq.quality import search
    from edgeq.target import load_target

    m, calib, ev = ae_setup
    res = search.search(m, load_target("rpi4"), calib, ev, min_sqnr_db=28.0)  # rpi4: no int16x8, float allowed
    assert any("int16x8: not in rpi4" in s for s in res.skipped)
    assert "float" in res.best.name and res.best.config.float_ops
    assert "float32" in {parse(res.tflite).main.tensors[op.outputs[0]].dtype for op in parse(res.tflite).operators}
    first = res.candidates[0]
    assert res.best.sqnr_db > first.sqnr_db + 5


def test_cli_search_exit_code(tmp_path, capsys):
    from quality_models import DIGITS, run_cli

    code, out, err = run_cli(capsys, "search", DIGITS / "model.keras", "--target", "cortex-m0plus", "--calib",
                             DIGITS / "calib.npz", "--eval", DIGITS / "eval.npz", "--min-sqnr", "70")
    assert code == 3 and "best found" in err
    o = tmp_path / "best.tflite"
    code, out, err = run_cli(capsys, "search", DIGITS / "model.keras", "--target", "cortex-m4", "--calib",
                             DIGITS / "calib.npz", "--eval", DIGITS / "eval.npz", "--max-accuracy-drop", "2", "-o", o)
    assert code == 0, err
    assert "chosen: int8 per-channel" in out and o.read_bytes()[4:8] == b"TFL3"


# ------------------------------------------------------------------------------------------------ parallel (Ray)
@pytest.fixture(scope="module")
def local_ray():
    """A local Ray runtime with 2 CPUs (the one `edgeq search --parallel 2` starts), shut down after the module."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("this process is already connected to a Ray cluster")
    from edgeq import cluster

    with cluster.runtime(2) as r:
        yield r


def test_parallel_search_is_the_serial_search(ae_setup, local_ray):
    """Candidates as Ray tasks (2 workers): the same candidates, figures, skipped notes and model bytes as the
    serial search, which stops at the same place (int16x8 here); nothing past it is reported."""
    from edgeq import cluster
    from edgeq.quality import search
    from edgeq.target import load_target

    m, calib, ev = ae_setup
    t = load_target("cortex-m4")
    serial = search.search(m, t, calib, ev, min_sqnr_db=28.0)
    seen: list[str] = []
    par = search.search(m, t, calib, ev, min_sqnr_db=28.0, map_candidates=cluster.candidate_map(),
                        progress=seen.append)
    assert par.best.name.startswith("int16x8")
    assert par.candidates == serial.candidates and par.best == serial.best
    assert par.tflite == serial.tflite and par.skipped == serial.skipped
    assert any(s.startswith("waiting for") for s in seen)  # it did go through the map
    # the same map, set for a block of code (how `edgeq build --parallel` reaches a deployment's search)
    with search.parallel_candidates(cluster.candidate_map()):
        ctx = search.search(m, t, calib, ev, min_sqnr_db=20.0)
    assert [c.name for c in ctx.candidates] == [serial.candidates[0].name]  # the first fits: the rest cancelled


class _Unshippable:
    """Pickles in the driver, fails to unpickle in the worker (like a model whose class the worker lacks)."""

    def __reduce__(self):
        import operator

        return operator.truediv, (1, 0)


def test_parallel_candidate_failure_names_the_candidate(local_ray):
    from edgeq import cluster
    from edgeq.convert import LoadedModel
    from edgeq.quality import search
    from edgeq.target import load_target

    model = LoadedModel("m.keras", "keras", "keras", (), (), "0", handle=_Unshippable())
    shared = search.Shared(model, load_target("cortex-m4"), None, None, None, [], [], "tflm", "auto", "int8",
                           None, 20.0)
    (h,) = cluster.candidate_map("[deployments.m4]")(shared, [search.Job("int8 per-channel", search.Config("int8"))])
    with pytest.raises(cluster.ClusterError) as e:
        h.result()
    assert "[deployments.m4]" in e.value.message and "'int8 per-channel'" in e.value.message, e.value.message
