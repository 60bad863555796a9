"""SendNotification: one triggered alert -> one SNS message, at most once.

Invoked asynchronously by CheckAlerts. The alert is marked ``notified_at`` before the
publish, under a condition, so a second invocation for the same alert publishes nothing.
A failed publish takes the mark back and raises, so Lambda's asynchronous retry tries again.
"""

from datetime import UTC, datetime

from handlers import clients, schema, settings
from handlers.observability import logger

REQUIRED_KEYS = ("alert_id", "symbol", "direction", "threshold", "price", "event_id")
ATTRIBUTE_KEYS = ("symbol", "direction", "alert_id", "event_id", "user_id")
MAX_SUBJECT_LENGTH = 100


class InvalidPayloadError(ValueError):
    """The invocation payload lacks a key SendNotification needs."""


def _validate(payload: dict) -> None:
    if not isinstance(payload, dict):
        raise InvalidPayloadError(f"payload must be a JSON object, got {type(payload).__name__}")
    missing = [key for key in REQUIRED_KEYS if payload.get(key) in (None, "")]
    if missing:
        raise InvalidPayloadError(f"payload lacks {', '.join(missing)}")


def _claim(table, alert_id: str, event_id: str, now: str) -> bool:
    """Set notified_at when nobody has; False when the alert is notified or not ours."""
    try:
        table.update_item(
            Key={"alert_id": alert_id},
            UpdateExpression="SET notified_at = :now",
            ConditionExpression="attribute_not_exists(notified_at) AND triggered_by = :event_id",
            ExpressionAttributeValues={":now": now, ":event_id": event_id},
        )
    except Exception as exc:
        if clients.error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _release(table, alert_id: str, now: str) -> None:
    """Take back our notified_at mark, so a retry can publish; failures are only logged."""
    try:
        table.update_item(
            Key={"alert_id": alert_id},
            UpdateExpression="REMOVE notified_at",
            ConditionExpression="notified_at = :now",
            ExpressionAttributeValues={":now": now},
        )
    except Exception:
        logger.exception("could not remove notified_at; a retry will not publish")


def _subject(payload: dict) -> str:
    subject = (
        f"Price alert: {payload['symbol']} {payload['direction']} {payload['threshold']} "
        f"(price {payload['price']})"
    )
    return subject[:MAX_SUBJECT_LENGTH]


def _attributes(payload: dict) -> dict:
    return {
        key: {"DataType": "String", "StringValue": str(payload[key])}
        for key in ATTRIBUTE_KEYS
        if payload.get(key) not in (None, "")
    }


def _publish(topic_arn: str, payload: dict, notified_at: str) -> str:
    message = {
        "alert_id": payload["alert_id"],
        "user_id": payload.get("user_id"),
        "symbol": payload["symbol"],
        "direction": payload["direction"],
        "threshold": payload["threshold"],
        "price": payload["price"],
        "event_id": payload["event_id"],
        "timestamp": payload.get("timestamp"),
        "notified_at": notified_at,
    }
    response = clients.client("sns").publish(
        TopicArn=topic_arn,
        Subject=_subject(payload),
        Message=schema.dumps(message),
        MessageAttributes=_attributes(payload),
    )
    return response["MessageId"]


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    """Publish the notification of one triggered alert unless it was already sent."""
    if isinstance(event, dict) and isinstance(event.get("event_id"), str):
        logger.append_keys(event_id=event["event_id"], alert_id=event.get("alert_id"))
    _validate(event)

    config = settings.load()
    table = clients.table(config.alerts_table)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")

    if not _claim(table, event["alert_id"], event["event_id"], now):
        logger.info("notification skipped: already sent, or the alert is not triggered by it")
        return {"status": "skipped", "alert_id": event["alert_id"]}

    try:
        message_id = _publish(config.notification_topic_arn, event, now)
    except Exception:
        logger.exception("publish failed; notified_at taken back for a retry")
        _release(table, event["alert_id"], now)
        raise

    logger.info("notification published", extra={"message_id": message_id})
    return {"status": "published", "alert_id": event["alert_id"], "message_id": message_id}
