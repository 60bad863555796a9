"""Errors of the host executor; each carries the Lambda error type an invocation reports."""


class HostExecutorError(Exception):
    """Base class: an execution environment could not be started or run."""

    error_type = "HostExecutor.Error"


class InterpreterNotFound(HostExecutorError):
    """The interpreter for Lambda environments does not exist or is not Python."""

    error_type = "HostExecutor.InterpreterNotFound"


class UnsupportedFunction(HostExecutorError):
    """The function's runtime or package type cannot run as a host Python process."""

    error_type = "HostExecutor.UnsupportedRuntime"
