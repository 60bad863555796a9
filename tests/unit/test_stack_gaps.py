"""The reserved-concurrency compensation: when it puts, when it leaves alone, when it fails."""

import pytest
from botocore.stub import Stubber

from tapstack import aws
from tapstack.stack import gaps
from tapstack.stack.errors import DeployError

QUOTA_MESSAGE = (
    "Specified ReservedConcurrentExecutions for function decreases account's "
    "UnreservedConcurrentExecution below its minimum value of [100]."
)

TEMPLATE = {
    "Parameters": {
        "WebhookConcurrency": {"Type": "Number", "Default": 20},
        "Flag": {"Type": "String", "Default": "on"},
    },
    "Conditions": {"FlagOn": {"Fn::Equals": [{"Ref": "Flag"}, "on"]}},
    "Resources": {
        "ProcessWebhookFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"ReservedConcurrentExecutions": {"Ref": "WebhookConcurrency"}},
        },
        "CleanupHistoryFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "ReservedConcurrentExecutions": {"Fn::If": ["FlagOn", 2, {"Ref": "AWS::NoValue"}]}
            },
        },
        "UnlimitedFunction": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    },
}
NAMES = {
    "ProcessWebhookFunction": "process-webhook-dev",
    "CleanupHistoryFunction": "cleanup-history-dev",
    "UnlimitedFunction": "unlimited-dev",
}


@pytest.fixture
def lambda_client():
    client = aws.client("lambda", "http://127.0.0.1:1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_wanted_reserved_concurrency_resolves_parameters_defaults_and_conditions():
    assert gaps.wanted_reserved_concurrency(TEMPLATE, {"WebhookConcurrency": "5"}) == {
        "ProcessWebhookFunction": 5,
        "CleanupHistoryFunction": 2,
    }
    assert gaps.wanted_reserved_concurrency(TEMPLATE, {"Flag": "off"}) == {
        "ProcessWebhookFunction": 20,
    }


def test_compensation_does_nothing_where_the_emulator_applied_the_value(lambda_client):
    client, stubber = lambda_client
    parameters = {"WebhookConcurrency": "5", "Flag": "off"}
    stubber.add_response(
        "get_function_concurrency",
        {"ReservedConcurrentExecutions": 5},
        {"FunctionName": "process-webhook-dev"},
    )

    actions = gaps.compensate_reserved_concurrency(client, TEMPLATE, parameters, NAMES)

    assert [(a.function_name, a.found, a.applied) for a in actions] == [
        ("process-webhook-dev", 5, False)
    ]


def test_compensation_puts_the_value_where_the_emulator_left_it_unset(lambda_client, caplog):
    client, stubber = lambda_client
    parameters = {"WebhookConcurrency": "5", "Flag": "off"}
    stubber.add_response("get_function_concurrency", {}, {"FunctionName": "process-webhook-dev"})
    stubber.add_response(
        "put_function_concurrency",
        {"ReservedConcurrentExecutions": 5},
        {"FunctionName": "process-webhook-dev", "ReservedConcurrentExecutions": 5},
    )

    with caplog.at_level("WARNING", logger="tapstack.stack.gaps"):
        actions = gaps.compensate_reserved_concurrency(client, TEMPLATE, parameters, NAMES)

    assert [(a.function_name, a.found, a.applied) for a in actions] == [
        ("process-webhook-dev", None, True)
    ]
    assert gaps.RESERVED_CONCURRENCY_GAP in caplog.text
    assert "process-webhook-dev" in caplog.text


def test_compensation_quota_error_fails_the_deploy_with_lambdas_message(lambda_client):
    client, stubber = lambda_client
    parameters = {"WebhookConcurrency": "100", "Flag": "off"}
    stubber.add_response("get_function_concurrency", {}, {"FunctionName": "process-webhook-dev"})
    stubber.add_client_error(
        "put_function_concurrency",
        service_error_code="InvalidParameterValueException",
        service_message=QUOTA_MESSAGE,
        http_status_code=400,
    )

    with pytest.raises(DeployError) as caught:
        gaps.compensate_reserved_concurrency(client, TEMPLATE, parameters, NAMES)

    assert QUOTA_MESSAGE in str(caught.value)
    assert "ProcessWebhookFunction" in str(caught.value)


def test_compensation_refuses_a_stack_without_a_templated_function(lambda_client):
    client, _ = lambda_client

    with pytest.raises(DeployError, match="no function ProcessWebhookFunction"):
        gaps.compensate_reserved_concurrency(client, TEMPLATE, {"Flag": "off"}, {})


def test_every_gap_has_an_id_of_its_own_and_says_what_the_harness_does():
    ids = [gap.id for gap in gaps.GAPS]

    assert len(ids) == len(set(ids))
    assert all(gap.localstack and gap.aws and gap.harness for gap in gaps.GAPS)
    assert gaps.find_gap(gaps.RESERVED_CONCURRENCY_GAP).service.startswith("Lambda")


PITR_TEMPLATE = {
    "Resources": {
        "PriceHistoryTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}
            },
        },
        "ScratchTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    }
}


def backups(status):
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status},
        }
    }


@pytest.fixture
def dynamodb_client():
    client = aws.client("dynamodb", "http://127.0.0.1:1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_point_in_time_recovery_is_enabled_where_the_emulator_left_it_off(dynamodb_client):
    client, stubber = dynamodb_client
    stubber.add_response(
        "describe_continuous_backups", backups("DISABLED"), {"TableName": "history-dev"}
    )
    stubber.add_response(
        "update_continuous_backups",
        backups("ENABLED"),
        {
            "TableName": "history-dev",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )

    enabled = gaps.compensate_point_in_time_recovery(
        client, PITR_TEMPLATE, {}, {"PriceHistoryTable": "history-dev"}
    )

    assert enabled == ["history-dev"]


def test_point_in_time_recovery_already_enabled_is_left_alone(dynamodb_client):
    client, stubber = dynamodb_client
    stubber.add_response(
        "describe_continuous_backups", backups("ENABLED"), {"TableName": "history-dev"}
    )

    enabled = gaps.compensate_point_in_time_recovery(
        client, PITR_TEMPLATE, {}, {"PriceHistoryTable": "history-dev"}
    )

    assert enabled == []
