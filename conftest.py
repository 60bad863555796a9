"""Session fixtures shared by every test suite: LocalStack, AWS clients, the deployed stack.

Unit tests (tests/unit) use none of these and run without LocalStack. The integration
suites ask for ``localstack`` (directly or through the stack fixtures), which reuses a
LocalStack that already answers, or brings one up and takes it down at the end.
"""

import contextlib
import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

LOG = logging.getLogger(__name__)


RUN_VARIABLE = "TAPSTACK_TEST_RUN"
RUN_RECORD = "test-run.json"


def pytest_configure(config):
    # The main process (plain pytest, or xdist's controller) names the run before any
    # worker starts; workers inherit the variable and record what they start under it.
    if not hasattr(config, "workerinput"):
        os.environ[RUN_VARIABLE] = uuid.uuid4().hex


def pytest_sessionfinish(session):
    """Stop what this run started, once, from the main process, after every worker is done."""
    if hasattr(session.config, "workerinput"):
        return
    with _state_lock("test-run.lock") as folder:
        record = _read_json(folder / RUN_RECORD)
        if record.get("run_id") != os.environ.get(RUN_VARIABLE):
            return
        (folder / RUN_RECORD).unlink()
    _finish_run(record)


def _finish_run(record: dict) -> None:
    from tapstack import runtime
    from tapstack.stack import deploy

    stack_name = record.get("delete_stack")
    if stack_name:
        try:
            deploy.delete(record["endpoint"], stack_name)
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the test results
            LOG.warning("could not delete stack %s: %s", stack_name, exc)
    if record.get("started_localstack"):
        runtime.down(runtime.RuntimeSettings.from_env())


def _record_for_run(**facts) -> None:
    """Remember, for ``pytest_sessionfinish``, something this run must undo at its end."""
    with _state_lock("test-run.lock") as folder:
        path = folder / RUN_RECORD
        record = _read_json(path)
        if record.get("run_id") != os.environ.get(RUN_VARIABLE):
            record = {"run_id": os.environ.get(RUN_VARIABLE)}
        record.update(facts)
        _write_json(path, record)


@pytest.fixture(scope="session")
def localstack():
    """A ready LocalStack for the session, as a ``tapstack.runtime.Runtime``.

    Reuses one that already runs (external endpoint, or one ``tapstack up`` started) and
    leaves it running. One that this run starts is stopped when the whole run ends, by the
    main process, so parallel workers (pytest-xdist) share it to the last test.
    """
    from tapstack import runtime

    settings = runtime.RuntimeSettings.from_env()
    started = runtime.up(settings)
    LOG.info("LocalStack (%s mode) at %s", started.mode, started.endpoint)
    if started.started:
        _record_for_run(started_localstack=True, endpoint=started.endpoint)
    return started


# -- the deployed stack and what the tests use to drive it ---------------------------------
#
# Everything below talks to the LocalStack of the ``localstack`` fixture. With pytest-xdist
# every worker runs these session fixtures; a file lock in the state dir makes one worker
# deploy while the others wait, then use the stack it recorded.

KEEP_STACK_VARIABLE = "TAPSTACK_KEEP_STACK"
API_KEY_HEADER = "x-api-key"
USE_STACK_KEY = object()


@contextlib.contextmanager
def _state_lock(name: str):
    from tapstack.locking import exclusive_lock
    from tapstack.paths import state_dir

    folder = state_dir()
    with exclusive_lock(folder / name):
        yield folder


@pytest.fixture(scope="session")
def state_lock():
    """Factory: ``with state_lock("name.lock"):`` holds an exclusive lock in the state dir,
    across xdist workers (for changes to shared resources such as a function's settings)."""
    return _state_lock


class AwsClients:
    """boto3 clients bound to one endpoint, one per service, made on first use.

    ``aws_clients.sqs`` or ``aws_clients("sqs")``; ``aws_clients.lambda_`` for Lambda.
    """

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self._made = {}

    def __call__(self, service: str):
        if service not in self._made:
            from tapstack import aws

            self._made[service] = aws.client(service, self.endpoint)
        return self._made[service]

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self(name.rstrip("_"))


@pytest.fixture(scope="session")
def aws_clients(localstack):
    """boto3 clients bound to the session's LocalStack (see ``AwsClients``)."""
    return AwsClients(localstack.endpoint)


@pytest.fixture(scope="session")
def deployed_stack(localstack, aws_clients):
    """The TapStack the session tests against, as a ``tapstack.stack.deploy.DeployResult``.

    Discovered and reused when its content hash matches the template, parameters and
    handlers; updated when it does not; created when there is none (``TAPSTACK_STACK_NAME``
    chooses among several). Kept at the end unless ``TAPSTACK_KEEP_STACK=0``, in which case
    the main process deletes it once every worker is done.
    """
    from tapstack.stack import deploy

    run_id = os.environ.get(RUN_VARIABLE)
    with _state_lock("deploy.lock") as folder:
        marker = folder / "deployed-stack.json"
        record = _read_json(marker)
        if record.get("run_id") == run_id:
            # Another worker of this run deployed already: use exactly that stack.
            result = deploy.DeployResult(record["stack_name"], "reused", record["hash"], 0.0)
        else:
            result = deploy.deploy(localstack.endpoint)
            LOG.info("stack %s %s in %.1f s", result.stack_name, result.action, result.seconds)
            record = {"run_id": run_id, "stack_name": result.stack_name}
            _write_json(marker, {**record, "hash": result.content_hash})
            if os.environ.get(KEEP_STACK_VARIABLE, "1") == "0":
                _record_for_run(delete_stack=result.stack_name, endpoint=localstack.endpoint)
    return result


