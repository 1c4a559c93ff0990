"""Data stage: representative (calibration) and evaluation datasets, matched to the model's inputs and linted.

Sources: `.npy` (one array), `.npz` (keys = input names, or one array; labels under y/label/labels), a folder of
images (optionally one subfolder per class), `.csv` (one sample per row, optional `label` column), and
`module:function` / `file.py:function` returning an iterable of samples. Every problem names the source and the
input, and says what to do. Sub-sampling is deterministic (seeded).

Files are untrusted input: `.npy` headers are parsed and their declared size checked against the bytes present
before anything is allocated (truncated files, absurd shapes, pickled objects are DataErrors), `.npz` archives
are read member by member with zipfile, `.csv` must be UTF-8 (or UTF-16 with a BOM), and an image that does not
decode names the image. What is adjusted rather than refused (a missing channel axis of size 1, flat rows of a
single-channel input, an array matched to an input of another name) is said in `Dataset.warnings`, which the
report lists.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq.errors import DataError, ToolMissing

LABEL_KEYS = ("y", "label", "labels", "target", "targets")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".pgm", ".ppm")
# image scaling: name -> (scale, offset) applied to 0..255 pixel values
IMAGE_SCALES = {"unit": (1 / 255.0, 0.0), "symmetric": (2 / 255.0, -1.0), "raw": (1.0, 0.0)}
MIN_CALIB_SAMPLES = 50
MAX_ARRAY_BYTES = 4 << 30  # one array larger than this is a corrupt header, not calibration data
_F32_MAX = float(np.finfo(np.float32).max)
# what reading a damaged .npy/.npz can raise (zipfile, zlib, numpy's header parser)
_FILE_ERRORS = (OSError, EOFError, ValueError, SyntaxError, zipfile.BadZipFile, zlib.error, struct.error,
                NotImplementedError, RuntimeError, OverflowError, MemoryError, KeyError)
_NPY_FIX = "re-save it with np.save(path, array) (numeric dtype, no Python objects)"
_NPZ_FIX = "re-save it with np.savez(path, input_name=array, y=labels)"


@dataclass(frozen=True)
class Dataset:
    source: str
    inputs: tuple[np.ndarray, ...]  # one array per model input, (N, *input_shape[1:])
    labels: np.ndarray | None
    warnings: tuple[str, ...] = ()
    scaling: str | None = None  # how images were scaled, recorded in the report
    total_samples: int = 0  # before sub-sampling

    def __len__(self) -> int:
        return len(self.inputs[0])


def expects_raw_pixels(model) -> bool | None:
    """True when a Keras model starts with a Rescaling layer (it wants 0..255 pixels), False when its first
    computing layer is an ordinary one (it wants the scaled data it was trained on), None when unknown
    (not Keras, or a Normalization/Lambda/custom preprocessing layer whose input range cannot be told)."""
    layers = getattr(getattr(model, "handle", None), "layers", None)
    return _first_layers_raw(layers) if layers else None


_PASS_THROUGH = ("InputLayer", "Resizing", "Reshape", "CenterCrop", "Cropping2D", "ZeroPadding2D", "Permute")


def _first_layers_raw(layers) -> bool | None:
    for layer in layers:
        kind = type(layer).__name__
        if kind in _PASS_THROUGH or kind.startswith("Random"):  # augmentation is inactive at inference
            continue
        if kind == "Rescaling":
            return True
        inner = getattr(layer, "layers", None)
        if inner:  # a nested Sequential/Functional preprocessing block
            return _first_layers_raw(inner)
        if kind in ("Normalization", "Lambda", "TFOpLambda") or "Preprocess" in kind:
            return None
        return False
    return None


def load_dataset(spec: str, inputs, *, role: str = "calib", samples: int | None = None, seed: int = 0,
                 image_scale: str = "unit", expects_raw_pixels: bool | None = None, array_scale: str | None = None,
                 allow_raw_range: bool = False) -> Dataset:
    """Load `spec` for a model whose inputs are `inputs` (TensorSpec-like: name, shape, dtype).

    role: "calib", "eval" or "train" (in messages and the few-samples warning). expects_raw_pixels: True when the
    model starts with a Rescaling layer (it wants 0..255), False when known not to, None when unknown; with False,
    image-shaped data in 0..255 is a DataError unless `allow_raw_range`. array_scale: an explicit --image-scale
    also applied to arrays holding 0..255 pixels (image folders always use `image_scale`); "raw" allows the range.
    """
    if samples is not None and samples < 1:
        raise DataError(f"{spec}: asked for {samples} {role} samples", hint="use at least 1 (or leave it unset: all)")
    notes: list[str] = []
    arrays, labels, scaling = _read(spec, inputs, image_scale, notes)
    raw_ok = allow_raw_range or array_scale == "raw" or (scaling is not None and image_scale == "raw")
    return lint(spec, inputs, arrays, labels, role=role, samples=samples, seed=seed, scaling=scaling,
                expects_raw_pixels=expects_raw_pixels, allow_raw_range=raw_ok,
                array_scale=array_scale if scaling is None else None, notes=notes)


def _read(spec: str, inputs, image_scale: str, notes: list[str]):
    p = Path(spec)
    try:
        if p.is_dir():
            return _read_images(p, inputs, image_scale)
        suf = p.suffix.lower()
        if suf in (".npy", ".npz", ".csv") or p.exists():
            if not p.exists():
                raise DataError(f"{spec}: data file not found", hint="check the path")
            if suf == ".npy":
                if len(inputs) != 1:
                    raise DataError(f"{spec}: one .npy array but the model has {len(inputs)} inputs "
                                    f"({', '.join(i.name for i in inputs)})",
                                    hint="use an .npz with one key per input name")
                with open(p, "rb") as fh:
                    return [_read_npy(fh, p.stat().st_size, str(p), _NPY_FIX)], None, None
            if suf == ".npz":
                return _read_npz(p, inputs, notes)
            if suf == ".csv":
                return _read_csv(p, inputs)
            raise DataError(f"{spec}: unsupported data file type {suf!r}",
                            hint="use .npy, .npz, .csv, a folder of images, or module:function")
    except OSError as e:  # permissions, a name too long, a file vanishing while read
        raise DataError(f"{spec}: cannot read: {e.strerror or e}", hint="check the path and its permissions") from None
    if ":" in spec:
        return _read_callable(spec, inputs, notes)
    raise DataError(f"{spec}: data not found (not a file, folder or module:function)", hint="check the path")


def _read_npy(fh, size_bytes: int, where: str, fix: str) -> np.ndarray:
    """One .npy from an open binary file of `size_bytes`: header checked before the data is allocated."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except _FILE_ERRORS as e:
        raise DataError(f"{where}: not a readable .npy (header: {_short(e)})", hint=fix) from None
    except Exception as e:  # noqa: BLE001 - numpy's header parser runs ast/tokenize on the file's bytes
        raise DataError(f"{where}: not a readable .npy (header: {type(e).__name__}: {_short(e)})", hint=fix) from None
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects (dtype {dtype}), which edgeq does not unpickle",
                        hint="save plain numeric arrays: np.save(path, np.asarray(x, dtype=np.float32))")
    if dtype.kind not in "biuf" or dtype.fields:
        raise DataError(f"{where}: dtype {dtype} is not numeric", hint="provide float32 (or integer) arrays")
    count = 1
    for d in shape:
        count *= int(d)
    nbytes = count * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise DataError(f"{where}: declares shape {shape} {dtype} = {nbytes / 2**30:,.1f} GiB, more than edgeq reads "
                        f"({MAX_ARRAY_BYTES >> 30} GiB): a corrupt header, or far more data than needed",
                        hint=f"{fix}; a few hundred calibration samples are enough")
    try:
        left = size_bytes - fh.tell()
        # compare with the bytes present before reading: a lying header must not make edgeq allocate gigabytes
        data = fh.read(nbytes) if left >= nbytes else b""
    except _FILE_ERRORS as e:
        raise DataError(f"{where}: cannot read the array data ({type(e).__name__}: {_short(e)})", hint=fix) from None
    if len(data) < nbytes:
        raise DataError(f"{where}: truncated: the header declares shape {shape} {dtype} ({nbytes:,} bytes) but only "
                        f"{max(left, len(data)):,} bytes follow", hint=f"the file is incomplete; {fix}")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def _short(e: BaseException) -> str:
    s = str(e).replace("\n", " ")
    return s if len(s) <= 160 else s[:157] + "..."


