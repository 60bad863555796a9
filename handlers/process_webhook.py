"""ProcessWebhook: API Gateway (REST, proxy) POST /webhooks -> PriceHistoryTable.

Validates the body (handlers/schema.py), stores it once per ``event_id`` and answers
202 accepted, 200 duplicate or 409 conflict. Every refusal stores nothing.
"""

import base64
import binascii
import time
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from handlers import clients, schema, settings
from handlers.observability import logger
from handlers.schema import Webhook, WebhookError

SECONDS_PER_DAY = 86_400
JSON_MEDIA_TYPE = "application/json"


def _response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON_MEDIA_TYPE},
        "body": schema.dumps(body),
    }


def _check_method(event: APIGatewayProxyEvent) -> None:
    method = (event.http_method or "POST").upper()
    if method != "POST":
        raise WebhookError(405, "method_not_allowed", f"method {method} is not allowed; use POST")


def _check_content_type(event: APIGatewayProxyEvent) -> None:
    header = event.headers.get("Content-Type")
    if not header:
        return
    media_type = header.split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        raise WebhookError(
            415,
            "unsupported_media_type",
            f"Content-Type {header!r} is not supported; send {JSON_MEDIA_TYPE}",
            "Content-Type",
        )


def _raw_body(event: APIGatewayProxyEvent) -> bytes:
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        message = "body is marked base64-encoded but does not decode"
        raise WebhookError(400, "invalid_body", message) from exc


def _item(webhook: Webhook, received: float, retention_days: int) -> dict:
    item = {
        "event_id": webhook.event_id,
        "symbol": webhook.symbol,
        "price": webhook.price,
        "timestamp": webhook.timestamp,
        "currency": webhook.currency,
        "received_at": datetime.fromtimestamp(received, UTC).isoformat(timespec="milliseconds"),
        "expires_at": int(received) + retention_days * SECONDS_PER_DAY,
    }
    if webhook.source is not None:
        item["source"] = webhook.source
    return item


def _store(webhook: Webhook) -> dict:
    config = settings.load()
    table = clients.table(config.price_history_table)
    item = _item(webhook, time.time(), config.history_retention_days)

    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(event_id)")
    except Exception as exc:
        if clients.error_code(exc) != "ConditionalCheckFailedException":
            raise
    else:
        logger.info("webhook stored", extra={"symbol": webhook.symbol, "price": webhook.price})
        return _response(202, {"event_id": webhook.event_id, "status": "accepted"})

    stored = table.get_item(Key={"event_id": webhook.event_id}, ConsistentRead=True).get("Item")
    if stored is None:
        # The item vanished between the two calls (expired and cleaned up): a retry stores it.
        raise RuntimeError(f"event {webhook.event_id} was neither stored nor readable")

    differing = webhook.differing_field(stored)
    if differing is not None:
        raise WebhookError(
            409,
            "conflict",
            f"event_id {webhook.event_id!r} was already received with a different "
            f"'{differing}'; use a new event_id for a new event",
            "event_id",
        )
    logger.info("duplicate webhook ignored")
    return _response(200, {"event_id": webhook.event_id, "status": "duplicate"})


def _peek_event_id(document: object) -> None:
    # Tag the logs even when a later field is invalid, so a refusal can be traced too.
    if isinstance(document, dict) and isinstance(document.get("event_id"), str):
        logger.append_keys(event_id=document["event_id"][:128])


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    """Validate and store one webhook; answer with a JSON body and a status code."""
    request = APIGatewayProxyEvent(event)
    try:
        _check_method(request)
        _check_content_type(request)
        document = schema.decode_json(_raw_body(request))
        _peek_event_id(document)
        webhook = schema.parse_webhook(document, datetime.now(UTC))
        return _store(webhook)
    except WebhookError as refusal:
        logger.info(
            "webhook refused",
            extra={"status": refusal.status, "error": refusal.error, "reason": refusal.message},
        )
        return _response(refusal.status, refusal.body())
    except Exception:
        logger.exception("webhook failed")
        return _response(
            500,
            {
                "error": "internal_error",
                "message": "the webhook could not be processed; retry with the same event_id",
                "field": None,
            },
        )
