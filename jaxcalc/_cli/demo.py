"""``jaxcalc demo [--outdir DIR] [--bench-seconds S] [--bench-sizes N ...]``: the lecture.

The lecture differentiates u = f(x) = 3x² + 1 with SymPy (``6*x``) and, at x = 2, with
``scipy.misc.derivative`` (``12.0``), plots f, and sets three exercises. The demo answers all of
it with jaxcalc, draws the plots into DIR, and benchmarks f' of the lecture's function and of the
tangent exercise's from 10^3 to 10^7 points: small grids are bound by per-call dispatch, where
NumPy wins, large ones by memory and arithmetic, where compiled, fused code can; a line per peer
says where jaxcalc overtakes it, or that it does not (about 30 s on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

from .._core.derive import derivative
from .._core.errors import InputError
from .._core.function import Function
from .._core.tangent import tangent
from .._tools import fd
from .._tools import plot as _plot
from . import common

LECTURE = "3*x**2 + 1"
HOMEWORK = ("x**2 - 6*x + 1", "2*x - 1/x", "x**3 - 1/x")
ACCURACY = ("exp(sin(x))", 1.0)  # smooth, with rounding noise that FD cannot hide
BENCH_SIZES = (1e3, 1e4, 1e5, 1e6, 1e7)  # spans the crossover: dispatch-bound to memory-bound
BENCH_METHODS = ("jaxcalc", "numpy_symbolic", "numexpr", "numpy_fd")  # jc.derivative and peers


def register(subparsers):
    parser = subparsers.add_parser("demo", help="the calculus lecture, end to end")
    parser.add_argument("--outdir", default="jaxcalc-demo", metavar="DIR",
                        help="where the plots go (created if missing; default jaxcalc-demo)")
    parser.add_argument("--bench-seconds", type=common.number, default=30.0, metavar="S",
                        help="time budget of the benchmark (default 30; 0 skips it)")
    parser.add_argument("--bench-sizes", type=common.number, nargs="+", default=BENCH_SIZES,
                        metavar="N", help="grid sizes of the benchmark (default 1e3 ... 1e7)")
    parser.set_defaults(handler=handle)
    return parser


def _outdir(path: str) -> Path:
    outdir = Path(path)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--outdir {path!r}: cannot create that folder ({e.strerror})") from e
    return outdir


def _lecture() -> tuple[dict, list[str]]:
    f = Function(LECTURE)
    at = 2.0
    ad = float(derivative(f)(at, dtype=common.DTYPE))
    misc = float(fd.misc_derivative(lambda x: float(f(x, dtype=common.DTYPE)), at))
    result = {"expression": LECTURE, "derivative": str(f.diff().expr), "at": at,
              "ad": ad, "misc_derivative": misc}
    rows = {
        f"sympy.diff({LECTURE}, x)": result["derivative"],
        f"f'({at:g}) by JAX autodiff": repr(ad),
        f"f'({at:g}) by fd.misc_derivative": f"{misc!r}   (the removed scipy.misc.derivative)",
    }
    lines = [f"The lecture: u = f(x) = {LECTURE}"]
    lines += [f"  {name:<28} -> {value}" for name, value in rows.items()]
    return result, lines


def _homework() -> tuple[list[dict], list[str]]:
    results, lines = [], ["Homework"]
    for i, text in enumerate(HOMEWORK[:2], 1):
        d = str(Function(text).diff().expr)
        results.append({"expression": text, "derivative": d})
        lines.append(f"  {i}. d/dx ({text}) = {d}")
    text, at = HOMEWORK[2], 1.0
    t = tangent(text, at, dtype=common.DTYPE)
    results.append({"expression": text, "tangent_at": at, "value": float(t.value),
                    "slope": float(t.slope), "line": str(t.line)})
    lines.append(f"  3. tangent of {text} at x = {at:g}: y = {t.line}")
    return results, lines


def _plots(outdir: Path) -> tuple[list[str], list[str]]:
    plot, accuracy = _plot.plot_function, _plot.plot_accuracy
    figures = {  # file: (how, what, options)
        "lecture.png": (plot, LECTURE, {"xrange": (-3, 3), "derivatives": (1,)}),
        "homework1.png": (plot, HOMEWORK[0], {"xrange": (-1, 7), "derivatives": (1,)}),
        "homework2.png": (plot, HOMEWORK[1], {"xrange": (-3, 3), "derivatives": (1,)}),
        "homework3_tangent.png": (plot, HOMEWORK[2], {"xrange": (-3, 3), "tangent_at": 1.0}),
        "accuracy.png": (accuracy, ACCURACY[0], {"at": ACCURACY[1]}),
    }
    files, lines = [], [f"Plots in {outdir}/"]
    for name, (draw, expression, options) in figures.items():
        files.append(str(_plot.save(draw(expression, **options).figure, outdir / name)))
        lines.append(f"  {name:<22} {expression}")
    return files, lines


def _benchmark(seconds: float, sizes) -> tuple[dict | None, list[str]]:
    """f' of the lecture's function and of the tangent exercise's by ``jc.derivative`` and its
    installed peers: the report's JSON with the crossovers, and the lines to print."""
    if seconds <= 0:
        return None, []
    from .._tools.bench import run_benchmark
    from .._tools.bench_methods import available_methods
    from .._tools.bench_report import crossovers

    methods = [m for m in BENCH_METHODS if m in available_methods()]
    report = run_benchmark([LECTURE, HOMEWORK[2]], sizes=sizes, dtype=common.DTYPE,
                           methods=methods, time_budget=seconds)
    found = crossovers(report, "jaxcalc")
    lines = [f"Benchmark ({common.DTYPE}, time budget {seconds:g} s)", report.table(), "",
             "Where jaxcalc overtakes each peer (jc.derivative(f)(xs) against it, same run)"]
    lines += [f"  {c.sentence()}" for c in found] or ["  (no size measured by both)"]
    return {"report": report.to_json(), "crossovers": [c.to_json() for c in found]}, lines


def handle(args):
    outdir = _outdir(args.outdir)
    lecture, lecture_lines = _lecture()
    homework, homework_lines = _homework()
    files, plot_lines = _plots(outdir)
    benchmark, bench_lines = _benchmark(args.bench_seconds, args.bench_sizes)
    payload = {"lecture": lecture, "homework": homework, "files": files, "benchmark": benchmark}
    sections = [lecture_lines, homework_lines, plot_lines]
    if bench_lines:
        sections.append(bench_lines)
    return payload, "\n\n".join("\n".join(lines) for lines in sections)
