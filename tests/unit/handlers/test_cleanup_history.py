"""CleanupHistory: deletes price-history items past retention, and only those."""

import time

import pytest

from handlers import cleanup_history, clients


@pytest.fixture
def scheduled_event():
    return {
        "version": "0",
        "id": "5c0b1a3e-0000-4000-8000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-03T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/cleanup-test"],
        "detail": {},
    }


@pytest.fixture
def fill_history(history_table):
    """Factory: put ``count`` items expiring ``offset`` seconds from now; return their ids."""

    def fill(prefix, count, offset):
        expires_at = int(time.time()) + offset
        with history_table.batch_writer() as batch:
            for number in range(count):
                batch.put_item(
                    Item={
                        "event_id": f"{prefix}-{number}",
                        "symbol": "ACME",
                        "expires_at": expires_at,
                    }
                )
        return {f"{prefix}-{number}" for number in range(count)}

    return fill


def remaining_ids(history_table):
    return {item["event_id"] for item in history_table.scan(ConsistentRead=True)["Items"]}


def test_cleanup_deletes_only_expired_items(
    history_table, fill_history, scheduled_event, lambda_context, log_records
):
    fill_history("expired", 60, -60)
    kept = fill_history("current", 5, 3600)

    result = cleanup_history.handler(scheduled_event, lambda_context)

    assert result == {"deleted": 60, "scanned": 65}
    assert remaining_ids(history_table) == kept
    [summary] = [r for r in log_records() if r["message"] == "price history cleaned up"]
    assert (summary["deleted"], summary["scanned"]) == (60, 65)


def test_cleanup_of_an_empty_table_deletes_nothing(history_table, scheduled_event, lambda_context):
    result = cleanup_history.handler(scheduled_event, lambda_context)

    assert result == {"deleted": 0, "scanned": 0}


class FlakyDynamoDB:
    """Wraps a DynamoDB client; BatchWriteItem leaves the last item unprocessed N times."""

    def __init__(self, real, unprocessed_times):
        self.real = real
        self.unprocessed_times = unprocessed_times
        self.batch_sizes = []

    def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's argument name
        [(table, requests)] = RequestItems.items()
        self.batch_sizes.append(len(requests))
        if self.unprocessed_times:
            self.unprocessed_times -= 1
            if len(requests) > 1:
                self.real.batch_write_item(RequestItems={table: requests[:-1]})
            return {"UnprocessedItems": {table: requests[-1:]}}
        return self.real.batch_write_item(RequestItems=RequestItems)


def test_unprocessed_deletes_are_retried_with_backoff(history_table, fill_history, monkeypatch):
    fill_history("expired", 30, -60)
    keys = [{"event_id": {"S": f"expired-{number}"}} for number in range(30)]
    flaky = FlakyDynamoDB(clients.client("dynamodb"), unprocessed_times=2)
    waits = []
    monkeypatch.setattr(cleanup_history, "sleep", waits.append)

    deleted = cleanup_history.delete_keys(flaky, history_table.name, keys)

    assert deleted == 30
    assert flaky.batch_sizes == [25, 1, 1, 5]
    assert waits == [0.1, 0.2]
    assert remaining_ids(history_table) == set()


def test_deletes_still_unprocessed_after_every_attempt_raise(
    history_table, fill_history, monkeypatch
):
    fill_history("expired", 3, -60)
    keys = [{"event_id": {"S": f"expired-{number}"}} for number in range(3)]
    flaky = FlakyDynamoDB(clients.client("dynamodb"), unprocessed_times=99)
    monkeypatch.setattr(cleanup_history, "sleep", lambda seconds: None)

    with pytest.raises(cleanup_history.CleanupError, match="still unprocessed after 6 attempts"):
        cleanup_history.delete_keys(flaky, history_table.name, keys)
