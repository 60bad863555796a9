"""The benchmarks' shared parts: statistics, the deadline, loopback, the printed report."""

import json

import pytest

from tapstack.bench import report
from tapstack.errors import ConfigurationError


@pytest.mark.parametrize(
    ("samples", "fraction", "expected"),
    [
        ([5.0], 0.95, 5.0),
        ([float(v) for v in range(1, 21)], 0.95, 19.0),
        ([float(v) for v in range(1, 101)], 0.95, 95.0),
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([3.0, 1.0, 2.0], 1.0, 3.0),
    ],
    ids=["one-sample", "twenty", "hundred", "unsorted-median", "max"],
)
def test_percentile_is_nearest_rank(samples, fraction, expected):
    assert report.percentile(samples, fraction) == expected


def test_percentile_of_nothing_is_none():
    assert report.percentile([], 0.95) is None


def test_percentile_rejects_a_fraction_outside_zero_one():
    with pytest.raises(ValueError, match="fraction"):
        report.percentile([1.0], 95)


def test_summarize_gives_median_p95_max_and_rounded_samples():
    samples = [10.04, 20.0, 30.0, 40.0]

    summary = report.summarize(samples, "ms")

    assert summary == {
        "unit": "ms",
        "count": 4,
        "median": 25.0,
        "p95": 40.0,
        "max": 40.0,
        "samples": [10.0, 20.0, 30.0, 40.0],
    }


def test_summarize_without_samples_has_no_figures():
    summary = report.summarize([], "s")

    assert summary["count"] == 0
    assert summary["median"] is None and summary["p95"] is None and summary["max"] is None


def test_deadline_counts_down_and_expires():
    now = [100.0]
    deadline = report.Deadline(10, clock=lambda: now[0])

    before = deadline.remaining()
    now[0] = 104.0
    during = (deadline.remaining(), deadline.bounded(30), deadline.bounded(2))
    now[0] = 111.0

    assert before == 10
    assert during == (6.0, 6.0, 2)
    assert deadline.expired and deadline.remaining() == 0
    assert deadline.bounded(30) == 0.1


def test_deadline_must_be_positive():
    with pytest.raises(ConfigurationError, match="--deadline"):
        report.Deadline(0)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:4566", "http://localhost:4650/restapis/x", "http://[::1]:4566"],
    ids=["ipv4", "localhost", "ipv6"],
)
def test_require_loopback_accepts_this_host(url):
    assert report.require_loopback(url) == url


def test_require_loopback_refuses_another_host():
    with pytest.raises(ConfigurationError, match="AWS_ENDPOINT_URL"):
        report.require_loopback("http://10.0.0.5:4566")


def test_describe_machine_without_endpoint_names_cores_and_python():
    machine = report.describe_machine()

    assert machine["cores"] >= 1
    assert machine["python"].count(".") == 2
    assert machine["localstack"] is None


def test_format_table_aligns_columns():
    table = report.format_table([("a", "bb"), ("ccc", "d")])

    assert table.splitlines() == ["a    bb", "ccc  d"]


def _result() -> dict:
    result = report.new_result(
        "lambda",
        {"cores": 2, "memory_gib": 23.5, "load_average": [1.0, 0.5, 0.2], "python": "3.11.7",
         "localstack": "4.9.2", "mode": "host", "os": "Linux"},
        {"runs": 3},
    )  # fmt: skip
    result["measurements"]["warm_invoke"] = report.summarize([20.0, 22.0, 180.0], "ms")
    result["counts"]["lost"] = 0
    result["notes"].append("a note")
    return result


def test_format_report_shows_machine_table_counts_and_notes():
    text = report.format_report(_result())

    lines = text.splitlines()
    assert lines[0] == "tapstack bench lambda"
    assert "2 cores, 23.5 GiB" in lines[1] and "LocalStack 4.9.2 (host mode)" in lines[1]
    assert "parameters: runs=3" in text
    assert any(line.split() == ["warm_invoke", "3", "22.0", "180", "180", "ms"] for line in lines)
    assert "lost: 0" in text and "note: a note" in text
    assert "INCOMPLETE" not in text


def test_format_report_says_when_the_deadline_cut_it_short():
    result = _result()
    result["complete"] = False

    assert "INCOMPLETE" in report.format_report(result)


def test_print_result_as_json_round_trips(capsys):
    report.print_result(_result(), as_json=True)

    printed = json.loads(capsys.readouterr().out)
    assert printed["measurements"]["warm_invoke"]["median"] == 22.0
    assert printed["machine"]["cores"] == 2
