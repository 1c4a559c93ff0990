"""The Arm-specific paths of the depthwise, fully connected, ADD/MUL and pooling kernels (edgeq_dwconv.c, edgeq_fc.c,
edgeq_eltwise.c, edgeq_pool.c) are bit-exact with tflite-micro where they really execute: Helium (MVE) on QEMU
mps3-an547 (Cortex-M55) and SXTB16/SMLAD on mps2-an386 (Cortex-M4), with the short requantization (`rq`, `out_rq`)
and with the general MultiplyByQuantizedMultiplier (per-lane vector requantization). Host builds of the same models
(portable and emulated DSP) are covered by test_codegen_core.py.
"""

from __future__ import annotations

import shutil

import pytest
from test_codegen_core import models  # noqa: F401  (the session's converted models)

from edgeq.codegen import ops_core

# Kernel models aimed at the paths: 3x3 depthwise stride 1/2, SAME/VALID, dilation, channel counts not divisible by
# 4 (vector tails), depth multipliers > 1, four-pixel runs (wide rows) and clipped windows; FC depths that are not
# multiples of 16 and per-tensor weights; same-shape ADD large enough for the tables, broadcast ADD and MUL; pools.
MODELS = ["dw3x3_paths", "dw3x3_paths_pt", "dw3x3_c5", "dw_m1_same_relu", "dw_m2_s2_valid_relu6", "dw_m3_dil2_same",
          "dw_s2_same", "dw_k5x3_s1_relu6", "dw3x3_narrow", "dw3x3_tall", "fc_depths", "fc_flatten_pt", "fc_nobias_3d",
          "resnet_block", "add_relu", "add_broadcast", "mul_broadcast", "pools"]


def _bench(models, name: str, target_name: str):  # noqa: F811
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed")
    from edgeq.harness.cortexm import bench_cortexm
    from edgeq.target import load_target

    return bench_cortexm(str(models.path(name)), load_target(target_name), "qemu", samples=3, per_op=False,
                         timeout_s=300)


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("target_name", ["cortex-m55", "cortex-m4"])
def test_kernels_bit_exact_on_emulated_cortex_m(models, target_name):  # noqa: F811
    for name in MODELS:
        res = _bench(models, name, target_name)
        assert res.output_matches_reference is True, (name, target_name, res.notes)


@pytest.mark.slow
@pytest.mark.qemu
def test_helium_general_requantization_bit_exact(models, monkeypatch):  # noqa: F811
    """Without `rq`/`out_rq` the Helium kernels requantize with per-lane multipliers and shifts (left shifts, right
    shifts and none in the same vector) or a broadcast per-tensor one; still TFLM's bytes."""
    monkeypatch.setattr(ops_core, "FAST_REQUANT", False)
    for name in ["dw3x3_paths", "dw3x3_paths_pt", "dw_m1_same_relu", "fc_depths", "fc_flatten_pt", "resnet_block"]:
        res = _bench(models, name, "cortex-m55")
        assert res.output_matches_reference is True, (name, res.notes)
