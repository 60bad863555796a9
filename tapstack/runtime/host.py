"""Host mode: LocalStack as a process of this machine, in its own venv and process group."""

import contextlib
import json
import logging
import os
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from tapstack.locking import exclusive_lock
from tapstack.runtime import processes, provision
from tapstack.runtime.errors import RuntimeStartError, read_log_tail
from tapstack.runtime.health import GaveUp, fetch_health, wait_for_ready
from tapstack.runtime.settings import REQUIRED_SERVICES, RuntimeSettings

LOG = logging.getLogger(__name__)

EXECUTOR_NAME = "tapstack-host"

# Put into LocalStack's environment; every process that inherits it belongs to that LocalStack.
OWNER_VARIABLE = "TAPSTACK_LOCALSTACK_OWNER"

# Seconds between two polls of a stream shard by an event source mapping. LocalStack 4.9.2
# reads it with float(), so fractions work; its default is 1 s.
ESM_POLL_INTERVAL = "0.2"

# Set by the user, these reach LocalStack unchanged; unset, they get the value here (None:
# LocalStack's own default).
PASSTHROUGH_DEFAULTS = {
    "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": ESM_POLL_INTERVAL,
    "LAMBDA_LIMITS_CONCURRENT_EXECUTIONS": None,
}

# Variables of the harness's own environment that must not leak into LocalStack's: its
# venv, and an endpoint override that would point LocalStack's internal clients elsewhere.
DROPPED_VARIABLES = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AWS_ENDPOINT_URL")


def localstack_environment(settings: RuntimeSettings, base: dict | None = None) -> dict[str, str]:
    """The environment LocalStack runs with in host mode (the caller's, plus the settings here)."""
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in DROPPED_VARIABLES}

    env.update(
        {
            # Some hosts carry Docker's marker file; without this LocalStack uses container paths.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(settings.filesystem_root),
            "GATEWAY_LISTEN": f"127.0.0.1:{settings.port}",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            # v2 serves DynamoDB Streams from DynamoDB Local itself: no Kinesis emulator.
            "PROVIDER_OVERRIDE_DYNAMODB": "v2",
            "SERVICES": ",".join(REQUIRED_SERVICES),
            # The DNS server needs an upstream resolver; nothing here uses it.
            "DNS_ADDRESS": "0",
            "LAMBDA_RUNTIME_EXECUTOR": EXECUTOR_NAME,
            "TAPSTACK_LAMBDA_PYTHON": settings.lambda_python,
            OWNER_VARIABLE: str(settings.localstack_dir),
        }
    )
    for name, default in PASSTHROUGH_DEFAULTS.items():
        if base.get(name):
            env[name] = base[name]
        elif default is not None:
            env[name] = default
    return env


# --- pid file --------------------------------------------------------------------------------


def read_pid_file(settings: RuntimeSettings) -> dict | None:
    """The pid record of a LocalStack that ``up`` started, if it still runs; stale files go."""
    try:
        record = json.loads(settings.pid_path.read_text())
        pid = int(record["pid"])
        ticks = record.get("start_ticks")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        LOG.warning("ignoring unreadable pid file %s", settings.pid_path)
        settings.pid_path.unlink(missing_ok=True)
        return None
    if processes.is_alive(pid, ticks) or processes.family(pid, owner_entry(settings)):
        return record
    LOG.debug("removing stale pid file %s (pid %s is gone)", settings.pid_path, pid)
    settings.pid_path.unlink(missing_ok=True)
    return None


