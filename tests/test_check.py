"""Check rules on committed fixtures: every violation is collected with op, tensor and fix."""

import shutil
import subprocess

import pytest

from edgeq import check, graph
from edgeq.target import builtin_names, load_target


def _errors(res, rule):
    return [f for f in res.errors if f.rule == rule]


def test_int8_passes_every_mcu(fixtures):
    g = graph.load(fixtures / "cnn_int8.tflite")
    for name in builtin_names():
        t = load_target(name)
        if t.is_mcu:
            res = check.check(g, t)
            assert res.passed, [str(f) for f in res.findings]


def test_float_model_fails_integer_only_target_naming_every_op(fixtures):
    g = graph.load(fixtures / "cnn_float32.tflite")
    res = check.check(g, load_target("cortex-m4"))
    assert not res.passed
    errs = _errors(res, "integer_only")
    assert {f.opcode for f in errs} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"}
    assert all(f.op_index is not None and f.tensor and "--mode int8" in f.hint for f in errs)


def test_hybrid_dynamic_range_model_is_a_failure_on_mcu_but_fine_on_pi(fixtures):
    g = graph.load(fixtures / "mlp_dynamic.tflite")
    res = check.check(g, load_target("cortex-m7"))
    assert any("hybrid" in f.message for f in _errors(res, "integer_only"))
    assert check.check(g, load_target("rpi4")).passed


def test_float_io_allowed_on_mcu_with_warning(fixtures):
    res = check.check(graph.load(fixtures / "cnn_int8_float_io.tflite"), load_target("cortex-m4"))
    assert res.passed
    assert any(f.rule == "tensor_types" and "float32" in f.message for f in res.warnings)


def test_int16x8_only_where_allowed(fixtures):
    g = graph.load(fixtures / "cnn_int16x8.tflite")
    assert check.check(g, load_target("cortex-m4")).passed
    res = check.check(g, load_target("cortex-m0plus"))
    assert _errors(res, "tensor_types") and "--mode int8" in _errors(res, "tensor_types")[0].hint


def test_delegate_fallback_is_a_warning_naming_the_op(fixtures, tmp_path):
    p = tmp_path / "tiny-gpu.toml"
    p.write_text('extends = "android-gpu"\n[ops]\nSOFTMAX = 0\n')
    res = check.check(graph.load(fixtures / "cnn_int8.tflite"), load_target(str(p)))
    assert res.passed
    w = [f for f in res.warnings if f.rule == "op_supported"]
    assert w and w[0].opcode == "SOFTMAX" and "falls back to the CPU" in w[0].message


def test_unsupported_op_on_mcu_is_an_error(fixtures, tmp_path):
    p = tmp_path / "nosoftmax.toml"
    p.write_text('extends = "cortex-m4"\n[ops]\nSOFTMAX = 0\nAVERAGE_POOL_2D = 0\n')
    res = check.check(graph.load(fixtures / "cnn_int8.tflite"), load_target(str(p)))
    assert {f.opcode for f in _errors(res, "op_supported")} == {"SOFTMAX", "AVERAGE_POOL_2D"}


