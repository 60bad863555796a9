"""Wall time of the main job, ``make test-local``, as a user runs it.

The job's steps (``tapstack up``, ``tapstack preflight --parameters localstack --endpoint
URL``, ``pytest tests/integration``) run as subprocesses with the same interpreter, in four
configurations:

- ``cold-serial``, ``cold-n2``: no LocalStack running and no stack deployed (the scratch
  LocalStack's stacks are deleted and it is stopped first);
- ``warm-serial``, ``warm-n2``: LocalStack up and the stack deployed (made sure of first);

serial, or with ``-n 2`` (pytest-xdist). They run in a scratch state dir under the
caller's, on a free port, so the caller's own LocalStack and stack are not touched. The
scratch dir links to the caller's LocalStack venv, Lambda runtime venv, DynamoDB Local
cache and build cache: a cold run is "nothing running", not "nothing ever installed".
Each step's output goes to a log under ``<state dir>/bench/``.
"""

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tapstack import aws, paths, runtime
from tapstack.bench.errors import BenchmarkError
from tapstack.bench.report import (
    Deadline,
    describe_machine,
    format_report,
    format_table,
    new_result,
    summarize,
)
from tapstack.runtime import provision
from tapstack.runtime.health import fetch_health
from tapstack.runtime.host import free_port
from tapstack.runtime.settings import RuntimeSettings

LOG = logging.getLogger(__name__)

#: Name -> (warm, xdist workers or 0 for serial), in the order one run goes through them:
#: each cold run leaves LocalStack up and the stack deployed for the warm run after it.
CONFIGURATIONS = {
    "cold-serial": (False, 0),
    "warm-serial": (True, 0),
    "cold-n2": (False, 2),
    "warm-n2": (True, 2),
}
CONFIGURATION_NAMES = tuple(CONFIGURATIONS)

#: Variables that would point the subprocesses at the caller's LocalStack or stack.
CLEARED_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "TAPSTACK_STACK_NAME",
    "PYTEST_ADDOPTS",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_TESTRUNUID",
)
SUMMARY_MARKERS = (" passed", " failed", " error", "no tests ran")
KILL_GRACE = 10.0


def job_steps(endpoint: str, workers: int, pytest_args: str = "") -> list[tuple[str, list[str]]]:
    """The steps of ``make test-local`` as (name, argv), with ``-n workers`` when above 0;
    the preflight reads the account's concurrency figures from ``endpoint``."""
    tapstack = [sys.executable, "-m", "tapstack.cli"]
    pytest = [sys.executable, "-m", "pytest", "tests/integration"]
    if workers:
        pytest += ["-n", str(workers)]
    pytest += shlex.split(pytest_args)
    preflight = [*tapstack, "preflight", "--parameters", "localstack", "--endpoint", endpoint]
    return [
        ("up", [*tapstack, "up"]),
        ("preflight", preflight),
        ("pytest", pytest),
    ]


def pytest_summary(output: str) -> str | None:
    """pytest's last summary line ("3 passed, 1 failed in 12.3s"), without the = rulers."""
    for line in reversed(output.splitlines()):
        stripped = line.strip("= \n")
        if any(marker in stripped for marker in SUMMARY_MARKERS) and " in " in stripped:
            return stripped
    return None


def subprocess_environment(settings: RuntimeSettings, base: dict | None = None) -> dict:
    """The environment of the job's subprocesses: the caller's, pointed at the scratch."""
    environment = dict(os.environ if base is None else base)
    for name in CLEARED_VARIABLES:
        environment.pop(name, None)
    environment["TAPSTACK_STATE_DIR"] = str(settings.state_dir)
    environment["TAPSTACK_PORT"] = str(settings.port)
    environment["TAPSTACK_KEEP_STACK"] = "1"
    if environment.get("TAPSTACK_RUNTIME", "").lower() == "external":
        environment["TAPSTACK_RUNTIME"] = "auto"
    return environment


