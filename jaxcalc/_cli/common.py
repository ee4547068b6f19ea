"""Pieces every subcommand shares: expressions from arguments, float64 evaluation."""

from __future__ import annotations

import math

import numpy as np

from .._core.errors import InputError
from .._core.function import Function

DTYPE = "float64"  # the CLI computes in float64 (scoped x64, see jaxcalc._core.execute)


def add_expression(parser) -> None:
    parser.add_argument("expression", help='a formula such as "x**3 - 1/x" (^ also means power)')


def function(args) -> Function:
    return Function(args.expression)


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