def _read_npz(p: Path, inputs, notes: list[str]):
    data: dict[str, np.ndarray] = {}
    try:
        zf = zipfile.ZipFile(p)
    except _FILE_ERRORS as e:
        raise DataError(f"{p}: not a readable .npz (zip archive): {_short(e)}",
                        hint=f"the file is truncated or damaged; {_NPZ_FIX}") from None
    with zf:
        members = zf.infolist()
        for info in members:
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if key is None:
                notes.append(f"{p}: member {info.filename!r} is not an .npy array; ignored")
                continue
            where = f"{p}: array {key!r}"
            if info.file_size > MAX_ARRAY_BYTES + 65536:
                raise DataError(f"{where}: {info.file_size / 2**30:,.1f} GiB uncompressed, more than edgeq reads",
                                hint=f"{_NPZ_FIX}; a few hundred calibration samples are enough")
            try:
                with zf.open(info) as fh:
                    arr = _read_npy(fh, info.file_size, where, _NPZ_FIX)
                    fh.read(1)  # reaching the end makes zipfile check the CRC
            except DataError:
                raise
            except _FILE_ERRORS as e:
                raise DataError(f"{where}: cannot read ({type(e).__name__}: {_short(e)})",
                                hint=f"the archive is damaged; {_NPZ_FIX}") from None
            data[key] = arr
    if not data:
        raise DataError(f"{p}: the archive holds no arrays", hint=_NPZ_FIX)
    labels = next((data[k] for k in LABEL_KEYS if k in data), None)
    feats = {k: v for k, v in data.items() if k not in LABEL_KEYS}
    return _match_inputs(str(p), feats, inputs, notes), labels, None


