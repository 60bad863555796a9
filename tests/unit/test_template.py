"""The template and its parameter sets: the names docs/architecture.md promises, cfn-lint."""

import json

import pytest

from tapstack import aws, paths
from tapstack.preflight.checks.lint import check_lint
from tapstack.preflight.checks.parameters import check_parameters
from tapstack.stack.outputs import REQUIRED_OUTPUTS

ARCHITECTURE_PARAMETERS = [
    "EnvironmentSuffix",
    "CodeBucket",
    "CodeKey",
    "HistoryRetentionDays",
    "LogRetentionDays",
    "CleanupSchedule",
    "ProcessWebhookReservedConcurrency",
    "CheckAlertsReservedConcurrency",
    "SendNotificationReservedConcurrency",
    "CleanupHistoryReservedConcurrency",
    "AlarmEmail",
]
ARCHITECTURE_LOGICAL_IDS = [
    "ProcessWebhookFunction",
    "CheckAlertsFunction",
    "SendNotificationFunction",
    "CleanupHistoryFunction",
    "PriceHistoryTable",
    "AlertsTable",
    "NotificationTopic",
    "EncryptionKey",
    "CheckAlertsEventSourceMapping",
    "CheckAlertsFailureQueue",
    "CleanupScheduleRule",
    "WebhookApi",
    "ApiKey",
    "UsagePlan",
]
# The outputs the harness reads (tapstack/stack/outputs.py), as docs/architecture.md lists them.
ARCHITECTURE_OUTPUTS = REQUIRED_OUTPUTS
HANDLERS = {
    "ProcessWebhookFunction": "handlers.process_webhook.handler",
    "CheckAlertsFunction": "handlers.check_alerts.handler",
    "SendNotificationFunction": "handlers.send_notification.handler",
    "CleanupHistoryFunction": "handlers.cleanup_history.handler",
}
CONCURRENCY = {
    "aws": {
        "ProcessWebhookReservedConcurrency": "20",
        "CheckAlertsReservedConcurrency": "10",
        "SendNotificationReservedConcurrency": "5",
        "CleanupHistoryReservedConcurrency": "2",
    },
    "localstack": {
        "ProcessWebhookReservedConcurrency": "5",
        "CheckAlertsReservedConcurrency": "3",
        "SendNotificationReservedConcurrency": "2",
        "CleanupHistoryReservedConcurrency": "1",
    },
}
OTHER_PARAMETERS = {"HistoryRetentionDays", "LogRetentionDays", "CleanupSchedule", "AlarmEmail"}
SUPPLIED_BY_THE_HARNESS = {"CodeBucket", "CodeKey", "EnvironmentSuffix"}


@pytest.fixture(scope="module")
def template_text() -> str:
    return paths.TEMPLATE_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def template(template_text) -> dict:
    return json.loads(template_text)


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


@pytest.fixture(scope="module")
def lint_findings(template_text) -> list:
    # The preflight lints the same text for the same region: its cache makes that free.
    return check_lint(template_text, regions=(aws.region(),))


