"""Smoke tests of the benchmark harness on tiny sizes: schema, measured errors, table, plot, CLI.

Nothing here is timed; speed lives in ``bench/``. The error assertions are measurements of
this run, not assumptions: AD is exact to rounding, finite differences are not.
"""

import json
import math
import re

import jax
import numpy as np
import pytest
import sympy
from conftest import mpmath_value

from jaxcalc import fd
from jaxcalc._cli import main
from jaxcalc._core.errors import InputError, ResourceError
from jaxcalc._tools.bench import DEFAULT_EXPRESSIONS, run_benchmark
from jaxcalc._tools.bench_measure import grid, max_relative_error, reference
from jaxcalc._tools.bench_methods import METHODS, Case, available_methods, central_difference
from jaxcalc._tools.bench_report import BenchReport

F2 = DEFAULT_EXPRESSIONS["f2"]
QUICK = {"repeat_seconds": 0.005}
RESULT_KEYS = {"expression": str, "method": str, "dtype": str, "n": int, "seconds": float,
               "points_per_second": float, "compile_seconds": float, "max_rel_error": float,
               "roof_fraction": float, "output_dtype": str}


@pytest.fixture(scope="module")
def report():
    """One float64 run of f2 by every installed method at two tiny sizes."""
    return run_benchmark({"f2": F2}, sizes=(300, 2000), **QUICK)


@pytest.fixture(scope="module")
def report32():
    return run_benchmark([F2], sizes=(1000,), dtype="float32",
                         methods=["jaxcalc_ad", "jaxcalc_symbolic", "numpy_fd"], **QUICK)


def test_method_names_are_the_documented_ones():
    assert list(METHODS) == ["jaxcalc_ad", "jaxcalc_symbolic", "numpy_fd", "numpy_symbolic",
                             "numexpr", "scipy_differentiate", "cupy_fd"]
    assert set(available_methods()) >= {"jaxcalc_ad", "jaxcalc_symbolic", "numpy_fd",
                                        "numpy_symbolic"}


def test_default_expressions_are_the_grid_issue_functions():
    x = sympy.Symbol("x", real=True)
    f4 = Case.from_text("f4", DEFAULT_EXPRESSIONS["f4"]).function.expr
    assert sympy.expand(f4 - sum(x**k / sympy.factorial(k) for k in range(40))) == 0
    f5 = Case.from_text("f5", DEFAULT_EXPRESSIONS["f5"]).function.expr
    assert sympy.count_ops(f5, visual=True).coeff(sympy.Symbol("COSH")) == 10
    assert list(DEFAULT_EXPRESSIONS) == ["f1", "f2", "f3", "f4", "f5"]


def test_json_has_the_documented_schema(report):
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert {"machine", "versions", "roof_gbps", "results", "skipped", "expressions",
            "dtype"} <= set(data)
    assert isinstance(data["roof_gbps"], float) and data["roof_gbps"] > 0
    assert data["machine"]["backend"] == jax.default_backend()
    assert data["machine"]["cpu_count"] >= 1
    assert {"jaxcalc", "jax", "numpy", "sympy", "mpmath"} <= set(data["versions"])
    assert data["expressions"] == {"f2": F2}
    assert data["skipped"] == []
    assert len(data["results"]) == 2 * len(available_methods())
    for row in data["results"]:
        assert set(row) == set(RESULT_KEYS)
        for key, kind in RESULT_KEYS.items():
            assert isinstance(row[key], kind), (key, row)
        assert row["points_per_second"] == pytest.approx(row["n"] / row["seconds"])
        assert row["seconds"] > 0 and row["compile_seconds"] >= 0
    assert [r["n"] for r in data["results"][:2]] == [300, 2000]


def test_float64_errors_are_measured_ad_exact_fd_not(report):
    errors = {(r.method, r.n): r.max_rel_error for r in report.results}
    for n in (300, 2000):
        assert errors["jaxcalc_ad", n] < 1e-15
        assert errors["jaxcalc_symbolic", n] < 1e-15
        assert errors["numpy_symbolic", n] < 1e-15
        assert 1e-12 < errors["numpy_fd", n] < 1e-8  # cbrt(eps) step: ~1e-10, as measured
    if "scipy_differentiate" in available_methods():
        assert 1e-15 < errors["scipy_differentiate", 2000] < 1e-8


def test_float32_errors_scale_with_its_epsilon(report32):
    errors = {r.method: r.max_rel_error for r in report32.results}
    assert errors["jaxcalc_ad"] < 1e-6 and errors["jaxcalc_symbolic"] < 1e-6
    assert 1e-6 < errors["numpy_fd"] < 1e-2
    assert {r.output_dtype for r in report32.results} == {"float32"}


