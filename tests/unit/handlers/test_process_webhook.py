"""ProcessWebhook: validation, storage once per event_id, and the error responses."""

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from handlers import process_webhook, schema

VALID = {
    "event_id": "evt-0001",
    "symbol": "ACME",
    "price": 101.25,
    "timestamp": "2026-12-03T10:00:00Z",
}


@pytest.fixture
def post(api_event, lambda_context, history_table):
    """POST a body through the handler; return (status, decoded JSON body)."""

    def send(body, **options):
        response = process_webhook.handler(api_event(body, **options), lambda_context)
        assert response["headers"]["Content-Type"] == "application/json"
        return response["statusCode"], json.loads(response["body"])

    return send


def stored_items(history_table):
    return history_table.scan(ConsistentRead=True)["Items"]


def test_post_valid_webhook_is_accepted_and_stored(post, history_table):
    before = int(time.time())

    status, body = post({**VALID, "currency": "EUR", "source": "feed-a"})

    assert (status, body) == (202, {"event_id": "evt-0001", "status": "accepted"})
    [item] = stored_items(history_table)
    assert item["event_id"] == "evt-0001"
    assert item["symbol"] == "ACME"
    assert item["price"] == Decimal("101.25")
    assert item["timestamp"] == "2026-12-03T10:00:00Z"
    assert item["currency"] == "EUR"
    assert item["source"] == "feed-a"
    assert item["received_at"].startswith("20")
    retention = 7 * 86_400
    assert before + retention <= item["expires_at"] <= int(time.time()) + retention


def test_post_without_optional_fields_defaults_currency_and_omits_source(post, history_table):
    status, _ = post(VALID)

    assert status == 202
    [item] = stored_items(history_table)
    assert item["currency"] == "USD"
    assert "source" not in item


def test_post_base64_encoded_body_is_decoded(post, history_table):
    status, body = post(VALID, base64_encoded=True)

    assert status == 202
    assert body["status"] == "accepted"
    assert len(stored_items(history_table)) == 1


def test_post_with_json_content_type_and_charset_is_accepted(post):
    status, _ = post(VALID, headers={"content-type": "application/json; charset=utf-8"})

    assert status == 202


def test_post_without_content_type_is_accepted(post):
    status, _ = post(VALID, headers={})

    assert status == 202


def test_post_same_event_twice_is_duplicate_and_stored_once(post, history_table):
    post(VALID)

    status, body = post({**VALID, "price": 101.250, "timestamp": "2026-12-03T10:00:00+00:00"})

    assert (status, body) == (200, {"event_id": "evt-0001", "status": "duplicate"})
    assert len(stored_items(history_table)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": 99}, "price"),
        ({"symbol": "OTHER"}, "symbol"),
        ({"timestamp": "2026-12-03T10:00:01Z"}, "timestamp"),
        ({"currency": "EUR"}, "currency"),
        ({"source": "feed-b"}, "source"),
    ],
    ids=["price", "symbol", "timestamp", "currency", "source"],
)
def test_post_same_event_id_with_other_content_is_conflict(post, history_table, change, field):
    post(VALID)

    status, body = post({**VALID, **change})

    assert status == 409
    assert body["error"] == "conflict"
    assert body["field"] == "event_id"
    assert f"'{field}'" in body["message"]
    [item] = stored_items(history_table)
    assert item["price"] == Decimal("101.25")


