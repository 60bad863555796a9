"""Host-mode LocalStack for real: provisioning, up/status/down, failed starts, DynamoDB Local,
and the Lambda runtime venv handlers run on.

Each test runs in its own scratch state dir on a port the OS says is free (the configured
TAPSTACK_PORT may be serving the session's LocalStack, which test_host_executor.py uses),
sharing the LocalStack venv and the Lambda runtime venv of the configured state dir (built
once: about a minute the first time).
"""

import io
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
import zipfile

import pytest

from tapstack import aws
from tapstack.runtime import RuntimeSettings, RuntimeStartError, down, host, processes, provision
from tapstack.runtime import status as runtime_status
from tapstack.runtime import up as runtime_up
from tapstack.waiters import Poll, wait_for

pytestmark = pytest.mark.localstack_runtime


@pytest.fixture(scope="module")
def shared_settings():
    settings = RuntimeSettings.from_env(mode="host")
    provision.ensure_venv(settings.venv_dir)
    provision.ensure_host_executor(settings.venv_dir)
    provision.ensure_lambda_runtime(settings)
    return settings


@pytest.fixture(scope="module")
def lambda_runtime_python(shared_settings):
    """The provisioned Lambda runtime venv's python, even when TAPSTACK_LAMBDA_PYTHON is set."""
    default = shared_settings.with_changes(lambda_python_override=None)
    provision.ensure_lambda_runtime(default)
    return default.lambda_python


@pytest.fixture
def scratch(shared_settings, tmp_path):
    """Settings for a fresh state dir that borrows the shared LocalStack and Lambda venvs."""
    settings = shared_settings.with_changes(
        state_dir=tmp_path, port=host.free_port(), ready_timeout=90.0
    )
    settings.localstack_dir.mkdir(parents=True)
    settings.venv_dir.symlink_to(shared_settings.venv_dir, target_is_directory=True)
    if shared_settings.lambda_venv_dir.exists():
        settings.lambda_venv_dir.symlink_to(
            shared_settings.lambda_venv_dir, target_is_directory=True
        )
    yield settings
    host.stop(settings, grace=10)


@pytest.fixture
def shared_download_cache(shared_settings):
    """The shared state dir's download cache, filled once."""
    provision.cached_tarball(shared_settings.cache_dir)
    return shared_settings.cache_dir


def leftover_processes(settings, pid):
    return processes.family(pid, host.owner_entry(settings))


def refuse_download(destination):
    raise AssertionError("npm pack ran although the cache holds the tarball")


def test_provision_from_empty_cache_then_from_warm_cache(scratch):
    def provision_steps(**options):
        steps = provision.provision_host(scratch, include_venv=False, **options)
        return {step.name: step for step in steps}

    empty = provision_steps()
    again = provision_steps()
    shutil.rmtree(scratch.filesystem_root)
    warm = provision_steps(packer=refuse_download)

    assert empty["dynamodb-local"].detail == "downloaded and extracted"
    assert {s.action for s in again.values()} == {"reused"}
    assert warm["dynamodb-local"].detail == "extracted from the cache"
    assert (scratch.var_libs / "dynamodb-local/2/DynamoDBLocal.jar").is_file()
    assert (scratch.var_libs / "dynamodb-local/2/ddb-local-loader-0.1.jar").is_file()
    assert (scratch.var_libs / "java/21/bin/java").exists()
    print(
        f"provisioning seconds: empty cache {empty['dynamodb-local'].seconds:.2f}, "
        f"warm cache {warm['dynamodb-local'].seconds:.2f}"
    )


def test_up_status_up_again_down_leaves_no_process(scratch, shared_download_cache):
    scratch.cache_dir.symlink_to(shared_download_cache, target_is_directory=True)

    started = runtime_up(scratch)
    ready = runtime_status(scratch)
    again = runtime_up(scratch)
    pid = ready["pid"]
    stopped = down(scratch)
    after = runtime_status(scratch)

    assert (started.mode, started.started, started.endpoint) == (
        "host",
        True,
        scratch.local_endpoint,
    )
    assert started.lambda_python == ready["lambda_python"] == scratch.lambda_python
    assert ready["ready"] and ready["missing_services"] == {} and ready["version"] == "4.9.2"
    assert again.started is False and "already answers" in again.reason
    assert stopped is True
    assert after["running"] is False and after["pid"] is None
    assert leftover_processes(scratch, pid) == set()
    assert down(scratch) is False


