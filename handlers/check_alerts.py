"""CheckAlerts: PriceHistoryTable stream -> alerts that fire -> SendNotification (async).

Each INSERT record is one price. Alerts of that symbol with status ``active`` fire when the
price reaches their threshold (inclusive on both sides). Firing is a conditional update,
so one alert fires for one record at most once; the notification is handed to
SendNotification with an asynchronous invoke. A record that fails is reported as a batch
item failure and the rest of the batch goes on.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from handlers import clients, schema, settings
from handlers.observability import logger

ACTIVE = "active"
TRIGGERED = "triggered"

# Whole-batch failures are reported record by record as well, instead of raising: the
# response then says which sequence number to restart from.
processor = BatchProcessor(
    event_type=EventType.DynamoDBStreams,
    raise_on_entire_batch_failure=False,
)


class PoisonRecordError(ValueError):
    """A stream record CheckAlerts cannot process; retrying it will not help."""


class InjectedFailureError(RuntimeError):
    """Raised on purpose for a symbol listed in ``FAIL_ON_SYMBOLS`` (fault injection)."""


def crosses(direction: str, threshold: Decimal, price: Decimal) -> bool:
    """True when ``price`` reaches the threshold: ``above`` means >=, ``below`` means <=."""
    if direction == "above":
        return price >= threshold
    if direction == "below":
        return price <= threshold
    return False


def _field(image: dict, name: str, kind: type) -> object:
    value = image.get(name)
    if not isinstance(value, kind):
        shown = "missing" if value is None else f"a {type(value).__name__}"
        raise PoisonRecordError(
            f"NewImage attribute '{name}' must be a {kind.__name__}, is {shown}"
        )
    return value


def _query(table, index: str, symbol: str, status: str, triggered_by: str | None) -> Iterator:
    arguments = {
        "IndexName": index,
        "KeyConditionExpression": "symbol = :symbol AND #status = :status",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":symbol": symbol, ":status": status},
    }
    if triggered_by is not None:
        arguments["FilterExpression"] = "triggered_by = :event_id"
        arguments["ExpressionAttributeValues"][":event_id"] = triggered_by

    while True:
        page = table.query(**arguments)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def candidate_alerts(table, index: str, symbol: str, event_id: str) -> Iterator[dict]:
    """Active alerts of ``symbol``, then those this event already triggered.

    The second group matters after a failure between firing an alert and handing off its
    notification: the redelivered record must finish that work, and the alert is no longer
    ``active``.
    """
    yield from _query(table, index, symbol, ACTIVE, None)
    yield from _query(table, index, symbol, TRIGGERED, event_id)


def _trigger(table, alert: dict, event_id: str, price: Decimal) -> dict | None:
    """Mark the alert triggered by this event; None when another event got there first."""
    try:
        response = table.update_item(
            Key={"alert_id": alert["alert_id"]},
            UpdateExpression=(
                "SET #status = :triggered, triggered_by = :event_id, "
                "triggered_at = if_not_exists(triggered_at, :now), "
                "triggered_price = :price"
            ),
            ConditionExpression="#status = :active OR triggered_by = :event_id",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":triggered": TRIGGERED,
                ":active": ACTIVE,
                ":event_id": event_id,
                ":now": datetime.now(UTC).isoformat(timespec="milliseconds"),
                ":price": price,
            },
            ReturnValues="ALL_NEW",
        )
    except Exception as exc:
        if clients.error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return response["Attributes"]


def invoke_send_notification(function_name: str, payload: dict) -> None:
    """Hand one notification to SendNotification with an asynchronous (Event) invoke."""
    clients.client("lambda").invoke(
        FunctionName=function_name,
        InvocationType="Event",
        Payload=schema.dumps(payload).encode("utf-8"),
    )


def _notification(alert: dict, price: Decimal, event_id: str, timestamp: str) -> dict:
    return {
        "alert_id": alert["alert_id"],
        "user_id": alert.get("user_id"),
        "symbol": alert["symbol"],
        "direction": alert["direction"],
        "threshold": alert["threshold"],
        "price": price,
        "event_id": event_id,
        "timestamp": timestamp,
    }


def _check_price(symbol: str, price: Decimal, event_id: str, timestamp: str) -> dict:
    config = settings.load()
    table = clients.table(config.alerts_table)
    counts = {"fired": 0, "lost_race": 0, "already_notified": 0}

    for alert in candidate_alerts(table, config.alerts_symbol_index, symbol, event_id):
        threshold = alert.get("threshold")
        if not isinstance(threshold, Decimal) or not crosses(
            alert.get("direction"), threshold, price
        ):
            continue

        triggered = _trigger(table, alert, event_id, price)
        if triggered is None:
            counts["lost_race"] += 1
            logger.info(
                "alert already triggered by another event",
                extra={"alert_id": alert["alert_id"]},
            )
            continue
        if triggered.get("notified_at"):
            counts["already_notified"] += 1
            logger.info("alert already notified", extra={"alert_id": alert["alert_id"]})
            continue

        payload = _notification(triggered, price, event_id, timestamp)
        invoke_send_notification(config.send_notification_function, payload)
        counts["fired"] += 1
        logger.info(
            "alert fired",
            extra={"alert_id": alert["alert_id"], "threshold": threshold, "price": price},
        )
    return counts


def record_handler(record: DynamoDBRecord) -> dict | None:
    """Process one stream record; raise to report it as a batch item failure."""
    if record.event_name != DynamoDBRecordEventName.INSERT:
        return None

    image = record.dynamodb.new_image if record.dynamodb else {}
    event_id = image.get("event_id")
    with logger.append_context_keys(event_id=event_id):
        try:
            event_id = _field(image, "event_id", str)
            symbol = _field(image, "symbol", str)
            price = _field(image, "price", Decimal)
            timestamp = image.get("timestamp")
            if symbol in settings.load().fail_on_symbols:
                raise InjectedFailureError(f"symbol {symbol} is listed in FAIL_ON_SYMBOLS")
            counts = _check_price(symbol, price, event_id, timestamp)
        except Exception:
            logger.exception(
                "stream record failed",
                extra={"sequence_number": record.dynamodb and record.dynamodb.sequence_number},
            )
            raise
        logger.info("price checked", extra={"symbol": symbol, "price": price, **counts})
        return counts


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    """Check a batch of stream records; return the records that failed."""
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failures = response.get("batchItemFailures", [])
    logger.info(
        "batch checked",
        extra={"records": len(event.get("Records", [])), "failed": len(failures)},
    )
    return response
