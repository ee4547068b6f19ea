"""``jaxcalc bench [EXPR ...]``: speed and accuracy of f' by jaxcalc and by the baselines.

Prints the table; ``--json FILE`` writes the report (``--json -`` prints it instead of the
table), ``--plot FILE`` the throughput chart, ``--accuracy-plot FILE`` the error-against-step
chart of the first expression at ``--accuracy-at``. Schema and measures: ``jaxcalc._tools.bench``.
"""

from __future__ import annotations

import json
import sys

from .._grid.files import writable
from .._tools.bench import DEFAULT_EXPRESSIONS, run_benchmark
from .._tools.bench_methods import METHODS
from . import common


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="benchmark f' by AD, symbolic, finite differences, numexpr, ...")
    parser.add_argument("expressions", nargs="*", metavar="EXPR",
                        help="expressions of one variable (default: the five functions f1..f5)")
    parser.add_argument("--sizes", nargs="+", type=common.number, default=[1e4, 1e5],
                        metavar="N", help="grid sizes, e.g. 1e4 1e5 (default)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help=f"methods to run (default: all installed of {', '.join(METHODS)})")
    parser.add_argument("--json", metavar="FILE",
                        help="write the report as JSON ('-': print it instead of the table)")
    parser.add_argument("--plot", metavar="FILE",
                        help="write throughput against N (.png, .svg or .pdf)")
    parser.add_argument("--accuracy-plot", metavar="FILE",
                        help="write the FD error-against-step chart (first EXPR, or f2)")
    parser.add_argument("--accuracy-at", type=common.number, default=1.5, metavar="X0",
                        help="the point of the accuracy chart (default 1.5)")
    parser.add_argument("--time-budget", type=common.number, metavar="S",
                        help="soft limit in seconds: skip cells predicted to overrun it")
    parser.add_argument("--max-call-seconds", type=common.number, default=10.0, metavar="S",
                        help="skip a cell whose one call is predicted to take longer (default 10)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", action="store_true", default=None,
                          help="show a progress bar on stderr (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(handler=handle)
    return parser


def handle(args):
    if args.json and args.json != "-":  # check output paths before minutes of work
        writable(args.json)
    if args.plot or args.accuracy_plot:
        from .._tools.plot import output_path

        for path in filter(None, (args.plot, args.accuracy_plot)):
            output_path(path)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    report = run_benchmark(args.expressions or None, sizes=args.sizes, dtype=args.dtype,
                           methods=args.methods, progress=progress, time_budget=args.time_budget,
                           max_call_seconds=args.max_call_seconds)
    payload = report.to_json()
    notes = []
    if args.json and args.json != "-":
        notes.append(f"wrote {report.write_json(args.json)}")
    if args.plot:
        notes.append(f"wrote {report.plot(args.plot)}")
    if args.accuracy_plot:
        from .._tools.plot import plot_accuracy, save

        first = args.expressions[0] if args.expressions else DEFAULT_EXPRESSIONS["f2"]
        ax = plot_accuracy(first, at=args.accuracy_at)
        notes.append(f"wrote {save(ax.figure, args.accuracy_plot)}")
    if args.json == "-":
        return payload, json.dumps(payload, allow_nan=False)
    return payload, "\n".join([report.table(), *([""] + notes if notes else [])])
