"""Docker mode without a Docker engine: compose is a fake that records what it was asked.

``subprocess.run`` and the compose lookup are replaced, so these tests show the command
lines docker mode runs, what it makes of the container's state, and what it takes down.
"""

import json
import subprocess
from dataclasses import dataclass

import pytest

from tapstack import runtime
from tapstack.runtime import docker_mode
from tapstack.runtime.errors import ModeUnavailableError, RuntimeStartError
from tapstack.runtime.settings import RuntimeSettings

COMPOSE = ["docker", "compose"]
PORT = 4611
PROJECT = f"tapstack-{PORT}"
NEW_IMAGE = "localstack/localstack:latest"


@dataclass
class ComposeCall:
    argv: list[str]
    env: dict[str, str]

    @property
    def project(self) -> str:
        return self.argv[self.argv.index("-p") + 1]

    @property
    def subcommand(self) -> list[str]:
        return self.argv[self.argv.index("-p") + 2 :]


class FakeCompose:
    """Stands in for ``subprocess.run`` of compose: answers each subcommand, records the call."""

    def __init__(self, ps_stdout: str = "", up_status: int = 0, up_stderr: str = ""):
        self.ps_stdout = ps_stdout
        self.up_status = up_status
        self.up_stderr = up_stderr
        self.calls: list[ComposeCall] = []

    def __call__(self, argv, *, env, capture_output, text, timeout, check):
        call = ComposeCall(list(argv), dict(env))
        self.calls.append(call)
        verb = call.subcommand[0]
        if verb == "up":
            return subprocess.CompletedProcess(argv, self.up_status, "", self.up_stderr)
        if verb == "ps":
            return subprocess.CompletedProcess(argv, 0, self.ps_stdout, "")
        if verb == "logs":
            return subprocess.CompletedProcess(argv, 0, "localstack  | last line\n", "")
        return subprocess.CompletedProcess(argv, 0, "", "")

    def verbs(self) -> list[str]:
        return [call.subcommand[0] for call in self.calls]

    def the(self, verb: str) -> ComposeCall:
        [call] = [call for call in self.calls if call.subcommand[0] == verb]
        return call


@pytest.fixture
def docker_socket(tmp_path, monkeypatch):
    socket = tmp_path / "docker.sock"
    socket.touch()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    monkeypatch.delenv("DOCKER_SOCKET", raising=False)
    return socket


@pytest.fixture
def compose(monkeypatch, docker_socket):
    fake = FakeCompose()
    monkeypatch.setattr(docker_mode, "find_compose_command", lambda: list(COMPOSE))
    monkeypatch.setattr(docker_mode.subprocess, "run", fake)
    return fake


@pytest.fixture
def settings(tmp_path):
    return RuntimeSettings(mode="docker", port=PORT, state_dir=tmp_path / "state", ready_timeout=1)


@pytest.fixture
def ready(monkeypatch):
    """LocalStack answers at once: wait_for_ready checks the container once and returns."""
    waited = []

    def wait_for_ready(endpoint, timeout, alive=None, interval=0.5):
        waited.append(endpoint)
        alive()

    monkeypatch.setattr(docker_mode, "wait_for_ready", wait_for_ready)
    return waited


def ps_row(state: str, exit_code: int, image: str = NEW_IMAGE) -> str:
    row = {"Service": "localstack", "State": state, "ExitCode": exit_code, "Image": image}
    return json.dumps(row)


# -- start -------------------------------------------------------------------------------------


def test_start_runs_compose_up_with_the_project_file_and_port(compose, settings, ready):
    docker_mode.start(settings)

    up = compose.the("up")
    assert up.argv == [
        *COMPOSE,
        "-f",
        str(docker_mode.COMPOSE_FILE),
        "-p",
        PROJECT,
        "up",
        "--detach",
    ]
    assert up.env["TAPSTACK_PORT"] == str(PORT)
    assert ready == [f"http://127.0.0.1:{PORT}"]
    marker = json.loads(settings.docker_marker_path.read_text())
    assert marker["project"] == PROJECT


def test_start_passes_the_callers_settings_through_to_compose(
    compose, settings, ready, monkeypatch
):
    monkeypatch.setenv("LAMBDA_IGNORE_ARCHITECTURE", "1")
    monkeypatch.setenv("LOCALSTACK_AUTH_TOKEN", "ls-token")
    monkeypatch.setenv("TAPSTACK_PORT", "4566")

    docker_mode.start(settings)

    env = compose.the("up").env
    assert env["LAMBDA_IGNORE_ARCHITECTURE"] == "1"
    assert env["LOCALSTACK_AUTH_TOKEN"] == "ls-token"
    assert env["TAPSTACK_PORT"] == str(PORT)


def test_start_reports_exit_status_55_as_a_missing_auth_token(compose, settings):
    compose.ps_stdout = ps_row("exited", 55) + "\n"

    with pytest.raises(RuntimeStartError) as caught:
        docker_mode.start(settings)

    message = str(caught.value)
    assert "LOCALSTACK_AUTH_TOKEN" in message
    assert "status 55" in message
    assert NEW_IMAGE in message
    assert "last line" in caught.value.log_tail
    assert compose.verbs() == ["up", "ps", "logs", "down"]
    assert not settings.docker_marker_path.exists()


