"""SSH runner (bench stage, `--device ssh://user@host[:port]`): a Raspberry Pi benchmarked with its own Python.

Uses the system `ssh`/`scp`, so ~/.ssh/config, keys, agents and known_hosts work as they do for the user.
BatchMode (no password prompts), a connect timeout, and host-key checking left as the user configured it: an
unknown host key is an error telling how to trust it, never silently accepted. Flow: `mktemp -d` on the device,
stream the model, inputs and remote_runner.py there over the ssh channel (`cat > file`), run it with the device's
Python (`python3`, or `--remote-python PATH`, e.g. a venv's) under a shell whose trap removes the folder on exit,
parse the JSON line; our `finally` removes the folder again in case the run was killed. Every remote argument
is shlex-quoted.

Why not scp: OpenSSH >= 9 scp speaks SFTP, and minimal images (Buildroot, Yocto, dropbear) have no SFTP
subsystem. Streaming needs only a POSIX shell and `cat`, goes through exactly the same ssh options as the run,
and the byte count is checked on the device, so one code path serves every sshd.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgeq.errors import DeviceError, ToolMissing, UsageError
from edgeq.harness.runner import RUNNER_PATH, RunnerResult, parse_runner_output, result_from_json, runner_args

CONNECT_TIMEOUT_S = 10
_TMPDIR_RE = re.compile(r"^/[A-Za-z0-9._/-]+$")


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int | None
    url: str

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def parse_ssh_url(url: str) -> SshTarget:
    """ssh://[user@]host[:port] -> SshTarget (a host alias from ~/.ssh/config works too)."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        raise UsageError(f"bad SSH device {url!r}", hint="write ssh://user@host or ssh://user@host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"bad SSH device {url!r}: unexpected path/query",
                         hint="write ssh://user@host[:port]; the remote folder is chosen by mktemp")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"bad port in {url!r}") from None
    if parts.password:
        raise UsageError(f"{url}: passwords in the URL are not supported",
                         hint="use a key: ssh-copy-id user@host, then ssh://user@host")
    user = unquote(parts.username or "")
    if user.startswith("-") or parts.hostname.startswith("-"):
        raise UsageError(f"bad SSH device {url!r}")
    return SshTarget(user, parts.hostname, port, url)


class SshSession:
    """ssh/scp with fixed options against one destination; each call has a timeout and classified errors."""

    def __init__(self, target: SshTarget, options: tuple[str, ...] = (), connect_timeout_s: int = CONNECT_TIMEOUT_S):
        self.t = target
        # BatchMode: fail instead of prompting for a password or a host key (nothing can answer a prompt).
        base = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout_s}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        self.opts = [*base, *options]

    def _ssh_cmd(self, remote: str) -> list[str]:
        port = ["-p", str(self.t.port)] if self.t.port else []
        return ["ssh", *self.opts, *port, "-T", self.t.destination, remote]

    def run(self, remote: str, timeout_s: float, what: str) -> subprocess.CompletedProcess:
        return self._exec(self._ssh_cmd(remote), timeout_s, what)

    def copy_to(self, files: list[Path], remote_dir: str, timeout_s: float) -> None:
        """Stream each file into remote_dir over the ssh channel (timeout_s each); the device reports the bytes it
        wrote."""
        for f in files:
            dest = f"{remote_dir}/{f.name}"
            q = shlex.quote(dest)
            size_bytes = f.stat().st_size
            with open(f, "rb") as fh:
                p = self._exec(self._ssh_cmd(f"cat > {q} && wc -c < {q}"), timeout_s, f"copy {f.name} to the device",
                               stdin=fh)
            got = p.stdout.strip()
            if p.returncode != 0 or got != str(size_bytes):
                why = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
                if p.returncode == 0:
                    why = f"the device wrote {got or 'nothing'} of {size_bytes} bytes"
                raise DeviceError(f"{self.t.url}: could not copy {f} to {dest} on the device: {why}",
                                  hint="is the device's temp folder full or read-only? (df -h /tmp on the device; "
                                       "set TMPDIR in the device's environment to use another folder)")

    def _exec(self, cmd: list[str], timeout_s: float, what: str,
              stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, stdin=stdin)
        except FileNotFoundError:
            raise ToolMissing(f"`{cmd[0]}` not found: the SSH runner uses the system OpenSSH client",
                              hint="apt-get install openssh-client") from None
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.t.url}: timed out after {timeout_s:g} s while trying to {what}",
                              hint="check the device is up and not overloaded; raise the timeout for big models",
                              ) from None
        if p.returncode == 255:
            raise classify_ssh_error(self.t, p.stderr, what)
        return p


def classify_ssh_error(t: SshTarget, stderr: str, what: str) -> DeviceError:
    """Turn OpenSSH's exit-255 stderr into a message with the fix."""
    err = stderr.strip()
    last = err.splitlines()[-1] if err else "no message"
    host = t.host + (f" -p {t.port}" if t.port else "")
    p_opt = f"-p {t.port} " if t.port else ""
    keyscan = f"ssh-keyscan {p_opt}{t.host} >> ~/.ssh/known_hosts"
    if "Host key verification failed" in err or "No ED25519 host key is known" in err or "host key is known" in err:
        return DeviceError(f"{t.url}: the host key of {t.host} is not in known_hosts (or does not match)",
                           hint=f"connect once by hand to check and accept it: ssh {p_opt}{t.destination}   "
                                f"(or, after verifying the fingerprint: {keyscan}); "
                                "edgeq never disables host-key checking")
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in err:
        return DeviceError(f"{t.url}: the host key of {t.host} CHANGED since it was recorded",
                           hint=f"if the device was reinstalled: ssh-keygen -R {t.host}, then ssh once to accept "
                                "the new key")
    if "Permission denied" in err or "Too many authentication failures" in err:
        return DeviceError(f"{t.url}: authentication failed for {t.destination} ({last})",
                           hint=f"set up key login: ssh-copy-id {p_opt}{t.destination}   "
                                "(edgeq runs ssh in BatchMode: no password prompt)")
    if any(s in err for s in ("Connection refused", "timed out", "No route to host", "Could not resolve",
                              "Network is unreachable", "Name or service not known", "Connection closed",
                              "Connection reset")):
        return DeviceError(f"{t.url}: cannot reach {host} ({last})",
                           hint="check the address and port, that the device is powered and sshd runs "
                                "(Raspberry Pi: enable SSH in raspi-config)")
    return DeviceError(f"{t.url}: ssh failed while trying to {what}: {last}")


