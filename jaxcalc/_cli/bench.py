"""``jaxcalc bench [EXPR ...]``: speed and accuracy of f' by jaxcalc and by the baselines.

Prints the table, or with ``--json`` the report as one JSON object (the schema of
``jaxcalc._tools.bench_report``); ``--save FILE`` also writes that object to FILE, ``--plot
FILE`` the throughput chart, ``--accuracy-plot FILE`` the accuracy chart (the FD error against
the step for the first expression at ``--accuracy-at``, above the tail case's error along x).
Everything is computed in ``--dtype``. Measures: ``jaxcalc._tools.bench``.
"""

from __future__ import annotations

import sys

from .._grid.files import writable
from .._tools.bench import GRID_FUNCTIONS, TAIL_CASE, run_benchmark
from .._tools.bench_methods import METHODS
from . import common


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="benchmark f' by AD, symbolic, finite differences, numexpr, ...")
    parser.add_argument("expressions", nargs="*", metavar="EXPR",
                        help="expressions of one variable (default: f1..f5 and the tail case "
                             f"{TAIL_CASE})")
    parser.add_argument("--sizes", nargs="+", type=common.number, default=[1e4, 1e5],
                        metavar="N", help="grid sizes, e.g. 1e4 1e5 (default)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                        help="what every method computes in, the charts included "
                             "(default float64)")
    parser.add_argument("--methods", nargs="+", metavar="NAME",
                        help=f"methods to run (default: all installed of {', '.join(METHODS)})")
    parser.add_argument("--save", metavar="FILE",
                        help="write the report as JSON to FILE (what --json prints)")
    parser.add_argument("--plot", metavar="FILE",
                        help="write throughput against N (.png, .svg or .pdf)")
    parser.add_argument("--accuracy-plot", metavar="FILE",
                        help="write the accuracy chart: FD error against the step (first EXPR, "
                             "or f2) above the tail case's error along x")
    parser.add_argument("--accuracy-at", type=common.number, default=1.5, metavar="X0",
                        help="the point of the step chart (default 1.5)")
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
    if args.save:  # check output paths before minutes of work
        writable(args.save)
    if args.plot or args.accuracy_plot:
        from .._tools.plot import output_path

        for path in filter(None, (args.plot, args.accuracy_plot)):
            output_path(path)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    report = run_benchmark(args.expressions or None, sizes=args.sizes, dtype=args.dtype,
                           methods=args.methods, progress=progress, time_budget=args.time_budget,
                           max_call_seconds=args.max_call_seconds)
    notes = []
    if args.save:
        notes.append(f"wrote {report.write_json(args.save)}")
    if args.plot:
        notes.append(f"wrote {report.plot(args.plot)}")
    if args.accuracy_plot:
        from .._tools.bench_accuracy import accuracy_figure
        from .._tools.plot import save

        first = args.expressions[0] if args.expressions else GRID_FUNCTIONS["f2"]
        figure = accuracy_figure(first, args.accuracy_at, args.dtype)
        notes.append(f"wrote {save(figure, args.accuracy_plot)}")
    return report.to_json(), "\n".join([report.table(), *([""] + notes if notes else [])])
