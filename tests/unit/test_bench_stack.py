"""The stack benchmark's pure parts: pacing, names, SNS timestamps, the accounting."""

import json
import re

import pytest

from tapstack.bench import stack


def webhook(event_id: str, status: int | None = 202, sent_at: float = 100.0) -> stack.Webhook:
    return stack.Webhook(
        event_id=event_id,
        symbol="BABC",
        sent_at=sent_at,
        answered_at=sent_at + 0.05 if status is not None else None,
        status=status,
    )


def received(event_id: str | None, at: float, published: float | None = None) -> stack.Received:
    return stack.Received(event_id, at, published)


def test_send_schedule_spaces_webhooks_by_the_rate():
    assert stack.send_schedule(4, 20.0, 10.0) == pytest.approx([10.0, 10.05, 10.1, 10.15])


def test_stack_name_is_outside_discovery_and_suffix_fits_the_template():
    suffix = stack.unique_suffix()

    name = stack.stack_name_for(suffix)

    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", suffix)
    assert not name.startswith(("TapStack", "localstack-stack-"))


def test_unique_symbol_is_a_valid_ticker():
    assert re.fullmatch(r"[A-Z0-9][A-Z0-9.-]{0,11}", stack.unique_symbol())


def test_webhook_body_prices_above_the_alert_threshold():
    body = json.loads(webhook("evt-1").body())

    assert body["event_id"] == "evt-1" and body["symbol"] == "BABC"
    assert body["price"] > stack.ALERT_THRESHOLD
    assert set(body) == {"event_id", "symbol", "price", "timestamp"}


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ({"Timestamp": "1970-01-01T00:01:40.250Z"}, 100.25),
        ({"Timestamp": "not a time"}, None),
        ({}, None),
    ],
    ids=["iso-z", "garbage", "absent"],
)
def test_published_time_reads_the_sns_timestamp(envelope, expected):
    assert stack.published_time(envelope) == expected


def test_account_counts_every_webhook_once():
    webhooks = [
        webhook("a"),
        webhook("b"),
        webhook("c"),
        webhook("refused", status=429),
        stack.Webhook("broken", "BABC", sent_at=100.0, answered_at=100.1, error="timeout"),
    ]
    notifications = [
        received("a", 100.5, published=100.4),
        received("b", 101.0),
        received("b", 101.2),
        received("stranger", 101.3),
    ]

    accounting = stack.account(webhooks, notifications)

    assert accounting["counts"] == {
        "sent": 5,
        "accepted": 3,
        "refused": 1,
        "failed_to_send": 1,
        "notified": 2,
        "lost": 1,
        "duplicates": 1,
        "unexpected": 1,
        "notified_per_second": 2.0,
    }
    assert accounting["webhook_to_received"] == pytest.approx([500.0, 1000.0])
    assert accounting["webhook_to_published"] == pytest.approx([400.0])
    assert len(accounting["webhook_post"]) == 5


def test_account_uses_the_first_of_duplicate_notifications():
    accounting = stack.account([webhook("a")], [received("a", 102.0), received("a", 100.2)])

    assert accounting["webhook_to_received"] == pytest.approx([200.0])
    assert accounting["counts"]["duplicates"] == 1


def test_account_counts_a_redelivered_message_once():
    accounting = stack.account(
        [webhook("a")],
        [
            stack.Received("a", 100.3, None, message_id="m-1"),
            stack.Received("a", 131.0, None, message_id="m-1"),
        ],
    )

    assert accounting["counts"]["duplicates"] == 0
    assert accounting["webhook_to_received"] == pytest.approx([300.0])


def test_account_of_an_unsent_webhook_counts_nothing():
    unsent = stack.Webhook("never", "BABC")

    counts = stack.account([unsent], [])["counts"]

    assert counts["sent"] == 0 and counts["accepted"] == 0 and counts["lost"] == 0


@pytest.mark.parametrize(
    ("quarter", "expected"),
    [(0, 1.5), (3, 7.5)],
    ids=["first", "last"],
)
def test_quarter_median_follows_send_order(quarter, expected):
    samples = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]

    assert stack.quarter_median(samples, quarter) == expected


def test_quarter_median_of_too_few_samples_is_none():
    assert stack.quarter_median([1.0], 0) is None
