"""The tapstack-host Lambda executor: each execution environment is a process on this host.

These tests need LocalStack in host mode (``LAMBDA_RUNTIME_EXECUTOR=tapstack-host``): they
look at environment processes by pid in /proc. Each test creates its own functions and
tables under unique names and deletes them afterwards.
"""

import base64
import io
import json
import logging
import re
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from tapstack import aws
from tapstack.waiters import (
    Poll,
    wait_for,
    wait_for_item,
    wait_for_log_event,
    wait_for_mapping_enabled,
)

LOG = logging.getLogger(__name__)

pytestmark = pytest.mark.localstack_runtime

FUNCTIONS_DIR = Path(__file__).parent / "functions"
# LocalStack does not enforce IAM; any well-formed role ARN will do.
ROLE_ARN = "arn:aws:iam::000000000000:role/host-executor-test"
PID_IN_LOGS = re.compile(r"probe pid=(\d+)")


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lambda_client(localstack):
    return aws.client("lambda", localstack.endpoint, read_timeout=120)


@pytest.fixture(scope="module")
def logs_client(localstack):
    return aws.client("logs", localstack.endpoint)


@pytest.fixture(scope="module")
def dynamodb_client(localstack):
    return aws.client("dynamodb", localstack.endpoint)


@pytest.fixture
def create_function(lambda_client, logs_client):
    """Factory: create a zip function from tests/integration/runtime/functions, wait until
    it is Active, return its name; delete it and its log group afterwards."""
    created: list[str] = []

    def create(
        handler: str,
        *,
        runtime: str = "python3.12",
        timeout: int = 10,
        environment: dict[str, str] | None = None,
        code: bytes | None = None,
    ) -> str:
        name = f"host-exec-{uuid.uuid4().hex[:10]}"
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE_ARN,
            Handler=handler,
            Code={"ZipFile": code or zip_files(FUNCTIONS_DIR / "host_probe.py")},
            Timeout=timeout,
            MemorySize=256,
            Architectures=["arm64"],
            Environment={"Variables": environment or {}},
        )
        created.append(name)
        wait_for_function_active(lambda_client, name)
        return name

    yield create

    for name in created:
        try:
            lambda_client.delete_function(FunctionName=name)
        except ClientError as exc:
            LOG.debug("could not delete function %s: %s", name, exc)
        try:
            logs_client.delete_log_group(logGroupName=f"/aws/lambda/{name}")
        except ClientError as exc:
            LOG.debug("could not delete log group of %s: %s", name, exc)


@pytest.fixture
def create_table(dynamodb_client):
    """Factory: create a pay-per-request table keyed by ``pk`` (optionally with a stream),
    wait until it is ACTIVE, return its description; delete it afterwards."""
    created: list[str] = []

    def create(*, stream: bool = False) -> dict:
        name = f"host-exec-{uuid.uuid4().hex[:10]}"
        arguments = {
            "TableName": name,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if stream:
            arguments["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": "NEW_IMAGE",
            }
        dynamodb_client.create_table(**arguments)
        created.append(name)
        return wait_for_table_active(dynamodb_client, name)

    yield create

    for name in created:
        try:
            dynamodb_client.delete_table(TableName=name)
        except ClientError as exc:
            LOG.debug("could not delete table %s: %s", name, exc)


@pytest.fixture
def create_event_source_mapping(lambda_client):
    """Factory: map a DynamoDB stream to a function, wait until Enabled; delete afterwards."""
    created: list[str] = []

    def create(function_name: str, stream_arn: str) -> str:
        mapping = lambda_client.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function_name,
            StartingPosition="TRIM_HORIZON",
            BatchSize=1,
            MaximumRetryAttempts=0,
        )
        created.append(mapping["UUID"])
        wait_for_mapping_enabled(lambda_client, mapping["UUID"])
        return mapping["UUID"]

    yield create

    for mapping_id in created:
        try:
            lambda_client.delete_event_source_mapping(UUID=mapping_id)
        except ClientError as exc:
            LOG.debug("could not delete event source mapping %s: %s", mapping_id, exc)


# -- helpers ----------------------------------------------------------------------------------


