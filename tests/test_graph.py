"""The .tflite reader (no TensorFlow): tensors, quantization, options, signatures, and corrupt files."""

import numpy as np
import pytest

from edgeq import graph
from edgeq.errors import ModelError


def test_int8_cnn_structure(fixtures):
    g = graph.load(fixtures / "cnn_int8.tflite")
    ops = [op.opcode for op in g.operators]
    assert ops[:3] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"]
    assert "FULLY_CONNECTED" in ops and ops[-1] == "SOFTMAX"
    conv = g.operators[0]
    assert conv.options["stride_w"] == 2 and conv.options["padding"] == "SAME"
    assert conv.options["fused_activation_function"] == "RELU"
    assert g.operators[1].options["fused_activation_function"] == "RELU6"
    (inp,) = g.inputs
    assert inp.shape == (1, 12, 12, 3) and inp.dtype == "int8"
    assert inp.quant is not None and len(inp.quant.scale) == 1
    w = g.main.tensors[conv.inputs[1]]
    assert w.is_constant and w.dtype == "int8" and w.quant.per_channel and len(w.quant.scale) == 8
    assert w.array().shape == (8, 3, 3, 3)
    bias = g.main.tensors[conv.inputs[2]]
    assert bias.dtype == "int32" and bias.array().dtype == np.int32
    assert g.weight_bytes > 0 and g.size_bytes == (fixtures / "cnn_int8.tflite").stat().st_size


def test_per_tensor_and_int16(fixtures):
    g = graph.load(fixtures / "cnn_int8_per_tensor.tflite")
    w = g.main.tensors[g.operators[0].inputs[1]]
    assert not w.quant.per_channel
    g16 = graph.load(fixtures / "cnn_int16x8.tflite")
    assert g16.inputs[0].dtype == "int16"
    assert any(t.dtype == "int64" for t in g16.main.tensors)  # int16x8 biases are int64


def test_signature_maps_names_to_tensors(fixtures):
    g = graph.load(fixtures / "multi_io_int8.tflite")
    names = dict(g.signature_inputs)
    assert set(names) == {"a", "b"}
    in_pos, out_pos = g.io_positions(["a", "b"], ["output_0", "output_1"])
    assert [g.inputs[p].shape[-1] for p in in_pos] == [6, 4]
    assert [g.outputs[p].shape[-1] for p in out_pos] == [3, 1]
    with pytest.raises(ModelError, match="no tensor named 'c'"):
        g.io_positions(["a", "c"], None)


def test_reorder_io_rewrites_positional_order(fixtures):
    data = (fixtures / "multi_io_int8.tflite").read_bytes()
    g = graph.parse(data)
    assert [t.name for t in g.inputs] == ["serving_default_a:0", "serving_default_b:0"]  # Keras order
    swapped = graph.reorder_io(data, ["b", "a"], ["output_1", "output_0"])
    g2 = graph.parse(swapped)
    assert [t.shape[-1] for t in g2.inputs] == [4, 6] and [t.shape[-1] for t in g2.outputs] == [1, 3]
    assert graph.reorder_io(swapped, ["a", "b"], ["output_0", "output_1"]) == data
    assert graph.reorder_io(data, ["a", "zzz"], ["output_0", "output_1"]) == data  # unknown name: untouched


def test_truncated_file_is_clear_error(fixtures, tmp_path):
    data = (fixtures / "cnn_int8.tflite").read_bytes()
    for cut in (len(data) // 2, 100, 12):
        p = tmp_path / f"cut{cut}.tflite"
        p.write_bytes(data[:cut])
        with pytest.raises(ModelError, match=r"cut\d+\.tflite"):
            graph.load(p)


def test_not_a_flatbuffer(tmp_path):
    p = tmp_path / "model.tflite"
    p.write_text("this is not a model")
    with pytest.raises(ModelError, match="TFL3"):
        graph.load(p)
    with pytest.raises(ModelError, match="not found"):
        graph.load(tmp_path / "missing.tflite")
    with pytest.raises(ModelError, match="only 3 bytes"):
        graph.parse(b"abc", "x.tflite")