def load_parameter_set(name: str) -> dict:
    return json.loads((paths.PARAMETERS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def test_template_is_a_json_cloudformation_template(template):
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert isinstance(template["Resources"], dict)


@pytest.mark.parametrize("name", ARCHITECTURE_PARAMETERS)
def test_template_declares_parameter(template, name):
    assert name in template["Parameters"]


def test_template_declares_no_parameter_beyond_the_architecture(template):
    assert set(template["Parameters"]) == set(ARCHITECTURE_PARAMETERS)


@pytest.mark.parametrize("logical_id", ARCHITECTURE_LOGICAL_IDS)
def test_template_has_logical_id(resources, logical_id):
    assert logical_id in resources


@pytest.mark.parametrize("output", ARCHITECTURE_OUTPUTS)
def test_template_has_output(template, output):
    assert "Value" in template["Outputs"][output]


def test_template_has_exactly_the_architecture_outputs(template):
    assert set(template["Outputs"]) == set(ARCHITECTURE_OUTPUTS)


def test_api_endpoint_output_is_the_public_stage_url(template):
    value = template["Outputs"]["ApiEndpoint"]["Value"]

    assert value == {
        "Fn::Sub": "https://${WebhookApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${ApiStage}"
    }
    assert template["Outputs"]["ApiStageName"]["Value"] == {"Ref": "ApiStage"}


@pytest.mark.parametrize("logical_id, handler", sorted(HANDLERS.items()))
def test_function_runs_its_handler_on_python312_arm64(resources, logical_id, handler):
    properties = resources[logical_id]["Properties"]

    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == handler
    assert properties["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}


@pytest.mark.parametrize("logical_id", sorted(HANDLERS))
def test_function_reserves_concurrency_from_its_parameter(resources, logical_id):
    parameter = logical_id.removesuffix("Function") + "ReservedConcurrency"

    reserved = resources[logical_id]["Properties"]["ReservedConcurrentExecutions"]

    assert reserved == {"Ref": parameter}


@pytest.mark.parametrize("logical_id", sorted(HANDLERS))
def test_function_environment_names_the_stack_resources(resources, logical_id):
    variables = resources[logical_id]["Properties"]["Environment"]["Variables"]

    assert variables["PRICE_HISTORY_TABLE"] == {"Ref": "PriceHistoryTable"}
    assert variables["ALERTS_TABLE"] == {"Ref": "AlertsTable"}
    assert variables["ALERTS_SYMBOL_INDEX"] == "symbol-status-index"
    assert variables["NOTIFICATION_TOPIC_ARN"] == {"Ref": "NotificationTopic"}
    assert variables["HISTORY_RETENTION_DAYS"] == {"Ref": "HistoryRetentionDays"}
    assert variables["POWERTOOLS_SERVICE_NAME"]


def test_check_alerts_knows_the_function_it_invokes(resources):
    variables = resources["CheckAlertsFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["SEND_NOTIFICATION_FUNCTION"] == {"Ref": "SendNotificationFunction"}


def test_every_function_has_its_own_service_name(resources):
    names = [
        resources[logical_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for logical_id in HANDLERS
    ]

    assert len(set(names)) == len(HANDLERS)


def test_price_history_table_streams_and_expires_items(resources):
    properties = resources["PriceHistoryTable"]["Properties"]

    assert properties["KeySchema"] == [{"AttributeName": "event_id", "KeyType": "HASH"}]
    assert properties["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_alerts_table_indexes_symbol_and_status(resources):
    properties = resources["AlertsTable"]["Properties"]
    (index,) = properties["GlobalSecondaryIndexes"]

    assert properties["KeySchema"] == [{"AttributeName": "alert_id", "KeyType": "HASH"}]
    assert index["IndexName"] == "symbol-status-index"
    assert index["KeySchema"] == [
        {"AttributeName": "symbol", "KeyType": "HASH"},
        {"AttributeName": "status", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_stream_mapping_bounds_retries_and_sends_failures_to_the_queue(resources):
    properties = resources["CheckAlertsEventSourceMapping"]["Properties"]

    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["PriceHistoryTable", "StreamArn"]}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 <= properties["MaximumRetryAttempts"] <= 3
    assert properties["MaximumRecordAgeInSeconds"] > 0
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["CheckAlertsFailureQueue", "Arn"]
    }


def test_failure_queue_keeps_messages_fourteen_days_encrypted(resources):
    properties = resources["CheckAlertsFailureQueue"]["Properties"]

    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert properties["KmsMasterKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}


def test_usage_plan_throttles_above_fifty_thousand_webhooks_an_hour(resources):
    throttle = resources["UsagePlan"]["Properties"]["Throttle"]

    assert throttle["RateLimit"] >= 50_000 / 3600
    assert throttle["BurstLimit"] >= throttle["RateLimit"]


def test_encryption_key_rotates(resources):
    assert resources["EncryptionKey"]["Properties"]["EnableKeyRotation"] is True


def test_cfn_lint_reports_no_errors(lint_findings):
    assert [str(finding) for finding in lint_findings if finding.is_error] == []


def test_cfn_lint_reports_no_warnings(lint_findings):
    assert [str(finding) for finding in lint_findings if not finding.is_error] == []


@pytest.mark.parametrize("name", ["aws", "localstack"])
def test_parameter_set_defines_the_concurrency_and_nothing_the_harness_supplies(name):
    parameters = load_parameter_set(name)

    assert set(parameters) == set(CONCURRENCY[name]) | OTHER_PARAMETERS
    assert not set(parameters) & SUPPLIED_BY_THE_HARNESS
    assert {key: parameters[key] for key in CONCURRENCY[name]} == CONCURRENCY[name]


@pytest.mark.parametrize("name", ["aws", "localstack"])
def test_parameter_set_holds_only_strings_the_template_accepts(template, name):
    parameters = load_parameter_set(name)

    assert all(isinstance(value, str) for value in parameters.values())
    assert check_parameters(template, parameters) == []


def test_template_defaults_are_the_aws_parameter_set(template):
    aws_set = load_parameter_set("aws")

    defaults = {name: str(template["Parameters"][name]["Default"]) for name in aws_set}

    assert defaults == aws_set
