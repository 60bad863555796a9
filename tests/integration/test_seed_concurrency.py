"""The seed's failure: reserved concurrency of 100, 50, 50 and 5 in an account that cannot
spare it. The preflight refuses it, a deploy that skips the preflight fails with AWS's
quota error, and the fixed values (the LocalStack set) deploy.

Reproducing it needs an account whose unreserved concurrency, with the main stack
deployed, leaves less than 100 + 205: a LocalStack started with
``LAMBDA_LIMITS_CONCURRENT_EXECUTIONS=300`` is such an account. On a roomier LocalStack
the ``account_like_the_seeds`` fixture reserves the difference on a function of its own.
"""

import io
import uuid
import zipfile

import pytest

from tapstack import paths
from tapstack.preflight import (
    effective_parameters,
    function_names,
    load_parameters,
    load_template,
    read_account_concurrency,
    run_preflight,
)
from tapstack.stack import deploy, discovery
from tapstack.stack.errors import DeployError
from tapstack.waiters import Poll, wait_for

SEED_VALUES = {
    "ProcessWebhookReservedConcurrency": "100",
    "CheckAlertsReservedConcurrency": "50",
    "SendNotificationReservedConcurrency": "50",
    "CleanupHistoryReservedConcurrency": "5",
}
QUOTA_ERROR = (
    "Specified ReservedConcurrentExecutions for function decreases account's "
    "UnreservedConcurrentExecution below its minimum value of [100]"
)
#: Unreserved concurrency of a 300-execution account running the main stack (5+3+2+1).
SEED_ACCOUNT_UNRESERVED = 300 - 11


def unreserved(lambda_client) -> int:
    return lambda_client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]


@pytest.fixture(scope="module")
def account_like_the_seeds(aws_clients, deployed_stack):
    """An account with at most 289 executions unreserved, as in a 300-limit account."""
    lambda_client = aws_clients.lambda_
    excess = unreserved(lambda_client) - SEED_ACCOUNT_UNRESERVED
    if excess <= 0:
        yield unreserved(lambda_client)
        return

    name = f"tapstack-filler-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/tapstack-filler",
        Handler="filler.handler",
        Code={"ZipFile": _filler_zip()},
    )
    wait_for(
        f"{name} to become active",
        lambda: _active(lambda_client, name),
        timeout=60,
        interval=0.5,
    )
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=excess)
    yield unreserved(lambda_client)
    lambda_client.delete_function(FunctionName=name)


def _active(lambda_client, name: str) -> Poll:
    state = lambda_client.get_function_configuration(FunctionName=name)["State"]
    return Poll(state == "Active", state)


def _filler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("filler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def seed_stack_name(localstack, aws_clients):
    """A name for a second stack; whatever is left of it is deleted after the test."""
    suffix = f"seed{uuid.uuid4().hex[:8]}"
    name = deploy.stack_name_for(suffix)
    yield name, suffix
    if discovery.describe_stack(aws_clients.cloudformation, name) is not None:
        deploy.delete(localstack.endpoint, name)


def live_account(aws_clients, suffix: str):
    template = load_template(paths.TEMPLATE_PATH)
    parameters = load_parameters("localstack") | {"EnvironmentSuffix": suffix}
    names = function_names(template, effective_parameters(template, parameters))
    return read_account_concurrency(aws_clients.lambda_, function_names=names)


def test_preflight_refuses_the_seed_values_with_the_live_account_settings(
    aws_clients, account_like_the_seeds
):
    parameters = load_parameters("localstack") | SEED_VALUES | {"EnvironmentSuffix": "seed"}

    report = run_preflight(
        paths.TEMPLATE_PATH, parameters, account=live_account(aws_clients, "seed"), lint=False
    )

    assert not report.ok
    assert [finding.check for finding in report.errors] == ["concurrency"]


def test_deploy_with_the_seed_values_is_refused_before_anything_is_created(
    localstack, aws_clients, account_like_the_seeds, seed_stack_name
):
    name, suffix = seed_stack_name

    with pytest.raises(DeployError, match="preflight refused") as caught:
        deploy.deploy(localstack.endpoint, stack_name=name, suffix=suffix, overrides=SEED_VALUES)

    assert "--skip-preflight" in str(caught.value)
    assert discovery.describe_stack(aws_clients.cloudformation, name) is None


def test_deploy_skipping_preflight_fails_with_the_quota_error_and_rolls_back(
    localstack, aws_clients, account_like_the_seeds, seed_stack_name
):
    name, suffix = seed_stack_name
    before = unreserved(aws_clients.lambda_)

    with pytest.raises(DeployError) as caught:
        deploy.deploy(
            localstack.endpoint,
            stack_name=name,
            suffix=suffix,
            overrides=SEED_VALUES,
            skip_preflight=True,
        )

    assert QUOTA_ERROR in str(caught.value)
    assert discovery.describe_stack(aws_clients.cloudformation, name) is None
    assert unreserved(aws_clients.lambda_) == before


def test_fixed_values_pass_the_preflight_and_are_reserved(
    aws_clients, stack_outputs, account_like_the_seeds
):
    parameters = load_parameters("localstack")
    suffix = stack_outputs["EnvironmentSuffix"]

    report = run_preflight(
        paths.TEMPLATE_PATH,
        parameters | {"EnvironmentSuffix": suffix},
        account=live_account(aws_clients, suffix),
        lint=False,
    )
    reserved = [
        aws_clients.lambda_.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        )
        for name in stack_outputs.function_names.values()
    ]

    assert report.ok, [finding.one_line() for finding in report.errors]
    assert sum(reserved) == sum(int(parameters[key]) for key in SEED_VALUES)
