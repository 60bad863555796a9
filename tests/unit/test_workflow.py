"""The GitHub Actions workflow, checked without running it."""

import re
import shlex

import pytest
import yaml

from tapstack.paths import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "integration.yml"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
MAKEFILE = PROJECT_ROOT / "Makefile"
SERVICE_JOB = "localstack-service"
HOST_JOB = "host-mode"


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def service(workflow):
    return workflow["jobs"][SERVICE_JOB]["services"]["localstack"]


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_-]+):", MAKEFILE.read_text(), flags=re.MULTILINE))


def run_lines(job: dict) -> list[str]:
    return [line for step in job["steps"] if "run" in step for line in step["run"].splitlines()]


def environment(workflow: dict, job: dict) -> dict:
    return {**workflow.get("env", {}), **job.get("env", {})}


def test_workflow_parses_with_both_jobs_and_its_triggers(workflow):
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))

    assert set(workflow["jobs"]) == {SERVICE_JOB, HOST_JOB}
    assert "pull_request" in triggers
    assert "push" in triggers


def test_localstack_image_is_pinned_to_the_compose_files_tag(service):
    compose = yaml.safe_load(COMPOSE.read_text())

    image = service["image"]

    assert re.fullmatch(r"localstack/localstack:\d+\.\d+\.\d+", image), image
    assert image == compose["services"]["localstack"]["image"]


def test_localstack_service_has_a_health_check(service):
    options = shlex.split(service["options"])

    health_command = options[options.index("--health-cmd") + 1]

    assert "/_localstack/health" in health_command
    assert "--health-retries" in options
    assert "--health-interval" in options


def test_localstack_service_can_start_lambda_containers(service):
    assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"]


@pytest.mark.parametrize("job_name", [SERVICE_JOB, HOST_JOB])
def test_both_localstacks_get_the_concurrency_limit_that_reproduces_the_seed(
    workflow, service, job_name
):
    job = workflow["jobs"][job_name]

    assert environment(workflow, job)["LAMBDA_LIMITS_CONCURRENT_EXECUTIONS"] == "300"
    assert service["env"]["LAMBDA_LIMITS_CONCURRENT_EXECUTIONS"] == "300"


@pytest.mark.parametrize(("job_name", "target"), [(SERVICE_JOB, "test-local"), (HOST_JOB, "test")])
def test_jobs_run_make_targets_that_exist(workflow, job_name, target):
    commands = [shlex.split(line) for line in run_lines(workflow["jobs"][job_name])]
    targets = [word for words in commands if words and words[0] == "make" for word in words[1:]]
    targets = [word for word in targets if "=" not in word and not word.startswith("-")]

    assert target in targets
    assert set(targets) <= make_targets()


def test_service_job_uses_the_service_as_an_external_endpoint(workflow):
    env = environment(workflow, workflow["jobs"][SERVICE_JOB])

    assert env["TAPSTACK_RUNTIME"] == "external"
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:4566"


def test_host_job_runs_without_docker_with_java_17_and_node(workflow):
    job = workflow["jobs"][HOST_JOB]
    uses = {step["uses"].split("@")[0]: step for step in job["steps"] if "uses" in step}

    assert environment(workflow, job)["TAPSTACK_RUNTIME"] == "host"
    assert "services" not in job
    assert str(uses["actions/setup-java"]["with"]["java-version"]) == "17"
    assert "actions/setup-node" in uses


def test_every_action_is_pinned_to_a_version(workflow):
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@v\d+", step["uses"]), step["uses"]
