"""``tapstack bench lambda``, ``tapstack bench stack`` and ``tapstack bench suite``.

They join ``tapstack bench runtime`` under ``tapstack bench``; ``tapstack bench`` alone
runs every benchmark with its defaults, except ``suite``, which takes many minutes and
runs only when named.
"""

import argparse
import logging

from tapstack.bench import lambda_latency, report, suite
from tapstack.bench import stack as stack_bench
from tapstack.exitcodes import ExitStatus
from tapstack.runtime.cli import bench_subcommands
from tapstack.runtime.settings import RuntimeSettings

LOG = logging.getLogger(__name__)

LAMBDA_DEFAULTS = {"runs": 5, "warm": 10, "count": 20, "deadline": 300.0}
STACK_DEFAULTS = {"runs": 1, "count": 200, "rate": 20.0, "drain": 60.0, "deadline": 900.0}
SUITE_DEFAULTS = {"runs": 1, "deadline": 5400.0}


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of at least 1")
    return value


def count_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of at least 0")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number above 0")
    return value


def register(subparsers) -> None:
    """Add ``lambda``, ``stack`` and ``suite`` under ``tapstack bench``."""
    benchmarks = bench_subcommands(subparsers)

    lam = benchmarks.add_parser(
        "lambda",
        help="Lambda invoke latency (cold, warm) and stream record to function start",
        description="Against the LocalStack at TAPSTACK_PORT (started if none runs, and "
        "stopped after unless --keep-running): creates functions, tables and a stream "
        "mapping under unique names, measures, and deletes them.",
    )
    lam.add_argument(
        "-n",
        "--runs",
        type=positive_int,
        default=LAMBDA_DEFAULTS["runs"],
        help="new functions, one cold invoke each (default %(default)s)",
    )
    lam.add_argument(
        "--warm",
        type=count_int,
        default=LAMBDA_DEFAULTS["warm"],
        help="warm invokes per function (default %(default)s)",
    )
    lam.add_argument(
        "--count",
        type=count_int,
        default=LAMBDA_DEFAULTS["count"],
        help="stream records timed after the first (default %(default)s)",
    )
    _add_common_options(lam, LAMBDA_DEFAULTS["deadline"], keep_running=True)
    lam.set_defaults(func=cmd_bench_lambda)

    stack = benchmarks.add_parser(
        "stack",
        help="TapStack deploy time (cold, reuse) and webhook-to-SNS latency",
        description="Deploys a fresh TapStack under a unique name (tapstack-bench-*, which "
        "discovery ignores), deploys it again unchanged, sends webhooks at a fixed rate "
        "through API Gateway, each firing one alert, and times their notifications via an "
        "SQS queue subscribed to the topic. Deletes the alerts, the price history, the "
        "queue and the stack afterwards.",
    )
    stack.add_argument(
        "-n",
        "--runs",
        type=positive_int,
        default=STACK_DEFAULTS["runs"],
        help="cold deploys (each a new stack; default %(default)s)",
    )
    stack.add_argument(
        "--count",
        type=count_int,
        default=STACK_DEFAULTS["count"],
        help="webhooks sent, one notification each (default %(default)s; 0: deploy only)",
    )
    stack.add_argument(
        "--rate",
        type=positive_float,
        default=STACK_DEFAULTS["rate"],
        help="webhooks per second (default %(default)s; 50,000/hour is 14/s)",
    )
    stack.add_argument(
        "--drain",
        type=positive_float,
        default=STACK_DEFAULTS["drain"],
        help="seconds to wait after the last send for notifications (default %(default)s)",
    )
    _add_common_options(stack, STACK_DEFAULTS["deadline"], keep_running=True)
    stack.set_defaults(func=cmd_bench_stack)

    suite_parser = benchmarks.add_parser(
        "suite",
        help="wall time of the main job (make test-local), cold and warm, serial and -n 2; "
        "slow, so `tapstack bench` alone skips it",
        description="Runs the steps of `make test-local` (preflight, up, pytest "
        "tests/integration) as subprocesses in a scratch state dir on a free port (the "
        "LocalStack venv, DynamoDB Local cache and build cache are shared, not rebuilt), "
        "in four configurations: cold (LocalStack stopped, no stack) and warm (LocalStack "
        "up, stack deployed), each serial and with -n 2. Your own LocalStack is not "
        "touched. Takes many minutes: `tapstack bench` without a name skips it.",
    )
    suite_parser.add_argument(
        "-n",
        "--runs",
        type=positive_int,
        default=SUITE_DEFAULTS["runs"],
        help="runs of each configuration (default %(default)s)",
    )
    suite_parser.add_argument(
        "--only",
        choices=suite.CONFIGURATION_NAMES,
        action="append",
        help="run only this configuration; may be repeated (default: all four)",
    )
    suite_parser.add_argument(
        "--pytest-args",
        default="",
        help="more pytest arguments, as one string (like make's PYTEST_ARGS)",
    )
    suite_parser.add_argument(
        "--port",
        type=int,
        help="port of the scratch LocalStack (default: a free one the OS picks; "
        "TAPSTACK_PORT is not used, so your own LocalStack is left alone)",
    )
    _add_common_options(suite_parser, SUITE_DEFAULTS["deadline"], keep_running=False)
    suite_parser.set_defaults(func=cmd_bench_suite)


