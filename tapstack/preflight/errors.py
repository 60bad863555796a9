"""Exceptions of the preflight checks: bad input, unreadable account settings, failed checks."""

from tapstack.errors import TapStackError
from tapstack.exitcodes import ExitStatus


class PreflightError(TapStackError):
    """Base class of every failure the preflight raises on purpose."""

    exit_status = ExitStatus.USAGE


class TemplateError(PreflightError):
    """The template is missing, is not JSON, or is not a CloudFormation template."""


class ParameterError(PreflightError):
    """A parameter set is unknown or malformed, or an override is not ``KEY=VALUE``."""


class AccountSettingsError(PreflightError):
    """Lambda's account settings could not be read from the endpoint."""

    exit_status = ExitStatus.RUNTIME


class PreflightFailed(PreflightError):
    """The preflight found errors; ``report`` holds every finding."""

    exit_status = ExitStatus.FINDINGS

    def __init__(self, report):
        self.report = report
        errors = report.errors
        lines = [f"preflight found {len(errors)} error(s) in {report.template}:"]
        lines += [f"  - {finding.one_line()}" for finding in errors]
        super().__init__("\n".join(lines))
