"""SSH runner against a real OpenSSH server started on localhost (Debian `openssh-server`, no mocks).

The "device" is this machine: sshd runs on an unprivileged port with its own host key, authorized key and
config in a temp dir; the client gets its own known_hosts through `-o UserKnownHostsFile=` and `-F`.
The remote python is this test's interpreter (it has LiteRT), as a Pi's python3 would.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeq.errors import DeviceError, UsageError
from edgeq.harness import run_bench
from edgeq.harness.ssh import SshSession, parse_ssh_url, remote_word, run_ssh
from edgeq.target import load_target

FIXTURES = Path(__file__).parent / "fixtures" / "mobile"
SSHD = "/usr/sbin/sshd"

pytestmark = pytest.mark.skipif(not (Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen")),
                                reason="needs openssh-server and openssh-client (apt-get install openssh-server)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30)


class Sshd:
    """A real sshd on localhost; sftp=False leaves out the `Subsystem sftp` line, as on Buildroot/Yocto/dropbear
    images, where OpenSSH 9's scp (which speaks SFTP) cannot copy anything."""

    def __init__(self, tmp: Path, sftp: bool = True):
        self.tmp = tmp
        self.port = _free_port()
        self.user = getpass.getuser()
        _keygen(tmp / "host_key")
        _keygen(tmp / "client_key")
        shutil.copy(tmp / "client_key.pub", tmp / "authorized_keys")
        # A remote temp root we can inspect afterwards (the runner honours $TMPDIR through mktemp).
        self.remote_tmp = tmp / "remote_tmp"
        self.remote_tmp.mkdir()
        (tmp / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {tmp}/host_key\n"
            f"AuthorizedKeysFile {tmp}/authorized_keys\nPidFile {tmp}/sshd.pid\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\n" + ("Subsystem sftp /usr/lib/openssh/sftp-server\n" if sftp else "")
            +
            f"SetEnv TMPDIR={self.remote_tmp}\nLogLevel ERROR\n")
        host_pub = (tmp / "host_key.pub").read_text().split()
        (tmp / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        (tmp / "empty_known_hosts").write_text("")
        (tmp / "client_config").write_text("")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir, as at boot
        self.proc = subprocess.Popen([SSHD, "-f", str(tmp / "sshd_config"), "-D", "-e"],
                                     stdout=subprocess.DEVNULL, stderr=open(tmp / "sshd.log", "wb"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: " + (tmp / "sshd.log").read_text())
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def options(self, known_hosts: str = "known_hosts") -> tuple[str, ...]:
        return ("-F", str(self.tmp / "client_config"), "-i", str(self.tmp / "client_key"),
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={self.tmp / known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    d = Sshd(tmp_path_factory.mktemp("sshd"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def sshd_nosftp(tmp_path_factory):
    d = Sshd(tmp_path_factory.mktemp("sshd-nosftp"), sftp=False)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def model() -> Path:
    return FIXTURES / "tiny_int8.tflite"


def _zero_inputs(tmp_path: Path) -> Path:
    """An inputs .npz for tiny_int8.tflite (one zero image)."""
    import numpy as np

    p = tmp_path / "in.npz"
    np.savez(p, input_0=np.zeros((1, 16, 16, 3), np.int8))
    return p


def test_parse_ssh_url():
    t = parse_ssh_url("ssh://pi@raspberrypi.local:2222")
    assert (t.user, t.host, t.port, t.destination) == ("pi", "raspberrypi.local", 2222, "pi@raspberrypi.local")
    assert parse_ssh_url("ssh://mypi").destination == "mypi"  # an alias from ~/.ssh/config
    for bad in ("ssh://", "ssh://pi@host/path", "ssh://pi:secret@host", "ssh://-oProxyCommand=x"):
        with pytest.raises(UsageError):
            parse_ssh_url(bad)


def test_full_bench_over_real_sshd(sshd, model):
    target = load_target("rpi4")
    r = run_bench(str(model), target, sshd.url, ssh_options=sshd.options(), remote_python=sys.executable,
                  allow_arch_mismatch=True, runs=10, threads=1)
    assert r.device == sshd.url
    p50 = r.figure("latency_p50_ms")
    assert p50 is not None and p50.kind == "measured" and p50.value > 0
    assert r.figure("latency_p90_ms").value >= p50.value >= r.figure("latency_min_ms").value
    assert r.figure("peak_rss_bytes").value > 10_000_000
    energy = r.figure("energy_uj")
    assert energy is not None and energy.kind == "estimated"
    assert r.details["runtime"] == "ai_edge_litert" and r.details["runtime_version"]
    assert r.details["xnnpack_applied"] == "yes"
    assert r.details["cpu_model"]
    # Same machine, same kernels: the device's output equals the host reference bit for bit.
    assert r.output_matches_reference is True and r.details["bit_exact"] == "true"
    assert list(sshd.remote_tmp.iterdir()) == []  # nothing left on the device


def test_wrong_arch_is_an_error(sshd, model):
    with pytest.raises(DeviceError, match=r"x86_64.*rpi4") as e:
        run_bench(str(model), load_target("rpi4"), sshd.url, ssh_options=sshd.options(),
                  remote_python=sys.executable, runs=1)
    assert "64-bit Raspberry Pi OS" in e.value.hint
    assert list(sshd.remote_tmp.iterdir()) == []


def test_cleanup_after_runner_failure(sshd, tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\0\0\0\0TFL3" + b"\0" * 64)  # passes the magic check, fails in LiteRT
    inputs = tmp_path / "in.npz"
    import numpy as np

    np.savez(inputs, input_0=np.zeros(1, np.float32))
    with pytest.raises(DeviceError, match="could not load the model"):
        run_ssh(bad, inputs, sshd.url, ssh_options=sshd.options(), python=sys.executable, runs=1)
    assert list(sshd.remote_tmp.iterdir()) == []


def test_no_python_on_device(sshd, model, tmp_path):
    inputs = _zero_inputs(tmp_path)
    with pytest.raises(DeviceError, match="no `python3.99` on the device") as e:
        run_ssh(model, inputs, sshd.url, ssh_options=sshd.options(), python="python3.99", runs=1)
    assert "ai-edge-litert" in e.value.hint
    assert list(sshd.remote_tmp.iterdir()) == []


def test_no_runtime_on_device_gives_pip_command(sshd, model, tmp_path):
    # A python3 that has numpy but no LiteRT: this interpreter with the three runtime modules made unimportable.
    fake = tmp_path / "py-no-litert"
    fake.write_text(f"#!{sys.executable}\nimport runpy, sys\n"
                    "for m in ('ai_edge_litert', 'tflite_runtime', 'tensorflow'):\n    sys.modules[m] = None\n"
                    "sys.argv = sys.argv[2:]  # drop -u\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")
    fake.chmod(0o755)
    inputs = _zero_inputs(tmp_path)
    with pytest.raises(DeviceError, match="no LiteRT runtime") as e:
        run_ssh(model, inputs, sshd.url, ssh_options=sshd.options(), python=str(fake), runs=1)
    assert "pip install ai-edge-litert" in e.value.hint
    assert list(sshd.remote_tmp.iterdir()) == []


def test_unknown_host_key_is_a_clear_error(sshd, model):
    with pytest.raises(DeviceError, match="host key .* is not in known_hosts") as e:
        run_bench(str(model), load_target("rpi4"), sshd.url, ssh_options=sshd.options("empty_known_hosts"),
                  remote_python=sys.executable, allow_arch_mismatch=True, runs=1)
    assert "ssh-keyscan" in e.value.hint and "never disables" in e.value.hint


def test_auth_failure(sshd, model, tmp_path):
    other = tmp_path / "other_key"
    _keygen(other)
    opts = list(sshd.options())
    opts[opts.index("-i") + 1] = str(other)
    with pytest.raises(DeviceError, match="authentication failed") as e:
        run_bench(str(model), load_target("rpi4"), sshd.url, ssh_options=tuple(opts),
                  remote_python=sys.executable, allow_arch_mismatch=True, runs=1)
    assert "ssh-copy-id" in e.value.hint


def test_wrong_port_is_unreachable(sshd, model):
    url = f"ssh://{sshd.user}@127.0.0.1:{_free_port()}"
    with pytest.raises(DeviceError, match="cannot reach 127.0.0.1") as e:
        run_bench(str(model), load_target("rpi4"), url, ssh_options=sshd.options(), runs=1)
    assert "sshd" in e.value.hint


def test_power_monitor_plugs_in(sshd, model):
    """A PowerMonitor (here a constant-power stand-in for a Joulescope/PPK2) replaces the estimate."""
    from edgeq.harness.power import PowerSample

    class ConstantMeter:
        name = "constant-5W"

        def start(self):
            self.started = True

        def stop(self):
            return PowerSample(duration_s=1.0, mean_power_mw=5000.0, energy_uj=5e6)

    meter = ConstantMeter()
    r = run_bench(str(model), load_target("rpi4"), sshd.url, ssh_options=sshd.options(),
                  remote_python=sys.executable, allow_arch_mismatch=True, runs=5, power_monitor=meter)
    e = r.figure("energy_uj")
    assert meter.started and e.kind == "measured" and "constant-5W" in e.method
    assert e.value == pytest.approx(5000.0 * r.figure("latency_p50_ms").value)
    assert [f.name for f in r.figures].count("energy_uj") == 1


def test_timeout_kills_the_run_and_cleans_up(sshd, model, tmp_path):
    """A runner that hangs: our timeout fires, the error says so, and the remote folder is removed anyway."""
    slow = tmp_path / "py-hangs"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    inputs = _zero_inputs(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="timed out after 3 s while trying to run the benchmark") as e:
        run_ssh(model, inputs, sshd.url, ssh_options=sshd.options(), python=str(slow), runs=1, timeout_s=3)
    assert time.monotonic() - t0 < 25
    assert "raise the timeout" in e.value.hint
    deadline = time.monotonic() + 10  # the remote trap / our finally remove it; allow sshd a moment
    while list(sshd.remote_tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(sshd.remote_tmp.iterdir()) == []


# ------------------------------------------------------------------ no SFTP subsystem, --remote-python (issue 17)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> Path:
    """A real venv (pyvenv.cfg, its own bin/python) whose site-packages reach this interpreter's LiteRT and numpy
    through a .pth file: what a Bookworm user makes with `python3 -m venv ~/litert && ~/litert/bin/pip install
    ai-edge-litert`, without downloading anything."""
    import site
    import sysconfig

    v = tmp_path_factory.mktemp("venv") / "litert"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(v)], check=True, timeout=120)
    py = v / "bin" / "python"
    out = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(out, "outer.pth").write_text("\n".join(sorted(here)) + "\n")
    return py


def _cli_ssh_options(d: Sshd) -> list[str]:
    """The same client setup as Sshd.options(), spelled as `edgeq bench --ssh-option` values."""
    return ["--ssh-option", f"-F{d.tmp / 'client_config'}", "--ssh-option", f"IdentityFile={d.tmp / 'client_key'}",
            "--ssh-option", "IdentitiesOnly=yes", "--ssh-option", f"UserKnownHostsFile={d.tmp / 'known_hosts'}",
            "--ssh-option", "GlobalKnownHostsFile=/dev/null"]


def test_scp_really_fails_without_sftp(sshd_nosftp, model):
    """The premise: OpenSSH 9's scp cannot copy to this server (so the bench below proves it does not use scp)."""
    port = ["-P", str(sshd_nosftp.port)]
    p = subprocess.run(["scp", "-q", "-B", *sshd_nosftp.options(), *port, str(model),
                        f"{sshd_nosftp.user}@127.0.0.1:{sshd_nosftp.remote_tmp}/"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, "this scp still copied without an SFTP subsystem: the test below proves nothing"
    assert list(sshd_nosftp.remote_tmp.iterdir()) == []


def test_cli_bench_without_sftp_with_venv_python(sshd_nosftp, model, venv_python, cli):
    """`edgeq bench --device ssh://... --remote-python VENV/bin/python` against an sshd with no SFTP subsystem."""
    r = cli("bench", model, "-t", "rpi4", "-d", sshd_nosftp.url, "--remote-python", venv_python,
            *_cli_ssh_options(sshd_nosftp), "--allow-arch-mismatch", "--runs", "3", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads(r.stdout)
    assert res["device"] == sshd_nosftp.url
    assert res["details"]["python"] and res["details"]["runtime"] == "ai_edge_litert"
    assert res["output_matches_reference"] is True and res["details"]["bit_exact"] == "true"
    assert list(sshd_nosftp.remote_tmp.iterdir()) == []


def test_runner_ran_under_the_venv_python(sshd_nosftp, model, venv_python, tmp_path):
    """The runner really executes with --remote-python (sys.prefix is the venv), not the device's python3."""
    inputs = _zero_inputs(tmp_path)
    fake = tmp_path / "py-report-prefix"  # wraps the venv's python and records which interpreter ran the runner
    fake.write_text(f"#!/bin/sh\n{venv_python} -c 'import sys; print(sys.prefix)' > {tmp_path / 'prefix'}\n"
                    f'exec {venv_python} "$@"\n')
    fake.chmod(0o755)
    res = run_ssh(model, inputs, sshd_nosftp.url, ssh_options=sshd_nosftp.options(), python=str(fake), runs=1)
    assert res.p50_ms > 0
    assert Path((tmp_path / "prefix").read_text().strip()) == venv_python.parent.parent


def test_copy_streams_exact_bytes_without_sftp(sshd_nosftp, tmp_path):
    """Awkward names and binary content (every byte value, no trailing newline) arrive intact."""
    f = tmp_path / "we ird'name $x.bin"
    data = bytes(range(256)) * 1000 + b"\r\n\x00end"
    f.write_bytes(data)
    dest = sshd_nosftp.remote_tmp / "copy target"
    dest.mkdir()
    try:
        SshSession(parse_ssh_url(sshd_nosftp.url), sshd_nosftp.options()).copy_to([f], str(dest), 60)
        assert (dest / f.name).read_bytes() == data
    finally:
        shutil.rmtree(dest)


def test_copy_into_missing_folder_is_a_clear_error(sshd_nosftp, model):
    s = SshSession(parse_ssh_url(sshd_nosftp.url), sshd_nosftp.options())
    with pytest.raises(DeviceError, match=r"could not copy .*tiny_int8.tflite to /nonexistent-edgeq/x/"):
        s.copy_to([model], "/nonexistent-edgeq/x", 30)


def test_missing_remote_python_names_the_path(sshd_nosftp, model, tmp_path):
    inputs = _zero_inputs(tmp_path)
    with pytest.raises(DeviceError, match=r"no `/opt/no-such-venv/bin/python` on the device.*--remote-python") as e:
        run_ssh(model, inputs, sshd_nosftp.url, ssh_options=sshd_nosftp.options(),
                python="/opt/no-such-venv/bin/python", runs=1)
    assert "'ls -l /opt/no-such-venv/bin/python'" in e.value.hint
    assert list(sshd_nosftp.remote_tmp.iterdir()) == []


def test_remote_python_tilde_is_the_device_users_home():
    """'~/litert/bin/python' must expand on the device (in its shell), not locally and not as a literal '~'."""
    def expand(path: str) -> str:
        return subprocess.run(["sh", "-c", f"printf %s {remote_word(path)}"], capture_output=True, text=True,
                              timeout=10, env={"HOME": "/home/pi", "PATH": os.environ["PATH"]}).stdout

    assert expand("~/my venv/bin/python") == "/home/pi/my venv/bin/python"
    assert expand("litert/bin/python") == "/home/pi/litert/bin/python"  # as `ssh pi@host litert/bin/python`
    assert expand("python3.11") == "python3.11" and expand("/opt/x/python") == "/opt/x/python"
    assert remote_word("/usr/bin/python3; rm -rf /") == "'/usr/bin/python3; rm -rf /'"


def test_remote_python_only_for_ssh(model):
    with pytest.raises(UsageError, match="--remote-python applies to --device ssh://"):
        run_bench(str(model), load_target("rpi4"), "host", remote_python="/usr/bin/python3", runs=1)
