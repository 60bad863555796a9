"""A stream record CheckAlerts cannot process: retried, parked in the on-failure queue,
and the records around it still processed."""

import json

from tapstack.waiters import Poll, log_events, peek_messages, wait_for


def covers(message_body: str, shard_id: str, sequence_number: str) -> bool:
    """Whether an on-failure message describes a batch holding this stream record."""
    batch = json.loads(message_body).get("DDBStreamBatchInfo", {})
    if batch.get("shardId") != shard_id:
        return False
    start, end = int(batch["startSequenceNumber"]), int(batch["endSequenceNumber"])
    return start <= int(sequence_number) <= end


def test_failing_record_is_retried_then_parked_without_blocking_good_records(
    failing_symbol,
    create_alert,
    send_webhook,
    webhook_body,
    unique_symbol,
    notification_observer,
    stream_sequence_number,
    aws_clients,
    stack_outputs,
    test_started,
):
    good_symbol = unique_symbol()
    alert = create_alert(good_symbol, 10, "above")
    poison = webhook_body(failing_symbol, 11)
    good = webhook_body(good_symbol, 11)

    assert send_webhook(poison).status_code == 202
    assert send_webhook(good).status_code == 202

    [notification] = notification_observer.wait_for(event_id=good["event_id"], timeout=60)
    assert notification.alert_id == alert["alert_id"]

    shard_id, sequence_number = stream_sequence_number(poison["event_id"])
    queue_url = stack_outputs["CheckAlertsFailureQueueUrl"]

    def parked() -> Poll:
        messages = peek_messages(aws_clients.sqs, queue_url)
        ours = [m for m in messages if covers(m["Body"], shard_id, sequence_number)]
        return Poll(bool(ours), ours or f"{len(messages)} message(s), none for our record")

    [message] = wait_for("the poison record in the on-failure queue", parked, timeout=90)
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] > 1
    aws_clients.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    failures = log_events(
        aws_clients.logs,
        f"/aws/lambda/{stack_outputs['CheckAlertsFunctionName']}",
        start_time=test_started - 5,
        contains=[poison["event_id"]],
    )
    failed_attempts = [event for event in failures if "stream record failed" in event["message"]]
    assert len(failed_attempts) > 1, failures
