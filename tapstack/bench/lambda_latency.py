"""Lambda latency through the executor LocalStack runs: cold and warm invokes, stream to start.

Cold: a function is created, waited for until Active, and its first ``Invoke`` is timed
(the environment's process start, the handler's import, the call). Warm: the next
invokes of the same function. One function per cold sample; each is deleted right after.

Stream to start: a table whose stream (``KEYS_ONLY``) is mapped to a function
(``BatchSize`` 1, ``TRIM_HORIZON``); the function writes ``time.time()`` at its start into
a second table. The figure is that time minus the client's ``time.time()`` right before
``PutItem``, on the same host clock. Each record is put once the previous one arrived.
The first record also waits for the mapping's poller to start and for the cold start; it
is reported on its own line, not among the samples.
"""

import io
import logging
import time
import uuid
import zipfile

from botocore.exceptions import ClientError

from tapstack import aws
from tapstack.bench.errors import BenchmarkError
from tapstack.bench.report import Deadline, summarize
from tapstack.waiters import Poll, WaitTimeout, wait_for, wait_for_mapping_enabled

LOG = logging.getLogger(__name__)

NAME_PREFIX = "tapstack-bench-"
# LocalStack does not enforce IAM; any well-formed role ARN will do.
ROLE_ARN = "arn:aws:iam::000000000000:role/tapstack-bench"
HANDLER_MODULE = "bench_handler"
FUNCTION_RUNTIME = "python3.12"

ECHO_SOURCE = """\
def handler(event, context):
    return event
"""

STREAM_SOURCE = """\
import os
import time

import boto3

DYNAMODB = boto3.client("dynamodb")


def handler(event, context):
    started = repr(time.time())
    for record in event["Records"]:
        DYNAMODB.put_item(
            TableName=os.environ["RESULT_TABLE"],
            Item={"pk": record["dynamodb"]["Keys"]["pk"], "started": {"N": started}},
        )
    return {"records": len(event["Records"])}
"""

FIRST_RECORD_TIMEOUT = 90.0
RECORD_TIMEOUT = 30.0


def unique_name(kind: str) -> str:
    """A resource name no other run uses: ``tapstack-bench-<kind>-<hex>``."""
    return f"{NAME_PREFIX}{kind}-{uuid.uuid4().hex[:10]}"


