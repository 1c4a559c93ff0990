"""Data stage: representative (calibration) and evaluation datasets, matched to the model's inputs and linted.

Sources: `.npy` (one array), `.npz` (keys = input names, or one array; labels under y/label/labels), a folder of
images (optionally one subfolder per class), `.csv` (one sample per row, optional `label` column), and
`module:function` / `file.py:function` returning an iterable of samples. Every problem names the source and the
input, and says what to do. Sub-sampling is deterministic (seeded).
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import sys
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


def load_dataset(spec: str, inputs, *, role: str = "calib", samples: int | None = None, seed: int = 0,
                 image_scale: str = "unit", expects_raw_pixels: bool | None = None) -> Dataset:
    """Load `spec` for a model whose inputs are `inputs` (TensorSpec-like: name, shape, dtype).

    role: "calib" or "eval" (only in messages and the few-samples warning). expects_raw_pixels: True when the
    model starts with a Rescaling layer (it wants 0..255), False when known not to, None when unknown.
    """
    arrays, labels, scaling = _read(spec, inputs, image_scale)
    return lint(spec, inputs, arrays, labels, role=role, samples=samples, seed=seed, scaling=scaling,
                expects_raw_pixels=expects_raw_pixels)


def _read(spec: str, inputs, image_scale: str) -> tuple[list[np.ndarray], np.ndarray | None, str | None]:
    p = Path(spec)
    if p.is_dir():
        return _read_images(p, inputs, image_scale)
    if p.suffix.lower() in (".npy", ".npz", ".csv") or p.exists():
        if not p.exists():
            raise DataError(f"{spec}: data file not found", hint="check the path")
        suf = p.suffix.lower()
        if suf == ".npy":
            try:
                arr = np.load(p, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise DataError(f"{spec}: cannot read .npy: {e}", hint="save with np.save(path, array)") from None
            if len(inputs) != 1:
                raise DataError(f"{spec}: one .npy array but the model has {len(inputs)} inputs "
                                f"({', '.join(i.name for i in inputs)})",
                                hint="use an .npz with one key per input name")
            return [arr], None, None
        if suf == ".npz":
            return _read_npz(p, inputs)
        if suf == ".csv":
            return _read_csv(p, inputs)
        raise DataError(f"{spec}: unsupported data file type {suf!r}",
                        hint="use .npy, .npz, .csv, a folder of images, or module:function")
    if ":" in spec:
        return _read_callable(spec, inputs)
    raise DataError(f"{spec}: data not found (not a file, folder or module:function)", hint="check the path")


def _read_npz(p: Path, inputs) -> tuple[list[np.ndarray], np.ndarray | None, None]:
    try:
        z = np.load(p, allow_pickle=False)
        keys = list(z.files)
        data = {k: z[k] for k in keys}
    except (ValueError, OSError, Exception) as e:  # noqa: BLE001 - zipfile/pickle errors vary
        raise DataError(f"{p}: cannot read .npz: {e}",
                        hint="save with np.savez(path, input_name=array, y=labels)") from None
    labels = next((data[k] for k in LABEL_KEYS if k in data), None)
    feats = {k: v for k, v in data.items() if k not in LABEL_KEYS}
    names = [i.name for i in inputs]
    if all(n in feats for n in names):
        return [feats[n] for n in names], labels, None
    # Keras names inputs "input_layer", "keras_tensor_3"...; accept unambiguous fallbacks.
    if len(inputs) == 1 and len(feats) == 1:
        return [next(iter(feats.values()))], labels, None
    if len(inputs) == 1 and "x" in feats:
        return [feats["x"]], labels, None
    if len(feats) == len(inputs) and all(f"x{i}" in feats or f"input_{i}" in feats for i in range(len(inputs))):
        return [feats.get(f"x{i}", feats.get(f"input_{i}")) for i in range(len(inputs))], labels, None
    raise DataError(f"{p}: keys {sorted(feats)} do not match the model inputs {names}",
                    hint="name each array after a model input (np.savez(path, **{name: array})), or x0, x1, ... in "
                         "input order; labels go under 'y'")


def _read_csv(p: Path, inputs) -> tuple[list[np.ndarray], np.ndarray | None, None]:
    if len(inputs) != 1:
        raise DataError(f"{p}: CSV holds one input but the model has {len(inputs)}", hint="use an .npz")
    with open(p, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataError(f"{p}: CSV file is empty", hint="one sample per row, features as columns")
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = [h.strip().lower() for h in rows[0]], rows[1:]
    label_col = next((header.index(k) for k in LABEL_KEYS if header and k in header), None)
    feats, labels = [], []
    for ln, row in enumerate(rows, start=2 if header else 1):
        if not row:
            continue
        try:
            vals = [float(v) for v in row]
        except ValueError:
            raise DataError(f"{p}: line {ln}: non-numeric value", hint="CSV data must be numbers") from None
        if label_col is not None:
            labels.append(vals.pop(label_col))
        feats.append(vals)
    if len({len(r) for r in feats}) > 1:
        raise DataError(f"{p}: rows have different numbers of columns", hint="every row is one flattened sample")
    x = np.asarray(feats, dtype=np.float32)
    want = int(np.prod([d for d in inputs[0].shape[1:] if d]))
    if x.ndim == 2 and x.shape[1] == want:
        x = x.reshape((len(x), *[d for d in inputs[0].shape[1:]]))
    return [x], (np.asarray(labels) if label_col is not None else None), None


def _read_images(folder: Path, inputs, image_scale: str) -> tuple[list[np.ndarray], np.ndarray | None, str]:
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
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
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
        except OSError as e:
            raise DataError(f"{f}: cannot read image: {e}", hint="remove or replace the file") from None
        if c == 1:
            a = a[..., None]
        xs.append(a * scale + offset)
        if with_labels:
            ys.append(classes.index(f.parent.name))
    desc = f"images resized to {h}x{w}x{c} (bilinear), pixels 0..255 x {scale:.6g} + {offset:g} ({image_scale})"
    if with_labels:
        desc += f"; labels from subfolders {classes}"
    return [np.stack(xs)], (np.asarray(ys) if with_labels else None), desc


def _read_callable(spec: str, inputs) -> tuple[list[np.ndarray], np.ndarray | None, None]:
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
        result = fn()
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{spec}: {fn_name}() raised {type(e).__name__}: {e}") from None
    names = [i.name for i in inputs]
    if isinstance(result, dict):
        labels = next((np.asarray(result[k]) for k in LABEL_KEYS if k in result), None)
        if all(n in result for n in names):
            return [np.asarray(result[n]) for n in names], labels, None
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


def lint(source: str, inputs, arrays: Sequence[np.ndarray], labels: np.ndarray | None, *, role: str = "calib",
         samples: int | None = None, seed: int = 0, scaling: str | None = None,
         expects_raw_pixels: bool | None = None) -> Dataset:
    """Shape/dtype/NaN/constant/range checks; deterministic sub-sampling. Raises DataError, returns warnings."""
    warns: list[str] = []
    out: list[np.ndarray] = []
    n = None
    for spec, a in zip(inputs, arrays):
        a = np.asarray(a)
        where = f"{source}: input {spec.name!r}"
        if a.dtype.kind not in "biuf":
            raise DataError(f"{where}: dtype {a.dtype} is not numeric", hint="provide float32 arrays")
        if a.size == 0 or a.ndim == 0:
            raise DataError(f"{where}: no samples", hint=f"provide an array of shape (N, {_dims(spec)})")
        want = tuple(spec.shape[1:])
        got = tuple(a.shape[1:])
        if got != want:
            if len(got) + 1 == len(want) and want[-1] == 1 and got == want[:-1]:
                a = a[..., None]
                warns.append(f"{where}: added the trailing channel dimension of size 1 ({got} -> {want})")
            elif a.ndim == len(want) and tuple(a.shape) == want and all(d is not None for d in want):
                a = a[None]  # a single sample without batch dimension
            elif a.ndim == 2 and a.shape[1] == int(np.prod([d for d in want if d])) and None not in want:
                a = a.reshape((len(a), *want))
            else:
                raise DataError(f"{where}: samples have shape {got} (array {tuple(a.shape)}), "
                                f"the model expects (N, {_dims(spec)})",
                                hint="reshape the data to the model's input shape (first axis = samples)")
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
        if len(a) > 1 and bool(np.all(flat == flat[0])):
            what = f"constant {flat.flat[0]:g}" if float(np.ptp(flat)) == 0.0 else "the same sample repeated"
            raise DataError(f"{where}: all {len(a)} samples are identical ({what})",
                            hint="use real, varied samples: identical data gives meaningless quantization ranges")
        if role == "calib" and float(np.ptp(flat)) == 0.0:
            raise DataError(f"{where}: calibration data has no spread ({len(a)} sample(s))",
                            hint=f"use at least {MIN_CALIB_SAMPLES}-100 representative samples")
        lo, hi = float(flat.min()), float(flat.max())
        integral = bool(np.all(flat == np.round(flat)))
        if expects_raw_pixels is False or expects_raw_pixels is None:
            if integral and hi > 2.0 and lo >= 0 and hi <= 255 and len(want) == 3 and expects_raw_pixels is False:
                raise DataError(f"{where}: values are integers in {lo:g}..{hi:g} (raw pixels?) but the model has no "
                                "Rescaling layer and expects scaled input",
                                hint="scale the data as in training (e.g. x / 255.0), or use an image folder with "
                                     "--image-scale unit")
            if not integral and hi > 20.0 and lo >= 0 and hi <= 255 and len(want) == 3 and expects_raw_pixels is False:
                warns.append(f"{where}: values reach {hi:g} but the model has no Rescaling layer: if it was trained "
                             "on scaled input (e.g. 0..1), scale the data the same way")
            if integral and hi > 2.0 and lo >= 0 and hi <= 255 and len(want) == 3 and expects_raw_pixels is None:
                warns.append(f"{where}: values are integers in {lo:g}..{hi:g} (raw pixels?). If the model was "
                             "trained on scaled input (e.g. 0..1), scale the data the same way")
        if expects_raw_pixels is True and hi <= 1.0 and lo >= -1.0 and len(want) == 3:
            warns.append(f"{where}: values lie in {lo:g}..{hi:g} but the model starts with a Rescaling layer "
                         "(expects 0..255 pixels): the data looks scaled twice")
        out.append(a)
    total = n or 0
    if labels is not None and len(labels) != total:
        raise DataError(f"{source}: {len(labels)} labels for {total} samples",
                        hint="labels must have one entry per sample")
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


def _dims(spec) -> str:
    return ", ".join(str(d) for d in spec.shape[1:])