def _match_inputs(source: str, feats: dict[str, np.ndarray], inputs, notes: list[str]) -> list[np.ndarray]:
    """Arrays for the model inputs, by name. Names that differ are matched only when there is exactly one way
    (one input and one array; `x`; x0, x1, ... in input order) and the match is recorded in `notes`."""
    names = [i.name for i in inputs]
    fix = ("name each array after its model input (np.savez(path, **{name: array}); inputs: " + ", ".join(names)
           + "), or x0, x1, ... in input order; labels go under 'y'")
    if not feats:
        raise DataError(f"{source}: no input arrays besides the labels", hint=fix)
    if all(n in feats for n in names):
        extra = sorted(set(feats) - set(names))
        if extra:
            notes.append(f"{source}: arrays {extra} match no model input; ignored")
        return [feats[n] for n in names]
    if len(inputs) == 1 and (len(feats) == 1 or "x" in feats):
        key = next(iter(feats)) if len(feats) == 1 else "x"
        notes.append(f"{source}: array {key!r} used for model input {names[0]!r} (the names differ)"
                     + (f"; arrays {sorted(set(feats) - {key})} ignored" if len(feats) > 1 else ""))
        return [feats[key]]
    for pattern in ("x{}", "input_{}"):
        keys = [pattern.format(i) for i in range(len(inputs))]
        if set(keys) == set(feats):
            notes.append(f"{source}: arrays matched to inputs by position: "
                         + ", ".join(f"{k!r} -> {n!r}" for k, n in zip(keys, names)))
            return [feats[k] for k in keys]
    missing = [n for n in names if n not in feats]
    raise DataError(f"{source}: keys {sorted(feats)} do not match the model inputs {names} "
                    f"(missing: {missing}); which array feeds which input is ambiguous", hint=fix)


