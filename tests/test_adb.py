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
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from edgeq.errors import DeviceError, UsageError
from edgeq.harness import run_bench
from edgeq.harness.adb import check_benchmark_binary, parse_benchmark_output, pick_device
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
    sys.stdout.write(open(os.environ["FAKE_ADB_OUTPUT"]).read())
    sys.exit(int(os.environ.get("FAKE_ADB_EXIT", "0")))
sys.exit(0)
'''


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
    # A stand-in for the android_aarch64 benchmark_model: only its ELF header (EM_AARCH64) is ever read here.
    binary = tmp_path / "benchmark_model"
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[18:20] = (183).to_bytes(2, "little")
    binary.write_bytes(bytes(header))
    monkeypatch.setenv("EDGEQ_BENCHMARK_MODEL", str(binary))

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


@pytest.mark.hardware
def test_real_phone():
    pytest.skip("needs an Android phone attached and EDGEQ_BENCHMARK_MODEL")
