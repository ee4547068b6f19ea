"""Lowering SymPy → JAX: every allow-listed head against mpmath, and the shape of the jaxpr.

Expressions are built with SymPy here (not parsed), so these tests see the lowering alone.
Values and derivatives are computed under strict dtype promotion (an implicit promotion
anywhere in a lowering is an error). Accuracy is :func:`conftest.relative_error` (relative,
absolute below 1e-2) against 50-digit mpmath at the point as rounded to the working dtype:
<= 1e-13 in float64, <= 1e-5 in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from conftest import TOLERANCE, float64, jaxpr_primitives, mpmath_value, relative_error, rounded

import jaxcalc as jc

x, y = sympy.symbols("x y", real=True)

# head -> (expression, points inside its domain where it is smooth). Points are numbers for
# one variable, (x, y) pairs for two.
CASES = {
    "sin": (sympy.sin(x), [-2.5, 0.3, 1.7, 40.0]),
    "cos": (sympy.cos(x), [-2.5, 0.3, 1.2, 40.0]),
    "tan": (sympy.tan(x), [-1.2, 0.4, 1.3]),
    "asin": (sympy.asin(x), [-0.7, 0.2, 0.9]),
    "acos": (sympy.acos(x), [-0.7, 0.2, 0.9]),
    "atan": (sympy.atan(x), [-3.0, 0.5, 40.0]),
    "atan2": (sympy.atan2(y, x), [(1.5, 0.5), (-2.0, 1.0), (-1.0, -3.0), (0.5, -0.25)]),
    "sinh": (sympy.sinh(x), [-3.0, 0.5, 4.0]),
    "cosh": (sympy.cosh(x), [-3.0, 0.5, 4.0]),
    "tanh": (sympy.tanh(x), [-3.0, 0.5, 2.0]),
    "asinh": (sympy.asinh(x), [-3.0, 0.5, 20.0]),
    "acosh": (sympy.acosh(x), [1.5, 3.0, 20.0]),
    "atanh": (sympy.atanh(x), [-0.8, 0.3, 0.6]),
    "exp": (sympy.exp(x), [-3.0, 0.5, 5.0]),
    "log": (sympy.log(x), [0.2, 1.5, 30.0]),
    "log(x, b)": (sympy.log(x, 3), [0.2, 1.5, 30.0]),
    "sqrt": (sympy.sqrt(x), [0.3, 2.0, 9.0]),
    "cbrt": (sympy.cbrt(x), [0.3, 2.0, 27.0]),
    "Abs": (sympy.Abs(x), [-2.0, 0.5, 3.0]),
    "sign": (sympy.sign(x), [-2.0, 0.5]),
    "floor": (sympy.floor(x), [-2.5, 0.3, 3.7]),
    "ceiling": (sympy.ceiling(x), [-2.5, 0.3, 3.7]),
    "Min": (sympy.Min(x, y), [(0.5, 2.0), (3.0, -1.0)]),
    "Max": (sympy.Max(x, y), [(0.5, 2.0), (3.0, -1.0)]),
    "Heaviside": (sympy.Heaviside(x), [-2.0, 0.7]),
    "erf": (sympy.erf(x), [-1.5, 0.2, 2.0]),
    "erfc": (sympy.erfc(x), [-1.0, 0.5, 3.0]),
    "gamma": (sympy.gamma(x), [0.3, 2.5, 5.5, -1.5]),
    "loggamma": (sympy.loggamma(x), [0.3, 2.5, 10.0]),
    "pi and E": (sympy.pi * x + sympy.E, [-1.0, 2.0]),
}
# d/dx floor = d/dx ceiling = 0 by convention (SymPy leaves the derivative unevaluated).
STEP_HEADS = {"floor", "ceiling"}


def _columns(expr, points, dtype):
    """The points as one array per variable (sorted by name), and as reference dicts."""
    names = sorted(s.name for s in expr.free_symbols)
    rows = [p if isinstance(p, tuple) else (p,) for p in points]
    rows = [tuple(rounded(v, dtype) for v in row) for row in rows]
    arrays = [np.asarray(col, dtype) for col in zip(*rows, strict=True)]
    return names, arrays, [dict(zip(names, row, strict=True)) for row in rows]


@pytest.mark.parametrize("head", CASES)
def test_value_matches_mpmath(head, dtype):
    expr, points = CASES[head]
    names, arrays, refs = _columns(expr, points, dtype)
    f = jc.Function(expr, variables=names)
    with jax.numpy_dtype_promotion("strict"):  # no implicit promotion anywhere in the lowering
        got = f(*arrays)
    assert got.dtype == np.dtype(dtype)
    expected = [mpmath_value(expr, ref) for ref in refs]
    assert relative_error(got, expected) <= TOLERANCE[dtype]


@pytest.mark.parametrize("head", CASES)
def test_first_derivative_matches_mpmath(head, dtype):
    expr, points = CASES[head]
    names, arrays, refs = _columns(expr, points, dtype)
    f = jc.Function(expr, variables=names)
    wrt = names[0]
    if head in STEP_HEADS:
        expected = [0.0] * len(refs)
    else:
        expected = [mpmath_value(expr, ref, wrt=wrt, n=1) for ref in refs]
    for derivative in (jc.derivative(f, wrt, method="ad"), f.diff(wrt)):
        with jax.numpy_dtype_promotion("strict"):
            got = derivative(*arrays)
        assert got.dtype == np.dtype(dtype)
        assert relative_error(got, expected) <= TOLERANCE[dtype], derivative


def test_atan2_second_argument_derivative():
    f = jc.Function(sympy.atan2(y, x), variables=("x", "y"))
    point = {"x": -1.0, "y": -3.0}
    expected = mpmath_value(f.expr, point, wrt="y", n=1)
    for d in (jc.derivative(f, "y", method="ad"), f.diff("y")):
        assert relative_error(d(-1.0, -3.0, dtype="float64"), expected) <= 1e-13


def test_cbrt_and_rational_powers_are_nan_below_zero():
    # The principal real power (see jaxcalc._core.lower): cbrt(-8) is NaN, not -2.
    for expr in (sympy.cbrt(x), x ** sympy.Rational(2, 3), sympy.sqrt(x)):
        assert np.isnan(jc.Function(expr)(-8.0))


@pytest.mark.parametrize(
    "expr", [x**3, x**-2, x**5 - 3 * x**-3 + x**2, x ** sympy.Float(2.0), x ** sympy.Float(-3.0)]
)
def test_integer_powers_are_exact_integer_pow(expr):
    f = jc.Function(expr)
    names = jaxpr_primitives(f, 1.5)
    assert "integer_pow" in names and "pow" not in names
    values = np.array([-3.0, -0.5, 0.25, 7.0])  # exactly representable, exactly computable
    exact = [float(expr.subs(x, sympy.Rational(v))) for v in values]
    assert f(values, dtype="float64").tolist() == exact


@pytest.mark.parametrize(
    ("expr", "root"),
    [(sympy.sqrt(x), "sqrt"), (x ** sympy.Rational(3, 2), "sqrt"),
     (x ** sympy.Rational(-1, 2), "sqrt"), (sympy.cbrt(x), "cbrt"),
     (x ** sympy.Rational(2, 3), "cbrt"), (x ** sympy.Float(0.5), "sqrt"),
     (x ** sympy.Float(-1.5), "sqrt")],
)
def test_rational_powers_lower_to_roots(expr, root):
    names = jaxpr_primitives(jc.Function(expr), 2.0)
    assert root in names and "pow" not in names
    value = jc.Function(expr)(2.0, dtype="float64")
    assert relative_error(value, mpmath_value(expr, 2.0)) <= 1e-15


def test_shared_subexpressions_are_computed_once():
    f = jc.Function(sympy.sin(x) ** 2 + sympy.sin(x))
    assert jaxpr_primitives(f, 1.0).count("sin") == 1
    g = jc.Function(sympy.sqrt(x) + x ** sympy.Rational(3, 2) + sympy.exp(sympy.sqrt(x)))
    assert jaxpr_primitives(g, 1.0).count("sqrt") == 1


def test_constants_take_the_working_dtype():
    f = jc.Function(sympy.pi * x + sympy.E + sympy.Rational(1, 10) + sympy.erf(sympy.Integer(2)))
    with jax.enable_x64(True):  # float64 is available, yet nothing may promote to it
        assert f(np.float32(1.0)).dtype == np.float32
        jaxpr = jax.make_jaxpr(lambda v: f(v))(np.float32(1.0))
        assert "f64" not in str(jaxpr)
    value64 = f(1.0, dtype="float64")
    assert value64.dtype == np.float64
    assert relative_error(value64, mpmath_value(f.expr, 1.0)) <= 1e-15
    assert f(np.float32(1.0)).dtype == np.float32
    assert f(1.0).dtype == np.float64  # Python numbers are float64 (DESIGN: numbers in, out)


def test_constant_expression_has_the_input_shape_and_dtype():
    f = jc.Function(sympy.pi + sympy.Integer(1), variables=("x",))
    out = f(np.zeros((2, 3), np.float32))
    assert out.shape == (2, 3) and out.dtype == np.float32
    assert np.allclose(out, np.pi + 1)


PIECEWISE = sympy.Piecewise((sympy.sqrt(x), x > 0), (0, True))


def test_piecewise_values():
    f = jc.Function(PIECEWISE)
    got = f(np.array([-1.0, 0.0, 4.0]), dtype="float64")
    assert got.tolist() == [0.0, 0.0, 2.0]


@pytest.mark.parametrize("point", [-1.0, -4.0])
def test_piecewise_gradient_is_not_poisoned_by_the_unused_branch(point):
    f = jc.Function(PIECEWISE)
    assert float(jax.grad(f)(point)) == 0.0  # reverse mode
    assert float(jc.derivative(f, method="ad")(point)) == 0.0  # forward mode (fused jvp)
    assert float(f.diff()(point)) == 0.0  # symbolic
    assert float(jax.grad(f)(4.0)) == 0.25


def test_piecewise_with_log_branch():
    f = jc.Function(sympy.Piecewise((sympy.log(x), x > 0), (x**2, True)))
    xs = np.array([-2.0, 0.5])
    expected = [-4.0, 2.0]
    assert jc.derivative(f, method="ad")(xs).tolist() == expected
    assert jax.vmap(jax.grad(f))(xs).tolist() == expected
    assert f.diff()(xs).tolist() == expected


def test_piecewise_without_a_true_branch_is_nan_outside():
    f = jc.Function(sympy.Piecewise((x, x > 0)))
    assert np.isnan(f(-1.0)) and float(f(2.0)) == 2.0


@pytest.mark.parametrize(
    ("expr", "head"),
    [(sympy.besselj(0, x), "besselj"), (sympy.zeta(x), "zeta"),
     (sympy.sin(x) + sympy.fresnels(x), "fresnels")],
)
def test_unsupported_head_is_named_when_the_function_is_built(expr, head):
    with pytest.raises(jc.UnsupportedFunctionError, match=rf"`{head}`.*supported: .*sin"):
        jc.Function(expr)


def test_lowering_is_pure_jax():
    f = jc.Function(sympy.sin(x) * sympy.exp(-(x**2)))
    grid = jnp.linspace(-1.0, 1.0, 5)
    assert np.allclose(jax.jit(jax.vmap(f))(grid), float64(f(grid)))
