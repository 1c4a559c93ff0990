"""TFLM's native messages never reach the user's terminal: they become edgeq's own error (issue 17).

gelu_int8.tflite: keras Sequential([Input((8,)), Dense(16, activation="gelu"), Dense(4)]) converted int8 with float
I/O by `edgeq convert -t rpi4` (LiteRT has GELU, tflite-micro does not).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.convert import TflmError, quiet_native, tflm_interpreter, tflm_reason

pytest.importorskip("tflite_micro")


def test_missing_op_is_named_and_silenced(fixtures, capfd):
    from edgeq.quality.evaluate import run_tflite

    data = (fixtures / "gelu_int8.tflite").read_bytes()
    with pytest.raises(TflmError, match=r"^tflite-micro has no kernel for GELU$"):
        run_tflite(data, [np.zeros((2, 8), np.float32)], runtime="tflm")
    out, err = capfd.readouterr()
    assert "Didn't find op" not in err + out and "GELU" not in err + out


def test_tflm_still_runs_a_supported_model(fixtures, capfd):
    it = tflm_interpreter((fixtures / "cnn_int8.tflite").read_bytes())
    assert it.get_input_details(0)["dtype"] == np.int8
    assert capfd.readouterr().err == ""


def test_quiet_native_keeps_the_text_when_asked(capfd):
    import os

    kept: list[str] = []
    with quiet_native(kept):
        os.write(2, b"native stderr\n")
        os.write(1, b"native stdout\n")
    assert "native stderr" in kept[0] and "native stdout" in kept[0]
    assert capfd.readouterr() == ("", "")


def test_reason_without_a_missing_op():
    assert tflm_reason("", RuntimeError("invoke failed")) == "tflite-micro could not run the model: invoke failed"
    assert tflm_reason("Failed to get registration\nDidn't find op for builtin opcode 'ERF'\n") == \
        "tflite-micro has no kernel for ERF"
