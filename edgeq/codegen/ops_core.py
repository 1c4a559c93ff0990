"""Emitters for the core int8 ops (conv, depthwise, FC, pools, add/mul, mean, pad, concat, reshape, (de)quant,
relu) into calls of the edgeq_core.h kernels.

All quantization arithmetic that TFLM does in Prepare() happens here, on the host, with the same formulas
and the same float/double rounding points, so the device only runs the integer Eval() part. Where TFLM and
TFLite (LiteRT) differ, TFLM wins: it is the oracle the generated code is tested against (e.g. int8 MEAN:
the TFLM we test against always requantizes, also when input and output quantization are equal).

Beyond what TFLM precomputes, the emitters fold what the kernels would otherwise redo per inference, always
in exact integer arithmetic so the bytes do not change: bias + in_offset * sum(weights) per output channel
(`bias_eff`, turns the inner loop into a plain int8 dot product), for large ADDs the per-input
rescaling of all 256 int8 values as tables, the short requantization constants (`rq`, emitted only where a
bound on every possible accumulator proves it equal to MultiplyByQuantizedMultiplier) and, for depthwise
convolutions, the weights already sign-extended to int16 pairs in the order the DSP kernel consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.codegen.emit import EmitContext, format_values, register, round_half_away, weight_key
from edgeq.codegen.scratch import conv_first_ok, dw_small_ok
from edgeq.graph import Operator, Tensor

MAX_DIMS = 6
# ADD rescales each input with a full MultiplyByQuantizedMultiplier per element; from this size on the two
# 256-entry tables (2 KiB of flash) are cheaper than the multiplies they replace.
ADD_LUT_MIN_ELEMENTS = 512
# Emit `rq` (short exact requantization, see eq_rq_fast in edgeq_core.c) where its preconditions hold; tests turn
# it off to cover the general MultiplyByQuantizedMultiplier path.
FAST_REQUANT = True
# CONV_2D windows of up to this many bytes (rounded up to words) take the DSP path's int16 kernel, whose stack
# scratch holds two of them sign-extended: EDGEQ_X16_WORDS in edgeq_conv.h (a test keeps the two equal).
CONV_X16_WORDS = 320
# |x + in_offset| <= 255 for int8 x and an int8 zero point.
_MAX_ABS_INPUT = 256


def mbqm(x: int, mult: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier in Python integers (same result as edgeq_mbqm in C)."""
    left, right = max(shift, 0), max(-shift, 0)
    a = ((x << left) + 2**31) % 2**32 - 2**31
    if a == mult == -(2**31):
        hi = 2**31 - 1
    else:
        hi = (a * mult + (1 << 30)) >> 31  # == gemmlowp's truncating division with its +-2^30 nudge
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> right) + (1 if (hi & mask) > threshold else 0)


# ------------------------------------------------------------------------------------------- helpers


def _qparams(ctx: EmitContext, t: Tensor) -> tuple[float, int]:
    if t.quant is None or not t.quant.scale:
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) has no quantization parameters",
                 hint="convert with `edgeq convert --mode int8` (full-integer quantization)")
    if t.quant.per_channel:
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) is per-channel quantized; only weights may be")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _need_dtype(ctx: EmitContext, t: Tensor, *dtypes: str) -> None:
    if t.dtype not in dtypes:
        ctx.fail(f"tensor #{t.index} ({ctx.comment(t.name)}) is {t.dtype}, expected {' or '.join(dtypes)}",
                 hint="convert with `edgeq convert --mode int8` (int8 activations, int8 weights, int32 bias)")


def _const(ctx: EmitContext, t: Tensor, what: str) -> np.ndarray:
    if not t.is_constant:
        ctx.fail(f"{what} tensor #{t.index} ({ctx.comment(t.name)}) must be constant")
    return t.array()


def _optional_input(op: Operator, k: int) -> int:
    return op.inputs[k] if len(op.inputs) > k and op.inputs[k] >= 0 else -1


def _channel_requant(ctx: EmitContext, tin: Tensor, tw: Tensor, tout: Tensor, channels: int,
                     axis: int) -> tuple[int, list[int], list[int]]:
    """Per-channel (or per-tensor) output multipliers exactly as TFLM's Prepare computes them:
    double(input_scale) * double(filter_scale) / double(output_scale) -> QuantizeMultiplier."""
    in_scale, _ = _qparams(ctx, tin)
    out_scale, _ = _qparams(ctx, tout)
    if tw.quant is None or not tw.quant.scale:
        ctx.fail(f"weights tensor #{tw.index} has no quantization parameters",
                 hint="convert with `edgeq convert --mode int8`")
    scales = tw.quant.scale
    if any(z != 0 for z in tw.quant.zero_point):
        ctx.fail(f"weights tensor #{tw.index} is not symmetrically quantized (zero point != 0)")
    per_channel = len(scales) > 1
    if per_channel and (len(scales) != channels or tw.quant.axis != axis):
        ctx.fail(f"weights tensor #{tw.index}: {len(scales)} scales along axis {tw.quant.axis}, "
                 f"expected {channels} along axis {axis}")
    mults, shifts = [], []
    for s in scales:
        m, sh = ctx.quant_multiplier(float(in_scale) * float(s) / float(out_scale))
        mults.append(m)
        shifts.append(sh)
    return 1 if per_channel else 0, mults, shifts


def _mult_shift_arrays(ctx: EmitContext, rq: str, mults: list[int], shifts: list[int]) -> tuple[str, str]:
    """The general requantization's arrays; not emitted when `rq` replaces them (the kernels read them only
    without rq)."""
    if rq != "NULL":
        return "NULL", "NULL"
    return ctx.const_array("mult", "int32_t", mults), ctx.const_array("shift", "int32_t", shifts)


def _fast_requant(ctx: EmitContext, mult: list[int], shift: list[int], w: np.ndarray, bias: np.ndarray | None,
                  channels: int, depthwise: bool) -> str:
    """`rq` = {mult, 2^(e-1), e} per output channel when every channel has a right shift e >= 1 and a non-negative
    multiplier and every possible accumulator has |acc| < 2^30 (|bias| + 256 * sum|w|); "NULL" otherwise."""
    if not FAST_REQUANT:
        return "NULL"
    if len(mult) == 1:
        mult, shift = mult * channels, shift * channels
    if any(m < 0 or not -31 <= sh <= -1 for m, sh in zip(mult, shift)):
        return "NULL"
    wa = np.abs(w.astype(np.int64))
    wsum = wa.reshape(-1, channels).sum(axis=0) if depthwise else wa.reshape(channels, -1).sum(axis=1)
    b = np.zeros(channels, np.int64) if bias is None else np.abs(bias.astype(np.int64).reshape(-1))
    if int((b + _MAX_ABS_INPUT * wsum).max(initial=0)) >= 2**30:
        return "NULL"
    vals = []
    for m, sh in zip(mult, shift):
        vals += [m, 1 << (-sh - 1), -sh]
    return ctx.const_array("rq", "int32_t", vals)


