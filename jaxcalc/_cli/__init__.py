"""The ``jaxcalc`` command: a thin shell over the library.

``main(argv) -> int`` runs one subcommand. Each subcommand lives in its own module with
``register(subparsers)``; its handler returns ``(payload, text)``: the JSON object printed
by ``--json``, and the text printed otherwise. A user error prints one ``error: ...`` line
on stderr and returns 2; no traceback. Negative numbers work as option values everywhere
(``--range -1e3 1``, ``--at -1e-3``). Success prints only the result: NumPy's warnings about
NaN or infinite values are not printed (NaN is a result here; JSON shows it as null).

Ctrl-C (SIGINT) or SIGTERM stops a run within a block: worker threads stop, partial output
files vanish, and ``main`` prints ``error: interrupted (SIGINT)`` and returns 128 + the
signal's number (130, or 143 for SIGTERM). A second signal ends the process at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

import numpy as np

from .._core.errors import JaxcalcError
from . import bench, demo, diff, grid, plot, tangent

_SUBCOMMANDS = (diff, tangent, plot, grid, bench, demo)


class UsageError(JaxcalcError):
    """Command-line arguments argparse rejected."""


#: What argparse must read as a value, not an option: numbers such as -1, -1e3, -.5, -1e-3, -inf.
_NEGATIVE_NUMBER = re.compile(
    r"^-(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER  # argparse's own misses -1e3

    def error(self, message: str):  # one line, no usage dump, exit code 2 via main()
        raise UsageError(f"{self.prog}: {message}")


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during a run."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _interruptible():
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (the library then stops
    its threads and removes partial files); a second signal ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        if received:
            os._exit(128 + received[0])
        received.append(signum)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _quiet():
    """No NumPy floating-point warnings: NaN and inf are results here (any thread)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxcalc", description="Calculus that is fast, exact and safe at scale.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for module in _SUBCOMMANDS:
        sub = module.register(subparsers)
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
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
        with _interruptible(), _quiet():
            payload, text = args.handler(args)
    except JaxcalcError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"error: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    if args.json is True:
        print(json.dumps(_plain(payload), allow_nan=False))
    else:
        print(text)
    return 0


def run() -> None:
    """Console-script entry point. An interrupted run exits at once, skipping the interpreter's
    slow teardown of JAX (~1 s): its files are already removed and its threads stopped."""
    code = main()
    if code > 128:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
