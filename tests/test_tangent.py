"""Tangent lines: the lecture's homework, batches, exact lines, poles, errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from conftest import mpmath_value, relative_error

import jaxcalc as jc

X = sympy.Symbol("x", real=True)


def test_the_homework_tangent():
    t = jc.tangent("x**3 - 1/x", at=1.0)
    assert t.variable == "x"
    assert t.line == 4 * X - 4
    assert (t.point, t.value, t.slope, t.intercept) == (1, 0, 4, -4)
    assert all(type(v) is float for v in (t.point, t.value, t.slope, t.intercept))
    assert t(np.array([0.0, 2.0])).tolist() == [-4.0, 4.0]
    assert t(3.0).shape == () and float(t(3.0)) == 8.0
    assert t(np.ones((2, 3))).shape == (2, 3)


def test_batched_tangents():
    t = jc.tangent("x**3 - 1/x", at=np.array([1.0, 2.0]))
    assert t.line is None
    assert t.point.tolist() == [1.0, 2.0]
    assert t.value.tolist() == [0.0, 7.5]
    assert t.slope.tolist() == [4.0, 12.25]
    assert t.intercept.tolist() == [-4.0, -17.0]
    xs = np.linspace(0.0, 1.0, 5)
    out = t(xs)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out, [4 * xs - 4, 12.25 * xs - 17], rtol=1e-6)
    assert t(3.0).shape == (2,)
    grid = jc.tangent("sin(x)", at=np.zeros((3, 4)))
    assert grid.slope.shape == (3, 4) and grid(np.ones(5)).shape == (3, 4, 5)


def test_tangent_accepts_a_list_and_a_function():
    f = jc.Function("x**2")
    assert jc.tangent(f, [0.5, 1.0]).slope.tolist() == [1.0, 2.0]


def test_exact_line_for_irrational_values():
    t = jc.tangent("sin(x)", at=1.0)
    assert t.line.has(sympy.cos(1))
    assert sympy.simplify(t.line - (sympy.cos(1) * (X - 1) + sympy.sin(1))) == 0
    assert jc.tangent("exp(x)", at=1.0).line == sympy.E * X


def test_exact_line_at_a_rational_point():
    t = jc.tangent("x**2", at=1 / 3, dtype="float64")
    assert t.line == 2 * X / 3 - sympy.Rational(1, 9)


def test_float64_tangent_matches_mpmath():
    f = jc.Function("exp(x)*cos(x)")
    t = jc.tangent(f, at=0.7, dtype="float64")
    assert type(t.slope) is float
    assert relative_error(t.value, mpmath_value(f.expr, 0.7)) <= 1e-15
    assert relative_error(t.slope, mpmath_value(f.expr, 0.7, n=1)) <= 1e-15
    assert jc.tangent(f, at=np.float32(0.7)).slope != t.slope  # computed in float32
    assert jc.tangent(f, at=np.array([0.7], np.float32)).slope.dtype == np.float32


def test_line_with_params_uses_their_values():
    f = jc.Function("a * x**2", params={"a": 1.5})
    line = jc.tangent(f, at=2.0).line  # float coefficients: params are numbers, not symbols
    assert [float(c) for c in sympy.Poly(line, X).all_coeffs()] == [6.0, -6.0]


def test_tangent_of_a_constant_is_itself():
    t = jc.tangent("2", at=1.0)
    assert t.variable == "x" and t.line == 2 and float(t.slope) == 0.0


@pytest.mark.parametrize(("text", "point"), [("1/x", 0.0), ("log(x)", -1.0), ("sqrt(x)", 0.0)])
def test_tangent_at_a_singular_point_has_no_line(text, point):
    t = jc.tangent(text, at=point)
    assert not (math.isfinite(float(t.value)) and math.isfinite(float(t.slope)))
    assert t.line is sympy.nan


def test_tangent_at_a_pole_in_a_batch():
    t = jc.tangent("1/x", at=[0.0, 1.0])
    assert float(t.value[0]) == math.inf and math.isnan(t.slope[0])
    assert t.slope[1] == -1.0 and t.intercept[1] == 2.0


def test_tangent_needs_one_variable():
    message = r"needs a function of one variable; `x\*y` has \('x', 'y'\)"
    with pytest.raises(jc.InputError, match=message):
        jc.tangent("x*y", at=1.0)


def test_tangent_rejects_bad_points():
    with pytest.raises(jc.InputError):
        jc.tangent("x**2", at="one")
    with pytest.raises(jc.InputError, match="complex"):
        jc.tangent("x**2", at=1j)


@pytest.mark.parametrize(("xs", "match"), [
    ("one", r"inputs must be numbers or arrays, got str"),
    (None, r"inputs must be numbers or arrays, got NoneType"),
    (np.array(["1.0"]), r"inputs must be arrays of real numbers, got dtype <U3"),
    ([1.0, [2.0]], r"could not read input as an array"),
])
def test_a_tangent_evaluates_real_numbers_only(xs, match):
    t = jc.tangent("x**2", at=1.0)
    np.testing.assert_array_equal(t([0.0, 2]), [-1.0, 3.0])
    with pytest.raises(jc.InputError, match=match):
        t(xs)


def test_tangents_inside_jax_transforms():
    t = jc.tangent("x**2", at=1.0)
    assert float(jax.grad(t)(2.0)) == 2.0  # the line's slope
    np.testing.assert_array_equal(jax.jit(t)(jnp.array([0.0, 2.0])), t([0.0, 2.0]))
    # the intercept of x**3's tangent at x is -2 x**3: its derivative -6 x**2
    assert float(jax.grad(lambda x: jc.tangent("x**3", at=x).intercept)(2.0)) == -24.0
    traced = jax.jit(lambda x: jc.tangent("x**3 - 1/x", at=x))(1.0)  # a Tangent is a pytree
    assert isinstance(traced, jc.Tangent) and traced.line is None
    assert (float(traced.value), float(traced.slope), float(traced.intercept)) == (0.0, 4.0, -4.0)
    batch = jax.vmap(lambda x: jc.tangent("x**2", at=x))(jnp.array([1.0, 2.0]))
    np.testing.assert_array_equal(batch(jnp.array([0.0, 1.0])), [[-1.0, 1.0], [-4.0, 0.0]])
    g = jc.Function("a*x**2", params={"a": 3.0})
    assert float(jax.grad(lambda g: jc.tangent(g, at=2.0).slope)(g).params["a"]) == 4.0
