"""``jaxcalc demo [--outdir DIR] [--bench-seconds S]``: the calculus lecture, end to end.

The lecture differentiates u = f(x) = 3x² + 1 with SymPy (``6*x``) and, at x = 2, with
``scipy.misc.derivative`` (``12.0``), plots f, and sets three exercises. The demo answers all of
it with jaxcalc, draws the plots into DIR, and times a short benchmark.
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


def register(subparsers):
    parser = subparsers.add_parser("demo", help="the calculus lecture, end to end")
    parser.add_argument("--outdir", default="jaxcalc-demo", metavar="DIR",
                        help="where the plots go (created if missing; default jaxcalc-demo)")
    parser.add_argument("--bench-seconds", type=common.number, default=10.0, metavar="S",
                        help="time budget of the benchmark (default 10; 0 skips it)")
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


def _benchmark(seconds: float) -> str | None:
    """f' of the lecture's function and of the tangent exercise's, by every installed method."""
    if seconds <= 0:
        return None
    from .._tools.bench import run_benchmark

    report = run_benchmark([LECTURE, HOMEWORK[2]], sizes=(10**4, 10**5), dtype=common.DTYPE,
                           time_budget=seconds)
    return report.table()


def handle(args):
    outdir = _outdir(args.outdir)
    lecture, lecture_lines = _lecture()
    homework, homework_lines = _homework()
    files, plot_lines = _plots(outdir)
    table = _benchmark(args.bench_seconds)
    payload = {"lecture": lecture, "homework": homework, "files": files, "benchmark": table}
    sections = [lecture_lines, homework_lines, plot_lines]
    if table is not None:
        title = f"Benchmark (float64, time budget {args.bench_seconds:g} s)"
        sections.append([title, table])
    return payload, "\n\n".join("\n".join(lines) for lines in sections)
