"""Exceptions of the benchmarks."""

from tapstack.errors import TapStackError
from tapstack.exitcodes import ExitStatus


class BenchmarkError(TapStackError):
    """A benchmark could not measure what it set out to (a function failed, a resource
    never became ready); the message says what and the value seen."""

    exit_status = ExitStatus.FINDINGS
