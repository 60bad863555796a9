"""Waiters with a deadline, a poll interval and a message that says what they last saw.

Every wait in the harness and the tests goes through :func:`wait_for`: it polls a probe
with tenacity until the probe says done or the deadline passes, then raises
:class:`WaitTimeout` naming what it waited for, for how long, and the last observation.
The named waiters below cover the waits the stack needs: a stack settling, a DynamoDB
item, SQS messages, an empty queue, a CloudWatch Logs event.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from tapstack.errors import TapStackError
from tapstack.exitcodes import ExitStatus

LOG = logging.getLogger(__name__)

_DESERIALIZER = TypeDeserializer()
_SERIALIZER = TypeSerializer()


class WaitTimeout(TapStackError):
    """Something did not happen before its deadline; carries the last observation."""

    exit_status = ExitStatus.TIMEOUT

    def __init__(self, description: str, timeout: float, last_observed: Any):
        self.description = description
        self.timeout = timeout
        self.last_observed = last_observed
        super().__init__(
            f"gave up waiting for {description} after {timeout:g} s; "
            f"last observed: {_shorten(last_observed)}"
        )


@dataclass(frozen=True)
class Poll:
    """One look at the world: whether the wait is over, and what was seen."""

    done: bool
    observed: Any = None


def wait_for(
    description: str,
    probe: Callable[[], Poll | tuple[bool, Any]],
    *,
    timeout: float,
    interval: float = 1.0,
    retry_on: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``probe`` until it reports done; return what it observed then.

    :param description: what is awaited, for the timeout message ("stack X to settle").
    :param probe: returns a :class:`Poll` or a ``(done, observed)`` pair.
    :param timeout: seconds before giving up.
    :param interval: seconds between polls.
    :param retry_on: exceptions the probe may raise that count as "not yet" (the
        exception becomes the last observation) instead of ending the wait.
    :raises WaitTimeout: when the deadline passes; it carries the last observation.
    """
    last = Poll(False, "nothing (the probe never completed)")

    def attempt() -> Poll:
        nonlocal last
        try:
            result = probe()
        except retry_on as exc:
            last = Poll(False, f"{type(exc).__name__}: {exc}")
            LOG.debug("waiting for %s: %s", description, last.observed)
            return last
        last = result if isinstance(result, Poll) else Poll(*result)
        if not last.done:
            LOG.debug("waiting for %s: %s", description, _shorten(last.observed))
        return last

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda poll: not poll.done),
    )
    try:
        return retrying(attempt).observed
    except RetryError:
        # tenacity's RetryError holds only the last Poll, which the message already shows;
        # chaining it would double the traceback a failed test prints and add nothing.
        raise WaitTimeout(description, timeout, last.observed) from None


