"""The ``tapstack`` command: one entry point, a subcommand per job."""

import argparse
import importlib
import logging
import sys

from tapstack import __version__
from tapstack.errors import TapStackError
from tapstack.exitcodes import ExitStatus

# Each module exposes ``register(subparsers)``, which adds its subcommands and sets
# ``func(args) -> int`` on each of them.
COMMAND_MODULES = (
    "tapstack.preflight.cli",
    "tapstack.runtime.cli",
    "tapstack.stack.cli",
    "tapstack.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tapstack",
        description="Run and check the TapStack price-alert stack on LocalStack.",
    )
    parser.add_argument("--version", action="version", version=f"tapstack {__version__}")
    parser.add_argument("--debug", action="store_true", help="log everything, show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)

    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if not args.debug:
        # botocore and urllib3 are chatty at INFO; their details matter only when debugging.
        for noisy in ("botocore", "boto3", "urllib3", "cfnlint"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    try:
        return int(args.func(args))
    except TapStackError as exc:
        if args.debug:
            raise
        print(f"tapstack {args.command}: {exc}", file=sys.stderr)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        print(f"tapstack {args.command}: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        print("rerun with --debug for the traceback", file=sys.stderr)
        return int(ExitStatus.INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
