# ruff: noqa: E501 - the embedded C driver keeps one statement group per line
"""The DSP paths of the int16x8 FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D kernels (edgeq_int16_dsp.c, issue #15) against the
portable kernels of edgeq_int16.c, which the int16x8 model tests prove bit-exact with TFLite Micro.

A C driver runs both kernels on seeded random shapes (1..1100 inputs, odd lengths, padding, strides, dilations,
per-tensor and per-channel requantization, with and without bias) and on extreme operands (all -128 weights times
all -32768 activations: the largest sums, which overflow 32 bits beyond 512 products; depthwise windows of 511
taps, the DSP path's exact-32-bit limit, and of 512 taps and depth_mult 2, which fall back to the portable loop); it is built once portable
and once with -DEDGEQ_EMULATE_DSP (the SMLAD/SXTB16/PKH path through edgeq_dsp.h's C models), warning-free, and
every output must match. The Cortex-M build is checked to compile warning-free and to contain SMLAD/PKHBT.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import edgeq

RUNTIME = Path(edgeq.__file__).parent / "runtime"
C_FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
_SOURCES = ("edgeq_int16.c", "edgeq_int16_dsp.c", "edgeq_core.c")  # the kernels and what they link against

_DRIVER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include "edgeq_int16.h"
static uint32_t st = 12345u;
static uint32_t rnd(void) { st = st * 1664525u + 1013904223u; return st >> 8; }
static int32_t rr(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static int16_t xv(int ext) { return ext ? (rnd() & 1 ? -32768 : 32767) : (int16_t)rr(-32768, 32767); }
static int8_t wv(int ext) { return ext ? (rnd() & 1 ? -128 : 127) : (int8_t)rr(-128, 127); }
int main(int argc, char **argv)
{
    int cases = argc > 1 ? atoi(argv[1]) : 200;
    uint64_t h = 1469598103934665603ull;
    for (int c = 0; c < cases; ++c) {
        const int ext = c % 3 == 0; /* extreme: all-(-128) x all-(-32768) style sums */
        {   /* FC */
            edgeq_fc16_params p;
            p.batches = rr(1, 3); p.in_depth = rr(1, c % 5 == 0 ? 1100 : 70); p.out_depth = rr(1, 11);
            p.per_channel = rr(0, 1); p.out_offset = 0; p.act_min = -32768; p.act_max = 32767;
            if (c % 4 == 1) { p.act_min = -1000; p.act_max = 20000; }
            int8_t *w = malloc((size_t)p.in_depth * p.out_depth);
            int64_t *bias = malloc(sizeof(int64_t) * p.out_depth);
            int32_t *m = malloc(4 * p.out_depth), *s = malloc(4 * p.out_depth);
            int16_t *x = malloc(2 * (size_t)p.in_depth * p.batches), *y = malloc(2 * (size_t)p.out_depth * p.batches);
            const int allneg = ext && (rnd() & 1);
            for (int i = 0; i < p.in_depth * p.out_depth; ++i) w[i] = allneg ? -128 : wv(ext);
            for (int i = 0; i < p.in_depth * p.batches; ++i) x[i] = allneg ? -32768 : xv(ext);
            for (int i = 0; i < p.out_depth; ++i) { bias[i] = (int64_t)rr(-(1 << 20), 1 << 20) * 1000; m[i] = rr(1 << 30, 0x7fffffff); s[i] = rr(-20, -8); }
            p.filter = w; p.bias = (c & 1) ? bias : NULL; p.mult = m; p.shift = s;
            edgeq_fully_connected_s16(&p, x, y);
            for (int i = 0; i < p.out_depth * p.batches; ++i) { h = (h ^ (uint16_t)y[i]) * 1099511628211ull; printf("%d ", y[i]); }
            printf("\n");
            free(w); free(bias); free(m); free(s); free(x); free(y);
        }
        {   /* CONV */
            edgeq_conv16_params p;
            p.batches = rr(1, 2); p.in_h = rr(1, 7); p.in_w = rr(1, 9); p.in_c = rr(1, c % 7 == 0 ? 300 : 9);
            p.k_h = rr(1, 3); p.k_w = rr(1, 4); p.out_c = rr(1, 10); p.stride_h = rr(1, 2); p.stride_w = rr(1, 3);
            p.dil_h = rr(1, 2); p.dil_w = c % 3 == 2 ? rr(1, 3) : 1; p.pad_h = rr(0, 2); p.pad_w = rr(0, 2); p.depth_mult = 1;
            p.out_h = rr(1, 5); p.out_w = rr(1, 6); p.per_channel = rr(0, 1);
            p.act_min = -32768; p.act_max = 32767;
            const int nw = p.out_c * p.k_h * p.k_w * p.in_c, nx = p.batches * p.in_h * p.in_w * p.in_c;
            const int ny = p.batches * p.out_h * p.out_w * p.out_c;
            int8_t *w = malloc((size_t)nw); int64_t *bias = malloc(8 * (size_t)p.out_c);
            int32_t *m = malloc(4 * (size_t)p.out_c), *s = malloc(4 * (size_t)p.out_c);
            int16_t *x = malloc(2 * (size_t)nx), *y = malloc(2 * (size_t)ny);
            const int allneg = ext && (rnd() & 1);
            for (int i = 0; i < nw; ++i) w[i] = allneg ? -128 : wv(ext);
            for (int i = 0; i < nx; ++i) x[i] = allneg ? -32768 : xv(ext);
            for (int i = 0; i < p.out_c; ++i) { bias[i] = rr(-(1 << 24), 1 << 24); m[i] = rr(1 << 30, 0x7fffffff); s[i] = rr(-22, -8); }
            p.filter = w; p.bias = (c & 2) ? bias : NULL; p.mult = m; p.shift = s;
            edgeq_conv2d_s16(&p, x, y);
            for (int i = 0; i < ny; ++i) { h = (h ^ (uint16_t)y[i]) * 1099511628211ull; printf("%d ", y[i]); }
            printf("\n");
            free(w); free(bias); free(m); free(s); free(x); free(y);
        }
        {   /* DEPTHWISE (depth_mult 1 takes the DSP path; 2 and > 256 taps fall back to the portable loop) */
            edgeq_conv16_params p;
            p.batches = rr(1, 2); p.in_c = rr(1, c % 7 == 0 ? 37 : 13); p.depth_mult = c % 5 == 4 ? 2 : 1;
            p.k_h = rr(1, 3); p.k_w = rr(1, 5);
            if (c % 11 == 3) { p.k_h = 7; p.k_w = 73; } /* 511 taps: the largest exact 32-bit sum */
            if (c % 11 == 7) { p.k_h = 16; p.k_w = 32; } /* 512 taps: can overflow 32 bits, portable */
            p.in_h = rr(1, 7) + (p.k_h > 3 ? p.k_h : 0); p.in_w = rr(1, 9) + (p.k_w > 5 ? p.k_w : 0);
            p.out_c = p.in_c * p.depth_mult; p.stride_h = rr(1, 2); p.stride_w = rr(1, 3);
            p.dil_h = rr(1, 2); p.dil_w = rr(1, 2); p.pad_h = rr(0, 2); p.pad_w = rr(0, 2);
            if (p.k_h > 3) { p.dil_h = p.dil_w = 1; p.pad_h = p.pad_w = 0; }
            p.out_h = rr(1, 5); p.out_w = rr(1, 6); p.per_channel = rr(0, 1);
            p.act_min = -32768; p.act_max = 32767;
            if (c % 4 == 2) { p.act_min = -3000; p.act_max = 9000; }
            const int nw = p.out_c * p.k_h * p.k_w, nx = p.batches * p.in_h * p.in_w * p.in_c;
            const int ny = p.batches * p.out_h * p.out_w * p.out_c;
            int8_t *w = malloc((size_t)nw); int64_t *bias = malloc(8 * (size_t)p.out_c);
            int32_t *m = malloc(4 * (size_t)p.out_c), *s = malloc(4 * (size_t)p.out_c);
            int16_t *x = malloc(2 * (size_t)nx), *y = malloc(2 * (size_t)ny);
            const int allneg = (ext && (rnd() & 1)) || p.k_h >= 7; /* 511 / 512 products of +2^22 */
            for (int i = 0; i < nw; ++i) w[i] = allneg ? -128 : wv(ext);
            for (int i = 0; i < nx; ++i) x[i] = allneg ? -32768 : xv(ext);
            for (int i = 0; i < p.out_c; ++i) { bias[i] = rr(-(1 << 24), 1 << 24); m[i] = rr(1 << 30, 0x7fffffff); s[i] = rr(-22, -8); }
            p.filter = w; p.bias = (c & 1) ? bias : NULL; p.mult = m; p.shift = s;
            edgeq_depthwise_conv2d_s16(&p, x, y);
            for (int i = 0; i < ny; ++i) { h = (h ^ (uint16_t)y[i]) * 1099511628211ull; printf("%d ", y[i]); }
            printf("\n");
            free(w); free(bias); free(m); free(s); free(x); free(y);
        }
    }
    fprintf(stderr, "hash %016llx\n", (unsigned long long)h);
    return 0;
}
"""


