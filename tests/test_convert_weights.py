"""`edgeq convert --weights int4|ternary|binary`: sub-byte weights in the generated C (issue #9, user side).

End to end on the committed digits CNN: real TF conversion, tflite-micro, the generated C built with the host gcc.
The report's figures are recomputed here from the written files (the .tflite's weights, the eval set)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from quality_models import DIGITS, run_cli

CAL, EV, MODEL = DIGITS / "calib.npz", DIGITS / "eval.npz", DIGITS / "model.keras"


def _codegen_packs() -> bool:
    import inspect

    from edgeq import codegen

    return "weight_bits" in inspect.signature(codegen.generate).parameters


needs_packed_codegen = pytest.mark.skipif(not _codegen_packs(), reason="edgeq.codegen.generate has no weight_bits "
                                          "yet (packed kernels, issue #9 part 1)")


def _levels(op, tensors) -> int:
    """Most distinct int8 weight values in one output channel, straight from the .tflite (numpy only)."""
    w = tensors[op.inputs[1]].array()
    ch = w.reshape(-1, w.shape[-1]).T if op.opcode == "DEPTHWISE_CONV_2D" else w.reshape(w.shape[0], -1)
    return max(len(np.unique(c)) for c in ch)


def _convert(capsys, out, *extra):
    return run_cli(capsys, "convert", MODEL, "-t", "cortex-m4", "--calib", CAL, "--eval", EV, "-o", out, "--json",
                   *extra)


@pytest.fixture(scope="module")
def int4_build(tmp_path_factory):
    """One int4 conversion shared by the checks below (in-process CLI; capsys is function-scoped, so capture here)."""
    import contextlib
    import io

    from edgeq.cli import main

    out = tmp_path_factory.mktemp("w") / "int4"
    buf_out, buf_err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        try:
            main(["convert", str(MODEL), "-t", "cortex-m4", "--calib", str(CAL), "--eval", str(EV), "-o", str(out),
                  "--weights", "int4", "--json"])
        except SystemExit as e:
            code = int(e.code or 0)
    assert code == 0, buf_err.getvalue()[-3000:]
    return out, json.loads(buf_out.getvalue())


@pytest.mark.slow
@needs_packed_codegen
def test_int4_layers_levels_and_bytes(int4_build):
    from edgeq.graph import load

    out, rep = int4_build
    w = rep["weights"]
    g = load(out / "model.tflite")
    ops = {op.index: op for op in g.operators}
    # default: every weight layer but the first and the last
    assert [x["layer"] for x in w["layers"] if x["scheme"] == "int4"] == ["depthwise_conv2d", "conv2d_1", "conv2d_2"]
    assert [x["scheme"] for x in w["layers"]][0] == [x["scheme"] for x in w["layers"]][-1] == "int8"
    for x in w["layers"]:
        levels = _levels(ops[x["op_index"]], g.main.tensors)
        assert x["levels"] == levels
        if x["scheme"] == "int4":
            assert levels <= 16 and w["weight_bits"][str(x["op_index"])] == 4
    # the first layer keeps int8 weights with more than 16 levels somewhere in the model (else nothing is tested)
    assert max(x["levels"] for x in w["layers"] if x["scheme"] == "int8") > 16
    # packed bytes as the generated C stores them (indices + per-channel tables): about half of int8 on a large layer
    for x in w["layers"]:
        assert x["packed_bytes"] is not None
        if x["scheme"] == "int4" and x["weights"] >= 4096:
            assert x["packed_bytes"] < 0.6 * x["int8_bytes"], x
    assert w["packed_bytes"] == sum(x["packed_bytes"] for x in w["layers"]) < w["int8_bytes"]
    assert (out / "edgeq_model.c").is_file()
    md = (out / "report.md").read_text()
    assert "## Weights: int4" in md and "depthwise_conv2d" in md
    assert "Weights: int4" in (out / "report.html").read_text()


@pytest.mark.slow
@needs_packed_codegen
def test_int4_accuracy_is_measured_on_the_packed_c(int4_build):
    """The report's packed accuracy equals an independent run of the .tflite on tflite-micro (bit-exact)."""
    from edgeq import convert, data
    from edgeq.quality import evaluate

    out, rep = int4_build
    acc = rep["weights"]["accuracy"]
    assert acc["packed_equals_int8"] is True and acc["packed_runtime"] == "edgeq-c"
    m = convert.load_model(MODEL)
    ds = data.load_dataset(str(EV), m.inputs, role="eval")
    q = evaluate.run_tflite((out / "model.tflite").read_bytes(), ds.inputs, runtime="tflm")[0]
    assert acc["packed_accuracy"] == pytest.approx(float(np.mean(q.argmax(1) == ds.labels)))
    assert acc["int8_accuracy"] - acc["packed_accuracy"] < 0.03  # int4 post-training costs little here


