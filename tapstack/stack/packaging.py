"""The Lambda code bundle: handlers/ plus its pure-Python dependencies, as one zip.

The zip is deterministic (sorted entries, fixed timestamps and permissions, no bytecode),
so the same handlers and requirements give the same bytes and the same sha256, which the
deploy step uses to decide whether a stack can be reused. Dependencies are installed once
per requirements.txt content, for arm64 python3.12 Lambda, and cached under the state
folder (``<state>/build/deps-<hash>``).
"""

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tapstack import paths
from tapstack.stack.errors import StackError

LOG = logging.getLogger(__name__)

#: The Lambda platform the dependencies are chosen for (the stack's functions).
PIP_PLATFORM_OPTIONS = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
)
PIP_TIMEOUT_SECONDS = 600
PIP_OUTPUT_LINES = 20

# 1980-01-01 is the earliest time a zip entry can carry.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644
ZIP_UNIX_SYSTEM = 3

EXCLUDED_NAMES = {"__pycache__", "README.md", "requirements.txt", "tests", ".DS_Store"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
# Console scripts pip writes next to the packages; nothing in Lambda runs them.
EXCLUDED_DEPENDENCY_FOLDERS = {"bin"}


class PackagingError(StackError):
    """The code bundle could not be built; the message carries pip's last output lines."""


@dataclass(frozen=True)
class Bundle:
    """A built code bundle: where the zip is, the sha256 of its bytes, and its size."""

    path: Path
    sha256: str
    size: int


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dependencies_key(requirements: Path) -> str:
    """The cache key of a requirements file: its content and the pip platform options."""
    material = requirements.read_bytes() + "\0".join(PIP_PLATFORM_OPTIONS).encode()
    return _digest(material)[:16]


def _run_pip(requirements: Path, target: Path) -> None:
    """Install ``requirements`` into ``target`` for the Lambda platform.

    Raises:
        PackagingError: when pip fails or cannot be started, with its last output lines.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        "--quiet",
        "--target",
        str(target),
        *PIP_PLATFORM_OPTIONS,
        "--requirement",
        str(requirements),
    ]
    LOG.debug("running %s", " ".join(command))
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackagingError(f"pip could not install {requirements}: {exc}") from exc

    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip().splitlines()
        tail = "\n  ".join(output[-PIP_OUTPUT_LINES:]) or "(no output)"
        raise PackagingError(
            f"pip install of {requirements} failed with exit code {completed.returncode}; "
            "the bundle needs pure-Python wheels or manylinux2014_aarch64 wheels for "
            f"CPython 3.12, and PyPI must be reachable. pip's last lines:\n  {tail}"
        )


def install_dependencies(requirements: Path, cache_root: Path) -> Path:
    """Return a folder holding ``requirements`` installed; pip runs only on a cache miss.

    The folder is filled under a temporary name and renamed when complete, so an
    interrupted or failed install never leaves a cache entry behind.
    """
    final = cache_root / f"deps-{dependencies_key(requirements)}"
    if final.is_dir():
        LOG.debug("dependencies cached in %s", final)
        return final

    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{final.name}.", dir=cache_root))
    try:
        LOG.info("installing the bundle's dependencies from %s", requirements)
        _run_pip(requirements, staging)
        try:
            staging.rename(final)
        except OSError:
            # Another build finished the same install first; its folder is as good.
            if not final.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final


def _bundled_files(root: Path, prefix: str, skip_top: frozenset = frozenset()) -> dict[str, Path]:
    """Map zip entry names to the files under ``root`` that go into the bundle."""
    files = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if relative.parts[0] in skip_top:
            continue
        if any(part in EXCLUDED_NAMES for part in relative.parts):
            continue
        if path.suffix in EXCLUDED_SUFFIXES or not path.is_file():
            continue
        files[(Path(prefix) / relative).as_posix()] = path
    return files


def write_zip(entries: dict[str, Path], destination: Path) -> None:
    """Write ``entries`` (name -> file) as a zip whose bytes depend only on their content."""
    with zipfile.ZipFile(destination, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = ZIP_UNIX_SYSTEM
            info.external_attr = ZIP_FILE_MODE << 16
            archive.writestr(info, entries[name].read_bytes(), compresslevel=9)


def build_bundle(
    output_dir: Path | None = None, *, handlers_dir: Path = paths.HANDLERS_DIR
) -> Bundle:
    """Build the code bundle all four functions use and return it.

    :param output_dir: where the zip goes; by default ``<state>/build``. The file is named
        after its sha256, so builds with other content never overwrite it.
    :param handlers_dir: the handlers package; its ``requirements.txt`` lists the
        dependencies. Tests point it elsewhere.
    :raises PackagingError: when the dependencies cannot be installed.
    """
    build_root = paths.state_dir() / "build"
    output_dir = Path(output_dir) if output_dir is not None else build_root
    output_dir.mkdir(parents=True, exist_ok=True)

    requirements = handlers_dir / "requirements.txt"
    dependencies = install_dependencies(requirements, build_root)
    entries = _bundled_files(dependencies, "", frozenset(EXCLUDED_DEPENDENCY_FOLDERS))
    entries.update(_bundled_files(handlers_dir, handlers_dir.name))

    handle, staging_name = tempfile.mkstemp(prefix="bundle.", suffix=".zip", dir=output_dir)
    os.close(handle)
    staging = Path(staging_name)
    try:
        write_zip(entries, staging)
        sha256 = _digest(staging.read_bytes())
        path = output_dir / f"tapstack-handlers-{sha256[:16]}.zip"
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)

    bundle = Bundle(path=path, sha256=sha256, size=path.stat().st_size)
    LOG.info(
        "built code bundle %s: %d files, %d bytes, sha256 %s",
        bundle.path,
        len(entries),
        bundle.size,
        bundle.sha256[:12],
    )
    return bundle
