"""The preflight: each check both ways, the account's concurrency, the command line."""

import copy
import importlib.resources
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

import tapstack.cli
from tapstack import paths
from tapstack.exitcodes import ExitStatus
from tapstack.preflight import (
    ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS,
    AccountConcurrency,
    AccountSettingsError,
    ParameterError,
    PreflightFailed,
    Severity,
    TemplateError,
    fitting_reservations,
    load_parameters,
    parse_overrides,
    read_account_concurrency,
    run_preflight,
)

DATA = Path(__file__).parent / "data" / "preflight"

SEED_VALUES = {
    "ProcessWebhookReservedConcurrency": "100",
    "CheckAlertsReservedConcurrency": "50",
    "SendNotificationReservedConcurrency": "50",
    "CleanupHistoryReservedConcurrency": "5",
}
FUNCTIONS = [
    "ProcessWebhookFunction",
    "CheckAlertsFunction",
    "SendNotificationFunction",
    "CleanupHistoryFunction",
]
STACK_FUNCTION_NAMES = [
    "tapstack-process-webhook-dev",
    "tapstack-check-alerts-dev",
    "tapstack-send-notification-dev",
    "tapstack-cleanup-history-dev",
]


@pytest.fixture(scope="module")
def real_template() -> dict:
    return json.loads(paths.TEMPLATE_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def template(real_template) -> dict:
    """A deep copy of the real template, for a test to break."""
    return copy.deepcopy(real_template)


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run ``tapstack`` with only the preflight registered; return (status, stdout, stderr)."""
    # The other subcommands belong to other packages; their state must not decide these tests.
    monkeypatch.setattr(tapstack.cli, "COMMAND_MODULES", ("tapstack.preflight.cli",))

    def run(*argv: str) -> tuple[int, str, str]:
        status = tapstack.cli.main(["preflight", *argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def stubbed_lambda(limit: int, unreserved: int) -> tuple[object, Stubber]:
    """A Lambda client whose GetAccountSettings answers with these figures.

    moto 5 answers GetAccountSettings with 404 "Not yet implemented", hence the Stubber.
    """
    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    stubber = Stubber(client)
    stubber.add_response(
        "get_account_settings",
        {
            "AccountLimit": {
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": unreserved,
            },
            "AccountUsage": {"FunctionCount": 0},
        },
    )
    return client, stubber


def findings_of(report, check: str) -> list:
    return [finding for finding in report.findings if finding.check == check]


def statements(template: dict, role: str) -> list:
    return template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


# --- the real template


def test_real_template_with_aws_set_on_a_300_account_has_no_findings():
    report = run_preflight(
        paths.TEMPLATE_PATH, load_parameters("aws"), account=AccountConcurrency(300, 300)
    )

    assert report.findings == ()
    assert report.ok
    assert report.checks == ("parameters", "concurrency", "cfn-lint", "promises", "iam")


def test_real_template_without_account_only_warns_that_the_quota_is_unchecked():
    report = run_preflight(paths.TEMPLATE_PATH, load_parameters("localstack"), lint=False)

    (finding,) = report.findings
    assert report.ok
    assert finding.severity is Severity.WARNING
    assert finding.check == "concurrency"
    assert "--account-limit" in finding.fix
    assert "--endpoint" in finding.fix


# --- promises: a broken copy of the template yields a finding naming the resource


def set_x86_64(template):
    template["Resources"]["ProcessWebhookFunction"]["Properties"]["Architectures"] = ["x86_64"]


def drop_architectures(template):
    del template["Resources"]["CleanupHistoryFunction"]["Properties"]["Architectures"]


def drop_table_sse(template):
    del template["Resources"]["AlertsTable"]["Properties"]["SSESpecification"]


def disable_table_sse(template):
    template["Resources"]["PriceHistoryTable"]["Properties"]["SSESpecification"]["SSEEnabled"] = (
        "false"
    )


def drop_sse_type(template):
    del template["Resources"]["AlertsTable"]["Properties"]["SSESpecification"]["SSEType"]


def drop_topic_key(template):
    del template["Resources"]["NotificationTopic"]["Properties"]["KmsMasterKeyId"]


def drop_ttl(template):
    del template["Resources"]["PriceHistoryTable"]["Properties"]["TimeToLiveSpecification"]


def disable_ttl(template):
    properties = template["Resources"]["PriceHistoryTable"]["Properties"]
    properties["TimeToLiveSpecification"]["Enabled"] = False


def drop_stream(template):
    del template["Resources"]["PriceHistoryTable"]["Properties"]["StreamSpecification"]


def drop_pitr(template):
    del template["Resources"]["AlertsTable"]["Properties"]["PointInTimeRecoverySpecification"]


def api_key_not_required(template):
    template["Resources"]["WebhooksPostMethod"]["Properties"]["ApiKeyRequired"] = False


def drop_errors_alarm(template):
    del template["Resources"]["CheckAlertsErrorsAlarm"]


def wildcard_service_action(template):
    statements(template, "CheckAlertsRole")[1]["Action"] = ["dynamodb:*"]


def wildcard_action(template):
    statements(template, "SendNotificationRole")[1]["Action"] = "*"


def partial_wildcard_action(template):
    statements(template, "ProcessWebhookRole")[1]["Action"] = ["dynamodb:Get*"]


def resource_star(template):
    statements(template, "ProcessWebhookRole")[1]["Resource"] = "*"


def not_action(template):
    statement = statements(template, "CleanupHistoryRole")[1]
    statement["NotAction"] = statement.pop("Action")


def standalone_policy_with_wildcard(template):
    template["Resources"]["ExtraPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "extra",
            "Roles": [{"Ref": "CheckAlertsRole"}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": {
                    "Effect": "Allow",
                    "Action": "sqs:*",
                    "Resource": {"Fn::GetAtt": ["CheckAlertsFailureQueue", "Arn"]},
                },
            },
        },
    }


def managed_policy_with_resource_star(template):
    template["Resources"]["ExtraManagedPolicy"] = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}],
            }
        },
    }


BROKEN_TEMPLATES = [
    pytest.param(set_x86_64, "promises", "ProcessWebhookFunction", "Architectures", id="x86_64"),
    pytest.param(
        drop_architectures, "promises", "CleanupHistoryFunction", "Architectures", id="no-arch"
    ),
    pytest.param(drop_table_sse, "promises", "AlertsTable", "SSESpecification", id="no-sse"),
    pytest.param(
        disable_table_sse,
        "promises",
        "PriceHistoryTable",
        "SSESpecification.SSEEnabled",
        id="sse-off",
    ),
    pytest.param(
        drop_sse_type, "promises", "AlertsTable", "SSESpecification.SSEType", id="no-sse-type"
    ),
    pytest.param(drop_topic_key, "promises", "NotificationTopic", "KmsMasterKeyId", id="topic"),
    pytest.param(drop_ttl, "promises", "PriceHistoryTable", "TimeToLiveSpecification", id="no-ttl"),
    pytest.param(
        disable_ttl,
        "promises",
        "PriceHistoryTable",
        "TimeToLiveSpecification.Enabled",
        id="ttl-off",
    ),
    pytest.param(drop_stream, "promises", "PriceHistoryTable", "StreamSpecification", id="stream"),
    pytest.param(
        drop_pitr,
        "promises",
        "AlertsTable",
        "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",
        id="no-pitr",
    ),
    pytest.param(
        api_key_not_required, "promises", "WebhooksPostMethod", "ApiKeyRequired", id="api-key"
    ),
    pytest.param(
        drop_errors_alarm,
        "promises",
        "CheckAlertsFunction",
        "(AWS::CloudWatch::Alarm)",
        id="no-errors-alarm",
    ),
    pytest.param(
        wildcard_service_action,
        "iam",
        "CheckAlertsRole",
        "Policies[0].PolicyDocument.Statement[1].Action",
        id="service-wildcard",
    ),
    pytest.param(
        wildcard_action,
        "iam",
        "SendNotificationRole",
        "Policies[0].PolicyDocument.Statement[1].Action",
        id="action-star",
    ),
    pytest.param(
        partial_wildcard_action,
        "iam",
        "ProcessWebhookRole",
        "Policies[0].PolicyDocument.Statement[1].Action",
        id="action-pattern",
    ),
    pytest.param(
        resource_star,
        "iam",
        "ProcessWebhookRole",
        "Policies[0].PolicyDocument.Statement[1].Resource",
        id="resource-star",
    ),
    pytest.param(
        not_action,
        "iam",
        "CleanupHistoryRole",
        "Policies[0].PolicyDocument.Statement[1].NotAction",
        id="not-action",
    ),
    pytest.param(
        standalone_policy_with_wildcard,
        "iam",
        "ExtraPolicy",
        "PolicyDocument.Statement[0].Action",
        id="iam-policy",
    ),
    pytest.param(
        managed_policy_with_resource_star,
        "iam",
        "ExtraManagedPolicy",
        "PolicyDocument.Statement[0].Resource",
        id="managed-policy",
    ),
]


@pytest.mark.parametrize("break_template, check, resource, prop", BROKEN_TEMPLATES)
def test_broken_template_yields_an_error_naming_the_resource(
    template, break_template, check, resource, prop
):
    break_template(template)

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    errors = [(f.check, f.resource, f.property) for f in report.errors]
    assert errors == [(check, resource, prop)]
    assert not report.ok
    (finding,) = report.errors
    assert finding.fix
    assert finding.seen
    assert resource in finding.message


def test_missing_architectures_is_reported_as_the_x86_64_default(template):
    drop_architectures(template)

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    assert "x86_64" in report.errors[0].seen


def test_options_method_may_go_without_an_api_key(template):
    template["Resources"]["WebhooksOptionsMethod"] = {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "WebhookApi"},
            "ResourceId": {"Ref": "WebhooksResource"},
            "HttpMethod": "OPTIONS",
            "AuthorizationType": "NONE",
            "Integration": {"Type": "MOCK"},
        },
    }

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    assert report.findings == ()


def test_errors_alarm_on_a_metric_math_query_counts(template):
    alarm = template["Resources"]["CheckAlertsErrorsAlarm"]["Properties"]
    metric = {
        "Namespace": "AWS/Lambda",
        "MetricName": alarm.pop("MetricName"),
        "Dimensions": alarm.pop("Dimensions"),
    }
    for key in ("Namespace", "Statistic", "Period"):
        alarm.pop(key)
    alarm["Metrics"] = [
        {"Id": "errors", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}}
    ]

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    assert report.findings == ()


def test_errors_alarm_on_the_literal_function_name_counts(template):
    dimensions = template["Resources"]["SendNotificationErrorsAlarm"]["Properties"]["Dimensions"]
    dimensions[0]["Value"] = "tapstack-send-notification-prod"

    report = run_preflight(
        template,
        {"EnvironmentSuffix": "prod"},
        account=AccountConcurrency(1000, 1000),
        lint=False,
    )

    assert report.findings == ()


def test_wildcard_in_a_deny_statement_is_allowed(template):
    statements(template, "CheckAlertsRole").append(
        {"Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": "*"}
    )

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    assert report.findings == ()


def test_resource_star_is_allowed_for_an_action_without_resource_level_permissions(template):
    statements(template, "SendNotificationRole").append(
        {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"}
    )

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    assert report.findings == ()


def test_resource_star_finding_names_only_the_actions_off_the_allowlist(template):
    statements(template, "CheckAlertsRole")[2]["Action"] = [
        "dynamodb:ListStreams",
        "dynamodb:Scan",
    ]

    report = run_preflight(template, {}, account=AccountConcurrency(1000, 1000), lint=False)

    (finding,) = report.errors
    assert "dynamodb:Scan" in finding.message
    assert "dynamodb:ListStreams" not in finding.message


@pytest.fixture(scope="module")
def iam_actions() -> dict:
    """cfn-lint's copy of the Service Authorization Reference: resource types per action."""
    specs = importlib.resources.files("cfnlint.data.AdditionalSpecs") / "Policies.json"
    return json.loads(specs.read_text(encoding="utf-8"))


@pytest.mark.parametrize("action", sorted(ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS))
def test_allowlisted_action_really_supports_no_resource_level_permissions(iam_actions, action):
    service, name = action.split(":")

    entry = iam_actions[service]["Actions"][name]

    assert not entry.get("Resources")


# --- parameters


def test_undeclared_parameter_is_an_error():
    report = run_preflight(paths.TEMPLATE_PATH, {"Colour": "blue"}, lint=False)

    (finding,) = report.errors
    assert (finding.check, finding.resource, finding.property) == (
        "parameters",
        "Parameters",
        "Colour",
    )


@pytest.mark.parametrize(
    "name, value",
    [
        pytest.param("ProcessWebhookReservedConcurrency", "lots", id="not-a-number"),
        pytest.param("CheckAlertsReservedConcurrency", "0", id="below-min"),
        pytest.param("LogRetentionDays", "2", id="not-allowed"),
        pytest.param("EnvironmentSuffix", "Has_Underscore", id="pattern"),
        pytest.param("CleanupSchedule", "every hour", id="schedule"),
    ],
)
def test_parameter_value_the_template_refuses_is_an_error(name, value):
    report = run_preflight(paths.TEMPLATE_PATH, {name: value}, lint=False)

    findings = findings_of(report, "parameters")
    assert [(f.property, f.seen, f.severity) for f in findings] == [(name, value, Severity.ERROR)]


def test_parameters_take_the_template_defaults():
    report = run_preflight(paths.TEMPLATE_PATH, {"CheckAlertsReservedConcurrency": "7"}, lint=False)

    assert report.parameters["ProcessWebhookReservedConcurrency"] == "20"
    assert report.parameters["CheckAlertsReservedConcurrency"] == "7"
    assert "CodeBucket" not in report.parameters


# --- concurrency


def test_seed_values_are_refused_on_a_300_account_with_the_numbers():
    report = run_preflight(
        paths.TEMPLATE_PATH, SEED_VALUES, account=AccountConcurrency(300, 300), lint=False
    )

    (finding,) = report.errors
    assert finding.check == "concurrency"
    assert finding.resource == ", ".join(FUNCTIONS)
    assert finding.property == "ReservedConcurrentExecutions"
    assert finding.seen == "100 + 50 + 50 + 5 = 205; 95 left unreserved (minimum 100)"
    for expected in (
        "ProcessWebhookFunction 100",
        "CheckAlertsFunction 50",
        "SendNotificationFunction 50",
        "CleanupHistoryFunction 5",
        "reserve 205",
        "limit is 300",
        "already reserve 0",
        "= 95",
        "minimum of 100",
        "At most 200",
    ):
        assert expected in finding.message


def test_seed_values_fix_suggests_a_proportional_set_that_fits():
    report = run_preflight(
        paths.TEMPLATE_PATH, SEED_VALUES, account=AccountConcurrency(300, 300), lint=False
    )

    fix = report.errors[0].fix
    assert "ProcessWebhookReservedConcurrency=97" in fix
    assert "CheckAlertsReservedConcurrency=49" in fix
    assert "SendNotificationReservedConcurrency=49" in fix
    assert "CleanupHistoryReservedConcurrency=5" in fix


@pytest.mark.parametrize("parameter_set", ["aws", "localstack"])
def test_fixed_values_fit_a_300_account(parameter_set):
    report = run_preflight(
        paths.TEMPLATE_PATH,
        load_parameters(parameter_set),
        account=AccountConcurrency(300, 300),
        lint=False,
    )

    assert report.findings == ()


@pytest.mark.parametrize(
    "minimum, ok",
    [pytest.param(50, True, id="min-50"), pytest.param(100, False, id="min-100")],
)
def test_minimum_unreserved_decides_on_a_small_account(minimum, ok):
    account = AccountConcurrency(100, 100, minimum_unreserved=minimum)

    report = run_preflight(paths.TEMPLATE_PATH, load_parameters("aws"), account=account, lint=False)

    assert report.ok is ok


def test_reservations_of_other_functions_count_against_the_quota():
    account = AccountConcurrency(limit=1000, unreserved=130)

    report = run_preflight(paths.TEMPLATE_PATH, load_parameters("aws"), account=account, lint=False)

    (finding,) = report.errors
    assert "already reserve 870" in finding.message
    assert "1000 - 870 - 37 = 93" in finding.message


def test_reservations_the_stack_replaces_are_not_counted_twice():
    today = dict(zip(STACK_FUNCTION_NAMES, [20, 10, 5, 2], strict=True))
    replaced = AccountConcurrency(limit=150, unreserved=113, existing_reservations=today)
    added = AccountConcurrency(limit=150, unreserved=113)

    kept = run_preflight(paths.TEMPLATE_PATH, load_parameters("aws"), account=replaced, lint=False)
    doubled = run_preflight(paths.TEMPLATE_PATH, load_parameters("aws"), account=added, lint=False)

    assert kept.ok
    assert not doubled.ok


def test_literal_reservations_count_and_functions_without_one_hold_nothing(template):
    functions = template["Resources"]
    functions["ProcessWebhookFunction"]["Properties"]["ReservedConcurrentExecutions"] = 250
    for logical_id in FUNCTIONS[1:]:
        del functions[logical_id]["Properties"]["ReservedConcurrentExecutions"]

    report = run_preflight(template, {}, account=AccountConcurrency(300, 300), lint=False)

    (finding,) = report.errors
    assert finding.resource == "ProcessWebhookFunction"
    assert finding.seen.startswith("250 = 250;")
    assert "ProcessWebhookFunction.ReservedConcurrentExecutions=200" in finding.fix


def test_reservation_known_only_after_deploy_is_a_warning(template):
    properties = template["Resources"]["CleanupHistoryFunction"]["Properties"]
    properties["ReservedConcurrentExecutions"] = {"Fn::ImportValue": "shared-concurrency"}

    report = run_preflight(template, {}, account=AccountConcurrency(300, 300), lint=False)

    (finding,) = report.findings
    assert finding.severity is Severity.WARNING
    assert finding.resource == "CleanupHistoryFunction"


def test_reservation_behind_a_condition_follows_the_parameters(template):
    properties = template["Resources"]["CleanupHistoryFunction"]["Properties"]
    properties["ReservedConcurrentExecutions"] = {"Fn::If": ["HasAlarmEmail", 250, 1]}
    account = AccountConcurrency(300, 300)

    without_email = run_preflight(template, {}, account=account, lint=False)
    with_email = run_preflight(
        template, {"AlarmEmail": "ops@example.com"}, account=account, lint=False
    )

    assert without_email.ok
    (finding,) = with_email.errors
    assert "CleanupHistoryFunction" in finding.message


def test_negative_reservation_is_an_error(template):
    template["Resources"]["CheckAlertsFunction"]["Properties"]["ReservedConcurrentExecutions"] = -1

    report = run_preflight(template, {}, account=AccountConcurrency(300, 300), lint=False)

    (finding,) = report.errors
    assert (finding.resource, finding.seen) == ("CheckAlertsFunction", "-1")


def test_account_too_full_for_any_reservation_says_so():
    account = AccountConcurrency(limit=100, unreserved=100)

    report = run_preflight(paths.TEMPLATE_PATH, load_parameters("localstack"), account=account)

    (finding,) = report.errors
    assert "No reservation fits" in finding.message
    assert "remove ReservedConcurrentExecutions" in finding.fix


@pytest.mark.parametrize(
    "values, budget, expected",
    [
        pytest.param([100, 50, 50, 5], 200, [97, 49, 49, 5], id="seed"),
        pytest.param([20, 10, 5, 2], 100, [20, 10, 5, 2], id="fits"),
        pytest.param([100, 1, 1], 10, [8, 1, 1], id="keeps-one-each"),
        pytest.param([5, 5], 0, [0, 0], id="nothing"),
    ],
)
def test_fitting_reservations_scale_in_proportion(values, budget, expected):
    scaled = fitting_reservations(values, budget)

    assert scaled == expected
    assert sum(scaled) <= max(budget, 0)


# --- live account settings


def test_read_account_concurrency_uses_get_account_settings():
    client, stubber = stubbed_lambda(limit=300, unreserved=250)

    with stubber:
        account = read_account_concurrency(client, minimum_unreserved=50)

    assert account == AccountConcurrency(limit=300, unreserved=250, minimum_unreserved=50)
    assert account.reserved_elsewhere == 50
    stubber.assert_no_pending_responses()


def test_read_account_concurrency_records_what_existing_stack_functions_reserve():
    client, stubber = stubbed_lambda(limit=300, unreserved=260)
    stubber.add_response(
        "get_function_concurrency",
        {"ReservedConcurrentExecutions": 40},
        {"FunctionName": "tapstack-process-webhook-dev"},
    )
    stubber.add_client_error(
        "get_function_concurrency",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        expected_params={"FunctionName": "tapstack-check-alerts-dev"},
    )

    with stubber:
        account = read_account_concurrency(
            client,
            function_names=["tapstack-process-webhook-dev", "tapstack-check-alerts-dev"],
        )

    assert account.existing_reservations == {"tapstack-process-webhook-dev": 40}
    assert account.reserved_elsewhere == 0


def test_read_account_concurrency_failure_is_an_account_settings_error():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    stubber = Stubber(client)
    stubber.add_client_error("get_account_settings", service_error_code="AccessDeniedException")

    with stubber, pytest.raises(AccountSettingsError, match="GetAccountSettings"):
        read_account_concurrency(client)


def test_raw_get_account_settings_response_is_accepted_as_the_account():
    settings = {
        "AccountLimit": {"ConcurrentExecutions": 300, "UnreservedConcurrentExecutions": 300}
    }

    report = run_preflight(paths.TEMPLATE_PATH, SEED_VALUES, account=settings, lint=False)

    assert [f.check for f in report.errors] == ["concurrency"]


# --- cfn-lint


def test_lint_errors_and_warnings_become_findings():
    report = run_preflight(DATA / "lint_problems.json", {}, account=AccountConcurrency(300, 300))

    lint = {(f.severity, f.resource, f.property) for f in findings_of(report, "cfn-lint")}
    assert lint == {
        (Severity.ERROR, "Topic", "Colour"),
        (Severity.WARNING, "Parameters", "Unused"),
    }
    (error,) = [f for f in findings_of(report, "cfn-lint") if f.is_error]
    assert error.message.startswith("E3002")
    assert error.seen == "blue"
    assert error.line == 15


# --- inputs


def test_load_parameters_reads_a_named_set_and_a_path(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"CheckAlertsReservedConcurrency": 4}), encoding="utf-8")

    assert load_parameters("aws")["ProcessWebhookReservedConcurrency"] == "20"
    assert load_parameters(path) == {"CheckAlertsReservedConcurrency": "4"}


