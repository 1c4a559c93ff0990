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


# ------------------------------------------------------------------------------------------------ verifier

import dataclasses  # noqa: E402
import math  # noqa: E402
import struct  # noqa: E402

from edgeq.verify import verify  # noqa: E402


def _edit(g, tensor=None, op=None, **sg_fields):
    """A copy of `g` with main-subgraph tensor (index, changes), op (index, changes) or subgraph fields replaced."""
    sg = g.main
    tensors, ops = list(sg.tensors), list(sg.operators)
    if tensor is not None:
        i, changes = tensor
        tensors[i] = dataclasses.replace(tensors[i], **changes)
    if op is not None:
        i, changes = op
        ops[i] = dataclasses.replace(ops[i], **changes)
    sg = dataclasses.replace(sg, **{"tensors": tuple(tensors), "operators": tuple(ops), **sg_fields})
    return dataclasses.replace(g, subgraphs=(sg, *g.subgraphs[1:]))


def _q(scale, zp, axis=0):
    return graph.QuantParams(tuple(scale), tuple(zp), axis)


@pytest.fixture
def cnn(fixtures):
    return graph.load(fixtures / "cnn_int8.tflite")  # ops: CONV, DW, AVG_POOL, RESHAPE, FC, SOFTMAX


@pytest.mark.parametrize("edit,match", [
    # quantization
    (dict(tensor=(0, {"quant": _q([math.nan], [-128])})), r"tensor #0 'serving_default_img:0': quantization scale nan"),
    (dict(tensor=(0, {"quant": _q([0.0], [-128])})), r"scale 0.0 is not a finite number"),
    (dict(tensor=(0, {"quant": _q([-0.5], [-128])})), r"scale -0.5"),
    (dict(tensor=(0, {"quant": _q([1e-40], [-128])})), r"scale 1e-40"),
    (dict(tensor=(0, {"quant": _q([0.1], [200])})), r"zero point 200 is outside the int8 range \[-128, 127\]"),
    (dict(tensor=(0, {"quant": _q([0.1, 0.1], [0])})), r"2 quantization scales but 1 zero points"),
    (dict(tensor=(6, {"quant": _q([0.1] * 7, [0] * 7)})), r"7 per-channel scales but dimension 0 .* has 8"),
    (dict(tensor=(6, {"quant": _q([0.1] * 8, [0] * 8, axis=5)})), r"axis 5 is not a dimension"),
    # shapes and buffers
    (dict(tensor=(6, {"shape": (8, 3, 3, 2)})), r"tensor #6 .*buffer 7 holds 216 bytes, shape \[8, 3, 3, 2\] x int8 "
                                                r"needs 144"),
    (dict(tensor=(7, {"shape": (1, -6, 6, 8)})), r"negative dimension"),
    (dict(tensor=(7, {"shape": (1, 1 << 20, 1 << 20, 8)})), r"elements \(at most"),
    (dict(tensor=(7, {"shape": (1,) * 9})), r"rank 9"),
    # operators
    (dict(op=(0, {"inputs": (0, 6, 99)})), r"op #0 CONV_2D: input 2 refers to tensor 99, the subgraph has 13"),
    (dict(op=(0, {"inputs": (0, -1, 4)})), r"op #0 CONV_2D: required input 1 is missing"),
    (dict(op=(0, {"inputs": (0,)})), r"op #0 CONV_2D: has 1 inputs, the op takes 2..3"),
    (dict(op=(0, {"outputs": (7, 8)})), r"has 2 outputs"),
    (dict(op=(0, {"outputs": (-1,)})), r"output 0 refers to tensor -1"),
    (dict(op=(0, {"version": 0})), r"op version 0"),
    (dict(op=(0, {"options": {"padding": "SAME", "stride_w": 0, "stride_h": 2, "dilation_w_factor": 1,
                               "dilation_h_factor": 1, "fused_activation_function": "RELU"}})),
     r"option stride_w = 0 \(must be 1\.\.65536"),
    (dict(op=(0, {"options": {"padding": "UNKNOWN", "stride_w": 2, "stride_h": 2, "dilation_w_factor": 1,
                               "dilation_h_factor": 1, "fused_activation_function": "RELU"}})),
     r"option padding has a value outside the TFLite enum"),
    (dict(op=(0, {"outputs": (6,)})), r"writes into tensor #6 .* constant data"),
    # shape relations the kernels rely on
    (dict(tensor=(7, {"shape": (1, 5, 6, 8)})), r"op #0 CONV_2D: output height 5 != 6"),
    (dict(op=(0, {"inputs": (0, 6, 2)})), r"op #0 CONV_2D: bias tensor #2 .* has 288 values for 8 output channels"),
    (dict(op=(4, {"inputs": (10, 6, -1)})), r"op #4 FULLY_CONNECTED: weights tensor #6 .* expected rank 2"),
    (dict(tensor=(11, {"shape": (1, 5)})), r"op #4 FULLY_CONNECTED: output .* does not hold"),
    # data flow
    (dict(op=(5, {"outputs": (11,)})), r"op #5 SOFTMAX: writes tensor #11 .* already written by op #4"),
    (dict(outputs=(40,)), r"output 0 refers to tensor 40, the subgraph has 13 tensors"),
    (dict(inputs=(0, 0)), r"listed twice"),
])
def test_verifier_names_file_op_tensor_and_problem(cnn, edit, match):
    with pytest.raises(ModelError, match=match) as e:
        verify(_edit(cnn, **edit))
    assert str(e.value).startswith(cnn.path)


