"""The suite benchmark's pure parts: the job's steps, the environment, pytest's summary."""

import sys
from pathlib import Path

import pytest

from tapstack.bench import suite
from tapstack.runtime.settings import RuntimeSettings


def test_job_steps_are_those_of_make_test_local():
    steps = suite.job_steps("http://127.0.0.1:4599", 0)

    assert [name for name, _ in steps] == ["up", "preflight", "pytest"]
    assert steps[1][1][4:] == ["--parameters", "localstack", "--endpoint", "http://127.0.0.1:4599"]
    assert steps[2][1] == [sys.executable, "-m", "pytest", "tests/integration"]


def test_job_steps_with_workers_and_extra_pytest_args():
    pytest_argv = suite.job_steps("http://127.0.0.1:4599", 2, "-x -k 'webhook and not slow'")[2][1]

    assert pytest_argv[-5:] == ["-n", "2", "-x", "-k", "webhook and not slow"]


def test_configurations_alternate_cold_and_warm():
    assert suite.CONFIGURATION_NAMES == ("cold-serial", "warm-serial", "cold-n2", "warm-n2")
    assert suite.CONFIGURATIONS["warm-n2"] == (True, 2)


def test_subprocess_environment_points_at_the_scratch_only():
    settings = RuntimeSettings(port=4999, state_dir=Path("/scratch"))
    caller = {
        "PATH": "/bin",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "TAPSTACK_STACK_NAME": "TapStackdev",
        "TAPSTACK_PORT": "4566",
        "TAPSTACK_RUNTIME": "external",
    }

    environment = suite.subprocess_environment(settings, caller)

    assert environment["PATH"] == "/bin"
    assert "AWS_ENDPOINT_URL" not in environment and "TAPSTACK_STACK_NAME" not in environment
    assert environment["TAPSTACK_STATE_DIR"] == "/scratch"
    assert environment["TAPSTACK_PORT"] == "4999"
    assert environment["TAPSTACK_RUNTIME"] == "auto"
    assert environment["TAPSTACK_KEEP_STACK"] == "1"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("...\n======= 41 passed, 2 skipped in 93.12s (0:01:33) =======\n", "41 passed, 2 skipped"),
        ("= 1 failed, 40 passed in 90.00s =\nmake: *** Error 1\n", "1 failed, 40 passed"),
        ("collected 0 items\n===== no tests ran in 0.01s =====\n", "no tests ran"),
        ("Traceback (most recent call last):\n", None),
    ],
    ids=["passed", "failed-then-make", "none", "crash"],
)
def test_pytest_summary_finds_the_last_summary_line(output, expected):
    summary = suite.pytest_summary(output)

    assert (summary.split(" in ")[0] if summary else None) == expected


def test_format_text_lists_each_run():
    result = {
        "benchmark": "suite",
        "complete": True,
        "machine": {"cores": 2},
        "parameters": {"runs": 1},
        "measurements": {},
        "counts": {},
        "notes": [],
        "runs": [
            {
                "configuration": "cold-serial",
                "run": 1,
                "passed": False,
                "seconds": 120.5,
                "steps": [{"step": "pytest", "status": 1, "seconds": 100.0}],
                "pytest_summary": "1 failed, 40 passed in 99s",
                "log": "x.log",
            }
        ],
    }

    text = suite.format_text(result)

    run_line = next(line for line in text.splitlines() if line.startswith("cold-serial"))
    assert run_line.split()[:4] == ["cold-serial", "1", "FAILED", "120.5"]
    assert "pytest=100.0" in text and "1 failed, 40 passed" in text
