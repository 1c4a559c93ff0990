"""Evaluation: metrics from float vs quantized outputs, bad-input errors, and real runs on LiteRT and TFLM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import DataError, UsageError
from edgeq.quality import evaluate

FIXTURES = Path(__file__).parent / "fixtures"
needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="no host gcc")


def _probs(n=50, k=10, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    return np.exp(z) / np.exp(z).sum(1, keepdims=True)


def test_classification_metrics_and_histogram():
    f = _probs()
    q = f + np.random.default_rng(1).normal(scale=1e-3, size=f.shape)
    lab = f.argmax(1).copy()
    lab[:5] = (lab[:5] + 1) % 10
    r = evaluate.compare([f], [q], labels=lab)
    assert r.task == "classification"
    assert r.float_accuracy == pytest.approx(0.9)
    assert r.top_k == 5 and r.float_top_k_accuracy >= r.float_accuracy
    assert 0.9 <= r.top1_agreement <= 1.0
    h = r.error_histogram
    assert sum(h.counts) == f.size and len(h.bin_edges) == len(h.counts) + 1
    assert h.bin_edges[0] == pytest.approx(-h.bin_edges[-1])
    assert r.outputs[0].sqnr_db > 30


def test_one_hot_labels_equal_index_labels():
    f = _probs()
    lab = np.arange(50) % 10
    a = evaluate.compare([f], [f], labels=lab)
    b = evaluate.compare([f], [f], labels=np.eye(10)[lab])
    assert a.float_accuracy == b.float_accuracy and a.accuracy_drop_pp == 0.0


def test_regression_targets_and_autoencoder():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(40, 16))
    f = t + 0.1 * rng.normal(size=t.shape)
    q = f + 0.05 * rng.normal(size=t.shape)
    r = evaluate.compare([f], [q], labels=t)  # targets shaped like the output: autoencoder/regression
    assert r.task == "regression" and r.float_accuracy is None
    assert r.quant_target_mse > r.float_target_mse > 0
    assert r.float_target_mae == pytest.approx(np.mean(np.abs(f - t))) and r.quant_target_mae > r.float_target_mae
    assert r.top1_agreement is None  # argmax agreement of 16 regression outputs means nothing
    r1 = evaluate.compare([f[:, :1]], [q[:, :1]])
    assert r1.top1_agreement is None and r1.task == "regression"


@pytest.mark.parametrize("labels,metric,match", [
    (np.arange(49) % 10, "auto", "49 labels for 50 samples"),
    (None, "accuracy", "needs labels"),
    (np.arange(50) % 10 + 5, "auto", "labels range"),
    (np.full(50, 0.5), "auto", "not integers"),
])
def test_bad_labels(labels, metric, match):
    f = _probs()
    with pytest.raises(DataError, match=match):
        evaluate.compare([f], [f], labels=labels, metric=metric)


def test_accuracy_metric_on_regression_output_is_refused():
    with pytest.raises(DataError, match="class-vector"):
        evaluate.compare([np.zeros((4, 1))], [np.zeros((4, 1))], labels=np.zeros(4), metric="accuracy")


@pytest.mark.slow
def test_real_runtimes_agree(digits_eval, digits_int8, digits):
    """The same int8 model on tflite-micro and LiteRT: same accuracy within one sample."""
    a = evaluate.evaluate(digits, digits_int8, digits_eval, runtime="tflm")
    b = evaluate.evaluate(digits, digits_int8, digits_eval, runtime="litert")
    assert a.samples == len(digits_eval) == 450
    assert a.float_accuracy > 0.9 and abs(a.accuracy_drop_pp) < 1.0
    assert abs(a.quant_accuracy - b.quant_accuracy) <= 1 / 450 + 1e-9
    # recompute independently from the raw outputs
    q = evaluate.run_tflite(digits_int8, digits_eval.inputs, runtime="tflm")[0]
    assert a.quant_accuracy == pytest.approx(np.mean(q.argmax(1) == digits_eval.labels))


@pytest.mark.slow
@needs_gcc
def test_generated_c_runtime(digits_eval, digits_int8, digits):
    """edgeq's generated C, compiled for the host, evaluated like any runtime."""
    a = evaluate.evaluate(digits, digits_int8, digits_eval, runtime="edgeq-c")
    b = evaluate.evaluate(digits, digits_int8, digits_eval, runtime="tflm")
    assert a.runtime == "edgeq-c" and a.samples == 450
    assert abs(a.quant_accuracy - b.quant_accuracy) < 0.02


