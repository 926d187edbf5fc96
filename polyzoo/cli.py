"""The `polyzoo` command line: thin, it parses flags and calls library functions.

Each sub-command lives in `polyzoo/commands/<name>.py` and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Modules there are found automatically, listed alphabetically.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from polyzoo import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyzoo",
        description="Polynomial transformers for encrypted inference.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"polyzoo.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as err:
        # Library errors are written to be read by people: show them without a traceback.
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"polyzoo {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `polyzoo ... | head`: the reader left; that is not an error
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
