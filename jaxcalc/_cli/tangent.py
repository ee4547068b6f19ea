"""``jaxcalc tangent EXPR --at X0 [--plot FILE]``: the tangent line of a one-variable function."""

from __future__ import annotations

import math

from .._core.errors import InputError
from .._core.tangent import tangent
from .._tools import plot as _plot
from . import common


def register(subparsers):
    parser = subparsers.add_parser("tangent", help="the tangent line at a point")
    common.add_expression(parser)
    parser.add_argument("--at", type=common.number, required=True, metavar="X0",
                        help="the point of tangency")
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw f and the tangent to FILE (.png, .svg or .pdf)")
    parser.set_defaults(handler=handle)
    return parser


def handle(args):
    if args.plot:
        _plot.output_path(args.plot)  # a bad file name fails before any work
    f = common.function(args)
    t = tangent(f, args.at, dtype=common.DTYPE)
    value, slope = float(t.value), float(t.slope)
    if not (math.isfinite(value) and math.isfinite(slope)):
        raise InputError(
            f"`{args.expression}` has no tangent at {t.variable} = {args.at}: "
            f"value {value}, slope {slope}"
        )
    payload = {
        "expression": args.expression,
        "point": float(t.point),
        "value": value,
        "slope": slope,
        "intercept": float(t.intercept),
        "line": str(t.line),
    }
    text = (
        f"y = {t.line}\n"
        f"point {t.variable} = {common.show(t.point)}, value {common.show(value)}, "
        f"slope {common.show(slope)}, intercept {common.show(t.intercept)}"
    )
    if args.plot:
        ax = _plot.plot_function(f, tangent_at=args.at)
        payload["plot"] = str(_plot.save(ax.figure, args.plot))
        text += f"\nwrote {payload['plot']}"
    return payload, text
