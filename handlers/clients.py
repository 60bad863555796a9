"""boto3 clients and resources, created on first use and cached for warm invocations.

Nothing here names an endpoint: boto3 itself honours ``AWS_ENDPOINT_URL`` (LocalStack sets
it inside its Lambda environments). Tests call :func:`reset` so the next call builds new
objects inside their moto mock.
"""

import functools

import boto3
from botocore.config import Config

_CONFIG = Config(
    connect_timeout=5,
    read_timeout=15,
    retries={"max_attempts": 4, "mode": "standard"},
)


@functools.cache
def client(service: str):
    """Return the shared low-level client for ``service``."""
    return boto3.client(service, config=_CONFIG)


@functools.cache
def resource(service: str):
    """Return the shared resource object for ``service`` (used for DynamoDB tables)."""
    return boto3.resource(service, config=_CONFIG)


def table(name: str):
    """Return a DynamoDB ``Table`` resource, which converts numbers to ``Decimal``."""
    return resource("dynamodb").Table(name)


def reset() -> None:
    """Forget every cached client and resource."""
    client.cache_clear()
    resource.cache_clear()


def error_code(exc: Exception) -> str | None:
    """The AWS error code of a botocore ``ClientError``, else None."""
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code")
