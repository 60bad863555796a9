"""Watching what the notification topic publishes, through an SQS queue subscribed to it.

The subscription keeps raw message delivery off, so each queue message is SNS's envelope:
the subject, the message and the message attributes arrive exactly as published, which is
what the tests check.
"""

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from tapstack.waiters import Poll, wait_for

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    """One message published to the topic, as SNS delivered it."""

    message_id: str
    subject: str | None
    message: dict | str
    attributes: dict[str, str]
    envelope: dict = field(repr=False)

    @property
    def event_id(self) -> str | None:
        """The webhook event the notification is about (a message attribute)."""
        return self.attributes.get("event_id")

    @property
    def alert_id(self) -> str | None:
        """The alert the notification is about (a message attribute)."""
        return self.attributes.get("alert_id")

    @classmethod
    def from_sqs(cls, body: str) -> "Notification":
        """Parse the SNS envelope an SQS subscription (raw delivery off) receives."""
        envelope = json.loads(body)
        try:
            message = json.loads(envelope["Message"])
        except (TypeError, ValueError):
            message = envelope.get("Message")
        attributes = {
            name: value.get("Value")
            for name, value in (envelope.get("MessageAttributes") or {}).items()
        }
        return cls(envelope["MessageId"], envelope.get("Subject"), message, attributes, envelope)


class NotificationObserver:
    """An SQS queue subscribed to a topic, and everything it has received so far.

    Create it with :meth:`start`, read with :meth:`wait_for` and :meth:`received`, and
    remove the queue and subscription with :meth:`stop`.
    """

    def __init__(self, sns, sqs, topic_arn: str, queue_url: str, subscription_arn: str):
        self.sns = sns
        self.sqs = sqs
        self.topic_arn = topic_arn
        self.queue_url = queue_url
        self.subscription_arn = subscription_arn
        self._received: list[Notification] = []

    @classmethod
    def start(cls, sns, sqs, topic_arn: str, *, name: str | None = None) -> "NotificationObserver":
        """Create a queue, allow the topic to send to it, and subscribe it to the topic."""
        name = name or f"tapstack-observer-{uuid.uuid4().hex[:12]}"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sqs.set_queue_attributes(
            QueueUrl=queue_url, Attributes={"Policy": _allow_topic(queue_arn, topic_arn)}
        )
        subscription = sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )
        LOG.debug("observing %s through %s", topic_arn, queue_url)
        return cls(sns, sqs, topic_arn, queue_url, subscription["SubscriptionArn"])

    def stop(self) -> None:
        """Unsubscribe and delete the queue; failures are logged, not raised."""
        for action, call in (
            ("unsubscribe", lambda: self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)),
            ("delete queue", lambda: self.sqs.delete_queue(QueueUrl=self.queue_url)),
        ):
            try:
                call()
            except ClientError as exc:
                LOG.debug("observer cleanup (%s) failed: %s", action, exc)

    def poll(self) -> list[Notification]:
        """Move whatever the queue holds now into :meth:`received`; return the new ones."""
        new = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                new.append(Notification.from_sqs(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        self._received.extend(new)
        return new

    def received(self, match: Callable[[Notification], bool] | None = None) -> list[Notification]:
        """Every notification received so far (after one more poll) that ``match`` accepts."""
        self.poll()
        return [item for item in self._received if match is None or match(item)]

    def wait_for(
        self,
        match: Callable[[Notification], bool] | None = None,
        *,
        event_id: str | None = None,
        alert_id: str | None = None,
        count: int = 1,
        timeout: float = 30,
        interval: float = 0.25,
    ) -> list[Notification]:
        """Wait until at least ``count`` notifications match; return all that match.

        :param match: a predicate on :class:`Notification`; ``event_id`` and ``alert_id``
            are shorthands for the common ones, and combine with it.
        :raises WaitTimeout: listing what matched so far.
        """
        accept = _matcher(match, event_id, alert_id)

        def probe() -> Poll:
            matching = self.received(accept)
            return Poll(len(matching) >= count, matching)

        what = _describe(count, event_id, alert_id)
        return wait_for(what, probe, timeout=timeout, interval=interval)


def _matcher(match, event_id, alert_id) -> Callable[[Notification], bool]:
    def accept(notification: Notification) -> bool:
        if event_id is not None and notification.event_id != event_id:
            return False
        if alert_id is not None and notification.alert_id != alert_id:
            return False
        return match is None or match(notification)

    return accept


def _describe(count: int, event_id: str | None, alert_id: str | None) -> str:
    about = [f"event {event_id}" if event_id else "", f"alert {alert_id}" if alert_id else ""]
    about = " and ".join(part for part in about if part)
    return f"{count} notification(s)" + (f" about {about}" if about else "")


def _allow_topic(queue_arn: str, topic_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )
