"""Evidence of a failed integration test: each section, their collection, and the report hook.

The AWS calls are answered by botocore's Stubber on real clients bound to a dead endpoint,
so a call nobody stubbed fails instead of reaching anything; the queue's "not consumed"
promise is checked against moto's SQS.
"""

import importlib.util
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tapstack import aws, paths
from tapstack.stack import deploy, evidence
from tapstack.stack.outputs import StackOutputs

pytest_plugins = ["pytester"]

DEAD_ENDPOINT = "http://127.0.0.1:1"
STACK_NAME = "TapStackunit"
STACK_ID = f"arn:aws:cloudformation:us-east-1:000000000000:stack/{STACK_NAME}/1"
QUEUE_URL = "http://127.0.0.1:1/000000000000/check-alerts-failures"
MAPPING_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/history/stream/2024"
STARTED = 1_700_000_000.0
MAPPING_UUID = "6e0f5a5c-3c3e-4a39-9b87-1f7d1c1a2b3c"


def make_outputs(queue_url: str = QUEUE_URL) -> StackOutputs:
    return StackOutputs(
        stack_name=STACK_NAME,
        outputs={
            "ProcessWebhookFunctionName": "process-webhook-unit",
            "CheckAlertsFunctionName": "check-alerts-unit",
            "SendNotificationFunctionName": "send-notification-unit",
            "CleanupHistoryFunctionName": "cleanup-history-unit",
            "CheckAlertsFailureQueueUrl": queue_url,
        },
        api_key_value="key",
    )


class StubbedClients:
    """A ``clients(service)`` factory of real clients, each behind an active Stubber."""

    def __init__(self):
        self.clients = {}
        self.stubbers = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubbers:
            client = aws.client(service, DEAD_ENDPOINT)
            self.clients[service] = client
            self.stubbers[service] = Stubber(client)
            self.stubbers[service].activate()
        return self.stubbers[service]

    def __call__(self, service: str):
        self.stub(service)
        return self.clients[service]

    def assert_all_answered(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def clients():
    stubbed = StubbedClients()
    yield stubbed
    for stubber in stubbed.stubbers.values():
        stubber.deactivate()


def stack_event(number: int) -> dict:
    return {
        "StackId": STACK_ID,
        "EventId": f"event-{number}",
        "StackName": STACK_NAME,
        "LogicalResourceId": f"Resource{number}",
        "ResourceStatus": "UPDATE_COMPLETE",
        "Timestamp": datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=number),
    }


def log_event(seconds: float, message: str) -> dict:
    return {"timestamp": int((STARTED + seconds) * 1000), "message": message}


def stub_events(clients: StubbedClients, count: int) -> None:
    # CloudFormation answers newest first; event N happened N seconds after event 0.
    events = [stack_event(number) for number in reversed(range(count))]
    clients.stub("cloudformation").add_response(
        "describe_stack_events", {"StackEvents": events}, {"StackName": STACK_NAME}
    )


def stub_logs(clients: StubbedClients, events_by_function: dict[str, list[dict] | None]) -> None:
    """One filter_log_events answer per traced function, in order; None: no such group."""
    stubber = clients.stub("logs")
    for function, events in events_by_function.items():
        expected = {
            "logGroupName": f"/aws/lambda/{function}",
            "startTime": int((STARTED - 5) * 1000),
        }
        if events is None:
            stubber.add_client_error(
                "filter_log_events",
                service_error_code="ResourceNotFoundException",
                http_status_code=400,
                expected_params=expected,
            )
        else:
            stubber.add_response("filter_log_events", {"events": events}, expected)


def stub_mapping(clients: StubbedClients, mappings: list[dict]) -> None:
    clients.stub("lambda").add_response(
        "list_event_source_mappings",
        {"EventSourceMappings": mappings},
        {"FunctionName": "check-alerts-unit"},
    )


