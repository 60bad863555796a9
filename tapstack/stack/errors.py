"""Failures of the stack part of the harness: deploy, discovery, outputs."""

from tapstack.errors import TapStackError
from tapstack.exitcodes import ExitStatus


class StackError(TapStackError):
    """Base class of every failure in ``tapstack.stack``."""

    exit_status = ExitStatus.DEPLOY


class DeployError(StackError):
    """A create, update or delete did not end well; carries the stack's last events."""

    exit_status = ExitStatus.DEPLOY

    def __init__(self, message: str, *, events: list[str] | None = None):
        self.events = list(events or [])
        if self.events:
            message += "\nlast stack events (newest first):\n  " + "\n  ".join(self.events)
        super().__init__(message)


class DiscoveryError(StackError):
    """No single stack could be chosen: the choice has to be made explicitly."""

    exit_status = ExitStatus.USAGE

    def __init__(self, message: str, *, candidates: list[str] | None = None):
        self.candidates = list(candidates or [])
        super().__init__(message)


class OutputsError(StackError):
    """The stack lacks an output the harness relies on, or the outputs file is unusable."""

    exit_status = ExitStatus.DEPLOY
