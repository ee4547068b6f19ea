"""Derivatives: AD (`jc.derivative`, `jc.gradient`, `jc.hessian`) and symbolic (`Function.diff`)
against SymPy/mpmath, with one convention at singular points and kinks, on random expressions."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
import sympy
from conftest import float64, mpmath_value, relative_error
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import jaxcalc as jc

X, Y = sympy.symbols("x y", real=True)


def _both(f, wrt=None, n=1):
    """The AD and the symbolic n-th derivative of ``f``."""
    return {method: jc.derivative(f, wrt, n, method=method) for method in ("ad", "symbolic")}


# -- orders 0..6 -------------------------------------------------------------------------------
ORDER_CASES = ["sin(x)*exp(x/2)", "x**3 - 1/x", "log(x**2 + 1)", "atan(x)",
               "sqrt(x**2 + 1)*erf(x)", "gamma(x)", "tanh(x)**2", "x**3*Abs(x)"]
ORDER_POINTS = np.array([0.7, 1.3, 2.1])


@pytest.mark.parametrize("text", ORDER_CASES)
def test_orders_0_to_6_match_mpmath(text):
    f = jc.Function(text)
    for n in range(7):
        expected = [mpmath_value(f.expr, p, n=n) for p in ORDER_POINTS]
        for method, d in _both(f, n=n).items():
            got = d(ORDER_POINTS)
            assert got.dtype == np.float64  # inferred from the NumPy input
            assert relative_error(got, expected) <= 1e-13, (n, method)


def test_orders_in_float32():
    f = jc.Function("sin(x)*exp(x/2)")
    points = ORDER_POINTS.astype(np.float32)
    for n in range(5):
        expected = [mpmath_value(f.expr, float(p), n=n) for p in points]
        for d in _both(f, n=n).values():
            assert d(points).dtype == np.float32
            assert relative_error(d(points), expected) <= 1e-5


def test_order_zero_is_the_function():
    f = jc.Function("x**3 - 1/x")
    xs = np.array([0.5, 2.0])
    for d in _both(f, n=0).values():
        np.testing.assert_array_equal(d(xs), f(xs))


def test_partial_derivatives_of_several_variables():
    f = jc.Function("x**2 * sin(y) + exp(x*y)")
    point = {"x": 0.6, "y": -1.1}
    for wrt in ("x", "y"):
        for n in (1, 2, 3):
            expected = mpmath_value(f.expr, point, wrt=wrt, n=n)
            for d in _both(f, wrt, n).values():
                assert relative_error(d(0.6, -1.1, dtype="float64"), expected) <= 1e-13


def test_order_may_be_a_numpy_integer():
    assert float(jc.derivative("x**3", n=np.int64(2))(1.0)) == 6.0


def test_derivative_accepts_text_and_sympy():
    assert float(jc.derivative("x**3 - 1/x")(2.0)) == 12.25
    assert float(jc.derivative(X**3 - 1 / X)(2.0)) == 12.25
    assert sympy.expand(jc.Function("x**3 - 1/x").diff(n=2).expr) == 6 * X - 2 / X**3


# -- gradient and Hessian --------------------------------------------------------------------------
GH = X**2 * Y + sympy.sin(Y) * X


def test_gradient_shape_and_values():
    f = jc.Function(GH)
    xs, ys = np.linspace(-1, 1, 3).reshape(3, 1), np.linspace(0.5, 2, 4)
    g = jc.gradient(f)(xs, ys)
    assert g.shape == (3, 4, 2) and g.dtype == np.float64
    for i, j in np.ndindex(3, 4):
        point = {"x": xs[i, 0], "y": ys[j]}
        expected = [mpmath_value(GH, point, wrt=v, n=1) for v in ("x", "y")]
        assert relative_error(g[i, j], expected) <= 1e-14
    assert jc.gradient(f)(1.0, 2.0).shape == (2,)
    assert jc.gradient("x**2")(np.ones(5)).shape == (5, 1)


def test_hessian_shape_and_values():
    f = jc.Function(GH)
    xs, ys = np.linspace(-1, 1, 3).reshape(3, 1), np.linspace(0.5, 2, 4)
    h = jc.hessian(f)(xs, ys)
    assert h.shape == (3, 4, 2, 2)
    np.testing.assert_array_equal(h, np.swapaxes(h, -1, -2))
    exact = sympy.hessian(GH, (X, Y))
    for i, j in np.ndindex(3, 4):
        point = {"x": xs[i, 0], "y": ys[j]}
        expected = [[mpmath_value(exact[r, c], point) for c in range(2)] for r in range(2)]
        assert relative_error(h[i, j], expected) <= 1e-14
    assert jc.hessian(f)(1.0, 2.0).shape == (2, 2)


def test_gradient_is_nan_where_f_is_not_finite():
    g = jc.gradient("log(x) + y")(np.array([-1.0, 1.0]), 0.0)
    assert np.isnan(g[0]).all() and g[1].tolist() == [1.0, 1.0]
    assert np.isnan(jc.hessian("log(x*y)")(-1.0, 1.0)).all()


# -- constants -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 4])
def test_constant_derivative_keeps_the_grid_shape_and_a_float_dtype(n):
    grid = np.zeros((2, 3))
    for d in _both("3*x", n=n).values():
        out = d(grid)
        assert out.shape == (2, 3) and out.dtype == np.float64
        assert out.tolist() == [[3.0 if n == 1 else 0.0] * 3] * 2
    out = jc.derivative("3*x")(np.zeros((2, 3), np.int32))
    assert out.shape == (2, 3) and out.dtype == np.float64  # integers: NumPy's float64


def test_derivative_of_a_constant_function():
    f = jc.Function("7", variables="x")
    assert f.diff()(np.ones((2, 2))).shape == (2, 2)
    for d in _both(f).values():
        assert d(np.ones(4)).tolist() == [0.0] * 4
    # Without variables, a constant is differentiated as a function of `wrt` (default x).
    for d in [*_both("7").values(), jc.derivative(jc.Function("pi"), "t")]:
        assert d(np.ones((2, 3))).shape == (2, 3) and not d(np.ones(3)).any()
    assert jc.gradient("7")(np.ones(3)).shape == (3, 1)
    assert jc.hessian("7")(1.0).tolist() == [[0.0]]


# -- singular points and kinks ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "point"),
    [("log(x)", -1.0), ("log(x)", 0.0), ("sqrt(x)", -4.0), ("1/x", 0.0), ("1/x**2", 0.0),
     ("acosh(x)", 0.5), ("x + log(x)", -2.0), ("asin(x)", 2.0)],
)
def test_derivative_is_nan_where_f_is_not_finite(text, point):
    for n in (1, 2, 3):
        for method, d in _both(text, n=n).items():
            assert math.isnan(float(d(point))), (method, n)


@pytest.mark.parametrize(
    ("text", "point", "expected"),
    [("Abs(x)", 0.0, 0.0), ("Abs(x**2 - 1)", 1.0, 0.0), ("Abs(x)", -2.0, -1.0),
     ("Max(x, 1)", 1.0, 0.5), ("Min(x, 1)", 1.0, 0.5), ("Max(x, 2*x)", 0.0, 1.5),
     ("Max(x, 1)", 3.0, 1.0), ("Min(x, 1)", 3.0, 0.0),
     ("sign(x)", 0.0, 0.0), ("sign(x)", 1.5, 0.0), ("Heaviside(x)", 0.0, 0.0),
     ("Heaviside(x)", -1.0, 0.0), ("x*Heaviside(x)", 0.0, 0.5),
     ("floor(x)", 1.0, 0.0), ("floor(x)", 0.5, 0.0), ("ceiling(x)", 2.0, 0.0),
     ("ceiling(x)", -0.5, 0.0), ("x*floor(x)", 1.5, 1.0)],
)
def test_kink_conventions_are_shared_by_both_paths(text, point, expected):
    for method, d in _both(text).items():
        assert float(d(point, dtype="float64")) == expected, method


def test_max_min_tie_in_two_variables():
    for text in ("Max(x, y)", "Min(x, y)"):
        for wrt in ("x", "y"):
            for d in _both(text, wrt).values():
                assert float(d(1.0, 1.0)) == 0.5
        assert jc.gradient(text)(2.0, 2.0).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("text", ["x*Abs(x)", "Abs(x)**3", "x**3*Abs(x)", "exp(-Abs(x))"])
def test_higher_orders_at_a_kink_agree(text):
    for n in range(1, 6):
        ad, symbolic = _both(text, n=n).values()
        assert float(ad(0.0)) == float(symbolic(0.0)) == 0.0, n


def test_pole_values():
    f = jc.Function("1/x")
    assert float(f(0.0)) == math.inf
    for d in _both(f).values():
        assert math.isnan(float(d(0.0))) and float(d(-0.5)) == -4.0


def test_high_orders():
    # Taylor mode where every function has a rule: order 20 of exp is cheap and exact.
    value = jc.derivative("exp(2*x)", n=20, method="ad")(0.5, dtype="float64")
    assert relative_error(value, 2.0**20 * math.e) <= 1e-13
    # Without a Taylor rule (gamma), nested jvp doubles per order: refused beyond 8, up front.
    with pytest.raises(jc.ResourceError, match="use method='symbolic' or an order <= 8"):
        jc.derivative("gamma(x)", n=9, method="ad")
    exact = mpmath_value(sympy.gamma(X), 1.5, n=9)
    for method in ("symbolic", "auto"):  # auto falls back to the exact symbolic path
        d = jc.derivative("gamma(x)", n=9, method=method)
        assert relative_error(d(1.5, dtype="float64"), exact) <= 1e-12


# -- errors ----------------------------------------------------------------------------------------
def test_derivative_errors():
    with pytest.raises(jc.InputError, match=r"`wrt` is needed: .* variables \('x', 'y'\)"):
        jc.derivative("x*y")
    with pytest.raises(jc.InputError, match=r"`wrt` must be one of .* \('x',\), got 'z'"):
        jc.derivative("x**2", "z")
    for bad in (-1, 1.5, True, "2", 33, 10**6):
        with pytest.raises(jc.InputError, match="order `n` must be an integer from 0 to 32"):
            jc.derivative("x**2", n=bad)
    with pytest.raises(jc.InputError, match="`method` must be one of"):
        jc.derivative("x**2", method="numeric")
    with pytest.raises(jc.InputError, match=r"takes 1 input\(s\), got 2"):
        jc.derivative("x**2")(1.0, 2.0)


def test_derived_is_a_pytree_and_traceable():
    f = jc.Function("a * x**3", params={"a": 2.0})
    d = jc.derivative(f)
    leaves, treedef = jax.tree_util.tree_flatten(d)
    assert [float(v) for v in leaves] == [2.0]
    assert float(jax.tree_util.tree_unflatten(treedef, [np.float32(1.0)])(2.0)) == 12.0
    assert float(jax.jit(lambda g, v: g(v))(d, 2.0)) == 24.0
    np.testing.assert_allclose(jax.vmap(d)(np.arange(3.0)), [0.0, 6.0, 24.0])


# -- random expressions ---------------------------------------------------------------------------
def _safe_unary(g):
    """Allow-listed functions composed so that every one stays inside its smooth domain
    (``Abs``, ``Max`` and ``Min`` have kinks, which the points below almost never hit)."""
    return st.sampled_from([
        sympy.sin(g), sympy.cos(g), sympy.atan(g), sympy.tanh(g), sympy.erf(g),
        sympy.asinh(g), sympy.exp(sympy.sin(g)), sympy.log(g**2 + 1), sympy.sqrt(g**2 + 1),
        sympy.cbrt(g**2 + 1), sympy.acosh(g**2 + 2), sympy.asin(sympy.tanh(g) / 2),
        sympy.acos(sympy.erf(g) / 2), sympy.atanh(sympy.tanh(g) / 2), sympy.erfc(g),
        sympy.gamma(g**2 + 1), sympy.loggamma(g**2 + 3), sympy.cosh(sympy.sin(g)),
        sympy.sinh(sympy.atan(g)), sympy.tan(sympy.atan(g) / 2), sympy.atan2(g, g**2 + 1),
        sympy.log(sympy.exp(g) + 1, 2), g**2, g**3, 1 / (g**2 + 1), sympy.Abs(g),
    ])


_LEAVES = st.sampled_from([X, X, X, sympy.Integer(2), sympy.Rational(1, 3), sympy.pi])


def _combine(children):
    pairs = st.tuples(children, children)
    return st.one_of(
        children.flatmap(_safe_unary),
        pairs.map(lambda ab: ab[0] + ab[1]),
        pairs.map(lambda ab: ab[0] - ab[1]),
        pairs.map(lambda ab: ab[0] * ab[1]),
        pairs.map(lambda ab: ab[0] / (ab[1] ** 2 + 1)),
        pairs.map(lambda ab: sympy.Max(*ab)),
        pairs.map(lambda ab: sympy.Min(*ab)),
    )


EXPRESSIONS = st.recursive(_LEAVES, _combine, max_leaves=6).filter(lambda e: e.has(X))
RANDOM_POINTS = (-1.3, 0.4, 1.7)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=EXPRESSIONS, n=st.sampled_from([1, 1, 2]))
@example(expr=sympy.Abs(sympy.acos(sympy.erf(X**2) / 2)), n=1)  # SymPy's derivative: re, im
@example(expr=sympy.Abs(sympy.asin(sympy.tanh(X) / 2)), n=2)  # the first order makes a sign
def test_random_expressions_ad_symbolic_and_mpmath_agree(expr, n):
    expected = np.array([mpmath_value(expr, p, n=n) for p in RANDOM_POINTS])
    values = np.array([mpmath_value(expr, p) for p in RANDOM_POINTS])
    # Smooth, moderate points only: the reference is finite and not huge.
    assume(np.isfinite(expected).all() and np.isfinite(values).all())
    assume(np.abs(expected).max() < 1e6 and np.abs(values).max() < 1e6)
    f = jc.Function(expr)
    points = np.array(RANDOM_POINTS)
    results = {method: float64(d(points)) for method, d in _both(f, n=n).items()}
    # Conditioning: rounding errors of size eps·(magnitude of the result's terms) are amplified
    # by up to ~|x·f'/f| per level; a few 1e-12 relative (absolute below 1) covers the grammar.
    for method, got in results.items():
        assert relative_error(got, expected, floor=1.0) <= 5e-12, (method, expr, got, expected)
    assert relative_error(results["ad"], results["symbolic"], floor=1.0) <= 5e-12


@pytest.mark.parametrize("text", ["Abs(acos(x/2))", "Abs(asin(x))", "Abs(acos(erf(x**2)/2))"])
def test_sympys_derivative_of_abs_through_re_and_im_lowers(text):
    """Where SymPy cannot prove the argument of Abs real it differentiates through ``re`` and
    ``im``; jaxcalc's values are real, so both lower, and agree with AD (NaN outside f's
    domain)."""
    points = np.array([-3.0, -0.5, 0.5, 0.9, 3.0])
    symbolic = jc.derivative(text, method="symbolic")
    assert symbolic.expr.has(sympy.re) or symbolic.expr.has(sympy.im)
    np.testing.assert_allclose(np.asarray(symbolic(points)),
                               np.asarray(jc.derivative(text, method="ad")(points)), rtol=1e-14)