BAD_BODIES = [
    pytest.param("{not json", 400, "invalid_json", None, "not valid JSON", id="malformed-json"),
    pytest.param("", 400, "invalid_json", None, "empty", id="empty-body"),
    pytest.param("[1, 2]", 400, "invalid_body", None, "JSON object", id="array"),
    pytest.param('"text"', 400, "invalid_body", None, "JSON object", id="string"),
    pytest.param(
        '{"event_id": "a", "event_id": "b"}',
        400,
        "invalid_json",
        "event_id",
        "more than once",
        id="duplicate-key",
    ),
    pytest.param(
        {**VALID, "extra": 1}, 400, "unknown_field", "extra", "'extra' is not part", id="unknown"
    ),
    *[
        pytest.param(
            {k: v for k, v in VALID.items() if k != missing},
            400,
            "missing_field",
            missing,
            f"'{missing}' is required",
            id=f"missing-{missing}",
        )
        for missing in ("event_id", "symbol", "price", "timestamp")
    ],
    pytest.param(
        {**VALID, "event_id": 5}, 400, "invalid_field", "event_id", "string", id="event-id-number"
    ),
    pytest.param(
        {**VALID, "event_id": ""}, 400, "invalid_field", "event_id", "1-128", id="event-id-empty"
    ),
    pytest.param(
        {**VALID, "event_id": "a" * 129},
        400,
        "invalid_field",
        "event_id",
        "1-128",
        id="event-id-too-long",
    ),
    pytest.param(
        {**VALID, "event_id": "evt 1"},
        400,
        "invalid_field",
        "event_id",
        "1-128",
        id="event-id-space",
    ),
    pytest.param(
        {**VALID, "symbol": "acme"},
        400,
        "invalid_field",
        "symbol",
        "upper case",
        id="symbol-lowercase",
    ),
    pytest.param(
        {**VALID, "symbol": "ABCDEFGHIJKLM"},
        400,
        "invalid_field",
        "symbol",
        "1-12",
        id="symbol-too-long",
    ),
    pytest.param(
        {**VALID, "symbol": "AC ME"}, 400, "invalid_field", "symbol", "1-12", id="symbol-space"
    ),
    pytest.param(
        {**VALID, "symbol": ""}, 400, "invalid_field", "symbol", "1-12", id="symbol-empty"
    ),
    pytest.param(
        {**VALID, "price": "101.25"},
        400,
        "invalid_field",
        "price",
        "JSON number",
        id="price-string",
    ),
    pytest.param(
        {**VALID, "price": True}, 400, "invalid_field", "price", "JSON number", id="price-boolean"
    ),
    pytest.param(
        {**VALID, "price": None}, 400, "invalid_field", "price", "JSON number", id="price-null"
    ),
    pytest.param(
        {**VALID, "price": 0}, 400, "invalid_field", "price", "greater than 0", id="price-zero"
    ),
    pytest.param(
        {**VALID, "price": -5}, 400, "invalid_field", "price", "greater than 0", id="price-negative"
    ),
    pytest.param(
        json.dumps(VALID).replace("101.25", "NaN"),
        400,
        "invalid_field",
        "price",
        "finite",
        id="price-nan",
    ),
    pytest.param(
        json.dumps(VALID).replace("101.25", "Infinity"),
        400,
        "invalid_field",
        "price",
        "finite",
        id="price-infinity",
    ),
    pytest.param(
        {**VALID, "price": 1e10}, 400, "invalid_field", "price", "at most", id="price-too-large"
    ),
    pytest.param(
        json.dumps(VALID).replace("101.25", "0.00000000001"),
        400,
        "invalid_field",
        "price",
        "decimal places",
        id="price-too-precise",
    ),
    pytest.param(
        {**VALID, "timestamp": "yesterday"},
        400,
        "invalid_field",
        "timestamp",
        "ISO 8601",
        id="timestamp-unparsable",
    ),
    pytest.param(
        {**VALID, "timestamp": "2026-12-03T10:00:00"},
        400,
        "invalid_field",
        "timestamp",
        "time zone",
        id="timestamp-naive",
    ),
    pytest.param(
        {**VALID, "timestamp": 1764756000},
        400,
        "invalid_field",
        "timestamp",
        "string",
        id="timestamp-number",
    ),
    pytest.param(
        {**VALID, "timestamp": "2999-01-01T00:00:00Z"},
        400,
        "invalid_field",
        "timestamp",
        "future",
        id="timestamp-far-future",
    ),
    pytest.param(
        {**VALID, "currency": "usd"},
        400,
        "invalid_field",
        "currency",
        "3 upper",
        id="currency-lowercase",
    ),
    pytest.param(
        {**VALID, "currency": "EURO"},
        400,
        "invalid_field",
        "currency",
        "3 upper",
        id="currency-too-long",
    ),
    pytest.param(
        {**VALID, "source": "s" * 65}, 400, "invalid_field", "source", "1-64", id="source-too-long"
    ),
    pytest.param(
        {**VALID, "source": 7}, 400, "invalid_field", "source", "string", id="source-number"
    ),
    pytest.param(
        {**VALID, "source": "x" * 9000}, 413, "payload_too_large", None, "8192", id="too-large"
    ),
    pytest.param(b"\xff\xfe{}", 400, "invalid_json", None, "UTF-8", id="not-utf8"),
]


