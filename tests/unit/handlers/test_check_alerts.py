"""CheckAlerts: which alerts fire, once, and how failed records are reported."""

import json
from decimal import Decimal

import pytest
from botocore.stub import ANY, Stubber

from handlers import check_alerts, clients


@pytest.fixture
def check(lambda_context, alerts_table, notifications, send_notification_invocations):
    """Run CheckAlerts on stream records built from price items; return its response."""

    def run(*records):
        return check_alerts.handler({"Records": list(records)}, lambda_context)

    return run


@pytest.fixture
def insert(stream_record, price_item):
    """Factory: the INSERT stream record of one price."""

    def build(event_id, symbol="ACME", price="100"):
        return stream_record(price_item(event_id, symbol=symbol, price=price))

    return build


@pytest.mark.parametrize(
    ("direction", "threshold", "price", "fires"),
    [
        ("above", "100", "100.01", True),
        ("above", "100", "100", True),
        ("above", "100", "99.99", False),
        ("below", "50", "49.5", True),
        ("below", "50", "50", True),
        ("below", "50", "50.01", False),
    ],
    ids=[
        "above-crossed",
        "above-equal-fires",
        "above-not-reached",
        "below-crossed",
        "below-equal-fires",
        "below-not-reached",
    ],
)
def test_insert_fires_alert_when_price_reaches_threshold(
    check,
    create_alert,
    get_alert,
    send_notification_invocations,
    direction,
    threshold,
    price,
    fires,
    insert,
):
    alert = create_alert(direction=direction, threshold=threshold)

    response = check(insert("evt-1", price=price))

    assert response == {"batchItemFailures": []}
    stored = get_alert(alert["alert_id"])
    if fires:
        assert stored["status"] == "triggered"
        assert stored["triggered_by"] == "evt-1"
        assert stored["triggered_price"] == Decimal(price)
        assert stored["triggered_at"]
        assert len(send_notification_invocations.payloads) == 1
    else:
        assert stored["status"] == "active"
        assert "triggered_by" not in stored
        assert send_notification_invocations.payloads == []


def test_fired_alert_payload_carries_alert_price_and_event_id(
    check, create_alert, send_notification_invocations, insert
):
    alert = create_alert(threshold="100", user_id="user-7")

    check(insert("evt-1", price="120.5"))

    [payload] = send_notification_invocations.payloads
    assert payload == {
        "alert_id": alert["alert_id"],
        "user_id": "user-7",
        "symbol": "ACME",
        "direction": "above",
        "threshold": "100",
        "price": "120.5",
        "event_id": "evt-1",
        "timestamp": "2026-12-03T10:00:00Z",
    }


def test_only_active_alerts_of_the_symbol_are_considered(
    check, create_alert, get_alert, send_notification_invocations, insert
):
    inactive = create_alert(threshold="100", status="triggered", triggered_by="evt-0")
    other_symbol = create_alert(symbol="OTHER", threshold="100")

    check(insert("evt-1", price="150"))

    assert get_alert(inactive["alert_id"])["triggered_by"] == "evt-0"
    assert get_alert(other_symbol["alert_id"])["status"] == "active"
    assert send_notification_invocations.payloads == []


def test_second_crossing_does_not_fire_again(
    check, create_alert, get_alert, send_notification_invocations, insert
):
    alert = create_alert(threshold="100")
    check(insert("evt-1", price="110"))

    check(insert("evt-2", price="130"))

    stored = get_alert(alert["alert_id"])
    assert stored["triggered_by"] == "evt-1"
    assert stored["triggered_price"] == Decimal("110")
    assert len(send_notification_invocations.payloads) == 1


def test_two_records_in_one_batch_fire_one_alert_once(
    check, create_alert, get_alert, send_notification_invocations, notifications, insert
):
    alert = create_alert(threshold="100")

    response = check(insert("evt-1", price="110"), insert("evt-2", price="120"))

    assert response == {"batchItemFailures": []}
    assert get_alert(alert["alert_id"])["triggered_by"] == "evt-1"
    assert [p["event_id"] for p in send_notification_invocations.payloads] == ["evt-1"]
    assert len(notifications.received()) == 1


def test_record_losing_the_race_skips_the_alert(
    check, create_alert, get_alert, log_records, monkeypatch, insert
):
    # Another record triggered the alert after this one read it as active (an eventually
    # consistent GSI can show that): the conditional update refuses, the record succeeds.
    alert = create_alert(threshold="100")
    stale = dict(alert)
    original = check_alerts.candidate_alerts

    def stale_candidates(table, index, symbol, event_id):
        table.update_item(
            Key={"alert_id": alert["alert_id"]},
            UpdateExpression="SET #s = :t, triggered_by = :other",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":t": "triggered", ":other": "evt-0"},
        )
        yield stale
        yield from original(table, index, symbol, event_id)

    monkeypatch.setattr(check_alerts, "candidate_alerts", stale_candidates)

    response = check(insert("evt-1", price="110"))

    assert response == {"batchItemFailures": []}
    assert get_alert(alert["alert_id"])["triggered_by"] == "evt-0"
    [line] = [
        r for r in log_records() if r["message"] == "alert already triggered by another event"
    ]
    assert line["event_id"] == "evt-1"