def test_reference_is_mpmath_at_50_digits_as_a_double_double():
    case = Case.from_text("f3", DEFAULT_EXPRESSIONS["f3"])
    points = grid(5, np.dtype("float64"))
    hi, lo = reference(case, points)
    for p, h, lo_part in zip(points, hi, lo, strict=True):
        assert h == mpmath_value(case.function.expr, float(p), n=1)
        assert abs(lo_part) <= abs(h) * 2**-53
    assert reference(case, points) is reference(case, points)  # computed once


def test_error_measure_floor_and_non_finite():
    ref = (np.array([4.0, 0.0, -2.0]), np.zeros(3))
    assert max_relative_error(ref[0], ref) == 0.0
    # |error| at the zero of f' is scaled by 1e-3 * max |f'| = 4e-3, not by 0
    assert max_relative_error([4.0, 4e-9, -2.0], ref) == pytest.approx(1e-6)
    assert max_relative_error([4.0, 0.0, np.nan], ref) == math.inf
    assert math.isnan(max_relative_error([1.0], (np.array([np.nan]), np.zeros(1))))


def test_grid_shares_its_first_points_across_sizes():
    small, large = grid(10, np.dtype("float64")), grid(1000, np.dtype("float64"))
    np.testing.assert_array_equal(small, large[:10])
    assert large.min() >= 0.5 and large.max() <= 3.0
    assert grid(10, np.dtype("float32")).dtype == np.float32


def test_central_difference_for_array_modules_matches_fd():
    x = grid(1000, np.dtype("float64"))
    f = Case.from_text("f3", DEFAULT_EXPRESSIONS["f3"]).numpy_function
    np.testing.assert_array_equal(central_difference(f, x, np), fd.difference(f, x))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(central_difference(f, x32, np), fd.difference(f, x32))


def test_table_lists_every_cell(report):
    text = report.table()
    lines = text.splitlines()
    assert lines[0].startswith(f"jaxcalc bench: float64 on {jax.default_backend()}")
    assert "copy roof" in lines[0]
    assert lines[2].split()[:4] == ["expression", "method", "n", "seconds"]
    for method in available_methods():
        rows = [line for line in lines if line.split()[1:2] == [method]]
        assert [r.split()[2] for r in rows] == ["300", "2000"]
    assert lines[-1] == f"f2 = {F2}"


def test_markdown_and_json_round_trip(report):
    again = BenchReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.to_json() == report.to_json()
    page = again.markdown().splitlines()
    assert page[0] == f"# jaxcalc bench, float64, {report.created[:10]}"
    assert f"- f2: `{F2}`" in page
    header = page.index("| expression | method | n | seconds | Mpts/s | % roof | compile s | "
                        "max rel err |")
    body = page[header + 2:]
    assert len(body) == len(report.results) and body[0].startswith("| `f2` | jaxcalc_ad | 300 |")
    assert all(row.count("|") == 9 for row in body)


def test_failures_and_slow_cells_are_skipped_and_reported():
    rep = run_benchmark(["sin(x)**2"], sizes=(100, 10**5), max_call_seconds=1e-7,
                        methods=["numpy_symbolic"], **QUICK)
    assert [r.n for r in rep.results] == [100]
    (skip,) = rep.skipped
    assert (skip.n, skip.method) == (10**5, "numpy_symbolic")
    assert skip.reason.startswith("estimated")
    assert "skipped: estimated" in rep.table()
    assert rep.to_json()["skipped"][0]["reason"] == skip.reason


def test_a_spent_time_budget_skips_the_rest():
    rep = run_benchmark([F2], sizes=(100,), methods=["numpy_fd"], time_budget=1e-6)
    assert rep.results == []
    assert [s.reason for s in rep.skipped] == ["time budget spent"]


