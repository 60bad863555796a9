"""The runtime inside one host-mode Lambda execution environment.

The executor starts this file as a script with the function's interpreter (which is not
LocalStack's), so it imports nothing but the standard library and nothing from its own
package. It mirrors the part of LocalStack's init that LocalStack talks to:

* it listens on 127.0.0.1 (a free port chosen by the OS) and reports the port with
  ``POST <LOCALSTACK_RUNTIME_ENDPOINT>/status/<LOCALSTACK_RUNTIME_ID>/ready``;
* ``POST /invoke`` is answered at once; the handler then runs on the main thread (as in
  Lambda, so ``signal`` works in handler code), and the outcome goes back to
  ``invocations/<id>/logs`` and ``invocations/<id>/response`` or ``.../error``;
* the function's timeout is enforced here: when it passes, the timeout error and the logs
  so far are reported and the process exits (the executor kills what is left).

Usage: ``python bootstrap.py --parent-pid PID``. The process exits when PID goes away, so a
LocalStack killed hard leaves no environment behind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import queue
import resource
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

# Exit status after a timeout; the executor kills the process group anyway.
TIMEOUT_EXIT_STATUS = 124
PARENT_POLL_SECONDS = 1.0
REPORT_TIMEOUT_SECONDS = 10


class LambdaContext:
    """The ``context`` argument of a handler, with the attributes Lambda's Python runtime has."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r})"
        )