def _write_pid_file(settings: RuntimeSettings, pid: int) -> None:
    record = {
        "pid": pid,
        "pgid": pid,
        "start_ticks": processes.start_ticks(pid),
        "port": settings.port,
        "log": str(settings.log_path),
        "lambda_python": settings.lambda_python,
        "lambda_python_source": settings.lambda_python_source,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    settings.pid_path.write_text(json.dumps(record, indent=2) + "\n")


@contextlib.contextmanager
def state_lock(settings: RuntimeSettings):
    """Serialise up/down on one state dir (parallel test workers call ``up`` together)."""
    with exclusive_lock(settings.localstack_dir / "runtime.lock"):
        yield


# --- up / down -------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` (we could bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _rotate_log(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        os.replace(log_path, log_path.with_name(log_path.name + ".1"))


def spawn(settings: RuntimeSettings) -> subprocess.Popen:
    """Start LocalStack in its own session and process group, output to the log file."""
    _rotate_log(settings.log_path)
    settings.filesystem_root.mkdir(parents=True, exist_ok=True)
    if not settings.lambda_python_override and not Path(settings.lambda_python).exists():
        LOG.warning(
            "the Lambda runtime venv %s is not built, so Lambda functions will fail; "
            "run `tapstack provision` or set TAPSTACK_LAMBDA_PYTHON",
            settings.lambda_venv_dir,
        )
    command = [str(settings.venv_dir / "bin" / "python"), "-m", "localstack.runtime.main"]
    with open(settings.log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=settings.localstack_dir,
            env=localstack_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _write_pid_file(settings, process.pid)
    LOG.info("started LocalStack (pid %s), log %s", process.pid, settings.log_path)
    LOG.info(
        "Lambda functions run on %s (%s)", settings.lambda_python, settings.lambda_python_source
    )
    return process


def start(settings: RuntimeSettings, provision_first: bool = True) -> float:
    """Provision, start LocalStack and wait until it is ready; returns the seconds to ready.

    A failed start stops every process it started and raises ``RuntimeStartError`` with
    the log's tail.
    """
    if not port_is_free(settings.port):
        raise RuntimeStartError(
            f"port {settings.port} on 127.0.0.1 is taken by a program that does not answer "
            "LocalStack's health check; stop it or choose another port with TAPSTACK_PORT"
        )
    if provision_first:
        provision.provision_host(settings)

    started = time.monotonic()
    process = spawn(settings)
    try:

        def alive() -> None:
            code = process.poll()
            if code is not None:
                raise GaveUp(f"LocalStack exited with status {code} before it was ready")

        wait_for_ready(settings.local_endpoint, settings.ready_timeout, alive=alive)
    except (GaveUp, TimeoutError) as exc:
        _abort(settings, process)
        raise RuntimeStartError(
            str(exc), settings.log_path, read_log_tail(settings.log_path)
        ) from exc
    except BaseException:
        _abort(settings, process)
        raise
    return time.monotonic() - started


def owner_entry(settings: RuntimeSettings) -> str:
    """The ``NAME=value`` environment entry that marks this state dir's LocalStack processes."""
    return f"{OWNER_VARIABLE}={settings.localstack_dir}"


def _abort(settings: RuntimeSettings, process: subprocess.Popen) -> None:
    processes.stop_family(process.pid, owner_entry(settings), grace=10.0)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    settings.pid_path.unlink(missing_ok=True)


def stop(settings: RuntimeSettings, grace: float = 20.0) -> bool:
    """Stop the LocalStack that ``up`` started from this state dir; True if one was stopped."""
    record = read_pid_file(settings)
    if record is None:
        return False
    pgid = int(record.get("pgid", record["pid"]))
    stopped = processes.stop_family(pgid, owner_entry(settings), grace=grace)
    settings.pid_path.unlink(missing_ok=True)
    return stopped


def lambda_python_in_use(settings: RuntimeSettings) -> tuple[str, str]:
    """The interpreter host-mode Lambda uses and where it comes from.

    For a LocalStack that ``up`` started, what it was started with (its pid file); else
    what a start with these settings would use.
    """
    record = read_pid_file(settings) or {}
    if record.get("lambda_python"):
        return record["lambda_python"], record.get("lambda_python_source", "")
    return settings.lambda_python, settings.lambda_python_source


def running_status(settings: RuntimeSettings) -> dict:
    """Pid and health of a host-mode LocalStack at the settings' port."""
    record = read_pid_file(settings)
    health = fetch_health(settings.local_endpoint)
    return {
        "pid": record["pid"] if record else None,
        "started_by_tapstack": record is not None,
        "health": health,
    }
