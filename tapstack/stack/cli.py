"""Subcommands for the stack: deploy, destroy, outputs, stacks, gaps."""

import argparse
import json
import logging

from tapstack import aws
from tapstack.exitcodes import ExitStatus
from tapstack.preflight.inputs import parse_overrides
from tapstack.stack import deploy as deploying
from tapstack.stack import discovery
from tapstack.stack.errors import DiscoveryError
from tapstack.stack.gaps import GAPS, markdown_table
from tapstack.stack.outputs import read_outputs

LOG = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add ``deploy``, ``destroy``, ``outputs``, ``stacks`` and ``gaps`` to the CLI."""
    deploy = subparsers.add_parser(
        "deploy",
        help="create, update or reuse the stack on LocalStack",
        description="Package the handlers, run the preflight against the live account, then "
        "create or update the stack (reused as is when its content hash tag matches). "
        "Writes the outputs to <state dir>/stack-outputs.json.",
    )
    _add_target_options(deploy)
    deploy.add_argument(
        "--suffix", help="EnvironmentSuffix of a new stack (default: the existing one's, or dev)"
    )
    deploy.add_argument(
        "--parameters",
        default=deploying.DEFAULT_PARAMETER_SET,
        help="parameter set: a name in template/parameters/ or a path (default: localstack)",
    )
    deploy.add_argument(
        "--parameter",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter of the set; may be repeated (as for preflight)",
    )
    deploy.add_argument(
        "--skip-preflight",
        action="store_true",
        help="deploy even when the preflight finds errors (to see what the emulator does)",
    )
    deploy.set_defaults(func=_deploy)

    destroy = subparsers.add_parser(
        "destroy",
        help="delete the stack",
        description="Delete the named or discovered stack and wait until it is gone.",
    )
    _add_target_options(destroy)
    destroy.set_defaults(func=_destroy)

    outputs = subparsers.add_parser(
        "outputs",
        help="show the stack's outputs, the webhook URL and the API key",
        description="Read the stack's outputs, write them to <state dir>/stack-outputs.json "
        "and print them.",
    )
    _add_target_options(outputs)
    outputs.set_defaults(func=_outputs)

    stacks = subparsers.add_parser(
        "stacks",
        help="list the stacks discovery considers",
        description="List stacks named TapStack* or localstack-stack-*, usable or not, and "
        "say which one discovery would choose.",
    )
    _add_target_options(stacks)
    stacks.set_defaults(func=_stacks)

    gaps = subparsers.add_parser(
        "gaps",
        help="list the known LocalStack gaps and what the harness does about them",
        description="Known differences between LocalStack and AWS that touch TapStack.",
    )
    gaps.add_argument("--json", action="store_true", help="print JSON")
    gaps.add_argument("--markdown", action="store_true", help="print the table README.md shows")
    gaps.set_defaults(func=_gaps)


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-name",
        help=f"the stack to act on (default: ${discovery.STACK_NAME_VARIABLE}, else discovered)",
    )
    parser.add_argument(
        "--endpoint",
        help="emulator URL (default: $AWS_ENDPOINT_URL, else the LocalStack `tapstack up` runs)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _endpoint(args) -> str:
    if args.endpoint:
        return args.endpoint
    from tapstack.runtime.settings import RuntimeSettings

    settings = RuntimeSettings.from_env()
    return settings.endpoint or settings.local_endpoint


def _deploy(args) -> int:
    endpoint = _endpoint(args)
    result = deploying.deploy(
        endpoint,
        stack_name=args.stack_name,
        suffix=args.suffix,
        parameter_set=args.parameters,
        overrides=parse_overrides(args.overrides),
        skip_preflight=args.skip_preflight,
    )
    outputs = _read_and_write_outputs(endpoint, result.stack_name)

    if args.json:
        report = {
            "stack_name": result.stack_name,
            "action": result.action,
            "content_hash": result.content_hash,
            "seconds": round(result.seconds, 1),
            "concurrency_compensated": [
                action.function_name for action in result.concurrency if action.applied
            ],
            "outputs": outputs.as_dict(),
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"{result.stack_name}: {result.action} in {result.seconds:.1f} s")
        print(f"webhook URL: {outputs.webhook_url}")
    return ExitStatus.OK


def _destroy(args) -> int:
    endpoint = _endpoint(args)
    cloudformation = aws.client("cloudformation", endpoint)
    chosen = discovery.select_stack(cloudformation, args.stack_name)
    if chosen is None:
        print("no stack to delete")
        return ExitStatus.OK
    deploying.delete(endpoint, chosen.name)
    if args.json:
        print(json.dumps({"deleted": chosen.name}))
    else:
        print(f"{chosen.name}: deleted")
    return ExitStatus.OK


def _outputs(args) -> int:
    endpoint = _endpoint(args)
    chosen = discovery.select_stack(aws.client("cloudformation", endpoint), args.stack_name)
    if chosen is None:
        raise DiscoveryError("no deployed stack was found; run `tapstack deploy` first")
    outputs = _read_and_write_outputs(endpoint, chosen.name)

    if args.json:
        print(json.dumps(outputs.as_dict(), indent=2, sort_keys=True))
        return ExitStatus.OK
    print(f"stack: {outputs.stack_name}")
    print(f"webhook URL: {outputs.webhook_url}")
    print(f"API key: {outputs.api_key_value}")
    for name, value in sorted(outputs.outputs.items()):
        print(f"{name}: {value}")
    return ExitStatus.OK


def _stacks(args) -> int:
    endpoint = _endpoint(args)
    cloudformation = aws.client("cloudformation", endpoint)
    found = discovery.find_stacks(cloudformation, usable_only=False)
    try:
        chosen = discovery.select_stack(cloudformation, args.stack_name)
        choice = chosen.name if chosen else None
        problem = None
    except DiscoveryError as exc:
        choice, problem = None, str(exc)

    if args.json:
        listing = [info.as_dict() | {"usable": info.usable} for info in found]
        print(json.dumps({"stacks": listing, "chosen": choice, "problem": problem}, indent=2))
        return ExitStatus.OK if problem is None else ExitStatus.USAGE
    for info in found:
        marker = "*" if info.name == choice else " "
        usable = "" if info.usable else " (not usable)"
        print(f"{marker} {info.name} {info.status}{usable}")
    if not found:
        print("no stack named TapStack* or localstack-stack-*")
    if problem:
        print(problem)
        return ExitStatus.USAGE
    return ExitStatus.OK


def _gaps(args) -> int:
    if args.json:
        print(json.dumps([gap.as_dict() for gap in GAPS], indent=2))
        return ExitStatus.OK
    if args.markdown:
        print(markdown_table())
        return ExitStatus.OK
    for gap in GAPS:
        print(f"{gap.id} ({gap.service}, measured on {gap.version})")
        print(f"  LocalStack: {gap.localstack}")
        print(f"  AWS:        {gap.aws}")
        print(f"  harness:    {gap.harness}")
    return ExitStatus.OK


def _read_and_write_outputs(endpoint: str, stack_name: str):
    outputs = read_outputs(
        aws.client("cloudformation", endpoint),
        aws.client("apigateway", endpoint),
        stack_name,
        endpoint,
    )
    path = outputs.write()
    LOG.info("outputs written to %s", path)
    return outputs