class InitError(Exception):
    """The handler could not be loaded; carries the Lambda error type and message."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str]) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack_trace = stack_trace


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record, like Lambda's log format expects."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class OutputCapture:
    """Sends file descriptors 1 and 2 to a temporary file while a handler runs.

    Capturing at descriptor level also catches C extensions, child processes and logging
    handlers that hold on to the original ``sys.stderr``.
    """

    def __init__(self) -> None:
        self._saved_stdout = os.dup(1)
        self._saved_stderr = os.dup(2)
        self._file = None
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self._flush()
            self._file = tempfile.TemporaryFile()
            os.dup2(self._file.fileno(), 1)
            os.dup2(self._file.fileno(), 2)

    def end(self) -> str:
        """Restore the descriptors and return what was written; safe to call twice."""
        with self._lock:
            if self._file is None:
                return ""
            self._flush()
            os.dup2(self._saved_stdout, 1)
            os.dup2(self._saved_stderr, 2)
            self._file.seek(0)
            text = self._file.read().decode("utf-8", errors="replace")
            self._file.close()
            self._file = None
            return text

    @staticmethod
    def _flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass


class Runtime:
    """Loads the handler once and runs invocations one at a time."""

    def __init__(self) -> None:
        self.runtime_endpoint = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"].rstrip("/")
        self.runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
        self.handler_name = os.environ.get("_HANDLER", "")
        self.timeout_seconds = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self.memory_size = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")

        self.invocations: queue.Queue[dict] = queue.Queue()
        self.capture = OutputCapture()
        self.request_filter = RequestIdFilter()
        self.handler = None
        self.init_error: InitError | None = None
        self.init_logs = ""
        self.init_duration_ms: float | None = None
        self.finished = threading.Lock()
        self.finished_request_id: str | None = None

    # reporting to LocalStack

    def post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            f"{self.runtime_endpoint}/{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        # LocalStack's own address must not go through a proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=REPORT_TIMEOUT_SECONDS) as response:
            response.read()

    def report_ready(self, port: int) -> None:
        self.post(f"status/{self.runtime_id}/ready", json.dumps({"port": port}).encode())

    def report_outcome(self, request_id: str, logs: str, kind: str, body: bytes) -> bool:
        """Report logs then the result, once per invocation; False when already reported."""
        with self.finished:
            if self.finished_request_id == request_id:
                return False
            self.finished_request_id = request_id
        self.post(f"invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())
        self.post(f"invocations/{request_id}/{kind}", body)
        return True

    # init

    def setup_logging(self) -> None:
        # Lambda's Python runtime gives the root logger a handler with this shape of line.
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
        handler.formatter.converter = time.gmtime
        handler.addFilter(self.request_filter)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(python_log_level(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "")))

    def load_handler(self) -> None:
        """Import the handler's module; a failure is kept and reported with each invoke."""
        started = time.monotonic()
        self.capture.begin()
        try:
            self.handler = resolve_handler(self.handler_name)
            self.init_error = None
        except InitError as error:
            self.init_error = error
            print(f"[ERROR] {error.error_type}: {error}", file=sys.stderr)
        finally:
            self.init_logs += self.capture.end()
            self.init_duration_ms = (time.monotonic() - started) * 1000

    # invocations

    def run_forever(self) -> None:
        while True:
            self.run_invocation(self.invocations.get())

    def run_invocation(self, invocation: dict) -> None:
        request_id = invocation["invoke-id"]
        received = invocation["received"]
        deadline = received + self.timeout_seconds

        if self.handler is None and self.init_duration_ms is None:
            # Lambda retries a failed init with the next invocation.
            self.load_handler()
        init_logs, self.init_logs = self.init_logs, ""
        init_duration_ms, self.init_duration_ms = self.init_duration_ms, None

        timer = threading.Timer(
            max(0.0, deadline - time.monotonic()),
            self.time_out,
            args=(request_id, received, init_logs, init_duration_ms),
        )
        timer.daemon = True
        timer.start()

        self.request_filter.request_id = request_id
        self.capture.begin()
        kind, body = self.call_handler(invocation, deadline)
        output = self.capture.end()
        timer.cancel()

        duration_ms = (time.monotonic() - received) * 1000
        logs = self.format_logs(
            request_id, init_logs, output, duration_ms, init_duration_ms, status=None
        )
        self.report_outcome(request_id, logs, kind, body)

    def call_handler(self, invocation: dict, deadline: float) -> tuple[str, bytes]:
        request_id = invocation["invoke-id"]
        print(f"START RequestId: {request_id} Version: {self.version}")

        if self.init_error is not None:
            error = self.init_error
            return "error", error_body(error.error_type, str(error), error.stack_trace)

        try:
            raw_payload = invocation.get("payload") or "{}"
            event = json.loads(raw_payload)
            context = LambdaContext(request_id, invocation["invoked-function-arn"], deadline)
            result = self.handler(event, context)
        except Exception as exc:  # noqa: BLE001 - every handler failure is reported, as Lambda does
            stack = handler_stack(exc)
            print(f"[ERROR] {type(exc).__name__}: {exc}\nTraceback (most recent call last):")
            print("".join(stack), end="")
            return "error", error_body(type(exc).__name__, str(exc), stack)

        try:
            return "response", json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            print(f"[ERROR] Runtime.MarshalError: {message}")
            return "error", error_body("Runtime.MarshalError", message, [])

    def time_out(
        self,
        request_id: str,
        received: float,
        init_logs: str,
        init_duration_ms: float | None,
    ) -> None:
        """Runs on the timer thread when the handler overruns: report, then leave."""
        with self.finished:
            if self.finished_request_id == request_id:
                return  # the handler finished while the timer fired
        output = self.capture.end()
        now = time.time()
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        timestamp += f".{int(now * 1000) % 1000:03d}"
        seconds = f"{self.timeout_seconds:.2f}"
        output += f"{timestamp}Z {request_id} Task timed out after {seconds} seconds\n"
        duration_ms = (time.monotonic() - received) * 1000
        logs = self.format_logs(
            request_id, init_logs, output, duration_ms, init_duration_ms, status="timeout"
        )
        message = f"RequestId: {request_id} Error: Task timed out after {seconds} seconds"
        reported = True
        try:
            body = error_body("Sandbox.Timedout", message)
            reported = self.report_outcome(request_id, logs, "error", body)
        finally:
            # False only when the handler finished first: then the environment stays.
            if reported:
                os._exit(TIMEOUT_EXIT_STATUS)

    def format_logs(
        self,
        request_id: str,
        init_logs: str,
        output: str,
        duration_ms: float,
        init_duration_ms: float | None,
        status: str | None,
    ) -> str:
        max_memory_mb = peak_memory_mb()
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, round(duration_ms))} ms\t"
            f"Memory Size: {self.memory_size} MB\tMax Memory Used: {max_memory_mb} MB"
        )
        if init_duration_ms is not None:
            report += f"\tInit Duration: {init_duration_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        if not output.startswith("START"):
            # The START line went into the capture; without it (timeout) add one.
            output = f"START RequestId: {request_id} Version: {self.version}\n{output}"
        if output and not output.endswith("\n"):
            output += "\n"
        return f"{init_logs}{output}END RequestId: {request_id}\n{report}\n"