def _read_csv(p: Path, inputs):
    if len(inputs) != 1:
        raise DataError(f"{p}: CSV holds one input but the model has {len(inputs)}", hint="use an .npz")
    raw = p.read_bytes()
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # "Unicode text" exports (UTF-16 with a BOM)
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{p}: line {line}: byte 0x{raw[e.start]:02x} (offset {e.start}) is not UTF-8 text",
                        hint="save the CSV as UTF-8 (numbers are plain ASCII), e.g. `iconv -f latin1 -t utf-8 "
                             "in.csv > out.csv`, or pandas df.to_csv(path, encoding='utf-8')") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as e:
        raise DataError(f"{p}: line {reader.line_num}: malformed CSV ({e})",
                        hint="one sample per row, numbers separated by commas") from None
    rows = [r for r in rows if r and any(v.strip() for v in r)]
    if not rows:
        raise DataError(f"{p}: CSV file is empty", hint="one sample per row, features as columns")
    header = None
    start = 1
    if not all(_is_number(v) for v in rows[0]):
        header, rows, start = [h.strip().lower() for h in rows[0]], rows[1:], 2
        if not rows:
            raise DataError(f"{p}: only a header, no data rows", hint="one sample per row below the header")
    width = len(header) if header else len(rows[0])
    label_col = next((header.index(k) for k in LABEL_KEYS if header and k in header), None)
    feats, labels = [], []
    for ln, row in enumerate(rows, start=start):
        if len(row) != width:
            raise DataError(f"{p}: line {ln} has {len(row)} columns, expected {width}"
                            + (" (as the header)" if header else " (as the first row)"),
                            hint="every row is one flattened sample with the same number of columns")
        vals = []
        for col, v in enumerate(row, start=1):
            try:
                vals.append(float(v))
            except ValueError:
                raise DataError(f"{p}: line {ln}, column {col}: non-numeric value {v[:40]!r}",
                                hint="CSV data must be numbers (a header row is allowed)") from None
        if label_col is not None:
            labels.append(vals.pop(label_col))
        feats.append(vals)
    if not feats[0]:
        raise DataError(f"{p}: no feature columns", hint="one sample per row, features as columns")
    x = np.asarray(feats, dtype=np.float64)
    return [x], (np.asarray(labels) if label_col is not None else None), None


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _read_images(folder: Path, inputs, image_scale: str):
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise DataError(f"{folder}: an image folder feeds one (N, H, W, C) input; the model has inputs "
                        f"{[(i.name, i.shape) for i in inputs]}", hint="use an .npz with one key per input")
    if image_scale not in IMAGE_SCALES:
        raise DataError(f"unknown --image-scale {image_scale!r}", hint=f"choose one of {', '.join(IMAGE_SCALES)}")
    try:
        from PIL import Image
    except ImportError:
        raise ToolMissing("reading an image folder needs Pillow", hint="pip install pillow") from None
    _, h, w, c = inputs[0].shape
    if not all(isinstance(d, int) and d > 0 for d in (h, w)) or c not in (1, 3):
        raise DataError(f"{folder}: an image folder needs a fixed (N, H, W, 1 or 3) input; the model's "
                        f"{inputs[0].name!r} is {tuple(inputs[0].shape)}",
                        hint="use an .npz/.npy with arrays of the input's shape")
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise DataError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)})", hint="check the folder")
    classes = sorted({f.parent.name for f in files if f.parent != folder})
    with_labels = bool(classes) and all(f.parent != folder for f in files)
    scale, offset = IMAGE_SCALES[image_scale]
    xs, ys = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
                a = np.asarray(im, dtype=np.float32)
        except Exception as e:  # noqa: BLE001 - Pillow's decoders raise OSError, SyntaxError, ValueError,
            # struct/zlib errors, DecompressionBombError... for damaged files: all mean "this image is broken"
            raise DataError(f"{f}: cannot read image ({type(e).__name__}: {_short(e)})",
                            hint="the image is damaged or truncated: remove or replace the file") from None
        if c == 1:
            a = a[..., None]
        xs.append(a * scale + offset)
        if with_labels:
            ys.append(classes.index(f.parent.name))
    desc = f"images resized to {h}x{w}x{c} (bilinear), pixels 0..255 x {scale:.6g} + {offset:g} ({image_scale})"
    if with_labels:
        desc += f"; labels from subfolders {classes}"
    return [np.stack(xs)], (np.asarray(ys) if with_labels else None), desc


