"""The webhook body: parsing and validation with error messages that name the field.

handlers/README.md documents the same rules for people who send webhooks.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

MAX_BODY_BYTES = 8 * 1024
MAX_PRICE = Decimal("1000000000")
MAX_PRICE_DECIMALS = 10
MAX_FUTURE_SKEW = timedelta(hours=24)
DEFAULT_CURRENCY = "USD"

EVENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SYMBOL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9.-]{0,11}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MAX_SOURCE_LENGTH = 64
MAX_TIMESTAMP_LENGTH = 64

REQUIRED_FIELDS = ("event_id", "symbol", "price", "timestamp")
OPTIONAL_FIELDS = ("currency", "source")
KNOWN_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS


class WebhookError(Exception):
    """A request the webhook refuses; carries the HTTP status and the response body."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field

    def body(self) -> dict:
        """The JSON body of the error response."""
        return {"error": self.error, "message": self.message, "field": self.field}


def _invalid(field: str, message: str) -> WebhookError:
    return WebhookError(400, "invalid_field", f"field '{field}' {message}", field)


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Webhook:
    """A validated webhook, ready to be stored."""

    event_id: str
    symbol: str
    price: Decimal
    timestamp: str
    occurred_at: datetime
    currency: str = DEFAULT_CURRENCY
    source: str | None = None

    def differing_field(self, item: Mapping) -> str | None:
        """The first field in which a stored history item differs from this webhook, or None.

        Prices compare as numbers (100.5 equals 100.50) and timestamps as instants
        (``Z`` equals ``+00:00``).
        """
        if item.get("symbol") != self.symbol:
            return "symbol"
        if Decimal(str(item.get("price"))) != self.price:
            return "price"
        stored_instant = _parse_instant(str(item.get("timestamp")))
        if stored_instant != self.occurred_at:
            return "timestamp"
        if item.get("currency", DEFAULT_CURRENCY) != self.currency:
            return "currency"
        if item.get("source") != self.source:
            return "source"
        return None


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    document: dict = {}
    for key, value in pairs:
        if key in document:
            raise WebhookError(400, "invalid_json", f"body has the key '{key}' more than once", key)
        document[key] = value
    return document


def decode_json(body: bytes) -> object:
    """Parse the body as JSON; numbers become ``Decimal`` so prices stay exact."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(
            413,
            "payload_too_large",
            f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES} bytes",
        )
    if not body.strip():
        raise WebhookError(400, "invalid_json", "body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
        return json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=Decimal,
            object_pairs_hook=_reject_duplicate_keys,
        )
    except UnicodeDecodeError as exc:
        raise WebhookError(400, "invalid_json", "body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise WebhookError(
            400,
            "invalid_json",
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from exc


def _parse_instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def _string(document: Mapping, field: str) -> str:
    value = document[field]
    if not isinstance(value, str):
        raise _invalid(field, f"must be a string, got {_shown(value)}")
    return value


def _event_id(document: Mapping) -> str:
    value = _string(document, "event_id")
    if not EVENT_ID_PATTERN.fullmatch(value):
        raise _invalid(
            "event_id", f"must be 1-128 characters of A-Z a-z 0-9 . _ : -, got {_shown(value)}"
        )
    return value


def _symbol(document: Mapping) -> str:
    value = _string(document, "symbol")
    if SYMBOL_PATTERN.fullmatch(value.upper()) and value != value.upper():
        raise _invalid("symbol", f"must be upper case, got {_shown(value)}")
    if not SYMBOL_PATTERN.fullmatch(value):
        raise _invalid(
            "symbol",
            "must be 1-12 characters of A-Z 0-9 . - starting with a letter or digit, "
            f"got {_shown(value)}",
        )
    return value


def _price(document: Mapping) -> Decimal:
    value = document["price"]
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise _invalid("price", f"must be a JSON number, got {_shown(value)}")
    if not value.is_finite():
        raise _invalid("price", f"must be a finite number, got {value}")
    if value <= 0:
        raise _invalid("price", f"must be greater than 0, got {value}")
    if value > MAX_PRICE:
        raise _invalid("price", f"must be at most {MAX_PRICE}, got {value}")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PRICE_DECIMALS:
        limit = f"must have at most {MAX_PRICE_DECIMALS} decimal places"
        raise _invalid("price", f"{limit}, got {value}")
    return value


def _timestamp(document: Mapping, now: datetime) -> tuple[str, datetime]:
    value = _string(document, "timestamp")
    if len(value) > MAX_TIMESTAMP_LENGTH:
        raise _invalid("timestamp", f"must be at most {MAX_TIMESTAMP_LENGTH} characters")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _invalid(
            "timestamp",
            f"must be an ISO 8601 date and time such as 2026-12-03T10:00:00Z, got {_shown(value)}",
        ) from exc
    if parsed.tzinfo is None:
        raise _invalid(
            "timestamp",
            f"must carry a time zone offset (Z or +hh:mm), got {_shown(value)}",
        )
    instant = parsed.astimezone(UTC)
    if instant > now + MAX_FUTURE_SKEW:
        raise _invalid("timestamp", f"is more than 24 hours in the future, got {_shown(value)}")
    return value, instant


def _currency(document: Mapping) -> str:
    if "currency" not in document:
        return DEFAULT_CURRENCY
    value = _string(document, "currency")
    if not CURRENCY_PATTERN.fullmatch(value):
        raise _invalid("currency", f"must be 3 upper-case letters (ISO 4217), got {_shown(value)}")
    return value


def _source(document: Mapping) -> str | None:
    if "source" not in document:
        return None
    value = _string(document, "source")
    if not 1 <= len(value) <= MAX_SOURCE_LENGTH:
        raise _invalid("source", f"must be 1-{MAX_SOURCE_LENGTH} characters, got {len(value)}")
    return value


def parse_webhook(document: object, now: datetime) -> Webhook:
    """Validate a decoded JSON body and return the webhook it describes.

    Raises:
        WebhookError: 400 naming the first field that is missing, unknown or invalid.
    """
    if not isinstance(document, dict):
        kind = "an array" if isinstance(document, list) else "not an object"
        raise WebhookError(400, "invalid_body", f"body must be a JSON object, got {kind}")

    unknown = sorted(set(document) - set(KNOWN_FIELDS))
    if unknown:
        raise WebhookError(
            400,
            "unknown_field",
            f"field '{unknown[0]}' is not part of the webhook schema; "
            f"allowed fields: {', '.join(KNOWN_FIELDS)}",
            unknown[0],
        )
    for field in REQUIRED_FIELDS:
        if field not in document:
            raise WebhookError(400, "missing_field", f"field '{field}' is required", field)

    event_id = _event_id(document)
    symbol = _symbol(document)
    price = _price(document)
    timestamp, occurred_at = _timestamp(document, now)
    return Webhook(
        event_id=event_id,
        symbol=symbol,
        price=price,
        timestamp=timestamp,
        occurred_at=occurred_at,
        currency=_currency(document),
        source=_source(document),
    )


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(document: object) -> str:
    """JSON text of a document that may hold ``Decimal`` values (written as strings)."""
    return json.dumps(document, default=_json_default, separators=(",", ":"))