def test_budgets_name_the_excess(fixtures, tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text('extends = "cortex-m0plus"\n[memory]\nflash_bytes = 50_000\nram_bytes = 256\n')
    g = graph.load(fixtures / "cnn_int8.tflite")
    res = check.check(g, load_target(str(p)), arena_bytes=5000, generated_c=False)  # --no-codegen: TFLM ships
    (ram,) = _errors(res, "ram_budget")
    assert "4,744 B over" in ram.message and "TFLM arena, measured" in ram.message
    # with the generated C shipping, RAM is its planned arena + the model's I/O buffers + its kernels' largest stack
    # scratch (M0+: the plain build's), not TFLM's arena
    from edgeq.codegen import render
    from edgeq.codegen.plan import plan_memory

    io = sum(g.main.tensors[i].size_bytes for i in (*g.main.inputs, *g.main.outputs))
    res = check.check(g, load_target(str(p)), arena_bytes=5000)
    scratch = render(g).scratch.stack_bytes("plain")
    assert res.ram_estimate_bytes == plan_memory(g.main).arena_bytes + io + scratch < 5000
    assert f"({scratch:,} B, sized for this model" in res.ram_estimate_method
    assert "generated C" in res.ram_estimate_method
    (ram,) = _errors(res, "ram_budget")
    assert f"{res.ram_estimate_bytes - 256:,} B over" in ram.message
    # cortex-m0plus exports C: the figure is edgeq's generated C, not the TFLM interpreter (~93 KB of code)
    p.write_text('extends = "cortex-m0plus"\n[memory]\nflash_bytes = 2_000\n')
    res = check.check(g, load_target(str(p)))
    (flash,) = _errors(res, "flash_budget")
    gen, tflm = res.flash_estimates
    assert gen.runtime == "edgeq generated C" and tflm.runtime == "TFLM interpreter"
    assert res.flash_estimate_bytes == gen.total_bytes == check.generated_c_model_bytes(g) + gen.runtime_bytes
    assert f"{gen.total_bytes - 2_000:,} B over" in flash.message and "edgeq generated C" in flash.message
    assert f"with the TFLM interpreter instead: ~{g.size_bytes + tflm.runtime_bytes:,} B" in flash.message


def test_flash_counts_the_runtime_that_ships(fixtures, tmp_path):
    """A 64 KB-flash board fits a model whose generated C is ~30 KB, though TFLM would need ~100 KB; a profile that
    exports only TFLM is checked with the interpreter."""
    g = graph.load(fixtures / "cnn_int8.tflite")
    p = tmp_path / "small.toml"
    p.write_text('extends = "cortex-m4"\n[memory]\nflash_bytes = 65_536\n')
    res = check.check(g, load_target(str(p)))
    assert res.passed, [str(f) for f in res.findings]
    assert res.flash_estimate_bytes < 65_536 < res.flash_estimates[1].total_bytes
    assert res.flash_estimate_method.startswith("edgeq generated C: model ")
    p.write_text('extends = "cortex-m4"\n[memory]\nflash_bytes = 65_536\n[export]\nformats = ["tflite", "tflm"]\n')
    res = check.check(g, load_target(str(p)))
    (flash,) = _errors(res, "flash_budget")
    assert "TFLM interpreter" in flash.message and len(res.flash_estimates) == 1
    assert res.flash_estimate_bytes == g.size_bytes + load_target(str(p)).memory.runtime_code_bytes
    assert "TFLM" not in check.check(g, load_target("rpi4")).flash_estimate_method
    # convert --no-codegen: only the TFLM export ships, so the TFLM figure is the one checked
    p.write_text('extends = "cortex-m4"\n[memory]\nflash_bytes = 65_536\n')
    (flash,) = _errors(check.check(g, load_target(str(p)), generated_c=False), "flash_budget")
    assert "TFLM interpreter" in flash.message


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m0plus", "cortex-m55"])
def test_generated_c_estimate_matches_the_compiled_model(fixtures, tmp_path, target):
    """The check's estimate stays within 15 % of edgeq_model.o compiled with the profile's flags (the DSP path
    stores int16 weights, Helium and plain C int8): catches drift of the generator's data layout."""
    from edgeq import codegen

    t = load_target(target)
    g = graph.load(fixtures / "cnn_int8.tflite")
    codegen.generate(g, tmp_path)
    inc = [f"-I{d}" for d in {str(p.parent) for p in tmp_path.rglob("*.h")}]
    obj = tmp_path / "m.o"
    subprocess.run(["arm-none-eabi-gcc", *t.cpu.gcc_flags, "-O2", "-ffunction-sections", "-fdata-sections", *inc,
                    "-c", str(tmp_path / "edgeq_model.c"), "-o", str(obj)], check=True, timeout=120)
    out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    compiled = sum(int(ln.split()[1]) for ln in out.splitlines()
                   if ln.startswith((".text", ".rodata", ".data")))
    est = check.check(g, t).flash_estimates[0]
    assert est.runtime == "edgeq generated C"
    assert compiled == pytest.approx(est.model_bytes, rel=0.15), out


def test_per_channel_policy(fixtures, tmp_path):
    p = tmp_path / "pertensor.toml"
    p.write_text('extends = "cortex-m4"\n[quantization]\nper_channel = "forbidden"\n')
    t = load_target(str(p))
    res = check.check(graph.load(fixtures / "cnn_int8.tflite"), t)
    assert {f.opcode for f in _errors(res, "per_channel_policy")} >= {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert check.check(graph.load(fixtures / "cnn_int8_per_tensor.tflite"), t).passed


def test_activation_peak_is_a_lower_bound(fixtures):
    g = graph.load(fixtures / "cnn_int8.tflite")
    peak = check.activation_peak_bytes(g.main)
    biggest_pair = max(g.main.tensors[op.inputs[0]].size_bytes + g.main.tensors[op.outputs[0]].size_bytes
                       for op in g.operators)
    assert peak >= biggest_pair


@pytest.mark.parametrize("rule", check.RULES, ids=lambda r: r.__name__)
def test_every_rule_has_a_statement(rule):
    assert rule.__doc__ and rule.__doc__.strip()[0].isupper()