def _read_json(path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


@pytest.fixture(scope="session")
def stack_outputs(localstack, aws_clients, deployed_stack):
    """The deployed stack's outputs (``tapstack.stack.outputs.StackOutputs``), also written
    to ``<state dir>/stack-outputs.json``."""
    from tapstack.stack.outputs import read_outputs

    outputs = read_outputs(
        aws_clients.cloudformation,
        aws_clients.apigateway,
        deployed_stack.stack_name,
        localstack.endpoint,
    )
    with _state_lock("outputs.lock"):
        outputs.write()
    return outputs


@pytest.fixture(scope="session")
def notification_observer(aws_clients, stack_outputs):
    """An SQS queue subscribed to the notification topic, for this session (or xdist worker).

    Use ``notification_observer.wait_for(event_id=..., count=...)`` to wait for what a test
    caused, and ``received(...)`` to check that something did not arrive. The queue and the
    subscription are removed at the end.
    """
    from tapstack.stack.notifications import NotificationObserver

    observer = NotificationObserver.start(
        aws_clients.sns, aws_clients.sqs, stack_outputs["NotificationTopicArn"]
    )
    yield observer
    observer.stop()


def _unique_symbol(prefix: str = "T") -> str:
    return (prefix + uuid.uuid4().hex.upper())[:12]


def _unique_event_id(prefix: str = "evt") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
def unique_symbol():
    """Factory: a ticker symbol no other test uses (1-12 of A-Z 0-9 . -), ``unique_symbol()``."""
    return _unique_symbol


@pytest.fixture
def unique_event_id():
    """Factory: a webhook event id no other test uses, ``unique_event_id()``."""
    return _unique_event_id


@pytest.fixture
def create_alert(aws_clients, stack_outputs):
    """Factory: put an active alert in the alerts table; every alert is deleted at teardown.

    ``create_alert(symbol, threshold, direction="above", **attributes)`` returns the item.
    """
    from tapstack.waiters import to_attributes

    table = stack_outputs["AlertsTableName"]
    created = []

    def create(symbol: str, threshold, direction: str = "above", **attributes) -> dict:
        item = {
            "alert_id": f"alert-{uuid.uuid4().hex}",
            "user_id": f"user-{uuid.uuid4().hex[:8]}",
            "symbol": symbol,
            "direction": direction,
            "threshold": Decimal(str(threshold)),
            "status": "active",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **attributes,
        }
        aws_clients.dynamodb.put_item(TableName=table, Item=to_attributes(item))
        created.append(item["alert_id"])
        return item

    yield create

    for alert_id in created:
        try:
            aws_clients.dynamodb.delete_item(TableName=table, Key={"alert_id": {"S": alert_id}})
        except Exception as exc:  # noqa: BLE001 - cleanup must not fail the test
            LOG.debug("could not delete alert %s: %s", alert_id, exc)


def _webhook_body(symbol: str, price, *, event_id: str | None = None, **fields) -> dict:
    return {
        "event_id": event_id or _unique_event_id(),
        "symbol": symbol,
        "price": price,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        **fields,
    }


@pytest.fixture
def webhook_body():
    """Factory: a valid webhook body, ``webhook_body(symbol, price, event_id=None, **fields)``
    (a new event id unless given; more fields override or add)."""
    return _webhook_body


@pytest.fixture
def send_webhook(request, aws_clients, stack_outputs):
    """Factory: POST a webhook through API Gateway over real HTTP; returns the response.

    ``send_webhook(body)`` sends a dict as JSON; ``data=`` sends raw bytes or text instead.
    The API key is the stack's unless ``api_key=`` says otherwise (None sends no key).
    Every event id sent is recorded on the test (for the failure evidence) and its
    price-history item is deleted at teardown.
    """
    import requests

    sent_ids = []
    request.node.tapstack_event_ids = sent_ids

    def send(body=None, *, data=None, api_key=USE_STACK_KEY, headers=None, timeout=30):
        if isinstance(body, dict) and isinstance(body.get("event_id"), str):
            sent_ids.append(body["event_id"])
        payload = data if data is not None else json.dumps(body, default=str)
        sent_headers = {"Content-Type": "application/json", **(headers or {})}
        key = stack_outputs.api_key_value if api_key is USE_STACK_KEY else api_key
        if key is not None:
            sent_headers[API_KEY_HEADER] = key
        return requests.post(
            stack_outputs.webhook_url, data=payload, headers=sent_headers, timeout=timeout
        )

    yield send

    table = stack_outputs["PriceHistoryTableName"]
    for event_id in sent_ids:
        try:
            aws_clients.dynamodb.delete_item(TableName=table, Key={"event_id": {"S": event_id}})
        except Exception as exc:  # noqa: BLE001 - cleanup must not fail the test
            LOG.debug("could not delete history item %s: %s", event_id, exc)


@pytest.fixture
def history_item(aws_clients, stack_outputs):
    """Read one price-history item by event id (plain values), or None."""
    from tapstack.waiters import to_item

    def read(event_id: str) -> dict | None:
        response = aws_clients.dynamodb.get_item(
            TableName=stack_outputs["PriceHistoryTableName"],
            Key={"event_id": {"S": event_id}},
            ConsistentRead=True,
        )
        return to_item(response["Item"]) if "Item" in response else None

    return read


@pytest.fixture
def test_started():
    """When the test began (epoch seconds), for reading logs written since."""
    return time.time()
