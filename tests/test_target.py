"""Target profiles: every built-in loads, `extends` merges, typos are caught with a hint, user profiles work."""

import subprocess
import sys
import zipfile

import pytest

from edgeq import target as tg
from edgeq.errors import ProfileError, UsageError

BUILTIN = tg.builtin_names()


def test_all_expected_profiles_exist():
    assert set(BUILTIN) >= {"cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "rpi4", "rpi5",
                            "android-cpu", "android-nnapi", "android-gpu"}


@pytest.mark.parametrize("name", BUILTIN)
def test_profile_is_complete(name):
    t = tg.load_target(name)
    q = t.quantization
    assert q.default_mode in q.modes
    assert t.cpu.clock_hz > 0 and t.ops
    assert t.energy.pj_per_cycle or t.energy.active_power_mw
    assert t.energy.source, "energy figures must cite where they come from"
    if t.is_mcu:
        assert q.integer_only and q.io_dtype == "int8"
        assert t.memory.flash_bytes and t.memory.ram_bytes and t.cpu.gcc_flags
        assert t.emulator.qemu_machine.startswith("mps")
        assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(t.ops)
    else:
        assert t.runtime.name == "litert"


def test_delegates_list_their_own_ops():
    cpu, gpu, nnapi = (tg.load_target(n) for n in ("android-cpu", "android-gpu", "android-nnapi"))
    assert len(gpu.ops) < len(cpu.ops) and len(nnapi.ops) < len(cpu.ops)
    assert "CONV_2D" in gpu.ops and gpu.quantization.default_mode == "float16"
    assert nnapi.runtime.delegate == "nnapi" and nnapi.runtime.cpu_fallback


def test_unknown_target_suggests_nearest():
    with pytest.raises(UsageError, match="Did you mean `cortex-m4`"):
        tg.load_target("cortex-m44")
    with pytest.raises(UsageError, match="base profile"):
        tg.load_target("cortex-m")


def test_user_profile_extends_builtin(tmp_path):
    p = tmp_path / "myboard.toml"
    p.write_text('extends = "cortex-m4"\ndescription = "my board"\n[memory]\nram_bytes = 65_536\n'
                 "[ops]\nSOFTMAX = 0\n")
    t = tg.load_target(str(p))
    assert t.name == "myboard" and t.memory.ram_bytes == 65536
    assert t.memory.flash_bytes == tg.load_target("cortex-m4").memory.flash_bytes
    assert "SOFTMAX" not in t.ops and "CONV_2D" in t.ops
    assert t.sha256 != tg.load_target("cortex-m4").sha256


@pytest.mark.parametrize("body,match", [
    ('extends = "cortex-m4"\n[memory]\nram_byte = 1\n', r"unknown key \[memory\] ram_byte.*Did you mean `ram_bytes`"),
    ('extends = "cortex-m4"\n[memmory]\nram_bytes = 1\n', r"unknown section \[memmory\].*Did you mean `memory`"),
    ('extends = "cortex-m4"\n[quantization]\ndefault_mode = "int9"\n', r"not one of.*Did you mean `int8`"),
    ('extends = "cortex-m4"\n[cpu]\nclock_hz = "fast"\n', r"clock_hz = 'fast': expected int"),
    ('extends = "cortex-m4"\n[ops]\nconv_2d = 1\n', r"UPPER_SNAKE"),
    ('extends = "nope"\n', r"extends = 'nope'.*unknown target"),
    ('description = "x"\nfamily = "cortex-m"\n', r"missing required key"),
    ('extends = "cortex-m4"\n[memory\n', r"invalid TOML"),
])
def test_bad_profiles(tmp_path, body, match):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(ProfileError, match=match):
        tg.load_target(str(p))


def test_extends_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ProfileError, match="cycle"):
        tg.load_target(str(tmp_path / "a.toml"))


