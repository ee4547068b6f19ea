"""The ``jaxcalc`` command: a thin shell over the library.

``main(argv) -> int`` runs one subcommand. Each subcommand lives in its own module with
``register(subparsers)``; its handler returns ``(payload, text)``: the JSON object printed
by ``--json``, and the text printed otherwise. A user error prints one ``error: ...`` line
on stderr and returns 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from .._core.errors import JaxcalcError
from . import bench, demo, diff, grid, plot, tangent

_SUBCOMMANDS = (diff, tangent, plot, grid, bench, demo)


class UsageError(JaxcalcError):
    """Command-line arguments argparse rejected."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump, exit code 2 via main()
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxcalc", description="Calculus that is fast, exact and safe at scale.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for module in _SUBCOMMANDS:
        sub = module.register(subparsers)
        try:
            sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        except argparse.ArgumentError:  # the subcommand has its own (bench: --json FILE)
            pass
    return parser


def _plain(value):
    """JSON-ready: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jaxcalc`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            from .. import __version__

            print(__version__)
            return 0
        if args.command is None:
            raise UsageError("jaxcalc: a COMMAND is required (see `jaxcalc --help`)")
        payload, text = args.handler(args)
    except JaxcalcError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if args.json is True:
        print(json.dumps(_plain(payload), allow_nan=False))
    else:
        print(text)
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
