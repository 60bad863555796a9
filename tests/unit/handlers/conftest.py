"""Fixtures for the handler tests: moto-backed tables, topic and queue, events, captured logs.

Everything AWS runs in moto (``mock_aws``). The one call moto cannot serve without Docker is
CheckAlerts' asynchronous Lambda invoke: ``send_notification_invocations`` replaces
``check_alerts.invoke_send_notification`` with a recorder that, by default, runs
SendNotification in-process with the same payload, as Lambda would.
"""

import base64
import io
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from handlers import check_alerts, clients, send_notification
from handlers.observability import logger

REGION = "us-east-1"
HISTORY_TABLE = "price-history-test"
ALERTS_TABLE = "alerts-test"
SYMBOL_INDEX = "symbol-status-index"
SEND_NOTIFICATION_FUNCTION = "send-notification-test"

_sequence_numbers = itertools.count(100)


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools' Logger reads."""

    function_name: str = "tapstack-test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        f"arn:aws:lambda:{REGION}:123456789012:function:tapstack-test-function"
    )
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def lambda_context():
    return FakeLambdaContext(aws_request_id=str(uuid.uuid4()))


@pytest.fixture(scope="session")
def aws_credentials():
    """Fake credentials and no emulator endpoint, for the whole session.

    Creating boto3 clients and resources costs tens of milliseconds each, so they are made
    once and reused; moto intercepts them in whichever test's mock is active.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_SESSION_TOKEN", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.setenv("AWS_REGION", REGION)
        clients.reset()
        yield
        clients.reset()


@pytest.fixture
def aws_environment(aws_credentials, monkeypatch):
    """The variables the template sets on the functions."""
    monkeypatch.delenv("FAIL_ON_SYMBOLS", raising=False)
    variables = {
        "PRICE_HISTORY_TABLE": HISTORY_TABLE,
        "ALERTS_TABLE": ALERTS_TABLE,
        "ALERTS_SYMBOL_INDEX": SYMBOL_INDEX,
        "SEND_NOTIFICATION_FUNCTION": SEND_NOTIFICATION_FUNCTION,
        "HISTORY_RETENTION_DAYS": "7",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def aws(aws_environment):
    """An active moto mock, empty at the start of each test."""
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def _session_dynamodb(aws_credentials):
    return boto3.resource("dynamodb", region_name=REGION)


@pytest.fixture(scope="session")
def _session_sns(aws_credentials):
    return boto3.client("sns", region_name=REGION)


@pytest.fixture(scope="session")
def _session_sqs(aws_credentials):
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def dynamodb(aws, _session_dynamodb):
    return _session_dynamodb


@pytest.fixture
def history_table(dynamodb):
    """PriceHistoryTable as the template declares it: event_id key, stream, TTL."""
    table = dynamodb.create_table(
        TableName=HISTORY_TABLE,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.meta.client.update_time_to_live(
        TableName=HISTORY_TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return table


@pytest.fixture
def alerts_table(dynamodb):
    """AlertsTable with its symbol-status-index (symbol, status; projection ALL)."""
    return dynamodb.create_table(
        TableName=ALERTS_TABLE,
        KeySchema=[{"AttributeName": "alert_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "alert_id", "AttributeType": "S"},
            {"AttributeName": "symbol", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": SYMBOL_INDEX,
                "KeySchema": [
                    {"AttributeName": "symbol", "KeyType": "HASH"},
                    {"AttributeName": "status", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def create_alert(alerts_table):
    """Factory: put an alert item and return it; ids are unique unless given."""

    def create(symbol="ACME", direction="above", threshold="100", status="active", **extra):
        item = {
            "alert_id": extra.pop("alert_id", f"alert-{uuid.uuid4().hex[:8]}"),
            "user_id": extra.pop("user_id", "user-1"),
            "symbol": symbol,
            "direction": direction,
            "threshold": Decimal(threshold),
            "status": status,
            **extra,
        }
        alerts_table.put_item(Item=item)
        return item

    return create


@pytest.fixture
def get_alert(alerts_table):
    def get(alert_id):
        return alerts_table.get_item(Key={"alert_id": alert_id}, ConsistentRead=True)["Item"]

    return get


@dataclass
class Notifications:
    """The SNS topic and an SQS queue subscribed to it, to read what was published."""

    topic_arn: str
    queue_url: str
    sqs: object

    def received(self) -> list[dict]:
        """Every message delivered so far, as SNS envelopes with the Message decoded."""
        messages = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            batch = response.get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["Message"] = json.loads(envelope["Message"])
                messages.append(envelope)
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def notifications(aws, monkeypatch, _session_sns, _session_sqs):
    sns, sqs = _session_sns, _session_sqs
    topic_arn = sns.create_topic(Name="notifications-test")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="notifications-test")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic_arn)
    return Notifications(topic_arn=topic_arn, queue_url=queue_url, sqs=sqs)


@dataclass
class Invocations:
    """Payloads CheckAlerts handed to SendNotification; ``forward`` runs it in-process."""

    payloads: list
    forward: bool = True


@pytest.fixture
def send_notification_invocations(monkeypatch, lambda_context):
    invocations = Invocations(payloads=[])

    def invoke(function_name, payload):
        assert function_name == SEND_NOTIFICATION_FUNCTION
        # Round-trip through JSON, as the Lambda service does with the real payload.
        decoded = json.loads(json.dumps(payload, default=str))
        invocations.payloads.append(decoded)
        if invocations.forward:
            send_notification.handler(decoded, lambda_context)

    monkeypatch.setattr(check_alerts, "invoke_send_notification", invoke)
    return invocations


@pytest.fixture
def api_event():
    """Factory: an API Gateway REST proxy event for POST /webhooks."""

    def build(body, headers=None, method="POST", base64_encoded=False):
        if isinstance(body, dict | list):
            body = json.dumps(body)
        if base64_encoded:
            raw = body if isinstance(body, bytes) else body.encode("utf-8")
            body = base64.b64encode(raw).decode("ascii")
        if headers is None:
            headers = {"Content-Type": "application/json"}
        return {
            "resource": "/webhooks",
            "path": "/webhooks",
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {key: [value] for key, value in headers.items()},
            "queryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/webhooks",
                "httpMethod": method,
                "stage": "test",
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": "127.0.0.1", "apiKey": "test-key"},
            },
            "body": body,
            "isBase64Encoded": base64_encoded,
        }

    return build


def _stream_record(new_image=None, event_name="INSERT", old_image=None, keys=None):
    serializer = TypeSerializer()
    sequence_number = str(next(_sequence_numbers))
    image = new_image or old_image or {}
    keys = keys or {"event_id": image.get("event_id", "unknown")}
    dynamodb = {
        "ApproximateCreationDateTime": int(time.time()),
        "Keys": {key: serializer.serialize(value) for key, value in keys.items()},
        "SequenceNumber": sequence_number,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_image is not None:
        dynamodb["NewImage"] = {k: serializer.serialize(v) for k, v in new_image.items()}
    if old_image is not None:
        dynamodb["OldImage"] = {k: serializer.serialize(v) for k, v in old_image.items()}
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": (
            f"arn:aws:dynamodb:{REGION}:123456789012:table/{HISTORY_TABLE}/stream/2026-12-03"
        ),
    }


def _price_item(event_id, symbol="ACME", price="100", timestamp="2026-12-03T10:00:00Z"):
    return {
        "event_id": event_id,
        "symbol": symbol,
        "price": Decimal(price),
        "timestamp": timestamp,
        "currency": "USD",
        "received_at": "2026-12-03T10:00:01.000+00:00",
        "expires_at": int(time.time()) + 86_400,
    }


@pytest.fixture
def stream_record():
    """Factory: one DynamoDB stream record (INSERT by default) in the shape Lambda delivers."""
    return _stream_record


@pytest.fixture
def price_item():
    """Factory: a price-history item as ProcessWebhook stores it."""
    return _price_item


@pytest.fixture
def log_records():
    """Return a function that gives the JSON log lines the handlers wrote so far.

    Powertools' handler keeps the stdout it saw at import, so it is pointed at a buffer here.
    """
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)

    def read():
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield read
    logger.registered_handler.setStream(previous)
