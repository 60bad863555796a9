"""CleanupHistory: EventBridge schedule -> delete price-history items past retention.

DynamoDB's TTL deletes expired items too, but only eventually (and LocalStack not at all
unless told); this sweep makes retention exact. It deletes only items whose ``expires_at``
lies in the past.
"""

import time

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

from handlers import clients, settings
from handlers.observability import logger

BATCH_SIZE = 25
MAX_ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 2.0

# Indirection so tests can skip the waits.
sleep = time.sleep


class CleanupError(RuntimeError):
    """Some expired items could not be deleted after every retry."""


def expired_keys(dynamodb, table_name: str, now: int):
    """Yield pages of (keys, scanned count) of items whose expires_at is before ``now``."""
    paginator = dynamodb.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table_name,
        ProjectionExpression="event_id, expires_at",
        FilterExpression="expires_at < :now",
        ExpressionAttributeValues={":now": {"N": str(now)}},
        ConsistentRead=True,
    )
    for page in pages:
        keys = [{"event_id": item["event_id"]} for item in page.get("Items", [])]
        yield keys, page.get("ScannedCount", 0)


def delete_keys(dynamodb, table_name: str, keys: list[dict]) -> int:
    """Delete items by key, 25 a request, retrying unprocessed items with backoff."""
    deleted = 0
    for start in range(0, len(keys), BATCH_SIZE):
        chunk = keys[start : start + BATCH_SIZE]
        requests = [{"DeleteRequest": {"Key": key}} for key in chunk]
        backoff = FIRST_BACKOFF_SECONDS

        for attempt in range(1, MAX_ATTEMPTS + 1):
            response = dynamodb.batch_write_item(RequestItems={table_name: requests})
            requests = response.get("UnprocessedItems", {}).get(table_name, [])
            if not requests:
                break
            if attempt == MAX_ATTEMPTS:
                raise CleanupError(
                    f"{len(requests)} expired items of {table_name} were still unprocessed "
                    f"after {MAX_ATTEMPTS} attempts; the next scheduled run retries them"
                )
            logger.debug("retrying %d unprocessed deletes in %.1f s", len(requests), backoff)
            sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        deleted += len(chunk)
    return deleted


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    """Delete every price-history item past retention; return how many were scanned and deleted."""
    scheduled = EventBridgeEvent(event)
    table_name = settings.load().price_history_table
    dynamodb = clients.client("dynamodb")
    now = int(time.time())

    deleted = scanned = 0
    for keys, scanned_count in expired_keys(dynamodb, table_name, now):
        scanned += scanned_count
        deleted += delete_keys(dynamodb, table_name, keys)

    logger.info(
        "price history cleaned up",
        extra={
            "deleted": deleted,
            "scanned": scanned,
            "table": table_name,
            "schedule_event_id": scheduled.get_id,
        },
    )
    return {"deleted": deleted, "scanned": scanned}
