"""``tapstack up``, ``down``, ``status``, ``provision`` and ``bench runtime``."""

import json
import time

from tapstack import runtime
from tapstack.exitcodes import ExitStatus
from tapstack.runtime import bench, provision
from tapstack.runtime.settings import MODES, RuntimeSettings

BENCH_COMMAND = "bench"


def register(subparsers) -> None:
    """Add the runtime's subcommands to the ``tapstack`` parser."""
    up = subparsers.add_parser(
        "up",
        help="bring LocalStack up (external, docker or host mode) and wait until ready",
        description="Start LocalStack unless one already answers, then wait for every "
        "service TapStack needs. Says which mode it picked and why.",
    )
    _add_runtime_options(up, mode=True, timeout=True)
    up.set_defaults(func=cmd_up)

    down = subparsers.add_parser(
        "down",
        help="stop the LocalStack that `tapstack up` started",
        description="Stop only what `tapstack up` started from this state dir (pid file); "
        "an external LocalStack, or one someone else started, is left alone.",
    )
    _add_runtime_options(down)
    down.set_defaults(func=cmd_down)

    status = subparsers.add_parser(
        "status",
        help="which LocalStack runs, where, and whether it is ready",
        description="Exit status 0 when LocalStack is ready, 3 when it is not.",
    )
    _add_runtime_options(status, mode=True)
    status.set_defaults(func=cmd_status)

    prov = subparsers.add_parser(
        "provision",
        help="prepare host mode: LocalStack's and Lambda's venvs, DynamoDB Local, a JRE, the agent",
        description="Host-mode provisioning only; each step is reused when already done.",
    )
    _add_runtime_options(prov)
    prov.set_defaults(func=cmd_provision)

    runtime_bench = bench_subcommands(subparsers).add_parser(
        "runtime",
        help="host-mode provisioning and start-to-ready, cold and warm",
        description="Runs LocalStack in a scratch state dir on TAPSTACK_PORT, which must be free.",
    )
    _add_runtime_options(runtime_bench)
    runtime_bench.add_argument("-n", "--runs", type=int, default=3, help="runs (default 3)")
    runtime_bench.set_defaults(func=cmd_bench_runtime)


def bench_subcommands(subparsers):
    """The sub-subparsers of ``tapstack bench``, created on first use.

    Other command modules add their benchmark here (``tapstack bench stack``);
    ``tapstack bench`` alone runs every one of them with its defaults.
    """
    bench_parser = subparsers.choices.get(BENCH_COMMAND)
    if bench_parser is None:
        bench_parser = subparsers.add_parser(
            BENCH_COMMAND,
            help="benchmarks; without a name, all of them",
            description="Benchmarks. Without a name, every one runs with its defaults.",
        )
        inner = bench_parser.add_subparsers(dest="bench", metavar="BENCHMARK")
        bench_parser.set_defaults(func=_run_all_benchmarks, bench_parsers=inner)
    return bench_parser.get_default("bench_parsers")


def _run_all_benchmarks(args) -> int:
    worst = ExitStatus.OK
    for name, parser in args.bench_parsers.choices.items():
        print(f"== tapstack bench {name}")
        sub_args = parser.parse_args([])
        for key, value in vars(args).items():
            if not hasattr(sub_args, key):
                setattr(sub_args, key, value)
        worst = max(worst, ExitStatus(int(sub_args.func(sub_args))))
    return int(worst)


def _add_runtime_options(parser, mode: bool = False, timeout: bool = False) -> None:
    if mode:
        parser.add_argument(
            "--mode", choices=MODES, help="runtime mode (default: TAPSTACK_RUNTIME, else auto)"
        )
    parser.add_argument("--port", type=int, help="gateway port (default: TAPSTACK_PORT, else 4566)")
    if timeout:
        parser.add_argument("--timeout", type=float, help="seconds to wait for ready (default 120)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _settings(args) -> RuntimeSettings:
    return RuntimeSettings.from_env(
        mode=getattr(args, "mode", None),
        port=getattr(args, "port", None),
        ready_timeout=getattr(args, "timeout", None),
    )


def _print(args, document: dict, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        print("\n".join(lines))


def cmd_up(args) -> int:
    started = runtime.up(_settings(args))
    document = {
        "mode": started.mode,
        "endpoint": started.endpoint,
        "reason": started.reason,
        "started": started.started,
        "log_path": started.log_path,
        "lambda_python": started.lambda_python,
        "lambda_python_source": started.lambda_python_source,
    }
    lines = [
        f"mode:     {started.mode} ({started.reason})",
        f"endpoint: {started.endpoint}",
    ]
    if started.log_path:
        lines.append(f"log:      {started.log_path}")
    if started.lambda_python:
        lines.append(f"lambda:   {started.lambda_python} ({started.lambda_python_source})")
    _print(args, document, lines)
    return ExitStatus.OK


def cmd_down(args) -> int:
    settings = _settings(args)
    stopped = runtime.down(settings)
    message = (
        f"stopped the LocalStack that tapstack up started (port {settings.port})"
        if stopped
        else f"nothing to stop: no LocalStack started by tapstack up from {settings.state_dir} runs"
    )
    _print(args, {"stopped": stopped, "message": message}, [message])
    return ExitStatus.OK


def cmd_status(args) -> int:
    document = runtime.status(_settings(args))
    lines = [
        f"mode:     {document['mode']} ({document['reason']})",
        f"endpoint: {document['endpoint']}",
        f"running:  {'yes' if document['running'] else 'no'}"
        + (f", LocalStack {document['version']}" if document["version"] else ""),
        f"ready:    {'yes' if document['ready'] else 'no'}",
    ]
    if document["running"] and document["missing_services"]:
        missing = ", ".join(f"{k} ({v})" for k, v in document["missing_services"].items())
        lines.append(f"missing:  {missing}")
    if document["pid"]:
        lines.append(f"pid:      {document['pid']} (started by tapstack up)")
    if document["log_path"]:
        lines.append(f"log:      {document['log_path']}")
    if document["lambda_python"]:
        lines.append(f"lambda:   {document['lambda_python']} ({document['lambda_python_source']})")
    _print(args, document, lines)
    return ExitStatus.OK if document["ready"] else ExitStatus.RUNTIME


def cmd_provision(args) -> int:
    started = time.monotonic()
    steps = provision.provision_host(_settings(args))
    total = time.monotonic() - started
    lines = [f"{s.name:<15} {s.action:<9} {s.seconds:7.2f} s  {s.detail}" for s in steps]
    lines.append(f"{'total':<15} {'':<9} {total:7.2f} s")
    _print(args, {"steps": [s.as_dict() for s in steps], "total_seconds": total}, lines)
    return ExitStatus.OK


def cmd_bench_runtime(args) -> int:
    result = bench.run(runs=args.runs, settings=_settings(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(bench.format_table(result))
        print(json.dumps(result["median_seconds"]))
    return ExitStatus.OK
