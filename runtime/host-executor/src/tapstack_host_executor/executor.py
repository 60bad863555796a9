"""A LocalStack runtime executor that runs each Lambda execution environment as a host process.

LocalStack 4.9.2 creates one executor per execution environment and drives it through
``start``, ``invoke`` and ``stop``. Here each environment is one process running
``bootstrap.py`` with the function's interpreter, in its own session (so a stop kills the
handler's children too), talking to LocalStack over the same HTTP contract as LocalStack's
own init: it reports ready, takes ``POST /invoke``, and posts logs and results back to the
executor endpoint under ``/_localstack_lambda/<id>/``.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
from http import HTTPStatus
from pathlib import Path

import requests
from localstack import config
from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    InvokeSendError,
    ShutdownDuringStartup,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from werkzeug import Request

from tapstack_host_executor import bootstrap
from tapstack_host_executor.errors import HostExecutorError
from tapstack_host_executor.interpreter import (
    check_supported,
    lambda_interpreter,
    warn_on_version_mismatch,
)

LOG = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
BOOTSTRAP_PATH = Path(bootstrap.__file__).resolve()
# Time the bootstrap gets, past the function's timeout, to report the timeout itself
# before the executor kills the process and reports it instead.
TIMEOUT_GRACE_SECONDS = 5
SEND_INVOKE_TIMEOUT_SECONDS = 10
KILL_WAIT_SECONDS = 5
LOG_TAIL_CHARS = 4000
# Host variables an environment keeps; everything else comes from LocalStack, as in Lambda.
HOST_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SSL_CERT_FILE")

_live_processes: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()


def gateway_host() -> str:
    """The address of LocalStack's gateway as an environment process reaches it."""
    host = config.GATEWAY_LISTEN[0].host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return LOOPBACK
    return f"[{host}]" if ":" in host else host


def kill_all_environments() -> None:
    """Kill every environment process still running; the safety net for LocalStack's exit.

    LocalStack stops environments on shutdown, but gives the Lambda service only 5 s for it.
    No signal handler is installed: LocalStack owns SIGTERM/SIGINT, and this module is
    imported on a request thread where ``signal.signal`` is not allowed. A LocalStack killed
    with SIGKILL is covered by the bootstrap, which exits when its parent goes away.
    """
    with _live_lock:
        processes = list(_live_processes.values())
    for process in processes:
        _kill_process_group(process)


atexit.register(kill_all_environments)


