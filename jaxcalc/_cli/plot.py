"""``jaxcalc plot EXPR [--range A B] [--derivative] [--second-derivative] [--tangent-at X0 ...]
-o FILE``: draw a function (contours with gradient arrows for two variables) to PNG, SVG or PDF."""

from __future__ import annotations

from .._core.errors import InputError
from .._tools import plot as _plot
from . import common


def register(subparsers):
    parser = subparsers.add_parser(
        "plot", help="plot a function, its derivatives and tangents (PNG, SVG or PDF)"
    )
    common.add_expression(parser)
    parser.add_argument("--range", nargs=2, type=common.number, metavar=("A", "B"),
                        help="the x-range (and y-range for two variables); default -3 3")
    parser.add_argument("--derivative", action="store_true", help="also draw f' (by AD)")
    parser.add_argument("--second-derivative", action="store_true", help="also draw f''")
    parser.add_argument("--tangent-at", nargs="+", type=common.number, default=[],
                        metavar="X0", help="draw the tangent line at these points")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the file to write; .png, .svg or .pdf")
    parser.set_defaults(handler=handle)
    return parser


def handle(args):
    _plot.output_path(args.output)  # a bad file name fails before any work
    if args.range and args.range[0] >= args.range[1]:
        raise InputError(f"--range A B needs A < B, got {args.range[0]} {args.range[1]}")
    f = common.function(args)
    orders = [n for n, wanted in ((1, args.derivative), (2, args.second_derivative)) if wanted]
    if len(f.variables) == 2:
        if orders or args.tangent_at:
            raise InputError(
                "--derivative, --second-derivative and --tangent-at apply to functions of one "
                f"variable; `{args.expression}` has two and is drawn as contours with its "
                "gradient: drop those options"
            )
        ax = _plot.plot_contour(f, args.range or (-3.0, 3.0))
    else:
        ax = _plot.plot_function(f, args.range, derivatives=orders, tangent_at=args.tangent_at)
    path = _plot.save(ax.figure, args.output)
    xrange = [float(v) for v in ax.get_xlim()]
    payload = {"expression": args.expression, "range": xrange, "file": str(path)}
    return payload, f"wrote {path}"
