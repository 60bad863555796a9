"""LocalStack's ``/_localstack/health``: fetch it, judge it, wait until it says ready."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests
import tenacity

from tapstack.runtime.settings import REQUIRED_SERVICES

LOG = logging.getLogger(__name__)

HEALTH_PATH = "/_localstack/health"
READY_STATES = frozenset({"available", "running"})


@dataclass(frozen=True)
class Health:
    """One answer of the health endpoint, judged against the services TapStack needs."""

    version: str | None
    services: dict[str, str]
    required: tuple[str, ...] = REQUIRED_SERVICES

    @property
    def ready_services(self) -> list[str]:
        return [name for name in self.required if self.services.get(name) in READY_STATES]

    @property
    def missing(self) -> dict[str, str]:
        """Required services that are not ready, with the state seen ("absent" if not listed)."""
        return {
            name: self.services.get(name, "absent")
            for name in self.required
            if self.services.get(name) not in READY_STATES
        }

    @property
    def ready(self) -> bool:
        return not self.missing


def parse_health(document: dict, required: Iterable[str] = REQUIRED_SERVICES) -> Health:
    """Judge a decoded health document; a missing or malformed ``services`` counts as empty."""
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        services = {}
    version = document.get("version") if isinstance(document, dict) else None
    return Health(
        version=version,
        services={str(k): str(v) for k, v in services.items()},
        required=tuple(required),
    )


def fetch_health(endpoint: str, timeout: float = 2.0) -> Health | None:
    """The endpoint's health, or None when nothing answers there like LocalStack does."""
    url = endpoint.rstrip("/") + HEALTH_PATH
    try:
        response = requests.get(url, timeout=timeout)
        if response.status_code != 200:
            LOG.debug("%s answered %s", url, response.status_code)
            return None
        return parse_health(response.json())
    except (requests.RequestException, ValueError) as exc:
        LOG.debug("no health answer from %s: %s", url, exc)
        return None


class NotReady(Exception):
    """Raised inside the poll while LocalStack is not ready yet."""


class GaveUp(Exception):
    """Raised by the ``alive`` callback: waiting longer cannot help (the process died)."""


def wait_for_ready(
    endpoint: str,
    timeout: float,
    alive: Callable[[], None] | None = None,
    interval: float = 0.5,
) -> Health:
    """Poll the health endpoint until every required service is ready.

    ``alive`` is called before each poll and may raise ``GaveUp`` to stop early.
    Raises ``TimeoutError`` with the last state seen when the deadline passes.
    """
    last: dict[str, Health | None] = {"health": None}

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type(NotReady),
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        before_sleep=tenacity.before_sleep_log(LOG, logging.DEBUG),
        reraise=True,
    )
    def poll() -> Health:
        if alive is not None:
            alive()
        health = fetch_health(endpoint)
        last["health"] = health
        if health is None:
            raise NotReady(f"{endpoint}{HEALTH_PATH} does not answer")
        if not health.ready:
            raise NotReady(f"services not ready: {health.missing}")
        return health

    try:
        return poll()
    except NotReady as exc:
        raise TimeoutError(
            f"LocalStack at {endpoint} was not ready after {timeout:.0f} s; last seen: {exc}"
        ) from exc
