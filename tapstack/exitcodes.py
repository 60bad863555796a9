"""Exit codes of the ``tapstack`` command, one meaning each."""

import enum


class ExitStatus(enum.IntEnum):
    """What a ``tapstack`` run ended with; scripts may rely on these numbers."""

    OK = 0
    #: The command ran and found problems: preflight errors, a failed check.
    FINDINGS = 1
    #: The command was called wrongly or its configuration is invalid.
    USAGE = 2
    #: LocalStack could not be started, reached or stopped.
    RUNTIME = 3
    #: A deploy, an update or a delete of the stack failed.
    DEPLOY = 4
    #: Something did not happen before its deadline.
    TIMEOUT = 5
    #: Anything else; rerun with --debug for the traceback.
    INTERNAL = 70