def test_redelivered_record_after_failed_handoff_notifies_once(
    check,
    create_alert,
    get_alert,
    send_notification_invocations,
    notifications,
    monkeypatch,
    insert,
):
    alert = create_alert(threshold="100")
    record = insert("evt-1", price="110")
    handed_off = send_notification_invocations.payloads

    def failing_invoke(function_name, payload):
        raise ConnectionError("Lambda unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(check_alerts, "invoke_send_notification", failing_invoke)
        first = check(record)
    second = check(record)
    third = check(record)

    assert first == {
        "batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]
    }
    assert second == third == {"batchItemFailures": []}
    assert get_alert(alert["alert_id"])["notified_at"]
    assert len(handed_off) == 1
    assert len(notifications.received()) == 1


def test_poison_records_are_batch_item_failures_while_the_rest_succeed(
    check, create_alert, get_alert, monkeypatch, log_records, insert, stream_record
):
    monkeypatch.setenv("FAIL_ON_SYMBOLS", "POISON, BROKEN")
    alert = create_alert(threshold="100")
    injected = insert("evt-poison", symbol="POISON", price="500")
    no_price = stream_record({"event_id": "evt-no-price", "symbol": "ACME"})
    text_price = stream_record({"event_id": "evt-text", "symbol": "ACME", "price": "high"})
    good = insert("evt-good", price="150")

    response = check(injected, no_price, text_price, good)

    failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    expected = [record["dynamodb"]["SequenceNumber"] for record in (injected, no_price, text_price)]
    assert failed == expected
    assert get_alert(alert["alert_id"])["triggered_by"] == "evt-good"
    errors = [line for line in log_records() if line["message"] == "stream record failed"]
    assert [line["event_id"] for line in errors] == ["evt-poison", "evt-no-price", "evt-text"]
    assert "FAIL_ON_SYMBOLS" in errors[0]["exception"]
    assert "'price' must be a Decimal, is missing" in errors[1]["exception"]
    assert "'price' must be a Decimal, is a str" in errors[2]["exception"]


def test_whole_batch_failing_is_reported_not_raised(check, monkeypatch, insert):
    monkeypatch.setenv("FAIL_ON_SYMBOLS", "POISON")
    record = insert("evt-poison", symbol="POISON")

    response = check(record)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]
    }


def test_modify_and_remove_records_are_ignored(
    check, create_alert, get_alert, send_notification_invocations, stream_record, price_item
):
    alert = create_alert(threshold="100")
    item = price_item("evt-1", price="150")

    response = check(
        stream_record(item, event_name="MODIFY", old_image=item),
        stream_record(None, event_name="REMOVE", old_image=item),
    )

    assert response == {"batchItemFailures": []}
    assert get_alert(alert["alert_id"])["status"] == "active"
    assert send_notification_invocations.payloads == []


def test_alert_with_unknown_direction_never_fires(check, create_alert, get_alert, insert):
    alert = create_alert(direction="sideways", threshold="1")

    check(insert("evt-1", price="5"))

    assert get_alert(alert["alert_id"])["status"] == "active"


def test_every_record_log_line_carries_its_event_id(check, create_alert, log_records, insert):
    create_alert(threshold="100")

    check(insert("evt-1", price="150"), insert("evt-2", price="90"))

    checked = [line for line in log_records() if line["message"] == "price checked"]
    assert [(line["event_id"], line["fired"]) for line in checked] == [("evt-1", 1), ("evt-2", 0)]
    fired = [line for line in log_records() if line["message"] == "alert fired"]
    assert [line["event_id"] for line in fired] == ["evt-1"]


def test_invoke_send_notification_is_an_asynchronous_event_invoke(aws, aws_environment):
    lambda_client = clients.client("lambda")
    payload = {"alert_id": "a-1", "price": Decimal("101.5"), "event_id": "evt-1"}

    with Stubber(lambda_client) as stubber:
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": aws_environment["SEND_NOTIFICATION_FUNCTION"],
                "InvocationType": "Event",
                "Payload": ANY,
            },
        )
        check_alerts.invoke_send_notification(
            aws_environment["SEND_NOTIFICATION_FUNCTION"], payload
        )

        stubber.assert_no_pending_responses()


def test_invoke_payload_is_json_with_decimals_as_strings(aws, monkeypatch):
    calls = []

    class RecordingLambda:
        def invoke(self, **arguments):
            calls.append(arguments)

    monkeypatch.setattr(clients, "client", lambda service: RecordingLambda())

    check_alerts.invoke_send_notification("fn", {"price": Decimal("101.50"), "event_id": "e"})

    [call] = calls
    assert call["InvocationType"] == "Event"
    assert json.loads(call["Payload"]) == {"price": "101.50", "event_id": "e"}
