"""README.md's examples and tables stay true to the code."""

import re
import shlex
from datetime import UTC, datetime

import pytest

from handlers.schema import decode_json, parse_webhook
from tapstack.cli import build_parser, main
from tapstack.exitcodes import ExitStatus
from tapstack.paths import PROJECT_ROOT
from tapstack.stack.gaps import markdown_table

README = (PROJECT_ROOT / "README.md").read_text()
MAKEFILE = (PROJECT_ROOT / "Makefile").read_text()


def _code_blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.DOTALL)


def _preflight_example() -> list[str]:
    (block,) = [block for block in _code_blocks() if block.startswith("$ tapstack preflight")]
    command = shlex.split(block.removeprefix("$ ").replace("\\\n", " "))
    return command[1:]


def test_readme_webhook_example_is_a_valid_webhook():
    (block,) = [block for block in _code_blocks() if block.startswith('{"event_id"')]
    example = decode_json(block.encode())

    webhook = parse_webhook(example, now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC))

    assert (webhook.event_id, webhook.symbol, str(webhook.price)) == ("evt-0001", "ACME", "101.25")


def test_readme_gaps_table_is_the_list_in_gaps_module():
    shown = README.split("<!-- gaps:start -->\n")[1].split("\n<!-- gaps:end -->")[0]

    assert shown == markdown_table()


@pytest.mark.parametrize("target", sorted(set(re.findall(r"`?make ([a-z-]+)", README))))
def test_readme_make_target_exists(target):
    assert re.search(rf"^{re.escape(target)}:", MAKEFILE, flags=re.MULTILINE), target


def test_readme_tapstack_subcommands_exist():
    named = set()
    for line in README.splitlines():
        # "tapstack up | down | status [--mode MODE]" names three subcommands
        match = re.match(r"tapstack ([a-z]+(?: \| [a-z]+)*)", line)
        if match:
            named.update(match.group(1).split(" | "))
    subcommands = build_parser()._subparsers._group_actions[0].choices

    assert {"preflight", "up", "down", "deploy", "gaps"} <= named
    assert named <= set(subcommands)


def test_readme_preflight_example_refuses_the_seed_values_with_the_numbers(capsys):
    status = main(_preflight_example())

    out = capsys.readouterr().out
    assert status == ExitStatus.FINDINGS
    assert "100 + 50 + 50 + 5 = 205" in out
    assert "95 left unreserved (minimum 100)" in out