class Scratch:
    """A scratch state dir sharing the caller's LocalStack venv, download and build caches."""

    def __init__(self, caller: RuntimeSettings, port: int):
        self.caller = caller
        self.directory = Path(tempfile.mkdtemp(prefix="bench-suite-", dir=caller.state_dir))
        self.settings = caller.with_changes(state_dir=self.directory, port=port, endpoint=None)
        self.environment = subprocess_environment(self.settings)

    def link_caches(self) -> None:
        """Link LocalStack's venv, the Lambda runtime venv, the DynamoDB Local cache and the
        build folder to the caller's (each built there first when missing)."""
        provision.ensure_venv(self.caller.venv_dir)
        provision.ensure_host_executor(self.caller.venv_dir)
        (self.caller.state_dir / "build").mkdir(parents=True, exist_ok=True)
        self.caller.cache_dir.mkdir(parents=True, exist_ok=True)
        self.settings.localstack_dir.mkdir(parents=True, exist_ok=True)
        links = [
            (self.settings.venv_dir, self.caller.venv_dir),
            (self.settings.cache_dir, self.caller.cache_dir),
            (self.directory / "build", self.caller.state_dir / "build"),
        ]
        if not self.caller.lambda_python_override:
            provision.ensure_lambda_runtime(self.caller)
            links.append((self.settings.lambda_venv_dir, self.caller.lambda_venv_dir))
        for link, target in links:
            link.symlink_to(target, target_is_directory=True)

    def make_cold(self) -> None:
        """Delete every stack in the scratch LocalStack, stop it, and check nothing answers."""
        from tapstack.stack import deploy, discovery

        endpoint = self.settings.local_endpoint
        if fetch_health(endpoint) is not None:
            cloudformation = aws.client("cloudformation", endpoint)
            for info in discovery.find_stacks(cloudformation, usable_only=False):
                deploy.delete(endpoint, info.name)
        runtime.down(self.settings)
        if fetch_health(endpoint) is not None:
            raise BenchmarkError(
                f"a LocalStack still answers at {endpoint} after `tapstack down` in "
                f"{self.directory}; the cold run cannot be cold"
            )

    def remove(self) -> None:
        """Stop the scratch LocalStack and delete the scratch dir (the links, not their targets)."""
        try:
            runtime.down(self.settings)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def run_step(
    argv: list[str], environment: dict, log_path: Path, timeout: float
) -> tuple[int, float]:
    """Run one step in the project folder, its output into ``log_path``; return
    (exit status, seconds). A step still running at ``timeout`` is killed (status -9)."""
    started = time.monotonic()
    with open(log_path, "a") as log:
        log.write(f"$ {shlex.join(argv)}\n")
        log.flush()
        process = subprocess.Popen(
            argv,
            cwd=paths.PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            LOG.warning("%s still runs after %.0f s; killing it", argv[2], timeout)
            _kill_group(process)
            status = -signal.SIGKILL
    return status, time.monotonic() - started


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def run(
    settings: RuntimeSettings,
    *,
    runs: int,
    configurations,
    pytest_args: str,
    port: int | None,
    deadline: Deadline,
) -> dict:
    """Run the job ``runs`` times in each configuration; return wall times and outcomes.

    :returns: a result with ``measurements`` (seconds), ``runs`` (one entry per job run:
        configuration, passed, seconds, per-step seconds and status, pytest's summary,
        log path) and ``complete``.
    """
    port = port or free_port()
    if fetch_health(f"http://127.0.0.1:{port}") is not None:
        raise BenchmarkError(f"something answers at port {port}; pass --suite-port a free one")
    logs = settings.state_dir / "bench" / datetime.now(UTC).strftime("suite-%Y%m%dT%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    chosen = [name for name in CONFIGURATION_NAMES if name in configurations]

    scratch = Scratch(settings, port)
    records: list[dict] = []
    complete = True
    try:
        scratch.link_caches()
        provision.provision_host(scratch.settings, include_venv=False)
        for index in range(runs):
            for name in chosen:
                if deadline.expired:
                    complete = False
                    break
                records.append(
                    _run_configuration(scratch, name, index, pytest_args, logs, deadline)
                )
        # Described while the scratch LocalStack still runs: its version and mode.
        machine = describe_machine(
            scratch.settings.local_endpoint, runtime.status(scratch.settings)["mode"]
        )
    finally:
        scratch.remove()

    result = new_result(
        "suite",
        machine,
        {"runs": runs, "configurations": ",".join(chosen), "pytest_args": pytest_args or "-"},
    )
    result["complete"] = complete and len(records) == runs * len(chosen)
    result["measurements"] = {
        name: summarize([r["seconds"] for r in records if r["configuration"] == name], "s")
        for name in chosen
    }
    result["runs"] = records
    result["counts"] = {
        "passed": sum(1 for record in records if record["passed"]),
        "failed": sum(1 for record in records if not record["passed"]),
    }
    steps = " ; ".join(shlex.join(argv[1:]) for _, argv in job_steps("URL", 2, pytest_args))
    result["notes"] = [
        f"steps: {steps} (-n 2 only in the -n2 configurations)",
        "cold: scratch LocalStack stopped and its stacks deleted first (not timed); "
        "warm: `tapstack up` and `tapstack deploy` made sure of first (not timed)",
        f"logs: {logs}",
    ]
    return result


def _run_configuration(
    scratch: Scratch, name: str, index: int, pytest_args: str, logs: Path, deadline: Deadline
) -> dict:
    warm, workers = CONFIGURATIONS[name]
    log_path = logs / f"{name}-{index + 1}.log"
    LOG.info("suite run %d, %s (log %s)", index + 1, name, log_path)

    if warm:
        for _, argv in _warm_preparation():
            run_step(argv, scratch.environment, log_path, deadline.bounded(600))
    else:
        scratch.make_cold()

    steps = []
    for step, argv in job_steps(scratch.settings.local_endpoint, workers, pytest_args):
        status, seconds = run_step(argv, scratch.environment, log_path, deadline.bounded(3600))
        steps.append({"step": step, "status": status, "seconds": round(seconds, 1)})
        if status != 0:
            break
    output = log_path.read_text(errors="replace")
    record = {
        "configuration": name,
        "run": index + 1,
        "passed": all(step["status"] == 0 for step in steps) and len(steps) == 3,
        "seconds": round(sum(step["seconds"] for step in steps), 1),
        "steps": steps,
        "pytest_summary": pytest_summary(output),
        "log": str(log_path),
    }
    LOG.info(
        "%s: %s in %.1f s", name, "passed" if record["passed"] else "FAILED", record["seconds"]
    )
    return record


def _warm_preparation() -> list[tuple[str, list[str]]]:
    tapstack = [sys.executable, "-m", "tapstack.cli"]
    return [("up", [*tapstack, "up"]), ("deploy", [*tapstack, "deploy"])]


def format_text(result: dict) -> str:
    """The report, then one line per job run: configuration, outcome, seconds, steps."""
    rows = [("configuration", "run", "outcome", "wall (s)", "steps (s)", "pytest")]
    for record in result["runs"]:
        steps = " ".join(f"{s['step']}={s['seconds']:.1f}" for s in record["steps"])
        rows.append(
            (
                record["configuration"],
                str(record["run"]),
                "passed" if record["passed"] else "FAILED",
                f"{record['seconds']:.1f}",
                steps,
                record["pytest_summary"] or "-",
            )
        )
    return format_report(result) + "\n\n" + format_table(rows)
