"""adb runner: the benchmark_model output parser on real captured output, and the runner against a MOCK phone.

No Android device or emulator can run here, so the phone is mocked: a fake `adb` executable (a small Python
script put first on PATH) answers `adb devices`, `push` and `shell`, logs every call, and prints a real captured
benchmark_model output for the benchmark command. Everything else (device selection, binary checks, flags,
cleanup, parsing, figures) is the real code.

Captured samples in tests/fixtures/mobile/benchmark_model/ (real benchmark_model output, copied verbatim):
- tf_issue_42507_android.txt: tensorflow/tensorflow issue #42507 ("Timing discrepancy between tflite benchmark
  tool and android"), Android phone, CPU, 4 threads — the newer `Peak memory footprint (MB)` format.
- yolov5s_android_nnapi.txt and yolov5s_android_nnapi_failed.txt: lp6m/yolov5s_android, benchmark/README.md
  (Android, `--use_nnapi=true` on qti-gpu; and the qti-dsp run where the delegate failed to apply).
- yocto_aarch64_delta.txt: a public Yocto/runqemu write-up running benchmark_model on aarch64 with
  `--enable_op_profiling=true` (profiling tables trimmed) — the older `Memory footprint delta from the start of
  the tool (MB)` format, with scientific-notation averages.
- logcat_prefixed.txt: a public write-up of benchmark_model output read through `adb logcat` (`I tflite  :`
  prefixes), with the p5/median/p95 statistics of newer versions.
LiteRT 2.x benchmark_model (litert/tools/benchmark_litert_model.h, `BENCHMARK RESULTS` block):
- litert2_android_cpu_sme2.txt: ArmDeveloperEcosystem/arm-learning-paths,
  content/learning-paths/mobile-graphics-and-gaming/litert-sme/4-benchmark.md (Android phone with SME2,
  `taskset 80 ./benchmark_model --graph=./fc_fp32.tflite --num_runs=1000 --num_threads=1 --use_cpu=true
  --use_profiler=true`; the first run, the profiler tables after the results block left out).
- litert2_gpu_mlcommons_1134.txt: mlcommons/mobile_app_open issue #1134 (comment of 2026-07-28, LiteRT 2.1.5
  benchmark_model with `--use_gpu=1 --use_cpu=0 --require_full_delegation=1`), as quoted there: it starts with
  `...` and has no `count=` lines, so only the 2-decimal millisecond figures exist.
- litert2_npu_not_loaded_issue6999.txt: google-ai-edge/LiteRT issue #6999 (Android logcat of LiteRT 2.1.4): the
  accelerator registry lines with "NPU accelerator could not be loaded and registered".
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from edgeq.errors import DeviceError, UsageError
from edgeq.harness import run_bench
from edgeq.harness.adb import benchmark_generation, check_benchmark_binary, parse_benchmark_output, pick_device
from edgeq.target import load_target

FIXTURES = Path(__file__).parent / "fixtures" / "mobile"
SAMPLES = FIXTURES / "benchmark_model"
MODEL = FIXTURES / "tiny_int8.tflite"


def _sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_parse_peak_memory_format():
    o = parse_benchmark_output(_sample("tf_issue_42507_android.txt"))
    assert (o.init_us, o.first_us, o.warmup_avg_us, o.inference_avg_us) == (855, 49060, 34825.1, 33209.4)
    assert o.runs == 50 and o.min_us == 32641 and o.max_us == 34005 and o.std_us == 450  # timed run, not warm-up
    assert o.memory_kind == "peak" and o.memory_init_mb == 0 and o.memory_overall_mb == 12.8672


def test_parse_delta_memory_format_and_scientific_notation():
    o = parse_benchmark_output(_sample("yocto_aarch64_delta.txt"))
    assert o.inference_avg_us == pytest.approx(2.95034e6) and o.warmup_avg_us == pytest.approx(3.51239e6)
    assert o.memory_kind == "delta" and o.memory_init_mb == 4.21094 and o.memory_overall_mb == 46.0859
    assert o.runs == 50 and o.min_us == 2727568


def test_parse_nnapi_run():
    o = parse_benchmark_output(_sample("yolov5s_android_nnapi.txt"))
    assert o.init_us == 404292 and o.inference_avg_us == 156669 and o.memory_overall_mb == 61.0078


def test_parse_logcat_prefixed_with_median():
    o = parse_benchmark_output(_sample("logcat_prefixed.txt"))
    assert o.median_us == 141253 and o.runs == 25 and o.inference_avg_us == 145528
    assert o.memory_kind == "delta" and o.memory_overall_mb == 73.4102


def test_parse_failed_delegate():
    with pytest.raises(DeviceError, match="Failed to apply NNAPI delegate") as e:
        parse_benchmark_output(_sample("yolov5s_android_nnapi_failed.txt"))
    assert "android-cpu" in e.value.hint


# ------------------------------------------------------------------------------------ mock phone (fake adb)

FAKE_ADB = r'''#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
if args == ["devices"]:
    print("List of devices attached")
    for d in filter(None, os.environ.get("FAKE_ADB_DEVICES", "").split(",")):
        serial, state = d.split(":")
        print(f"{{serial}}\t{{state}}")
    sys.exit(0)
if args[:1] == ["-s"]:
    args = args[2:]
if args[:1] == ["shell"] and "benchmark_model --graph" in args[1]:
    for part in os.environ["FAKE_ADB_OUTPUT"].split(os.pathsep):
        sys.stdout.write(open(part).read())
    sys.exit(int(os.environ.get("FAKE_ADB_EXIT", "0")))
sys.exit(0)
'''


def _run_cmd(calls: list[list[str]]) -> str:
    """The `adb -s SERIAL shell <script>` that runs benchmark_model."""
    return next(c[3] for c in calls if len(c) > 3 and c[2] == "shell" and "benchmark_model --graph" in c[3])


def _fake_binary(path: Path, generation: int | None) -> Path:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[18:20] = (183).to_bytes(2, "little")
    strings = {1: b"use_xnnpack\0use_nnapi\0use_gpu\0", 2: b"use_cpu\0use_gpu\0use_npu\0dispatch_library_path\0",
               None: b""}[generation]
    path.write_bytes(bytes(header) + strings)
    return path


@pytest.fixture
def phone(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    adb = bindir / "adb"
    adb.write_text(FAKE_ADB.format(python=sys.executable))
    adb.chmod(0o755)
    log = tmp_path / "adb.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R58M123ABC:device")
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "tf_issue_42507_android.txt"))
    # A stand-in for the android_aarch64 benchmark_model: its ELF header (EM_AARCH64) and the flag names the
    # generation check looks for are all that is ever read here (LiteRT 1.x by default).
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(_fake_binary(tmp_path / "benchmark_model", 1)))

    def calls():
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []

    return calls


@pytest.mark.parametrize("target,flag", [("android-cpu", "--use_xnnpack=true"), ("android-nnapi", "--use_nnapi=true"),
                                         ("android-gpu", "--use_gpu=true")])
def test_adb_bench_uses_profile_delegate_and_cleans_up(phone, target, flag):
    r = run_bench(str(MODEL), load_target(target), "adb", threads=2, runs=50, taskset="f0")
    assert r.device == "adb:R58M123ABC"
    assert r.figure("latency_mean_ms").value == pytest.approx(33.2094)
    assert r.figure("latency_min_ms").value == pytest.approx(32.641)
    assert r.figure("memory_overall_bytes").value == pytest.approx(12.8672 * 1024 * 1024)
    assert r.figure("energy_uj").kind == "estimated"
    assert r.output_matches_reference is None
    calls = phone()
    run = next(c for c in calls if c[:3] == ["-s", "R58M123ABC", "shell"] and "benchmark_model --graph" in c[3])
    assert flag in run[3] and "--num_threads=2" in run[3] and "taskset f0 " in run[3]
    assert "trap 'rm -rf" in run[3]
    remote = run[3].split("trap 'rm -rf ")[1].split("'")[0]
    assert remote.startswith("/data/local/tmp/edgeq-")
    assert ["-s", "R58M123ABC", "push", str(MODEL), f"{remote}/{MODEL.name}"] in calls
    assert calls[-1] == ["-s", "R58M123ABC", "shell", f"rm -rf {remote}"]  # cleanup, last


def test_adb_failure_still_cleans_up(phone, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "yolov5s_android_nnapi_failed.txt"))
    monkeypatch.setenv("FAKE_ADB_EXIT", "1")
    with pytest.raises(DeviceError, match="Failed to apply NNAPI delegate"):
        run_bench(str(MODEL), load_target("android-nnapi"), "adb")
    last = phone()[-1]
    assert last[2] == "shell" and last[3].startswith("rm -rf /data/local/tmp/edgeq-")


def test_no_device(phone, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    with pytest.raises(DeviceError, match="no Android device attached") as e:
        run_bench(str(MODEL), load_target("android-cpu"), "adb")
    assert "USB debugging" in e.value.hint


def test_several_devices_say_which_serial(phone, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_DEVICES", "AAA111:device,emulator-5554:device")
    with pytest.raises(DeviceError, match="2 Android devices attached: AAA111, emulator-5554") as e:
        pick_device()
    assert "--device adb:AAA111" in e.value.hint
    assert pick_device("emulator-5554") == "emulator-5554"
    with pytest.raises(DeviceError, match="no such device"):
        pick_device("ZZZ")


def test_unauthorized_device(phone, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_DEVICES", "AAA111:unauthorized")
    with pytest.raises(DeviceError, match="not authorized") as e:
        pick_device()
    assert "Allow USB debugging" in e.value.hint


def test_benchmark_binary_checks(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEQ_BENCHMARK_MODEL", raising=False)
    with pytest.raises(UsageError, match="needs LiteRT's benchmark_model") as e:
        check_benchmark_binary(None)
    assert "--benchmark-binary" in e.value.hint
    with pytest.raises(UsageError, match="not found"):
        check_benchmark_binary(tmp_path / "nope")
    script = tmp_path / "bm.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(UsageError, match="no ELF header"):
        check_benchmark_binary(script)
    with pytest.raises(UsageError, match="not for an Android Arm CPU"):
        check_benchmark_binary(sys.executable if Path(sys.executable).resolve().read_bytes()[:4] == b"\x7fELF"
                               else "/bin/sh")


def test_bad_taskset_mask(phone):
    with pytest.raises(UsageError, match="hex CPU mask"):
        run_bench(str(MODEL), load_target("android-cpu"), "adb", taskset="0-3")


def test_adb_missing(monkeypatch, tmp_path):
    from edgeq.errors import ToolMissing
    from edgeq.harness import adb as adbmod

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setitem(sys.modules, "adbutils", None)
    with pytest.raises(ToolMissing, match="adb") as e:
        adbmod.adb_binary()
    assert "pip install adbutils" in e.value.hint


# ------------------------------------------------------------------------------ LiteRT 2.x benchmark_model


def test_parse_litert2_cpu_run():
    o = parse_benchmark_output(_sample("litert2_android_cpu_sme2.txt"))
    assert o.litert == 2 and o.runs == 2112
    # the count= line of the same 2112 runs carries microseconds (the results block: 0.46 ms)
    assert o.inference_avg_us == 464.545 and o.min_us == 442 and o.max_us == 979 and o.median_us == 462
    assert (o.init_us, o.first_us, o.warmup_avg_us) == pytest.approx((4480, 1030, 470))
    assert o.memory_kind == "peak" and o.memory_init_mb == 8.94 and o.memory_overall_mb == 11.51
    assert o.peak_monitored_mb is None and o.throughput_mb_s == 525.55
    assert o.delegated_nodes == (1, 1) and o.delegate_name == "TfLiteXNNPackDelegate"


def test_parse_litert2_gpu_excerpt_without_count_lines():
    o = parse_benchmark_output(_sample("litert2_gpu_mlcommons_1134.txt"))
    assert o.litert == 2 and o.runs == 10 and o.median_us is None
    assert o.inference_avg_us == pytest.approx(7430.20e3) and o.min_us == pytest.approx(7416.40e3)
    assert o.max_us == pytest.approx(7448.86e3) and o.std_us == pytest.approx(9.92e3)
    assert o.init_us == pytest.approx(23744.73e3) and o.memory_overall_mb == 6391.74


def test_parse_litert2_without_results_names_the_failure():
    with pytest.raises(DeviceError, match="NPU accelerator could not be loaded"):
        parse_benchmark_output(_sample("litert2_npu_not_loaded_issue6999.txt"))


def test_benchmark_generation_from_the_binarys_strings(tmp_path):
    assert benchmark_generation(_fake_binary(tmp_path / "a", 1)) == 1
    assert benchmark_generation(_fake_binary(tmp_path / "b", 2)) == 2
    assert benchmark_generation(_fake_binary(tmp_path / "c", None)) is None


@pytest.mark.parametrize("target,flags", [
    ("android-cpu", ["--use_cpu=true"]),
    ("android-gpu", ["--use_gpu=true", "--use_cpu=true"]),
    ("android-npu-qualcomm", ["--use_npu=true", "--use_cpu=true"]),
])
def test_litert2_binary_gets_litert2_accelerator_flags(phone, tmp_path, monkeypatch, target, flags):
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(_fake_binary(tmp_path / "bm2", 2)))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "litert2_android_cpu_sme2.txt"))
    r = run_bench(str(MODEL), load_target(target), "adb", threads=1)
    run = _run_cmd(phone())
    for f in flags:
        assert f" {f}" in run
    assert "--use_xnnpack" not in run and "--use_nnapi" not in run
    assert r.figure("latency_mean_ms").value == pytest.approx(0.464545)
    assert r.figure("latency_p50_ms").value == pytest.approx(0.462)
    assert r.figure("memory_overall_bytes").value == pytest.approx(11.51 * 1024 * 1024)
    assert r.details["litert"] == "2" and r.details["delegate_name"] == "TfLiteXNNPackDelegate"
    if target != "android-cpu":  # the real CPU capture under a GPU/NPU target: the note says so
        assert any("did not take the graph" in n for n in r.notes)


@pytest.mark.parametrize("target,generation,match", [
    ("android-nnapi", 2, "NNAPI, which LiteRT 2.x's benchmark_model does not have"),
    ("android-npu-qualcomm", 1, "only LiteRT 2.x's benchmark_model drives"),
    ("android-npu-mediatek", 1, "only LiteRT 2.x's benchmark_model drives"),
])
def test_binary_and_accelerator_mismatch_fails_before_touching_the_phone(phone, tmp_path, monkeypatch, target,
                                                                         generation, match):
    binary = _fake_binary(tmp_path / "bm", generation)
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(binary))
    with pytest.raises(UsageError, match=match) as e:
        run_bench(str(MODEL), load_target(target), "adb")
    assert str(binary) in e.value.message and "--benchmark-binary" in e.value.hint
    assert phone() == []  # nothing pushed, no adb call at all


def test_litert_option_contradicting_the_binary(phone, monkeypatch):
    with pytest.raises(UsageError, match=r"--litert 2 but .* is LiteRT 1.x's benchmark_model"):
        run_bench(str(MODEL), load_target("android-cpu"), "adb", litert=2)


def test_undetectable_binary_follows_litert_option(phone, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(_fake_binary(tmp_path / "bm", None)))
    run_bench(str(MODEL), load_target("android-gpu"), "adb", litert=1)
    run = _run_cmd(phone())
    assert " --use_gpu=true" in run and "--use_cpu" not in run


def test_ignored_accelerator_flag_is_an_error(phone, tmp_path, monkeypatch):
    # Synthetic line in the format of tflite/tools/benchmark/benchmark_model.cc ParseFlags ("Unconsumed cmdline
    # flags: ..." then the run goes on without the flag), followed by a real 1.x capture.
    warn = tmp_path / "unconsumed.txt"
    warn.write_text("WARN: Unconsumed cmdline flags: --use_nnapi=true\n")
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(_fake_binary(tmp_path / "bm", None)))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", os.pathsep.join([str(warn), str(SAMPLES / "tf_issue_42507_android.txt")]))
    with pytest.raises(UsageError, match=r"ignored --use_nnapi=true"):
        run_bench(str(MODEL), load_target("android-nnapi"), "adb")
    assert phone()[-1][3].startswith("rm -rf /data/local/tmp/edgeq-")


def test_npu_not_loaded_is_an_error_not_a_cpu_figure(phone, tmp_path, monkeypatch):
    # Composite of two real captures: LiteRT's registry lines from issue #6999 (no NPU), then the CPU run's output.
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(_fake_binary(tmp_path / "bm2", 2)))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", os.pathsep.join(
        [str(SAMPLES / "litert2_npu_not_loaded_issue6999.txt"), str(SAMPLES / "litert2_android_cpu_sme2.txt")]))
    with pytest.raises(DeviceError, match="NPU accelerator could not be loaded") as e:
        run_bench(str(MODEL), load_target("android-npu-qualcomm"), "adb")
    assert "--accelerator-lib" in e.value.hint and "libLiteRtDispatch_Qualcomm.so" in e.value.hint
    # the same log is fine for a GPU target (the GPU accelerator registered)
    r = run_bench(str(MODEL), load_target("android-gpu"), "adb")
    assert r.details["litert"] == "2"


def test_accelerator_libs_pushed_and_on_the_library_path(phone, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(_fake_binary(tmp_path / "bm2", 2)))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "litert2_android_cpu_sme2.txt"))
    lib = tmp_path / "libLiteRtDispatch_Qualcomm.so"
    lib.write_bytes(b"\x7fELF" + bytes(60))
    run_bench(str(MODEL), load_target("android-npu-qualcomm"), "adb", accelerator_libs=[str(lib)])
    calls = phone()
    run = _run_cmd(calls)
    remote = run.split("trap 'rm -rf ")[1].split("'")[0]
    assert ["-s", "R58M123ABC", "push", str(lib), f"{remote}/{lib.name}"] in calls
    assert f"LD_LIBRARY_PATH={remote} ADSP_LIBRARY_PATH={remote} " in run
    assert f"--dispatch_library_path={remote}" in run
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    with pytest.raises(UsageError, match="not a shared library"):
        run_bench(str(MODEL), load_target("android-npu-qualcomm"), "adb", accelerator_libs=[str(bad)])


@pytest.mark.hardware
def test_real_phone():
    pytest.skip("needs an Android phone attached and EDGEQ_BENCHMARK_MODEL")
