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

NO_COMPOSE = "neither `docker compose` nor docker-compose works here"

# No empty string: docker-compose.yml reads ${LAMBDA_IGNORE_ARCHITECTURE:-1}, so an empty
# value becomes 1 in the container.
FALSE_VALUES = ("0", "false", "no", "off")


def project_name(settings: RuntimeSettings) -> str:
    """One compose project per gateway port, so two checkouts on other ports do not collide."""
    return f"tapstack-{settings.port}"


def compose_environment(settings: RuntimeSettings, base: dict | None = None) -> dict[str, str]:
    """The environment compose interpolates docker-compose.yml with.

    ``TAPSTACK_PORT`` is the settings' port. ``DOCKER_SOCKET``, the host path mounted as
    the container's Docker socket, follows a ``unix://`` ``DOCKER_HOST`` unless it is set.
    """
    env = dict(os.environ if base is None else base)
    env["TAPSTACK_PORT"] = str(settings.port)
    docker_host = env.get("DOCKER_HOST", "")
    if not env.get("DOCKER_SOCKET") and docker_host.startswith("unix://"):
        # A rootless engine's socket is not /var/run/docker.sock, and a bind mount of a
        # missing path gives LocalStack an empty directory instead of the engine.
        env["DOCKER_SOCKET"] = docker_host.removeprefix("unix://")
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


def _compose(
    settings: RuntimeSettings,
    *args: str,
    check: bool = False,
    timeout: float = 600,
    project: str | None = None,
):
    command = find_compose_command()
    if command is None:
        raise ModeUnavailableError(NO_COMPOSE)
    project = project or project_name(settings)
    full = [*command, "-f", str(COMPOSE_FILE), "-p", project, *args]
    LOG.debug("running %s", " ".join(full))
    return subprocess.run(
        full,
        env=compose_environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def exited_container(settings: RuntimeSettings) -> tuple[int, str] | None:
    """The exit code and image of the LocalStack container if it has exited, else None."""
    result = _compose(settings, "ps", "--all", "--format", "json", SERVICE)
    if result.returncode != 0 or not result.stdout.strip():
        return None
    for row in _ps_rows(result.stdout):
        if str(row.get("State", "")).lower() == "exited":
            return int(row.get("ExitCode", -1)), str(row.get("Image") or "unknown image")
    return None


def _ps_rows(text: str) -> list[dict]:
    # Compose v2 prints one JSON object per line (newer) or one JSON array (older). A line
    # that is not JSON (a warning on stdout) must not end the wait with a ValueError.
    text = text.strip()
    try:
        if text.startswith("["):
            return [row for row in json.loads(text) if isinstance(row, dict)]
    except ValueError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _logs_tail(settings: RuntimeSettings) -> str:
    try:
        result = _compose(settings, "logs", "--no-color", "--tail", "30", SERVICE, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(no logs: {exc})"
    return (result.stdout + result.stderr).strip()


def start(settings: RuntimeSettings) -> float:
    """``compose up -d`` and wait until ready; a failed start is taken down again.

    :raises ModeUnavailableError: when the Docker socket is missing (nothing is started).
    :raises RuntimeStartError: when compose fails or LocalStack does not become ready,
        with the container's last log lines.
    """
    problem = docker_socket_problem()
    if problem:
        raise ModeUnavailableError(problem)
    if find_compose_command() is None:
        raise ModeUnavailableError(NO_COMPOSE)
    warning = architecture_warning()
    if warning:
        LOG.warning("%s", warning)

    # The marker goes first: a failed `up` can leave a created container and a network.
    settings.localstack_dir.mkdir(parents=True, exist_ok=True)
    settings.docker_marker_path.write_text(
        json.dumps({"project": project_name(settings), "started_at": _now().isoformat()}) + "\n"
    )

    def alive() -> None:
        exited = exited_container(settings)
        if exited is not None:
            raise GaveUp(_exit_explanation(*exited))

    try:
        result = _compose(settings, "up", "--detach")
        if result.returncode != 0:
            raise _ComposeUpFailed(
                f"compose up failed (exit status {result.returncode}): "
                f"{result.stderr.strip()[-2000:]}"
            )
        clock = _now()
        wait_for_ready(settings.local_endpoint, settings.ready_timeout, alive=alive, interval=1.0)
    except (_ComposeUpFailed, GaveUp, TimeoutError) as exc:
        tail = _logs_tail(settings)
        stop(settings)
        raise RuntimeStartError(str(exc), None, tail) from exc
    except BaseException:
        # Interrupted, or compose itself failed: leave nothing running behind.
        stop(settings)
        raise
    return (_now() - clock).total_seconds()


class _ComposeUpFailed(Exception):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def _exit_explanation(code: int, image: str) -> str:
    if code == AUTH_TOKEN_EXIT_CODE:
        return (
            f"the LocalStack container ({image}) exited with status {code}: this image needs "
            "an auth token. Set LOCALSTACK_AUTH_TOKEN, or keep the image pinned to 4.9.2 in "
            "docker-compose.yml (4.x images start without one)"
        )
    return f"the LocalStack container ({image}) exited with status {code} before it was ready"


def stop(settings: RuntimeSettings) -> bool:
    """``compose down`` for the project that ``up`` started; True if there was one.

    The project is the one the marker recorded, so a changed ``TAPSTACK_PORT`` does not
    take down a project of another port that ``up`` did not start.
    """
    marker = settings.docker_marker_path
    if not marker.exists():
        return False
    project = _recorded_project(marker) or project_name(settings)
    result = _compose(settings, "down", "--volumes", "--timeout", "20", project=project)
    if result.returncode != 0:
        LOG.warning("compose down of %s failed: %s", project, result.stderr.strip()[-2000:])
    marker.unlink(missing_ok=True)
    return True


def _recorded_project(marker) -> str | None:
    try:
        return json.loads(marker.read_text()).get("project")
    except (OSError, ValueError, AttributeError):
        return None
