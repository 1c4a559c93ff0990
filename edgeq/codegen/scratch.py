"""Per-model stack scratch sizes of the C runtime (the generated `edgeq_runtime/include/edgeq_config.h`).

The CONV_2D and DEPTHWISE_CONV_2D kernels keep their scratch (zero-point padded input rows, int16 windows, im2col
columns) in fixed-size stack arrays whose sizes are macros (EDGEQ_*_BYTES, defaults in the runtime's own
edgeq_config.h). The defaults fit the largest layers edgeq handles; a small model needs a fraction. The generator
knows every layer's shape, so it writes a config with, per macro, the most any layer of this model uses of it with
the default size: the kernels then take exactly the paths they take with the defaults (same chunks of channels,
same code, same results and instruction counts) on a smaller stack.

Each `*_need` function below mirrors one kernel's choice (read off its parameter struct, i.e. exactly what the
kernel reads): for a chunked kernel the bytes of the chunk it uses with the default (a layer whose whole block fits
needs the whole block, a layer that is split into chunks the default chunk); for a kernel whose applicability tests
the size (`fits`), the bytes that make the test pass, when it passes with the default. Every choice is a threshold
on the size, so any size between that need and the default behaves as the default: the maximum over the layers and
the rounding up below keep that. tests/test_scratch_sizes.py builds models both ways and compares outputs and
instruction counts (QEMU), so a kernel that changes how it uses a macro without a matching change here fails.

Models with packed-weight ops (ops_lowbit: the packed kernels run the int8 kernels on decoded chunks of their own
shapes) keep the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Today's defaults (the runtime's edgeq_config.h; the kernels' #ifndef fallbacks hold the same values).
DEFAULTS = {
    "EDGEQ_CONV_SCRATCH_BYTES": 1280,  # edgeq_conv.h: DSP int16 windows (EDGEQ_X16_WORDS = /4), Helium im2col
    "EDGEQ_IM2COL_BYTES": 128,         # edgeq_conv.c: per column of the 2-pixel im2col (non-Helium)
    "EDGEQ_CONV_MVE_BYTES": 2320,      # edgeq_conv_mve.c: the interleaved path's windows, Helium
    "EDGEQ_DW_WINDOW_BYTES": 1152,     # edgeq_dwconv.c: a clipped 3x3 window, DSP
    "EDGEQ_DW_PAD_BYTES": 4096,        # edgeq_dwconv.c: three zero-point padded rows, DSP
    "EDGEQ_DW_PLANE_BYTES": 3904,      # edgeq_dwconv.c: channel-planar int16 rows + weights, DSP
    "EDGEQ_DW_ROWS_BYTES": 1536,       # edgeq_dwconv_mve.c: padded rows, Helium
    "EDGEQ_DW_PLANAR_BYTES": 4096,     # edgeq_dwconv_mve.c: channel-planar padded planes, Helium
}


# ------------------------------------------------------------------ kernel choices the generator's layouts follow

_CONV_FIRST_RWW = 158  # edgeq_conv.c EQ_FIRST_RWW: eq_conv_first's ring row stride in words


def conv_first_ok(shape: dict) -> bool:
    """A CONV_2D edgeq_conv.c's eq_conv_first takes (its eq_first_ok, given a ReLU-like stream): 3x3, stride 2, 3
    input channels, no left padding, input width a multiple of 4, a ring row within _CONV_FIRST_RWW words."""
    s = shape
    return (s["k_h"] == 3 and s["k_w"] == 3 and s["in_c"] == 3 and s["stride_h"] == 2 and s["stride_w"] == 2
            and s["dil_h"] == 1 and s["dil_w"] == 1 and s["pad_w"] == 0 and s["in_w"] % 4 == 0 and s["out_w"] >= 3
            and max(3 * s["out_w"] + 2, 3 * s["in_w"] // 2) <= _CONV_FIRST_RWW)


def dw_small_ok(g: dict) -> bool:
    """A 3x3 DEPTHWISE_CONV_2D shape (depth multiplier 1) edgeq_dwconv.c's eq_dw_small takes with per-channel rq
    (_dsp_small below reads the same choice from the generated C): 3 outputs a row at stride 1 or 6 at stride 1 or 2, up
    to 8 rows, in_c a multiple of 4, at least 4 channels' planes in the default EDGEQ_DW_PLANE_BYTES."""
    C, S, X, Y = g["in_c"], g["stride_w"], g["out_w"], g["out_h"]
    if g["k_h"] != 3 or g["k_w"] != 3 or C % 4 or X not in (3, 6) or (X, S) == (3, 2) or Y > 8 or S not in (1, 2):
        return False
    WP, PH = 2 * S * ((X + 1) >> 1) + 2, (Y - 1) * S + 3
    nb = (DEFAULTS["EDGEQ_DW_PLANE_BYTES"] // (2 * PH * WP)) & ~3  # the default size's blocks (the model's keeps it)
    return not (g["stride_h"] != S or g["dil_h"] != 1 or g["dil_w"] != 1 or nb < 4 or C > 65535
                or min(g["pad_w"] + g["in_w"], WP) <= g["pad_w"] or min(g["in_h"], PH - g["pad_h"]) <= 0)


# The smallest size written (a few words).
MIN_BYTES = 16
# Needs are rounded up to 4 steps per power of two (<= 25 % over, ~12 % on average): models with similar layers
# then share one config, so the runtime objects they compile (edgeq.objcache keys them by the preprocessed source)
# are shared too. 1: exact sizes.
STEPS_PER_OCTAVE = 4

# DSP builds keep EDGEQ_CONV_SCRATCH_BYTES at the default unless this is set. Sized, the kernels take the same paths
# and run the same instructions, but GCC compiles the int16 CONV_2D kernels from the smaller constants (folds the
# 3 pixels x 2 channels block away where no window fits it, other frame offsets), and the cycle model charges that
# code differently: KWS on the M4 (measured at 4af38e7) stack 2,636 -> 2,008 B, est. cycles 5,140,772 -> 5,182,786
# (+0.8 %, the 1x1 layers +1.3 %; same instructions). The depthwise and Helium scratch sized cost nothing measurable.
SIZE_DSP_CONV_SCRATCH = False

# The DSP (int16 weights) build condition, the same as EDGEQ_CONV_W16's in edgeq_conv.h (tests keep them equal).
W16_CONDITION = ("!defined(EDGEQ_NO_DSP) && !(!defined(EDGEQ_NO_MVE) && defined(__ARM_FEATURE_MVE) && "
                 "(__ARM_FEATURE_MVE & 1)) && \\\n    ((defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP) || "
                 "defined(EDGEQ_EMULATE_DSP))")

_X16_WORDS = DEFAULTS["EDGEQ_CONV_SCRATCH_BYTES"] // 4  # == ops_core.CONV_X16_WORDS (the generator's w16 choice)
_EQ_W16_THREE_MIN = 24        # edgeq_conv.c
_EQ_MVE_INTER_GATHER_MAX = 160  # edgeq_conv_mve.c
_EQ_DW_MAX_KH = 8             # edgeq_dwconv_mve.c
_EQ_DWP_WK = 10               # edgeq_dwconv.c: words of doubled weights per channel of the DSP planar path
_EQ_DWP_HDR = 16              # edgeq_dwconv.c: words ahead of the channel blocks in eq_dw_planar3x3's scratch


@dataclass
class Layer:
    """One kernel parameter struct of the generated C: its integer fields and which pointers are set."""
    ctype: str                 # edgeq_conv2d_params (CONV_2D) or edgeq_conv_params (DEPTHWISE_CONV_2D)
    name: str
    f: dict[str, int]
    ptrs: set[str] = field(default_factory=set)  # pointer fields that are not NULL
    rq0: tuple[int, ...] = ()  # the first requantization triple (rq[0..2]) where the struct has rq
    variant: str = ""          # "w16": compiled in DSP builds only; "w8": compiled everywhere else; "": everywhere


_STRUCT = re.compile(r"static const (edgeq_conv2d_params|edgeq_conv_params) (\w+) = \{\n(.*?)\n\};", re.S)
_FIELD = re.compile(r"^\s*\.(\w+) = (.+),$", re.M)


def parse_layers(c_text: str) -> list[Layer]:
    """The CONV_2D / DEPTHWISE_CONV_2D parameter structs of a generated model (`<prefix>.c` or its definitions)."""
    out = []
    for m in _STRUCT.finditer(c_text):
        ints, ptrs = {}, set()
        for k, v in _FIELD.findall(m.group(3)):
            v = v.strip()
            if re.fullmatch(r"\(?-?\d+\)?", v):
                ints[k] = int(v.strip("()"))
            elif v != "NULL":
                ptrs.add(k)
        variant = ""
        if m.group(1) == "edgeq_conv2d_params":
            twins = [x for x in _STRUCT.finditer(c_text) if x.group(2) == m.group(2)]
            if len(twins) > 1:
                variant = "w16" if "w16" in ptrs else "w8"
        rq0: tuple[int, ...] = ()
        rq_name = re.search(r"^\s*\.rq = (\w+),$", m.group(3), re.M)
        if rq_name and rq_name.group(1) != "NULL":
            head = rf"static const int32_t {rq_name.group(1)}\[\d+\][^=]*= \{{"
            arr = re.search(head + r"\s*(-?\d+),\s*(-?\d+),\s*(-?\d+)", c_text)
            rq0 = tuple(int(x) for x in arr.groups()) if arr else ()
        out.append(Layer(m.group(1), m.group(2), ints, ptrs=ptrs, variant=variant, rq0=rq0))
    return out


# ------------------------------------------------------------------------------------------------ CONV_2D


def conv_dsp_need(p: Layer) -> tuple[int, int]:
    """(EDGEQ_CONV_SCRATCH_BYTES, EDGEQ_IM2COL_BYTES) a CONV_2D uses in a DSP build (edgeq_conv.c eq_conv_general)."""
    f = p.f
    K = f["k_h"] * f["k_w"] * f["in_c"]
    K4 = (K + 3) & ~3
    if "w16" in p.ptrs:
        # 1x1 (two pixels, in_c words), the windows path incl. 3 pixels x 2 channels (K4 words: 6 * K4/4 <=
        # X16 * 3 / 2 and K4 <= X16 both hold iff X16 >= K4) and the chunked path (K4 > X16, in_c a multiple of
        # 4: K in chunks of what the 1.5 X16 words hold besides the partial sums; any size works, K4 / 2 words
        # as the 1-pixel path it replaced) all read the size as EDGEQ_X16_WORDS.
        words = K4 if K4 <= _X16_WORDS else K4 // 2
        return 4 * words, 0
    return 0, _im2col_need(f)


# CONV_2D's optional code paths (edgeq_conv.c; the runtime's defaults: all 1): the generated config writes 0 for the
# paths no layer of the model takes, so the firmware does not link them (VWW on the M4 takes only the 1x1 stream and
# the int16 windows). A path compiled out makes its layers fall through to the next candidate (int16 windows: the
# chunked path) and finally to the general loop: a wrong guess here costs speed, which test_scratch_sizes catches.
CONV_PATHS = ("EDGEQ_CONV_PATH_WINDOWS", "EDGEQ_CONV_PATH_CHUNKS", "EDGEQ_CONV_PATH_IM2COL",
              "EDGEQ_CONV_PATH_GENERAL_FAST", "EDGEQ_CONV_PATH_FIRST")
_EQ_W16_THREE_1X1_MIN = 8     # edgeq_conv1x1.c


def conv_path(p: Layer, dsp: bool) -> str:
    """The optional CONV_PATHS entry a CONV_2D takes in a DSP ("dsp": EDGEQ_CONV_W16) or other non-Helium build
    (edgeq_conv.c eq_conv_general: edgeq_conv1x1.c's eq_conv1x1_w16, the int16 windows up to EDGEQ_X16_WORDS, the
    chunked int16 path, the int8 im2col, the general loop with its 2-pixel block); "" for none of them."""
    f = p.f
    K4 = (f["k_h"] * f["k_w"] * f["in_c"] + 3) & ~3
    if dsp and "w16" in p.ptrs:
        if (f["k_h"] == 1 and f["k_w"] == 1 and f["pad_h"] == 0 and f["pad_w"] == 0 and f["in_c"] % 4 == 0
                and f["in_c"] <= _X16_WORDS and "rq" in p.ptrs and f["in_c"] >= _EQ_W16_THREE_1X1_MIN):
            return ""  # eq_conv1x1_x16_3
        if "bias_eff" not in p.ptrs and conv_first_ok(f):
            return "EDGEQ_CONV_PATH_FIRST"  # eq_conv_first (the generator's _conv_first_stream)
        return "EDGEQ_CONV_PATH_WINDOWS" if K4 <= _X16_WORDS else "EDGEQ_CONV_PATH_CHUNKS"
    if _im2col_need(f):
        return "EDGEQ_CONV_PATH_IM2COL"
    return "EDGEQ_CONV_PATH_GENERAL_FAST"  # (any layer the general loop runs: its 2-pixel block may apply)


def _im2col_need(f: dict[str, int]) -> int:
    K = f["k_h"] * f["k_w"] * f["in_c"]
    run = f["k_w"] * f["in_c"] if f["dil_w"] == 1 else f["in_c"]
    if K <= DEFAULTS["EDGEQ_IM2COL_BYTES"] and (f["k_h"] > 1 or f["k_w"] > 1) and run < 8:
        return K
    return 0


def conv_mve_need(p: Layer) -> tuple[int, int]:
    """(EDGEQ_CONV_MVE_BYTES, EDGEQ_CONV_SCRATCH_BYTES) a CONV_2D uses in a Helium build (edgeq_conv_mve.c: the
    interleaved path when three interleaved windows and one gathered one fit, else eq_conv_mve's min(4, SCRATCH / K)
    im2col columns; the 1x1 <= 16-channel path of optimised builds needs neither, other builds go on as here)."""
    f = p.f
    K, row_len = f["k_h"] * f["k_w"] * f["in_c"], f["k_w"] * f["in_c"]
    one = f["k_h"] == 1 and f["k_w"] == 1 and f["pad_h"] == 0 and f["pad_w"] == 0
    inter = 3 * ((K + 15) & ~15) + K + 16
    if K > 16 and inter <= DEFAULTS["EDGEQ_CONV_MVE_BYTES"] and (one or K <= _EQ_MVE_INTER_GATHER_MAX
                                                                  or row_len % 16 == 0):
        return inter, 0
    if one:
        return 0, 0
    slots = min(4, DEFAULTS["EDGEQ_CONV_SCRATCH_BYTES"] // K)
    if slots < 4 and (slots == 0 or f["dil_w"] != 1):
        return 0, 0  # the compact fallback in edgeq_conv.c: no scratch
    return 0, slots * K


# ---------------------------------------------------------------------------------------- DEPTHWISE_CONV_2D


def _valid_taps(o0: int, dil: int, k: int, n: int) -> tuple[int, int]:
    k0 = 0
    while k0 < k and o0 + dil * k0 < 0:
        k0 += 1
    k1 = k
    while k1 > k0 and o0 + dil * (k1 - 1) >= n:
        k1 -= 1
    return k0, k1


def _has_clipped_window(f: dict[str, int]) -> bool:
    for axis in (("out_h", "stride_h", "pad_h", "dil_h", "k_h", "in_h"), ("out_w", "stride_w", "pad_w", "dil_w",
                                                                          "k_w", "in_w")):
        out_n, s, pad, dil, k, n = (f[a] for a in axis)
        for o in range(out_n):
            if _valid_taps(o * s - pad, dil, k, n) != (0, k):
                return True
    return False


def _dsp_planar(p: Layer) -> tuple[int, bool]:
    """edgeq_dwconv.c eq_dw_planar3x3 (tried first): (its bytes with the default size or 0, whether the optimised
    assembly builds take it too: those only for a zero point folded into rq and no clamp)."""
    f = p.f
    C, T = f["in_c"], f["out_h"] > f["out_w"]
    Xo = f["out_h"] if T else f["out_w"]
    S = f["stride_h"] if T else f["stride_w"]
    WP = 2 * S * ((Xo + 1) >> 1) + 2
    per_ch = 6 * WP + 4 * _EQ_DWP_WK
    nb = ((DEFAULTS["EDGEQ_DW_PLANE_BYTES"] - 4 * _EQ_DWP_HDR) // per_ch) & ~3
    oxs = f["out_w"] * C if T else C  # the output step, a halfword in the channel's block
    if (C & 3 or S not in (1, 2) or Xo < 8 + 4 * (S - 1) or f["dil_h"] != 1 or f["dil_w"] != 1 or nb < 4
            or oxs > 65535):
        return 0, False
    # the header, then all channels in one block or blocks of nb (bytes >= that keep them)
    return 4 * _EQ_DWP_HDR + min(nb, C) * per_ch, _fast_kind(p)


def _fast_kind(p: Layer) -> bool:
    """rq in the fast kind the assembly takes: the zero point folded (or zero) and no activation clamp."""
    f = p.f
    zq = f["out_offset"] if len(p.rq0) == 3 and p.rq0[1] == 1 << (p.rq0[2] - 1) else 0  # eq_rq_zp
    return len(p.rq0) == 3 and zq == 0 and f["act_min"] == -128 and f["act_max"] == 127


def _dsp_asm_3x3(p: Layer) -> bool:
    """edgeq_dwconv.c's 3x3 DSP assembly paths take the layer (fast3x3 in an optimised build)."""
    f = p.f
    return ("dw_w" in p.ptrs and "rq" in p.ptrs and f["depth_mult"] == 1 and f["k_h"] == 3 and f["k_w"] == 3
            and _fast_kind(p))


def dw_relu_only(c_text: str) -> bool:
    """EDGEQ_DW_RELU_ONLY for a generated model: it has 3x3 depthwise layers the DSP assembly takes and each of them
    is ReLU-like (output zero point -128 = act_min, act_max 127: a negative sum requantizes to -128 with or without
    the rounding correction). MLPerf Tiny's KWS and VWW: every depthwise layer."""
    asm = [p for p in parse_layers(c_text) if p.ctype != "edgeq_conv2d_params" and _dsp_asm_3x3(p)]
    return bool(asm) and all(p.f["out_offset"] == -128 for p in asm)


def dw_small(c_text: str) -> bool:
    """EDGEQ_DW_SMALL for a generated model: some DEPTHWISE_CONV_2D holds dwp, the blocks eq_dw_small reads (it
    returns at once without them, so a model without any compiles it out)."""
    return any("dwp" in p.ptrs for p in parse_layers(c_text) if p.ctype == "edgeq_conv_params")


def _dsp_small(p: Layer) -> tuple[int, bool]:
    """edgeq_dwconv.c eq_dw_small (tried first: 3 or 6 outputs a row, at most 8 rows, the same stride 1 or 2 both
    ways, each channel's input map one PH x WP int16 plane): (its bytes with the default size or 0, whether the
    optimised assembly builds take it too)."""
    f = p.f
    if "dwp" not in p.ptrs or not dw_small_ok(f):
        return 0, False
    S = f["stride_w"]
    per_ch = 2 * ((f["out_h"] - 1) * S + 3) * (2 * S * ((f["out_w"] + 1) >> 1) + 2)  # a PH x WP plane (dwp in place)
    return min((DEFAULTS["EDGEQ_DW_PLANE_BYTES"] // per_ch) & ~3, f["in_c"]) * per_ch, _fast_kind(p)


def dw_dsp_need(p: Layer) -> tuple[int, int, int]:
    """(EDGEQ_DW_PLANE_BYTES, EDGEQ_DW_PAD_BYTES, EDGEQ_DW_WINDOW_BYTES) a DEPTHWISE_CONV_2D uses in a DSP build
    (edgeq_dwconv.c: the channel-planar path, then the padded rows, then per pixel with clipped windows)."""
    f = p.f
    if not ("dw_w" in p.ptrs and "rq" in p.ptrs and f["depth_mult"] == 1 and f["k_h"] == 3 and f["k_w"] == 3):
        return 0, 0, 0
    small, _ = _dsp_small(p)
    if small:
        return small, 0, 0  # the C builds take it for every kind, the assembly builds' other kinds the pixel path
    plane, all_builds = _dsp_planar(p)
    if all_builds:
        return plane, 0, 0
    C, S = f["in_c"], f["stride_w"]
    C4 = C & ~3
    wp = (f["out_w"] - 1) * S + 3
    cb = (DEFAULTS["EDGEQ_DW_PAD_BYTES"] // (3 * wp)) & ~3
    if cb >= C4 and (S == 1 or f["out_w"] <= 4) and f["dil_h"] == 1 and f["dil_w"] == 1:
        return plane, 3 * wp * C4, 0  # eq_dw_padded3x3_m1: one block of every channel (cb >= C4 iff bytes >= 3 wp C4)
    if 9 * C <= DEFAULTS["EDGEQ_DW_WINDOW_BYTES"] and _has_clipped_window(f):
        return plane, 0, 9 * C        # eq_dw_clipped3x3_m1, taken iff 9 * in_c <= bytes
    return plane, 0, 0


def _planar_need(f: dict[str, int], asm: bool) -> int | None:
    """eq_mve_dw_planar's bytes with the default size, None where it does not apply."""
    budget = DEFAULTS["EDGEQ_DW_PLANAR_BYTES"]
    C = f["in_c"]
    fill_x = 10 * f["out_w"] // ((f["out_w"] + 3) & ~3)
    fill_y = 10 * f["out_h"] // ((f["out_h"] + 3) & ~3)
    s2 = f["stride_w"] == 2 and f["stride_h"] == 2 and f["k_w"] == 3 and f["k_h"] == 3
    if fill_y > fill_x:
        n_lanes, n_rows, k_lane, k_row = f["out_h"], f["out_w"], f["k_h"], f["k_w"]
        in_lanes, pad_lane, lane_in = f["in_h"], f["pad_h"], f["in_w"] * C
    else:
        n_lanes, n_rows, k_lane, k_row = f["out_w"], f["out_h"], f["k_w"], f["k_h"]
        in_lanes, pad_lane, lane_in = f["in_w"], f["pad_w"], C
    Q = (((n_lanes + 3) & ~3) + k_lane - 1 + 7) & ~7
    rows = n_rows + k_row - 1
    if s2:
        H = (((n_lanes + 3) & ~3) + 1 + 7) & ~7
        Q, rows = 2 * H, 2 * n_rows + 1
    need_q = 0
    if asm and not s2 and k_lane == 3 and k_row == 3:
        q = 32  # the hand-written loops' row pitches: 8 (narrow maps), 32, 64
        while q < Q:
            q *= 2
        if n_lanes <= 6:
            Q = 8
        elif q <= 64 and rows * q <= budget:
            Q, need_q = q, rows * q
    plane = rows * Q
    cb = min(budget // plane, C)
    if (f["depth_mult"] != 1 or f["dil_h"] != 1 or f["dil_w"] != 1 or not f.get("_rq")
            or ((f["stride_w"] != 1 or f["stride_h"] != 1) and not s2) or (fill_x < 7 and fill_y < 7) or cb < 1
            or (s2 and (cb < 2 or (fill_x < 10 and fill_y < 10))) or in_lanes * lane_in > 32767
            or Q + pad_lane > 32767):
        return None
    return max(cb * plane, need_q)


def dw_mve_need(p: Layer) -> tuple[int, int]:
    """(EDGEQ_DW_ROWS_BYTES, EDGEQ_DW_PLANAR_BYTES) a DEPTHWISE_CONV_2D uses in a Helium build (edgeq_dwconv_mve.c:
    the channel-planar path first, then the padded rows; the per-pixel loops need none)."""
    f = dict(p.f, _rq=int("rq" in p.ptrs))
    planar = [n for n in (_planar_need(f, False), _planar_need(f, True)) if n is not None]
    if planar:  # with and without the hand-written loop (EQ_DWP_ASM, optimised builds): both fit
        return 0, max(planar)
    C, S, k_h = f["in_c"], f["stride_w"], f["k_h"]
    wp = (f["out_w"] - 1) * S + f["k_w"]
    groups = C // 4
    G = DEFAULTS["EDGEQ_DW_ROWS_BYTES"] // (k_h * wp * 4)
    if (f["depth_mult"] != 1 or f["dil_h"] != 1 or f["dil_w"] != 1 or S not in (1, 2) or C & 3
            or "dw_w" not in p.ptrs or G < 1 or k_h > _EQ_DW_MAX_KH):
        return 0, 0
    return min(G, groups) * k_h * wp * 4, 0  # G >= groups: the ring of every group; else blocks of G groups


# --------------------------------------------------------------------------------------------------- config


def round_up(need: int, default: int) -> int:
    """need rounded up to STEPS_PER_OCTAVE steps per power of two, at least MIN_BYTES, at most default; 0 (no layer
    takes a path that uses this scratch): the default. The code holding an unused scratch is never called, so its
    size costs no stack, while a small frame lets GCC inline that code into the dispatcher that calls the paths the
    model does use, adding its frame to theirs (KWS on Cortex-M55: eq_mve_dw_padded inlined into edgeq_dw_mve with
    a 16-byte EDGEQ_DW_ROWS_BYTES, +440 B of stack)."""
    if need <= 0:
        return default
    if need <= MIN_BYTES:
        return MIN_BYTES
    step = max(1, (1 << (need - 1).bit_length()) // (2 * STEPS_PER_OCTAVE)) if STEPS_PER_OCTAVE > 1 else 4
    step = max(step, 4)
    return min(default, -(-need // step) * step)


@dataclass(frozen=True)
class ScratchSizes:
    """Per macro: the size for DSP builds and for the other builds (equal except the two CONV_2D ones), and what
    this model's layers need of each (0: no layer takes a path that uses it)."""
    dsp: dict
    other: dict
    packed: bool = False  # packed-weight ops: the defaults
    need_dsp: dict = field(default_factory=dict)
    need_other: dict = field(default_factory=dict)
    fc_unroll: int = 1  # EDGEQ_FC_UNROLL (fc_unroll() below; not a size: 1 is the runtime's default)
    # CONV_PATHS the model's layers take in DSP / other builds (Cortex-M0+, hosts; None: all, the runtime's default)
    paths_dsp: frozenset | None = None
    paths_other: frozenset | None = None
    # EDGEQ_DW_RELU_ONLY (edgeq_dwconv.c): every 3x3 DEPTHWISE_CONV_2D the DSP assembly takes (_fast_kind) is
    # ReLU-like (output zero point -128): its requantization drops the negative-sum correction (dw_relu_only()).
    dw_relu_only: bool = False
    # EDGEQ_DW_SMALL (edgeq_dwconv.c eq_dw_small): some DEPTHWISE_CONV_2D holds the small-map path's channel blocks
    # (dwp); without any the path never runs and the config compiles it out (KWS, IC: its code off their budget).
    dw_small: bool = True

    def stack_bytes(self, build: str) -> int:
        """The largest stack scratch array this model's kernels allocate in a "dsp" (Cortex-M4/M7/M33), "mve"
        (Helium) or "plain" build: a lower bound of the stack (`edgeq bench` measures the high-water mark)."""
        dsp = build == "dsp"
        size, need = (self.dsp, self.need_dsp) if dsp else (self.other, self.need_other)
        if self.packed:
            need = dict.fromkeys(DEFAULTS, 1)
        used = {k: v for k, v in size.items() if need.get(k)}
        arrays = {  # bytes allocated where the macro sizes an array (edgeq_conv.c, edgeq_dwconv*.c)
            "dsp": {"EDGEQ_CONV_SCRATCH_BYTES": lambda v: v * 3 // 2 + v // 4 + 4,  # int16 windows + one gather
                    "EDGEQ_IM2COL_BYTES": lambda v: 2 * v, "EDGEQ_DW_PAD_BYTES": int, "EDGEQ_DW_WINDOW_BYTES": int,
                    "EDGEQ_DW_PLANE_BYTES": int},
            "mve": {"EDGEQ_CONV_SCRATCH_BYTES": int, "EDGEQ_CONV_MVE_BYTES": int, "EDGEQ_DW_ROWS_BYTES": int,
                    "EDGEQ_DW_PLANAR_BYTES": lambda v: v + 16},
            "plain": {"EDGEQ_IM2COL_BYTES": lambda v: 2 * v},
        }[build]
        fixed = [12 * _CONV_FIRST_RWW] if dsp and self.paths_dsp and "EDGEQ_CONV_PATH_FIRST" in self.paths_dsp else []
        return max([f(used[k]) for k, f in arrays.items() if k in used] + fixed, default=0)  # (eq_conv_first's ring)


def scratch_sizes(c_text: str, packed: bool = False) -> ScratchSizes:
    """The sizes a generated model (`<prefix>.c`) needs; the defaults where packed (ops_lowbit) ops are present."""
    if packed:
        return ScratchSizes(dict(DEFAULTS), dict(DEFAULTS), True)
    need_dsp = dict.fromkeys(DEFAULTS, 0)
    need_other = dict.fromkeys(DEFAULTS, 0)
    paths_dsp, paths_other = set(), set()
    for p in parse_layers(c_text):
        if p.ctype == "edgeq_conv2d_params":
            if p.variant in ("", "w16"):
                paths_dsp.add(conv_path(p, True))
            if p.variant in ("", "w8"):
                paths_other.add(conv_path(p, False))
            if p.variant in ("", "w16"):
                s, i = conv_dsp_need(p)
                need_dsp["EDGEQ_CONV_SCRATCH_BYTES"] = max(need_dsp["EDGEQ_CONV_SCRATCH_BYTES"], s)
                need_dsp["EDGEQ_IM2COL_BYTES"] = max(need_dsp["EDGEQ_IM2COL_BYTES"], i)
            if p.variant in ("", "w8"):
                inter, col = conv_mve_need(p)
                need_other["EDGEQ_CONV_SCRATCH_BYTES"] = max(need_other["EDGEQ_CONV_SCRATCH_BYTES"], col)
                for d in (need_dsp, need_other):  # (a Helium-only macro: DSP builds never read it)
                    d["EDGEQ_CONV_MVE_BYTES"] = max(d["EDGEQ_CONV_MVE_BYTES"], inter)
                need_other["EDGEQ_IM2COL_BYTES"] = max(need_other["EDGEQ_IM2COL_BYTES"], _im2col_need(p.f))
        else:
            plane, pad, win = dw_dsp_need(p)
            rows, planar = dw_mve_need(p)
            for d in (need_dsp, need_other):
                d["EDGEQ_DW_PLANE_BYTES"] = max(d["EDGEQ_DW_PLANE_BYTES"], plane)
                d["EDGEQ_DW_PAD_BYTES"] = max(d["EDGEQ_DW_PAD_BYTES"], pad)
                d["EDGEQ_DW_WINDOW_BYTES"] = max(d["EDGEQ_DW_WINDOW_BYTES"], win)
                d["EDGEQ_DW_ROWS_BYTES"] = max(d["EDGEQ_DW_ROWS_BYTES"], rows)
                d["EDGEQ_DW_PLANAR_BYTES"] = max(d["EDGEQ_DW_PLANAR_BYTES"], planar)
    if not SIZE_DSP_CONV_SCRATCH and need_dsp["EDGEQ_CONV_SCRATCH_BYTES"]:
        need_dsp["EDGEQ_CONV_SCRATCH_BYTES"] = DEFAULTS["EDGEQ_CONV_SCRATCH_BYTES"]
    return ScratchSizes({k: round_up(v, DEFAULTS[k]) for k, v in need_dsp.items()},
                        {k: round_up(v, DEFAULTS[k]) for k, v in need_other.items()},
                        need_dsp=need_dsp, need_other=need_other, fc_unroll=fc_unroll(c_text),
                        paths_dsp=frozenset(paths_dsp - {""}), paths_other=frozenset(paths_other - {""}),
                        dw_relu_only=dw_relu_only(c_text), dw_small=dw_small(c_text))


# ------------------------------------------------------------------------------------------ FULLY_CONNECTED

# edgeq_fc.c's DSP asm groups loop (eq_fc_w16_groups: rq set, in_depth % 4 == 0, full groups of 4 rows) runs two
# pairs of input words a pass with EDGEQ_FC_UNROLL 2: 1.5 cycles less per pair (the M4's SUBS / taken BNE), 124 B
# more code. Set for models whose layers taking that loop hold at least this many MACs (the MLPerf Tiny
# autoencoder: 264k, 3 % fewer cycles); a classifier head (KWS 768, VWW 512) keeps the compact loop.
FC_UNROLL_MIN_MACS = 16384
_FC_STRUCT = re.compile(r"static const edgeq_fc_params (\w+) = \{\n(.*?)\n\};", re.S)


def fc_unroll(c_text: str) -> int:
    """EDGEQ_FC_UNROLL for a generated model: 2 when its int16-weight (DSP) FC layers with rq, in_depth % 4 == 0
    and at least 4 rows hold FC_UNROLL_MIN_MACS MACs in the asm loop, else 1."""
    macs = {}
    for m in _FC_STRUCT.finditer(c_text):
        f = {k: v.strip() for k, v in _FIELD.findall(m.group(2))}
        if f.get("w16", "NULL") == "NULL" or f.get("rq", "NULL") == "NULL":
            continue
        k, rows, b = int(f["in_depth"]), int(f["out_depth"]) & ~3, int(f["batches"])
        if k % 4 == 0:
            macs[m.group(1)] = b * k * rows
    return 2 if sum(macs.values()) >= FC_UNROLL_MIN_MACS else 1


def config_header(sizes: ScratchSizes, prefix: str) -> str:
    """The generated edgeq_runtime/include/edgeq_config.h."""
    h = [f"/* Generated by edgeq codegen for the model in {prefix}.c; do not edit. The runtime's stack scratch sized",
         f" * for this model ({prefix}): per macro the most any of its layers uses with the default size, so the",
         " * kernels take the same paths as with the defaults on less stack (edgeq/codegen/scratch.py).",
         " * One runtime serving several models must be compiled with the largest size of each macro over them,",
         " * or with the defaults (the runtime's own edgeq_config.h, or delete this file's defines): a model whose",
         " * layers need more than its runtime was compiled with runs slower paths (still bit-exact) and, for",
         " * CONV_2D on Cortex-M4/M7/M33, needs EDGEQ_CONV_SCRATCH_BYTES at least as large as here. */",
         "#ifndef EDGEQ_CONFIG_H", "#define EDGEQ_CONFIG_H", ""]
    if sizes.packed:
        h.append("/* packed-weight ops: the runtime's defaults */")
    conv = ("EDGEQ_CONV_SCRATCH_BYTES", "EDGEQ_IM2COL_BYTES")
    h.append(f"#if {W16_CONDITION} /* DSP builds (EDGEQ_CONV_W16) */")
    for k in conv:
        h.append(f"#ifndef {k}\n#define {k} {sizes.dsp[k]}\n#endif")
    need = sizes.need_dsp.get("EDGEQ_CONV_SCRATCH_BYTES", 0)
    if need:  # CONV_2D layers with int16 weights only (no int8 filter to fall back on) need their path's scratch
        h.append(f"#if EDGEQ_CONV_SCRATCH_BYTES < {need}\n#error \"EDGEQ_CONV_SCRATCH_BYTES is below the {need} bytes "
                 f"this model's CONV_2D layers with int16 weights need: remove the -D override or set it to at least "
                 f"{need}\"\n#endif")
    h += _paths(sizes.paths_dsp)
    h.append("#else")
    for k in conv:
        h.append(f"#ifndef {k}\n#define {k} {sizes.other[k]}\n#endif")
    h += _paths(sizes.paths_other)
    h.append("#endif")
    for k in DEFAULTS:
        if k not in conv:
            h.append(f"#ifndef {k}\n#define {k} {sizes.dsp[k]}\n#endif")
    if sizes.fc_unroll > 1:
        h.append(f"/* FULLY_CONNECTED-heavy model: the DSP loop unrolled (edgeq_fc.c) */\n#ifndef EDGEQ_FC_UNROLL\n"
                 f"#define EDGEQ_FC_UNROLL {sizes.fc_unroll}\n#endif")
    if not sizes.dw_small:
        h.append("/* no DEPTHWISE_CONV_2D takes the small-map path (edgeq_dwconv.c eq_dw_small): compiled out */\n"
                 "#ifndef EDGEQ_DW_SMALL\n#define EDGEQ_DW_SMALL 0\n#endif")
    if sizes.dw_relu_only:
        h.append("/* every 3x3 DEPTHWISE_CONV_2D the DSP assembly takes is ReLU-like: the short requantization "
                 "(edgeq_dwconv.c) */\n#ifndef EDGEQ_DW_RELU_ONLY\n#define EDGEQ_DW_RELU_ONLY 1\n#endif")
    h += ["", "#endif /* EDGEQ_CONFIG_H */", ""]
    return "\n".join(h)


def _paths(taken: frozenset | None) -> list[str]:
    """The CONV_2D path switches of a config: 1 for the paths taken (all where None: the defaults)."""
    if taken is None:
        return []
    return ["/* CONV_2D paths (edgeq_conv.c): 0 where no layer of this model takes one */"] + [
        f"#ifndef {k}\n#define {k} {int(k in taken)}\n#endif" for k in CONV_PATHS]


def default_header() -> str:
    """The runtime's own edgeq_config.h (the defaults), as shipped in edgeq/runtime/include."""
    return config_header(ScratchSizes(dict(DEFAULTS), dict(DEFAULTS), True), "")