def wait_for_value(
    description: str,
    fetch: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 1.0,
    retry_on: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``fetch`` until it returns something other than None, and return that."""
    return wait_for(
        description,
        lambda: _value_poll(fetch()),
        timeout=timeout,
        interval=interval,
        retry_on=retry_on,
    )


def _value_poll(value: Any) -> Poll:
    return Poll(value is not None, value)


# -- CloudFormation ---------------------------------------------------------------------------


def wait_for_stack_settled(
    cloudformation, stack_name: str, *, timeout: float = 900, interval: float = 2.0
) -> dict:
    """Wait until a stack's status no longer ends in ``_IN_PROGRESS``; return the stack.

    A stack that no longer exists (a delete that finished) settles as ``DELETE_COMPLETE``.
    """

    def probe() -> Poll:
        try:
            stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            return Poll(True, {"StackName": stack_name, "StackStatus": "DELETE_COMPLETE"})
        stack = stacks[0]
        status = stack["StackStatus"]
        return Poll(not status.endswith("_IN_PROGRESS"), _StackView(stack))

    settled = wait_for(f"stack {stack_name} to settle", probe, timeout=timeout, interval=interval)
    return dict(settled)


def wait_for_mapping_enabled(
    lambda_client, mapping_uuid: str, *, timeout: float = 60, interval: float = 0.2
) -> str:
    """Wait until an event source mapping's State is ``Enabled``."""

    def probe() -> Poll:
        state = lambda_client.get_event_source_mapping(UUID=mapping_uuid).get("State")
        return Poll(state == "Enabled", state)

    description = f"event source mapping {mapping_uuid} to be Enabled"
    return wait_for(description, probe, timeout=timeout, interval=interval)


def wait_for_change_set(
    cloudformation, stack_name: str, change_set: str, *, timeout: float = 300, interval: float = 1.0
) -> dict:
    """Wait until a change set is created or has failed; return its description."""

    def probe() -> Poll:
        described = cloudformation.describe_change_set(
            StackName=stack_name, ChangeSetName=change_set
        )
        status = described["Status"]
        done = status not in ("CREATE_PENDING", "CREATE_IN_PROGRESS")
        return Poll(done, {"Status": status, "StatusReason": described.get("StatusReason")})

    return wait_for(
        f"change set {change_set} of stack {stack_name}", probe, timeout=timeout, interval=interval
    )


class _StackView(dict):
    """A describe_stacks entry whose text form is just its status (for timeout messages)."""

    def __str__(self) -> str:
        reason = self.get("StackStatusReason")
        status = self.get("StackStatus")
        return f"{status} ({reason})" if reason else str(status)

    __repr__ = __str__


# -- DynamoDB ---------------------------------------------------------------------------------


def to_item(attributes: dict) -> dict:
    """A DynamoDB attribute map (``{"S": ...}``) as plain Python values."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in attributes.items()}


def to_attributes(item: dict) -> dict:
    """Plain Python values as a DynamoDB attribute map (the inverse of :func:`to_item`)."""
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def wait_for_item(
    dynamodb,
    table_name: str,
    key: dict,
    *,
    predicate: Callable[[dict], bool] | None = None,
    timeout: float = 30,
    interval: float = 0.5,
) -> dict:
    """Wait until the item with ``key`` exists (and satisfies ``predicate``); return it.

    ``key`` and the returned item hold plain Python values, not attribute maps.
    """

    def probe() -> Poll:
        response = dynamodb.get_item(
            TableName=table_name, Key=to_attributes(key), ConsistentRead=True
        )
        if "Item" not in response:
            return Poll(False, "no such item")
        item = to_item(response["Item"])
        return Poll(predicate is None or predicate(item), item)

    return wait_for(f"item {key} in {table_name}", probe, timeout=timeout, interval=interval)


# -- SQS --------------------------------------------------------------------------------------


def wait_for_messages(
    sqs,
    queue_url: str,
    count: int,
    *,
    match: Callable[[dict], bool] | None = None,
    timeout: float = 30,
    interval: float = 0.2,
    delete: bool = True,
) -> list[dict]:
    """Wait until ``count`` messages that satisfy ``match`` have arrived; return them.

    Matching messages are deleted from the queue when ``delete`` is true. Messages that do
    not match are made visible again at once, for whoever else reads the queue.
    """
    found: list[dict] = []

    def probe() -> Poll:
        for message in _receive(sqs, queue_url):
            if match is None or match(message):
                found.append(message)
                if delete:
                    _delete(sqs, queue_url, message)
            else:
                _release(sqs, queue_url, message)
        return Poll(len(found) >= count, f"{len(found)} of {count} messages: {found}")

    what = f"{count} matching message(s) on {queue_url}"
    wait_for(what, probe, timeout=timeout, interval=interval)
    return found


def wait_for_queue_empty(
    sqs, queue_url: str, *, timeout: float = 30, interval: float = 0.5
) -> None:
    """Wait until a queue holds no messages, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def probe() -> Poll:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        counts = {name: int(attributes["Attributes"].get(name, 0)) for name in names}
        return Poll(not any(counts.values()), counts)

    wait_for(f"queue {queue_url} to be empty", probe, timeout=timeout, interval=interval)


def peek_messages(sqs, queue_url: str, *, limit: int = 10) -> list[dict]:
    """Read up to ``limit`` messages without consuming them (visibility timeout 0)."""
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=min(limit, 10),
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )
    return response.get("Messages", [])


def _receive(sqs, queue_url: str) -> list[dict]:
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
        WaitTimeSeconds=0,
    )
    return response.get("Messages", [])


def _delete(sqs, queue_url: str, message: dict) -> None:
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _release(sqs, queue_url: str, message: dict) -> None:
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )


# -- CloudWatch Logs --------------------------------------------------------------------------


def log_events(
    logs, log_group: str, *, start_time: float | None = None, contains: Iterable[str] = ()
) -> list[dict]:
    """Every event of ``log_group`` since ``start_time`` (epoch seconds) whose message holds
    any of ``contains`` (all events when empty); an absent group has no events."""
    needles = tuple(contains)
    arguments = {"logGroupName": log_group}
    if start_time is not None:
        arguments["startTime"] = int(start_time * 1000)
    events: list[dict] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**arguments):
            events.extend(page.get("events", []))
    except logs.exceptions.ResourceNotFoundException:
        return []
    if not needles:
        return events
    return [event for event in events if any(n in event["message"] for n in needles)]


def wait_for_log_event(
    logs,
    log_group: str,
    text: str,
    *,
    start_time: float | None = None,
    timeout: float = 30,
    interval: float = 1.0,
) -> dict:
    """Wait until an event whose message contains ``text`` is in ``log_group``; return it."""
    since = time.time() - 300 if start_time is None else start_time

    def probe() -> Poll:
        matching = log_events(logs, log_group, start_time=since, contains=[text])
        if matching:
            return Poll(True, matching[0])
        return Poll(False, f"no event containing {text!r}")

    return wait_for(
        f"a log event containing {text!r} in {log_group}",
        probe,
        timeout=timeout,
        interval=interval,
    )


def _shorten(value: Any, limit: int = 600) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