@pytest.mark.parametrize(("body", "status", "error", "field", "phrase"), BAD_BODIES)
def test_post_invalid_body_is_refused_and_nothing_stored(
    post, history_table, body, status, error, field, phrase
):
    base64_encoded = isinstance(body, bytes)

    got_status, got_body = post(body, base64_encoded=base64_encoded)

    assert got_status == status
    assert got_body["error"] == error
    assert got_body["field"] == field
    assert phrase in got_body["message"]
    assert stored_items(history_table) == []


def test_post_with_other_content_type_is_unsupported_media_type(post, history_table):
    status, body = post(VALID, headers={"Content-Type": "text/plain"})

    assert status == 415
    assert body["error"] == "unsupported_media_type"
    assert "text/plain" in body["message"]
    assert stored_items(history_table) == []


def test_post_with_broken_base64_is_refused(post, api_event, lambda_context, history_table):
    event = api_event(VALID)
    event.update(body="%%% not base64 %%%", isBase64Encoded=True)

    response = process_webhook.handler(event, lambda_context)

    assert response["statusCode"] == 400
    assert "base64" in json.loads(response["body"])["message"]
    assert stored_items(history_table) == []


def test_get_is_method_not_allowed(post, history_table):
    status, body = post(VALID, method="GET")

    assert (status, body["error"]) == (405, "method_not_allowed")
    assert stored_items(history_table) == []


def test_post_when_table_is_missing_is_internal_error_without_details(
    api_event, lambda_context, aws, aws_environment, log_records
):
    response = process_webhook.handler(api_event(VALID), lambda_context)

    body = json.loads(response["body"])
    assert response["statusCode"] == 500
    assert body["error"] == "internal_error"
    assert "Traceback" not in response["body"]
    assert aws_environment["PRICE_HISTORY_TABLE"] not in response["body"]
    [failure] = [line for line in log_records() if line["message"] == "webhook failed"]
    assert failure["level"] == "ERROR"
    assert "ResourceNotFoundException" in failure["exception"]


def test_post_without_table_setting_is_internal_error(post, monkeypatch, log_records):
    monkeypatch.delenv("PRICE_HISTORY_TABLE")

    status, body = post(VALID)

    assert (status, body["error"]) == (500, "internal_error")
    [failure] = [line for line in log_records() if line["message"] == "webhook failed"]
    assert "PRICE_HISTORY_TABLE" in failure["exception"]


def test_post_logs_event_id_on_acceptance_and_refusal(post, log_records):
    post(VALID)
    post({**VALID, "event_id": "evt-0002", "price": -1})

    lines = log_records()
    stored = [line for line in lines if line["message"] == "webhook stored"]
    refused = [line for line in lines if line["message"] == "webhook refused"]
    assert [line["event_id"] for line in stored] == ["evt-0001"]
    assert [line["event_id"] for line in refused] == ["evt-0002"]
    assert refused[0]["error"] == "invalid_field"
    assert all(line["function_name"] == "tapstack-test-function" for line in lines)


def test_differing_field_treats_equal_numbers_and_instants_as_same():
    webhook = schema.parse_webhook(
        {**VALID, "price": Decimal("101.250")}, schema.datetime.now(schema.UTC)
    )

    stored = {**VALID, "price": Decimal("101.25"), "timestamp": "2026-12-03T11:00:00+01:00"}

    assert webhook.differing_field({**stored, "currency": "USD"}) is None


def test_readme_example_body_is_accepted(post):
    readme = (Path(process_webhook.__file__).parent / "README.md").read_text()
    example = readme.split("```json\n", 1)[1].split("```", 1)[0]

    status, body = post(example)

    assert (status, body["status"]) == (202, "accepted")


def test_post_without_headers_at_all_is_accepted(post, api_event, lambda_context):
    event = api_event(VALID)
    event.update(headers=None, multiValueHeaders=None)

    response = process_webhook.handler(event, lambda_context)

    assert response["statusCode"] == 202
