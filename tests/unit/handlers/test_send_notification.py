"""SendNotification: one SNS message per triggered alert, at most once."""

import pytest

from handlers import clients, send_notification


@pytest.fixture
def triggered_alert(create_alert):
    return create_alert(
        threshold="100",
        status="triggered",
        triggered_by="evt-1",
        triggered_price="120.5",
        user_id="user-7",
    )


@pytest.fixture
def payload(triggered_alert):
    return {
        "alert_id": triggered_alert["alert_id"],
        "user_id": "user-7",
        "symbol": "ACME",
        "direction": "above",
        "threshold": "100",
        "price": "120.5",
        "event_id": "evt-1",
        "timestamp": "2026-12-03T10:00:00Z",
    }


@pytest.fixture
def notify(lambda_context, notifications):
    def run(event):
        return send_notification.handler(event, lambda_context)

    return run


def test_notification_is_published_with_message_and_attributes(
    notify, payload, notifications, get_alert, triggered_alert
):
    result = notify(payload)

    [envelope] = notifications.received()
    assert result["status"] == "published"
    assert envelope["MessageId"] == result["message_id"]
    assert envelope["Subject"] == "Price alert: ACME above 100 (price 120.5)"
    message = envelope["Message"]
    assert {key: message[key] for key in payload} == payload
    assert message["notified_at"] == get_alert(triggered_alert["alert_id"])["notified_at"]
    attributes = {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}
    assert attributes == {
        "symbol": "ACME",
        "direction": "above",
        "alert_id": triggered_alert["alert_id"],
        "event_id": "evt-1",
        "user_id": "user-7",
    }
    assert {value["Type"] for value in envelope["MessageAttributes"].values()} == {"String"}


def test_second_invocation_for_the_same_alert_publishes_nothing(notify, payload, notifications):
    first = notify(payload)

    second = notify(payload)

    assert (first["status"], second["status"]) == ("published", "skipped")
    assert len(notifications.received()) == 1


def test_invocation_for_an_event_that_did_not_trigger_the_alert_is_skipped(
    notify, payload, notifications, get_alert, triggered_alert
):
    result = notify({**payload, "event_id": "evt-other"})

    assert result["status"] == "skipped"
    assert notifications.received() == []
    assert "notified_at" not in get_alert(triggered_alert["alert_id"])


def test_publish_failure_removes_notified_at_and_raises(
    notify, payload, notifications, get_alert, triggered_alert, monkeypatch, log_records
):
    class BrokenSns:
        def publish(self, **arguments):
            raise ConnectionError("SNS unreachable")

    real_client = clients.client
    with monkeypatch.context() as patch:
        patch.setattr(
            clients,
            "client",
            lambda service: BrokenSns() if service == "sns" else real_client(service),
        )
        with pytest.raises(ConnectionError):
            notify(payload)

    assert "notified_at" not in get_alert(triggered_alert["alert_id"])
    [line] = [r for r in log_records() if r["message"].startswith("publish failed")]
    assert line["event_id"] == "evt-1"

    retried = notify(payload)

    assert retried["status"] == "published"
    assert len(notifications.received()) == 1


@pytest.mark.parametrize("missing", ["alert_id", "event_id", "price"])
def test_payload_without_required_key_is_refused(notify, payload, notifications, missing):
    incomplete = {key: value for key, value in payload.items() if key != missing}

    with pytest.raises(send_notification.InvalidPayloadError, match=missing):
        notify(incomplete)

    assert notifications.received() == []


def test_logs_carry_event_id(notify, payload, log_records):
    notify(payload)

    [published] = [r for r in log_records() if r["message"] == "notification published"]
    assert published["event_id"] == "evt-1"
    assert published["alert_id"] == payload["alert_id"]
