"""``jaxcalc diff EXPR [EXPR ...] [--wrt x] [--order n] [--jacobian] [--at V ...]``: exact
derivatives and their values.

One expression: its derivative (``--wrt``, ``--order``). Several expressions with
``--jacobian``: the Jacobian matrix of the vector-valued formula, one row per expression.
The derivative printed is SymPy's; the values at ``--at`` are those of ``jc.derivative``'s
default path, the same function computed where the printed form would cancel (near 0 the
second derivative of ``sin(x)/x`` as printed, ``-sin(x)/x - 2*cos(x)/x**2 + 2*sin(x)/x**3``,
rounds to 0 at 1e-8 and is NaN at 0; its value is -1/3).
"""

from __future__ import annotations

import numpy as np

from .._core.derive import derivative, jacobian
from .._core.errors import InputError
from .._core.function import as_function
from .._core.symbolic import pick_variable
from . import common


def register(subparsers):
    parser = subparsers.add_parser("diff", help="differentiate an expression (or a Jacobian)")
    common.add_expression(parser, several="; several with --jacobian")
    parser.add_argument("--wrt", help="the variable (needed when there are several)")
    parser.add_argument("--order", type=int, default=1, help="derivative order (default 1)")
    parser.add_argument("--jacobian", action="store_true",
                        help="the Jacobian of the expressions, one row each, over all variables")
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
    if args.jacobian:
        return _jacobian(args)
    if len(args.expression) > 1:
        raise InputError("several expressions need --jacobian (or differentiate one at a time)")
    (text,) = args.expression
    f = common.function(args, text)
    if args.wrt is None and len(f.variables) > 1:
        raise InputError(f"`{text}` has variables {', '.join(f.variables)}: choose one with --wrt")
    f = as_function(f, args.wrt)  # a constant is a function of --wrt (default x)
    wrt = pick_variable(f.variables, args.wrt)
    exact = derivative(f, wrt, args.order, method="symbolic")
    payload = {"expression": text, "variable": wrt, "order": args.order,
               "derivative": str(exact.expr)}
    return _evaluated(args, f, lambda: derivative(f, wrt, args.order), payload,
                      str(exact.expr), common.show)


def _jacobian(args):
    if args.wrt is not None or args.order != 1:
        raise InputError("--jacobian takes all first derivatives: drop --wrt and --order")
    f = as_function(common.function(args))
    matrix = jacobian(f)
    rows = [[str(entry) for entry in row] for row in matrix.expr.tolist()]
    payload = {"expressions": list(args.expression), "variables": list(f.variables),
               "jacobian": rows}
    text = "\n".join("[" + ", ".join(row) + "]" for row in rows)
    return _evaluated(args, f, lambda: matrix, payload, text, str)


def _evaluated(args, f, evaluator, payload, text, show):
    """Add the values of ``evaluator()`` (built only for ``--at``) at the ``--at`` points to
    ``payload`` and ``text``."""
    lines = [text]
    if args.at:
        points = _points(args.at, f.variables)
        values = np.asarray(evaluator()(*points, dtype=common.DTYPE), np.float64).tolist()
        rows = [list(p) for p in zip(*points, strict=True)]
        payload["at"] = points[0] if len(points) == 1 else rows
        payload["values"] = values
        for row, value in zip(rows, values, strict=True):
            where = ", ".join(f"{v} = {common.show(p)}"
                              for v, p in zip(f.variables, row, strict=True))
            lines.append(f"at {where}: {show(value)}")
    return payload, "\n".join(lines)