def test_dynamodb_stream_record_reaches_the_stream(scratch, shared_download_cache):
    scratch.cache_dir.symlink_to(shared_download_cache, target_is_directory=True)
    runtime = runtime_up(scratch)
    dynamodb = aws.client("dynamodb", runtime.endpoint)
    streams = aws.client("dynamodbstreams", runtime.endpoint)
    table = f"runtime-check-{uuid.uuid4().hex[:8]}"

    created = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    stream_arn = created["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "BTC"}, "price": {"N": "1"}})
    records = read_stream(streams, stream_arn)

    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["NewImage"]["pk"] == {"S": "BTC"}


def read_stream(streams, stream_arn, timeout=10.0):
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = streams.get_records(ShardIterator=iterator)
        if page["Records"]:
            return page["Records"]
        iterator = page["NextShardIterator"]
        time.sleep(0.2)
    pytest.fail(f"no record on {stream_arn} within {timeout} s")


def test_start_on_a_taken_port_fails_clearly_and_starts_nothing(scratch):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", scratch.port))
        squatter.listen()

        with pytest.raises(RuntimeStartError, match=f"port {scratch.port}"):
            runtime_up(scratch)

    assert not scratch.pid_path.exists()
    assert processes.family(-1, host.owner_entry(scratch)) == set()


def test_start_with_a_broken_setting_reports_the_log_tail(
    scratch, shared_download_cache, monkeypatch
):
    scratch.cache_dir.symlink_to(shared_download_cache, target_is_directory=True)
    # Passed through to LocalStack, whose config module reads it with int() at import.
    monkeypatch.setenv("LAMBDA_LIMITS_CONCURRENT_EXECUTIONS", "plenty")

    with pytest.raises(RuntimeStartError) as raised:
        runtime_up(scratch)

    assert "exited with status" in str(raised.value)
    assert "plenty" in raised.value.log_tail
    assert raised.value.log_path == scratch.log_path
    assert not scratch.pid_path.exists()
    assert processes.family(-1, host.owner_entry(scratch)) == set()


# -- the Lambda runtime venv ----------------------------------------------------------------


@pytest.mark.parametrize(
    "module, importable",
    [
        ("boto3", True),
        ("botocore", True),
        ("json", True),
        ("aws_lambda_powertools", False),
        ("tapstack", False),
        ("pytest", False),
        ("moto", False),
        ("pip", False),
    ],
)
def test_lambda_runtime_python_offers_boto3_and_the_standard_library_only(
    lambda_runtime_python, tmp_path, module, importable
):
    # As the executor runs a handler: its own folder as working directory, a small
    # environment (no PYTHONPATH, no VIRTUAL_ENV). Run from the project root, the
    # tapstack package would be importable from the working directory.
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}

    result = subprocess.run(
        [lambda_runtime_python, "-c", f"import {module}"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    if importable:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert f"No module named '{module}'" in result.stderr


def test_handler_without_a_bundled_package_cannot_import_it(scratch, shared_download_cache):
    if scratch.lambda_python_override:
        pytest.skip("TAPSTACK_LAMBDA_PYTHON is set: handlers do not run on the Lambda venv")
    scratch.cache_dir.symlink_to(shared_download_cache, target_is_directory=True)
    runtime = runtime_up(scratch)
    lambda_client = aws.client("lambda", runtime.endpoint, read_timeout=120)
    modules = ["boto3", "aws_lambda_powertools", "tapstack", "pytest", "moto"]

    probe = create_function(lambda_client, "probe.py", PROBE_SOURCE)
    probed = invoke(lambda_client, probe, {"modules": modules})
    forgetful = create_function(lambda_client, "forgetful.py", FORGETFUL_SOURCE)
    failed = invoke(lambda_client, forgetful, {})

    assert probed["executable"] == scratch.lambda_python
    assert probed["found"] == {
        "boto3": True,
        "aws_lambda_powertools": False,
        "tapstack": False,
        "pytest": False,
        "moto": False,
    }
    assert failed["errorType"] == "Runtime.ImportModuleError"
    assert "aws_lambda_powertools" in failed["errorMessage"]


PROBE_SOURCE = """
import importlib.util
import sys


def handler(event, context):
    found = {name: importlib.util.find_spec(name) is not None for name in event["modules"]}
    return {"executable": sys.executable, "found": found}
"""

# A handler whose code bundle forgot a package it imports.
FORGETFUL_SOURCE = """
from aws_lambda_powertools import Logger


def handler(event, context):
    return "unreachable"
"""


def create_function(lambda_client, filename, source):
    name = f"runtime-imports-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/runtime-imports",
        Handler=f"{filename.removesuffix('.py')}.handler",
        Code={"ZipFile": zip_module(filename, source)},
        Timeout=30,
    )
    wait_for_function_active(lambda_client, name)
    return name


def invoke(lambda_client, name, event):
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read())


def zip_module(filename, source):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(filename, source)
    return buffer.getvalue()


def wait_for_function_active(lambda_client, name):
    def probe():
        state = lambda_client.get_function(FunctionName=name)["Configuration"]["State"]
        return Poll(state == "Active", state)

    wait_for(f"function {name} to be Active", probe, timeout=30, interval=0.2)
