import argparse
import json
import os
import subprocess
import sys

import pytest

from tapstack import runtime
from tapstack.runtime import RuntimeSettings, cli, host, processes


@pytest.fixture
def settings(tmp_path):
    return RuntimeSettings(
        mode="host", port=4610, state_dir=tmp_path, lambda_python_override="/py/bin/py"
    )


def test_localstack_environment_sets_host_mode_and_the_executor(settings):
    env = host.localstack_environment(settings, base={"PATH": "/bin"})

    assert env["OVERRIDE_IN_DOCKER"] == "0"
    assert env["FILESYSTEM_ROOT"] == str(settings.filesystem_root)
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4610"
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "tapstack-host"
    assert env["TAPSTACK_LAMBDA_PYTHON"] == "/py/bin/py"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == "v2"
    assert env["DNS_ADDRESS"] == "0"
    assert env["LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC"] == host.ESM_POLL_INTERVAL
    assert "LAMBDA_LIMITS_CONCURRENT_EXECUTIONS" not in env
    assert env["PATH"] == "/bin"


def test_localstack_environment_defaults_lambda_python_to_the_lambda_runtime_venv(tmp_path):
    settings = RuntimeSettings(mode="host", state_dir=tmp_path)

    env = host.localstack_environment(settings, base={"TAPSTACK_LAMBDA_PYTHON": ""})

    assert env["TAPSTACK_LAMBDA_PYTHON"] == str(settings.lambda_venv_dir / "bin" / "python")


def test_lambda_python_in_use_is_the_one_the_running_localstack_was_started_with(tmp_path):
    # Started with the default; the caller now sets an override that only a restart uses.
    started_with = RuntimeSettings(mode="host", state_dir=tmp_path)
    started_with.localstack_dir.mkdir(parents=True)
    host._write_pid_file(started_with, os.getpid())
    now = started_with.with_changes(lambda_python_override="/opt/other/python")

    in_use = host.lambda_python_in_use(now)
    started_with.pid_path.unlink()
    after_stop = host.lambda_python_in_use(now)

    assert in_use == (started_with.lambda_python, started_with.lambda_python_source)
    assert after_stop == ("/opt/other/python", "TAPSTACK_LAMBDA_PYTHON")


def test_localstack_environment_passes_user_limits_through_and_drops_the_harness_venv(settings):
    base = {
        "LAMBDA_LIMITS_CONCURRENT_EXECUTIONS": "300",
        "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "1",
        "VIRTUAL_ENV": "/harness/.venv",
        "AWS_ENDPOINT_URL": "http://elsewhere:4566",
        "GATEWAY_LISTEN": "0.0.0.0:9999",
    }

    env = host.localstack_environment(settings, base=base)

    assert env["LAMBDA_LIMITS_CONCURRENT_EXECUTIONS"] == "300"
    assert env["LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC"] == "1"
    assert "VIRTUAL_ENV" not in env and "AWS_ENDPOINT_URL" not in env
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4610"


def test_services_setting_lists_every_required_service(settings):
    env = host.localstack_environment(settings, base={})

    assert env["SERVICES"].split(",") == list(host.REQUIRED_SERVICES)


def test_stale_pid_file_is_removed_and_ignored(settings):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    settings.localstack_dir.mkdir(parents=True)
    settings.pid_path.write_text(json.dumps({"pid": int(finished.stdout), "start_ticks": 1}))

    assert host.read_pid_file(settings) is None
    assert not settings.pid_path.exists()
    assert host.stop(settings) is False


def test_stop_family_stops_a_process_group_and_its_detached_child(settings):
    # A leader in its own session whose child leaves the group, like DynamoDB Local does.
    owner = host.owner_entry(settings)
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True); time.sleep(60)"
    )
    name, value = owner.split("=", 1)
    leader = subprocess.Popen(
        [sys.executable, "-c", script], start_new_session=True, env={**os.environ, name: value}
    )
    members = _wait_for_family_of_two(leader.pid, owner)

    stopped = processes.stop_family(leader.pid, owner, grace=5)

    assert stopped
    assert not any(processes.is_alive(pid) for pid in members)
    assert leader.wait(timeout=5) is not None


def _wait_for_family_of_two(pid, owner):
    for _ in range(200):
        members = processes.family(pid, owner)
        if len(members) >= 2:
            return members
        processes.wait_for_exit({pid: processes.start_ticks(pid)}, 0.02)
    pytest.fail(f"the child of {pid} never appeared")


def build_parser():
    parser = argparse.ArgumentParser(prog="tapstack")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli.register(subparsers)
    return parser, subparsers


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--mode", "host", "--port", "4610", "--json", "--timeout", "30"],
        ["down", "--port", "4610"],
        ["status", "--mode", "external", "--json"],
        ["provision", "--json"],
        ["bench", "runtime", "--runs", "1"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_cli_registers_every_runtime_subcommand(argv):
    parser, _ = build_parser()

    args = parser.parse_args(argv)

    assert callable(args.func)


def test_cli_bench_accepts_benchmarks_from_other_modules():
    parser, subparsers = build_parser()
    stack = cli.bench_subcommands(subparsers).add_parser("stack")
    stack.set_defaults(func=lambda args: 0)

    args = parser.parse_args(["bench", "stack"])
    bare = parser.parse_args(["bench"])

    assert args.func(args) == 0
    assert set(bare.bench_parsers.choices) == {"runtime", "stack"}


def test_cli_up_and_status_say_which_python_lambda_uses(monkeypatch, capsys, tmp_path):
    ready = runtime.Runtime(
        mode="host",
        endpoint="http://127.0.0.1:4610",
        reason="forced",
        started=True,
        log_path=tmp_path / "localstack.log",
        lambda_python="/state/localstack/lambda-venv/bin/python",
        lambda_python_source="the Lambda runtime venv (boto3 only)",
    )
    monkeypatch.setattr(cli.runtime, "up", lambda settings: ready)
    monkeypatch.setattr(cli.runtime, "status", lambda settings: status_document(ready))
    parser, _ = build_parser()

    cli.cmd_up(parser.parse_args(["up"]))
    up_output = capsys.readouterr().out
    cli.cmd_status(parser.parse_args(["status"]))
    status_output = capsys.readouterr().out
    cli.cmd_status(parser.parse_args(["status", "--json"]))
    status_json = json.loads(capsys.readouterr().out)

    expected = "lambda:   /state/localstack/lambda-venv/bin/python (the Lambda runtime venv"
    assert expected in up_output and expected in status_output
    assert status_json["lambda_python"] == ready.lambda_python


def status_document(ready):
    return {
        "mode": ready.mode,
        "reason": ready.reason,
        "endpoint": ready.endpoint,
        "running": True,
        "ready": True,
        "version": "4.9.2",
        "ready_services": [],
        "missing_services": {},
        "pid": 1,
        "started_by_tapstack": True,
        "log_path": str(ready.log_path),
        "lambda_python": ready.lambda_python,
        "lambda_python_source": ready.lambda_python_source,
    }


def test_free_port_is_a_port_nothing_listens_on():
    port = host.free_port()

    assert 0 < port < 65536
    assert host.port_is_free(port)
