import pytest

from tapstack.runtime import REQUIRED_SERVICES, health
from tapstack.runtime.health import GaveUp, parse_health, wait_for_ready


def all_services(state="available", **changes):
    services = {name: state for name in REQUIRED_SERVICES}
    services.update(changes)
    return {"services": services, "edition": "community", "version": "4.9.2"}


def test_parse_health_all_available_or_running_is_ready():
    document = all_services(opensearch="disabled")  # a service TapStack does not use
    document["services"]["sqs"] = "running"

    parsed = parse_health(document)

    assert parsed.ready
    assert parsed.version == "4.9.2"
    assert parsed.ready_services == list(REQUIRED_SERVICES)


def test_parse_health_reports_missing_and_not_ready_services():
    document = all_services()
    del document["services"]["dynamodbstreams"]
    document["services"]["kms"] = "disabled"
    document["services"]["sns"] = "error"

    parsed = parse_health(document)

    assert not parsed.ready
    assert parsed.missing == {"dynamodbstreams": "absent", "kms": "disabled", "sns": "error"}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({}, id="empty"),
        pytest.param({"services": "all"}, id="services-not-a-mapping"),
        pytest.param([], id="not-a-mapping"),
    ],
)
def test_parse_health_malformed_document_is_not_ready(document):
    parsed = parse_health(document)

    assert not parsed.ready
    assert set(parsed.missing) == set(REQUIRED_SERVICES)


def test_wait_for_ready_polls_until_every_service_is_ready(monkeypatch):
    answers = iter([None, parse_health(all_services("initialized")), parse_health(all_services())])
    monkeypatch.setattr(health, "fetch_health", lambda endpoint: next(answers))

    result = wait_for_ready("http://127.0.0.1:1", timeout=5, interval=0.01)

    assert result.ready


def test_wait_for_ready_timeout_says_what_it_last_saw(monkeypatch):
    stuck = parse_health(all_services(kms="initialized"))
    monkeypatch.setattr(health, "fetch_health", lambda endpoint: stuck)

    with pytest.raises(TimeoutError, match="kms"):
        wait_for_ready("http://127.0.0.1:1", timeout=0.2, interval=0.05)


def test_wait_for_ready_stops_when_alive_check_gives_up(monkeypatch):
    polls = []
    monkeypatch.setattr(health, "fetch_health", lambda endpoint: polls.append(1))

    def dead():
        raise GaveUp("LocalStack exited with status 1")

    with pytest.raises(GaveUp):
        wait_for_ready("http://127.0.0.1:1", timeout=5, alive=dead, interval=0.01)
    assert polls == []
