"""What to look at when an end-to-end test fails, gathered into titled text sections.

The integration suite attaches these sections to a failed test's report: the stack's
last events, the functions' log lines that mention the test's webhook event ids, the
state of the stream's event source mapping, and what sits in the on-failure queue.
Gathering evidence never raises: a section that cannot be read says why instead.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable

from tapstack.stack.deploy import recent_events
from tapstack.stack.outputs import StackOutputs
from tapstack.waiters import log_events, peek_messages

LOG = logging.getLogger(__name__)

#: Functions whose log lines are searched for the test's event ids, by logical id.
TRACED_FUNCTIONS = ("ProcessWebhookFunction", "CheckAlertsFunction", "SendNotificationFunction")
LOG_LINES_SHOWN = 60
ESM_FIELDS = ("UUID", "State", "LastProcessingResult", "StateTransitionReason", "EventSourceArn")


def stack_events_section(cloudformation, stack_name: str) -> str:
    """The stack's last events, newest first."""
    return "\n".join(recent_events(cloudformation, stack_name))


def log_lines_section(
    logs, outputs: StackOutputs, needles: Iterable[str], since: float | None
) -> str:
    """Log lines of the traced functions that mention any of ``needles`` (event ids)."""
    needles = [needle for needle in needles if needle]
    if not needles:
        return "(the test sent no webhooks, so there are no event ids to look for)"
    names = outputs.function_names
    lines = []
    for logical_id in TRACED_FUNCTIONS:
        group = f"/aws/lambda/{names[logical_id]}"
        events = log_events(logs, group, start_time=since, contains=needles)
        lines.extend(_log_line(logical_id, event) for event in events)
    if not lines:
        return f"(no log line of {', '.join(TRACED_FUNCTIONS)} mentions {', '.join(needles)})"
    lines.sort()
    return "\n".join(lines[-LOG_LINES_SHOWN:])


def event_source_mapping_section(lambda_client, outputs: StackOutputs) -> str:
    """State, last processing result and transition reason of CheckAlerts' mappings."""
    mappings = lambda_client.list_event_source_mappings(
        FunctionName=outputs["CheckAlertsFunctionName"]
    )["EventSourceMappings"]
    if not mappings:
        return "(CheckAlerts has no event source mapping)"
    rows = []
    for mapping in mappings:
        rows.append(" ".join(f"{name}={mapping.get(name)}" for name in ESM_FIELDS))
    return "\n".join(rows)


def failure_queue_section(sqs, outputs: StackOutputs) -> str:
    """The on-failure queue's messages, read without being consumed."""
    messages = peek_messages(sqs, outputs["CheckAlertsFailureQueueUrl"])
    if not messages:
        return "(the on-failure queue is empty)"
    return "\n".join(_compact(message.get("Body", "")) for message in messages)


def collect(
    clients: Callable[[str], object],
    outputs: StackOutputs,
    *,
    event_ids: Iterable[str] = (),
    since: float | None = None,
) -> list[tuple[str, str]]:
    """Every evidence section as ``(title, text)``; a section that fails says why.

    :param clients: a factory ``clients(service_name)`` bound to the emulator.
    :param event_ids: the webhook event ids the failed test sent.
    :param since: epoch seconds; log lines before it are left out.
    """
    event_ids = list(event_ids)
    since = since if since is None else since - 5
    sections = (
        (
            "stack events",
            lambda: stack_events_section(clients("cloudformation"), outputs.stack_name),
        ),
        ("function logs", lambda: log_lines_section(clients("logs"), outputs, event_ids, since)),
        ("event source mapping", lambda: event_source_mapping_section(clients("lambda"), outputs)),
        ("on-failure queue", lambda: failure_queue_section(clients("sqs"), outputs)),
    )
    gathered = []
    for title, read in sections:
        try:
            text = read()
        except Exception as exc:  # noqa: BLE001 - evidence must not hide the real failure
            LOG.debug("could not gather %s: %s", title, exc)
            text = f"(could not read: {type(exc).__name__}: {exc})"
        gathered.append((f"TapStack {title}", text))
    return gathered


def attach(item, report) -> None:
    """Add the evidence sections to ``report`` when it is the failed setup or call of ``item``.

    The pytest hook ``pytest_runtest_makereport`` of the integration suite calls this. A
    passing test, a teardown, and a test that used neither ``stack_outputs`` nor
    ``aws_clients`` get nothing. The test's webhook event ids come from
    ``item.tapstack_event_ids``, its start time from ``item.tapstack_started``.
    """
    if not report.failed or report.when not in ("setup", "call"):
        return
    fixtures = getattr(item, "funcargs", {})
    outputs = fixtures.get("stack_outputs")
    clients = fixtures.get("aws_clients")
    if outputs is None or clients is None:
        return

    sections = collect(
        clients,
        outputs,
        event_ids=getattr(item, "tapstack_event_ids", ()),
        since=getattr(item, "tapstack_started", None),
    )
    report.sections.extend(sections)


def _log_line(logical_id: str, event: dict) -> str:
    stamp = time.strftime("%H:%M:%S", time.gmtime(event["timestamp"] / 1000))
    return f"{stamp} {logical_id}: {event['message'].rstrip()}"


def _compact(body: str) -> str:
    try:
        return json.dumps(json.loads(body), sort_keys=True)
    except ValueError:
        return body
