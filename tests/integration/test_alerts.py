"""Prices that cross alerts: one notification per alert, with the right content."""

from decimal import Decimal

import pytest


@pytest.fixture
def sentinel(create_alert, send_webhook, webhook_body, unique_symbol, notification_observer):
    """Send a crossing webhook on a symbol of its own and wait for its notification.

    CheckAlerts reads the one stream in order, so once the sentinel's notification is in,
    every webhook sent before it has been checked: waiting for it bounds the wait for
    something that must not happen.
    """

    def send_and_wait():
        symbol = unique_symbol("S")
        create_alert(symbol, 1, "above")
        body = webhook_body(symbol, 2)
        assert send_webhook(body).status_code == 202
        notification_observer.wait_for(event_id=body["event_id"], timeout=60)

    return send_and_wait


@pytest.fixture
def alert_item(aws_clients, stack_outputs):
    from tapstack.waiters import wait_for_item

    def read(alert_id, predicate=None, timeout=30):
        return wait_for_item(
            aws_clients.dynamodb,
            stack_outputs["AlertsTableName"],
            {"alert_id": alert_id},
            predicate=predicate,
            timeout=timeout,
        )

    return read


def test_price_crossing_an_active_alert_sends_one_notification(
    create_alert,
    send_webhook,
    webhook_body,
    unique_symbol,
    notification_observer,
    alert_item,
    sentinel,
    stack_outputs,
):
    symbol = unique_symbol()
    alert = create_alert(symbol, 100, "above")
    body = webhook_body(symbol, 100.5)

    assert send_webhook(body).status_code == 202
    [notification] = notification_observer.wait_for(event_id=body["event_id"], timeout=60)
    sentinel()

    assert notification_observer.received(lambda n: n.alert_id == alert["alert_id"]) == [
        notification
    ]
    assert notification.envelope["TopicArn"] == stack_outputs["NotificationTopicArn"]
    assert symbol in notification.subject
    assert notification.message["alert_id"] == alert["alert_id"]
    assert notification.message["user_id"] == alert["user_id"]
    assert notification.message["symbol"] == symbol
    assert notification.message["direction"] == "above"
    assert Decimal(notification.message["threshold"]) == 100
    assert Decimal(notification.message["price"]) == Decimal("100.5")
    assert notification.attributes == {
        "symbol": symbol,
        "direction": "above",
        "alert_id": alert["alert_id"],
        "event_id": body["event_id"],
        "user_id": alert["user_id"],
    }
    stored = alert_item(alert["alert_id"])
    assert stored["status"] == "triggered"
    assert stored["triggered_by"] == body["event_id"]
    assert stored["notified_at"]


@pytest.mark.parametrize(
    ("direction", "threshold", "price"),
    [("above", 100, 99.99), ("below", 100, 100.01)],
    ids=["above-not-reached", "below-not-reached"],
)
def test_price_not_crossing_sends_nothing(
    create_alert,
    send_webhook,
    webhook_body,
    unique_symbol,
    notification_observer,
    alert_item,
    sentinel,
    direction,
    threshold,
    price,
):
    symbol = unique_symbol()
    alert = create_alert(symbol, threshold, direction)
    body = webhook_body(symbol, price)

    assert send_webhook(body).status_code == 202
    sentinel()

    assert notification_observer.received(lambda n: n.event_id == body["event_id"]) == []
    assert alert_item(alert["alert_id"])["status"] == "active"


def test_price_below_threshold_fires_a_below_alert(
    create_alert, send_webhook, webhook_body, unique_symbol, notification_observer
):
    symbol = unique_symbol()
    alert = create_alert(symbol, 50, "below")
    body = webhook_body(symbol, 50)

    assert send_webhook(body).status_code == 202
    [notification] = notification_observer.wait_for(event_id=body["event_id"], timeout=60)

    assert notification.alert_id == alert["alert_id"]
    assert notification.attributes["direction"] == "below"


def test_second_crossing_does_not_notify_again(
    create_alert,
    send_webhook,
    webhook_body,
    unique_symbol,
    notification_observer,
    alert_item,
    sentinel,
):
    symbol = unique_symbol()
    alert = create_alert(symbol, 100, "above")
    first = webhook_body(symbol, 101)
    assert send_webhook(first).status_code == 202
    notification_observer.wait_for(event_id=first["event_id"], timeout=60)

    second = webhook_body(symbol, 102)
    assert send_webhook(second).status_code == 202
    sentinel()

    about_alert = notification_observer.received(lambda n: n.alert_id == alert["alert_id"])
    assert [n.event_id for n in about_alert] == [first["event_id"]]
    assert alert_item(alert["alert_id"])["triggered_by"] == first["event_id"]


def test_several_alerts_on_one_symbol_each_fire_once(
    create_alert,
    send_webhook,
    webhook_body,
    unique_symbol,
    notification_observer,
    sentinel,
):
    symbol = unique_symbol()
    crossed = [
        create_alert(symbol, 100, "above"),
        create_alert(symbol, 105, "above"),
        create_alert(symbol, 120, "below"),
    ]
    untouched = create_alert(symbol, 200, "above")
    body = webhook_body(symbol, 110)

    assert send_webhook(body).status_code == 202
    notifications = notification_observer.wait_for(
        event_id=body["event_id"], count=len(crossed), timeout=60
    )
    sentinel()

    fired = sorted(
        n.alert_id for n in notification_observer.received(lambda n: n.event_id == body["event_id"])
    )
    assert fired == sorted(alert["alert_id"] for alert in crossed)
    assert len(notifications) == len(crossed)
    assert untouched["alert_id"] not in fired