@pytest.mark.slow
@needs_gcc
def test_generated_c_is_bit_exact_with_tflm(digits_eval, digits_int8):
    """Every output byte of the generated C (built for the host) equals tflite-micro on the digits eval set."""
    a = evaluate.run_tflite(digits_int8, digits_eval.inputs, runtime="edgeq-c", dequantize=False)[0]
    b = evaluate.run_tflite(digits_int8, digits_eval.inputs, runtime="tflm", dequantize=False)[0]
    assert a.dtype == b.dtype == np.int8 and a.shape == b.shape == (450, 10)
    assert a.tobytes() == b.tobytes(), f"{int((a != b).sum())} of {a.size} output bytes differ from tflite-micro"
    # dequantized: the same values through the output's scale/zero point on both runtimes
    fa = evaluate.run_tflite(digits_int8, digits_eval.inputs, runtime="edgeq-c")[0]
    fb = evaluate.run_tflite(digits_int8, digits_eval.inputs, runtime="tflm")[0]
    assert fa.dtype == np.float32 and np.array_equal(fa, fb)


@pytest.mark.parametrize("runtime", ["tflite", "edgeq_c", "", "LITERT"])
def test_unknown_runtime_is_refused(runtime):
    """An unknown runtime name is a usage error naming the valid ones, never a silent fallback to LiteRT."""
    with pytest.raises(UsageError, match="unknown runtime") as e:
        evaluate.run_tflite(b"not a model", [np.zeros((1, 4), np.float32)], runtime=runtime)
    assert all(r in str(e.value) for r in ("litert", "litert-ref", "tflm", "edgeq-c"))
    with pytest.raises(UsageError, match="unknown runtime"):
        evaluate.evaluate(None, b"", None, runtime=runtime)


@needs_gcc
@pytest.mark.parametrize("fixture", ["cnn_int8", "cnn_int8_float_io", "multi_io_int8"])
def test_edgeq_c_matches_tflm_on_fixtures(fixture):
    """TF-free: int8 I/O, float I/O (QUANTIZE/DEQUANTIZE edges) and a two-input/two-output model with its
    signature order; edgeq-c and tflite-micro give the same bytes and the same dequantized values."""
    pytest.importorskip("tflite_micro")
    from edgeq.graph import parse

    model = (FIXTURES / f"{fixture}.tflite").read_bytes()
    g = parse(model)
    names = ([n for n, _ in g.signature_inputs], [n for n, _ in g.signature_outputs])
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1.5, 1.5, (25, *g.inputs[p].shape[1:])).astype(np.float32)
          for p in g.io_positions(*names)[0]]
    for deq in (False, True):
        a = evaluate.run_tflite(model, xs, runtime="edgeq-c", dequantize=deq, input_names=names[0],
                                output_names=names[1])
        b = evaluate.run_tflite(model, xs, runtime="tflm", dequantize=deq, input_names=names[0],
                                output_names=names[1])
        assert len(a) == len(b) == len(g.outputs)
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    if fixture == "multi_io_int8":  # named and positional access agree
        file_order = evaluate.run_tflite(model, [xs[i] for i in np.argsort(g.io_positions(*names)[0])],
                                         runtime="edgeq-c", dequantize=False)
        out_pos = g.io_positions(*names)[1]
        assert out_pos == sorted(out_pos)  # edgeq writes the Keras order into the file (graph.reorder_io)
        for j, p in enumerate(out_pos):
            assert np.array_equal(a[j], evaluate._dequantize(file_order[p], evaluate._tensor_detail(g.outputs[p])))


@needs_gcc
def test_host_model_errors(tmp_path, monkeypatch):
    from edgeq.codegen import host
    from edgeq.errors import CodegenError, ToolMissing
    from edgeq.graph import parse

    g = parse((FIXTURES / "cnn_int8.tflite").read_bytes())
    with pytest.raises(CodegenError, match="host compile of .* failed"):
        host.HostModel.build(g, tmp_path / "bad", extra_cflags=("-DEDGEQ_HOST_TEST_BROKEN=1", "-fno-such-flag"))
    m = host.HostModel.build(g, tmp_path / "ok")
    x = np.zeros(g.inputs[0].shape, np.int8)
    (y,), (y2,) = m.run([[x], [x + 1]])
    assert y.shape == g.outputs[0].shape and y.dtype == np.int8 and y2.shape == y.shape
    with pytest.raises(DataError, match="dtype float32"):
        m.run([[x.astype(np.float32)]])
    with pytest.raises(DataError, match="2 input array"):
        m.run([[x, x]])
    with pytest.raises(DataError, match="1 input array"):
        evaluate.run_tflite((FIXTURES / "multi_io_int8.tflite").read_bytes(), [np.zeros((2, 4), np.float32)],
                            runtime="edgeq-c")
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissing, match="gcc not found") as e:
        host.HostModel.build(g, tmp_path / "nogcc")
    assert e.value.hint == "apt-get install -y gcc"