def code_zip(source: str) -> bytes:
    """A zip holding ``source`` as the handler module."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{HANDLER_MODULE}.py", source)
    return buffer.getvalue()


class Resources:
    """What a benchmark created: functions, tables, event source mappings.

    :meth:`cleanup` deletes everything still listed; failures are logged at debug level.
    """

    def __init__(self, lambda_client, dynamodb):
        self.lambda_ = lambda_client
        self.dynamodb = dynamodb
        self.functions: list[str] = []
        self.tables: list[str] = []
        self.mappings: list[str] = []

    def create_function(self, source: str, environment: dict | None = None) -> str:
        """Create a function running ``source``, wait until it is Active; return its name."""
        name = unique_name("fn")
        self.lambda_.create_function(
            FunctionName=name,
            Runtime=FUNCTION_RUNTIME,
            Role=ROLE_ARN,
            Handler=f"{HANDLER_MODULE}.handler",
            Code={"ZipFile": code_zip(source)},
            Timeout=30,
            MemorySize=128,
            Environment={"Variables": environment or {}},
        )
        self.functions.append(name)
        wait_for_function_active(self.lambda_, name)
        return name

    def delete_function(self, name: str) -> None:
        """Delete one function now (its environment process goes with it)."""
        self._quietly("delete function", lambda: self.lambda_.delete_function(FunctionName=name))
        if name in self.functions:
            self.functions.remove(name)

    def create_table(self, *, stream: bool) -> dict:
        """Create a table keyed by ``pk`` (with a KEYS_ONLY stream when asked); return it."""
        name = unique_name("table")
        arguments = {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if stream:
            arguments["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": "KEYS_ONLY",
            }
        table = self.dynamodb.create_table(**arguments)["TableDescription"]
        self.tables.append(name)
        self.dynamodb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        return table

    def create_mapping(self, stream_arn: str, function: str) -> str:
        """Map a stream to a function (batch size 1), wait until Enabled; return its UUID."""
        mapping = self.lambda_.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function,
            StartingPosition="TRIM_HORIZON",
            BatchSize=1,
        )
        self.mappings.append(mapping["UUID"])
        wait_for_mapping_enabled(self.lambda_, mapping["UUID"])
        return mapping["UUID"]

    def cleanup(self) -> None:
        """Delete every mapping, function and table still listed."""
        for uuid_ in self.mappings:
            self._quietly("delete mapping", lambda u=uuid_: self._delete_mapping(u))
        for name in list(self.functions):
            self.delete_function(name)
        for name in self.tables:
            self._quietly("delete table", lambda n=name: self.dynamodb.delete_table(TableName=n))
        self.mappings, self.tables = [], []

    def _delete_mapping(self, mapping_uuid: str) -> None:
        self.lambda_.delete_event_source_mapping(UUID=mapping_uuid)

    @staticmethod
    def _quietly(action: str, call) -> None:
        try:
            call()
        except ClientError as exc:
            LOG.debug("benchmark cleanup (%s) failed: %s", action, exc)


def wait_for_function_active(lambda_client, name: str, timeout: float = 60) -> dict:
    """Wait until a function's State is Active; return its configuration.

    :raises BenchmarkError: when the function ends up Failed.
    """

    def probe() -> Poll:
        configuration = lambda_client.get_function_configuration(FunctionName=name)
        state = configuration.get("State")
        if state == "Failed":
            raise BenchmarkError(
                f"function {name} failed to become Active: {configuration.get('StateReason')}"
            )
        return Poll(state == "Active", state)

    return wait_for(f"function {name} to be Active", probe, timeout=timeout, interval=0.1)


def timed_invoke(lambda_client, name: str) -> float:
    """Invoke ``name`` synchronously with a tiny payload; return the round trip in ms.

    :raises BenchmarkError: when the function reports an error.
    """
    started = time.perf_counter()
    response = lambda_client.invoke(FunctionName=name, Payload=b'{"bench": true}')
    payload = response["Payload"].read()
    elapsed = (time.perf_counter() - started) * 1000
    if "FunctionError" in response:
        raise BenchmarkError(
            f"function {name} failed ({response['FunctionError']}): {payload[:500]!r}"
        )
    return elapsed


def measure_invokes(resources: Resources, runs: int, warm: int, deadline: Deadline) -> dict:
    """Cold and warm invoke samples (ms) over ``runs`` new functions; stops at the deadline."""
    cold: list[float] = []
    warm_samples: list[float] = []
    for index in range(runs):
        if deadline.expired:
            break
        name = resources.create_function(ECHO_SOURCE)
        try:
            cold.append(timed_invoke(resources.lambda_, name))
            for _ in range(warm):
                warm_samples.append(timed_invoke(resources.lambda_, name))
        finally:
            resources.delete_function(name)
        LOG.info("function %d of %d: cold %.0f ms", index + 1, runs, cold[-1])
    return {"cold": cold, "warm": warm_samples}


def measure_stream(resources: Resources, count: int, deadline: Deadline) -> dict:
    """Stream-record-to-handler-start samples (ms): the first record apart, then ``count``."""
    source = resources.create_table(stream=True)
    results = resources.create_table(stream=False)
    function = resources.create_function(
        STREAM_SOURCE, environment={"RESULT_TABLE": results["TableName"]}
    )
    resources.create_mapping(source["LatestStreamArn"], function)

    timeout = deadline.bounded(FIRST_RECORD_TIMEOUT)
    first = _record_to_start(resources.dynamodb, source, results, "first", timeout)
    LOG.info("first stream record: %.0f ms (mapping start and cold start included)", first)
    samples: list[float] = []
    for index in range(count):
        if deadline.expired:
            break
        timeout = deadline.bounded(RECORD_TIMEOUT)
        samples.append(_record_to_start(resources.dynamodb, source, results, f"r{index}", timeout))
    return {"first": first, "samples": samples}


def _record_to_start(dynamodb, source: dict, results: dict, key: str, timeout: float) -> float:
    sent = time.time()
    dynamodb.put_item(TableName=source["TableName"], Item={"pk": {"S": key}})

    def probe() -> Poll:
        item = dynamodb.get_item(
            TableName=results["TableName"], Key={"pk": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return Poll(item is not None, item)

    try:
        item = wait_for(
            f"the function's start record for stream record {key}",
            probe,
            timeout=timeout,
            interval=0.05,
        )
    except WaitTimeout as exc:
        raise BenchmarkError(
            f"stream record {key} did not reach the function within {timeout:.0f} s; "
            "check the mapping in LocalStack's log"
        ) from exc
    return (float(item["started"]["N"]) - sent) * 1000


def run(endpoint: str, *, runs: int, warm: int, count: int, deadline: Deadline) -> dict:
    """Measure cold and warm invokes and stream-to-start against ``endpoint``.

    Every function, table and mapping is created under a unique name and deleted at the
    end, also when a measurement fails.

    :returns: ``measurements`` (ms summaries), ``counts`` and ``complete``.
    """
    lambda_client = aws.client("lambda", endpoint, read_timeout=120)
    resources = Resources(lambda_client, aws.client("dynamodb", endpoint))
    try:
        invokes = measure_invokes(resources, runs, warm, deadline)
        stream = (
            measure_stream(resources, count, deadline)
            if not deadline.expired
            else {"first": None, "samples": []}
        )
    finally:
        resources.cleanup()

    first = [stream["first"]] if stream["first"] is not None else []
    return {
        "measurements": {
            "cold_invoke": summarize(invokes["cold"], "ms"),
            "warm_invoke": summarize(invokes["warm"], "ms"),
            "stream_first_record": summarize(first, "ms"),
            "stream_to_start": summarize(stream["samples"], "ms"),
        },
        "complete": len(invokes["cold"]) == runs and len(stream["samples"]) == count,
    }
