"""TapStack as a user meets it: deploy time, and webhook to SNS notification latency.

Deploy: each run creates a fresh stack under a unique name (``tapstack-bench-<hex>``,
which discovery ignores, so a test session running meanwhile is not confused), deploys it
again unchanged (the content hash matches: reuse), and deletes it. The code bundle is
built once before, outside the timing.

Webhooks (on the first run's stack): one alert per webhook, each on its own symbol, so
each webhook fires exactly one notification. Webhooks are POSTed over HTTP through API
Gateway with the stack's API key at a fixed rate; notifications are read from an SQS
queue subscribed to the topic (raw delivery off, so each carries SNS's envelope).

Two latencies per webhook, both against the client's ``time.time()`` right before the
POST, on the same host clock:

- ``webhook_to_received``: when the long-polling reader got the message from SQS. This
  is what a subscriber sees; it includes SNS to SQS delivery and up to one receive call.
- ``webhook_to_published``: SNS's ``Timestamp`` in the envelope (set when LocalStack
  accepted the Publish; millisecond resolution). It leaves out delivery and reading.
"""

import json
import logging
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import requests
from botocore.exceptions import BotoCoreError, ClientError

from tapstack import aws
from tapstack.bench.report import Deadline, require_loopback, summarize
from tapstack.errors import TapStackError
from tapstack.stack import deploy as deploying
from tapstack.stack.notifications import Notification, NotificationObserver
from tapstack.stack.outputs import read_outputs
from tapstack.waiters import Poll, WaitTimeout, to_attributes, wait_for

LOG = logging.getLogger(__name__)

STACK_NAME_PREFIX = "tapstack-bench-"
ALERT_THRESHOLD = Decimal("100")
WEBHOOK_PRICE = Decimal("150.25")
API_KEY_HEADER = "x-api-key"
#: Concurrent POSTs at most: below ProcessWebhook's reserved concurrency (5 on LocalStack).
SEND_WORKERS = 4
POST_TIMEOUT = 30.0
#: After every webhook is notified, how long to keep reading for duplicates.
DUPLICATE_GRACE = 3.0
BATCH_SIZE = 25


def unique_suffix() -> str:
    """An EnvironmentSuffix no other stack uses (``bench-<hex>``, within the template's 20)."""
    return f"bench-{uuid.uuid4().hex[:8]}"


def stack_name_for(suffix: str) -> str:
    """The benchmark's stack name for ``suffix``: outside discovery's ``TapStack*`` pattern."""
    return f"tapstack-{suffix}"


def send_schedule(count: int, rate: float, start: float) -> list[float]:
    """When each of ``count`` webhooks is due: ``start``, then one every ``1/rate`` seconds."""
    return [start + index / rate for index in range(count)]


def unique_symbol() -> str:
    """A ticker symbol of 12 characters that no test uses."""
    return ("B" + uuid.uuid4().hex.upper())[:12]