def _add_common_options(parser, deadline: float, *, keep_running: bool) -> None:
    parser.add_argument(
        "--deadline",
        type=positive_float,
        default=deadline,
        help="overall seconds; what is measured by then is reported (default %(default)g)",
    )
    if keep_running:
        parser.add_argument(
            "--port", type=int, help="gateway port (default: TAPSTACK_PORT, else 4566)"
        )
        parser.add_argument(
            "--keep-running",
            action="store_true",
            help="leave a LocalStack this benchmark started running",
        )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _settings(args) -> RuntimeSettings:
    return RuntimeSettings.from_env(port=getattr(args, "port", None))


def _exit_status(result: dict) -> int:
    return ExitStatus.OK if result["complete"] else ExitStatus.TIMEOUT


def cmd_bench_lambda(args) -> int:
    """Run the Lambda latency benchmark and print its report."""
    settings = _settings(args)
    deadline = report.Deadline(args.deadline)
    with report.running_localstack(settings, args.keep_running) as localstack:
        result = report.new_result(
            "lambda",
            report.describe_machine(localstack.endpoint, localstack.mode),
            {"runs": args.runs, "warm": args.warm, "count": args.count, "deadline": args.deadline},
        )
        measured = lambda_latency.run(
            localstack.endpoint,
            runs=args.runs,
            warm=args.warm,
            count=args.count,
            deadline=deadline,
        )
    result.update(measured)
    result["notes"] += [
        "cold: first Invoke of a new function (process start, import, call), one per function",
        "stream_to_start: handler's time.time() at start minus the client's just before "
        "PutItem; each record put after the previous arrived, so it shows the mapping's poll "
        "interval (LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC) plus delivery",
        "stream_first_record: includes the mapping's first poll and the cold start",
    ]
    report.print_result(result, args.json)
    return _exit_status(result)


def cmd_bench_stack(args) -> int:
    """Run the stack benchmark (deploys and webhooks) and print its report."""
    settings = _settings(args)
    deadline = report.Deadline(args.deadline)
    with report.running_localstack(settings, args.keep_running) as localstack:
        result = report.new_result(
            "stack",
            report.describe_machine(localstack.endpoint, localstack.mode),
            {
                "runs": args.runs,
                "count": args.count,
                "rate": args.rate,
                "drain": args.drain,
                "deadline": args.deadline,
            },
        )
        measured = stack_bench.run(
            localstack.endpoint,
            runs=args.runs,
            count=args.count,
            rate=args.rate,
            drain=args.drain,
            deadline=deadline,
        )
    result.update(measured)
    report.print_result(result, args.json)
    return _exit_status(result) if result["counts"].get("lost", 0) == 0 else ExitStatus.FINDINGS


def cmd_bench_suite(args) -> int:
    """Run the suite benchmark and print its report; skipped when run by `tapstack bench`."""
    if getattr(args, "bench", None) is None:
        # `tapstack bench` alone runs every registered benchmark with its defaults; its
        # arguments carry no benchmark name. The suite takes many minutes: leave it out.
        print("skipped: the suite benchmark is slow; run `tapstack bench suite` by name")
        return ExitStatus.OK
    result = suite.run(
        RuntimeSettings.from_env(),
        runs=args.runs,
        configurations=args.only or suite.CONFIGURATION_NAMES,
        pytest_args=args.pytest_args,
        port=args.port,
        deadline=report.Deadline(args.deadline),
    )
    if args.json:
        report.print_result(result, as_json=True)
    else:
        print(suite.format_text(result))
    if not result["complete"]:
        return ExitStatus.TIMEOUT
    return ExitStatus.OK if all(run["passed"] for run in result["runs"]) else ExitStatus.FINDINGS
