"""POST /webhooks through API Gateway: the key, validation, storage, duplicates."""

import json
import time

import pytest

SECONDS_PER_DAY = 86_400
OVERSIZED_BYTES = 9 * 1024


def retention_days(stack_outputs, aws_clients) -> int:
    function = aws_clients.lambda_.get_function_configuration(
        FunctionName=stack_outputs["ProcessWebhookFunctionName"]
    )
    return int(function["Environment"]["Variables"]["HISTORY_RETENTION_DAYS"])


def test_webhook_with_api_key_is_accepted_and_stored_until_retention(
    send_webhook, webhook_body, unique_symbol, history_item, stack_outputs, aws_clients
):
    body = webhook_body(unique_symbol(), 101.25)
    before = time.time()

    response = send_webhook(body)

    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": body["event_id"], "status": "accepted"}
    item = history_item(body["event_id"])
    assert item["symbol"] == body["symbol"]
    assert str(item["price"]) == "101.25"
    expected_expiry = before + retention_days(stack_outputs, aws_clients) * SECONDS_PER_DAY
    assert abs(int(item["expires_at"]) - expected_expiry) < 60


def test_webhook_without_api_key_is_refused(
    send_webhook, webhook_body, unique_symbol, history_item
):
    body = webhook_body(unique_symbol(), 10)

    response = send_webhook(body, api_key=None)

    assert response.status_code == 403
    assert history_item(body["event_id"]) is None


def test_webhook_with_wrong_api_key_is_refused(
    send_webhook, webhook_body, unique_symbol, history_item
):
    body = webhook_body(unique_symbol(), 10)

    response = send_webhook(body, api_key="not-the-key-" + body["event_id"])

    assert response.status_code == 403
    assert history_item(body["event_id"]) is None


def _without(field):
    def change(body):
        del body[field]
        return json.dumps(body)

    return change


def _with(field, value):
    def change(body):
        body[field] = value
        return json.dumps(body)

    return change


def _truncated(body):
    return json.dumps(body)[:-3]


def _padded(body):
    body["source"] = "x" * OVERSIZED_BYTES
    return json.dumps(body)


MALFORMED = [
    pytest.param(_truncated, 400, "not valid JSON", id="bad-json"),
    pytest.param(_without("price"), 400, "'price' is required", id="missing-field"),
    pytest.param(_with("price", "12.5"), 400, "'price' must be a JSON number", id="wrong-type"),
    pytest.param(_with("price", 0), 400, "'price' must be greater than 0", id="zero-price"),
    pytest.param(_with("price", -3), 400, "'price' must be greater than 0", id="negative-price"),
    pytest.param(_padded, 413, "limit is 8192 bytes", id="oversized-body"),
    pytest.param(_with("timestamp", "yesterday"), 400, "'timestamp' must be", id="bad-timestamp"),
    pytest.param(
        _with("timestamp", "2026-01-01T10:00:00"), 400, "time zone", id="timestamp-without-zone"
    ),
]


@pytest.mark.parametrize(("malform", "status", "problem"), MALFORMED)
def test_malformed_webhook_is_refused_naming_the_problem(
    send_webhook, webhook_body, unique_symbol, history_item, malform, status, problem
):
    body = webhook_body(unique_symbol(), 50)
    event_id = body["event_id"]

    response = send_webhook(data=malform(body))

    assert response.status_code == status, response.text
    assert problem in response.json()["message"]
    assert history_item(event_id) is None


def test_duplicate_webhook_is_stored_once(
    send_webhook, webhook_body, unique_symbol, history_item, aws_clients, stack_outputs
):
    body = webhook_body(unique_symbol(), 77)
    first = send_webhook(body)
    stored = history_item(body["event_id"])

    second = send_webhook(body)

    assert first.status_code == 202, first.text
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "duplicate"
    assert history_item(body["event_id"]) == stored
    same_symbol = aws_clients.dynamodb.scan(
        TableName=stack_outputs["PriceHistoryTableName"],
        FilterExpression="symbol = :symbol",
        ExpressionAttributeValues={":symbol": {"S": body["symbol"]}},
        ConsistentRead=True,
    )
    assert same_symbol["Count"] == 1


def test_same_event_id_with_another_price_is_a_conflict(
    send_webhook, webhook_body, unique_symbol, history_item
):
    body = webhook_body(unique_symbol(), 77)
    send_webhook(body)

    response = send_webhook({**body, "price": 78})

    assert response.status_code == 409, response.text
    assert "'price'" in response.json()["message"]
    assert str(history_item(body["event_id"])["price"]) == "77"
