"""The deployed stack has what the template promises, as the emulator reports it."""

import json

import pytest

from tapstack import paths
from tapstack.preflight import load_parameters

FUNCTIONS = {
    "ProcessWebhookFunction": "ProcessWebhookReservedConcurrency",
    "CheckAlertsFunction": "CheckAlertsReservedConcurrency",
    "SendNotificationFunction": "SendNotificationReservedConcurrency",
    "CleanupHistoryFunction": "CleanupHistoryReservedConcurrency",
}
TABLES = ("PriceHistoryTableName", "AlertsTableName")


@pytest.fixture(scope="module")
def template():
    return json.loads(paths.TEMPLATE_PATH.read_text())


@pytest.mark.parametrize("logical_id", list(FUNCTIONS))
def test_function_has_the_localstack_sets_reserved_concurrency(
    logical_id, aws_clients, stack_outputs
):
    wanted = int(load_parameters("localstack")[FUNCTIONS[logical_id]])
    name = stack_outputs.function_names[logical_id]

    concurrency = aws_clients.lambda_.get_function_concurrency(FunctionName=name)

    assert concurrency.get("ReservedConcurrentExecutions") == wanted


@pytest.mark.parametrize("logical_id", list(FUNCTIONS))
def test_function_runs_python_on_arm64(logical_id, aws_clients, stack_outputs):
    name = stack_outputs.function_names[logical_id]

    configuration = aws_clients.lambda_.get_function_configuration(FunctionName=name)

    assert configuration["Architectures"] == ["arm64"]
    assert configuration["Runtime"].startswith("python3")


@pytest.mark.parametrize("output", TABLES)
def test_table_is_encrypted_with_kms_and_recoverable(output, aws_clients, stack_outputs):
    table = aws_clients.dynamodb.describe_table(TableName=stack_outputs[output])["Table"]
    backups = aws_clients.dynamodb.describe_continuous_backups(TableName=stack_outputs[output])

    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_price_history_has_a_stream_and_ttl_on_expires_at(aws_clients, stack_outputs):
    name = stack_outputs["PriceHistoryTableName"]

    table = aws_clients.dynamodb.describe_table(TableName=name)["Table"]
    ttl = aws_clients.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_notification_topic_is_encrypted_with_the_stacks_key(aws_clients, stack_outputs):
    attributes = aws_clients.sns.get_topic_attributes(
        TopicArn=stack_outputs["NotificationTopicArn"]
    )["Attributes"]
    key = aws_clients.cloudformation.describe_stack_resource(
        StackName=stack_outputs.stack_name, LogicalResourceId="EncryptionKey"
    )["StackResourceDetail"]["PhysicalResourceId"]

    assert key in attributes["KmsMasterKeyId"]


def test_stream_mapping_reports_partial_failures_to_the_failure_queue(aws_clients, stack_outputs):
    queue_arn = aws_clients.sqs.get_queue_attributes(
        QueueUrl=stack_outputs["CheckAlertsFailureQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    [mapping] = aws_clients.lambda_.list_event_source_mappings(
        FunctionName=stack_outputs["CheckAlertsFunctionName"]
    )["EventSourceMappings"]

    assert mapping["State"] == "Enabled"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] == 3
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn


def test_every_alarm_of_the_template_exists_and_notifies_the_topic(
    template, aws_clients, stack_outputs
):
    alarm_ids = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    resources = aws_clients.cloudformation.describe_stack_resources(
        StackName=stack_outputs.stack_name
    )["StackResources"]
    names = [r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] in alarm_ids]

    alarms = aws_clients.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]

    assert len(alarms) == len(alarm_ids) > 0
    for alarm in alarms:
        assert alarm["AlarmActions"] == [stack_outputs["NotificationTopicArn"]], alarm["AlarmName"]


def test_usage_plan_covers_the_stage_and_holds_the_key(aws_clients, stack_outputs):
    key_id = stack_outputs["ApiKeyId"]

    [plan] = aws_clients.apigateway.get_usage_plans(keyId=key_id)["items"]
    keys = aws_clients.apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]

    assert {"apiId": stack_outputs["ApiId"], "stage": stack_outputs["ApiStageName"]} in [
        {"apiId": stage["apiId"], "stage": stage["stage"]} for stage in plan["apiStages"]
    ]
    assert [key["id"] for key in keys] == [key_id]
    assert plan["throttle"]["rateLimit"] > 0