def test_load_parameters_names_the_known_sets_for_an_unknown_one():
    with pytest.raises(ParameterError, match="known sets: aws, localstack"):
        load_parameters("staging")


@pytest.mark.parametrize(
    "content, match",
    [
        pytest.param('["a"]', "one JSON object", id="list"),
        pytest.param('{"A": ["x"]}', "string or a number", id="nested"),
        pytest.param('{"A": ', "not valid JSON", id="broken"),
    ],
)
def test_load_parameters_refuses_a_malformed_file(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ParameterError, match=match):
        load_parameters(path)


def test_parse_overrides_keeps_empty_values_and_refuses_missing_equals():
    assert parse_overrides(["AlarmEmail=", "A=b=c"]) == {"AlarmEmail": "", "A": "b=c"}
    with pytest.raises(ParameterError, match="KEY=VALUE"):
        parse_overrides(["AlarmEmail"])


@pytest.mark.parametrize(
    "path, match",
    [
        pytest.param(DATA / "not_json.json", "not valid JSON", id="not-json"),
        pytest.param(DATA / "missing.json", "template not found", id="missing"),
    ],
)
def test_bad_template_is_a_template_error(path, match):
    with pytest.raises(TemplateError, match=match):
        run_preflight(path, {}, lint=False)


def test_raise_for_errors_carries_the_report():
    report = run_preflight(
        paths.TEMPLATE_PATH, SEED_VALUES, account=AccountConcurrency(300, 300), lint=False
    )

    with pytest.raises(PreflightFailed) as raised:
        report.raise_for_errors()

    assert raised.value.report is report
    assert raised.value.exit_status == ExitStatus.FINDINGS
    assert "[concurrency]" in str(raised.value)