@dataclass
class Webhook:
    """One webhook the benchmark sent: what, when, and what API Gateway answered."""

    event_id: str
    symbol: str
    sent_at: float | None = None
    answered_at: float | None = None
    status: int | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def body(self) -> str:
        """The JSON body: a price above the symbol's alert threshold."""
        return json.dumps(
            {
                "event_id": self.event_id,
                "symbol": self.symbol,
                "price": float(WEBHOOK_PRICE),
                "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )


@dataclass(frozen=True)
class Received:
    """One notification as the queue reader got it."""

    event_id: str | None
    received_at: float
    published_at: float | None
    message_id: str | None = None


def published_time(envelope: dict) -> float | None:
    """SNS's ``Timestamp`` of an envelope as epoch seconds, or None when absent or unreadable."""
    stamp = envelope.get("Timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def quarter_median(samples: list[float], quarter: int) -> float | None:
    """The median of one quarter (0-3) of ``samples`` in their order; None if it is empty."""
    size = len(samples) / 4
    part = samples[round(quarter * size) : round((quarter + 1) * size)]
    return round(statistics.median(part), 1) if part else None


def account(webhooks: list[Webhook], received: list[Received]) -> dict:
    """Counts and latency samples (ms) of a webhook run.

    ``lost``: accepted but never notified. ``duplicates``: notifications beyond the first
    for one webhook (distinct SNS message ids: a message SQS delivered twice is one
    notification). ``unexpected``: notifications about no webhook that was accepted.
    """
    by_event: dict[str, list[Received]] = {}
    seen_messages: set[str] = set()
    for item in sorted(received, key=lambda item: item.received_at):
        if item.message_id is not None:
            if item.message_id in seen_messages:
                continue
            seen_messages.add(item.message_id)
        by_event.setdefault(item.event_id, []).append(item)

    accepted = [hook for hook in webhooks if hook.accepted]
    accepted_ids = {hook.event_id for hook in accepted}
    notified = [hook for hook in accepted if hook.event_id in by_event]
    to_received, to_published, post, arrivals = [], [], [], []
    for hook in notified:
        first = min(by_event[hook.event_id], key=lambda item: item.received_at)
        arrivals.append(first.received_at)
        to_received.append((first.received_at - hook.sent_at) * 1000)
        if first.published_at is not None:
            to_published.append((first.published_at - hook.sent_at) * 1000)
    for hook in webhooks:
        if hook.sent_at is not None and hook.answered_at is not None:
            post.append((hook.answered_at - hook.sent_at) * 1000)

    counts = {
        "sent": sum(1 for hook in webhooks if hook.sent_at is not None),
        "accepted": len(accepted),
        "refused": sum(1 for hook in webhooks if hook.status is not None and not hook.accepted),
        "failed_to_send": sum(1 for hook in webhooks if hook.error is not None),
        "notified": len(notified),
        "lost": len(accepted) - len(notified),
        "duplicates": sum(len(by_event[hook.event_id]) - 1 for hook in notified),
        "unexpected": sum(len(items) for key, items in by_event.items() if key not in accepted_ids),
        "notified_per_second": _throughput(notified, arrivals),
    }
    return {
        "counts": counts,
        "webhook_post": post,
        "webhook_to_received": to_received,
        "webhook_to_published": to_published,
    }


def _throughput(notified: list[Webhook], arrivals: list[float]) -> float | None:
    # Notifications over the time from the first send to the last arrival: what the
    # pipeline delivered, sustained, whatever the send rate was.
    if len(notified) < 2:
        return None
    span = max(arrivals) - min(hook.sent_at for hook in notified)
    return round(len(notified) / span, 1) if span > 0 else None


class QueueReader:
    """Reads the observer's queue on a thread, stamping each message when it arrives."""

    def __init__(self, observer: NotificationObserver):
        self.observer = observer
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-queue-reader", daemon=True)

    def start(self) -> "QueueReader":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def event_ids(self) -> set[str | None]:
        with self._lock:
            return {item.event_id for item in self.received}

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _loop(self) -> None:
        sqs, queue_url = self.observer.sqs, self.observer.queue_url
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except (BotoCoreError, ClientError) as exc:
                LOG.debug("receive from %s failed: %s", queue_url, exc)
                self._stop.wait(0.5)
                continue
            arrived = time.time()
            for message in messages:
                notification = Notification.from_sqs(message["Body"])
                with self._lock:
                    self.received.append(
                        Received(
                            notification.event_id,
                            arrived,
                            published_time(notification.envelope),
                            notification.message_id,
                        )
                    )
            if messages:
                entries = [
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                ]
                try:
                    sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
                except (BotoCoreError, ClientError) as exc:
                    # Redelivered later; the accounting counts a message id once.
                    LOG.debug("delete from %s failed: %s", queue_url, exc)


class WebhookRun:
    """Alerts, a queue reader and the webhooks of one run against a deployed stack.

    :meth:`cleanup` deletes the alerts, the price-history items and the observer's queue.
    """

    def __init__(self, endpoint: str, stack_name: str):
        self.endpoint = endpoint
        cloudformation = aws.client("cloudformation", endpoint)
        self.outputs = read_outputs(
            cloudformation, aws.client("apigateway", endpoint), stack_name, endpoint
        )
        self.url = require_loopback(self.outputs.webhook_url)
        self.dynamodb = aws.client("dynamodb", endpoint)
        self.sns = aws.client("sns", endpoint)
        self.sqs = aws.client("sqs", endpoint)
        self.webhooks: list[Webhook] = []
        self.observer: NotificationObserver | None = None
        self._sessions = threading.local()

    def prepare(self, count: int) -> None:
        """Create one active alert per webhook and subscribe a queue to the topic."""
        self.webhooks = [
            Webhook(event_id=f"bench-{uuid.uuid4().hex}", symbol=unique_symbol())
            for _ in range(count)
        ]
        alerts = [
            {
                "alert_id": f"alert-{hook.event_id}",
                "user_id": "tapstack-bench",
                "symbol": hook.symbol,
                "direction": "above",
                "threshold": ALERT_THRESHOLD,
                "status": "active",
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            for hook in self.webhooks
        ]
        self._batch_write(
            self.outputs["AlertsTableName"],
            [{"PutRequest": {"Item": to_attributes(a)}} for a in alerts],
        )
        self.observer = NotificationObserver.start(
            self.sns,
            self.sqs,
            self.outputs["NotificationTopicArn"],
            name=f"tapstack-bench-observer-{uuid.uuid4().hex[:8]}",
        )

    def send_all(self, rate: float, deadline: Deadline) -> float:
        """POST every webhook at ``rate`` per second; return the seconds sending took."""
        started = time.monotonic()
        due = send_schedule(len(self.webhooks), rate, started)
        with ThreadPoolExecutor(max_workers=SEND_WORKERS, thread_name_prefix="bench-send") as pool:
            for hook, when in zip(self.webhooks, due, strict=True):
                if deadline.expired:
                    LOG.warning("deadline reached: %d webhooks left unsent", self._unsent())
                    break
                # Pacing, not waiting for a condition: the next webhook is due at ``when``.
                time.sleep(max(when - time.monotonic(), 0))
                pool.submit(self._send, hook)
        return time.monotonic() - started

    def wait_for_notifications(self, reader: QueueReader, drain: float, deadline: Deadline):
        """Wait until every accepted webhook was notified, or ``drain`` seconds (or the
        deadline) passed; then read a little longer for duplicates."""
        expected = {hook.event_id for hook in self.webhooks if hook.accepted}

        def probe() -> Poll:
            missing = expected - reader.event_ids()
            return Poll(not missing, f"{len(missing)} of {len(expected)} not notified yet")

        try:
            wait_for(
                "a notification per accepted webhook",
                probe,
                timeout=deadline.bounded(drain),
                interval=0.2,
            )
        except WaitTimeout as exc:
            LOG.warning("%s", exc)
            return
        # A duplicate comes after the first delivery: give the reader a moment more.
        threading.Event().wait(deadline.bounded(DUPLICATE_GRACE))

    def cleanup(self) -> None:
        """Delete the alerts, the price-history items and the observer's queue."""
        if self.observer is not None:
            self.observer.stop()
        alert_keys = [{"alert_id": {"S": f"alert-{hook.event_id}"}} for hook in self.webhooks]
        history_keys = [{"event_id": {"S": hook.event_id}} for hook in self.webhooks]
        for table, keys in (
            (self.outputs["AlertsTableName"], alert_keys),
            (self.outputs["PriceHistoryTableName"], history_keys),
        ):
            try:
                self._batch_write(table, [{"DeleteRequest": {"Key": key}} for key in keys])
            except ClientError as exc:
                LOG.debug("benchmark cleanup of %s failed: %s", table, exc)

    def _send(self, hook: Webhook) -> None:
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        headers = {"Content-Type": "application/json", API_KEY_HEADER: self.outputs.api_key_value}
        body = hook.body()
        hook.sent_at = time.time()
        try:
            response = session.post(self.url, data=body, headers=headers, timeout=POST_TIMEOUT)
            hook.status = response.status_code
        except requests.RequestException as exc:
            hook.error = f"{type(exc).__name__}: {exc}"
        hook.answered_at = time.time()
        if hook.status is not None and not hook.accepted:
            LOG.debug("webhook %s answered %s: %s", hook.event_id, hook.status, response.text[:200])

    def _unsent(self) -> int:
        return sum(1 for hook in self.webhooks if hook.sent_at is None)

    def _batch_write(self, table: str, requests_: list[dict]) -> None:
        for start in range(0, len(requests_), BATCH_SIZE):
            pending = {table: requests_[start : start + BATCH_SIZE]}
            while pending:
                answer = self.dynamodb.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}


def measure_webhooks(
    endpoint: str, stack_name: str, count: int, rate: float, drain: float, deadline: Deadline
) -> dict:
    """Send ``count`` webhooks at ``rate`` and account for their notifications."""
    run = WebhookRun(endpoint, stack_name)
    try:
        run.prepare(count)
        reader = QueueReader(run.observer).start()
        try:
            seconds = run.send_all(rate, deadline)
            run.wait_for_notifications(reader, drain, deadline)
        finally:
            reader.stop()
        accounting = account(run.webhooks, reader.snapshot())
    finally:
        run.cleanup()
    sent = accounting["counts"]["sent"]
    # Latency that rises from the first to the last quarter of the sends means the
    # pipeline falls behind the send rate: a backlog, not a steady figure.
    for part, label in ((0, "first"), (3, "last")):
        accounting["counts"][f"received_median_{label}_quarter_ms"] = quarter_median(
            accounting["webhook_to_received"], part
        )
    accounting["counts"]["achieved_rate_per_second"] = round(sent / seconds, 1) if seconds else None
    return accounting


def _delete_stack(endpoint: str, name: str, samples: list[float]) -> None:
    started = time.monotonic()
    try:
        deploying.delete(endpoint, name, timeout=deploying.DEFAULT_TIMEOUT)
    except TapStackError as exc:
        # Cleanup must not hide the failure that brought us here; the stack's name says
        # what to delete by hand (tapstack destroy --stack-name ...).
        LOG.warning("could not delete benchmark stack %s: %s", name, exc)
        return
    samples.append(time.monotonic() - started)


def run(
    endpoint: str, *, runs: int, count: int, rate: float, drain: float, deadline: Deadline
) -> dict:
    """Deploy fresh stacks (cold, then reuse), send webhooks on the first, delete them.

    :returns: ``measurements``, ``counts``, ``notes`` and ``complete``.
    """
    from tapstack.stack.packaging import build_bundle

    started = time.monotonic()
    bundle = build_bundle()
    bundle_seconds = time.monotonic() - started

    samples: dict[str, list[float]] = {"deploy_cold": [], "deploy_reuse": [], "delete": []}
    webhooks = None
    for index in range(runs):
        if deadline.expired:
            break
        suffix = unique_suffix()
        name = stack_name_for(suffix)
        try:
            for kind, expected in (("deploy_cold", "created"), ("deploy_reuse", "reused")):
                result = deploying.deploy(
                    endpoint,
                    stack_name=name,
                    suffix=suffix,
                    bundle=bundle,
                    timeout=deadline.bounded(deploying.DEFAULT_TIMEOUT),
                )
                if result.action != expected:
                    LOG.warning(
                        "deploy %s of %s was %s, not %s", kind, name, result.action, expected
                    )
                samples[kind].append(result.seconds)
            LOG.info(
                "run %d of %d: %s created in %.1f s",
                index + 1,
                runs,
                name,
                samples["deploy_cold"][-1],
            )
            if index == 0 and count:
                webhooks = measure_webhooks(endpoint, name, count, rate, drain, deadline)
        finally:
            _delete_stack(endpoint, name, samples["delete"])

    measurements = {name: summarize(values, "s") for name, values in samples.items()}
    counts: dict = {}
    if webhooks is not None:
        for name in ("webhook_post", "webhook_to_received", "webhook_to_published"):
            measurements[name] = summarize(webhooks[name], "ms")
        counts = webhooks["counts"]
    notes = [
        f"code bundle built before timing: {bundle_seconds:.1f} s (not in deploy_cold)",
        "deploy_cold: a new stack under a unique name; deploy_reuse: the same deploy again "
        "(content hash matches); delete: the stack's delete",
        "webhook_to_received: SQS receive time minus the client's time just before the POST; "
        "webhook_to_published: SNS envelope Timestamp (ms resolution) minus the same",
        "lost: accepted (2xx) but not notified by the drain deadline; duplicates: "
        "notifications beyond the first per webhook",
        "received_median_first/last_quarter_ms: a last quarter well above the first means "
        "the pipeline falls behind --rate (a backlog); notified_per_second is what it "
        "delivered from the first send to the last notification",
    ]
    complete = len(samples["deploy_cold"]) == runs and (
        not count or (webhooks is not None and webhooks["counts"]["sent"] == count)
    )
    return {"measurements": measurements, "counts": counts, "notes": notes, "complete": complete}
