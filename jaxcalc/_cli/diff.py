"""``jaxcalc diff EXPR [--wrt x] [--order n] [--at V ...]``: the exact derivative and its values."""

from __future__ import annotations

from .._core.derive import _as_function
from .._core.errors import InputError
from .._core.function import pick_variable
from . import common


def register(subparsers):
    parser = subparsers.add_parser("diff", help="differentiate an expression")
    common.add_expression(parser)
    parser.add_argument("--wrt", help="the variable (needed when there are several)")
    parser.add_argument("--order", type=int, default=1, help="derivative order (default 1)")
    parser.add_argument(
        "--at", nargs="+", metavar="V",
        help="points to evaluate at: numbers for one variable, or x=1,y=2 per point",
    )
    parser.set_defaults(handler=handle)
    return parser


def _points(specs, variables):
    """``--at`` values as one list of floats per variable."""
    columns = {v: [] for v in variables}
    for spec in specs:
        if "=" not in spec and len(variables) == 1:
            columns[variables[0]].append(common.number(spec))
            continue
        pairs = dict(p.split("=", 1) for p in spec.split(",") if "=" in p)
        if set(pairs) != set(variables):
            raise InputError(
                f"--at {spec!r}: give a value for each of {', '.join(variables)}, "
                f"e.g. {','.join(v + '=1' for v in variables)}"
            )
        for v in variables:
            columns[v].append(common.number(pairs[v]))
    return [columns[v] for v in variables]


def handle(args):
    f = common.function(args)
    if args.wrt is None and len(f.variables) > 1:
        raise InputError(
            f"`{args.expression}` has variables {', '.join(f.variables)}: choose one with --wrt"
        )
    f = _as_function(f, args.wrt)  # a constant is a function of --wrt (default x)
    wrt = pick_variable(f.variables, args.wrt)
    exact = f.diff(wrt, args.order)
    payload = {
        "expression": args.expression,
        "variable": wrt,
        "order": args.order,
        "derivative": str(exact.expr),
    }
    lines = [str(exact.expr)]
    if args.at:
        points = _points(args.at, f.variables)
        values = common.floats(exact(*points, dtype=common.DTYPE))  # the printed derivative
        rows = [list(p) for p in zip(*points, strict=True)]
        payload["at"] = points[0] if len(points) == 1 else rows
        payload["values"] = values
        for row, value in zip(rows, values, strict=True):
            pairs = zip(f.variables, row, strict=True)
            where = ", ".join(f"{v} = {common.show(p)}" for v, p in pairs)
            lines.append(f"at {where}: {common.show(value)}")
    return payload, "\n".join(lines)
