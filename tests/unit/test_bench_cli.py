"""The benchmark subcommands without LocalStack: options, defaults, and what `bench` runs."""

import argparse
import zipfile
from io import BytesIO

import pytest

from tapstack.bench import cli as bench_cli
from tapstack.bench import lambda_latency, suite
from tapstack.cli import build_parser, main
from tapstack.exitcodes import ExitStatus


@pytest.mark.parametrize("name", ["lambda", "stack", "suite"])
def test_every_benchmark_has_help(name, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["bench", name, "--help"])

    assert caught.value.code == 0
    assert "--deadline" in capsys.readouterr().out


def test_lambda_defaults():
    args = build_parser().parse_args(["bench", "lambda"])

    assert (args.runs, args.warm, args.count) == (5, 10, 20)
    assert args.deadline == 300 and not args.json and not args.keep_running


def test_stack_options_parse():
    args = build_parser().parse_args(
        ["bench", "stack", "--count", "50", "--rate", "14", "-n", "2", "--json"]
    )

    assert (args.count, args.rate, args.runs, args.json) == (50, 14.0, 2, True)
    assert args.drain == 60


def test_suite_only_may_be_repeated():
    args = build_parser().parse_args(["bench", "suite", "--only", "cold-n2", "--only", "warm-n2"])

    assert args.only == ["cold-n2", "warm-n2"] and args.runs == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "lambda", "--runs", "0"],
        ["bench", "stack", "--rate", "0"],
        ["bench", "stack", "--count", "-1"],
        ["bench", "suite", "--only", "lukewarm"],
    ],
    ids=["zero-runs", "zero-rate", "negative-count", "unknown-configuration"],
)
def test_invalid_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)

    assert caught.value.code == 2


def test_positive_int_names_the_bad_value():
    with pytest.raises(argparse.ArgumentTypeError, match="0 is not"):
        bench_cli.positive_int("0")


def test_suite_is_skipped_when_bench_runs_everything(capsys):
    args = argparse.Namespace(bench=None)

    status = bench_cli.cmd_bench_suite(args)

    assert status == ExitStatus.OK
    assert "skipped" in capsys.readouterr().out


def test_bench_without_a_name_reaches_the_suite_only_to_skip_it(monkeypatch, capsys):
    called = []
    for name in ("cmd_bench_lambda", "cmd_bench_stack"):
        monkeypatch.setattr(bench_cli, name, lambda args, n=name: called.append(n) or 0)
    monkeypatch.setattr("tapstack.runtime.cli.cmd_bench_runtime", lambda args: 0)
    monkeypatch.setattr(suite, "run", lambda *a, **k: pytest.fail("the suite ran"))

    status = main(["bench"])

    out = capsys.readouterr().out
    assert status == ExitStatus.OK
    assert "== tapstack bench suite" in out and "skipped" in out


def test_code_zip_holds_the_handler_module():
    data = lambda_latency.code_zip(lambda_latency.ECHO_SOURCE)

    with zipfile.ZipFile(BytesIO(data)) as archive:
        assert archive.namelist() == ["bench_handler.py"]
        assert "def handler" in archive.read("bench_handler.py").decode()


def test_unique_names_differ_and_carry_the_prefix():
    first, second = lambda_latency.unique_name("fn"), lambda_latency.unique_name("fn")

    assert first != second and first.startswith("tapstack-bench-fn-")