def zip_files(*paths: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in paths:
            archive.write(path, path.name)
    return buffer.getvalue()


def zip_text(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def invoke(lambda_client, function_name: str, event: dict) -> tuple[dict, object, str]:
    """Invoke synchronously; return the response, the decoded payload and the log tail."""
    response = lambda_client.invoke(
        FunctionName=function_name,
        Payload=json.dumps(event).encode(),
        LogType="Tail",
    )
    payload = json.loads(response["Payload"].read() or b"null")
    log_tail = base64.b64decode(response.get("LogResult", "")).decode()
    return response, payload, log_tail


def environment_process_running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) environment process of the host executor."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and b"bootstrap.py" in command_line


def wait_for_processes_gone(pids: set[int], timeout: float = 15) -> None:
    def probe() -> Poll:
        running = {pid for pid in pids if environment_process_running(pid)}
        return Poll(not running, f"still running: {sorted(running)}")

    wait_for(f"environment processes {sorted(pids)} to end", probe, timeout=timeout, interval=0.2)


def wait_for_function_active(lambda_client, name: str) -> None:
    def probe() -> Poll:
        state = lambda_client.get_function(FunctionName=name)["Configuration"]["State"]
        return Poll(state == "Active", state)

    wait_for(f"function {name} to be Active", probe, timeout=30, interval=0.2)


def wait_for_table_active(dynamodb_client, name: str) -> dict:
    def probe() -> Poll:
        table = dynamodb_client.describe_table(TableName=name)["Table"]
        return Poll(table["TableStatus"] == "ACTIVE", table)

    return wait_for(f"table {name} to be ACTIVE", probe, timeout=60, interval=0.2)


# -- tests ------------------------------------------------------------------------------------


def test_invoke_returns_handler_result_and_context(lambda_client, create_function):
    name = create_function("host_probe.describe", timeout=7)

    response, payload, _ = invoke(lambda_client, name, {"price": 42})

    assert "FunctionError" not in response
    assert payload["event"] == {"price": 42}
    context = payload["context"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"].endswith(f":function:{name}")
    assert context["memory_limit_in_mb"] == 256
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"]
    assert re.fullmatch(r"[0-9a-f-]{36}", context["aws_request_id"])
    assert 0 < context["remaining_time_in_millis"] <= 7000


def test_invoke_of_raising_handler_reports_unhandled_error(lambda_client, create_function):
    name = create_function("host_probe.fail")

    response, payload, log_tail = invoke(lambda_client, name, {"reason": "price feed down"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "probe failure: price feed down"
    assert isinstance(payload["stackTrace"], list)
    assert any("host_probe.py" in line and "in fail" in line for line in payload["stackTrace"])
    assert "[ERROR] ValueError: probe failure: price feed down" in log_tail


def test_invoke_of_missing_module_reports_import_module_error(lambda_client, create_function):
    name = create_function("no_such_module.handler")

    response, payload, _ = invoke(lambda_client, name, {})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"].startswith("Unable to import module 'no_such_module'")


def test_invoke_past_timeout_reports_task_timed_out_and_kills_process(
    lambda_client, create_function
):
    name = create_function("host_probe.sleep", timeout=2)

    started = time.monotonic()
    response, payload, log_tail = invoke(lambda_client, name, {"seconds": 5})
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 2.00 seconds" in payload["errorMessage"]
    assert elapsed < 4.5, f"the timeout took {elapsed:.1f} s to be reported"
    pid = int(PID_IN_LOGS.search(log_tail).group(1))
    wait_for_processes_gone({pid})

    # The environment comes back for the next invocation, in a new process.
    response, payload, _ = invoke(lambda_client, name, {"seconds": 0})
    assert "FunctionError" not in response
    assert payload["pid"] != pid


def test_concurrent_invokes_run_in_separate_environments(lambda_client, create_function):
    name = create_function("host_probe.sleep")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: invoke(lambda_client, name, {"seconds": 1}), range(4)))
    elapsed = time.monotonic() - started

    assert all("FunctionError" not in response for response, _, _ in results)
    pids = {payload["pid"] for _, payload, _ in results}
    assert len(pids) == 4
    assert elapsed < 3.0, f"4 concurrent 1 s invocations took {elapsed:.1f} s"


def test_environment_has_function_variables_and_lambda_settings(
    lambda_client, create_function, localstack
):
    name = create_function("host_probe.describe", environment={"ALERT_LEVEL": "high"})

    _, payload, _ = invoke(lambda_client, name, {})

    environment = payload["environment"]
    assert environment["ALERT_LEVEL"] == "high"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert environment["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environment["AWS_REGION"] == aws.region()
    assert environment["_HANDLER"] == "host_probe.describe"
    assert environment["AWS_ACCESS_KEY_ID"] and environment["AWS_SESSION_TOKEN"]
    endpoint = urlparse(environment["AWS_ENDPOINT_URL"])
    assert endpoint.scheme == "http"
    assert endpoint.port == urlparse(localstack.endpoint).port
    assert environment["LAMBDA_TASK_ROOT"] == payload["cwd"] == payload["sys_path_0"]


def test_handler_output_reaches_cloudwatch_logs(lambda_client, logs_client, create_function):
    name = create_function("host_probe.shout")
    marker = uuid.uuid4().hex
    log_group = f"/aws/lambda/{name}"

    response, _, _ = invoke(lambda_client, name, {"marker": marker})

    assert "FunctionError" not in response
    wait_for_log_event(logs_client, log_group, f"stdout {marker}", timeout=20, interval=0.5)
    wait_for_log_event(logs_client, log_group, f"stderr {marker}", timeout=20, interval=0.5)
    wait_for_log_event(logs_client, log_group, "REPORT RequestId:", timeout=20, interval=0.5)


def test_stream_record_invokes_function(
    create_function, create_table, create_event_source_mapping, dynamodb_client
):
    source = create_table(stream=True)
    target = create_table()
    name = create_function(
        "host_probe.copy_stream_records", environment={"TARGET_TABLE": target["TableName"]}
    )
    create_event_source_mapping(name, source["LatestStreamArn"])
    key = uuid.uuid4().hex

    dynamodb_client.put_item(
        TableName=source["TableName"], Item={"pk": {"S": key}, "price": {"N": "101"}}
    )

    item = wait_for_item(dynamodb_client, target["TableName"], {"pk": key}, timeout=30)
    assert item["seenBy"] == name
    assert item["price"] == 101


def test_unsupported_runtime_fails_with_message_naming_it(lambda_client, create_function):
    code = zip_text("index.js", "exports.handler = async () => 'never runs';\n")
    name = create_function("index.handler", runtime="nodejs20.x", code=code)

    started = time.monotonic()
    response, payload, _ = invoke(lambda_client, name, {})
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert "nodejs20.x" in payload["errorMessage"]
    assert payload["errorType"] == "HostExecutor.UnsupportedRuntime"
    assert elapsed < 10, f"the refusal took {elapsed:.1f} s"


def test_deleted_function_leaves_no_environment_process(lambda_client, create_function):
    name = create_function("host_probe.sleep")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: invoke(lambda_client, name, {"seconds": 1}), range(2)))
    pids = {payload["pid"] for _, payload, _ in results}
    assert len(pids) == 2
    assert all(environment_process_running(pid) for pid in pids)

    lambda_client.delete_function(FunctionName=name)

    wait_for_processes_gone(pids)
