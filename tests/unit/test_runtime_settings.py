from pathlib import Path

import pytest

from tapstack.errors import ConfigurationError
from tapstack.runtime import RuntimeSettings

RUNTIME_VARIABLES = (
    "TAPSTACK_RUNTIME",
    "AWS_ENDPOINT_URL",
    "TAPSTACK_PORT",
    "TAPSTACK_LAMBDA_PYTHON",
    "TAPSTACK_READY_TIMEOUT",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in RUNTIME_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TAPSTACK_STATE_DIR", str(tmp_path / "state"))
    return monkeypatch


def test_from_env_defaults(clean_env, tmp_path):
    settings = RuntimeSettings.from_env()

    assert settings.mode == "auto"
    assert settings.endpoint is None
    assert settings.port == 4566
    assert settings.state_dir == (tmp_path / "state").resolve()
    assert settings.lambda_python_override is None
    assert settings.local_endpoint == "http://127.0.0.1:4566"


def test_from_env_reads_every_variable(clean_env):
    clean_env.setenv("TAPSTACK_RUNTIME", "Host")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://localhost:4599")
    clean_env.setenv("TAPSTACK_PORT", "4610")
    clean_env.setenv("TAPSTACK_LAMBDA_PYTHON", "/opt/python3.12")
    clean_env.setenv("TAPSTACK_READY_TIMEOUT", "7.5")

    settings = RuntimeSettings.from_env()

    assert settings.mode == "host"
    assert settings.endpoint == "http://localhost:4599"
    assert settings.port == 4610
    assert settings.lambda_python_override == "/opt/python3.12"
    assert settings.ready_timeout == 7.5


def test_from_env_overrides_win_and_none_is_ignored(clean_env):
    clean_env.setenv("TAPSTACK_PORT", "4610")

    settings = RuntimeSettings.from_env(port=4611, mode=None, state_dir="/somewhere")

    assert settings.port == 4611
    assert settings.mode == "auto"
    assert settings.state_dir == Path("/somewhere")


@pytest.mark.parametrize(
    "variable, value",
    [
        pytest.param("TAPSTACK_RUNTIME", "kubernetes", id="unknown-mode"),
        pytest.param("TAPSTACK_PORT", "four", id="port-not-a-number"),
        pytest.param("TAPSTACK_PORT", "70000", id="port-out-of-range"),
        pytest.param("TAPSTACK_READY_TIMEOUT", "soon", id="timeout-not-a-number"),
    ],
)
def test_from_env_invalid_value_is_a_configuration_error(clean_env, variable, value):
    clean_env.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=variable):
        RuntimeSettings.from_env()


@pytest.mark.parametrize("value", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_lambda_python_defaults_to_the_lambda_runtime_venv(clean_env, tmp_path, value):
    if value is not None:
        clean_env.setenv("TAPSTACK_LAMBDA_PYTHON", value)

    settings = RuntimeSettings.from_env()

    venv = (tmp_path / "state").resolve() / "localstack" / "lambda-venv"
    assert settings.lambda_python_override is None
    assert settings.lambda_python == str(venv / "bin" / "python")
    assert "Lambda runtime venv" in settings.lambda_python_source


def test_explicit_lambda_python_wins_over_the_venv(clean_env):
    clean_env.setenv("TAPSTACK_LAMBDA_PYTHON", " /opt/python3.12/bin/python3 ")

    settings = RuntimeSettings.from_env()

    assert settings.lambda_python == "/opt/python3.12/bin/python3"
    assert settings.lambda_python_source == "TAPSTACK_LAMBDA_PYTHON"


def test_default_lambda_python_follows_the_state_dir_and_an_override_does_not(tmp_path):
    default = RuntimeSettings(state_dir=tmp_path / "a")
    explicit = RuntimeSettings(state_dir=tmp_path / "a", lambda_python_override="/py")

    moved_default = default.with_changes(state_dir=tmp_path / "b")
    moved_explicit = explicit.with_changes(state_dir=tmp_path / "b")

    assert moved_default.lambda_python == str(tmp_path / "b/localstack/lambda-venv/bin/python")
    assert moved_explicit.lambda_python == "/py"


def test_host_folders_live_under_the_state_dir(tmp_path):
    settings = RuntimeSettings(state_dir=tmp_path)

    assert settings.venv_dir == tmp_path / "localstack" / "venv"
    assert settings.lambda_venv_dir == tmp_path / "localstack" / "lambda-venv"
    assert settings.filesystem_root == tmp_path / "localstack" / "filesystem"
    # LocalStack 4.9.2 Directories.for_host: FILESYSTEM_ROOT + /var/lib/localstack/lib
    assert settings.var_libs == settings.filesystem_root / "var/lib/localstack/lib"
    assert settings.log_path.is_relative_to(settings.localstack_dir)
    assert settings.pid_path.is_relative_to(settings.localstack_dir)