def _kill_process_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.kill()
    try:
        process.wait(timeout=KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        LOG.warning("Environment process %s did not exit after SIGKILL", process.pid)


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class HostExecutorEndpoint(ExecutorEndpoint):
    """LocalStack's executor endpoint, taught the port a bootstrap reports with ``ready``."""

    def __init__(self, executor_id: str) -> None:
        super().__init__(executor_id, container_address=LOOPBACK, container_port=None)

    def status_ready(self, request: Request, executor_id: str) -> Response:
        try:
            self.container_port = int(json.loads(request.data)["port"])
        except (ValueError, KeyError, TypeError):
            LOG.warning(
                "Environment %s reported ready without a port: %r", executor_id, request.data
            )
            return Response(status=HTTPStatus.BAD_REQUEST)
        if self.startup_future.done():
            return Response(status=HTTPStatus.CONFLICT)
        self.startup_future.set_result(True)
        return Response(status=HTTPStatus.ACCEPTED)

    def expect_startup(self) -> None:
        """Arm a new startup future, for the first start and for each restart."""
        self.startup_future = concurrent.futures.Future()

    def send_invoke(self, payload: dict, wait_seconds: float) -> InvocationResult | None:
        """Send one invocation; return its result, or None if none came within ``wait_seconds``."""
        self.invocation_future = concurrent.futures.Future()
        self.logs = None

        url = f"http://{self.container_address}:{self.container_port}/invoke"
        try:
            response = requests.post(
                url,
                json=payload,
                proxies={"http": "", "https": ""},
                timeout=SEND_INVOKE_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise InvokeSendError(f"Could not send invocation to {url}: {exc}") from exc
        if not response.ok:
            raise InvokeSendError(f"Invocation sent to {url} got HTTP {response.status_code}")

        try:
            return self.invocation_future.result(timeout=wait_seconds)
        except concurrent.futures.TimeoutError:
            return None

    def settle_invocation(self, result: InvocationResult) -> None:
        """Give a still-pending invocation its result (the environment cannot any more)."""
        future = self.invocation_future
        if future is None or future.done():
            return
        try:
            future.set_result(result)
        except concurrent.futures.InvalidStateError:
            pass

    def fail_startup(self, payload: bytes) -> None:
        future = self.startup_future
        if future is None or future.done():
            return
        try:
            future.set_exception(StatusErrorException("Environment startup failed", payload))
        except concurrent.futures.InvalidStateError:
            pass


class HostRuntimeExecutor(RuntimeExecutor):
    """Runs one Lambda execution environment as a process on this host."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = HostExecutorEndpoint(id)
        self._lock = threading.RLock()
        self._process: subprocess.Popen | None = None
        self._killed_pids: set[int] = set()
        self._stopped = False
        self._environment: dict[str, str] = {}
        self._command: list[str] = []
        self._request_id: str | None = None
        log_dir = Path(config.dirs.tmp or tempfile.gettempdir()) / "tapstack-host-executor"
        self._log_path = log_dir / f"{id}.log"

    # lifecycle

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        try:
            check_supported(self.function_version)
            interpreter = lambda_interpreter()
            self._environment = self._environment_variables(env_vars)
        except HostExecutorError as exc:
            # LocalStack itself logs the failure as a warning, with this message.
            LOG.debug("Environment %s not started: %s", self.id, exc)
            # LocalStack turns this payload into the invocation's error response.
            raise StatusErrorException(str(exc), _error_payload(exc.error_type, str(exc))) from exc
        warn_on_version_mismatch(self.function_version, interpreter)

        self._command = [interpreter.path, str(BOOTSTRAP_PATH), "--parent-pid", str(os.getpid())]
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self.executor_endpoint.wait_for_startup()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            process = self._process
        if process is not None:
            self._kill(process)
            LOG.info(
                "Stopped environment %s of %s (pid %s)",
                self.id,
                self.function_version.qualified_arn,
                process.pid,
            )
        try:
            self.executor_endpoint.shutdown()
        except Exception as exc:  # noqa: BLE001 - stopping must go on; LocalStack does the same
            LOG.debug("Could not shut down executor endpoint of %s: %s", self.id, exc)
        self._log_path.unlink(missing_ok=True)

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        with self._lock:
            process = self._process
            restart = process is None or process.poll() is not None
        if restart:
            # The process of this environment ended (a timeout, a crash): start afresh, which
            # is what Lambda does after a timeout, too (the next invocation has an Init).
            LOG.info("Environment %s restarts its process for %s", self.id, request_id)
            self._spawn()
            self._wait_for_restart()

        timeout = self.function_version.config.timeout
        LOG.debug("Invoking %s in environment %s (timeout %s s)", request_id, self.id, timeout)
        self._request_id = request_id
        result = self.executor_endpoint.send_invoke(payload, timeout + TIMEOUT_GRACE_SECONDS)

        if result is None:
            LOG.warning(
                "Environment %s did not report %s within %s s past its timeout; killing it",
                self.id,
                request_id,
                TIMEOUT_GRACE_SECONDS,
            )
            self._kill_current()
            result = self._timeout_result(request_id, timeout)
        elif result.is_error and _is_timeout(result.payload):
            # The bootstrap reported the timeout; the handler may still run, and its children.
            self._kill_current()
        self._request_id = None
        return result

    # addresses

    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        return gateway_host()

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        prefix = self.executor_endpoint.get_endpoint_prefix()
        return f"http://{self.get_endpoint_from_executor()}:{port}{prefix}"

    def get_logs(self) -> str:
        try:
            text = self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "The environment process wrote no output."
        return text[-LOG_TAIL_CHARS:]

    # versions

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # Unsupported runtimes are refused when an environment starts, not here: a failed
        # preparation leaves the function in state Failed, with a vaguer message.
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Nothing of ours outlives a version: LocalStack removes the unzipped code itself.
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            lambda_interpreter()
        except HostExecutorError as exc:
            LOG.warning("%s", exc)
            return False
        return True

    # processes

    def _environment_variables(self, env_vars: dict[str, str]) -> dict[str, str]:
        code_dir = str(self._code_dir())
        environment = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        environment.update({name: str(value) for name, value in env_vars.items()})
        environment["LAMBDA_TASK_ROOT"] = code_dir
        environment["LAMBDA_RUNTIME_DIR"] = str(BOOTSTRAP_PATH.parent)
        environment["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{self.function_version.config.runtime}"
        if not config.LAMBDA_DISABLE_AWS_ENDPOINT_URL:
            port = config.GATEWAY_LISTEN[0].port
            environment.setdefault("AWS_ENDPOINT_URL", f"http://{gateway_host()}:{port}")
        return environment

    def _code_dir(self) -> Path:
        code = self.function_version.config.code
        if code is None:
            raise HostExecutorError(f"Function {self.function_version.qualified_arn} has no code")
        return Path(code.get_unzipped_code_location())

    def _spawn(self) -> None:
        with self._lock:
            if self._stopped:
                raise ShutdownDuringStartup(f"Environment {self.id} was stopped")
            self.executor_endpoint.expect_startup()
            with open(self._log_path, "ab") as log_file:
                process = subprocess.Popen(
                    self._command,
                    cwd=self._environment["LAMBDA_TASK_ROOT"],
                    env=self._environment,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._process = process
        with _live_lock:
            _live_processes[process.pid] = process

        threading.Thread(
            target=self._watch,
            args=(process,),
            name=f"lambda-host-env-{self.id[:8]}",
            daemon=True,
        ).start()
        LOG.info(
            "Started environment %s of %s as process %s",
            self.id,
            self.function_version.qualified_arn,
            process.pid,
        )

    def _wait_for_restart(self) -> None:
        wait_seconds = config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        try:
            self.executor_endpoint.startup_future.result(timeout=wait_seconds)
        except concurrent.futures.CancelledError as exc:
            raise ShutdownDuringStartup(f"Environment {self.id} stopped while restarting") from exc
        except concurrent.futures.TimeoutError as exc:
            self._kill_current()
            raise HostExecutorError(
                f"Environment {self.id} did not report ready within {wait_seconds} s of a "
                f"restart (LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT). Its output:\n{self.get_logs()}"
            ) from exc

    def _watch(self, process: subprocess.Popen) -> None:
        """Reap the process; if it died on its own, fail whatever waited on it."""
        returncode = process.wait()
        with _live_lock:
            _live_processes.pop(process.pid, None)
        with self._lock:
            if process.pid in self._killed_pids or self._stopped:
                return
        if returncode == bootstrap.TIMEOUT_EXIT_STATUS:
            LOG.debug("Environment %s process %s exited after a timeout", self.id, process.pid)
            return

        if returncode < 0:
            how = f"signal: {signal.Signals(-returncode).name}"
        else:
            how = f"exit status {returncode}"
        LOG.warning("Environment %s process %s ended (%s)", self.id, process.pid, how)
        output = self.get_logs()

        self.executor_endpoint.fail_startup(
            _error_payload(
                "Runtime.ExitError",
                f"Environment process exited before it was ready ({how}). Its output:\n{output}",
            )
        )
        request_id = self._request_id
        if request_id is not None:
            message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
            self.executor_endpoint.settle_invocation(
                InvocationResult(
                    request_id=request_id,
                    payload=_error_payload("Runtime.ExitError", message),
                    is_error=True,
                    logs=f"{message}\nRuntime.ExitError\n",
                )
            )

    def _kill_current(self) -> None:
        with self._lock:
            process = self._process
        if process is not None:
            self._kill(process)

    def _kill(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._killed_pids.add(process.pid)
        _kill_process_group(process)
        with _live_lock:
            _live_processes.pop(process.pid, None)
        LOG.debug("Killed environment %s process group %s", self.id, process.pid)

    @staticmethod
    def _timeout_result(request_id: str, timeout: int) -> InvocationResult:
        message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        return InvocationResult(
            request_id=request_id,
            payload=_error_payload("Sandbox.Timedout", message),
            is_error=True,
            logs=f"{message}\n",
        )


def _is_timeout(payload: bytes | None) -> bool:
    try:
        return json.loads(payload or b"{}").get("errorType") == "Sandbox.Timedout"
    except (ValueError, AttributeError):
        return False
