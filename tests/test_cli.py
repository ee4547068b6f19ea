"""The `jaxcalc` command through `main([...])`: the lecture, the JSON contract, user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jaxcalc
from jaxcalc._cli import main

DIFF_KEYS = ["expression", "variable", "order", "derivative", "at", "values"]
TANGENT_KEYS = ["expression", "point", "value", "slope", "intercept", "line"]


def run(capsys, *argv):
    """``main(argv)``: (exit status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys, *argv):
    status, out, err = run(capsys, *argv, "--json")
    assert (status, err) == (0, "")
    assert out.count("\n") == 1  # one JSON object on one line
    return json.loads(out)


# -- the lecture ---------------------------------------------------------------------------------
def test_lecture_derivative(capsys):
    assert run(capsys, "diff", "3*x**2 + 1") == (0, "6*x\n", "")


def test_lecture_derivative_at_2(capsys):
    status, out, _ = run(capsys, "diff", "3*x**2 + 1", "--at", "2")
    assert status == 0
    assert out.splitlines() == ["6*x", "at x = 2.0: 12.0"]


def test_lecture_json_contract(capsys):
    payload = run_json(capsys, "diff", "3*x**2 + 1", "--at", "2")
    assert list(payload) == DIFF_KEYS
    assert payload == {"expression": "3*x**2 + 1", "variable": "x", "order": 1,
                       "derivative": "6*x", "at": [2.0], "values": [12.0]}
    assert list(run_json(capsys, "diff", "3*x**2 + 1")) == DIFF_KEYS[:4]


@pytest.mark.parametrize(
    ("expression", "derivative", "at", "value"),
    [("x**2 - 6*x + 1", "2*x - 6", "3", 0.0), ("x**2 - 6*x + 1", "2*x - 6", "-1.5", -9.0),
     ("2*x - 1/x", "2 + x**(-2)", "2", 2.25), ("2*x - 1/x", "2 + x**(-2)", "-0.5", 6.0)],
)
def test_homework_derivatives(capsys, expression, derivative, at, value):
    payload = run_json(capsys, "diff", expression, "--at", at)
    assert payload["derivative"] == derivative
    assert payload["values"] == [value]


def test_homework_tangent(capsys):
    status, out, _ = run(capsys, "tangent", "x**3 - 1/x", "--at", "1")
    assert status == 0
    assert out.splitlines() == [
        "y = 4*x - 4", "point x = 1.0, value 0.0, slope 4.0, intercept -4.0"]
    payload = run_json(capsys, "tangent", "x**3 - 1/x", "--at", "1")
    assert list(payload) == TANGENT_KEYS
    assert payload == {"expression": "x**3 - 1/x", "point": 1.0, "value": 0.0, "slope": 4.0,
                       "intercept": -4.0, "line": "4*x - 4"}


def test_tangent_with_an_irrational_line(capsys):
    payload = run_json(capsys, "tangent", "sin(x)", "--at", "1")
    assert payload["line"] == "x*cos(1) - cos(1) + sin(1)"
    assert payload["slope"] == pytest.approx(0.5403023058681398, rel=1e-15)


# -- options -------------------------------------------------------------------------------------
def test_order(capsys):
    payload = run_json(capsys, "diff", "x**3 - 1/x", "--order", "2", "--at", "1", "2")
    assert payload["order"] == 2 and payload["derivative"] == "6*x - 2/x**3"
    assert payload["values"] == [4.0, 11.75]
    assert run_json(capsys, "diff", "x**2", "--order", "3")["derivative"] == "0"
    assert run_json(capsys, "diff", "tan(x)", "--order", "12", "--at", "0")["values"] == [0.0]


def test_wrt_and_several_variables(capsys):
    payload = run_json(capsys, "diff", "x**2*y", "--wrt", "y", "--at", "x=1,y=2", "x=3,y=0")
    assert payload["variable"] == "y" and payload["derivative"] == "x**2"
    assert payload["at"] == [[1.0, 2.0], [3.0, 0.0]] and payload["values"] == [1.0, 9.0]
    status, out, _ = run(capsys, "diff", "x**2*y", "--wrt", "x", "--at", "y=2,x=1")
    assert status == 0 and out.splitlines() == ["2*x*y", "at x = 1.0, y = 2.0: 4.0"]


