"""``jaxcalc grid EXPR --range A B --points N [--order n] [--reduce R] [-o FILE.npy]``: a function
or its derivative over a lazy grid, streamed into a reduction or a ``.npy`` file."""

from __future__ import annotations

import argparse
import sys

from .._core.derive import derivative
from .._core.errors import InputError
from .._core.function import Function
from .._grid.evaluate import run
from .._grid.grids import linspace, whole_number
from .._grid.reduce import REDUCTIONS
from . import common

#: Without --reduce or -o, at most this many values are printed.
MAX_PRINTED = 10_000


def _points(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (1e9 is fine), got {text!r}")
    return int(value)


def register(subparsers):
    parser = subparsers.add_parser(
        "grid", help="evaluate f or a derivative on up to billions of points, streamed"
    )
    common.add_expression(parser)
    parser.add_argument("--range", nargs=2, type=common.number, required=True,
                        metavar=("A", "B"), help="the interval (both ends are grid points)")
    parser.add_argument("--points", type=_points, required=True, metavar="N",
                        help="number of evenly spaced points; 1e9 is fine")
    parser.add_argument("--order", type=int, default=0,
                        help="derivative order (default 0: the function itself)")
    parser.add_argument("--reduce", choices=tuple(REDUCTIONS),
                        help="stream a reduction instead of keeping the values")
    parser.add_argument("-o", "--output", metavar="FILE.npy", help="write the values to a .npy")
    parser.set_defaults(handler=handle)
    return parser


def handle(args):
    f = common.function(args)
    if len(f.variables) > 1:
        raise InputError(f"`grid` takes a function of one variable; `{args.expression}` has "
                         f"{', '.join(f.variables)}")
    if not f.variables:  # a constant, over x
        f = Function(f.expr, variables=("x",))
    if args.reduce and args.output:
        raise InputError("pass either --reduce or -o, not both")
    if not args.reduce and not args.output and args.points > MAX_PRINTED:
        raise InputError(f"refusing to print {args.points:,} values: pass --reduce "
                         f"{{{','.join(REDUCTIONS)}}} or -o FILE.npy "
                         f"(or --points <= {MAX_PRINTED})")
    whole_number(args.points, "--points")  # at most 2**53: the message names the option
    fn = f if args.order == 0 else derivative(f, n=args.order)
    grid = linspace(*args.range, args.points)
    result = run(fn, grid, reduce=args.reduce, out=args.output, dtype=common.DTYPE,
                 progress=sys.stderr.isatty())
    payload = {
        "expression": args.expression,
        "order": args.order,
        "points": args.points,
        "reduce": args.reduce,
        "seconds": result.seconds,
        "points_per_second": args.points / result.seconds if result.seconds > 0 else None,
        "device": result.device,
        "devices": result.devices,
    }
    x = f.variables[0]
    what = f"d^{args.order}/d{x}^{args.order} of {f.expr}" if args.order else str(f.expr)
    timing = (f"{args.points:,} points in {result.seconds:.2f} s "
              f"({args.points / max(result.seconds, 1e-9) / 1e6:.1f} Mpts/s, "
              f"{result.devices} {result.device} device{'s' if result.devices > 1 else ''})")
    if args.reduce:
        value = result.value
        if args.reduce in ("argmax", "argmin"):
            at = grid.values(value, value + 1)[0]
            payload.update(value=value, at=float(at))
            text = f"{args.reduce} of {what}: index {value}, {f.variables[0]} = {common.show(at)}"
        else:
            payload["value"] = float(value)
            text = f"{args.reduce} of {what}: {common.show(value)}"
        return payload, f"{text}\n{timing}"
    if args.output:
        payload["output"] = args.output
        return payload, f"wrote {what} to {args.output}\n{timing}"
    values = common.floats(result.value)
    payload["values"] = values
    xs = grid.values()
    lines = (f"{common.show(x)} {common.show(y)}" for x, y in zip(xs, values, strict=True))
    return payload, "\n".join(lines)
