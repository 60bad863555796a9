"""Runtime settings from the environment, and the folders host mode keeps in the state dir."""

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from tapstack import paths
from tapstack.errors import ConfigurationError

MODES = ("auto", "external", "docker", "host")

#: The LocalStack release both host mode and docker-compose.yml run.
LOCALSTACK_VERSION = "4.9.2"

#: Services the stack and its tests use; ready means each is "available" or "running".
REQUIRED_SERVICES = (
    "cloudformation",
    "lambda",
    "dynamodb",
    "dynamodbstreams",
    "apigateway",
    "sns",
    "sqs",
    "kms",
    "iam",
    "events",
    "logs",
    "cloudwatch",
    "s3",
    "sts",
)

DEFAULT_PORT = 4566
DEFAULT_READY_TIMEOUT = 120.0

LAMBDA_PYTHON_VARIABLE = "TAPSTACK_LAMBDA_PYTHON"


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how LocalStack runs; ``from_env`` reads the ``TAPSTACK_*`` variables.

    ``lambda_python_override`` is ``TAPSTACK_LAMBDA_PYTHON``; without it, host-mode Lambda
    environments run on the Lambda runtime venv that provisioning builds (``lambda_python``).
    """

    mode: str = "auto"
    endpoint: str | None = None
    port: int = DEFAULT_PORT
    state_dir: Path = field(default_factory=paths.state_dir)
    lambda_python_override: str | None = None
    ready_timeout: float = DEFAULT_READY_TIMEOUT

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigurationError(
                f"runtime mode {self.mode!r} is not one of {', '.join(MODES)}; "
                "set TAPSTACK_RUNTIME or --mode to one of them"
            )
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"port {self.port} is out of range; set TAPSTACK_PORT")

    @classmethod
    def from_env(cls, **overrides) -> "RuntimeSettings":
        """Build settings from the environment; keyword arguments win over it (None is ignored)."""
        env = os.environ
        values = {
            "mode": (env.get("TAPSTACK_RUNTIME") or "auto").strip().lower(),
            "endpoint": (env.get("AWS_ENDPOINT_URL") or "").strip() or None,
            "port": _int_setting("TAPSTACK_PORT", env.get("TAPSTACK_PORT"), DEFAULT_PORT),
            "state_dir": paths.state_dir(),
            "lambda_python_override": (env.get(LAMBDA_PYTHON_VARIABLE) or "").strip() or None,
            "ready_timeout": _float_setting(
                "TAPSTACK_READY_TIMEOUT", env.get("TAPSTACK_READY_TIMEOUT"), DEFAULT_READY_TIMEOUT
            ),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["state_dir"] = Path(values["state_dir"])
        return cls(**values)

    def with_changes(self, **changes) -> "RuntimeSettings":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def local_endpoint(self) -> str:
        """The gateway URL of a LocalStack the harness starts (host or docker mode)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def localstack_dir(self) -> Path:
        """Everything host mode owns: venv, caches, LocalStack's filesystem root, logs, pid file."""
        return self.state_dir / "localstack"

    @property
    def venv_dir(self) -> Path:
        return self.localstack_dir / "venv"

    @property
    def lambda_venv_dir(self) -> Path:
        """The Lambda runtime venv: boto3 and its dependencies only, as AWS's python3.12 has."""
        return self.localstack_dir / "lambda-venv"

    @property
    def lambda_python(self) -> str:
        """The interpreter host-mode Lambda environments run on: the override, else the venv's."""
        return self.lambda_python_override or str(self.lambda_venv_dir / "bin" / "python")

    @property
    def lambda_python_source(self) -> str:
        """Where ``lambda_python`` comes from, in words for ``up`` and ``status``."""
        if self.lambda_python_override:
            return LAMBDA_PYTHON_VARIABLE
        return "default: the Lambda runtime venv, boto3 only"

    @property
    def cache_dir(self) -> Path:
        """Downloads kept across fresh filesystem roots (the DynamoDB Local tarball)."""
        return self.localstack_dir / "cache"

    @property
    def filesystem_root(self) -> Path:
        """LocalStack's ``FILESYSTEM_ROOT`` in host mode."""
        return self.localstack_dir / "filesystem"

    @property
    def var_libs(self) -> Path:
        """LocalStack's ``dirs.var_libs`` for this root (``Directories.for_host`` in 4.9.2)."""
        return self.filesystem_root / "var" / "lib" / "localstack" / "lib"

    @property
    def log_path(self) -> Path:
        return self.localstack_dir / "logs" / "localstack.log"

    @property
    def pid_path(self) -> Path:
        return self.localstack_dir / "localstack.pid"

    @property
    def docker_marker_path(self) -> Path:
        """Present while a compose project that ``up`` started runs."""
        return self.localstack_dir / "docker-started.json"


def _int_setting(name: str, raw: str | None, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from exc


def _float_setting(name: str, raw: str | None, default: float) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from exc