def _read_callable(spec: str, inputs, notes: list[str]):
    mod_name, _, fn_name = spec.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.exists():
                raise DataError(f"{spec}: file {mod_name} not found")
            s = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(s)
            sys.modules.setdefault(path.stem, mod)
            s.loader.exec_module(mod)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))  # `--calib mydata:samples` next to the user's files
            mod = importlib.import_module(mod_name)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any import failure is the user's module
        raise DataError(f"{spec}: cannot import {mod_name}: {e}",
                        hint="use module:function with the module on PYTHONPATH, or path/to/file.py:function") from None
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise DataError(f"{spec}: {mod_name} has no function {fn_name!r}")
    try:
        return _collect_samples(spec, fn(), inputs, notes)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's function (or its generator) failed
        raise DataError(f"{spec}: {fn_name}() raised {type(e).__name__}: {_short(e)}",
                        hint="fix the function: it returns arrays or yields one sample (or dict) at a time") from None


def _collect_samples(spec: str, result, inputs, notes: list[str]):
    names = [i.name for i in inputs]
    fn_name = spec.rpartition(":")[2]
    if isinstance(result, dict):
        labels = next((np.asarray(result[k]) for k in LABEL_KEYS if k in result), None)
        feats = {k: np.asarray(v) for k, v in result.items() if k not in LABEL_KEYS}
        return _match_inputs(spec, feats, inputs, notes), labels, None
    if isinstance(result, np.ndarray):
        return [result], None, None
    per_input: list[list[np.ndarray]] = [[] for _ in inputs]
    labels: list = []
    for i, sample in enumerate(result):
        if isinstance(sample, dict):
            missing = [n for n in names if n not in sample]
            if missing:
                raise DataError(f"{spec}: sample {i} lacks inputs {missing}", hint=f"keys must be {names}")
            parts = [sample[n] for n in names]
            lab = next((sample[k] for k in LABEL_KEYS if k in sample), None)
            if lab is not None:
                labels.append(lab)
        elif isinstance(sample, (list, tuple)):
            parts = list(sample)
            if len(parts) != len(inputs):
                raise DataError(f"{spec}: sample {i} has {len(parts)} arrays, the model has {len(inputs)} inputs",
                                hint="yield one array per input (or a dict keyed by input name)")
        else:
            parts = [sample]
        for k, a in enumerate(parts):
            a = np.asarray(a)
            want = len(inputs[k].shape)
            if a.ndim == want and a.shape[0] == 1:
                a = a[0]  # a sample given with its batch dimension
            per_input[k].append(a)
    if not per_input[0]:
        raise DataError(f"{spec}: {fn_name}() yielded no samples")
    try:
        arrays = [np.stack(p) for p in per_input]
    except ValueError as e:
        raise DataError(f"{spec}: samples have different shapes: {e}") from None
    return arrays, (np.asarray(labels) if labels else None), None


def _fits(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))


