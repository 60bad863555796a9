"""CleanupHistory, run the way its EventBridge rule runs it."""

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from tapstack.waiters import to_attributes


@pytest.fixture
def history_items(aws_clients, stack_outputs):
    """Factory: put price-history items directly (past or future expires_at); removed after."""
    table = stack_outputs["PriceHistoryTableName"]
    put = []

    def create(symbol: str, expires_at: int) -> dict:
        # A complete item: CheckAlerts reads it from the stream like any webhook.
        item = {
            "event_id": f"cleanup-{uuid.uuid4().hex}",
            "symbol": symbol,
            "price": 1,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "currency": "USD",
            "expires_at": expires_at,
        }
        aws_clients.dynamodb.put_item(TableName=table, Item=to_attributes(item))
        put.append(item["event_id"])
        return item

    yield create

    for event_id in put:
        aws_clients.dynamodb.delete_item(TableName=table, Key={"event_id": {"S": event_id}})


def scheduled_event(rule_arn: str) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule_arn.split(":")[4],
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": rule_arn.split(":")[3],
        "resources": [rule_arn],
        "detail": {},
    }


def test_cleanup_rule_runs_on_the_templates_schedule(aws_clients, stack_outputs):
    from tapstack.preflight import load_parameters

    rule = aws_clients.events.describe_rule(Name=stack_outputs["CleanupScheduleRuleName"])
    stack = aws_clients.cloudformation.describe_stacks(StackName=stack_outputs.stack_name)
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Stacks"][0]["Parameters"]}

    assert rule["State"] == "ENABLED"
    assert rule["ScheduleExpression"] == parameters["CleanupSchedule"]
    assert rule["ScheduleExpression"] == load_parameters("localstack")["CleanupSchedule"]


def test_cleanup_through_the_rule_target_removes_only_expired_history(
    aws_clients, stack_outputs, history_items, history_item, unique_symbol
):
    now = int(time.time())
    symbol = unique_symbol("C")
    expired = [history_items(symbol, now - 3600), history_items(symbol, now - 1)]
    fresh = history_items(symbol, now + 86_400)
    rule_name = stack_outputs["CleanupScheduleRuleName"]
    rule = aws_clients.events.describe_rule(Name=rule_name)
    [target] = aws_clients.events.list_targets_by_rule(Rule=rule_name)["Targets"]
    payload = target.get("Input") or json.dumps(scheduled_event(rule["Arn"]))

    response = aws_clients.lambda_.invoke(
        FunctionName=target["Arn"], InvocationType="RequestResponse", Payload=payload
    )

    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    assert target["Arn"].endswith(f":function:{stack_outputs['CleanupHistoryFunctionName']}")
    assert result["deleted"] >= len(expired)
    assert [history_item(item["event_id"]) for item in expired] == [None, None]
    assert history_item(fresh["event_id"])["expires_at"] == fresh["expires_at"]