# --- command line


def test_cli_default_run_passes_with_a_warning(run_cli):
    status, out, _ = run_cli()

    assert status == ExitStatus.OK
    assert "preflight: 0 errors, 1 warning" in out


def test_cli_refuses_the_seed_values_on_a_300_account(run_cli):
    overrides = [f"--parameter={key}={value}" for key, value in SEED_VALUES.items()]

    status, out, _ = run_cli("--no-lint", "--account-limit", "300", *overrides)

    assert status == ExitStatus.FINDINGS
    assert "error [concurrency]" in out
    assert "95 left unreserved (minimum 100)" in out
    assert out.rstrip().splitlines()[-1].startswith("preflight: 1 error, 0 warnings")


@pytest.mark.parametrize("parameter_set", ["aws", "localstack"])
def test_cli_accepts_the_fixed_values_on_a_300_account(run_cli, parameter_set):
    status, out, _ = run_cli("--no-lint", "--parameters", parameter_set, "--account-limit", "300")

    assert status == ExitStatus.OK
    assert "preflight: 0 errors, 0 warnings" in out


def test_cli_min_unreserved_option_changes_the_verdict(run_cli):
    args = ("--no-lint", "--parameters", "aws", "--account-limit", "100")

    refused, _, _ = run_cli(*args)
    accepted, _, _ = run_cli(*args, "--min-unreserved", "50")

    assert refused == ExitStatus.FINDINGS
    assert accepted == ExitStatus.OK