def _build_and_run(tmp_path: Path, name: str, flags: list[str], cases: int) -> tuple[str, str]:
    drv = tmp_path / "drv.c"
    drv.write_text(_DRIVER_C)
    exe = tmp_path / name
    subprocess.run(["gcc", *C_FLAGS, *flags, "-I", str(RUNTIME / "include"), *(str(RUNTIME / "src" / f) for f in _SOURCES),
                    str(drv), "-o", str(exe), "-lm"], check=True, capture_output=True, text=True)
    r = subprocess.run([str(exe), str(cases)], check=True, capture_output=True, text=True, timeout=120)
    return r.stdout, r.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host gcc")
def test_int16_fc_conv_dw_dsp_path_matches_portable(tmp_path):
    plain, _ = _build_and_run(tmp_path, "plain", [], 300)
    dsp, _ = _build_and_run(tmp_path, "dsp", ["-DEDGEQ_EMULATE_DSP"], 300)
    rows = plain.splitlines()
    assert len(rows) == 900 and sum(len(r.split()) for r in rows) > 30000
    assert len({v for r in rows for v in r.split()}) > 1000  # outputs are not degenerate (all zero / saturated)
    for i, (a, b) in enumerate(zip(rows, dsp.splitlines())):
        assert a == b, f"case {i // 3} ({('FC', 'CONV_2D', 'DEPTHWISE_CONV_2D')[i % 3]}): DSP path differs from the portable kernel"
    assert len(dsp.splitlines()) == len(rows)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_int16_dsp_kernels_compile_for_dsp_cores(tmp_path, cpu):
    obj = tmp_path / "k.o"
    flags = ["-mcpu=" + cpu, "-mthumb", *C_FLAGS, "-I", str(RUNTIME / "include")]
    subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(RUNTIME / "src" / "edgeq_int16_dsp.c"), "-o", str(obj)],
                   check=True, capture_output=True, text=True)
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True, capture_output=True, text=True).stdout
    assert "edgeq_fully_connected_s16_dsp" in dis and "edgeq_conv2d_s16_dsp" in dis
    assert "edgeq_depthwise_conv2d_s16_dsp" in dis and "smlabb" in dis and "smlatt" in dis
    assert "smlad" in dis and "pkhbt" in dis and "pkhtb" in dis
    # the portable file calls into it on DSP cores, and a core without DSP gets no DSP code at all
    m3 = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", *C_FLAGS, "-I", str(RUNTIME / "include"),
                         "-c", str(RUNTIME / "src" / "edgeq_int16_dsp.c"), "-o", str(tmp_path / "m3.o")],
                        check=True, capture_output=True, text=True)
    assert m3.stderr == ""
    nm = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "m3.o")], check=True, capture_output=True, text=True)
    assert "s16_dsp" not in nm.stdout


@pytest.mark.qemu
@pytest.mark.skipif(not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm")),
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_int16_depthwise_dsp_path_bit_exact_on_cortex_m4_qemu():
    """A separable-conv int16x8 model (depthwise 3x3 layers, depth_mult 1) through `edgeq bench` on cortex-m4: the
    real SMLABB/SMLATT/PKH path's outputs are byte-identical to tflite-micro's (~3 s)."""
    from edgeq import graph as graph_mod
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    model = Path(__file__).resolve().parent / "fixtures" / "coverage" / "ds_cnn_separable_int16x8.tflite"
    sg = graph_mod.parse(model.read_bytes()).main
    dws = [op for op in sg.operators if op.opcode == "DEPTHWISE_CONV_2D"]
    assert dws and all(sg.tensor(op.inputs[0]).dtype == "int16" for op in dws)
    res = bench_cortexm(str(model), load_target("cortex-m4"), samples=2, per_op=False)
    assert res.output_matches_reference is True, res.notes
    assert {f.name: f.value for f in res.figures}["instructions"] > 0