@pytest.mark.slow
def test_wheel_ships_profiles(tmp_path):
    """A plain (non-editable) install must find the profiles: they are packaged as edgeq/targets."""
    root = tg.Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path), str(root)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = tmp_path.glob("edgeq-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "edgeq/targets/cortex-m4.toml" in names and "edgeq/targets/android-gpu.toml" in names
    assert any(n.startswith("edgeq/runtime/") and n.endswith(".c") for n in names), "C runtime must ship"


@pytest.mark.parametrize("body,match", [
    ("[memory]\nflash_bytes = -1\n", r"\[memory\] flash_bytes = -1 is out of range: must be > 0"),
    ("[memory]\nram_bytes = 0\n", r"\[memory\] ram_bytes = 0 is out of range"),
    ("[cpu]\nclock_hz = -1\n", r"\[cpu\] clock_hz = -1 is out of range: must be >= 1,000 .*in Hz"),
    ("[cpu]\nclock_hz = 0\n", r"clock_hz = 0 is out of range"),
    ("[cpu]\nclock_hz = 80\n", r"80 MHz = 80_000_000"),
    ("[energy]\npj_per_cycle = -3.0\n", r"pj_per_cycle = -3.0 is out of range: must be >= 0"),
    ("[energy]\npj_per_cycle = nan\n", r"pj_per_cycle = nan is out of range"),
    ("[energy]\nactive_power_mw = inf\n", r"active_power_mw = inf is out of range"),
    ("[memory]\narena_margin_bytes = -16\n", r"arena_margin_bytes = -16 is out of range"),
    ("[cpu]\ncycles_per_instruction = 0\n", r"cycles_per_instruction = 0 is out of range: must be > 0"),
    ("[cpu]\ngcc_flags = [1, 2]\n", r"gcc_flags: element 1 is not a string"),
])
def test_out_of_range_values_name_file_key_and_range(tmp_path, body, match):
    p = tmp_path / "board.toml"
    p.write_text('extends = "cortex-m4"\n' + body)
    with pytest.raises(ProfileError, match=match) as e:
        tg.load_target(str(p))
    assert "board.toml" in str(e.value)


def test_placeholder_inherited_from_base_is_rejected(tmp_path):
    """cortex-m.toml (abstract) holds clock_hz = 0; a device extending it must set a real clock."""
    p = tmp_path / "bare.toml"
    p.write_text('extends = "cortex-m"\ndescription = "x"\n[cpu]\ncore = "cortex-m4"\n')
    with pytest.raises(ProfileError, match=r"clock_hz .*inherited.* = 0 is out of range"):
        tg.load_target(str(p))


@pytest.mark.parametrize("data,match", [
    (b'extends = "cortex-m4"\ndescription = "caf\xe9"\n', r"not UTF-8 text \(byte 0xe9 at line 2"),
    (b'\xff\xfee\x00x\x00', r"not UTF-8"),
    (b'extends = "cortex-m4"\n[memory]\nram_bytes = 1', None),  # truncated but valid TOML: loads
    (b'extends = "cortex-m4"\n[memory]\nram_bytes = ', r"invalid TOML"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", r"invalid TOML|unknown key"),
    (b'extends = "cortex\x00m4"\n', r"invalid TOML"),
    (b'extends = "' + b"a" * 5000 + b'.toml"\n', r"extends = 'a+.*(not found|not a usable)"),
])
def test_encoding_and_truncation(tmp_path, data, match):
    p = tmp_path / "enc.toml"
    p.write_bytes(data)
    if match is None:
        assert tg.load_target(str(p)).memory.ram_bytes == 1
        return
    with pytest.raises(ProfileError, match=match):
        tg.load_target(str(p))


def test_utf8_bom_is_accepted(tmp_path):
    p = tmp_path / "bom.toml"
    p.write_bytes(b'\xef\xbb\xbfextends = "cortex-m4"\ndescription = "BOM from a Windows editor"\n')
    assert tg.load_target(str(p)).description == "BOM from a Windows editor"