def test_a_variable_called_lambda(capsys):
    payload = run_json(capsys, "diff", "h*c/lambda", "--wrt", "lambda", "--at",
                       "c=3,h=2,lambda=0.5")
    assert payload["derivative"] == "-c*h/lambda**2" and payload["values"] == [-24.0]


def test_constant_expression(capsys):
    assert run_json(capsys, "diff", "5", "--at", "1")["values"] == [0.0]
    assert run_json(capsys, "diff", "5", "--wrt", "t")["variable"] == "t"


def test_nan_is_null_in_json(capsys):
    payload = run_json(capsys, "diff", "log(x)", "--at", "-1", "2")
    assert payload["values"] == [None, 0.5]
    status, out, _ = run(capsys, "diff", "log(x)", "--at", "-1")
    assert status == 0 and out.splitlines()[-1] == "at x = -1.0: nan"


def test_values_where_the_printed_derivative_cancels(capsys):
    """The printed second derivative of sin(x)/x cancels near 0 and is NaN at 0; the values
    are the derivative's (-1/3 there), as are the Jacobian's."""
    payload = run_json(capsys, "diff", "sin(x)/x", "--order", "2", "--at", "0", "1e-8", "0.5")
    assert payload["derivative"] == "-sin(x)/x - 2*cos(x)/x**2 + 2*sin(x)/x**3"
    assert payload["values"] == pytest.approx([-1 / 3, -1 / 3, -0.3087029546641397], rel=1e-14)
    payload = run_json(capsys, "diff", "sin(x)/x + y", "x*y", "--jacobian", "--at", "x=0,y=2")
    assert payload["jacobian"][0] == ["cos(x)/x - sin(x)/x**2", "1"]
    assert payload["values"] == [[[0.0, 1.0], [2.0, 0.0]]]


def test_computes_in_float64(capsys):
    (value,) = run_json(capsys, "diff", "x**3", "--at", "0.1")["values"]
    assert value == pytest.approx(0.03, rel=1e-15)