def _conv_rq(ctx: EmitContext, mult: list[int], shift: list[int], w: np.ndarray, bias: np.ndarray | None,
             channels: int, out_zp: int) -> str:
    """CONV_2D's `rq` = {mult, 2^(e-1) + (out_zp << e), e} per output channel (edgeq_conv.h): the short
    requantization of _fast_requant with the output zero point folded into the rounding constant (adding
    out_zp * 2^e before the shift adds exactly out_zp after it), where every channel's constant plus its largest
    high product |acc| * mult / 2^31 (+ rounding) still fits int32; "NULL" otherwise (general path)."""
    vals = _conv_rq_values(mult, shift, w, bias, channels, out_zp)
    return "NULL" if vals is None else ctx.const_array("rq", "int32_t", vals)


def _conv_rq_values(mult: list[int], shift: list[int], w: np.ndarray, bias: np.ndarray | None, channels: int,
                    out_zp: int) -> list[int] | None:
    """_conv_rq's values ([out_c][3]), None where the general path is needed."""
    if not FAST_REQUANT:
        return None
    if len(mult) == 1:
        mult, shift = mult * channels, shift * channels
    if any(m < 0 or not -31 <= sh <= -1 for m, sh in zip(mult, shift)):
        return None
    wsum = np.abs(w.astype(np.int64)).reshape(channels, -1).sum(axis=1)
    b = np.zeros(channels, np.int64) if bias is None else np.abs(bias.astype(np.int64).reshape(-1))
    bound = (b + _MAX_ABS_INPUT * wsum).tolist()
    if max(bound, default=0) >= 2**30:
        return None
    vals = []
    for m, sh, acc_max in zip(mult, shift, bound):
        e = -sh
        c = (1 << (e - 1)) + (out_zp << e)
        if abs(c) + 2 + (int(acc_max) * m >> 31) >= 2**31:
            return None
        vals += [m, c, e]
    return vals