def test_start_reports_another_exit_status_without_the_auth_token_hint(compose, settings):
    # Older compose v2 releases print one JSON array instead of a line per container.
    compose.ps_stdout = json.dumps([json.loads(ps_row("exited", 137, "localstack:4.9.2"))])

    with pytest.raises(RuntimeStartError) as caught:
        docker_mode.start(settings)

    message = str(caught.value)
    assert "status 137 before it was ready" in message
    assert "localstack:4.9.2" in message
    assert "LOCALSTACK_AUTH_TOKEN" not in message


def test_exited_container_skips_lines_that_are_not_json(compose, settings):
    compose.ps_stdout = "WARN the attribute `version` is obsolete\n" + ps_row("exited", 55)

    assert docker_mode.exited_container(settings) == (55, NEW_IMAGE)


def test_exited_container_of_a_running_container_is_none(compose, settings):
    compose.ps_stdout = ps_row("running", 0)

    assert docker_mode.exited_container(settings) is None


def test_start_without_the_docker_socket_starts_nothing(compose, settings, tmp_path, monkeypatch):
    missing = tmp_path / "gone" / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{missing}")

    with pytest.raises(ModeUnavailableError) as caught:
        docker_mode.start(settings)

    assert str(missing) in str(caught.value)
    assert compose.calls == []
    assert not settings.docker_marker_path.exists()


def test_start_without_compose_starts_nothing(compose, settings, monkeypatch):
    monkeypatch.setattr(docker_mode, "find_compose_command", lambda: None)

    with pytest.raises(ModeUnavailableError, match="docker compose"):
        docker_mode.start(settings)

    assert compose.calls == []
    assert not settings.docker_marker_path.exists()


def test_start_takes_down_what_a_failed_compose_up_created(compose, settings):
    compose.up_status = 1
    compose.up_stderr = "Bind for 127.0.0.1:4611 failed: port is already allocated"

    with pytest.raises(RuntimeStartError, match="port is already allocated"):
        docker_mode.start(settings)

    assert compose.the("down").project == PROJECT
    assert not settings.docker_marker_path.exists()


def test_start_takes_down_a_container_that_never_gets_ready(compose, settings, monkeypatch):
    def wait_for_ready(endpoint, timeout, alive=None, interval=0.5):
        alive()
        raise TimeoutError(f"LocalStack at {endpoint} was not ready after 1 s")

    monkeypatch.setattr(docker_mode, "wait_for_ready", wait_for_ready)

    with pytest.raises(RuntimeStartError, match="not ready after 1 s"):
        docker_mode.start(settings)

    assert compose.verbs() == ["up", "ps", "logs", "down"]
    assert not settings.docker_marker_path.exists()


def test_start_interrupted_while_waiting_takes_the_container_down(compose, settings, monkeypatch):
    def wait_for_ready(endpoint, timeout, alive=None, interval=0.5):
        raise KeyboardInterrupt

    monkeypatch.setattr(docker_mode, "wait_for_ready", wait_for_ready)

    with pytest.raises(KeyboardInterrupt):
        docker_mode.start(settings)

    assert compose.verbs() == ["up", "down"]
    assert not settings.docker_marker_path.exists()


# -- the compose environment -------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ, socket",
    [
        pytest.param(
            {"DOCKER_HOST": "unix:///run/user/1000/docker.sock"},
            "/run/user/1000/docker.sock",
            id="rootless",
        ),
        pytest.param(
            {"DOCKER_HOST": "unix:///run/a.sock", "DOCKER_SOCKET": "/srv/b.sock"},
            "/srv/b.sock",
            id="explicit-wins",
        ),
        pytest.param({"DOCKER_HOST": "tcp://10.0.0.5:2376"}, None, id="remote-engine"),
        pytest.param({}, None, id="default"),
    ],
)
def test_compose_environment_mounts_the_engines_socket(settings, environ, socket):
    env = docker_mode.compose_environment(settings, environ)

    assert env.get("DOCKER_SOCKET") == socket
    assert env["TAPSTACK_PORT"] == str(PORT)


def test_architecture_warning_ignores_an_empty_value_compose_replaces_with_1():
    assert docker_mode.architecture_warning("x86_64", {"LAMBDA_IGNORE_ARCHITECTURE": ""}) is None


# -- stop and down -----------------------------------------------------------------------------


def test_stop_without_a_marker_takes_nothing_down(compose, settings):
    assert docker_mode.stop(settings) is False

    assert compose.calls == []


def test_stop_takes_down_the_project_up_recorded(compose, settings):
    settings.localstack_dir.mkdir(parents=True)
    settings.docker_marker_path.write_text(json.dumps({"project": "tapstack-4566"}))

    assert docker_mode.stop(settings) is True

    down = compose.the("down")
    assert down.project == "tapstack-4566"
    assert down.subcommand == ["down", "--volumes", "--timeout", "20"]
    assert not settings.docker_marker_path.exists()


def test_down_stops_only_what_up_started(compose, settings, ready):
    nothing_started = runtime.down(settings)

    docker_mode.start(settings)
    stopped = runtime.down(settings)
    stopped_again = runtime.down(settings)

    assert (nothing_started, stopped, stopped_again) == (False, True, False)
    assert compose.verbs() == ["up", "ps", "down"]
    assert compose.the("down").project == PROJECT
