"""``jaxcalc demo``: the lecture's results and homework answers printed, the plots written, the
benchmark run, its table and where jaxcalc overtakes each peer printed (the crossover logic on
constructed timings; the real benchmark at small sizes)."""

from __future__ import annotations

import json

import pytest

from jaxcalc._cli import main
from jaxcalc._tools import bench
from jaxcalc._tools.bench_methods import METHODS, available_methods
from jaxcalc._tools.bench_report import BenchReport, Result

FILES = ["lecture.png", "homework1.png", "homework2.png", "homework3_tangent.png", "accuracy.png"]


def test_demo_prints_the_lecture_and_homework_and_writes_the_plots(tmp_path, capsys):
    outdir = tmp_path / "new" / "folder"  # created, parents included
    assert main(["demo", "--outdir", str(outdir), "--bench-seconds", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  sympy.diff(3*x**2 + 1, x)    -> 6*x" in lines
    assert "  f'(2) by JAX autodiff        -> 12.0" in lines
    assert ("  f'(2) by fd.misc_derivative  -> 12.0   (the removed scipy.misc.derivative)"
            in lines)
    assert "  1. d/dx (x**2 - 6*x + 1) = 2*x - 6" in lines
    assert "  2. d/dx (2*x - 1/x) = 2 + x**(-2)" in lines
    assert "  3. tangent of x**3 - 1/x at x = 1: y = 4*x - 4" in lines
    assert not any(line.startswith("Benchmark") for line in lines)
    assert sorted(p.name for p in outdir.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (outdir / name).read_bytes().startswith(b"\x89PNG")
        assert any(line.split()[:1] == [name] for line in lines)


def test_demo_json_summary_in_the_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--bench-seconds", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lecture"] == {"expression": "3*x**2 + 1", "derivative": "6*x", "at": 2.0,
                                  "ad": 12.0, "misc_derivative": 12.0}
    assert summary["homework"] == [
        {"expression": "x**2 - 6*x + 1", "derivative": "2*x - 6"},
        {"expression": "2*x - 1/x", "derivative": "2 + x**(-2)"},
        {"expression": "x**3 - 1/x", "tangent_at": 1.0, "value": 0.0, "slope": 4.0,
         "line": "4*x - 4"},
    ]
    assert summary["files"] == [f"jaxcalc-demo/{name}" for name in FILES]
    assert summary["benchmark"] is None
    assert all((tmp_path / path).is_file() for path in summary["files"])


def _report(seconds: dict[tuple[str, str], list[float]], sizes) -> BenchReport:
    results = [Result(expression, method, "float64", n, s, n / s, 0.0, 1e-16, 0.1, "float64")
               for (expression, method), row in seconds.items()
               for n, s in zip(sizes, row, strict=True)]
    expressions = {e: e for e, _ in seconds}
    return BenchReport({"backend": "cpu", "cpu": "test CPU", "cpu_count": 2}, {}, 10.0,
                       "numpy.copyto", "float64", expressions, results, [], 1.0)


def test_demo_benchmark_spans_the_crossover_and_says_where(tmp_path, monkeypatch, capsys):
    calls = []
    sizes = (10**3, 10**5, 10**7)
    jaxcalc = [1e-4, 1e-4, 1e-2]
    fake = _report({("3*x**2 + 1", "jaxcalc"): jaxcalc,
                    ("3*x**2 + 1", "numpy_symbolic"): [1e-5, 1e-5, 5e-2],
                    ("3*x**2 + 1", "numpy_fd"): [2e-4, 2e-4, 2e-2],
                    ("x**3 - 1/x", "jaxcalc"): jaxcalc,
                    ("x**3 - 1/x", "numpy_symbolic"): [1e-5, 1e-5, 1e-3]}, sizes)

    def run_benchmark(expressions, **options):
        calls.append((expressions, options))
        return fake

    monkeypatch.setattr(bench, "run_benchmark", run_benchmark)
    assert main(["demo", "--outdir", str(tmp_path), "--bench-seconds", "7"]) == 0
    ((expressions, options),) = calls
    assert expressions == ["3*x**2 + 1", "x**3 - 1/x"]
    assert options["sizes"] == (1e3, 1e4, 1e5, 1e6, 1e7) and options["time_budget"] == 7.0
    assert options["dtype"] == "float64"
    assert options["methods"] == [m for m in ("jaxcalc", "numpy_symbolic", "numexpr", "numpy_fd")
                                  if m in available_methods()]
    text = capsys.readouterr().out
    assert text.endswith("\n".join([
        "Benchmark (float64, time budget 7 s)", fake.table(), "",
        "Where jaxcalc overtakes each peer (jc.derivative(f)(xs) against it, same run)",
        "  3*x**2 + 1: jaxcalc is faster than numpy_fd at every size (1e3 to 1e7; 2.0x at 1e7)",
        "  3*x**2 + 1: jaxcalc overtakes numpy_symbolic at ~2e6 points (slower at 1e5, faster "
        "from 1e7; 5.0x at 1e7)",
        "  x**3 - 1/x: numpy_symbolic stays faster than jaxcalc up to 1e7 points (jaxcalc "
        "runs at 0.1x at 1e7)"]) + "\n")


def test_demo_benchmark_with_no_size_in_common_says_so(tmp_path, monkeypatch, capsys):
    only_jaxcalc = _report({("3*x**2 + 1", "jaxcalc"): [1e-4]}, (10**3,))
    monkeypatch.setattr(bench, "run_benchmark", lambda expressions, **options: only_jaxcalc)
    assert main(["demo", "--outdir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["benchmark"]["crossovers"] == []
    assert main(["demo", "--outdir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.endswith("same run)\n  (no size measured by both)\n")


def test_demo_benchmark_json_at_small_sizes(tmp_path, capsys):
    """The real benchmark, at sizes small enough for a unit test (the demo's are 1e3 ... 1e7)."""
    assert main(["demo", "--outdir", str(tmp_path), "--bench-sizes", "100", "300",
                 "--bench-seconds", "60", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    report, found = summary["benchmark"]["report"], summary["benchmark"]["crossovers"]
    methods = [m for m in METHODS  # tables and JSON list methods in METHODS order
               if m in ("jaxcalc", "numpy_symbolic", "numexpr", "numpy_fd")
               and m in available_methods()]
    assert report["expressions"] == {"3*x**2 + 1": "3*x**2 + 1", "x**3 - 1/x": "x**3 - 1/x"}
    assert [(r["expression"], r["method"], r["n"]) for r in report["results"]] == [
        (e, m, n) for e in report["expressions"] for m in methods for n in (100, 300)]
    assert all(r["cache_resident"] for r in report["results"])
    assert [(c["expression"], c["peer"]) for c in found] == [
        (e, m) for e in report["expressions"] for m in methods[1:]]
    seconds = {(r["expression"], r["method"], r["n"]): r["seconds"] for r in report["results"]}
    for c in found:
        assert c["sizes"] == [100, 300]
        assert c["speedups"] == pytest.approx([seconds[c["expression"], c["peer"], n]
                                               / seconds[c["expression"], "jaxcalc", n]
                                               for n in (100, 300)])
        assert c["sentence"].startswith(f"{c['expression']}: ")


def test_demo_outdir_that_is_a_file_is_an_error(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["demo", "--outdir", str(taken), "--bench-seconds", "0"]) == 2
    assert capsys.readouterr().err.startswith(f"error: --outdir {str(taken)!r}: cannot create")
