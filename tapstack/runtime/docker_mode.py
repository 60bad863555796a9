"""Docker mode: docker-compose.yml starts the LocalStack image; used where a Docker engine runs."""

import json
import logging
import os
import platform
import subprocess
from datetime import UTC, datetime

from tapstack import paths
from tapstack.runtime.errors import ModeUnavailableError, RuntimeStartError
from tapstack.runtime.health import GaveUp, wait_for_ready
from tapstack.runtime.modes import docker_socket_problem, find_compose_command
from tapstack.runtime.settings import RuntimeSettings

LOG = logging.getLogger(__name__)

COMPOSE_FILE = paths.PROJECT_ROOT / "docker-compose.yml"
SERVICE = "localstack"

# Images released after 2026-03-23 exit with this status when LOCALSTACK_AUTH_TOKEN is missing.
AUTH_TOKEN_EXIT_CODE = 55

FALSE_VALUES = ("0", "false", "no", "off", "")


def project_name(settings: RuntimeSettings) -> str:
    """One compose project per gateway port, so two checkouts on other ports do not collide."""
    return f"tapstack-{settings.port}"


def compose_environment(settings: RuntimeSettings, base: dict | None = None) -> dict[str, str]:
    """The environment compose interpolates docker-compose.yml with."""
    env = dict(os.environ if base is None else base)
    env["TAPSTACK_PORT"] = str(settings.port)
    return env


def architecture_warning(machine: str | None = None, environ=None) -> str | None:
    """A warning when arm64 Lambda functions will not run on this x86 host, else None."""
    machine = (machine or platform.machine()).lower()
    environ = os.environ if environ is None else environ
    if machine not in ("x86_64", "amd64"):
        return None
    value = environ.get("LAMBDA_IGNORE_ARCHITECTURE")
    if value is not None and value.strip().lower() in FALSE_VALUES:
        return (
            f"LAMBDA_IGNORE_ARCHITECTURE={value!r} is set in the environment: on this "
            f"{machine} host LocalStack will try to run TapStack's arm64 functions in arm64 "
            "containers, which fails without emulation; unset it (docker-compose.yml sets 1)"
        )
    return None


def _compose(settings: RuntimeSettings, *args: str, check: bool = False, timeout: float = 600):
    command = find_compose_command()
    if command is None:
        raise ModeUnavailableError("neither `docker compose` nor docker-compose works here")
    full = [*command, "-f", str(COMPOSE_FILE), "-p", project_name(settings), *args]
    LOG.debug("running %s", " ".join(full))
    return subprocess.run(
        full,
        env=compose_environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def container_exit_code(settings: RuntimeSettings) -> int | None:
    """The exit code of the LocalStack container if it has exited, else None."""
    result = _compose(settings, "ps", "--all", "--format", "json", SERVICE)
    if result.returncode != 0 or not result.stdout.strip():
        return None
    # Compose v2 prints one JSON object per line (newer) or one JSON array (older).
    text = result.stdout.strip()
    rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
    for row in rows:
        if str(row.get("State", "")).lower() == "exited":
            return int(row.get("ExitCode", -1))
    return None


def _logs_tail(settings: RuntimeSettings) -> str:
    result = _compose(settings, "logs", "--no-color", "--tail", "30", SERVICE, timeout=60)
    return (result.stdout + result.stderr).strip()


def start(settings: RuntimeSettings) -> float:
    """``compose up -d`` and wait until ready; a failed start is taken down again."""
    problem = docker_socket_problem()
    if problem:
        raise ModeUnavailableError(problem)
    warning = architecture_warning()
    if warning:
        LOG.warning("%s", warning)

    started = datetime.now(UTC)
    result = _compose(settings, "up", "--detach")
    if result.returncode != 0:
        raise RuntimeStartError(
            f"compose up failed (exit status {result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    settings.localstack_dir.mkdir(parents=True, exist_ok=True)
    settings.docker_marker_path.write_text(
        json.dumps({"project": project_name(settings), "started_at": started.isoformat()}) + "\n"
    )

    def alive() -> None:
        code = container_exit_code(settings)
        if code is not None:
            raise GaveUp(_exit_explanation(code))

    clock = datetime.now(UTC)
    try:
        wait_for_ready(settings.local_endpoint, settings.ready_timeout, alive=alive, interval=1.0)
    except (GaveUp, TimeoutError) as exc:
        tail = _logs_tail(settings)
        stop(settings)
        raise RuntimeStartError(str(exc), None, tail) from exc
    return (datetime.now(UTC) - clock).total_seconds()


def _exit_explanation(code: int) -> str:
    if code == AUTH_TOKEN_EXIT_CODE:
        return (
            f"the LocalStack container exited with status {code}: this image needs an auth "
            "token. Set LOCALSTACK_AUTH_TOKEN, or keep the image pinned to 4.9.2 in "
            "docker-compose.yml (4.x images start without one)"
        )
    return f"the LocalStack container exited with status {code} before it was ready"


def stop(settings: RuntimeSettings) -> bool:
    """``compose down`` for a project that ``up`` started; True if there was one."""
    if not settings.docker_marker_path.exists():
        return False
    result = _compose(settings, "down", "--volumes", "--timeout", "20")
    if result.returncode != 0:
        LOG.warning("compose down failed: %s", result.stderr.strip()[-2000:])
    settings.docker_marker_path.unlink(missing_ok=True)
    return True
