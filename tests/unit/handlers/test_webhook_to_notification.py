"""The whole chain in-process: webhook -> table stream -> CheckAlerts -> SendNotification -> SNS.

The stream records carry the items ProcessWebhook really stored.
"""

import json

import pytest

from handlers import check_alerts, process_webhook


@pytest.fixture
def read_stream(history_table, stream_record):
    """The INSERT records the table's stream would carry, built from the stored items.

    moto 5.2 with botocore 1.44 answers DynamoDB Streams calls with "Not yet implemented",
    so the records are made from what ProcessWebhook actually stored.
    """

    def read():
        items = history_table.scan(ConsistentRead=True)["Items"]
        return [stream_record(item) for item in items]

    return read


def test_webhook_crossing_an_alert_reaches_the_topic_once_with_its_event_id(
    api_event,
    lambda_context,
    create_alert,
    notifications,
    send_notification_invocations,
    read_stream,
    log_records,
):
    alert = create_alert(symbol="ACME", direction="above", threshold="100")
    webhook = {
        "event_id": "evt-e2e",
        "symbol": "ACME",
        "price": 105,
        "timestamp": "2026-12-03T10:00:00Z",
    }

    accepted = process_webhook.handler(api_event(webhook), lambda_context)
    duplicate = process_webhook.handler(api_event(webhook), lambda_context)
    batch = check_alerts.handler({"Records": read_stream()}, lambda_context)

    assert (accepted["statusCode"], duplicate["statusCode"]) == (202, 200)
    assert batch == {"batchItemFailures": []}
    [envelope] = notifications.received()
    assert envelope["Message"]["alert_id"] == alert["alert_id"]
    assert envelope["Message"]["price"] == "105"
    assert envelope["MessageAttributes"]["event_id"]["Value"] == "evt-e2e"
    functions = {
        line["function_name"] for line in log_records() if line.get("event_id") == "evt-e2e"
    }
    messages = {line["message"] for line in log_records() if line.get("event_id") == "evt-e2e"}
    assert functions == {"tapstack-test-function"}
    assert {"webhook stored", "alert fired", "notification published"} <= messages
    assert json.loads(accepted["body"])["event_id"] == "evt-e2e"
