"""The harness's exception hierarchy: every failure it raises on purpose is a TapStackError."""

from tapstack.exitcodes import ExitStatus


class TapStackError(Exception):
    """Base class; ``exit_status`` tells the CLI which exit code the failure maps to."""

    exit_status = ExitStatus.INTERNAL


class ConfigurationError(TapStackError):
    """A setting, an option or an input file is invalid."""

    exit_status = ExitStatus.USAGE