@pytest.mark.slow
def test_cli_eval_json_and_bad_input(tmp_path, capsys, digits_int8):
    from quality_models import DIGITS, run_cli

    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(digits_int8)
    code, stdout, err = run_cli(capsys, "eval", DIGITS / "model.keras", tfl, "--eval", DIGITS / "eval.npz",
                                "--target", "cortex-m4", "--json")
    assert code == 0, err
    out = json.loads(stdout)
    assert out["runtime"] == "tflm" and out["samples"] == 450 and out["accuracy_drop_pp"] is not None
    assert sum(out["error_histogram"]["counts"]) == 450 * 10
    nolab = tmp_path / "nolabels.npz"
    np.savez(nolab, image=np.load(DIGITS / "eval.npz")["image"])
    code, _, err = run_cli(capsys, "eval", DIGITS / "model.keras", tfl, "--eval", nolab, "--metric", "accuracy")
    assert code == 1 and "needs labels" in err


@pytest.fixture(scope="session")
def digits():
    from quality_models import digits_model

    return digits_model()


@pytest.fixture(scope="session")
def digits_eval(digits):
    from quality_models import DIGITS

    from edgeq import data

    return data.load_dataset(str(DIGITS / "eval.npz"), digits.inputs, role="eval")


@pytest.fixture(scope="session")
def digits_int8(digits):
    from quality_models import DIGITS

    from edgeq import convert, data

    cal = data.load_dataset(str(DIGITS / "calib.npz"), digits.inputs)
    return convert.quantize(digits, "int8", cal.inputs, io_dtype="int8")


@pytest.mark.slow
def test_cli_eval_checks_the_data_like_convert(tmp_path, capsys, digits_int8):
    """0..255 float data for the digits model (no Rescaling layer): `edgeq eval` refuses it with the fix; both
    fixes work; --layerwise shows each op's share of the output error and defines it."""
    from quality_models import DIGITS, run_cli

    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(digits_int8)
    z = np.load(DIGITS / "eval.npz")
    raw = tmp_path / "raw.npz"
    np.savez(raw, image=z["image"][:100] * 255.0, y=z["y"][:100])
    args = ("eval", DIGITS / "model.keras", tfl, "--eval", raw, "--target", "cortex-m4")
    code, _, err = run_cli(capsys, *args)
    assert code == 1 and "no Rescaling layer" in err and "--allow-raw-range" in err and "raw.npz" in err
    code, stdout, err = run_cli(capsys, *args, "--image-scale", "unit", "--json")
    assert code == 0, err
    scaled = json.loads(stdout)
    assert "--image-scale" in scaled["scaling"] and scaled["float_accuracy"] > 0.9
    code, stdout, err = run_cli(capsys, *args, "--allow-raw-range", "--json")
    assert code == 0 and "--allow-raw-range" in err
    assert json.loads(stdout)["quant_accuracy"] < scaled["quant_accuracy"]  # why it is refused by default
    code, stdout, err = run_cli(capsys, "eval", DIGITS / "model.keras", tfl, "--eval", DIGITS / "eval.npz",
                                "--eval-samples", "40", "--layerwise")
    assert code == 0, err
    rows = [ln for ln in stdout.splitlines() if ln.strip().startswith("#")]
    assert rows and all(" share " in ln and "drop" not in ln for ln in rows)
    assert "Share: the op's share of the output error" in stdout


@pytest.mark.slow
def test_convert_eval_on_a_regressor_reports_targets(tmp_path):
    """`convert --eval` on a regression model: MSE/MAE against the targets in report.json and report.md, no
    top-1 agreement; --layerwise: SQNR and share columns with their definition."""
    import keras

    from edgeq.pipeline import ConvertRequest, run

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((6,), name="x"), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3)])
    m.save(tmp_path / "reg.keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=m.predict(x, verbose=0) + 0.1 * rng.normal(size=(120, 3)))
    res = run(ConvertRequest(model=str(tmp_path / "reg.keras"), target="rpi4", out_dir=str(tmp_path / "out"),
                             calib=str(tmp_path / "d.npz"), eval=str(tmp_path / "d.npz"), layerwise=True))
    ev = res.report["evaluation"]
    assert ev["task"] == "regression" and ev["top1_agreement"] is None
    assert ev["float_target_mae"] > 0 and ev["quant_target_mse"] > 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "MAE float" in md and "top-1 agreement" not in md
    assert "share of output error" in md and "Share: the op's share" in md
