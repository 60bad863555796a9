"""What every benchmark shares: statistics, the deadline, the machine, the printed report.

A result is a plain dict, printed as JSON with ``--json`` or as text by
:func:`format_report`::

    {"benchmark": "lambda", "complete": True, "machine": {...}, "parameters": {...},
     "measurements": {"warm_invoke": {"unit": "ms", "count": 50, "median": 25.1,
                                      "p95": 31.0, "max": 40.2, "samples": [...]}},
     "counts": {...}, "notes": [...]}
"""

import contextlib
import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import urlparse

from tapstack import runtime
from tapstack.errors import ConfigurationError
from tapstack.runtime.health import fetch_health
from tapstack.runtime.settings import RuntimeSettings
from tapstack.tables import format_table

LOG = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MEASUREMENT_COLUMNS = ("measurement", "n", "median", "p95", "max", "unit")


# -- statistics -------------------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` 0.95 for p95); None without samples.

    Nearest rank returns a sample that was measured, never an interpolation: with 20
    samples, p95 is the 19th smallest.
    """
    if not samples:
        return None
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction} is not in (0, 1]")
    ordered = sorted(samples)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


def summarize(samples: Sequence[float], unit: str, digits: int = 1) -> dict:
    """Count, median, p95 and max of ``samples`` (None when there are none), and the samples."""
    rounded = [round(value, digits) for value in samples]
    if not samples:
        return {"unit": unit, "count": 0, "median": None, "p95": None, "max": None, "samples": []}
    return {
        "unit": unit,
        "count": len(samples),
        "median": round(statistics.median(samples), digits),
        "p95": round(percentile(samples, 0.95), digits),
        "max": round(max(samples), digits),
        "samples": rounded,
    }


# -- the deadline -----------------------------------------------------------------------------


class Deadline:
    """An overall time budget: how much is left, and whether it has run out."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        if seconds <= 0:
            raise ConfigurationError(f"deadline {seconds:g} s is not positive; pass --deadline")
        self.seconds = seconds
        self._clock = clock
        self._ends = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(self._ends - self._clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def bounded(self, seconds: float) -> float:
        """``seconds``, or what is left of the deadline if that is less (at least 0.1 s)."""
        return max(min(seconds, self.remaining()), 0.1)


# -- where it runs ----------------------------------------------------------------------------


def require_loopback(url: str) -> str:
    """Return ``url`` when it points at this host's loopback interface.

    :raises ConfigurationError: otherwise; the benchmarks send their traffic only to a
        LocalStack on 127.0.0.1.
    """
    host = urlparse(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ConfigurationError(
            f"the benchmarks only talk to a LocalStack on 127.0.0.1, not {host!r} ({url}); "
            "unset AWS_ENDPOINT_URL or point it at the loopback interface"
        )
    return url


def memory_bytes() -> int | None:
    """Physical memory of the machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def describe_machine(endpoint: str | None = None, mode: str | None = None) -> dict:
    """Cores, memory, load, OS, Python and (given an endpoint) the LocalStack version and mode."""
    memory = memory_bytes()
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load = None
    health = fetch_health(endpoint) if endpoint else None
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1) if memory else None,
        "load_average": load,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "localstack": health.version if health else None,
        "mode": mode,
        "endpoint": endpoint,
    }


@contextlib.contextmanager
def running_localstack(settings: RuntimeSettings, keep_running: bool) -> Iterator:
    """A ready LocalStack on the loopback interface, as a ``tapstack.runtime.Runtime``.

    Reuses one that runs; one started here is stopped afterwards unless ``keep_running``.
    """
    if settings.endpoint:
        require_loopback(settings.endpoint)
    started = runtime.up(settings)
    require_loopback(started.endpoint)
    try:
        yield started
    finally:
        if started.started and not keep_running:
            LOG.info("stopping the LocalStack this benchmark started")
            runtime.down(settings)


# -- the printed report -----------------------------------------------------------------------


def new_result(benchmark: str, machine: dict, parameters: dict) -> dict:
    """An empty result document for ``benchmark``."""
    return {
        "benchmark": benchmark,
        "complete": True,
        "machine": machine,
        "parameters": parameters,
        "measurements": {},
        "counts": {},
        "notes": [],
    }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def measurement_rows(measurements: dict) -> list[tuple[str, ...]]:
    """The header and one row per measurement: name, n, median, p95, max, unit."""
    rows = [MEASUREMENT_COLUMNS]
    for name, summary in measurements.items():
        rows.append(
            (
                name,
                str(summary["count"]),
                _number(summary["median"]),
                _number(summary["p95"]),
                _number(summary["max"]),
                summary["unit"],
            )
        )
    return rows


def format_machine(machine: dict) -> str:
    """The machine in one line: cores, memory, load, Python, LocalStack and its mode."""
    load = machine.get("load_average")
    parts = [
        f"{machine.get('cores')} cores",
        f"{machine.get('memory_gib')} GiB",
        f"load {' '.join(str(v) for v in load)}" if load else "load unknown",
        f"Python {machine.get('python')}",
        f"LocalStack {machine.get('localstack') or 'unknown'} ({machine.get('mode') or '-'} mode)",
        machine.get("os") or "",
    ]
    return "machine: " + ", ".join(part for part in parts if part)


def format_report(result: dict) -> str:
    """The result as text: machine, parameters, the measurement table, counts and notes."""
    lines = [f"tapstack bench {result['benchmark']}", format_machine(result["machine"])]
    parameters = " ".join(f"{k}={v}" for k, v in result["parameters"].items())
    lines.append(f"parameters: {parameters}")
    if not result["complete"]:
        lines.append("INCOMPLETE: the deadline passed before every measurement was taken")
    lines += ["", format_table(measurement_rows(result["measurements"]))]
    if result["counts"]:
        lines.append("")
        lines += [f"{name}: {value}" for name, value in result["counts"].items()]
    if result["notes"]:
        lines.append("")
        lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def print_result(result: dict, as_json: bool) -> None:
    """Print the result as JSON or as the text report."""
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_report(result))
