"""Bringing LocalStack up for TapStack: external, docker or host mode.

``up`` picks a mode (``choose_mode``), starts LocalStack when needed and waits until
``/_localstack/health`` reports every service TapStack uses; ``down`` stops only what
``up`` started; ``status`` says what runs where.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from tapstack.runtime import docker_mode, host
from tapstack.runtime.errors import (
    LocalStackRuntimeError,
    ModeUnavailableError,
    ProvisioningError,
    RuntimeStartError,
    read_log_tail,
)
from tapstack.runtime.health import Health, fetch_health, wait_for_ready
from tapstack.runtime.modes import Probes, choose_mode
from tapstack.runtime.settings import LOCALSTACK_VERSION, REQUIRED_SERVICES, RuntimeSettings

__all__ = [
    "LOCALSTACK_VERSION",
    "REQUIRED_SERVICES",
    "LocalStackRuntimeError",
    "ModeUnavailableError",
    "Probes",
    "ProvisioningError",
    "Runtime",
    "RuntimeSettings",
    "RuntimeStartError",
    "choose_mode",
    "down",
    "status",
    "up",
]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """A ready LocalStack: how it runs, where, why this mode, and whether this call started it.

    ``lambda_python`` (host mode only) is the interpreter its Lambda environments run on,
    ``lambda_python_source`` where that choice comes from.
    """

    mode: str
    endpoint: str
    reason: str
    started: bool
    log_path: Path | None
    lambda_python: str | None = None
    lambda_python_source: str | None = None


def up(settings: RuntimeSettings | None = None, probes: Probes | None = None) -> Runtime:
    """Make sure a ready LocalStack answers, starting one when none does.

    Does nothing but wait for readiness when one already answers (an external endpoint,
    or one at the settings' port). Raises ``ModeUnavailableError`` when the chosen mode
    cannot work, ``RuntimeStartError`` (with the log's tail) when LocalStack does not
    become ready; a failed start leaves no process behind.
    """
    settings = settings or RuntimeSettings.from_env()
    mode, reason = choose_mode(settings, probes)
    LOG.info("runtime mode %s: %s", mode, reason)

    if mode == "external":
        _wait_ready_or_fail(settings.endpoint, settings.ready_timeout, None)
        return Runtime(mode, settings.endpoint, reason, started=False, log_path=None)

    endpoint = settings.local_endpoint
    log_path = settings.log_path if mode == "host" else None
    with host.state_lock(settings):
        if fetch_health(endpoint) is not None:
            who = _who_runs_it(settings)
            reason = f"{reason}; LocalStack already answers at {endpoint} ({who}): nothing to start"
            LOG.info("%s", reason)
            _wait_ready_or_fail(endpoint, settings.ready_timeout, log_path)
            return _runtime(settings, mode, reason, started=False)

        if host.read_pid_file(settings) is not None:
            LOG.warning("a LocalStack started earlier does not answer at %s; stopping it", endpoint)
            host.stop(settings)

        if mode == "docker":
            seconds = docker_mode.start(settings)
        else:
            seconds = host.start(settings)
        ready = _runtime(settings, mode, f"{reason}; started, ready in {seconds:.1f} s", True)
    LOG.info("LocalStack ready at %s", endpoint)
    return ready


def down(settings: RuntimeSettings | None = None) -> bool:
    """Stop the LocalStack that ``up`` started from this state dir; True if one was stopped.

    A LocalStack that ``up`` did not start (external, or started by someone else) is left alone.
    """
    settings = settings or RuntimeSettings.from_env()
    with host.state_lock(settings):
        stopped = host.stop(settings)
        stopped = docker_mode.stop(settings) or stopped
    return stopped


def status(settings: RuntimeSettings | None = None, probes: Probes | None = None) -> dict:
    """Which mode applies and why, the endpoint, whether it runs and is ready, pid and log."""
    settings = settings or RuntimeSettings.from_env()
    try:
        mode, reason = choose_mode(settings, probes)
    except ModeUnavailableError as exc:
        mode, reason = settings.mode, f"unavailable: {exc}"

    endpoint = settings.endpoint if mode == "external" else settings.local_endpoint
    health = fetch_health(endpoint) if endpoint else None
    record = host.read_pid_file(settings)
    lambda_python, lambda_python_source = _lambda_python(settings, mode)
    return {
        "mode": mode,
        "reason": reason,
        "endpoint": endpoint,
        "running": health is not None,
        "ready": bool(health and health.ready),
        "version": health.version if health else None,
        "ready_services": health.ready_services if health else [],
        "missing_services": health.missing if health else {},
        "pid": record["pid"] if record else None,
        "started_by_tapstack": record is not None or settings.docker_marker_path.exists(),
        "log_path": str(settings.log_path) if mode == "host" else None,
        "lambda_python": lambda_python,
        "lambda_python_source": lambda_python_source,
    }


def _runtime(settings: RuntimeSettings, mode: str, reason: str, started: bool) -> Runtime:
    lambda_python, lambda_python_source = _lambda_python(settings, mode)
    return Runtime(
        mode=mode,
        endpoint=settings.local_endpoint,
        reason=reason,
        started=started,
        log_path=settings.log_path if mode == "host" else None,
        lambda_python=lambda_python,
        lambda_python_source=lambda_python_source,
    )


def _lambda_python(settings: RuntimeSettings, mode: str) -> tuple[str | None, str | None]:
    # Only host mode runs Lambda environments on a host interpreter; docker and external
    # LocalStacks run them in containers.
    if mode != "host":
        return None, None
    return host.lambda_python_in_use(settings)


def _who_runs_it(settings: RuntimeSettings) -> str:
    record = host.read_pid_file(settings)
    if record is not None:
        return f"started earlier by tapstack up, pid {record['pid']}"
    if settings.docker_marker_path.exists():
        return "started earlier by tapstack up with docker compose"
    return "not started by tapstack from this state dir; it is left alone"


def _wait_ready_or_fail(endpoint: str, timeout: float, log_path: Path | None) -> Health:
    try:
        return wait_for_ready(endpoint, timeout)
    except TimeoutError as exc:
        raise RuntimeStartError(str(exc), log_path, read_log_tail(log_path)) from exc
