"""Which Python runs the Lambda environments, and which functions it can run at all."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import threading

from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion

from tapstack_host_executor.errors import InterpreterNotFound, UnsupportedFunction

LOG = logging.getLogger(__name__)

INTERPRETER_ENV_VAR = "TAPSTACK_LAMBDA_PYTHON"
# Not sys.executable: LocalStack's own venv pins an old boto3, and handler code must not
# see LocalStack's packages.
DEFAULT_INTERPRETER = "python3"
VERSION_QUERY_TIMEOUT_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found on this host."""

    path: str
    version: str
    source: str


_lock = threading.Lock()
_interpreters: dict[str, Interpreter] = {}
_warned_functions: set[str] = set()


def lambda_interpreter() -> Interpreter:
    """Return the interpreter named by ``TAPSTACK_LAMBDA_PYTHON``, else ``python3`` on PATH.

    The first lookup of a name logs which interpreter was chosen.

    :raises InterpreterNotFound: the name resolves to no runnable Python.
    """
    configured = os.environ.get(INTERPRETER_ENV_VAR, "").strip()
    name = configured or DEFAULT_INTERPRETER
    source = INTERPRETER_ENV_VAR if configured else f"default {DEFAULT_INTERPRETER!r} on PATH"

    with _lock:
        if name in _interpreters:
            return _interpreters[name]

        path = shutil.which(name)
        if path is None:
            raise InterpreterNotFound(
                f"No Python interpreter {name!r} ({source}) for Lambda environments; "
                f"set {INTERPRETER_ENV_VAR} in LocalStack's environment to one that exists."
            )
        interpreter = Interpreter(path=path, version=_query_version(path), source=source)
        _interpreters[name] = interpreter

    LOG.info(
        "Lambda environments run with %s (Python %s, %s)",
        interpreter.path,
        interpreter.version,
        interpreter.source,
    )
    return interpreter


def _query_version(path: str) -> str:
    try:
        completed = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=VERSION_QUERY_TIMEOUT_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InterpreterNotFound(
            f"{path} ({INTERPRETER_ENV_VAR}) did not run as Python: {exc}; "
            "point it at a Python 3 interpreter."
        ) from exc
    return completed.stdout.strip()


def check_supported(function_version: FunctionVersion) -> None:
    """Refuse functions a host Python process cannot run: images and non-Python runtimes.

    :raises UnsupportedFunction: with a message naming the runtime or package type.
    """
    config = function_version.config
    name = function_version.id.function_name

    if config.package_type == PackageType.Image:
        raise UnsupportedFunction(
            f"Function {name!r} is a container image; the tapstack-host Lambda executor runs "
            "only Python zip functions. Use LocalStack's docker executor for images."
        )
    runtime = config.runtime or ""
    if not runtime.startswith("python"):
        raise UnsupportedFunction(
            f"Function {name!r} uses runtime {runtime or 'none'}, which the tapstack-host "
            "Lambda executor does not support (it runs only python3.x functions). "
            "Use LocalStack's docker executor for it."
        )


def warn_on_version_mismatch(function_version: FunctionVersion, interpreter: Interpreter) -> None:
    """Log once per function when its declared runtime is not the interpreter's version."""
    declared = (function_version.config.runtime or "").removeprefix("python")
    arn = function_version.qualified_arn
    if declared == interpreter.version:
        return

    with _lock:
        if arn in _warned_functions:
            return
        _warned_functions.add(arn)
    LOG.warning(
        "Function %s declares runtime python%s but runs on Python %s (%s); "
        "set %s to a python%s interpreter to match",
        arn,
        declared,
        interpreter.version,
        interpreter.path,
        INTERPRETER_ENV_VAR,
        declared,
    )
