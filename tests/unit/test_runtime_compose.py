"""docker-compose.yml checked statically: no Docker engine is needed (or available) for these."""

import yaml

from tapstack import paths
from tapstack.runtime import LOCALSTACK_VERSION, REQUIRED_SERVICES
from tapstack.runtime.docker_mode import COMPOSE_FILE, SERVICE


def localstack_service():
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return document["services"][SERVICE]


def test_compose_file_is_the_one_at_the_project_root():
    assert COMPOSE_FILE == paths.PROJECT_ROOT / "docker-compose.yml"


def test_compose_image_is_pinned_to_the_host_mode_release():
    assert localstack_service()["image"] == f"localstack/localstack:{LOCALSTACK_VERSION}"


def test_compose_has_a_healthcheck_on_the_health_endpoint():
    healthcheck = localstack_service()["healthcheck"]

    assert "/_localstack/health" in " ".join(healthcheck["test"])
    assert healthcheck["retries"] >= 1


def test_compose_mounts_the_docker_socket_for_lambda_containers():
    volumes = localstack_service()["volumes"]

    assert any(volume.endswith(":/var/run/docker.sock") for volume in volumes)


def test_compose_environment_settings():
    environment = localstack_service()["environment"]

    assert environment["LAMBDA_IGNORE_ARCHITECTURE"] == "${LAMBDA_IGNORE_ARCHITECTURE:-1}"
    assert environment["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"
    assert "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC" in environment
    assert environment["PROVIDER_OVERRIDE_DYNAMODB"] == "v2"


def test_compose_services_cover_what_tapstack_needs():
    services = localstack_service()["environment"]["SERVICES"].split(",")

    assert set(REQUIRED_SERVICES) <= set(services)


def test_compose_publishes_the_configurable_gateway_port():
    ports = localstack_service()["ports"]

    assert ports == ["127.0.0.1:${TAPSTACK_PORT:-4566}:4566"]