def _conform(a: np.ndarray, spec, where: str, warns: list[str]) -> np.ndarray:
    """`a` shaped (N, *input_shape[1:]); adjustments other than none are stated in `warns`."""
    want = tuple(spec.shape[1:])
    got = tuple(a.shape[1:])
    if _fits(got, want):
        return a
    fixed = all(isinstance(d, int) for d in want)
    if len(got) + 1 == len(want) and want[-1] == 1 and _fits(got, want[:-1]):
        warns.append(f"{where}: added the trailing channel dimension of size 1 ({got} -> {want})")
        return a[..., None]
    if fixed and tuple(a.shape) == want:
        warns.append(f"{where}: one sample of shape {want} without a batch dimension; used as 1 sample")
        return a[None]
    size = int(np.prod(want)) if fixed else -1
    if a.ndim == 2 and len(want) > 1 and a.shape[1] == size:
        if len(want) == 2 or want[-1] == 1:
            warns.append(f"{where}: each row of {size} values reshaped to {want} (row-major, as numpy's "
                         "reshape): the data was given flat")
            return a.reshape((len(a), *want))
        h_w = ", ".join(str(d) for d in want[:-1])
        raise DataError(f"{where}: flat rows of {size} values for an input of shape (N, {_dims(spec)}): the channel "
                        "order of flattened images is ambiguous (HWC or CHW)",
                        hint=f"reshape before saving: x.reshape(-1, {_dims(spec)}) if flattened from (H, W, C), or "
                             f"x.reshape(-1, {want[-1]}, {h_w}).transpose(0, 2, 3, 1) if from (C, H, W)")
    raise DataError(f"{where}: samples have shape {got} (array {tuple(a.shape)}), "
                    f"the model expects (N, {_dims(spec)})",
                    hint="reshape the data to the model's input shape (first axis = samples)")


