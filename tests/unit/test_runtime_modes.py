import pytest

from tapstack.runtime import ModeUnavailableError, RuntimeSettings, choose_mode
from tapstack.runtime.docker_mode import architecture_warning
from tapstack.runtime.modes import docker_socket_problem

ENDPOINT = "http://localhost:4599"


class FakeProbes:
    """Answers mode choice's questions from fixed values and records what was asked."""

    def __init__(self, endpoint_answers=False, engine=False, compose=("docker", "compose")):
        self.answers = endpoint_answers
        self.engine = engine
        self.compose = list(compose) if compose else None
        self.asked = []

    def endpoint_answers(self, endpoint):
        self.asked.append(("endpoint", endpoint))
        return self.answers

    def docker_engine(self):
        self.asked.append(("engine",))
        return self.engine

    def compose_command(self):
        return self.compose


def settings(mode="auto", endpoint=None, tmp_path=None):
    return RuntimeSettings(mode=mode, endpoint=endpoint, port=4610, state_dir=tmp_path)


@pytest.mark.parametrize(
    "mode, endpoint, probes, expected",
    [
        pytest.param("host", ENDPOINT, FakeProbes(engine=True), "host", id="explicit-host"),
        pytest.param(
            "external", ENDPOINT, FakeProbes(endpoint_answers=True), "external", id="explicit-ext"
        ),
        pytest.param("docker", None, FakeProbes(engine=True), "docker", id="explicit-docker"),
        pytest.param(
            "auto",
            ENDPOINT,
            FakeProbes(endpoint_answers=True, engine=True),
            "external",
            id="auto-endpoint-answers",
        ),
        pytest.param("auto", None, FakeProbes(engine=True), "docker", id="auto-docker"),
        pytest.param("auto", None, FakeProbes(engine=False), "host", id="auto-no-engine"),
        pytest.param(
            "auto", None, FakeProbes(engine=True, compose=None), "host", id="auto-no-compose"
        ),
    ],
)
def test_choose_mode_picks_and_explains(tmp_path, mode, endpoint, probes, expected):
    chosen, reason = choose_mode(settings(mode, endpoint, tmp_path), probes)

    assert chosen == expected
    assert reason


def test_choose_mode_explicit_host_probes_nothing(tmp_path):
    probes = FakeProbes(endpoint_answers=True, engine=True)

    choose_mode(settings("host", ENDPOINT, tmp_path), probes)

    assert probes.asked == []


def test_choose_mode_auto_without_engine_says_why(tmp_path):
    _, reason = choose_mode(settings(tmp_path=tmp_path), FakeProbes(engine=False))

    assert "no Docker engine" in reason


@pytest.mark.parametrize(
    "mode, endpoint, probes, message",
    [
        pytest.param("external", None, FakeProbes(), "needs an endpoint", id="external-no-url"),
        pytest.param("external", ENDPOINT, FakeProbes(), "does not answer", id="external-dead"),
        pytest.param("auto", ENDPOINT, FakeProbes(engine=True), "does not answer", id="auto-dead"),
        pytest.param("docker", None, FakeProbes(engine=False), "no Docker engine", id="no-engine"),
        pytest.param(
            "docker", None, FakeProbes(engine=True, compose=None), "compose", id="no-compose"
        ),
    ],
)
def test_choose_mode_impossible_request_is_an_error(tmp_path, mode, endpoint, probes, message):
    with pytest.raises(ModeUnavailableError, match=message) as raised:
        choose_mode(settings(mode, endpoint, tmp_path), probes)

    assert raised.value.exit_status == 3


def test_choose_mode_dead_endpoint_names_the_url_and_the_fix(tmp_path):
    with pytest.raises(ModeUnavailableError) as raised:
        choose_mode(settings("auto", ENDPOINT, tmp_path), FakeProbes())

    assert ENDPOINT in str(raised.value)
    assert "unset AWS_ENDPOINT_URL" in str(raised.value)


def test_docker_socket_problem_missing_socket(tmp_path):
    missing = tmp_path / "docker.sock"

    problem = docker_socket_problem({"DOCKER_HOST": f"unix://{missing}"})

    assert str(missing) in problem


def test_docker_socket_problem_present_socket_or_tcp(tmp_path):
    present = tmp_path / "docker.sock"
    present.touch()

    assert docker_socket_problem({"DOCKER_HOST": f"unix://{present}"}) is None
    assert docker_socket_problem({"DOCKER_HOST": "tcp://10.0.0.5:2376"}) is None


@pytest.mark.parametrize(
    "machine, environ, warns",
    [
        pytest.param("x86_64", {}, False, id="x86-default"),
        pytest.param("x86_64", {"LAMBDA_IGNORE_ARCHITECTURE": "1"}, False, id="x86-set"),
        pytest.param("x86_64", {"LAMBDA_IGNORE_ARCHITECTURE": "0"}, True, id="x86-removed"),
        pytest.param("aarch64", {"LAMBDA_IGNORE_ARCHITECTURE": "0"}, False, id="arm-host"),
    ],
)
def test_architecture_warning_on_x86_override(machine, environ, warns):
    warning = architecture_warning(machine, environ)

    assert (warning is not None) == warns