@pytest.mark.slow
@needs_packed_codegen
def test_eval_edgeq_c_uses_the_packed_weights(int4_build, capsys):
    out, rep = int4_build
    code, o, err = run_cli(capsys, "eval", MODEL, out / "model.tflite", "--eval", EV, "--runtime", "edgeq-c",
                           "--json")
    assert code == 0, err
    r = json.loads(o)
    assert r["weight_bits"] == rep["weights"]["weight_bits"]
    assert r["quant_accuracy"] == pytest.approx(rep["weights"]["accuracy"]["packed_accuracy"])


def _train_npz(tmp_path):
    from quality_models import digits_split

    x_tr, _, y_tr, _ = digits_split()  # the eval set is the other part of this split
    np.savez(tmp_path / "train.npz", image=x_tr, y=y_tr)
    return tmp_path / "train.npz"


@pytest.mark.slow
@needs_packed_codegen
def test_ternary_with_fine_tuning(tmp_path, capsys):
    from edgeq.graph import load

    code, o, err = _convert(capsys, tmp_path / "t", "--weights", "ternary", "--weights-layers", "conv2d_1,conv2d_2",
                            "--train", _train_npz(tmp_path), "--train-epochs", "1")
    assert code == 0, err
    w = json.loads(o)["weights"]
    assert {x["layer"] for x in w["layers"] if x["scheme"] == "ternary"} == {"conv2d_1", "conv2d_2"}
    ft = w["fine_tune"]
    assert ft["epochs"] == 1 and ft["kept"] in ("fine-tuned", "post-training")
    c = ft["check"]
    assert ft["kept"] == ("post-training" if c["fine_tuned"] < c["ptq"] else "fine-tuned")
    g = load(tmp_path / "t" / "model.tflite")
    for x in w["layers"]:
        if x["scheme"] == "ternary":
            assert _levels(g.operators[x["op_index"]], g.main.tensors) <= 3 and x["bits"] == 2


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("args,expect", [
    (("--weights-layers", "conv2d_3"), "no layer 'conv2d_3'"),
    (("--weights-layers", "conv2d_1,digits"), "Did you mean `digit`?"),
    (("--weights-layers", "max_pooling2d"), "'max_pooling2d' (MaxPooling2D) has no weights"),
    (("--weights-layers", "conv2d_1:int3"), "unknown weight scheme 'int3'"),
    (("--mode", "int16x8"), "needs --mode int8"),
    (("--no-codegen",), "--no-codegen"),
    (("--max-accuracy-drop", "1"), "exclude each other"),
])
def test_bad_input_exit_2_nothing_written(tmp_path, capsys, args, expect):
    out = tmp_path / "o"
    code, o, err = _convert(capsys, out, "--weights", "binary", *args)
    assert code == 2, err
    assert expect in " ".join(err.split()), err
    assert "Traceback" not in err and not out.exists()


def test_target_without_generated_c(tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "convert", MODEL, "-t", "rpi4", "--calib", CAL, "-o", out, "--weights", "int4")
    assert code == 2 and "generated C" in err and "cortex-m4" in err and not out.exists()


def test_layer_with_weights_but_no_packed_kernel(tmp_path, capsys):
    import keras

    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="fc1"),
                          keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(4, name="fc2")])
    p = tmp_path / "bn.keras"
    m.save(p)
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).normal(size=(32, 8)).astype(np.float32))
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "convert", p, "-t", "cortex-m4", "--calib", tmp_path / "cal.npz", "-o", out,
                           "--weights", "int4", "--weights-layers", "bn")
    msg = " ".join(err.split())
    assert code == 2 and "'bn' (BatchNormalization) cannot use int4 weights" in msg and not out.exists(), err
    # the default (all but the first and last weight layer) leaves nothing: said, with the layers to name
    code, _, err = run_cli(capsys, "convert", p, "-t", "cortex-m4", "--calib", tmp_path / "cal.npz", "-o", out,
                           "--weights", "int4")
    assert code == 2 and "--weights-layers fc1,fc2" in " ".join(err.split()) and not out.exists(), err