def lint(source: str, inputs, arrays: Sequence[np.ndarray], labels: np.ndarray | None, *, role: str = "calib",
         samples: int | None = None, seed: int = 0, scaling: str | None = None,
         expects_raw_pixels: bool | None = None, allow_raw_range: bool = False, array_scale: str | None = None,
         notes: Sequence[str] = ()) -> Dataset:
    """Shape/dtype/NaN/constant/range checks; deterministic sub-sampling. Raises DataError, returns warnings."""
    warns: list[str] = list(notes)
    out: list[np.ndarray] = []
    n = None
    if array_scale is not None and array_scale not in IMAGE_SCALES:
        raise DataError(f"unknown --image-scale {array_scale!r}", hint=f"choose one of {', '.join(IMAGE_SCALES)}")
    for spec, a in zip(inputs, arrays):
        a = np.asarray(a)
        where = f"{source}: input {spec.name!r}"
        if a.dtype.kind not in "biuf" or a.dtype.fields:
            raise DataError(f"{where}: dtype {a.dtype} is not numeric", hint="provide float32 arrays")
        if a.size == 0 or a.ndim == 0:
            raise DataError(f"{where}: no samples", hint=f"provide an array of shape (N, {_dims(spec)})")
        a = _conform(a, spec, where, warns)
        want = tuple(spec.shape[1:])
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if bad.any():
                first = int(np.argwhere(bad.reshape(len(a), -1).any(axis=1))[0][0])
                raise DataError(f"{where}: {int(bad.sum())} NaN/Inf values (first in sample {first})",
                                hint="remove or fix those samples; quantization ranges would be undefined")
        if n is not None and len(a) != n:
            raise DataError(f"{source}: inputs have different sample counts ({n} vs {len(a)} for {spec.name!r})",
                            hint="every input needs the same number of samples")
        n = len(a)
        flat = a.reshape(len(a), -1).astype(np.float64)
        lo, hi = float(flat.min()), float(flat.max())
        if spec.dtype.startswith("float") and max(-lo, hi) > _F32_MAX:
            raise DataError(f"{where}: values reach {max(-lo, hi):.3g}, beyond float32 ({_F32_MAX:.3g})",
                            hint="the data is corrupt or unscaled; the model computes in float32")
        if len(a) > 1 and bool(np.all(flat == flat[0])):
            what = f"constant {flat.flat[0]:g}" if hi == lo else "the same sample repeated"
            raise DataError(f"{where}: all {len(a)} samples are identical ({what})",
                            hint="use real, varied samples: identical data gives meaningless quantization ranges")
        if role == "calib" and hi == lo:
            raise DataError(f"{where}: calibration data has no spread ({len(a)} sample(s))",
                            hint=f"use at least {MIN_CALIB_SAMPLES}-100 representative samples")
        pixels = len(want) == 3 and lo >= 0 and 2.0 < hi <= 255
        if pixels and array_scale in ("unit", "symmetric"):
            scale, offset = IMAGE_SCALES[array_scale]
            a = a.astype(np.float64) * scale + offset
            lo, hi = lo * scale + offset, hi * scale + offset
            scaling = f"arrays in 0..255 x {scale:.6g} + {offset:g} ({array_scale}, --image-scale)"
        elif array_scale in ("unit", "symmetric") and len(want) == 3:
            warns.append(f"{where}: --image-scale {array_scale} not applied: values lie in {lo:g}..{hi:g}, "
                         "not 0..255 pixels")
        elif pixels and expects_raw_pixels is not True:
            integral = bool(np.all(flat == np.round(flat)))
            raw_like = integral or hi > 20.0
            msg = (f"{where}: values lie in {lo:g}..{hi:g}" + (" (integers: raw 0..255 pixels?)" if integral else
                                                                " (raw pixels?)"))
            if raw_like and expects_raw_pixels is False and not allow_raw_range:
                raise DataError(msg + " but the model has no Rescaling layer, so it expects the scaling used in "
                                "training (e.g. 0..1): quantized with these ranges, its accuracy is lost",
                                hint="scale the data: --image-scale unit (x/255) or symmetric (x/127.5-1), or "
                                     "x / 255.0 yourself; if the model really takes 0..255, pass --allow-raw-range")
            if raw_like and allow_raw_range:
                warns.append(msg + "; used as they are (--allow-raw-range)")
            elif raw_like and expects_raw_pixels is None:
                warns.append(msg + ". If the model was trained on scaled input (e.g. 0..1), scale the data the "
                             "same way (--image-scale unit)")
        if expects_raw_pixels is True and hi <= 1.0 and lo >= -1.0 and len(want) == 3:
            warns.append(f"{where}: values lie in {lo:g}..{hi:g} but the model starts with a Rescaling layer "
                         "(expects 0..255 pixels): the data looks scaled twice")
        out.append(a)
    total = n or 0
    if labels is not None:
        labels = _check_labels(source, np.asarray(labels), total)
    if samples is not None and samples < total:
        idx = np.sort(np.random.default_rng(seed).choice(total, size=samples, replace=False))
        out = [a[idx] for a in out]
        labels = labels[idx] if labels is not None else None
    if role == "calib" and len(out[0]) < MIN_CALIB_SAMPLES:
        warns.append(f"{source}: only {len(out[0])} calibration samples; use at least {MIN_CALIB_SAMPLES} "
                     "(100-500 is typical) for stable quantization ranges")
    dtype_out = [np.float32 if spec.dtype.startswith("float") else np.dtype(spec.dtype) for spec in inputs]
    out = [a.astype(dt, copy=False) for a, dt in zip(out, dtype_out)]
    return Dataset(source, tuple(out), labels, tuple(warns), scaling, total)


def _check_labels(source: str, labels: np.ndarray, total: int) -> np.ndarray:
    if labels.ndim == 0:
        raise DataError(f"{source}: labels are a single value, not one per sample",
                        hint="save labels as an array with one entry per sample (key 'y')")
    if labels.dtype.kind not in "biuf" or labels.dtype.fields:
        raise DataError(f"{source}: labels have dtype {labels.dtype}, not numbers",
                        hint="use class indices 0..N-1 (or numeric regression targets)")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise DataError(f"{source}: labels contain NaN/Inf", hint="fix or drop those samples")
    if len(labels) != total:
        raise DataError(f"{source}: {len(labels)} labels for {total} samples",
                        hint="labels must have one entry per sample")
    return labels


def _dims(spec) -> str:
    return ", ".join(str(d) for d in spec.shape[1:])
