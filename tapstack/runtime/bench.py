"""Benchmarks of the host-mode runtime: provisioning and start-to-ready, cold and warm.

Each measurement runs ``runs`` times in a scratch state dir beside the real one (sharing
its LocalStack venv, which is built once and not measured here); the median is reported.
Other measurements that need a ready LocalStack (Lambda invoke latency, for example) hook
in through ``READY_HOOKS``.
"""

import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tapstack import tables
from tapstack.runtime import host, provision
from tapstack.runtime.errors import RuntimeStartError
from tapstack.runtime.health import fetch_health
from tapstack.runtime.settings import RuntimeSettings

LOG = logging.getLogger(__name__)

#: Called with the ready endpoint during the warm-start runs; each returns name -> seconds.
READY_HOOKS: list[Callable[[str], dict[str, float]]] = []


def _scratch_settings(settings: RuntimeSettings, scratch: Path) -> RuntimeSettings:
    bench = settings.with_changes(state_dir=scratch, mode="host")
    bench.localstack_dir.mkdir(parents=True, exist_ok=True)
    # The two virtual environments take a minute to build and are not what is measured.
    bench.venv_dir.symlink_to(settings.venv_dir, target_is_directory=True)
    bench.lambda_venv_dir.symlink_to(settings.lambda_venv_dir, target_is_directory=True)
    return bench


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def run(runs: int = 3, settings: RuntimeSettings | None = None) -> dict:
    """Measure provisioning and host start-to-ready; returns medians and every sample (seconds)."""
    settings = settings or RuntimeSettings.from_env()
    if fetch_health(settings.local_endpoint) is not None:
        raise RuntimeStartError(
            f"something already answers at {settings.local_endpoint}; the benchmark starts "
            "its own LocalStack there: stop it (tapstack down) or pick another TAPSTACK_PORT"
        )
    provision.ensure_venv(settings.venv_dir)
    provision.ensure_host_executor(settings.venv_dir)

    samples: dict[str, list[float]] = {
        "provision_empty_cache": [],
        "provision_warm_cache": [],
        "provision_already_done": [],
        "start_cold": [],
        "start_warm": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-", dir=settings.state_dir) as scratch:
        bench = _scratch_settings(settings, Path(scratch))
        for index in range(runs):
            LOG.info("benchmark run %d of %d", index + 1, runs)
            _measure_provisioning(bench, samples)
            _measure_starts(bench, samples)

    result = {
        "runs": runs,
        "median_seconds": {name: statistics.median(v) for name, v in samples.items() if v},
        "samples_seconds": samples,
    }
    return result


def _measure_provisioning(bench: RuntimeSettings, samples: dict[str, list[float]]) -> None:
    # "Empty" is tapstack's cache: npm may still answer from its own cache (~/.npm).
    shutil.rmtree(bench.cache_dir, ignore_errors=True)
    shutil.rmtree(bench.filesystem_root, ignore_errors=True)
    samples["provision_empty_cache"].append(
        _timed(lambda: provision.provision_host(bench, include_venv=False))
    )

    shutil.rmtree(bench.filesystem_root, ignore_errors=True)
    samples["provision_warm_cache"].append(
        _timed(lambda: provision.provision_host(bench, include_venv=False))
    )
    samples["provision_already_done"].append(
        _timed(lambda: provision.provision_host(bench, include_venv=False))
    )


def _measure_starts(bench: RuntimeSettings, samples: dict[str, list[float]]) -> None:
    # Cold: a fresh filesystem root, provisioned from the cache (not counted), never started.
    shutil.rmtree(bench.filesystem_root, ignore_errors=True)
    provision.provision_host(bench, include_venv=False)
    try:
        samples["start_cold"].append(host.start(bench, provision_first=False))
    finally:
        host.stop(bench)

    try:
        samples["start_warm"].append(host.start(bench, provision_first=False))
        for hook in READY_HOOKS:
            for name, seconds in hook(bench.local_endpoint).items():
                samples.setdefault(name, []).append(seconds)
    finally:
        host.stop(bench)


def format_table(result: dict) -> str:
    """The medians as an aligned text table."""
    rows = [("measurement", f"median of {result['runs']} (s)", "samples (s)")]
    for name, median in result["median_seconds"].items():
        rows.append(
            (name, f"{median:.2f}", " ".join(f"{v:.2f}" for v in result["samples_seconds"][name]))
        )
    return tables.format_table(rows)
