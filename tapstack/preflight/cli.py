"""``tapstack preflight``: check the template and a parameter set before any deploy."""

import argparse
import json
import logging
import textwrap

from tapstack import aws, paths
from tapstack.exitcodes import ExitStatus
from tapstack.preflight.checks.concurrency import function_names, read_account_concurrency
from tapstack.preflight.inputs import (
    effective_parameters,
    load_parameters,
    load_template,
    parse_overrides,
)
from tapstack.preflight.model import AccountConcurrency, Finding, Report
from tapstack.preflight.runner import run_preflight

LOG = logging.getLogger(__name__)

DESCRIPTION = """\
Check a template and a parameter set before any deploy: the parameters against the
template, reserved concurrency against the account's Lambda quota, cfn-lint, the
properties TapStack promises (arm64, KMS, stream and TTL, PITR, API keys, Errors
alarms) and IAM least privilege. Exits 1 when any check finds an error.

The quota check needs the account's figures: --endpoint reads them live from
lambda:GetAccountSettings, --account-limit gives them by hand. Without either it is
skipped with a warning. AWS_ENDPOINT_URL is deliberately not used for this.
"""


def register(subparsers) -> None:
    """Add the ``preflight`` subcommand."""
    parser = subparsers.add_parser(
        "preflight",
        help="check the template and a parameter set before any deploy",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--template",
        default=str(paths.TEMPLATE_PATH),
        metavar="PATH",
        help="the JSON template to check (default: template/TapStack.json)",
    )
    parser.add_argument(
        "--parameters",
        default="localstack",
        metavar="NAME_OR_PATH",
        help="a parameter set under template/parameters/ (aws, localstack) or a path to "
        'a JSON file {"Name": "value"} (default: localstack)',
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one parameter; repeatable",
    )
    account = parser.add_mutually_exclusive_group()
    account.add_argument(
        "--endpoint",
        metavar="URL",
        help="read the account's concurrency from lambda:GetAccountSettings at this "
        "endpoint (e.g. http://127.0.0.1:4566); AWS_ENDPOINT_URL is not consulted",
    )
    account.add_argument(
        "--account-limit",
        type=_whole_number,
        metavar="N",
        help="the account's concurrent executions limit, with nothing reserved yet",
    )
    parser.add_argument(
        "--min-unreserved",
        type=_whole_number,
        default=100,
        metavar="N",
        help="concurrency Lambda keeps unreserved (default: 100; small new accounts have 10 or 50)",
    )
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the preflight as the options say; FINDINGS when it found an error."""
    if not getattr(args, "debug", False):
        # cfn-lint logs every template scan at INFO; that matters only when debugging.
        logging.getLogger("cfnlint").setLevel(logging.WARNING)

    parameters = load_parameters(args.parameters)
    parameters.update(parse_overrides(args.overrides))

    account = _account(args, parameters)
    report = run_preflight(args.template, parameters, account=account, lint=not args.no_lint)

    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report))
    return ExitStatus.OK if report.ok else ExitStatus.FINDINGS


def _account(args: argparse.Namespace, parameters: dict[str, str]) -> AccountConcurrency | None:
    if args.account_limit is not None:
        return AccountConcurrency(
            limit=args.account_limit,
            unreserved=args.account_limit,
            minimum_unreserved=args.min_unreserved,
        )
    if args.endpoint:
        template = load_template(args.template)
        names = function_names(template, effective_parameters(template, parameters))
        return read_account_concurrency(
            aws.client("lambda", args.endpoint),
            minimum_unreserved=args.min_unreserved,
            function_names=names,
        )
    return None


def render(report: Report) -> str:
    """The report as text: one block per finding, then the summary line."""
    blocks = [_render_finding(finding) for finding in report.findings]
    blocks.append(report.summary() + f" ({', '.join(report.checks)} on {report.template})")
    return "\n\n".join(blocks)


def _render_finding(finding: Finding) -> str:
    where = f"{finding.resource} {finding.property}".strip()
    line = f" (line {finding.line})" if finding.line else ""
    wrap = textwrap.TextWrapper(width=96, initial_indent="  ", subsequent_indent="    ")
    lines = [f"{finding.severity} [{finding.check}] {where}{line}"]
    lines += wrap.wrap(finding.message)
    if finding.seen:
        lines += wrap.wrap(f"seen: {finding.seen}")
    lines += wrap.wrap(f"fix: {finding.fix}")
    return "\n".join(lines)
