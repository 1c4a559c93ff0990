"""One error hierarchy for the whole pipeline; the CLI maps each class to an exit code (130: interrupted).

Every error carries a message that names the file / tensor / op / key at fault and a `hint` saying how to fix
it. Library code raises these; only the CLI prints them.
"""

from __future__ import annotations

import difflib

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHECK_FAILED = 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class EdgeqError(Exception):
    """Any user-facing failure. `hint` is the actionable fix, shown on its own line."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(EdgeqError):
    """Bad arguments: unknown target, wrong option combination, an output folder that would be overwritten."""

    exit_code = EXIT_USAGE


class ModelError(EdgeqError):
    """The model file is missing, corrupt, or of an unsupported kind."""


class DataError(EdgeqError):
    """Calibration / evaluation data does not fit the model or fails linting."""


class ProfileError(EdgeqError):
    """A target profile (TOML) is malformed: unknown key, wrong type, broken `extends`."""

    exit_code = EXIT_USAGE


class ToolMissing(EdgeqError):
    """An external tool or optional Python package is not installed; `hint` has the install command."""


class CheckFailed(EdgeqError):
    """The model violates the target profile; `findings` lists every violation."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str, findings=(), hint: str | None = None):
        super().__init__(message, hint)
        self.findings = tuple(findings)


class CodegenError(EdgeqError):
    """The model cannot be turned into C (unsupported op, non-int8 tensor, ...)."""

    exit_code = EXIT_CHECK_FAILED


class DeviceError(EdgeqError):
    """A device or emulator run failed: unreachable, crashed, timed out, wrong output."""


def did_you_mean(word: str, choices) -> str:
    """' Did you mean `x`?' for the closest choice, or '' when nothing is close."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if not close:
        return ""
    ratio = [difflib.SequenceMatcher(None, word, c).ratio() for c in close]
    best = sorted(c for c, r in zip(close, ratio) if r == ratio[0])  # ties: name them all, in order
    return " Did you mean " + " or ".join(f"`{c}`" for c in best) + "?"
