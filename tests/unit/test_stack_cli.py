"""The stack subcommands that need no emulator: gaps, help, option parsing."""

import json

import pytest

from tapstack.cli import build_parser, main
from tapstack.exitcodes import ExitStatus
from tapstack.stack.gaps import GAPS


def test_gaps_json_lists_every_gap(capsys):
    status = main(["gaps", "--json"])

    printed = json.loads(capsys.readouterr().out)
    assert status == ExitStatus.OK
    assert [gap["id"] for gap in printed] == [gap.id for gap in GAPS]
    assert all(gap["version"] for gap in printed)


def test_gaps_text_shows_what_the_harness_does(capsys):
    main(["gaps"])

    out = capsys.readouterr().out
    assert "lambda-reserved-concurrency" in out
    assert "harness:" in out


@pytest.mark.parametrize("command", ["deploy", "destroy", "outputs", "stacks", "gaps"])
def test_every_stack_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([command, "--help"])

    assert caught.value.code == 0
    assert "usage: tapstack" in capsys.readouterr().out


def test_deploy_rejects_an_override_without_a_value(capsys):
    status = main(["deploy", "--endpoint", "http://127.0.0.1:1", "--parameter", "NoEquals"])

    assert status == ExitStatus.USAGE
    assert "is not KEY=VALUE" in capsys.readouterr().err