def test_cli_json_output_is_parseable(run_cli):
    status, out, _ = run_cli(
        "--no-lint", "--json", "--account-limit", "300", "--parameter", "Colour=blue"
    )

    report = json.loads(out)
    assert status == ExitStatus.FINDINGS
    assert report["ok"] is False
    assert report["errors"] == 1
    assert report["findings"][0]["severity"] == "error"
    assert report["findings"][0]["property"] == "Colour"
    assert report["account"]["limit"] == 300


def test_cli_json_flag_prints_only_json(run_cli):
    status, out, _ = run_cli("--no-lint", "--json", "--account-limit", "300")

    assert status == ExitStatus.OK
    assert json.loads(out)["summary"] == "preflight: 0 errors, 0 warnings"


def test_cli_reads_live_settings_from_the_endpoint(run_cli, monkeypatch):
    client, stubber = stubbed_lambda(limit=300, unreserved=300)
    for name in STACK_FUNCTION_NAMES:
        stubber.add_response("get_function_concurrency", {}, {"FunctionName": name})
    endpoints = []

    def fake_client(service, endpoint_url=None, **config):
        endpoints.append((service, endpoint_url))
        return client

    monkeypatch.setattr("tapstack.aws.client", fake_client)
    overrides = [f"--parameter={key}={value}" for key, value in SEED_VALUES.items()]

    with stubber:
        status, out, _ = run_cli("--no-lint", "--endpoint", "http://127.0.0.1:4566", *overrides)

    assert endpoints == [("lambda", "http://127.0.0.1:4566")]
    assert status == ExitStatus.FINDINGS
    assert "limit is 300" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(["--parameters", "staging"], "unknown parameter set", id="set"),
        pytest.param(["--parameter", "NoEquals"], "KEY=VALUE", id="override"),
        pytest.param(["--template", str(DATA / "missing.json")], "template not found", id="tpl"),
    ],
)
def test_cli_bad_input_is_a_usage_error(run_cli, argv, message):
    status, out, err = run_cli("--no-lint", *argv)

    assert status == ExitStatus.USAGE
    assert message in err
    assert out == ""
