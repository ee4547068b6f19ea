"""Pieces every subcommand shares: expressions from arguments, float64 evaluation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._core.errors import InputError
from .._core.function import Function
from .._core.parse import ParseLimits

DTYPE = "float64"  # the CLI computes in float64 (scoped x64, see jaxcalc._core.execute)


def add_expression(parser, several: str = "") -> None:
    """The expression argument (``several``: help for taking more than one) and the parser
    limits, ``--max-length N`` etc.: one option per field of :class:`~jaxcalc.ParseLimits`."""
    parser.add_argument("expression", nargs="+" if several else None,
                        help='a formula such as "x**3 - 1/x" (^ also means power)' + several)
    group = parser.add_argument_group("parser limits (see jc.ParseLimits)")
    for field in dataclasses.fields(ParseLimits):
        group.add_argument(f"--{field.name.replace('_', '-')}", type=int, metavar="N",
                           default=field.default, help=f"default {field.default}")


def limits(args) -> ParseLimits:
    """The parser limits the command line asked for (validated by ParseLimits)."""
    return ParseLimits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ParseLimits)})


def function(args, text: str | list[str] | None = None) -> Function:
    """The Function of ``text`` (default: the command's expression), within ``--max-*``."""
    return Function(args.expression if text is None else text, limits=limits(args))


def number(text: str) -> float:
    """A finite float from the command line (argparse ``type=``)."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"expected a finite number, got {text!r}")
    return value


def floats(values) -> list[float]:
    """Plain Python floats (NaN stays NaN; the JSON writer turns it into null)."""
    return [float(v) for v in np.ravel(np.asarray(values, dtype=np.float64))]


def show(value: float) -> str:
    return repr(float(value))
