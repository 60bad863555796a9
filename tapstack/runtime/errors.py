"""Failures of bringing LocalStack up, reaching it or provisioning what it needs."""

from pathlib import Path

from tapstack.errors import TapStackError
from tapstack.exitcodes import ExitStatus

LOG_TAIL_LINES = 30


class LocalStackRuntimeError(TapStackError):
    """Base class of the runtime's failures."""

    exit_status = ExitStatus.RUNTIME


class ModeUnavailableError(LocalStackRuntimeError):
    """The requested runtime mode cannot work here (no endpoint, no Docker engine, ...)."""


class ProvisioningError(LocalStackRuntimeError):
    """A host-mode prerequisite (venv, DynamoDB Local, JRE, agent) could not be put in place."""


class RuntimeStartError(LocalStackRuntimeError):
    """LocalStack did not start or did not become ready; carries the tail of its log."""

    def __init__(self, message: str, log_path: Path | None = None, log_tail: str = ""):
        self.log_path = log_path
        self.log_tail = log_tail
        text = message
        if log_path is not None:
            text += f"\nlog: {log_path}"
        if log_tail:
            text += f"\nlast lines of the log:\n{log_tail}"
        super().__init__(text)


def read_log_tail(log_path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or an empty string when there is none."""
    if log_path is None:
        return ""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