def stub_queue(clients: StubbedClients, bodies: list[str]) -> None:
    messages = [
        {"MessageId": f"m{index}", "ReceiptHandle": f"r{index}", "Body": body}
        for index, body in enumerate(bodies)
    ]
    expected = {
        "QueueUrl": QUEUE_URL,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": 0,
        "MessageAttributeNames": ["All"],
        "AttributeNames": ["All"],
    }
    response = {"Messages": messages} if messages else {}
    clients.stub("sqs").add_response("receive_message", response, expected)


def by_title(sections: list[tuple[str, str]]) -> dict[str, str]:
    return dict(sections)


# -- the sections ------------------------------------------------------------------------------


def test_stack_events_section_lists_the_newest_first_and_stops_at_the_limit(clients):
    stub_events(clients, deploy.EVENTS_SHOWN + 5)

    text = evidence.stack_events_section(clients("cloudformation"), STACK_NAME)

    lines = text.splitlines()
    newest = deploy.EVENTS_SHOWN + 4
    assert len(lines) == deploy.EVENTS_SHOWN
    assert lines[0] == f"12:00:{newest:02d} Resource{newest} UPDATE_COMPLETE"
    assert lines[-1].split()[1] == "Resource5"


def test_stack_events_section_of_a_missing_stack_says_so(clients):
    clients.stub("cloudformation").add_client_error(
        "describe_stack_events",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK_NAME} does not exist",
        http_status_code=400,
    )

    text = evidence.stack_events_section(clients("cloudformation"), STACK_NAME)

    assert text.startswith("(no events:")
    assert "does not exist" in text


def test_log_lines_section_keeps_only_lines_that_mention_the_event_ids(clients):
    stub_logs(
        clients,
        {
            "process-webhook-unit": [
                log_event(1, "stored evt-1\n"),
                log_event(2, "stored evt-other"),
            ],
            "check-alerts-unit": [log_event(3, "alert for evt-2"), log_event(4, "heartbeat")],
            "send-notification-unit": [log_event(5, "published evt-1")],
        },
    )

    text = evidence.log_lines_section(
        clients("logs"), make_outputs(), ["evt-1", "evt-2"], STARTED - 5
    )

    lines = [line.split(" ", 1)[1] for line in text.splitlines()]
    assert lines == [
        "ProcessWebhookFunction: stored evt-1",
        "CheckAlertsFunction: alert for evt-2",
        "SendNotificationFunction: published evt-1",
    ]
    clients.assert_all_answered()


def test_log_lines_section_reads_the_other_functions_when_one_has_no_log_group(clients):
    stub_logs(
        clients,
        {
            "process-webhook-unit": None,
            "check-alerts-unit": [log_event(3, "failed on evt-9")],
            "send-notification-unit": [],
        },
    )

    text = evidence.log_lines_section(clients("logs"), make_outputs(), ["evt-9"], STARTED - 5)

    assert text.endswith("CheckAlertsFunction: failed on evt-9")
    clients.assert_all_answered()


def test_log_lines_section_without_a_match_names_the_functions_and_the_ids(clients):
    traced = ("process-webhook-unit", "check-alerts-unit", "send-notification-unit")
    stub_logs(clients, {function: [] for function in traced})

    text = evidence.log_lines_section(clients("logs"), make_outputs(), ["evt-3"], STARTED - 5)

    assert "no log line" in text
    assert "CheckAlertsFunction" in text
    assert "evt-3" in text


def test_log_lines_section_without_event_ids_reads_no_logs(clients):
    text = evidence.log_lines_section(clients("logs"), make_outputs(), ["", None], None)

    assert "sent no webhooks" in text
    clients.assert_all_answered()


def test_event_source_mapping_section_shows_state_and_last_result(clients):
    stub_mapping(
        clients,
        [
            {
                "UUID": MAPPING_UUID,
                "State": "Enabled",
                "LastProcessingResult": "PROBLEM: Function call failed",
                "StateTransitionReason": "USER_INITIATED",
                "EventSourceArn": MAPPING_ARN,
            }
        ],
    )

    text = evidence.event_source_mapping_section(clients("lambda"), make_outputs())

    assert text == (
        f"UUID={MAPPING_UUID} State=Enabled LastProcessingResult=PROBLEM: Function call failed "
        f"StateTransitionReason=USER_INITIATED EventSourceArn={MAPPING_ARN}"
    )