def test_a_method_that_fails_is_skipped_at_every_size(monkeypatch):
    def broken(case, dtype):
        raise RuntimeError("no such thing")

    monkeypatch.setitem(METHODS, "numpy_fd", METHODS["numpy_fd"].__class__("numpy_fd", broken))
    rep = run_benchmark([F2], sizes=(100, 200), methods=["numpy_fd", "jaxcalc_ad"], **QUICK)
    assert [(r.method, r.n) for r in rep.results] == [("jaxcalc_ad", 100), ("jaxcalc_ad", 200)]
    assert [(s.n, s.reason) for s in rep.skipped] == [
        (100, "RuntimeError: no such thing"), (200, "RuntimeError: no such thing")]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"sizes": (0,)}, InputError, r"`sizes` must be whole numbers"),
    ({"sizes": (1.5,)}, InputError, r"`sizes` must be whole numbers"),
    ({"sizes": ()}, InputError, r"`sizes` is empty"),
    ({"sizes": "1e5"}, InputError, r"`sizes` must be whole numbers .* got '1e5'"),
    ({"sizes": (10**14,)}, ResourceError, r"GB are free; pass smaller sizes"),
    ({"dtype": "float16"}, InputError, r"`dtype` must be 'float32' or 'float64'"),
    ({"methods": ["numpy"]}, InputError, r"unknown method 'numpy'; choose from jaxcalc_ad"),
    ({"methods": []}, InputError, r"`methods` is empty"),
    ({"time_budget": 0}, InputError, r"`time_budget` must be a positive number"),
    ({"expressions": ["x*y"]}, InputError, r"exactly one variable"),
    ({"expressions": []}, InputError, r"`expressions` is empty"),
])
def test_bad_arguments_fail_at_the_door(kwargs, error, match):
    kwargs = {"expressions": [F2], **kwargs}
    with pytest.raises(error, match=match):
        run_benchmark(kwargs.pop("expressions"), **kwargs)


@pytest.mark.skipif("cupy_fd" in available_methods(), reason="CuPy is installed here")
def test_a_method_that_is_not_installed_says_what_to_install():
    with pytest.raises(InputError, match=r"'cupy_fd' needs the `cupy` package, which is not"):
        run_benchmark([F2], methods=["cupy_fd"])


def test_sizes_and_dtype_accept_numpy_types_and_sizes_are_sorted_once():
    rep = run_benchmark([F2], sizes=(2e2, 1e2, np.int64(100)), methods=["numpy_symbolic"],
                        dtype=np.float32, progress=True, **QUICK)
    assert [r.n for r in rep.results] == [100, 200] and rep.dtype == "float32"
    assert [r.n for r in run_benchmark([F2], sizes=np.int64(50), methods="numpy_fd").results] \
        == [50]


def test_plot_writes_a_png(report, tmp_path):
    path = report.plot(tmp_path / "throughput.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["throughput.png"]  # no temp file left


def test_write_json_round_trips(report, tmp_path):
    path = report.write_json(tmp_path / "bench.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(report.to_json()))
    with pytest.raises(InputError, match="does not exist; create it"):
        report.write_json(tmp_path / "missing" / "bench.json")


def test_cli_writes_json_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["bench", F2, "--sizes", "1e2", "2e2", "--methods", "jaxcalc_ad", "numpy_fd",
                 "--json", str(out), "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    assert [(r["method"], r["n"]) for r in data["results"]] == [
        ("jaxcalc_ad", 100), ("jaxcalc_ad", 200), ("numpy_fd", 100), ("numpy_fd", 200)]
    assert data["expressions"] == {F2: F2}
    assert "jaxcalc_ad" in stdout and f"wrote {out}" in stdout


def test_cli_json_dash_prints_json(capsys):
    assert main(["bench", "3*x**2 + 1", "--sizes", "100", "--methods", "numpy_symbolic",
                 "--dtype", "float32", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dtype"] == "float32" and data["results"][0]["max_rel_error"] < 1e-6


def test_cli_plots(tmp_path, capsys):
    png, accuracy = tmp_path / "t.png", tmp_path / "a.png"
    assert main(["bench", F2, "--sizes", "100", "--methods", "jaxcalc_ad", "--plot", str(png),
                 "--accuracy-plot", str(accuracy), "--accuracy-at", "1.3"]) == 0
    for path in (png, accuracy):
        assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("argv", "match"), [
    (["--sizes", "0"], "`sizes` must be whole numbers"),
    (["--sizes", "ten"], "invalid number value: 'ten'"),
    (["--dtype", "float16"], "invalid choice: 'float16'"),
    (["--methods", "fortran"], "unknown method 'fortran'"),
    (["x*y"], "exactly one variable"),
    (["--json", "/nonexistent/dir/out.json"], "does not exist; create it"),
    (["--plot", "out.txt"], r"must end in \.png, \.svg or \.pdf"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, match, capsys):
    defaults = {"--sizes": "100", "--methods": "numpy_fd"}
    argv += [part for item in defaults.items() if item[0] not in argv for part in item]
    assert main(["bench", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("error: ")
    assert re.search(match, line), line
