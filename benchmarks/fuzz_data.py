"""Fuzz campaign for the data stage (`edgeq.data.load_dataset`): mutated .npy, .npz, .csv and image folders.

Every case is one mutated file (or a folder with one mutated image) loaded for one of several model inputs with
random options (role, sub-sampling, --image-scale, --allow-raw-range, Rescaling known/absent/unknown). Outcomes:

- clear_errors: a DataError (any EdgeqError) whose message names the file (or the image) and that carries a fix;
- unclear_errors: an EdgeqError without the file's name or without a hint (a defect: counted, listed);
- accepted: a Dataset that holds what the model takes (shape (N, *input_shape), float32, finite) — one that does
  not is a `bad_accepts` (a defect);
- uncaught: any other exception (a traceback for the user); hangs: a case running longer than `timeout_s`.

Mutations: byte-level (bit flips, boundary bytes, truncation, insertion, deletion, duplication, splices of two
seeds, non-UTF-8 bytes) and structure-aware (.npy header: shape/dtype/order/length fields set to boundary and
absurd values; .npz: members re-zipped after mutation so the zip's CRCs are valid, zip header fields changed,
central directory cut; .csv: encodings, NUL, ragged rows, non-numbers, huge/NaN values; images: truncated,
bit-flipped, empty, not an image, IHDR dimensions absurd, chunk CRCs wrong, unusual modes). Deterministic for a
given (n, seed).

Run: python benchmarks/fuzz_data.py [-n 10000] [--seed 0] [--json]. Used by tests/test_fuzz_data.py (a few
thousand cases) and by `benchmarks/fuzz.py --kind data`.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from edgeq.convert import TensorSpec  # noqa: E402
from edgeq.data import load_dataset  # noqa: E402
from edgeq.errors import EdgeqError  # noqa: E402

SPECS = {
    "img": (TensorSpec("img", (None, 8, 8, 1), "float32"),),
    "pixels": (TensorSpec("pixels", (None, 8, 8, 1), "float32"),),
    "rgb": (TensorSpec("img", (None, 8, 8, 3), "float32"),),
    "vec": (TensorSpec("x", (None, 6), "float32"),),
    "two": (TensorSpec("a", (None, 6), "float32"), TensorSpec("b", (None, 4), "float32")),
}
MADE_FOR = {"npy_f32": "img", "npy_u8": "img", "npy_flat": "img", "npy_vec": "vec", "npz_named": "img",
            "npz_compressed": "pixels", "npz_two": "two", "csv_label": "vec", "csv_flat": "img", "images": "img"}
BAD_TEXT = [b"\xe9", b"\xff", b"\xc3\x28", b"\x80", b"\xfe\xff", b"\x00", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
BOUNDARY_BYTES = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE]
SHAPES = [b"()", b"(0,)", b"(-1, 8, 8, 1)", b"(60, 8, 8)", b"(60, 8, 8, 1, 1)", b"(9223372036854775807,)",
          b"(10000000000, 8, 8, 1)", b"(60, 0, 8, 1)", b"(1, 8, 8, 1)", b"(60, 64)", b"(60,)", b"(61, 8, 8, 1)",
          b"(2**40,)", b"(60, 8, 8, 1.5)", b"('a',)", b"(60, 8, 8, 3)", b"[60, 8, 8, 1]", b"(60, 6)"]
DESCRS = [b"'<c8'", b"'|O'", b"'<U4'", b"'|V8'", b"'>f8'", b"'<f2'", b"'|b1'", b"'<M8[s]'", b"'<i8'", b"'|u1'",
          b"'<f16'", b"'xyz'", b"[('a', '<f4')]", b"'<f4', 'extra': 1", b"''", b"'<U0'"]
CSV_CELLS = ["nan", "inf", "-inf", "1e999", "-1e999", "", " ", "x", "1,5", '"1"', '"', "\x00", "0x10", "1_0",
             "٣", "1e-400", "3.4e38", "1e39", "label", "\ufeff1"]


sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz import Hang as _Hang  # noqa: E402 - one SIGALRM deadline for every fuzz campaign
from fuzz import deadline as _time_limit  # noqa: E402


# ------------------------------------------------------------------------------------------------ seeds
def _npy_bytes(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()


def _npz_bytes(members: dict[str, bytes], compress: bool) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k + ".npy", v)
    return b.getvalue()


def _png_bytes(a: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    from PIL import Image

    im = Image.fromarray(a)
    if mode:
        im = im.convert(mode)
    b = io.BytesIO()
    im.save(b, format=fmt)
    return b.getvalue()


def seeds() -> dict[str, object]:
    """Valid files of every kind (bytes; an image folder is {relative path: bytes})."""
    r = np.random.default_rng(1234)
    img = r.random((60, 8, 8, 1)).astype(np.float32)
    lab = (np.arange(60) % 10).astype(np.int64)
    csv_rows = ["f0,f1,f2,f3,f4,f5,label"] + [",".join(f"{v:.4f}" for v in r.random(6)) + f",{i % 3}"
                                              for i in range(60)]
    csv_flat = [",".join(f"{v:.3f}" for v in r.random(64)) for _ in range(60)]
    pics = (r.random((8, 12, 12)) * 255).astype(np.uint8)
    folder = {f"{'ab'[i % 2]}/{i}.png": _png_bytes(pics[i]) for i in range(6)}
    folder["a/6.jpg"] = _png_bytes(pics[6], "JPEG")
    folder["b/7.png"] = _png_bytes(np.stack([pics[7]] * 3, -1), mode="P")
    return {
        "npy_f32": _npy_bytes(img),
        "npy_u8": _npy_bytes((img * 255).astype(np.uint8)),
        "npy_flat": _npy_bytes(img.reshape(60, 64)),
        "npy_vec": _npy_bytes(r.random((60, 6)).astype(np.float64)),
        "npz_named": _npz_bytes({"img": _npy_bytes(img), "y": _npy_bytes(lab)}, False),
        "npz_compressed": _npz_bytes({"pixels": _npy_bytes(img), "y": _npy_bytes(lab)}, True),
        "npz_two": _npz_bytes({"a": _npy_bytes(r.random((60, 6))), "b": _npy_bytes(r.random((60, 4)))}, True),
        "csv_label": ("\n".join(csv_rows) + "\n").encode(),
        "csv_flat": ("\n".join(csv_flat) + "\n").encode(),
        "images": folder,
    }


# ------------------------------------------------------------------------------------------------ mutations
def _bytes_mutation(rnd: random.Random, data: bytes, others: list[bytes]) -> tuple[bytes, str]:
    b = bytearray(data)
    if not b:
        return bytes(rnd.choice(BAD_TEXT)), "fill"
    kind = rnd.choice(["bitflip", "boundary", "truncate", "truncate_head", "insert", "delete", "duplicate",
                       "splice", "non_utf8", "empty"])
    pos = rnd.randrange(len(b))
    if kind == "bitflip":
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif kind == "boundary":
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.choice(BOUNDARY_BYTES)
    elif kind == "truncate":
        del b[pos:]
    elif kind == "truncate_head":  # cut inside the first 200 bytes (headers)
        del b[rnd.randrange(min(200, len(b))):]
    elif kind == "insert":
        b[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
    elif kind == "delete":
        del b[pos:pos + rnd.randint(1, 256)]
    elif kind == "duplicate":
        b[pos:pos] = b[pos:pos + rnd.randint(1, 512)]
    elif kind == "splice":
        o = rnd.choice(others)
        b = b[:pos] + bytearray(o[rnd.randrange(len(o)):] if o else b"")
    elif kind == "non_utf8":
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(b) + 1)
            b[i:i] = rnd.choice(BAD_TEXT)
    elif kind == "empty":
        b = bytearray()
    return bytes(b), kind


def _npy_header_mutation(rnd: random.Random, data: bytes) -> tuple[bytes, str]:
    start = data.index(b"{")
    end = data.index(b"}") + 1
    header = data[start:end]
    kind = rnd.choice(["shape", "descr", "fortran", "length", "version", "magic", "header_text"])
    if kind == "shape":
        i, j = header.index(b"'shape': ") + 9, header.index(b")", header.index(b"'shape'")) + 1
        header = header[:i] + rnd.choice(SHAPES) + header[j:]
    elif kind == "descr":
        i = header.index(b"'descr': ") + 9
        j = header.index(b",", i)
        header = header[:i] + rnd.choice(DESCRS) + header[j:]
    elif kind == "fortran":
        header = header.replace(b"False", rnd.choice([b"True", b"1", b"None", b"'no'"]))
    elif kind == "header_text":
        header = header[: rnd.randrange(len(header))] + rnd.choice([b"\xe9", b"(", b"'", b"\\", b"#", b"\n", b""])
    out = bytearray(data[:start] + header + data[end:])
    if kind in ("shape", "descr", "fortran", "header_text") and data[6] == 1 and rnd.random() < 0.8:
        # keep the declared header length consistent with the edit (else only the length check is exercised)
        hl = int.from_bytes(data[8:10], "little") + len(header) - (end - start)
        if 0 <= hl < 65536:
            out[8:10] = hl.to_bytes(2, "little")
    if kind == "length":
        out[8:10] = rnd.choice([0, 1, 0xFFFF, 0x7FFF, 127, 129]).to_bytes(2, "little")
    elif kind == "version":
        out[6:8] = bytes([rnd.choice([0, 2, 3, 4, 0xFF]), rnd.choice([0, 1])])
    elif kind == "magic":
        out[0:6] = rnd.choice([b"\x93NUMPX", b"PK\x03\x04\x00\x00", b"\x00" * 6])
    return bytes(out), "npy_" + kind


def _npz_mutation(rnd: random.Random, data: bytes, others: list[bytes]) -> tuple[bytes, str]:
    kind = rnd.choice(["member", "member", "zip_field", "central_dir", "extra_member", "bytes"])
    if kind == "bytes":
        return _bytes_mutation(rnd, data, others)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {i.filename[:-4]: z.read(i) for i in z.infolist()}
        compress = any(i.compress_type != zipfile.ZIP_STORED for i in z.infolist())
    if kind == "member":  # mutate one member's .npy, re-zip: valid CRCs, broken array
        key = rnd.choice(sorted(members))
        m = members[key]
        members[key] = (_npy_header_mutation(rnd, m) if rnd.random() < 0.5 else _bytes_mutation(rnd, m, others))[0]
        return _npz_bytes(members, compress), "npz_member"
    if kind == "extra_member":
        members[rnd.choice(["x", "extra", "y", "labels", "img", "a"])] = rnd.choice(
            [_npy_bytes(np.array(3.0)), _npy_bytes(np.array(["a", "b"])), b"not npy", _npy_bytes(np.zeros((5, 2)))])
        out = _npz_bytes(members, compress)
        if rnd.random() < 0.3:
            b = io.BytesIO(out)
            with zipfile.ZipFile(b, "a") as z:
                z.writestr("readme.txt", "hello")
            out = b.getvalue()
        return out, "npz_extra_member"
    b = bytearray(data)
    if kind == "zip_field":  # local header: version, flags, method, sizes, name length
        off = rnd.choice([4, 6, 8, 18, 22, 26, 28])
        width = 4 if off in (18, 22) else 2
        b[off:off + width] = rnd.choice([0, 1, 0xFF, 0xFFFF, 0xFFFFFFFF, 99]).to_bytes(8, "little")[:width]
        return bytes(b), "npz_zip_field"
    cd = data.rfind(b"PK\x01\x02")
    return bytes(b[: cd + rnd.randrange(0, 46)] if cd > 0 else b[:-22]), "npz_central_dir"


def _csv_mutation(rnd: random.Random, data: bytes, others: list[bytes]) -> tuple[bytes, str]:
    kind = rnd.choice(["cell", "cell", "ragged", "encoding", "bom", "nul", "quote", "blank", "long", "header",
                       "delimiter", "bytes"])
    if kind == "bytes":
        return _bytes_mutation(rnd, data, others)
    lines = data.decode().split("\n")
    i = rnd.randrange(len(lines))
    if kind == "cell":
        cells = lines[i].split(",")
        cells[rnd.randrange(len(cells))] = rnd.choice(CSV_CELLS)
        lines[i] = ",".join(cells)
    elif kind == "ragged":
        lines[i] = lines[i] + ",1" if rnd.random() < 0.5 else ",".join(lines[i].split(",")[:-1])
    elif kind == "nul":
        lines[i] = lines[i] + "\x00"
    elif kind == "quote":
        lines[i] = '"' + lines[i]
    elif kind == "blank":
        lines.insert(i, rnd.choice(["", ",,,", " "]))
    elif kind == "long":
        lines[i] = lines[i] + "," + "9" * rnd.choice([10, 400, 200_000])
    elif kind == "header":
        lines[0] = rnd.choice(["", "label", "a,b,c", "y,y,y,y,y,y,y", "\ufefff0,f1,f2,f3,f4,f5,label"])
    elif kind == "delimiter":
        lines = [ln.replace(",", rnd.choice([";", "\t", " "])) for ln in lines]
    text = "\n".join(lines)
    if kind == "encoding":
        return text.encode(rnd.choice(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]), "replace"), "csv_enc"
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode(), "csv_bom"
    return text.encode("utf-8", "surrogatepass"), "csv_" + kind


def _png_mutation(rnd: random.Random, data: bytes, others: list[bytes]) -> tuple[bytes, str]:
    kind = rnd.choice(["ihdr_size", "crc", "truncate", "empty", "text", "mode", "bytes", "bytes"])
    if kind == "bytes" or not data.startswith(b"\x89PNG"):
        return _bytes_mutation(rnd, data, others)
    b = bytearray(data)
    if kind == "ihdr_size":  # width/height at offsets 16/20
        off = rnd.choice([16, 20])
        b[off:off + 4] = rnd.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 65535, 20000]).to_bytes(4, "big")
    elif kind == "crc":
        b[29:33] = b"\x00\x00\x00\x00"
    elif kind == "truncate":
        del b[rnd.randrange(8, len(b)):]
    elif kind == "empty":
        b = bytearray()
    elif kind == "text":
        b = bytearray(b"this is not a png\n")
    elif kind == "mode":
        r = np.random.default_rng(rnd.randrange(1 << 30))
        choice = rnd.choice(["I;16", "RGBA", "1", "LA", "F"])
        a = (r.random((9, 7)) * 255).astype(np.uint8)
        fmt = "TIFF" if choice == "F" else "PNG"
        b = bytearray(_png_bytes(a, fmt, choice))
    return bytes(b), "png_" + kind


def _make_case(rnd: random.Random, seed_files: dict, kind: str, tmp: Path) -> tuple[Path, str]:
    others = [v for v in seed_files.values() if isinstance(v, bytes)]
    data = seed_files[kind]
    if kind == "images":
        folder = tmp / "images"
        if folder.exists():
            shutil.rmtree(folder)
        names = sorted(data)
        bad = rnd.choice(names)
        broken, mut = _png_mutation(rnd, data[bad], others)
        for name in names:
            f = folder / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(broken if name == bad else data[name])
        return folder, mut
    if kind.startswith("npy"):
        out, mut = _npy_header_mutation(rnd, data) if rnd.random() < 0.4 else _bytes_mutation(rnd, data, others)
        suffix = ".npy"
    elif kind.startswith("npz"):
        out, mut = _npz_mutation(rnd, data, others)
        suffix = ".npz"
    else:
        out, mut = _csv_mutation(rnd, data, others)
        suffix = ".csv"
    p = tmp / f"case{suffix}"
    p.write_bytes(out)
    return p, mut


def _accepted_ok(ds, inputs) -> str | None:
    """Why an accepted Dataset is not what the model takes (None: fine)."""
    if len(ds.inputs) != len(inputs):
        return f"{len(ds.inputs)} arrays for {len(inputs)} inputs"
    for a, spec in zip(ds.inputs, inputs):
        if a.ndim != len(spec.shape) or any(w is not None and g != w for g, w in zip(a.shape[1:], spec.shape[1:])):
            return f"shape {a.shape} for {spec.shape}"
        if a.dtype != np.float32 or not np.all(np.isfinite(a)) or len(a) == 0:
            return f"dtype {a.dtype} / non-finite / empty"
    if ds.labels is not None and len(ds.labels) != len(ds.inputs[0]):
        return f"{len(ds.labels)} labels for {len(ds.inputs[0])} samples"
    return None


def run_case(rnd: random.Random, seed_files: dict, tmp: Path, timeout_s: float) -> tuple[str, str, str, str]:
    """(outcome, file kind, mutation, detail) of one random case."""
    kind = rnd.choice(sorted(seed_files))
    path, mut = _make_case(rnd, seed_files, kind, tmp)
    # mostly the input the seed was made for, so mutations reach past the shape checks; sometimes any input
    spec_name = MADE_FOR[kind] if rnd.random() < 0.8 else rnd.choice(sorted(SPECS))
    inputs = SPECS[spec_name]
    opts = {"role": rnd.choice(["calib", "eval", "train"]), "samples": rnd.choice([None, None, 10, 1, 500]),
            "seed": rnd.randrange(100), "expects_raw_pixels": rnd.choice([None, False, True]),
            "array_scale": rnd.choice([None, None, "unit", "symmetric", "raw"]),
            "allow_raw_range": rnd.random() < 0.2, "image_scale": rnd.choice(["unit", "symmetric", "raw"])}
    detail = f"{kind}/{mut} for {spec_name}"
    try:
        with _time_limit(timeout_s):
            ds = load_dataset(str(path), inputs, **opts)
    except _Hang:
        return "hangs", kind, mut, detail
    except EdgeqError as e:
        named = path.name in e.message or any(part in e.message for part in (str(path), path.parent.name + "/"))
        if not named or not e.hint:
            return "unclear_errors", kind, mut, f"{detail}: {e}"
        return "clear_errors", kind, mut, detail
    except Exception as e:  # noqa: BLE001 - what the campaign counts
        return "uncaught", kind, mut, f"{detail}: {type(e).__name__}: {str(e)[:200]}"
    why = _accepted_ok(ds, inputs)
    return ("accepted", kind, mut, detail) if why is None else ("bad_accepts", kind, mut, f"{detail}: {why}")


def campaign(n: int, seed: int, *, timeout_s: float = 10.0, max_examples: int = 20) -> dict:
    """Run `n` deterministic cases from `seed`; counts per outcome (overall and per file kind) and examples of
    every defect (uncaught, hang, unclear_error, bad_accept)."""
    import warnings

    rnd = random.Random(seed)
    seed_files = seeds()
    outcomes = ("clear_errors", "accepted", "uncaught", "hangs", "unclear_errors", "bad_accepts")
    counts = dict.fromkeys(outcomes, 0)
    by_kind: dict[str, dict[str, int]] = {}
    examples: list[str] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgeq-fuzz-data-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning and the like: outcomes count here
        for _ in range(n):
            outcome, kind, mut, detail = run_case(rnd, seed_files, Path(tmp), timeout_s)
            counts[outcome] += 1
            k = by_kind.setdefault(kind, dict.fromkeys(outcomes, 0))
            k[outcome] += 1
            if outcome not in ("clear_errors", "accepted") and len(examples) < max_examples:
                examples.append(f"{outcome}: {detail}")
    return {"kind": "data", "cases": n, "seed": seed, **counts,
            "rejected": counts["clear_errors"] + counts["unclear_errors"],  # benchmarks/fuzz.py's column
            "by_file_kind": by_kind, "defects": examples,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10_000, help="cases [default: 10000]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = campaign(args.n, args.seed)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print(f"data fuzz: {res['cases']} cases (seed {res['seed']}) in {res['seconds']} s: "
              f"{res['clear_errors']} clear errors, {res['accepted']} accepted, {res['uncaught']} uncaught, "
              f"{res['hangs']} hangs, {res['unclear_errors']} unclear errors, {res['bad_accepts']} bad accepts")
        for kind, c in sorted(res["by_file_kind"].items()):
            print(f"  {kind:<15} " + ", ".join(f"{k} {v}" for k, v in c.items() if v))
        for d in res["defects"]:
            print("  " + d)
    defects = res["uncaught"] + res["hangs"] + res["unclear_errors"] + res["bad_accepts"]
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
