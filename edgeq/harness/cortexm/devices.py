"""Cortex-M harness, real boards: flash and run through pyOCD (RAM mailbox) or read a UART with pyserial.
Pipeline position: bench stage (see __init__)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from edgeq.errors import DeviceError, EdgeqError, ToolMissing
from edgeq.harness.cortexm.build import _elf_symbols
from edgeq.harness.cortexm.run import _tail


def _pyocd_session(probe_id: str | None, pyocd_target: str | None):
    """An open-able pyOCD session for the chosen probe (lazy import: pyOCD is optional)."""
    try:
        from pyocd.core.helpers import ConnectHelper
    except ImportError:
        raise ToolMissing(
            "pyOCD is not installed (needed to flash and run a board)", hint="pip install pyocd"
        ) from None
    options = {"target_override": pyocd_target} if pyocd_target else {}
    session = ConnectHelper.session_with_chosen_probe(unique_id=probe_id, blocking=False, options=options)
    if session is None:
        raise DeviceError(
            f"no debug probe found{' with id ' + probe_id if probe_id else ''}",
            hint="connect the board over USB; `pyocd list` shows the probes",
        )
    return session


def flash_and_reset(elf: Path, probe_id: str | None, pyocd_target: str | None) -> None:
    """Program `elf` through pyOCD and let it run from reset (the serial:PORT path)."""
    session = _pyocd_session(probe_id, pyocd_target)
    from pyocd.flash.file_programmer import FileProgrammer

    with session:
        FileProgrammer(session).program(str(elf))
        session.board.target.reset()


def run_pyocd(elf: Path, probe_id: str | None, pyocd_target: str | None, timeout_s: float) -> str:
    """Flash and run a -DEQ_IO_MEMLOG firmware on a board through pyOCD; return its console text.

    The firmware writes its report into a RAM mailbox (eq_log_buf / eq_log_len) and sets eq_log_done; the host
    polls that word through the probe, so neither semihosting nor RTT is needed on the host side."""
    session = _pyocd_session(probe_id, pyocd_target)
    from pyocd.flash.file_programmer import FileProgrammer

    syms = _elf_symbols(elf)
    missing = [s for s in ("eq_log_buf", "eq_log_len", "eq_log_done", "eq_log_exit_code") if s not in syms]
    if missing:
        raise EdgeqError(
            f"{elf}: not a mailbox firmware (missing {', '.join(missing)})", hint='build it with io="memlog"'
        )
    with session:
        FileProgrammer(session).program(str(elf))
        target = session.board.target
        target.reset_and_halt()
        target.write32(syms["eq_log_done"], 0)
        target.resume()
        deadline = time.monotonic() + timeout_s
        while target.read32(syms["eq_log_done"]) != 0xE0D0E0D0:
            if time.monotonic() > deadline:
                target.halt()
                pc = target.read_core_register("pc")
                text = _read_mailbox(target, syms)
                raise DeviceError(
                    f"board run of {elf} timed out after {timeout_s:g} s (pc=0x{pc:08x})\n{_tail(text)}",
                    hint="raise timeout_s, or look up pc with arm-none-eabi-addr2line",
                )
            time.sleep(0.05)
        text = _read_mailbox(target, syms)
        code = target.read32(syms["eq_log_exit_code"])
    if code != 0:
        raise DeviceError(f"firmware {elf} on the board exited with status {code}\n{_tail(text)}")
    return text


def _read_mailbox(target, syms: dict[str, int]) -> str:
    n = min(target.read32(syms["eq_log_len"]), 1 << 20)
    return bytes(target.read_memory_block8(syms["eq_log_buf"], n)).decode(errors="replace")


def run_serial(port: str, baud: int, timeout_s: float, on_open: Callable[[], None] | None = None) -> str:
    """Read the report of a -DEQ_IO_UART firmware from a serial port, up to its "EQ exit N" line.

    on_open runs once the port is open (flash + reset the board, start an emulator): output sent before the
    port is open would be lost."""
    try:
        import serial  # pyserial
    except ImportError:
        raise ToolMissing(
            "pyserial is not installed (needed for device serial:PORT)", hint="pip install pyserial"
        ) from None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        with serial.Serial(port, baud, timeout=0.5) as ser:
            ser.reset_input_buffer()
            if on_open is not None:
                on_open()
            while time.monotonic() < deadline:
                raw = ser.readline()
                if not raw:
                    continue
                line = raw.decode(errors="replace").rstrip("\r\n")
                lines.append(line)
                if line.startswith("EQ exit"):  # a fault prints "EQ fault ..." then "EQ exit 3"
                    break
    except serial.SerialException as e:
        raise DeviceError(
            f"serial port {port}: {e}", hint="check the port name and permissions (dialout group)"
        ) from None
    text = "\n".join(lines)
    if not any(ln.startswith("EQ exit") for ln in lines):
        raise DeviceError(
            f"no complete report on {port} within {timeout_s:g} s\n{_tail(text)}",
            hint="reset the board after opening the port, or raise timeout_s",
        )
    if any(ln.startswith("EQ fault") for ln in lines) or not any(ln == "EQ exit 0" for ln in lines):
        raise DeviceError(f"firmware on {port} failed\n{_tail(text)}")
    return text
