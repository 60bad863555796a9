"""The waiters: what they return, and what their timeout says."""

import pytest

from tapstack.exitcodes import ExitStatus
from tapstack.waiters import Poll, WaitTimeout, wait_for, wait_for_value


def test_wait_for_returns_the_observation_that_ended_the_wait():
    seen = iter([Poll(False, "pending"), (False, "still pending"), Poll(True, "done")])

    result = wait_for("a thing", lambda: next(seen), timeout=2, interval=0.01)

    assert result == "done"


def test_wait_for_timeout_names_what_how_long_and_the_last_observation():
    counter = iter(range(1000))

    with pytest.raises(WaitTimeout) as caught:
        wait_for(
            "the queue to drain",
            lambda: Poll(False, f"depth {next(counter)}"),
            timeout=0.1,
            interval=0.02,
        )

    message = str(caught.value)
    assert "the queue to drain" in message
    assert "0.1 s" in message
    assert "last observed: depth" in message
    assert caught.value.last_observed.startswith("depth ")
    assert caught.value.exit_status is ExitStatus.TIMEOUT


def test_wait_for_retries_listed_exceptions_and_reports_the_last_one():
    def probe():
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout) as caught:
        wait_for("the endpoint", probe, timeout=0.05, interval=0.01, retry_on=(ConnectionError,))

    assert "ConnectionError: refused" in str(caught.value)


def test_wait_for_lets_unlisted_exceptions_through():
    def probe():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        wait_for("anything", probe, timeout=1, interval=0.01)


def test_wait_for_value_returns_the_first_value_that_is_not_none():
    values = iter([None, None, 0])

    assert wait_for_value("a value", lambda: next(values), timeout=1, interval=0.01) == 0


def test_wait_timeout_shortens_a_long_observation():
    error = WaitTimeout("x", 1, "y" * 5000)

    assert len(str(error)) < 700
    assert str(error).endswith("...")