def test_event_source_mapping_section_without_a_mapping_says_so(clients):
    stub_mapping(clients, [])

    text = evidence.event_source_mapping_section(clients("lambda"), make_outputs())

    assert text == "(CheckAlerts has no event source mapping)"


def test_failure_queue_section_peeks_with_visibility_timeout_zero(clients):
    stub_queue(clients, ['{"b": 2, "a": 1}', "not json"])

    text = evidence.failure_queue_section(clients("sqs"), make_outputs())

    assert text.splitlines() == ['{"a": 1, "b": 2}', "not json"]
    # The Stubber refuses any call it was not told about: no delete_message happened.
    clients.assert_all_answered()


def test_failure_queue_section_of_an_empty_queue_says_it_is_empty(clients):
    stub_queue(clients, [])

    text = evidence.failure_queue_section(clients("sqs"), make_outputs())

    assert text == "(the on-failure queue is empty)"


@pytest.fixture
def moto_sqs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield aws.client("sqs")


def test_failure_queue_section_leaves_the_messages_in_the_queue(moto_sqs):
    queue_url = moto_sqs.create_queue(QueueName="check-alerts-failures")["QueueUrl"]
    for body in ("first", "second"):
        moto_sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    text = evidence.failure_queue_section(moto_sqs, make_outputs(queue_url))

    assert sorted(text.splitlines()) == ["first", "second"]
    again = moto_sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    assert sorted(message["Body"] for message in again["Messages"]) == ["first", "second"]


# -- collect -----------------------------------------------------------------------------------


def test_collect_returns_every_section_in_order_with_its_title(clients):
    stub_events(clients, 2)
    stub_logs(
        clients,
        {
            "process-webhook-unit": [log_event(1, "stored evt-1")],
            "check-alerts-unit": [],
            "send-notification-unit": [],
        },
    )
    stub_mapping(clients, [{"UUID": MAPPING_UUID, "State": "Enabled"}])
    stub_queue(clients, ["poison"])

    sections = evidence.collect(clients, make_outputs(), event_ids=["evt-1"], since=STARTED)

    assert [title for title, _ in sections] == [
        "TapStack stack events",
        "TapStack function logs",
        "TapStack event source mapping",
        "TapStack on-failure queue",
    ]
    texts = by_title(sections)
    assert texts["TapStack stack events"].startswith("12:00:01 Resource1")
    assert texts["TapStack function logs"].endswith("ProcessWebhookFunction: stored evt-1")
    assert texts["TapStack event source mapping"].startswith(f"UUID={MAPPING_UUID} State=Enabled")
    assert texts["TapStack on-failure queue"] == "poison"
    clients.assert_all_answered()


def test_collect_keeps_the_other_sections_when_one_call_fails(clients):
    stub_events(clients, 1)
    stub_logs(clients, {"process-webhook-unit": [log_event(1, "stored evt-1")]})
    clients.stub("logs").add_client_error(
        "filter_log_events",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )
    clients.stub("lambda").add_client_error(
        "list_event_source_mappings",
        service_error_code="ServiceException",
        service_message="the emulator broke",
        http_status_code=500,
    )
    stub_queue(clients, [])

    texts = by_title(evidence.collect(clients, make_outputs(), event_ids=["evt-1"], since=STARTED))

    assert texts["TapStack stack events"].startswith("12:00:00 Resource0")
    assert texts["TapStack function logs"].startswith("(could not read: ")
    assert "Rate exceeded" in texts["TapStack function logs"]
    assert texts["TapStack event source mapping"].startswith("(could not read: ServiceException")
    assert "the emulator broke" in texts["TapStack event source mapping"]
    assert texts["TapStack on-failure queue"] == "(the on-failure queue is empty)"