def remote_word(path: str) -> str:
    """A shell word for a remote program path: quoted, except that a leading `~/` means the device user's home
    (quoting would make it a literal `~` folder; expanding it here would give this machine's home). A relative
    path with a folder (`litert/bin/python`) is relative to that home too, as it would be in `ssh host CMD`, not
    to the temp folder the runner is started in; a bare name (`python3.11`) is looked up in the device's PATH."""
    if path == "~" or path.startswith("~/"):
        rest = path[2:]
        return '"$HOME"' + ("/" + shlex.quote(rest) if rest else "")
    if "/" in path and not path.startswith("/"):
        return '"$HOME"/' + shlex.quote(path)
    return shlex.quote(path)


def _run_script(remote_dir: str, python: str, argv: list[str]) -> str:
    """The remote shell command: trap removes the folder whatever happens, then run the runner."""
    d = shlex.quote(remote_dir)
    run = " ".join(shlex.quote(a) for a in argv)
    py = remote_word(python)
    return (f"trap 'rm -rf {d}' EXIT HUP INT TERM; cd {d} || exit 97; "
            f"command -v {py} >/dev/null 2>&1 || exit 98; "
            f"{py} -u {run}")


def _no_python(url: str, python: str) -> DeviceError:
    if python == "python3":
        return DeviceError(f"{url}: no `python3` on the device",
                           hint="install it (Raspberry Pi OS: sudo apt install python3 python3-numpy), then "
                                "python3 -m pip install ai-edge-litert -- or, where pip refuses the system Python "
                                "(Bookworm), a venv: python3 -m venv ~/litert && ~/litert/bin/pip install "
                                "ai-edge-litert numpy, and pass --remote-python '~/litert/bin/python'")
    ls = shlex.quote("ls -l " + python)  # expanded by the device's shell, like the run itself
    return DeviceError(f"{url}: no `{python}` on the device (--remote-python: not found or not executable there)",
                       hint=f"check it on the device: ssh {parse_ssh_url(url).destination} {ls}"
                            "; give the device's own path (an absolute path, or '~/...' quoted so your shell does "
                            "not expand it); to make a venv there: python3 -m venv ~/litert && ~/litert/bin/pip "
                            "install ai-edge-litert numpy")


def run_ssh(model: str | Path, inputs: str | Path, url: str, *, threads: int = 4, warmup: int = 3, runs: int = 20,
            kernels: str = "default", timeout_s: float = 300, ssh_options: tuple[str, ...] = (),
            python: str = "python3") -> RunnerResult:
    """Copy model + inputs + runner to a fresh temp folder on the device, run, clean up, return the result."""
    t = parse_ssh_url(url)
    s = SshSession(t, ssh_options)
    step_timeout = CONNECT_TIMEOUT_S + 30
    p = s.run('mktemp -d "${TMPDIR:-/tmp}/edgeq-bench.XXXXXX"', step_timeout, "create a temp folder")
    remote_dir = p.stdout.strip()
    if p.returncode != 0 or not _TMPDIR_RE.match(remote_dir):
        raise DeviceError(f"{url}: mktemp -d failed on the device: {(p.stderr or p.stdout).strip()[-300:]}",
                          hint="is /tmp writable on the device?")
    try:
        model, inputs = Path(model), Path(inputs)
        # Copying is a step of its own: a short --timeout for the run must not starve the upload (nor the reverse).
        s.copy_to([model, inputs, RUNNER_PATH], remote_dir, max(timeout_s, step_timeout))
        argv = ["remote_runner.py", *runner_args(model.name, inputs=inputs.name, threads=threads, warmup=warmup,
                                                 runs=runs, kernels=kernels)]
        p = s.run(_run_script(remote_dir, python, argv), timeout_s, "run the benchmark")
        if p.returncode == 98:
            raise _no_python(url, python)
        if p.returncode == 97:
            raise DeviceError(f"{url}: the temp folder {remote_dir} vanished before the run")
        if "EDGEQ_RESULT" not in p.stdout:
            sig = p.returncode - 128 if p.returncode > 128 else 0
            tail = "\n".join(p.stderr.strip().splitlines()[-10:])
            if "Exec format error" in p.stderr or "cannot execute binary" in p.stderr:
                raise DeviceError(f"{url}: the device cannot execute the runtime's binaries (wrong architecture)"
                                  f"\n{tail}", hint="install the LiteRT wheel built for the device's own CPU")
            raise DeviceError(f"{url}: the runner {'died with signal ' + str(sig) if sig else 'failed'} "
                              f"(exit {p.returncode})\n{tail}",
                              hint="the runtime may have crashed on this model; try it with --device host")
        obj = parse_runner_output(p.stdout, p.stderr, url)
        return result_from_json(obj, log=p.stderr)
    finally:
        # The remote trap already removed the folder; this covers a run killed by our timeout.
        try:
            s.run(f"rm -rf {shlex.quote(remote_dir)}", step_timeout, "remove the temp folder")
        except DeviceError:
            pass