# -- errors: one line `error: ...` on stderr, exit status 2 ----------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [(["diff", "3*x**"], "nothing follows"),
     (["diff", "foo(x)"], "unknown function `foo`"),
     (["diff", "__import__('os')"], ""),
     (["diff", "x", "--at", "abc"], "expected a number, got 'abc'"),
     (["diff", "x", "--at", "nan"], "finite"),
     (["diff", "x**2*y", "--wrt", "x", "--at", "1"], "give a value for each of x, y"),
     (["diff", "x*y"], "choose one with --wrt"),
     (["diff", "x", "--wrt", "y"], "`wrt` must be one of"),
     (["diff", "x", "--order", "-1"], "order `n` must be an integer from 0 to"),
     (["diff", "x", "--order", "1.5"], "invalid int value"),
     (["diff"], "the following arguments are required: expression"),
     (["tangent", "x**2"], "required: --at"),
     (["tangent", "x*y", "--at", "1"], "needs a function of one variable"),
     (["tangent", "1/x", "--at", "0"], "has no tangent at x = 0.0"),
     (["tangent", "x", "--at", "one"], "invalid number value"),
     (["integrate", "x"], "invalid choice"),
     ([], "a COMMAND is required")],
)
def test_user_errors(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_errors_with_json_are_still_one_stderr_line(capsys):
    status, out, err = run(capsys, "diff", "sin(", "--json")
    assert status == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1


def test_version_flag(capsys):
    assert run(capsys, "--version") == (0, f"{jaxcalc.__version__}\n", "")


def test_python_dash_m_version():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "jaxcalc", "--version"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == jaxcalc.__version__


# -- diff --jacobian and derived functions (the lead's part) -------------------------------------
def test_diff_jacobian(capsys):
    status, out, err = run(capsys, "diff", "x*y", "sin(x) + y", "--jacobian", "--at", "x=1,y=2")
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == ["[y, x]", "[cos(x), 1]"]
    payload = run_json(capsys, "diff", "x*y", "sin(x) + y", "--jacobian", "--at", "x=1,y=2",
                       "x=0,y=0")
    assert payload["expressions"] == ["x*y", "sin(x) + y"]
    assert payload["variables"] == ["x", "y"]
    assert payload["jacobian"] == [["y", "x"], ["cos(x)", "1"]]
    assert payload["at"] == [[1.0, 2.0], [0.0, 0.0]]
    assert payload["values"] == [[[2.0, 1.0], [0.5403023058681398, 1.0]], [[0.0, 0.0], [1.0, 1.0]]]


@pytest.mark.parametrize(("argv", "message"), [
    (["diff", "x", "y"], "several expressions need --jacobian"),
    (["diff", "x*y", "y", "--jacobian", "--wrt", "x"], "drop --wrt and --order"),
])
def test_diff_jacobian_errors(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "" and message in err and err.count("\n") == 1


def test_diff_of_steps_of_any_argument(capsys):
    payload = run_json(capsys, "diff", "floor(exp(x-1))+floor(exp(x-2))", "--at", "1.5")
    assert payload["derivative"] == "0" and payload["values"] == [0.0]
    assert run_json(capsys, "tangent", "floor(exp(x/2))+floor(exp(x))", "--at", "700")["slope"] \
        == 0.0


# -- negative numbers, quiet success, interruption (the shared parser; see also test_signals.py) ---
@pytest.mark.parametrize("argv, expected", [
    (["grid", "x**2", "--range", "-1e3", "1", "--points", "3", "--json"],
     {"values": [1e6, 249500.25, 1.0]}),
    (["grid", "x", "--range", "-.5", "-1e-3", "--points", "2", "--json"], {"values": [-0.5,
                                                                                     -0.001]}),
    (["diff", "x**2", "--at", "-1e-3", "--json"], {"values": [-0.002]}),
    (["tangent", "x**2", "--at", "-1E+1", "--json"], {"slope": -20.0}),
])
def test_negative_numbers_in_options(capsys, argv, expected):
    status, out, err = run(capsys, *argv)
    assert (status, err) == (0, "")
    payload = json.loads(out)
    assert {k: payload[k] for k in expected} == expected


def test_negative_infinity_is_a_number_error_not_a_missing_argument(capsys):
    status, _, err = run(capsys, "diff", "x", "--at", "-inf")
    assert status == 2 and err == "error: expected a finite number, got '-inf'\n"


def test_huge_point_counts_are_user_errors(capsys):
    status, _, err = run(capsys, "grid", "x", "--range", "0", "1", "--points", "1e19",
                         "--reduce", "max")
    assert status == 2 and err.startswith("error: `--points` asks for 1e+19 points; a grid "
                                          "holds at most 2**53")


def test_constants_over_the_grid(capsys):
    status, out, err = run(capsys, "grid", "5", "--range", "0", "1", "--points", "3", "--json")
    assert (status, err) == (0, "") and json.loads(out)["values"] == [5.0, 5.0, 5.0]


def test_success_is_quiet_in_a_real_process(tmp_path):
    # NaN and inf results: nothing but the result is printed (no RuntimeWarning)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    script = ("import numpy as np, warnings\n"
              "from jaxcalc._cli import main\n"
              "warnings.simplefilter('always')\n"
              "def noisy(argv):\n"  # a handler that warns the way NumPy does on NaN
              "    np.log(np.array([-1.0, 0.0]))\n"
              "    return {}, 'done'\n"
              "from jaxcalc._cli import grid\n"
              "grid.handle = noisy\n"
              "import sys; sys.exit(main(['grid', 'x', '--range', '0', '1', '--points', '2']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")
    done = subprocess.run([sys.executable, "-m", "jaxcalc", "grid", "log(floor(x))", "--range",
                           "0", "0.9", "--points", "3e6", "--reduce", "argmin"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("argmin of log(floor(x)): index 0, x = 0.0")


def test_parser_limits_from_the_command_line(capsys):
    status, out, err = run(capsys, "diff", "x**2 + 1", "--max-length", "3")
    assert (status, out) == (2, "") and "text is 8 characters; the limit is 3" in err
    status, _, err = run(capsys, "tangent", "x**2", "--at", "1", "--max-depth", "0")
    assert status == 2 and "`ParseLimits.max_depth` must be a positive integer, got 0" in err
    assert run_json(capsys, "diff", "x**2 + 1", "--max-length", "8")["derivative"] == "2*x"


def test_steps_through_plot_and_grid_derivatives(capsys, tmp_path):
    steps = "floor(exp(x-1))+floor(exp(x-2))"
    payload = run_json(capsys, "grid", steps, "--range", "0", "3", "--points", "7", "--order", "1",
                       "--reduce", "max")
    assert payload["value"] == 0.0
    status, _, err = run(capsys, "plot", steps, "--derivative", "-o", str(tmp_path / "s.png"))
    assert (status, err) == (0, "") and (tmp_path / "s.png").stat().st_size > 1000
