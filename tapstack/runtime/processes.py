"""Processes seen through /proc: liveness, a LocalStack's whole family, stopping all of it.

LocalStack 4.9.2 starts DynamoDB Local with ``start_new_session=True``, so the JVM leaves
LocalStack's process group. A LocalStack's family is therefore its process group, its
descendants, and every process that inherited the owner variable ``up`` puts in its
environment (which also finds a JVM orphaned by a crashed LocalStack).
"""

import logging
import os
import signal
import time
from pathlib import Path

LOG = logging.getLogger(__name__)

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state [0], ppid [1], pgrp [2]."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    return raw[raw.rfind(")") + 2 :].split()


def _live_stats() -> dict[int, list[str]]:
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] not in ("Z", "X"):
                stats[int(entry.name)] = fields
    return stats


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; tells a pid from its reuse."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int, expected_start: int | None = None) -> bool:
    """True when ``pid`` runs (a zombie counts as gone) and started at ``expected_start``."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        _reap(pid)
        return False
    return expected_start is None or int(fields[19]) == expected_start


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    return sorted(pid for pid, fields in _live_stats().items() if int(fields[2]) == pgid)


def has_environment_entry(pid: int, entry: bytes) -> bool:
    """True when ``entry`` (``NAME=value``) is in the process's environment."""
    try:
        return entry in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def family(leader: int, owner_entry: str | None = None) -> set[int]:
    """The leader's process group, its descendants, and processes carrying ``owner_entry``."""
    stats = _live_stats()
    members = {pid for pid, fields in stats.items() if int(fields[2]) == leader}
    if leader in stats:
        members.add(leader)

    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    queue = list(members)
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in members:
                members.add(child)
                queue.append(child)

    if owner_entry:
        wanted = owner_entry.encode()
        own = os.getpid()
        members |= {pid for pid in stats if pid != own and has_environment_entry(pid, wanted)}
    return members


def _reap(pid: int) -> None:
    # A child of this process that exited stays a zombie until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError as exc:
        LOG.debug("waitpid(%s): %s", pid, exc)


def wait_for_exit(pids: dict[int, int | None], timeout: float, interval: float = 0.1) -> list[int]:
    """Wait until no pid of ``pids`` (pid -> start ticks) lives; returns those left at the end."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid, ticks in pids.items() if is_alive(pid, ticks)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(interval)


def stop_family(leader: int, owner_entry: str | None = None, grace: float = 20.0) -> bool:
    """SIGTERM the leader's group, wait up to ``grace`` s, then SIGKILL the whole family.

    Returns True when there was at least one process to stop.
    """
    targets = {pid: start_ticks(pid) for pid in family(leader, owner_entry)}
    if not targets:
        _reap(leader)
        return False

    # LocalStack shuts its own children (DynamoDB Local) down on SIGTERM.
    _signal_group(leader, signal.SIGTERM)
    if leader not in targets or not is_alive(leader):
        for pid in targets:
            _signal(pid, signal.SIGTERM)
    left = wait_for_exit(targets, grace)

    # Whatever is still there, including late children, gets SIGKILL.
    stragglers = {pid: start_ticks(pid) for pid in family(leader, owner_entry)}
    stragglers.update({pid: targets[pid] for pid in left})
    if stragglers:
        LOG.warning("%s outlived SIGTERM for %.0f s; killing them", sorted(stragglers), grace)
        for pid, ticks in stragglers.items():
            if is_alive(pid, ticks):
                _signal(pid, signal.SIGKILL)
        left = wait_for_exit(stragglers, 10.0)
        if left:
            LOG.error("processes %s survived SIGKILL", left)
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        LOG.debug("process group %s is already gone", pgid)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        LOG.debug("process %s is already gone", pid)