@pytest.mark.parametrize("bad", ["shape", "labels"])
def test_fine_tuning_data_that_does_not_match(tmp_path, capsys, bad):
    x = np.load(CAL)["image"]
    if bad == "shape":
        np.savez(tmp_path / "tr.npz", image=x[:, :6, :6], y=np.zeros(len(x), np.int64))
    else:
        np.savez(tmp_path / "tr.npz", image=x, y=np.full(len(x), 12, np.int64))
    out = tmp_path / "o"
    code, _, err = _convert(capsys, out, "--weights", "ternary", "--train", tmp_path / "tr.npz")
    msg = " ".join(err.split())
    assert code == 2 and "--train" in msg and not out.exists(), err
    if bad == "labels":
        assert "10 classes" in msg


# ------------------------------------------------------------------------------------------------ flash search


@pytest.mark.slow
@needs_packed_codegen
def test_search_minimize_flash(tmp_path, capsys):
    """One layer may be packed: int4 meets a 1 pp budget here, ternary does not; the written .tflite is the chosen
    model (recomputed: its levels and its accuracy on tflite-micro)."""
    from edgeq import convert, data
    from edgeq.graph import load
    from edgeq.quality import evaluate

    out = tmp_path / "best.tflite"
    code, o, err = run_cli(capsys, "search", MODEL, "-t", "cortex-m4", "--calib", CAL, "--eval", EV,
                           "--max-accuracy-drop", "1", "--minimize", "flash", "--layers", "conv2d_2", "-o", out,
                           "--json")
    assert code == 0, err
    r = json.loads(o)
    rows = {c["name"]: c for c in r["candidates"]}
    assert r["chosen"] == "conv2d_2:int4" and rows["conv2d_2:int4"]["chosen"]
    assert not rows["conv2d_2:ternary"]["met_budget"]
    assert r["flash_bytes"] < 0.7 * rows["int8"]["flash_bytes"]
    assert r["convert_args"] == "--weights int4 --weights-layers conv2d_2:int4"
    g = load(out)
    (op,) = [g.operators[int(i)] for i, b in r["weight_bits"].items() if b == 4]
    assert _levels(op, g.main.tensors) <= 16
    m = convert.load_model(MODEL)
    ds = data.load_dataset(str(EV), m.inputs, role="eval")
    q = evaluate.run_tflite(out.read_bytes(), ds.inputs, runtime="tflm")[0]
    assert rows["conv2d_2:int4"]["accuracy"] == pytest.approx(float(np.mean(q.argmax(1) == ds.labels)))
    assert json.loads((tmp_path / "best.search.json").read_text())["chosen"] == "conv2d_2:int4"


@pytest.mark.slow
def test_search_minimize_flash_budget_not_met_and_usage(tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", MODEL, "-t", "cortex-m4", "--calib", CAL, "--eval", EV,
                           "--max-accuracy-drop", "-1", "--minimize", "flash", "--layers", "conv2d_2")
    assert code == 3 and "even int8 weights" in " ".join(err.split()), err
    code, _, err = run_cli(capsys, "search", MODEL, "-t", "cortex-m4", "--calib", CAL, "--eval", EV,
                           "--minimize", "flash", "--min-sqnr", "20")
    assert code == 2 and "--max-accuracy-drop" in err
    code, _, err = run_cli(capsys, "search", MODEL, "-t", "rpi4", "--calib", CAL, "--eval", EV,
                           "--minimize", "flash", "--max-accuracy-drop", "1")
    assert code == 2 and "generated C" in err


@pytest.mark.slow
@needs_packed_codegen
def test_check_flash_figure_counts_the_packed_weights(int4_build):
    """The convert-time flash check uses the packed weights (a model that fits only packed is not refused)."""
    from edgeq import check
    from edgeq.graph import load

    out, rep = int4_build
    g = load(out / "model.tflite")
    est = rep["check"]["flash_estimates"][0]
    assert est["runtime"] == "edgeq generated C"
    int8 = check.generated_c_model_bytes(g, dsp=True)
    saved = rep["weights"]["int8_bytes"] - rep["weights"]["packed_bytes"]
    assert est["model_bytes"] < int8 - saved // 2


def test_resolve_layers_default_all_and_per_layer_schemes():
    from edgeq import convert
    from edgeq.quality import lowbit

    m = convert.load_model(MODEL)
    assert lowbit.resolve_layers(m, None, "int4") == {"depthwise_conv2d": "int4", "conv2d_1": "int4",
                                                      "conv2d_2": "int4"}
    assert lowbit.resolve_layers(m, ["all:ternary", "digit:int8", "conv2d:binary"], "int4") == {
        "conv2d": "binary", "depthwise_conv2d": "ternary", "conv2d_1": "ternary", "conv2d_2": "ternary",
        "digit": "int8"}
