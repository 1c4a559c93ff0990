"""Representative/eval data: every format, and every lint rule with a clear message."""

import numpy as np
import pytest

from edgeq.convert import TensorSpec
from edgeq.data import load_dataset
from edgeq.errors import DataError

IMG = (TensorSpec("img", (None, 8, 8, 1), "float32"),)
TWO = (TensorSpec("a", (None, 6), "float32"), TensorSpec("b", (None, 4), "float32"))
rng = np.random.default_rng(0)


def test_npz_by_input_name_with_labels(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, img=rng.random((80, 8, 8, 1)), y=np.arange(80) % 10)
    ds = load_dataset(str(p), IMG)
    assert len(ds) == 80 and ds.inputs[0].dtype == np.float32 and ds.labels is not None and not ds.warnings


def test_npz_multi_input_and_key_mismatch(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, b=rng.random((60, 4)), a=rng.random((60, 6)))
    ds = load_dataset(str(p), TWO)
    assert ds.inputs[0].shape == (60, 6) and ds.inputs[1].shape == (60, 4)
    np.savez(p, x=rng.random((60, 6)), z=rng.random((60, 4)))
    with pytest.raises(DataError, match=r"keys \['x', 'z'\] do not match the model inputs \['a', 'b'\]"):
        load_dataset(str(p), TWO)


def test_npy_adds_channel_and_subsamples_deterministically(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, rng.random((300, 8, 8)).astype(np.float32))
    a = load_dataset(str(p), IMG, samples=100, seed=7)
    b = load_dataset(str(p), IMG, samples=100, seed=7)
    c = load_dataset(str(p), IMG, samples=100, seed=8)
    assert a.inputs[0].shape == (100, 8, 8, 1) and a.total_samples == 300
    assert np.array_equal(a.inputs[0], b.inputs[0]) and not np.array_equal(a.inputs[0], c.inputs[0])
    assert any("channel" in w for w in a.warnings)


def test_csv_with_label_column(tmp_path):
    p = tmp_path / "d.csv"
    rows = ["f0,f1,f2,f3,f4,f5,label"] + [",".join(f"{v:.3f}" for v in rng.random(6)) + f",{i % 3}" for i in range(60)]
    p.write_text("\n".join(rows))
    ds = load_dataset(str(p), (TensorSpec("x", (None, 6), "float32"),))
    assert ds.inputs[0].shape == (60, 6) and list(ds.labels[:3]) == [0, 1, 2]