def test_verifier_finds_cycles_and_bad_signatures(cnn):
    ops = cnn.main.operators
    swapped = _edit(cnn, operators=(*ops[:4], ops[5], ops[4]))  # SOFTMAX now runs before the FC it reads
    with pytest.raises(ModelError, match=r"op #5 SOFTMAX: reads tensor #11 .* before op #4 writes it \(a cycle"):
        verify(swapped)
    g = cnn
    with pytest.raises(ModelError, match=r"signature input 'x' refers to tensor 77"):
        verify(dataclasses.replace(g, signature_inputs=(("x", 77),)))


def test_parse_runs_the_verifier(fixtures):
    """A NaN scale written into the file itself is a ModelError from parse, naming the file and the tensor."""
    data = (fixtures / "cnn_int8.tflite").read_bytes()
    g = graph.parse(data)
    scale = struct.pack("<f", g.inputs[0].quant.scale[0])
    assert data.count(scale) >= 1
    bad = data.replace(scale, struct.pack("<f", math.nan))
    with pytest.raises(ModelError, match=r"bad\.tflite: tensor #0 'serving_default_img:0': quantization scale nan"):
        graph.parse(bad, "bad.tflite")


def test_every_fixture_passes_the_verifier(fixtures):
    for p in sorted(fixtures.rglob("*.tflite")):
        verify(graph.load(p))  # raises on a false positive


@pytest.mark.parametrize("where,value,match", [
    (2, 2, r"table at offset \d+ has a corrupt vtable"),  # object size below the soffset itself
    (0, 3, r"table at offset \d+ has a corrupt vtable: 3 bytes"),  # odd vtable length
    (4, 0xFFF0, r"field 0 of the table at offset \d+ lies outside the table"),
])
def test_vtable_checks_like_flatbuffers_verifier(fixtures, where, value, match):
    data = bytearray((fixtures / "cnn_int8.tflite").read_bytes())
    root = struct.unpack_from("<I", data, 0)[0]
    vt = root - struct.unpack_from("<i", data, root)[0]
    struct.pack_into("<H", data, vt + where, value)
    with pytest.raises(ModelError, match=r"m\.tflite: not a valid \.tflite \(" + match):
        graph.parse(bytes(data), "m.tflite")


def test_metadata_buffer_out_of_range(fixtures):
    """TFLM reads metadata buffers (offline memory plans): an index past the buffers is refused up front."""
    data = bytearray((fixtures / "cnn_int8.tflite").read_bytes())
    buf = graph._Buf(bytes(data), "m")
    meta = graph._Table(buf, buf.u32(0)).tables(6)[0]
    struct.pack_into("<I", data, meta._field(1), 999)
    with pytest.raises(ModelError, match=r"m\.tflite: metadata 0 'min_runtime_version' refers to buffer 999"):
        graph.parse(bytes(data), "m.tflite")


def test_options_table_of_the_wrong_type(fixtures):
    """The union type decides how a reader lays out the options table: it must be the op's own."""
    data = bytearray((fixtures / "cnn_int8.tflite").read_bytes())
    buf = graph._Buf(bytes(data), "m")
    conv = graph._Table(buf, buf.u32(0)).tables(2)[0].tables(3)[0]
    struct.pack_into("<B", data, conv._field(3), 3)  # ConcatEmbeddingsOptions
    with pytest.raises(ModelError, match=r"m\.tflite: subgraph 0: op #0 CONV_2D: its options table is declared as "
                                         r"ConcatEmbeddingsOptions, the op takes Conv2DOptions"):
        graph.parse(bytes(data), "m.tflite")
