"""Which runtime mode to use: external, docker or host, and why."""

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

from tapstack.runtime.errors import ModeUnavailableError
from tapstack.runtime.health import HEALTH_PATH, fetch_health
from tapstack.runtime.settings import RuntimeSettings

LOG = logging.getLogger(__name__)


class Probes:
    """What mode choice asks the machine; tests replace it with a fake of the same shape."""

    def endpoint_answers(self, endpoint: str) -> bool:
        """True when ``endpoint`` answers LocalStack's health check."""
        return fetch_health(endpoint) is not None

    def docker_engine(self) -> bool:
        """True when a Docker engine answers (SDK ping, else ``docker info``)."""
        try:
            import docker

            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - any SDK failure means "no engine"
            LOG.debug("docker SDK ping failed: %s", exc)
        if shutil.which("docker") is None:
            return False
        try:
            result = subprocess.run(
                ["docker", "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0

    def compose_command(self) -> list[str] | None:
        """The compose command that works here (``docker compose`` or ``docker-compose``)."""
        return find_compose_command()


def find_compose_command() -> list[str] | None:
    """``["docker", "compose"]`` or ``["docker-compose"]``, whichever answers ``version``."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            result = subprocess.run(
                [*command, "version"], capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0:
            return command
    return None


@dataclass(frozen=True)
class DockerAvailability:
    engine: bool
    compose: list[str] | None

    @property
    def usable(self) -> bool:
        return self.engine and self.compose is not None

    def describe(self) -> str:
        if self.usable:
            return f"a Docker engine answers and {' '.join(self.compose)} is available"
        if not self.engine:
            return "no Docker engine answers (docker SDK ping and `docker info` failed)"
        return "a Docker engine answers but neither `docker compose` nor docker-compose works"


def choose_mode(settings: RuntimeSettings, probes: Probes | None = None) -> tuple[str, str]:
    """Pick the runtime mode for ``settings`` and say why.

    Returns ``(mode, reason)``. Raises ``ModeUnavailableError`` when the mode asked for
    (explicitly, or by setting ``AWS_ENDPOINT_URL``) cannot work here.
    """
    probes = probes or Probes()

    if settings.mode == "host":
        return "host", "TAPSTACK_RUNTIME=host asks for LocalStack as a host process"

    if settings.mode == "external":
        if not settings.endpoint:
            raise ModeUnavailableError(
                "TAPSTACK_RUNTIME=external needs an endpoint: set AWS_ENDPOINT_URL "
                "to the URL of a running LocalStack"
            )
        _require_answer(settings.endpoint, probes, "TAPSTACK_RUNTIME=external")
        return "external", f"TAPSTACK_RUNTIME=external; {settings.endpoint} answers"

    if settings.mode == "docker":
        docker = DockerAvailability(probes.docker_engine(), probes.compose_command())
        if not docker.usable:
            raise ModeUnavailableError(
                f"TAPSTACK_RUNTIME=docker, but {docker.describe()}; start Docker, "
                "or use TAPSTACK_RUNTIME=host to run LocalStack as a host process"
            )
        return "docker", f"TAPSTACK_RUNTIME=docker; {docker.describe()}"

    # auto
    if settings.endpoint:
        # The user named an emulator: silently starting another one would test the wrong thing.
        _require_answer(settings.endpoint, probes, "AWS_ENDPOINT_URL is set")
        return "external", f"AWS_ENDPOINT_URL={settings.endpoint} answers its health check"

    docker = DockerAvailability(probes.docker_engine(), probes.compose_command())
    if docker.usable:
        return "docker", f"auto: {docker.describe()}"
    return "host", f"auto: {docker.describe()}, so LocalStack runs as a host process"


def _require_answer(endpoint: str, probes: Probes, why: str) -> None:
    if probes.endpoint_answers(endpoint):
        return
    raise ModeUnavailableError(
        f"{why}, but {endpoint}{HEALTH_PATH} does not answer; start that LocalStack, "
        "or unset AWS_ENDPOINT_URL to let tapstack start one (TAPSTACK_RUNTIME=auto)"
    )


def docker_socket_problem(environ=None) -> str | None:
    """Why the Docker socket cannot be reached, or None when it looks usable."""
    environ = os.environ if environ is None else environ
    docker_host = environ.get("DOCKER_HOST", "")
    if docker_host and not docker_host.startswith("unix://"):
        return None  # tcp:// or ssh://: nothing on this filesystem to check
    socket_path = docker_host.removeprefix("unix://") or "/var/run/docker.sock"
    if os.path.exists(socket_path):
        return None
    return (
        f"the Docker socket {socket_path} does not exist; LocalStack mounts it to run "
        "Lambda containers. Start the Docker engine or point DOCKER_HOST at it"
    )