def _conv1x1_stream(w: np.ndarray, shape: dict, rq: list[int] | None, bias_eff: list[int], lo: int, hi: int,
                    out_zp: int) -> list[int] | None:
    """The DSP w16 of a ReLU-like 1x1 layer (edgeq_conv1x1.c's stream, marked by bias_eff NULL in the w16 params:
    short rq, output zero point -128 = act_min, act_max 127, even out_c, in_c a multiple of 4 from 8 to
    CONV_X16_WORDS, at least 3 pixels) or windows layer (edgeq_conv.c's 3-pixel block: K rounded up to words from 24
    to CONV_X16_WORDS; its 1 or 2 last pixels run the last three again): per channel pair the doubled bias_eff of
    both channels, the pair's int16 weights doubled (the w16 layout; |2w| <= 256) and both channels' {m, c, e} (the e
    words with the pair loop's state above bit 7: the pair's output offset, the last pair's mark); None for other
    layers. Doubled: the kernel's sums are 2 acc, what SMMLAR takes (|acc| < 2^30 where rq exists), without
    a shift per output."""
    oc, c = shape["out_c"], shape["in_c"]
    one = shape["k_h"] == 1 and shape["k_w"] == 1 and not shape["pad_h"] and not shape["pad_w"]
    k4 = -(-shape["k_h"] * shape["k_w"] * c // 4) * 4
    if one and c % 4 == 0 and 8 <= c <= CONV_X16_WORDS:
        pass  # edgeq_conv1x1.c's eq_conv1x1_x16_3
    elif one and c % 4 == 0 and c > CONV_X16_WORDS or not 24 <= k4 <= CONV_X16_WORDS:
        return None  # (the chunked path, or the windows path's 2 x 2 block: EQ_W16_THREE_MIN 24, edgeq_conv.h)
    if (rq is None or out_zp != -128 or lo != -128 or hi != 127 or oc % 2
            or shape["batches"] * shape["out_h"] * shape["out_w"] < 3):
        return None
    words = _conv_w16(2 * w.reshape(oc, -1).astype(np.int64), 2)
    per = len(words) // (oc // 2)
    out = []
    for i in range(oc // 2):
        r = rq[6 * i:6 * i + 6]
        # the pair loop's state in the e words' bits above 0-7 (ASR reads those only; e <= 31): channel 1's bits 8-30
        # the pair's output offset 2 i, the last pair's channel 0 bit 31 (_conv_w16_variants masks them off again)
        r[5] |= 2 * i << 8
        if i == oc // 2 - 1:
            r[2] -= 2**31
        out += [2 * bias_eff[2 * i], 2 * bias_eff[2 * i + 1]] + words[i * per:(i + 1) * per] + r
    return out


def _conv_first_stream(w: np.ndarray, stream: list[int], bias: np.ndarray | None, out_c: int) -> list[int]:
    """The w16 of a ReLU-like layer eq_conv_first runs (conv_first_ok): its pixels are x + in_offset as int16 (taps
    outside the image zeros), so the bias is the plain one. Per channel pair {2 bias0, 2 bias1}, 15 steps {w0, w1}
    (step s: kernel row s // 5, halfwords 2 (s % 5), 2 (s % 5) + 1 of that row's 9 taps (kx, channel) and a zero
    10th, weights doubled), then the pair's {m, c, e} x 2 from the windows stream (its loop state in the e words) with
    out_c in bits 8-22 of channel 0's e; all pairs twice: the second time with the kernel rows reversed (odd output
    rows). _conv_w16_variants reads the rq words of the first set."""
    oc = w.shape[0]
    taps = np.zeros((oc + oc % 2, 3, 10), np.int64)
    taps[:oc, :, :9] = 2 * w.reshape(oc, 3, 9).astype(np.int64)
    b = np.zeros(oc, np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    per, out = len(stream) // (oc // 2), []
    for rows in ((0, 1, 2), (2, 1, 0)):  # the second set for odd output rows (the ring upside down)
        for i in range(oc // 2):
            words = []
            for s in range(15):
                r, j = divmod(s, 5)
                for ch in (2 * i, 2 * i + 1):
                    t = taps[ch, rows[r]]
                    words.append(int((t[2 * j] & 0xFFFF) | ((t[2 * j + 1] & 0xFFFF) << 16)))
            rq = list(stream[(i + 1) * per - 6:(i + 1) * per])
            rq[2] |= out_c << 8
            out += [2 * int(b[2 * i]), 2 * int(b[2 * i + 1])] + words + rq
    return [(v + 2**31) % 2**32 - 2**31 for v in out]


def _dw_rq(ctx: EmitContext, mult: list[int], shift: list[int], w: np.ndarray, bias: np.ndarray | None,
           channels: int, out_zp: int) -> str:
    """DEPTHWISE_CONV_2D's `rq`: {mult, 2^(e-1) + (out_zp << e), e} per channel (the output zero point folded in as
    _conv_rq does: one add less per output in the M4 kernels) where _fast_requant's preconditions hold and every
    channel's constant plus its largest high product still fits int32; otherwise _fast_requant's unfolded
    {mult, 2^(e-1), e} (or "NULL"). The runtime tells the two apart by the first triple (eq_rq_zp in edgeq_dsp.h);
    Helium's kernels read only mult and e."""
    if not FAST_REQUANT or out_zp == 0:
        return _fast_requant(ctx, mult, shift, w, bias, channels, True)
    ms = (mult * channels, shift * channels) if len(mult) == 1 else (mult, shift)
    if any(m < 0 or not -31 <= sh <= -1 for m, sh in zip(*ms)):
        return "NULL"
    wsum = np.abs(w.astype(np.int64)).reshape(-1, channels).sum(axis=0)
    b = np.zeros(channels, np.int64) if bias is None else np.abs(bias.astype(np.int64).reshape(-1))
    bound = (b + _MAX_ABS_INPUT * wsum).tolist()
    if max(bound, default=0) >= 2**30:
        return "NULL"
    vals = []
    for m, sh, acc_max in zip(*ms, bound):
        e = -sh
        c = (1 << (e - 1)) + (out_zp << e)
        if abs(c) + 2 + (int(acc_max) * m >> 31) >= 2**31:
            return _fast_requant(ctx, mult, shift, w, bias, channels, True)
        vals += [m, c, e]
    return ctx.const_array("rq", "int32_t", vals)


def _dw_weights(ctx: EmitContext, w: np.ndarray, channels: int) -> str:
    """Depthwise (depth multiplier 1) weights for the DSP kernel: per group of 4 channels, per tap, the int16 pairs
    {w[c], w[c+2]} and {w[c+1], w[c+3]} as two words (low halfword first), i.e. SXTB16 done at generation time."""
    groups = channels // 4
    if groups == 0:
        return "NULL"
    taps = w.reshape(-1, channels).astype(np.int64)[:, : groups * 4]          # [tap][c]
    t = taps.reshape(taps.shape[0], groups, 4).transpose(1, 0, 2)             # [g][tap][4]
    lo = np.stack([t[..., 0], t[..., 1]], axis=-1) & 0xFFFF
    hi = np.stack([t[..., 2], t[..., 3]], axis=-1) & 0xFFFF
    words = (lo | (hi << 16)).reshape(-1)
    words = ((words + 2**31) % 2**32 - 2**31).tolist()
    return ctx.const_array("dw_w", "int32_t", words)


def _dw_small_blocks(ctx: EmitContext, w: np.ndarray, bias: np.ndarray | None, rq: str, g: dict) -> str:
    """`dwp` of a 3x3 DEPTHWISE_CONV_2D (depth multiplier 1) that edgeq_dwconv.c's eq_dw_small takes (its shape
    conditions, scratch.py _dsp_small): per channel the 10-word block its assembly reads in place (EQ_DWP_WK, built at
    run time by eq_dwp_weights for the other planar paths): per row of the window the doubled int16 pair (w0, w1) and
    (w2, output step in_c), the doubled bias, the channel's rq {m, h, e}. 40 bytes of flash a channel, in the DSP
    builds only (NULL in the others: M0+'s flash); "NULL" for any other layer."""
    C = g["in_c"]
    if rq == "NULL" or not dw_small_ok(g):
        return "NULL"
    rqv = ctx.const_values(rq)
    if rqv is None:
        return "NULL"
    k = w.reshape(3, 3, C).astype(np.int64) * 2                                   # [ky][kx][c], doubled
    b = np.zeros(C, np.int64) if bias is None else bias.astype(np.int64).reshape(-1) * 2
    blk = np.zeros((C, 10), np.int64)
    blk[:, 0:6:2] = (k[:, 0, :].T & 0xFFFF) | ((k[:, 1, :].T & 0xFFFF) << 16)     # rows ky: (w0, w1)
    blk[:, 1:6:2] = (k[:, 2, :].T & 0xFFFF) | (C << 16)                           # (w2, the output step)
    blk[:, 6] = b & 0xFFFFFFFF
    blk[:, 7:10] = np.array(rqv, np.int64).reshape(C, 3) & 0xFFFFFFFF
    words = ((blk.reshape(-1) + 2**31) % 2**32 - 2**31).tolist()
    name = ctx.unique_name("dwp")  # only the DSP builds' flash holds it (edgeq_core.h EDGEQ_DW_BLOCKS)
    ctx.raw_definition(f"#ifdef EDGEQ_DW_BLOCKS\nstatic const int32_t {name}[{len(words)}] EDGEQ_ALIGNED(4) = {{\n"
                       f"{format_values('int32_t', words)}\n}};\n#else\n#define {name} NULL\n#endif")
    return name


def _conv_w16(w: np.ndarray, block: int = 2) -> list[int]:
    """CONV_2D weights [out_c][K] for the DSP kernel: K padded with zeros to whole words, out_c to a multiple of
    `block` (2: windows of up to CONV_X16_WORDS bytes, 2 pixels x 2 channels; 4: larger ones, 1 pixel x 4
    channels); per block of channels and group of 4 taps, for each channel the words {w[k], w[k+2]},
    {w[k+1], w[k+3]} (low halfword first), i.e. what SXTB16 / SXTB16 ROR #8 make of the int8 weights, meeting the
    input words the kernel extends the same way."""
    oc, k = w.shape
    wp = np.zeros((-(-oc // block) * block, -(-k // 4) * 4), np.int64)
    wp[:oc, :k] = w
    g = wp.reshape(wp.shape[0] // block, block, -1, 4)              # [block][channel][group][4]
    even = (g[..., 0] & 0xFFFF) | ((g[..., 2] & 0xFFFF) << 16)
    odd = (g[..., 1] & 0xFFFF) | ((g[..., 3] & 0xFFFF) << 16)
    words = np.stack([v for ch in range(block) for v in (even[:, ch], odd[:, ch])], axis=-1)  # [block][group][..]
    return ((words.reshape(-1) + 2**31) % 2**32 - 2**31).tolist()


def _conv_w16_block(kh: int, kw: int, c: int) -> int:
    """Channel block of the DSP kernel's int16 weight layout for a CONV_2D window (0: the window keeps int8
    weights): 2 (channel pairs) for windows up to the scratch, and for those up to twice that with in_c a multiple
    of 4 (edgeq_conv.c runs them in chunks of K on the same 3 pixels x 2 channels block)."""
    k4 = -(-kh * kw * c // 4) * 4
    if k4 <= CONV_X16_WORDS or (k4 <= 2 * CONV_X16_WORDS and c % 4 == 0):
        return 2
    return 0


def conv_w16_extra_bytes(sg, op: Operator) -> int:
    """Flash a DSP build spends on this CONV_2D's int16 weights beyond the int8 ones (0 if it keeps int8): what
    the flash budget (codegen.render) saves by keeping the op on the int8 kernel."""
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return 0
    w = sg.tensors[op.inputs[1]]
    if not w.is_constant or w.dtype != "int8" or len(w.shape) != 4:
        return 0
    oc, kh, kw, c = (int(d) for d in w.shape)
    g = graph_conv_shape(sg, op)
    if g is not None and conv_first_ok(g):  # _conv_first_stream: per pair 2 bias + 30 weight + 6 rq words, twice
        return 2 * 4 * 38 * -(-oc // 2) - oc * kh * kw * c
    block = _conv_w16_block(kh, kw, c)
    if not block:
        return 0
    return 2 * (-(-oc // block) * block) * (-(-kh * kw * c // 4) * 4) - oc * kh * kw * c


def dw_blocks_bytes(sg, op: Operator) -> int:
    """Flash of a DEPTHWISE_CONV_2D's generated channel blocks (_dw_small_blocks: 40 bytes a channel, DSP builds
    only) where its shape takes eq_dw_small; 0 otherwise."""
    g = graph_conv_shape(sg, op)
    return 40 * g["in_c"] if g is not None and g["out_c"] == g["in_c"] and dw_small_ok(g) else 0


def graph_conv_shape(sg, op: Operator) -> dict | None:
    """conv_geometry's shape dict from the graph alone (for the flash estimates, before generating); None when the
    tensors are not 4-D."""
    try:
        n, h, wd, c = (int(d) for d in sg.tensors[op.inputs[0]].shape)
        _, oh, ow, oc = (int(d) for d in sg.tensors[op.outputs[0]].shape)
        ws = sg.tensors[op.inputs[1]].shape
        kh, kw = int(ws[1]), int(ws[2])
    except (ValueError, IndexError, TypeError):
        return None
    return _conv_shape(op, (n, h, wd, c), (oh, ow, oc), kh, kw)


def _conv_shape(op: Operator, nhwc: tuple[int, ...], out: tuple[int, ...], kh: int, kw: int) -> dict:
    """The kernels' shape fields of a CONV_2D / DEPTHWISE_CONV_2D (TFLM's SAME padding from the shapes)."""
    (n, h, wd, c), (oh, ow, oc), o = nhwc, out, op.options
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_h_factor", 1) or 1), int(o.get("dilation_w_factor", 1) or 1)
    return dict(batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw, stride_h=sh,
                stride_w=sw, dil_h=dh, dil_w=dw, pad_h=_same_pad(h, kh, sh, dh, oh),
                pad_w=_same_pad(wd, kw, sw, dw, ow))


def _conv_w16_variants(ctx: EmitContext, w: np.ndarray, fields: dict, block: int,
                       vals16: list[int] | None = None, bias_eff: list[int] | None = None, first: bool = False) -> str:
    """The parameter struct twice, under `#ifdef EDGEQ_CONV_W16` (edgeq_conv.h: the DSP path, weights pre-extended
    to int16 pairs, twice the flash, no SXTB16 in the inner loop) and `#else` (the int8 weights, for the Helium and
    plain C paths): only one of them is compiled, so the flash holds one copy of the weights."""
    name = ctx.unique_name("params")
    w16, w8 = ctx.unique_name("w16"), ctx.unique_name("filter")
    vals16, vals8 = _conv_w16(w, block) if vals16 is None else vals16, w.reshape(-1).tolist()
    be, fields8 = "", fields
    if fields["bias_eff"] == "NULL":  # a 1x1 stream (_conv1x1_stream): the int8 variant's bias_eff and rq here
        be_name, rq_name = ctx.unique_name("bias_eff"), ctx.unique_name("rq")
        pairs, n16 = len(bias_eff) // 2, len(vals16) // (2 if first else 1)  # (eq_conv_first: its first set)
        rq = [v for i in range(pairs) for v in vals16[(i + 1) * n16 // pairs - 6:(i + 1) * n16 // pairs]]
        rq = [v & 0xFF if k % 3 == 2 else v for k, v in enumerate(rq)]  # (e without the stream's loop state)
        be = (f"static const int32_t {be_name}[{len(bias_eff)}] = {{\n{format_values('int32_t', bias_eff)}\n}};\n"
              f"static const int32_t {rq_name}[{len(rq)}] = {{\n{format_values('int32_t', rq)}\n}};\n")
        fields8 = dict(fields, bias_eff=be_name, rq=rq_name)
        fields = dict(fields, rq=w16)  # (non-NULL: the short requantization, read from the stream)
    # (eq_conv_first's layout has no other reader: a config that compiles that path out stops the build here)
    need = ("#if defined(EDGEQ_CONV_PATH_FIRST) && !EDGEQ_CONV_PATH_FIRST\n"
            f"#error \"{name}: int16 weights laid out for edgeq_conv.c eq_conv_first: set EDGEQ_CONV_PATH_FIRST to 1 "
            "(edgeq_config.h) or regenerate the model\"\n#endif\n") if first else ""
    ctx.raw_definition(
        "#ifdef EDGEQ_CONV_W16\n" + need +
        f"static const int32_t {w16}[{len(vals16)}] EDGEQ_ALIGNED(4) = {{\n{format_values('int32_t', vals16)}\n}};\n"
        f"static const edgeq_conv2d_params {name} = {{\n{_fields(**fields, filter='NULL', w16=w16)}\n}};\n"
        "#else\n" + be +
        f"static const int8_t {w8}[{len(vals8)}] EDGEQ_ALIGNED(4) = {{\n{format_values('int8_t', vals8)}\n}};\n"
        f"static const edgeq_conv2d_params {name} = {{\n{_fields(**fields8, filter=w8, w16='NULL')}\n}};\n"
        "#endif")
    return f"&{name}"


def _bias_eff(ctx: EmitContext, op: Operator, w: np.ndarray, in_zp: int, channels: int,
              depthwise: bool) -> list[int]:
    """bias + in_offset * sum(weights of the channel), wrapped to int32 like the device's accumulator: lets
    the kernels run a plain int8 dot product for windows that lie fully inside the input."""
    per_channel = w.reshape(-1, channels).sum(axis=0) if depthwise else w.reshape(channels, -1).sum(axis=1)
    bias_i = _optional_input(op, 2)
    bias = ctx.tensor(bias_i).array().reshape(-1).astype(np.int64) if bias_i >= 0 else np.zeros(channels, np.int64)
    v = bias + (-int(in_zp)) * per_channel.astype(np.int64)
    return [int((x + 2**31) % 2**32 - 2**31) for x in v.tolist()]


def _same_pad(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLM ComputePaddingHeightWidth: the smaller half of the total padding goes before."""
    eff = (k - 1) * dilation + 1
    total = (out_size - 1) * stride + eff - in_size
    return max(total, 0) // 2


def _nhwc(ctx: EmitContext, t: Tensor, what: str) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        ctx.fail(f"{what} tensor #{t.index} has rank {len(t.shape)}, expected 4 (NHWC)")
    n, h, w, c = t.shape
    return int(n), int(h), int(w), int(c)


def _fields(**kw) -> str:
    return "\n".join(f"    .{k} = {v}," for k, v in kw.items())


def _core(ctx: EmitContext) -> None:
    ctx.include("edgeq_core.h")


# ------------------------------------------------------------------------------------ conv / depthwise


@dataclass(frozen=True)
class ConvGeometry:
    """What CONV_2D and DEPTHWISE_CONV_2D emitters (int8 and packed-weight) read off the op, validated."""
    tin: Tensor
    tw: Tensor
    tout: Tensor
    w: np.ndarray
    shape: dict  # the C parameter structs' shape fields (batches .. pad_w)
    c: int
    oc: int
    axis: int  # the filter's output-channel axis
    depth_mult: int


def conv_geometry(ctx: EmitContext, op: Operator, depthwise: bool, act_dtype: str = "int8") -> ConvGeometry:
    """act_dtype: the activations' type ("int16" for the int16x8 emitters); the filter is int8 either way."""
    tin, tw, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    for t in (tin, tout):
        _need_dtype(ctx, t, act_dtype)
    _need_dtype(ctx, tw, "int8")
    w = _const(ctx, tw, "filter")
    n, h, wd, c = _nhwc(ctx, tin, "input")
    _, oh, ow, oc = _nhwc(ctx, tout, "output")
    if len(tw.shape) != 4:
        ctx.fail(f"filter tensor #{tw.index} has rank {len(tw.shape)}, expected 4")
    if depthwise:
        _, kh, kw, wc = tw.shape
        if wc != oc or oc % c != 0:
            ctx.fail(f"depthwise filter has {wc} channels for {c} input / {oc} output channels")
        depth_mult, axis = oc // c, 3
    else:
        wc, kh, kw, ic = tw.shape
        if ic != c:
            ctx.fail(f"grouped convolution (filter depth {ic} != input depth {c}) is not supported",
                     hint="use groups=1 or a depthwise convolution")
        if wc != oc:
            ctx.fail(f"filter has {wc} output channels, output tensor {oc}")
        depth_mult, axis = 1, 0
    shape = _conv_shape(op, (n, h, wd, c), (oh, ow, oc), kh, kw)
    return ConvGeometry(tin, tw, tout, w, shape, c, oc, axis, depth_mult)


def _weights_shared(ctx: EmitContext, op: Operator) -> bool:
    """Whether another op has this op's weights (a layer applied twice, weight_key): their int16 copy is
    emitted once, so such a CONV_2D keeps the shared w16 layout instead of a stream, whose per-op biases and rq
    would make the copies differ (and the flash estimate count them once too few)."""
    sg = ctx.subgraph
    shape, key = sg.tensors[op.inputs[1]].shape, weight_key(sg, op)
    return any(o is not op and o.opcode == op.opcode and len(o.inputs) > 1 and o.inputs[1] >= 0
               and sg.tensors[o.inputs[1]].shape == shape and weight_key(sg, o) == key  # (values only on equal shapes)
               for o in sg.operators)


def _emit_conv_like(ctx: EmitContext, op: Operator, depthwise: bool) -> None:
    g = conv_geometry(ctx, op, depthwise)
    tin, tout, w, c, oc, axis, depth_mult = g.tin, g.tout, g.w, g.c, g.oc, g.axis, g.depth_mult
    tw, shape, o = g.tw, g.shape, op.options
    kh, kw = shape["k_h"], shape["k_w"]
    bias_i = _optional_input(op, 2)
    bias = "NULL"
    if bias_i >= 0:
        tb = ctx.tensor(bias_i)
        _need_dtype(ctx, tb, "int32")
        bias = ctx.const_array("bias", "int32_t", _const(ctx, tb, "bias").reshape(-1).tolist())
    per_channel, mults, shifts = _channel_requant(ctx, tin, tw, tout, oc, axis)
    _, in_zp = _qparams(ctx, tin)
    out_scale, out_zp = _qparams(ctx, tout)
    lo, hi = ctx.act_range(str(o["fused_activation_function"]), out_scale, out_zp)
    be_vals = _bias_eff(ctx, op, w, in_zp, oc, depthwise)
    w16_ok = not depthwise and _conv_w16_block(kh, kw, c) and op.index not in getattr(ctx, "conv_int8_ops", ())
    bias_arr = _const(ctx, ctx.tensor(bias_i), "bias") if bias_i >= 0 else None
    stream = _conv1x1_stream(w, shape, _conv_rq_values(mults, shifts, w, bias_arr, oc, out_zp), be_vals, lo, hi,
                             out_zp) if w16_ok and not _weights_shared(ctx, op) else None
    first = bool(stream) and conv_first_ok(shape)
    if first:  # edgeq_conv.c's eq_conv_first (its layout: same rq, plain bias)
        stream = _conv_first_stream(w, stream, bias_arr, oc)
    # (a 1x1 stream holds the biases itself: bias_eff only in the int8 variant, NULL marks the stream)
    bias_eff = "NULL" if stream else ctx.const_array("bias_eff", "int32_t", be_vals)
    if depthwise:
        rq = _dw_rq(ctx, mults, shifts, w, bias_arr, oc, out_zp)  # output zero point folded where it fits
    elif stream:  # a 1x1 stream holds rq too: the rq array only in the int8 variant (_conv_w16_variants)
        rq = "STREAM"
    else:  # CONV_2D: the output zero point folded into rq (edgeq_conv.h)
        rq = _conv_rq(ctx, mults, shifts, w, bias_arr, oc, out_zp)
    mult, shift = _mult_shift_arrays(ctx, rq, mults, shifts)
    dw_w = dwp = "NULL"
    if depthwise and depth_mult == 1:
        dw_w = _dw_weights(ctx, w, oc)
        dwp = _dw_small_blocks(ctx, w, bias_arr, rq, shape)
        if bias == "NULL":
            bias = ctx.const_array("bias", "int32_t", [0] * oc)  # the DSP depthwise kernel reads it unconditionally
    if not depthwise:  # CONV_2D: edgeq_conv.h, its own parameter struct
        ctx.include("edgeq_conv.h")
        fields = dict(**shape, in_offset=-in_zp, out_offset=out_zp, act_min=lo, act_max=hi,
                      per_channel=per_channel, bias=bias, bias_eff=bias_eff, mult=mult, shift=shift, rq=rq)
        if w16_ok:  # int8 where the flash budget says so
            params = _conv_w16_variants(ctx, w.reshape(oc, -1), fields, _conv_w16_block(kh, kw, c), stream, be_vals,
                                        first)
        else:
            filt = ctx.const_array("filter", "int8_t", w.reshape(-1).tolist())
            params = ctx.const_struct("params", "edgeq_conv2d_params", _fields(**fields, filter=filt, w16="NULL"))
        ctx.call(f"edgeq_conv2d({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")
        return
    filt = ctx.const_array("filter", "int8_t", w.reshape(-1).tolist())
    params = ctx.const_struct("params", "edgeq_conv_params", _fields(
        **shape, depth_mult=depth_mult, in_offset=-in_zp, out_offset=out_zp, act_min=lo, act_max=hi,
        per_channel=per_channel, filter=filt, bias=bias, bias_eff=bias_eff, mult=mult, shift=shift, rq=rq,
        dw_w=dw_w, dwp=dwp))
    _core(ctx)
    ctx.call(f"edgeq_depthwise_conv2d_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


@register("CONV_2D")
def emit_conv2d(ctx: EmitContext, op: Operator) -> None:
    _emit_conv_like(ctx, op, depthwise=False)


@register("DEPTHWISE_CONV_2D")
def emit_depthwise_conv2d(ctx: EmitContext, op: Operator) -> None:
    _emit_conv_like(ctx, op, depthwise=True)


# --------------------------------------------------------------------------------------- fully connected


def _fc_w16(w: np.ndarray) -> list[int]:
    """FULLY_CONNECTED weights [out][K] for the DSP kernel (edgeq_fc_params.w16): per group of 4 rows (zero rows
    past the end), per 4 input bytes k and row the words {w[k], w[k+2]}, {w[k+1], w[k+3]} (low halfword first),
    then per row the K & 3 last weights as int32."""
    out, k = w.shape
    k4 = k & ~3
    groups = -(-out // 4)
    wp = np.zeros((groups * 4, k), np.int64)
    wp[:out] = w
    g = wp[:, :k4].reshape(groups, 4, k4 // 4, 4).transpose(0, 2, 1, 3)      # [group][k/4][row][4]
    even = (g[..., 0] & 0xFFFF) | ((g[..., 2] & 0xFFFF) << 16)
    odd = (g[..., 1] & 0xFFFF) | ((g[..., 3] & 0xFFFF) << 16)
    main = np.stack([even, odd], axis=-1).reshape(groups, -1)                # [group][k/4 * row * 2]
    tail = wp[:, k4:].reshape(groups, -1)                                    # [group][row * (K & 3)]
    words = np.concatenate([main, tail], axis=1).reshape(-1)
    return ((words + 2**31) % 2**32 - 2**31).tolist()


def _fc_weight_variants(ctx: EmitContext, w: np.ndarray, fields: dict) -> str:
    """The FC parameter struct under `#ifdef EDGEQ_FC_W16` (edgeq_core.h: the DSP path, weights pre-extended to int16
    pairs, twice the flash, no SXTB16 on weights in the inner loop) and `#else` (int8 weights, for the Helium and
    plain C paths): only one is compiled, so the flash holds one copy of the weights."""
    name, w16, w8 = ctx.unique_name("params"), ctx.unique_name("w16"), ctx.unique_name("weights")
    vals16, vals8 = _fc_w16(w), w.reshape(-1).tolist()
    ctx.raw_definition(
        "#ifdef EDGEQ_FC_W16\n"
        f"static const int32_t {w16}[{len(vals16)}] EDGEQ_ALIGNED(4) = {{\n{format_values('int32_t', vals16)}\n}};\n"
        f"static const edgeq_fc_params {name} = {{\n{_fields(**fields, filter='NULL', w16=w16)}\n}};\n"
        "#else\n"
        f"static const int8_t {w8}[{len(vals8)}] EDGEQ_ALIGNED(4) = {{\n{format_values('int8_t', vals8)}\n}};\n"
        f"static const edgeq_fc_params {name} = {{\n{_fields(**fields, filter=w8, w16='NULL')}\n}};\n"
        "#endif")
    return f"&{name}"


@dataclass(frozen=True)
class FcGeometry:
    """What FULLY_CONNECTED emitters (int8, int16x8 and packed-weight) read off the op, validated."""
    tin: Tensor
    tw: Tensor
    tout: Tensor
    w: np.ndarray
    batches: int
    in_depth: int
    out_depth: int


def fc_geometry(ctx: EmitContext, op: Operator, act_dtype: str = "int8") -> FcGeometry:
    """act_dtype: the activations' type ("int16" for the int16x8 emitter); the weights are int8 either way."""
    tin, tw, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    for t in (tin, tout):
        _need_dtype(ctx, t, act_dtype)
    _need_dtype(ctx, tw, "int8")
    w = _const(ctx, tw, "weights")
    if len(tw.shape) != 2:
        ctx.fail(f"weights tensor #{tw.index} has rank {len(tw.shape)}, expected 2")
    out_depth, in_depth = (int(d) for d in tw.shape)
    if tin.num_elements % in_depth:
        ctx.fail(f"input has {tin.num_elements} elements, not a multiple of the weights depth {in_depth}")
    batches = tin.num_elements // in_depth
    if tout.num_elements != batches * out_depth:
        ctx.fail(f"output has {tout.num_elements} elements, expected {batches * out_depth}")
    return FcGeometry(tin, tw, tout, w, batches, in_depth, out_depth)


def fc_fields(ctx: EmitContext, op: Operator, g: FcGeometry) -> dict:
    """The int8 edgeq_fc_params fields but the weights' (filter, w16): the bias folded into bias_eff (no clipped
    windows in a fully connected layer, so the raw bias array is not emitted), the requantization constants."""
    bias_i = _optional_input(op, 2)
    bias_arr = None
    if bias_i >= 0:
        _need_dtype(ctx, ctx.tensor(bias_i), "int32")
        bias_arr = _const(ctx, ctx.tensor(bias_i), "bias")
    per_channel, mults, shifts = _channel_requant(ctx, g.tin, g.tw, g.tout, g.out_depth, 0)
    _, in_zp = _qparams(ctx, g.tin)
    out_scale, out_zp = _qparams(ctx, g.tout)
    lo, hi = ctx.act_range(str(op.options["fused_activation_function"]), out_scale, out_zp)
    bias_eff = ctx.const_array("bias_eff", "int32_t", _bias_eff(ctx, op, g.w, in_zp, g.out_depth, False))
    rq = _fast_requant(ctx, mults, shifts, g.w, bias_arr, g.out_depth, False)
    mult, shift = _mult_shift_arrays(ctx, rq, mults, shifts)
    return dict(batches=g.batches, in_depth=g.in_depth, out_depth=g.out_depth, in_offset=-in_zp,
                out_offset=out_zp, act_min=lo, act_max=hi, per_channel=per_channel, bias="NULL", bias_eff=bias_eff,
                mult=mult, shift=shift, rq=rq)


@register("FULLY_CONNECTED")
def emit_fully_connected(ctx: EmitContext, op: Operator) -> None:
    g = fc_geometry(ctx, op)
    fields = fc_fields(ctx, op, g)
    _core(ctx)
    params = _fc_weight_variants(ctx, g.w.reshape(g.out_depth, g.in_depth), fields)
    ctx.call(f"edgeq_fully_connected_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# -------------------------------------------------------------------------------------------- pooling


@register("AVERAGE_POOL_2D", "MAX_POOL_2D")
def emit_pool(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tin, "int8")
    _need_dtype(ctx, tout, "int8")
    n, h, w, c = _nhwc(ctx, tin, "input")
    _, oh, ow, oc = _nhwc(ctx, tout, "output")
    if _qparams(ctx, tin) != _qparams(ctx, tout):
        ctx.fail("input and output quantization differ; TFLM pools require them equal")
    o = op.options
    kh, kw = int(o["filter_height"]), int(o["filter_width"])
    sh, sw = int(o["stride_h"]), int(o["stride_w"])
    out_scale, out_zp = _qparams(ctx, tout)
    lo, hi = ctx.act_range(str(o["fused_activation_function"]), out_scale, out_zp)
    params = ctx.const_struct("params", "edgeq_pool_params", _fields(
        batches=n, in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow, k_h=kh, k_w=kw, stride_h=sh, stride_w=sw,
        pad_h=_same_pad(h, kh, sh, 1, oh), pad_w=_same_pad(w, kw, sw, 1, ow), act_min=lo, act_max=hi))
    _core(ctx)
    fn = "edgeq_avg_pool_s8" if op.opcode == "AVERAGE_POOL_2D" else "edgeq_max_pool_s8"
    ctx.call(f"{fn}({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# ------------------------------------------------------------------------------------------ add / mul


def _broadcast_strides(ctx: EmitContext, shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Element strides of `shape` viewed as the 6-D output shape; 0 along broadcast dimensions."""
    if len(shape) > MAX_DIMS or len(out) > MAX_DIMS:
        ctx.fail(f"rank > {MAX_DIMS} is not supported")
    s = [1] * (MAX_DIMS - len(shape)) + [int(d) for d in shape]
    o = [1] * (MAX_DIMS - len(out)) + [int(d) for d in out]
    strides, acc = [0] * MAX_DIMS, 1
    for d in range(MAX_DIMS - 1, -1, -1):
        if s[d] == o[d]:
            strides[d] = acc if s[d] > 1 else 0
        elif s[d] == 1:
            strides[d] = 0
        else:
            ctx.fail(f"shapes {shape} and {out} do not broadcast")
        acc *= s[d]
    return strides


def _c_list(vals) -> str:
    return "{" + ", ".join(str(int(v)) for v in vals) + "}"


def _add_out_rq(ctx: EmitContext, max_abs_sum: int, mult: int, shift: int, out_zp: int) -> str:
    """ADD's output requantization as {mult, 2^(e-1) + (out_zp << e), e} (eq_rq_fast with the zero point folded
    into its rounding constant: adding out_zp * 2^e before the shift adds exactly out_zp after it) when every sum
    of two table values keeps it exact: |sum| < 2^30 and the rounding constant plus the high product fit int32."""
    e = -shift
    if not FAST_REQUANT or mult < 0 or not 1 <= e <= 31 or max_abs_sum >= 2**30:
        return "NULL"
    c = (1 << (e - 1)) + (out_zp << e)
    if abs(c) + 2 + (max_abs_sum * mult >> 31) >= 2**31:
        return "NULL"
    return ctx.const_array("out_rq", "int32_t", [mult, c, e])


def _emit_binary(ctx: EmitContext, op: Operator, kind: str) -> None:
    t1, t2, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    for t in (t1, t2, tout):
        _need_dtype(ctx, t, "int8")
    s1, z1 = _qparams(ctx, t1)
    s2, z2 = _qparams(ctx, t2)
    so, zo = _qparams(ctx, tout)
    out_shape = tuple(int(d) for d in tout.shape)
    dims = [1] * (MAX_DIMS - len(out_shape)) + list(out_shape)
    st1 = _broadcast_strides(ctx, t1.shape, out_shape)
    st2 = _broadcast_strides(ctx, t2.shape, out_shape)
    lo, hi = ctx.act_range(str(op.options["fused_activation_function"]), so, zo)
    lut1 = lut2 = out_rq = "NULL"
    if kind == "add":
        # TFLM add: both inputs rescaled to twice the larger input scale with 20 bits of headroom.
        left_shift = 20
        twice_max = 2.0 * max(float(np.float32(s1)), float(np.float32(s2)))
        m1, sh1 = ctx.quant_multiplier(s1 / twice_max)
        m2, sh2 = ctx.quant_multiplier(s2 / twice_max)
        mo, sho = ctx.quant_multiplier(twice_max / ((1 << left_shift) * so))
        if tout.num_elements >= ADD_LUT_MIN_ELEMENTS:
            v1 = [mbqm((q - z1) << left_shift, m1, sh1) for q in range(-128, 128)]
            v2 = [mbqm((q - z2) << left_shift, m2, sh2) for q in range(-128, 128)]
            out_rq = _add_out_rq(ctx, max(map(abs, v1)) + max(map(abs, v2)), mo, sho, zo)
            if out_rq == "NULL":
                lut1 = ctx.const_array("in1_lut", "int32_t", v1)
                lut2 = ctx.const_array("in2_lut", "int32_t", v2)
            else:  # DSP builds (edgeq_core.h EDGEQ_ADD_LUT_X2): doubled, the 2s SMMLAR takes (|2s| < 2^31)
                lut1, lut2 = ctx.unique_name("in1_lut"), ctx.unique_name("in2_lut")
                arr = "static const int32_t {}[256] EDGEQ_ALIGNED(4) = {{\n{}\n}};\n"
                ctx.raw_definition(
                    "#ifdef EDGEQ_ADD_LUT_X2\n"
                    + arr.format(lut1, format_values("int32_t", [2 * v for v in v1]))
                    + arr.format(lut2, format_values("int32_t", [2 * v for v in v2]))
                    + "#else\n" + arr.format(lut1, format_values("int32_t", v1))
                    + arr.format(lut2, format_values("int32_t", v2)) + "#endif")
    else:
        left_shift, m1, sh1, m2, sh2 = 0, 0, 0, 0, 0
        mo, sho = ctx.quant_multiplier(s1 * s2 / so)
    params = ctx.const_struct("params", "edgeq_binary_params", _fields(
        dims=_c_list(dims), in1_strides=_c_list(st1), in2_strides=_c_list(st2),
        in1_offset=-z1, in2_offset=-z2, out_offset=zo, in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2,
        left_shift=left_shift, out_mult=mo, out_shift=sho, act_min=lo, act_max=hi, in1_lut=lut1, in2_lut=lut2,
        out_rq=out_rq))
    _core(ctx)
    ctx.call(f"edgeq_{kind}_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
             f"{ctx.ptr(op.outputs[0])})")


@register("ADD")
def emit_add(ctx: EmitContext, op: Operator) -> None:
    _emit_binary(ctx, op, "add")


@register("MUL")
def emit_mul(ctx: EmitContext, op: Operator) -> None:
    _emit_binary(ctx, op, "mul")


# ----------------------------------------------------------------------------------------------- mean


@register("MEAN")
def emit_mean(ctx: EmitContext, op: Operator) -> None:
    tin, tax, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tin, "int8")
    _need_dtype(ctx, tout, "int8")
    rank = len(tin.shape)
    if rank > MAX_DIMS:
        ctx.fail(f"rank {rank} > {MAX_DIMS}")
    axes = []
    for a in _const(ctx, tax, "axis").reshape(-1).tolist():
        a = int(a) + rank if int(a) < 0 else int(a)
        if not 0 <= a < rank:
            ctx.fail(f"axis {a} out of range for rank {rank}")
        if a not in axes:
            axes.append(a)
    shape = [int(d) for d in tin.shape]
    strides = [1] * rank
    for d in range(rank - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    kept = [d for d in range(rank) if d not in axes]
    red = sorted(axes)

    def pad6(dims: list[int], fill: int) -> list[int]:
        return [fill] * (MAX_DIMS - len(dims)) + dims

    count = int(np.prod([shape[d] for d in red])) if red else 1
    if count == 0:
        ctx.fail("MEAN over an empty axis")
    s_in, z_in = _qparams(ctx, tin)
    s_out, z_out = _qparams(ctx, tout)
    # TFLM QuantizedMeanOrSum: fold 1/count into the multiplier with a bounded pre-shift. The TFLM we test
    # against takes this path even when input and output quantization are equal (no plain sum/count path).
    mult, shift = ctx.quant_multiplier(s_in / s_out)
    pre = min(count.bit_length() - 1, 32, 31 + shift)
    mult = int((mult << pre) // count)
    shift -= pre
    params = ctx.const_struct("params", "edgeq_mean_params", _fields(
        out_dims=_c_list(pad6([shape[d] for d in kept], 1)),
        out_strides=_c_list(pad6([strides[d] for d in kept], 0)),
        red_dims=_c_list(pad6([shape[d] for d in red], 1)),
        red_strides=_c_list(pad6([strides[d] for d in red], 0)),
        count=count, in_zp=z_in, out_zp=z_out, mult=mult, shift=shift))
    _core(ctx)
    ctx.call(f"edgeq_mean_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# ------------------------------------------------------------------------------------------------ pad


@register("PAD", "PADV2")
def emit_pad(ctx: EmitContext, op: Operator) -> None:
    tin, tpad, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tin, "int8")
    _need_dtype(ctx, tout, "int8")
    rank = len(tin.shape)
    if rank > 4:
        ctx.fail(f"PAD of rank {rank} > 4 is not supported")
    pads = _const(ctx, tpad, "paddings").reshape(-1, 2).astype(np.int64)
    if pads.shape[0] != rank or (pads < 0).any():
        ctx.fail("paddings must be non-negative, one (before, after) pair per dimension")
    in_dims = [1] * (4 - rank) + [int(d) for d in tin.shape]
    before = [0] * (4 - rank) + [int(p) for p in pads[:, 0]]
    out_dims = [1] * (4 - len(tout.shape)) + [int(d) for d in tout.shape]
    cv = _optional_input(op, 2)
    if cv >= 0:
        pad_value = int(_const(ctx, ctx.tensor(cv), "constant_values").reshape(-1)[0])
    else:
        pad_value = _qparams(ctx, tout)[1]
    params = ctx.const_struct("params", "edgeq_pad_params", _fields(
        in_dims=_c_list(in_dims), out_dims=_c_list(out_dims), before=_c_list(before), pad_value=pad_value))
    _core(ctx)
    ctx.call(f"edgeq_pad_s8({params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])})")


# -------------------------------------------------------------------------------------- concatenation


@register("CONCATENATION")
def emit_concatenation(ctx: EmitContext, op: Operator) -> None:
    tout = ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tout, "int8")
    if str(op.options.get("fused_activation_function", "NONE")) != "NONE":
        ctx.fail("fused activation on CONCATENATION is not supported (TFLM rejects it too)")
    rank = len(tout.shape)
    axis = int(op.options["axis"])
    axis = axis + rank if axis < 0 else axis
    outer = int(np.prod(tout.shape[:axis])) if axis > 0 else 1
    ptrs, sizes = [], []
    for i in op.inputs:
        t = ctx.tensor(i)
        _need_dtype(ctx, t, "int8")
        # TFLM concatenates int8 bytes as they are (the converter equalizes scales beforehand).
        sizes.append(int(np.prod(t.shape[axis:])) if axis < len(t.shape) else 1)
        ptrs.append(ctx.ptr(i))
    if outer * sum(sizes) != tout.num_elements:
        ctx.fail("input shapes do not add up to the output shape")
    copy = ctx.const_array("copy_bytes", "int32_t", sizes)
    _core(ctx)
    n = len(ptrs)
    ctx.call(f"{{ const int8_t *const ins[{n}] = {{{', '.join(ptrs)}}}; "
             f"edgeq_concat({n}, ins, {copy}, {outer}, {ctx.ptr(op.outputs[0])}); }}")


# ---------------------------------------------------------------------------------- reshape and views


def reshape_view(ctx: EmitContext, op: Operator) -> bool:
    """RESHAPE / SQUEEZE / EXPAND_DIMS (int8 and int16 emitters): the tensors validated (same size and type; int8:
    same quantization); True, with a comment as the op's code, when the planner made the output a view of the
    input's bytes (nothing to copy)."""
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if tin.size_bytes != tout.size_bytes or tin.dtype != tout.dtype:
        ctx.fail("input and output differ in size or type")
    if tin.dtype == "int8" and _qparams(ctx, tin) != _qparams(ctx, tout):
        ctx.fail("input and output quantization differ")
    a, b = ctx.arena_offset(op.inputs[0]), ctx.arena_offset(op.outputs[0])
    if a is not None and a == b:
        ctx.call("/* view: output shares the input's bytes, nothing to do */")
        return True
    return False


@register("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def emit_reshape(ctx: EmitContext, op: Operator) -> None:
    tout = ctx.tensor(op.outputs[0])
    if reshape_view(ctx, op):
        return
    _core(ctx)
    ctx.call(f"edgeq_copy({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tout.size_bytes})")


# ----------------------------------------------------------------------------------- quantize boundary


@register("QUANTIZE")
def emit_quantize(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tout, "int8")
    so, zo = _qparams(ctx, tout)
    n = tout.num_elements
    _core(ctx)
    if tin.dtype == "float32":
        ctx.call(f"edgeq_quantize_f32_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {n}, "
                 f"{_float(so)}, {zo})")
    elif tin.dtype == "int8":
        si, zi = _qparams(ctx, tin)
        m, sh = ctx.quant_multiplier(si / so)
        ctx.call(f"edgeq_requantize_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {n}, "
                 f"{zi}, {m}, {sh}, {zo}, -128, 127)")
    else:
        ctx.fail(f"QUANTIZE from {tin.dtype} is not supported (float32 or int8 input only)",
                 hint="convert with `edgeq convert --mode int8` and int8 or float32 model I/O")


@register("DEQUANTIZE")
def emit_dequantize(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tin, "int8")
    _need_dtype(ctx, tout, "float32")
    si, zi = _qparams(ctx, tin)
    _core(ctx)
    ctx.call(f"edgeq_dequantize_s8_f32({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, "
             f"{tout.num_elements}, {_float(si)}, {zi})")


def _float(v: float) -> str:
    from edgeq.codegen.emit import c_float

    return c_float(v)


# ------------------------------------------------------------------------------------------------ relu


def relu_params(ctx: EmitContext, op: Operator, qmin: int, qmax: int) -> tuple[int, int, int, int, int]:
    """RELU / RELU6 as TFLM computes them, for int8 and int16 tensors ([qmin, qmax]): (mult, shift, out zero point,
    lo, hi) of out = clamp(out_zp + mbqm(x - in_zp, mult, shift), lo, hi). RELU requantizes to the output
    (ReluQuantized; lo = output zero point + roundf(0 / scale)); RELU6 clamps in the input's quantization to
    [zero, six] without requantizing (mult 2^30, shift 1: mbqm is the identity; out zero point = in zero point)."""
    si, zi = _qparams(ctx, ctx.tensor(op.inputs[0]))
    if op.opcode == "RELU":
        so, zo = _qparams(ctx, ctx.tensor(op.outputs[0]))
        m, sh = ctx.quant_multiplier(si / so)
        return m, sh, zo, max(qmin, zo), qmax
    six = min(max(zi + round_half_away(float(np.float32(6.0) / np.float32(si))), qmin), qmax)
    return 1 << 30, 1, zi, zi, six


@register("RELU")
def emit_relu(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tin, "int8")
    _need_dtype(ctx, tout, "int8")
    _, zi = _qparams(ctx, tin)
    m, sh, zo, lo, hi = relu_params(ctx, op, -128, 127)
    _core(ctx)
    ctx.call(f"edgeq_requantize_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tout.num_elements}, "
             f"{zi}, {m}, {sh}, {zo}, {lo}, {hi})")


@register("RELU6")
def emit_relu6(ctx: EmitContext, op: Operator) -> None:
    tin, tout = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _need_dtype(ctx, tin, "int8")
    _need_dtype(ctx, tout, "int8")
    *_, zero, six = relu_params(ctx, op, -128, 127)
    _core(ctx)
    ctx.call(f"edgeq_clamp_s8({ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, {tout.num_elements}, "
             f"{zero}, {six})")