def python_log_level(lambda_level: str) -> int:
    """The logging level for one of Lambda's log levels (TRACE ... FATAL); WARNING if unset."""
    levels = {
        "TRACE": logging.DEBUG,
        "DEBUG": logging.DEBUG,
        "INFO": logging.INFO,
        "WARN": logging.WARNING,
        "ERROR": logging.ERROR,
        "FATAL": logging.CRITICAL,
    }
    return levels.get(lambda_level.strip().upper(), logging.WARNING)


def peak_memory_mb() -> int:
    """Peak resident memory of this process, in MB."""
    # ru_maxrss is not used: Linux carries it over from the parent (LocalStack) across exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def resolve_handler(handler_name: str):
    """Return the callable named by ``_HANDLER`` (``module.function``, ``dir/module.function``)."""
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name or not function_name:
        raise InitError(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{handler_name}': not enough values to unpack (expected 2, got 1)",
            [],
        )
    module_name = module_name.replace("/", ".")

    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise InitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            traceback.format_exception_only(type(exc), exc),
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any failure while importing is an init error
        raise InitError(
            "Runtime.ImportModuleError",
            f"Unable to import module '{module_name}': {exc}",
            handler_stack(exc),
        ) from exc

    handler = getattr(module, function_name, None)
    if handler is None:
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
            [],
        )
    return handler


def handler_stack(exc: BaseException) -> list[str]:
    """The traceback of ``exc`` as Lambda lists it, without this file's own frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(frame.filename) != os.path.abspath(__file__)
        and not frame.filename.startswith("<frozen importlib")
    ]
    return traceback.format_list(frames)


def error_body(error_type: str, message: str, stack_trace: list[str] | None = None) -> bytes:
    body = {"errorMessage": message, "errorType": error_type, "requestId": ""}
    if stack_trace is not None:
        body["stackTrace"] = stack_trace
    return json.dumps(body).encode()


def make_request_handler(runtime: Runtime) -> type[BaseHTTPRequestHandler]:
    class InvokeRequestHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - name required by BaseHTTPRequestHandler
            if self.path.rstrip("/") != "/invoke":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            invocation = json.loads(self.rfile.read(length) or b"{}")
            invocation["received"] = time.monotonic()
            runtime.invocations.put(invocation)

            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base
            pass

    return InvokeRequestHandler


def watch_parent(parent_pid: int) -> None:
    """Exit when the process that started this environment is gone (reparented)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def prepare_sys_path() -> None:
    # The script's own folder (inside LocalStack's venv) must not shadow the function's code.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    sys.path.insert(0, task_root)
    # The code folder belongs to LocalStack; keep it free of __pycache__ like Lambda's /var/task.
    sys.dont_write_bytecode = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args()

    threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()
    prepare_sys_path()

    runtime = Runtime()
    runtime.setup_logging()
    runtime.load_handler()

    server = HTTPServer(("127.0.0.1", 0), make_request_handler(runtime))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runtime.report_ready(server.server_address[1])

    runtime.run_forever()


if __name__ == "__main__":
    main()