def test_collect_says_why_when_an_output_is_missing(clients):
    stub_events(clients, 1)
    outputs = StackOutputs(STACK_NAME, {}, "key")

    texts = by_title(evidence.collect(clients, outputs, event_ids=["evt-1"]))

    assert texts["TapStack stack events"].startswith("12:00:00")
    assert "OutputsError" in texts["TapStack on-failure queue"]
    assert "CheckAlertsFailureQueueUrl" in texts["TapStack on-failure queue"]


# -- the report hook ---------------------------------------------------------------------------

INTEGRATION_CONFTEST = paths.PROJECT_ROOT / "tests" / "integration" / "conftest.py"

FAKE_FIXTURES = """
import pytest

from tapstack.stack.outputs import StackOutputs


@pytest.fixture
def stack_outputs():
    return StackOutputs("TapStackunit", {}, "key")


@pytest.fixture
def aws_clients():
    def clients(service):
        raise AssertionError("the hook test patches collect; no client is made")

    return clients
"""

TESTS = """
def test_fails_after_sending(request, stack_outputs, aws_clients):
    request.node.tapstack_event_ids = ["evt-1", "evt-2"]
    assert 1 == 2


def test_passes(stack_outputs, aws_clients):
    assert True


def test_fails_without_the_stack():
    assert 1 == 2
"""


@pytest.fixture
def integration_hooks():
    """The integration suite's conftest.py, loaded as a plugin under a name of its own."""
    spec = importlib.util.spec_from_file_location("integration_conftest", INTEGRATION_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def recorded_collect(monkeypatch):
    calls = []

    def collect(clients, outputs, *, event_ids=(), since=None):
        calls.append({"outputs": outputs, "event_ids": list(event_ids), "since": since})
        return [("TapStack stack events", "12:00:00 Queue UPDATE_FAILED: quota")]

    monkeypatch.setattr(evidence, "collect", collect)
    return calls


def run_inner_suite(pytester, integration_hooks):
    pytester.makeconftest(FAKE_FIXTURES)
    pytester.makepyfile(test_inner=TESTS)
    pytester.makeini("[pytest]\nmarkers =\n    integration: for the hook's marker\n")
    return pytester.inline_run(plugins=[integration_hooks])


def reports_by_test(recorder) -> dict[str, list]:
    reports = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        name = report.nodeid.rsplit("::", 1)[1]
        reports.setdefault(name, []).append(report)
    return reports


def test_hook_attaches_evidence_to_a_failed_test_that_used_the_stack(
    pytester, integration_hooks, recorded_collect
):
    recorder = run_inner_suite(pytester, integration_hooks)

    recorder.assertoutcome(passed=1, failed=2)
    [call] = [r for r in reports_by_test(recorder)["test_fails_after_sending"] if r.failed]
    assert ("TapStack stack events", "12:00:00 Queue UPDATE_FAILED: quota") in call.sections
    assert len(recorded_collect) == 1
    assert recorded_collect[0]["event_ids"] == ["evt-1", "evt-2"]
    assert recorded_collect[0]["since"] is not None
    assert recorded_collect[0]["outputs"].stack_name == "TapStackunit"


def test_hook_shows_the_sections_in_the_failure_report(
    pytester, integration_hooks, recorded_collect
):
    pytester.makeconftest(FAKE_FIXTURES)
    pytester.makepyfile(test_inner=TESTS)

    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[integration_hooks])

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*- TapStack stack events -*", "12:00:00 Queue UPDATE_FAILED: quota"]
    )


def test_hook_leaves_a_passing_test_and_a_test_without_the_stack_alone(
    pytester, integration_hooks, recorded_collect
):
    recorder = run_inner_suite(pytester, integration_hooks)

    reports = reports_by_test(recorder)
    for name in ("test_passes", "test_fails_without_the_stack"):
        titles = [title for report in reports[name] for title, _ in report.sections]
        assert not [title for title in titles if title.startswith("TapStack")], name
    assert len(recorded_collect) == 1
