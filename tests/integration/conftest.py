"""Integration-only fixtures, and the hook that attaches evidence to a failed test.

The session fixtures (LocalStack, the deployed stack, its outputs, the factories) live in
the root conftest.py. Here: the fault-injection fixture for CheckAlerts, a reader of the
price-history stream, and ``pytest_runtest_makereport``, which adds the stack's events,
the functions' log lines about the test's webhooks, the event source mapping's state and
the on-failure queue to the report of a failed test.
"""

import logging
import time

import pytest

from tapstack.stack import evidence
from tapstack.waiters import Poll, wait_for

LOG = logging.getLogger(__name__)

FAIL_ON_SYMBOLS = "FAIL_ON_SYMBOLS"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


def pytest_runtest_setup(item):
    item.tapstack_started = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    evidence.attach(item, report)
    return report


# -- fault injection -------------------------------------------------------------------------


@pytest.fixture
def failing_symbol(aws_clients, stack_outputs, unique_symbol, state_lock):
    """A symbol whose stream records CheckAlerts fails on purpose (via ``FAIL_ON_SYMBOLS``).

    The symbol is added to CheckAlerts' environment for the test and taken out after;
    a file lock keeps parallel workers from overwriting each other's changes.
    """
    symbol = unique_symbol("P")
    function = stack_outputs["CheckAlertsFunctionName"]

    with state_lock("check-alerts-environment.lock"):
        _change_fail_on_symbols(aws_clients.lambda_, function, add=symbol)
    yield symbol
    with state_lock("check-alerts-environment.lock"):
        _change_fail_on_symbols(aws_clients.lambda_, function, remove=symbol)


def _change_fail_on_symbols(lambda_client, function: str, *, add=None, remove=None) -> None:
    wait_for_function_updated(lambda_client, function)
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    variables = dict(configuration.get("Environment", {}).get("Variables", {}))
    symbols = {part for part in variables.get(FAIL_ON_SYMBOLS, "").split(",") if part}
    symbols = (symbols | {add}) - {remove, None}
    if symbols:
        variables[FAIL_ON_SYMBOLS] = ",".join(sorted(symbols))
    else:
        # Back to the template's configuration, which does not set the variable.
        variables.pop(FAIL_ON_SYMBOLS, None)

    lambda_client.update_function_configuration(
        FunctionName=function, Environment={"Variables": variables}
    )
    wait_for_function_updated(lambda_client, function)


def wait_for_function_updated(lambda_client, function: str, timeout: float = 60) -> dict:
    """Wait until a function's last update is done (LastUpdateStatus Successful)."""

    def probe() -> Poll:
        configuration = lambda_client.get_function_configuration(FunctionName=function)
        state = (configuration.get("State"), configuration.get("LastUpdateStatus"))
        return Poll(state == ("Active", "Successful"), state)

    return wait_for(f"{function} to finish updating", probe, timeout=timeout, interval=0.5)


# -- the price-history stream ------------------------------------------------------------------


@pytest.fixture
def stream_sequence_number(aws_clients, stack_outputs):
    """Look up the stream sequence number of a price-history INSERT by its event id."""
    streams = aws_clients.dynamodbstreams
    table = aws_clients.dynamodb.describe_table(TableName=stack_outputs["PriceHistoryTableName"])
    stream_arn = table["Table"]["LatestStreamArn"]

    def find(event_id: str) -> Poll:
        shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                for record in page["Records"]:
                    image = record["dynamodb"].get("NewImage", {})
                    if record["eventName"] == "INSERT" and image.get("event_id") == {"S": event_id}:
                        return Poll(True, (shard["ShardId"], record["dynamodb"]["SequenceNumber"]))
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        return Poll(False, f"no INSERT of {event_id} in {len(shards)} shard(s)")

    def lookup(event_id: str, timeout: float = 20) -> tuple[str, str]:
        return wait_for(f"the stream record of {event_id}", lambda: find(event_id), timeout=timeout)

    return lookup
