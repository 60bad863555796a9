"""AWS clients for the harness, built in one place so every caller talks to the same endpoint."""

import os

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"

# LocalStack accepts any credentials; these only keep botocore from looking for real ones.
_LOCALSTACK_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def region() -> str:
    """The region every client uses: ``AWS_DEFAULT_REGION``, else us-east-1."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION


def client(service: str, endpoint_url: str | None = None, **config):
    """Return a boto3 client for ``service``; with ``endpoint_url`` it talks to that emulator.

    Keyword arguments go into botocore's ``Config`` (for example ``read_timeout``).
    """
    settings = Config(retries={"max_attempts": 3, "mode": "standard"}, **config)
    if endpoint_url is None:
        return boto3.client(service, region_name=region(), config=settings)
    return boto3.client(
        service,
        region_name=region(),
        endpoint_url=endpoint_url,
        config=settings,
        **_LOCALSTACK_CREDENTIALS,
    )
