"""Smoke tests of the benchmark harness on tiny sizes: schema, measured errors, table, plot, CLI.

Nothing here is timed; speed lives in ``bench/``. The error assertions are measurements of
this run, not assumptions: AD is exact to rounding, finite differences are not.
"""

import dataclasses
import json
import math
import re

import jax
import numpy as np
import pytest
import sympy
from conftest import mpmath_value

from jaxcalc import fd
from jaxcalc._cli import build_parser, main
from jaxcalc._core.errors import InputError, ResourceError
from jaxcalc._tools import bench_measure
from jaxcalc._tools.bench import (
    DEFAULT_EXPRESSIONS,
    GRID_FUNCTIONS,
    TAIL_CASE,
    cases,
    run_benchmark,
    synced_call,
)
from jaxcalc._tools.bench_accuracy import accuracy_figure, errors_along
from jaxcalc._tools.bench_measure import (
    cache_resident,
    grid,
    max_relative_error,
    reference,
    relative_errors,
    time_interleaved,
)
from jaxcalc._tools.bench_methods import METHODS, Case, available_methods, central_difference
from jaxcalc._tools.bench_report import BenchReport, Result, crossovers

F2 = DEFAULT_EXPRESSIONS["f2"]
QUICK = {"repeat_seconds": 0.005}
RESULT_KEYS = {"expression": str, "method": str, "dtype": str, "n": int, "seconds": float,
               "points_per_second": float, "compile_seconds": float, "max_rel_error": float,
               "roof_fraction": float, "output_dtype": str, "cache_resident": bool}


@pytest.fixture(scope="module")
def report():
    """One float64 run of f2 by every installed method at two tiny sizes."""
    return run_benchmark({"f2": F2}, sizes=(300, 2000), **QUICK)


@pytest.fixture(scope="module")
def report32():
    return run_benchmark([F2], sizes=(1000,), dtype="float32",
                         methods=["jaxcalc_ad", "jaxcalc_symbolic", "numpy_fd"], **QUICK)


def test_method_names_are_the_documented_ones():
    assert list(METHODS) == ["jaxcalc", "jaxcalc_ad", "jaxcalc_symbolic", "numpy_fd",
                             "numpy_symbolic", "numexpr", "scipy_differentiate", "cupy_fd"]
    assert set(available_methods()) >= {"jaxcalc", "jaxcalc_ad", "jaxcalc_symbolic", "numpy_fd",
                                        "numpy_symbolic"}


def test_default_expressions_are_the_grid_issue_functions():
    x = sympy.Symbol("x", real=True)
    f4 = Case.from_text("f4", GRID_FUNCTIONS["f4"]).function.expr
    assert sympy.expand(f4 - sum(x**k / sympy.factorial(k) for k in range(40))) == 0
    f5 = Case.from_text("f5", GRID_FUNCTIONS["f5"]).function.expr
    assert sympy.count_ops(f5, visual=True).coeff(sympy.Symbol("COSH")) == 10
    assert list(GRID_FUNCTIONS) == ["f1", "f2", "f3", "f4", "f5"]
    assert DEFAULT_EXPRESSIONS == {**GRID_FUNCTIONS, "tail": "tanh((x + 5/3)**2)"}
    assert {c.name: c.error_floor for c in cases()} == {
        "f1": 1e-3, "f2": 1e-3, "f3": 1e-3, "f4": 1e-3, "f5": 1e-3, "tail": 0.0}
    assert [c.error_floor for c in cases([TAIL_CASE, "x"])] == [0.0, 1e-3]


def test_json_has_the_documented_schema(report):
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert {"machine", "versions", "roof_gbps", "results", "skipped", "expressions",
            "dtype"} <= set(data)
    assert isinstance(data["roof_gbps"], float) and data["roof_gbps"] > 0
    assert data["machine"]["backend"] == jax.default_backend()
    assert data["machine"]["cpu_count"] >= 1
    assert {"jaxcalc", "jax", "numpy", "sympy", "mpmath"} <= set(data["versions"])
    assert data["schema"] == "jaxcalc-bench/2"
    assert data["machine"]["cache_bytes"] == bench_measure.cache_bytes() > 0
    assert data["expressions"] == {"f2": F2} and data["error_floors"] == {"f2": 1e-3}
    assert data["skipped"] == []
    assert len(data["results"]) == 2 * len(available_methods())
    for row in data["results"]:
        assert set(row) == set(RESULT_KEYS)
        for key, kind in RESULT_KEYS.items():
            assert isinstance(row[key], kind), (key, row)
        assert row["points_per_second"] == pytest.approx(row["n"] / row["seconds"])
        assert row["seconds"] > 0 and row["compile_seconds"] >= 0
        assert row["cache_resident"] == (2 * row["n"] * 8 <= data["machine"]["cache_bytes"])
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
    cache = report.machine["cache_bytes"] / 2**20
    assert lines[-2:] == [f"f2 = {F2}", f"in cache: x and f' fit in the {cache:.0f} MiB "
                          "last-level cache; the copy roof (main memory) does not apply"]


