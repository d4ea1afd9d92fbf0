"""The ``overfeat`` command. Each sub-command lives in ``overfeat/commands/<name>.py`` and
provides ``add_parser(subparsers)`` and ``run(args) -> int``; this module only dispatches."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Sub-commands in the order ``overfeat --help`` lists them.
COMMANDS = (
    "info", "data", "features", "classify", "localize", "detect", "evaluate", "train", "demo",
    "convert-weights",
)


class UserError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="overfeat",
        description="OverFeat: integrated recognition, localization and detection (JAX/Flax).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for name in COMMANDS:
        module = importlib.import_module(f"overfeat.commands.{name.replace('-', '_')}")
        module.add_parser(subparsers)
        modules[name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        if extra:
            # A command whose options cannot be declared in advance (``train``'s
            # ``--config.KEY=VALUE``) takes them through ``accept_extra_arguments``.
            accept = getattr(modules[args.command], "accept_extra_arguments", None)
            if accept is None:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            accept(args, extra)
        return modules[args.command].run(args) or 0
    except (UserError, ValueError, FileNotFoundError) as error:
        print(f"overfeat {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`overfeat detect ... | head`): stop quietly, as Unix tools do.
        # Python would report the same error again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the status a shell gives a tool killed by it


if __name__ == "__main__":
    # `python -m overfeat.cli` runs this file as __main__, a second copy of the module whose
    # UserError is not the overfeat.cli.UserError that commands raise: run the package's own.
    from overfeat import cli

    sys.exit(cli.main())