def test_image_folder_with_class_subfolders(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray((rng.random((20, 16)) * 255).astype(np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = load_dataset(str(tmp_path), IMG, role="eval")
    assert ds.inputs[0].shape == (6, 8, 8, 1) and 0 <= ds.inputs[0].min() and ds.inputs[0].max() <= 1
    assert list(ds.labels) == [0, 0, 0, 1, 1, 1] and "unit" in ds.scaling
    raw = load_dataset(str(tmp_path), IMG, role="eval", image_scale="raw")
    assert raw.inputs[0].max() > 1.5


def test_module_function_source(tmp_path, monkeypatch):
    (tmp_path / "mydata.py").write_text(
        "import numpy as np\n"
        "def samples():\n"
        "    r = np.random.default_rng(1)\n"
        "    for i in range(55):\n"
        "        yield {'a': r.random(6), 'b': r.random((1, 4)), 'y': i % 2}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ds = load_dataset("mydata:samples", TWO)
    assert ds.inputs[1].shape == (55, 4) and len(ds.labels) == 55
    ds2 = load_dataset(f"{tmp_path / 'mydata.py'}:samples", TWO)
    assert np.array_equal(ds.inputs[0], ds2.inputs[0])
    with pytest.raises(DataError, match="has no function 'nope'"):
        load_dataset("mydata:nope", TWO)


@pytest.mark.parametrize("make,match", [
    (lambda: rng.random((60, 8, 8, 3)), r"input 'img': samples have shape \(8, 8, 3\).*expects \(N, 8, 8, 1\)"),
    (lambda: np.where(rng.random((60, 8, 8, 1)) > 0.99, np.nan, 0.5), r"NaN/Inf values \(first in sample"),
    (lambda: np.full((60, 8, 8, 1), 0.3), r"all 60 samples are identical"),
    (lambda: np.zeros((0, 8, 8, 1)), r"no samples"),
    (lambda: np.array(["a"] * 64).reshape(1, 8, 8, 1), r"not numeric"),
])
def test_lint_errors_name_input_and_fix(tmp_path, make, match):
    p = tmp_path / "bad.npy"
    np.save(p, make())
    with pytest.raises(DataError, match=match) as e:
        load_dataset(str(p), IMG)
    assert str(p) in str(e.value) and e.value.hint


def test_warnings_few_samples_and_raw_pixels(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, rng.integers(0, 256, (20, 8, 8, 1)).astype(np.float32))
    ds = load_dataset(str(p), IMG)
    assert any("only 20 calibration samples" in w for w in ds.warnings)
    assert any("raw 0..255 pixels" in w for w in ds.warnings)
    with pytest.raises(DataError, match="no Rescaling layer"):
        load_dataset(str(p), IMG, expects_raw_pixels=False)


def test_label_count_mismatch_and_missing_file(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, img=rng.random((60, 8, 8, 1)), y=np.arange(59))
    with pytest.raises(DataError, match="59 labels for 60 samples"):
        load_dataset(str(p), IMG, role="eval")
    with pytest.raises(DataError, match="not found"):
        load_dataset(str(tmp_path / "nope.npz"), IMG)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_raw_range_is_an_error_with_the_fix(tmp_path, dtype):
    """0..255 data for a model without Rescaling: an error whether float32 (even non-integral) or uint8; the fix
    (--image-scale, --allow-raw-range) works."""
    p = tmp_path / "d.npy"
    x = rng.random((60, 8, 8, 1)) * 255
    np.save(p, x.astype(dtype))
    with pytest.raises(DataError, match=r"values lie in .*no Rescaling layer") as e:
        load_dataset(str(p), IMG, expects_raw_pixels=False)
    assert "--image-scale unit" in e.value.hint and "--allow-raw-range" in e.value.hint
    ok = load_dataset(str(p), IMG, expects_raw_pixels=False, allow_raw_range=True)
    assert ok.inputs[0].max() > 200 and any("--allow-raw-range" in w for w in ok.warnings)
    unit = load_dataset(str(p), IMG, expects_raw_pixels=False, array_scale="unit")
    assert 0 <= unit.inputs[0].min() and unit.inputs[0].max() <= 1.0 and "--image-scale" in unit.scaling
    sym = load_dataset(str(p), IMG, expects_raw_pixels=False, array_scale="symmetric")
    assert sym.inputs[0].min() >= -1.0 and sym.inputs[0].min() < -0.9
    assert load_dataset(str(p), IMG, expects_raw_pixels=False, array_scale="raw").inputs[0].max() > 200
    assert any("pixels?" in w for w in load_dataset(str(p), IMG).warnings)  # model unknown: a warning


def test_expects_raw_pixels_from_the_first_layers():
    from edgeq.data import expects_raw_pixels

    def model(*kinds):
        layers = [type(k, (), {})() for k in kinds]
        return type("M", (), {"handle": type("H", (), {"layers": layers})()})()

    assert expects_raw_pixels(model("InputLayer", "RandomFlip", "Rescaling", "Conv2D")) is True
    assert expects_raw_pixels(model("InputLayer", "Conv2D")) is False
    assert expects_raw_pixels(model("InputLayer", "Normalization", "Conv2D")) is None
    assert expects_raw_pixels(object()) is None


def test_flat_rows_reshaped_when_unambiguous_and_said(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, rng.random((200, 64)).astype(np.float32))
    ds = load_dataset(str(p), IMG)
    assert ds.inputs[0].shape == (200, 8, 8, 1)
    assert any("reshaped to (8, 8, 1)" in w for w in ds.warnings)
    np.save(p, rng.random((200, 192)).astype(np.float32))
    rgb = (TensorSpec("img", (None, 8, 8, 3), "float32"),)
    with pytest.raises(DataError, match="ambiguous") as e:
        load_dataset(str(p), rgb)
    assert "transpose(0, 2, 3, 1)" in e.value.hint


def test_npz_names_matched_or_said(tmp_path):
    pixels = (TensorSpec("pixels", (None, 8, 8, 1), "float32"),)
    p = tmp_path / "d.npz"
    np.savez(p, image=rng.random((60, 8, 8, 1)), y=np.arange(60) % 10)
    ds = load_dataset(str(p), pixels)
    assert any("array 'image' used for model input 'pixels'" in w for w in ds.warnings)
    np.savez(p, image=rng.random((60, 8, 8, 1)), mask=rng.random((60, 8, 8, 1)))
    with pytest.raises(DataError, match=r"keys \['image', 'mask'\] do not match .*ambiguous"):
        load_dataset(str(p), pixels)
    np.savez(p, pixels=rng.random((60, 8, 8, 1)), extra=rng.random((60, 3)))
    assert any("['extra'] match no model input" in w for w in load_dataset(str(p), pixels).warnings)
    np.savez(p, x1=rng.random((60, 4)), x0=rng.random((60, 6)))
    ds = load_dataset(str(p), TWO)
    assert ds.inputs[0].shape == (60, 6) and any("'x0' -> 'a'" in w for w in ds.warnings)


def test_csv_encoding_and_shape_errors_name_the_line(tmp_path):
    p = tmp_path / "d.csv"
    rows = [",".join(f"{v:.3f}" for v in rng.random(6)) for _ in range(60)]
    p.write_bytes(("\n".join(rows[:3]) + "\n").encode() + b"0.5,caf\xe9,1,2,3,4\n")
    with pytest.raises(DataError, match=r"d.csv: line 4: byte 0xe9 .* not UTF-8") as e:
        load_dataset(str(p), (TensorSpec("x", (None, 6), "float32"),))
    assert "utf-8" in e.value.hint
    p.write_text("\n".join(["a,b,c,d,e,f,label"] + [r + ",1" for r in rows]), encoding="utf-16")
    assert len(load_dataset(str(p), (TensorSpec("x", (None, 6), "float32"),))) == 60
    p.write_text("\n".join(rows[:10] + ["1,2,3"] + rows[10:]))
    with pytest.raises(DataError, match="line 11 has 3 columns, expected 6"):
        load_dataset(str(p), (TensorSpec("x", (None, 6), "float32"),))
    p.write_text("\n".join(rows[:10] + ["1,2,x,4,5,6"]))
    with pytest.raises(DataError, match="line 11, column 3: non-numeric value 'x'"):
        load_dataset(str(p), (TensorSpec("x", (None, 6), "float32"),))


def test_damaged_files_are_clear_errors(tmp_path):
    from PIL import Image

    p = tmp_path / "d.npy"
    np.save(p, rng.random((60, 8, 8, 1)).astype(np.float32))
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"truncated: the header declares shape \(60, 8, 8, 1\)"):
        load_dataset(str(p), IMG)
    raw = p.read_bytes()
    p.write_bytes(raw.replace(b"(60, 8, 8, 1)", b"(10**9, 8, 8, 1)"))
    with pytest.raises(DataError, match="not a readable .npy"):
        load_dataset(str(p), IMG)
    p.write_bytes(raw.replace(b"(60, 8, 8, 1)", b"(9999999999,)"))
    with pytest.raises(DataError, match=r"declares shape \(9999999999,\) float32 = 37.3 GiB, more than edgeq reads"):
        load_dataset(str(p), IMG)
    np.save(p, np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="Python objects"):
        load_dataset(str(p), IMG)
    z = tmp_path / "d.npz"
    np.savez_compressed(z, img=rng.random((60, 8, 8, 1)))
    z.write_bytes(z.read_bytes()[: len(z.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"d.npz: not a readable .npz"):
        load_dataset(str(z), IMG)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    (folder / "1.png").write_bytes((folder / "1.png").read_bytes()[:60])
    with pytest.raises(DataError, match=r"1.png: cannot read image") as e:
        load_dataset(str(folder), IMG)
    assert "remove or replace" in e.value.hint