def test_markdown_and_json_round_trip(report):
    again = BenchReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.to_json() == report.to_json()
    page = again.markdown().splitlines()
    assert page[0] == f"# jaxcalc bench, float64, {report.created[:10]}"
    assert f"- f2: `{F2}`" in page
    header = page.index("| expression | method | n | seconds | Mpts/s | % roof | compile s | "
                        "max rel err |")
    body = page[header + 2:]
    assert len(body) == len(report.results) and body[0].startswith("| `f2` | jaxcalc | 300 |")
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
    ({"sizes": (10**14,)}, ResourceError,
     r"`sizes`: 1e\+14 float64 points \(host memory\) needs 12.1 PiB but only .* is "
     r"available and one run may use 80% of it \(.*\); pass smaller sizes"),
    ({"dtype": "float16"}, InputError, r"`dtype` must be 'float32' or 'float64'"),
    ({"methods": ["numpy"]}, InputError, r"unknown method 'numpy'; choose from jaxcalc, jaxc"),
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


def test_cli_saves_json_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["bench", F2, "--sizes", "1e2", "2e2", "--methods", "jaxcalc_ad", "numpy_fd",
                 "--save", str(out), "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0
    data = json.loads(out.read_text())
    assert [(r["method"], r["n"]) for r in data["results"]] == [
        ("jaxcalc_ad", 100), ("jaxcalc_ad", 200), ("numpy_fd", 100), ("numpy_fd", 200)]
    assert data["expressions"] == {F2: F2}
    assert "jaxcalc_ad" in stdout and f"wrote {out}" in stdout


def test_cli_json_prints_one_object_the_saved_one(tmp_path, capsys):
    out = tmp_path / "saved.json"
    assert main(["bench", "3*x**2 + 1", "--sizes", "100", "--methods", "numpy_symbolic",
                 "--dtype", "float32", "--json", "--save", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads(printed)  # one JSON object and nothing else
    assert data == json.loads(out.read_text())
    assert data["dtype"] == "float32" and data["results"][0]["max_rel_error"] < 1e-6


def test_cli_dtype_and_json_are_documented(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--dtype {float32,float64} what every method computes in" in text
    assert "--json print one JSON object on stdout" in text
    assert "--save FILE write the report as JSON to FILE" in text


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
    (["--save", "/nonexistent/dir/out.json"], "does not exist; create it"),
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


# -- the tail case: its error is measured without a floor, next to NumPy and FD ----------------

def test_tail_case_error_has_no_floor_and_shows_numpy_losing_the_tail():
    (case,) = cases({"tail": TAIL_CASE})
    xs = grid(512, np.dtype("float64"))
    ref = reference(case, xs)
    numpy_values = METHODS["numpy_symbolic"].build(case, np.dtype("float64"))(xs)
    # NumPy's 1 - tanh(u)**2 is 0 where tanh(u) rounds to 1: a relative error of exactly 1,
    # which a floor of 1e-3 * max |f'| would hide as ~1e-13.
    assert max_relative_error(numpy_values, ref, case.error_floor) == 1.0
    assert max_relative_error(numpy_values, ref, 1e-3) < 1e-6
    rep = run_benchmark({"tail": TAIL_CASE}, sizes=(512,), methods=["numpy_symbolic"], **QUICK)
    assert rep.results[0].max_rel_error == 1.0 and rep.error_floors == {"tail": 0.0}
    assert "max rel err of tail: floor 0 * max |f'| (default 0.001)" in rep.table()


def test_errors_along_x_of_the_tail_case():
    xs, errors = errors_along(TAIL_CASE, "float64", points=64)
    np.testing.assert_array_equal(xs, np.linspace(0.5, 3, 64))
    assert list(errors) == ["jaxcalc_ad", "jaxcalc_symbolic", "numpy_symbolic", "numpy_fd"]
    for name, error in errors.items():
        assert error.shape == (64,) and not np.isnan(error).any(), name
        assert error[0] < 1e-6, name  # x = 0.5: tanh(4.7) has not yet rounded to 1
    assert errors["numpy_symbolic"][-1] == 1.0  # x = 3: f' ~ 1e-18, NumPy's is 0
    assert errors["numpy_fd"][-1] >= 1.0  # f itself rounds to 1: differences are noise


def test_relative_errors_per_point():
    ref = (np.array([2.0, 4.0, np.nan]), np.array([0.0, 1e-17, 0.0]))
    errors = relative_errors([2.0, np.inf, 1.0], ref, floor=0.0)
    assert errors[0] == 0.0 and errors[1] == math.inf and math.isnan(errors[2])
    assert relative_errors([3.0, 4.0, 0.0], ref, floor=0.0)[:2] == pytest.approx([0.5, 2.5e-18])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_accuracy_chart_says_the_dtype_it_computed_in(dtype):
    step_axes, tail_axes = accuracy_figure(F2, 1.5, dtype).axes
    assert step_axes.get_title().endswith(f"error of f'(1.5) in {dtype}")
    assert tail_axes.get_title().startswith(f"f = {TAIL_CASE} on [0.5, 3]")
    assert f"in {dtype}" in tail_axes.get_title()
    eps_labels = [t.get_text() for ax in (step_axes, tail_axes) for t in ax.texts]
    assert eps_labels == [f"{dtype} eps", f"{dtype} eps"]
    labels = [line.get_label() for line in tail_axes.get_lines()]
    assert [label.split(":")[0] for label in labels if not label.startswith("_")] == [
        "jaxcalc_ad", "jaxcalc_symbolic", "numpy_symbolic", "numpy_fd"]


def test_float32_accuracy_chart_shows_float32_rounding():
    from jaxcalc._tools.plot import accuracy

    e32, e64 = accuracy(F2, 1.5, steps=[1e-5], dtype="float32"), accuracy(F2, 1.5, steps=[1e-5])
    assert e32["ad"] < 1e-6 and e64["ad"] < 1e-15  # AD: rounding of its dtype, no step
    assert e32["central"][0] > 1e4 * e64["central"][0]  # float32 rounding swamps h**2 at 1e-5
    default32 = accuracy(F2, 1.5, dtype="float32")["steps"]  # steps float32 can take: >= 1e-7
    assert default32.size == 61 and default32[0] == pytest.approx(1.5e-7)


# -- the instruments: cache, interleaved timer ----------------------------------------------------

def test_cache_size_is_read_from_sysfs(tmp_path):
    for index, (kind, size) in enumerate([("Data", "32K"), ("Instruction", "64K"),
                                          ("Unified", "1024K"), ("Unified", "32768K")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "type").write_text(kind + "\n")
        (folder / "size").write_text(size + "\n")
    assert bench_measure._cpu_cache_bytes(tmp_path) == 32 * 2**20
    assert bench_measure._cpu_cache_bytes(tmp_path / "missing") is None


def test_cache_resident_rows_say_in_cache_not_a_roof_fraction(report):
    assert cache_resident(2 * 2**20, 8, 32 * 2**20) and not cache_resident(2 * 2**20 + 1, 8,
                                                                           32 * 2**20)
    small = [r for r in report.results if r.cache_resident]
    assert small and all(r.n <= report.machine["cache_bytes"] / 16 for r in small)
    row = next(line for line in report.table().splitlines() if line.startswith("f2  ")
               and " 300 " in line)
    assert " in cache " in row and "%" not in row
    big = dataclasses.replace(report.results[0], cache_resident=False, roof_fraction=0.25)
    assert "25.0%" in dataclasses.replace(report, results=[big]).table()


def test_interleaved_rounds_rotate_and_count_calls():
    log = []
    calls = {name: (lambda name=name: log.append(name) or name) for name in "abc"}
    timings = time_interleaved(calls, repeat_seconds=0, min_repeats=3)
    assert log == list("abc") + list("abc") + list("bca") + list("cab")
    assert {name: (len(t.times), t.result) for name, t in timings.items()} == {
        "a": (3, "a"), "b": (3, "b"), "c": (3, "c")}
    assert all(t.first is not None and t.best <= t.median for t in timings.values())
    assert all(len(t.cpu_times) == 3 and min(t.cpu_times) >= 0 for t in timings.values())
    log.clear()
    timings = time_interleaved(calls, repeat_seconds=1e9, warm_up=False, max_repeats=2)
    assert log == list("abc") + list("bca") and timings["a"].first is None


def test_stop_rule_of_the_timer():
    done = bench_measure._done
    assert not done([0.01], 0.2, 3, 100)  # neither the time nor the count
    assert not done([0.1, 0.1], 0.2, 3, 100)  # the time, not the count
    assert done([0.1, 0.1, 0.1], 0.2, 3, 100)
    assert done([1.5], 0.2, 3, 100)  # a long call: once is enough
    assert done([1e-6] * 100, 0.2, 3, 100)  # the cap


def test_synced_call_places_inputs_once_and_returns_the_result():
    case, xs, placed = Case.from_text("f2", F2), grid(8, np.dtype("float64")), {}
    method = METHODS["jaxcalc_ad"]
    first = synced_call(method, method.build(case, np.dtype("float64")), xs, placed)
    second = synced_call(method, method.build(case, np.dtype("float64")), xs, placed)
    assert list(placed) == ["jax"]
    np.testing.assert_allclose(np.asarray(first()), 3 * xs**2 + 1 / xs**2, rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(first()), np.asarray(second()))


# -- crossovers ---------------------------------------------------------------------------------

SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)


def synthetic_report(seconds: dict[str, list[float]], sizes=SIZES) -> BenchReport:
    """A report of one expression "f" with the given seconds per method and size."""
    results = [Result("f", method, "float64", n, s, n / s, 0.0, 1e-16, 0.1, "float64")
               for method, row in seconds.items() for n, s in zip(sizes, row, strict=True)]
    return BenchReport({}, {}, 10.0, "numpy.copyto", "float64", {"f": "x"}, results, [], 1.0)


def test_crossovers_on_constructed_timings():
    jaxcalc = [1e-4, 1e-4, 2e-4, 1e-3, 1e-2]
    rep = synthetic_report({
        "jaxcalc": jaxcalc,
        "numpy_fd": [2 * s for s in jaxcalc],  # always slower than jaxcalc
        "numpy_symbolic": [1e-5, 5e-5, 4e-4, 3e-3, 3e-2],  # overtaken between 1e4 and 1e5
        "numexpr": [1e-5, 1e-5, 1e-5, 1e-5, 1e-5],  # never overtaken
    })
    found = {c.peer: c for c in crossovers(rep)}
    assert list(found) == ["numpy_fd", "numpy_symbolic", "numexpr"]  # METHODS order
    sym = found["numpy_symbolic"]
    assert sym.speedups == pytest.approx((0.1, 0.5, 2.0, 3.0, 3.0))
    assert sym.overtakes_at == round(10**4.5)  # speedup 0.5 -> 2: crosses 1 half-way (log-log)
    assert sym.sentence() == ("f: jaxcalc overtakes numpy_symbolic at ~3e4 points (slower at "
                              "1e4, faster from 1e5; 3.0x at 1e7)")
    assert found["numpy_fd"].overtakes_at is None
    assert found["numpy_fd"].sentence() == (
        "f: jaxcalc is faster than numpy_fd at every size (1e3 to 1e7; 2.0x at 1e7)")
    assert found["numexpr"].overtakes_at is None
    assert found["numexpr"].sentence() == (
        "f: numexpr stays faster than jaxcalc up to 1e7 points (jaxcalc runs at 0.0x at 1e7)")
    assert found["numexpr"].to_json()["speedups"] == pytest.approx([0.1, 0.1, 0.05, 0.01, 1e-3])


def test_crossover_uses_the_last_loss_and_only_common_sizes():
    rep = synthetic_report({"jaxcalc": [1.0, 1.0, 1.0, 1.0], "numpy_fd": [2.0, 0.5, 0.5, 4.0]},
                           sizes=(10, 100, 1000, 10**4))
    (c,) = crossovers(rep)
    assert c.overtakes_at == round(10 ** (3 + 1 / 3))  # from 1e3 (0.5x) to 1e4 (4x)
    rep.results = [r for r in rep.results if (r.method, r.n) != ("jaxcalc", 10)]
    (c,) = crossovers(rep, peers=["numpy_fd"])
    assert c.sizes == (100, 1000, 10**4)
    assert crossovers(rep, peers=["numexpr"]) == []


def test_crossover_estimate_stays_inside_its_bracket():
    rep = synthetic_report({"jaxcalc": [1.0, 1.0], "numpy_fd": [0.9, 10.0]}, sizes=(10**5, 10**6))
    (c,) = crossovers(rep)
    assert 10**5 < c.overtakes_at < 1.5 * 10**5  # 1e5 at one digit: two digits instead
    assert "overtakes numpy_fd at ~1.1e5 points (slower at 1e5, faster from 1e6" in c.sentence()
