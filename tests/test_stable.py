"""The stable functions (``_core.stable``) and the stable rewrites (``_core.rewrite``)."""

from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import sympy
from jax.experimental import jet
from sympy.codegen.cfunctions import expm1, hypot, log1p

import jaxcalc as jc
from jaxcalc._core import stable, tails
from jaxcalc._core.functions_table import logaddexp, logistic, softplus
from jaxcalc._core.rewrite import stabilize
from jaxcalc._tools.bench import GRID_FUNCTIONS

X, Y = sympy.symbols("x y", real=True)


def finite_radius_points(head: type) -> list[float]:
    """Points reaching both sides of a finite-radius tail's junction (``tails.NEAR_FINITE``),
    near 0 and far, inside its function's domain."""
    near = tails.NEAR_FINITE[head.g][head.p]
    low, high = {sympy.asin: (-1, 1), sympy.atanh: (-1, 1), sympy.tan: (-1.55, 1.55),
                 log1p: (-1, 50)}.get(head.g, (-50, 50))
    return [p for p in (1e-9, -1e-4, 0.05, near * (1 - 1e-9), -near * (1 + 1e-9), 1.2 * near,
                        -1.5 * near, 0.9, -0.9, 3.0, -30.0) if low < p < high]


#: function → (its SymPy form, points reaching its tails)
FUNCTIONS = {
    "tanh": (sympy.tanh(X), [1e-9, 0.3, -2.5, 15.0, -35.0, 40.0]),
    "sech": (sympy.sech(X), [1e-9, 0.3, -2.5, 15.0, -35.0, 40.0]),
    "coth": (sympy.coth(X), [1e-9, 0.3, -2.5, 15.0, -35.0, 40.0]),
    "csch": (sympy.csch(X), [1e-9, 0.3, -2.5, 15.0, -35.0, 40.0]),
    "logistic": (1 / (1 + sympy.exp(-X)), [1e-9, 0.3, -2.5, 15.0, -40.0, 40.0, -300.0]),
    "atanh": (sympy.atanh(X), [1e-8, 0.3, -0.6, -0.999999, 0.99999999]),
    "asinh": (sympy.asinh(X), [1e-9, 0.3, 1e10, -1e150]),
    "acosh": (sympy.acosh(X), [1.0000001, 1.5, 3e10, 1e150]),
    "log1p": (sympy.log(1 + X), [1e-12, -1e-10, 3.0, -0.999999]),
    "expm1": (sympy.exp(X) - 1, [1e-12, -1e-10, 3.0, -30.0]),
    "erfc": (sympy.erfc(X), [0.3, -3.0, 5.0, 20.0, -25.0]),
    "logcosh": (sympy.log(sympy.cosh(X)), [1e-9, -0.3, 0.7499, 0.75, -2.5, 15.0, -40.0]),
    "softplus": (sympy.log(1 + sympy.exp(X)), [-800.0, -30.0, -1e-9, 0.0, 0.3, 30.0, 300.0]),
    "logaddexp": (sympy.log(sympy.exp(X) + sympy.exp(2 * X)),
                  [-800.0, -30.0, -1e-9, 0.0, 0.3, 30.0, 100.0]),
    "sinc": (sympy.sin(X) / X, [1e-9, -1e-4, 0.3, -1.8, 2.4999, -2.5, 3.0, 30.0]),
    "sinhc": (sympy.sinh(X) / X, [1e-9, -1e-4, 0.3, -1.8, 2.4999, -2.5, 3.0, 30.0]),
    "exprel": ((sympy.exp(X) - 1) / X, [1e-9, -1e-4, 0.3, -1.8, 2.4999, -2.5, 3.0, -30.0]),
    "exptail2": ((sympy.exp(X) - 1 - X) / X**2, [1e-9, -1e-4, 0.3, -1.8, 3.4999, -3.5, 5.0, -30.0]),
    **{name: (expr, [1e-9, -1e-4, 0.3, -1.8, 4.4999, -4.5, 6.0, 30.0]) for name, expr in {
        "sintail3": (sympy.sin(X) - X) / X**3,
        "sinhtail3": (sympy.sinh(X) - X) / X**3,
        "exptail3": (sympy.exp(X) - 1 - X - X**2 / 2) / X**3,
        "costail4": (sympy.cos(X) - 1 + X**2 / 2) / X**4,
        "coshtail4": (sympy.cosh(X) - 1 - X**2 / 2) / X**4}.items()},
    "langevin": (sympy.coth(X) - 1 / X, [1e-9, -1e-4, 0.3, -1.8, 3.4999, -3.5, 5.0, 30.0, -400.0]),
    "xcoth": (X * sympy.coth(X), [1e-9, -1e-4, 0.3, -1.8, 3.4999, -3.5, 5.0, 30.0, -400.0]),
    "bose": (1 / (sympy.exp(X) - 1) - 1 / X,
             [1e-9, -1e-4, 0.3, -1.8, 6.9999, -7.0001, 30.0, -400.0, 800.0]),
    "hypot_excess": (sympy.sqrt(1 + X**2) - 1, [1e-9, -1e-5, 0.3, -3.0, 1e10, -1e200]),
    **{head.__name__.lower(): (head.closed(X), finite_radius_points(head))
       for head in tails.HEADS if issubclass(head, tails.Tail) and head.g in tails.NEAR_FINITE},
}
#: The JAX function of each name
IMPLEMENTATIONS = {**{name: getattr(stable, name) for name in FUNCTIONS if hasattr(stable, name)},
                   "sinc": tails.sinc,
                   **{head.__name__.lower(): fn for head, fn in tails.HEADS.items()},
                   "hypot_excess": lambda x: stable.hypot_excess(1.0, x),
                   "logaddexp": lambda x: stable.logaddexp(x, 2 * x)}
#: Looser bounds (float64, float32; float64 at orders 3-4 where it differs) for the tails after
#: degree 2 and 3: at their junctions both forms lose a few bits (``_core.tails``); for the
#: tails of functions of finite radius, ~3x the errors measured there, from order 2 on those of
#: the quotients beyond (``NEAR_FINITE``)
TOLERANCES = {**{name: (3e-14, 2e-5) for name in ("sintail3", "sinhtail3", "exptail3",
                                                  "costail4", "coshtail4")},
              "langevin": (1e-14, 5e-6), "xcoth": (3e-14, 5e-6), "bose": (3e-14, 5e-6),
              "log1pc": (3e-14, 3e-5, 5e-13), "atanc": (2e-14, 4e-5, 1e-12),
              "atanhc": (2e-14, 3e-5, 1e-13), "asinc": (1e-14, 5e-5, 1e-13),
              "asinhc": (3e-14, 1e-4, 1.5e-12), "tanc": (1e-14, 2e-6, 2e-14),
              "tanhc": (1.5e-13, 5e-5, 1e-14), "log1ptail2": (2e-14, 1.2e-4, 1e-12),
              "log1ptail3": (2e-13, 2.5e-4, 6e-12), "atantail3": (5e-13, 2e-3, 1e-10),
              "atanhtail3": (1.2e-12, 1.2e-3, 2e-11), "asintail3": (6e-13, 4e-3, 1e-11),
              "asinhtail3": (2.5e-12, 1.2e-2, 1.2e-9), "tantail3": (1e-14, 4e-5, 3e-14),
              "tanhtail3": (1.5e-12, 8e-4, 1.2e-12)}


def exact(expr: sympy.Expr, n: int, point: float, digits: int = 160) -> float:
    """The n-th derivative at ``point``, from ``digits``-digit mpmath (SymPy's derivatives cancel
    in their tails: about |point|·0.87 digits for those of ``log(cosh(u))``, 60 for the third
    of ``(cos(x) - 1 + x**2/2)/x**4`` at 1e-9)."""
    with mpmath.workdps(digits):
        return float(sympy.lambdify(X, sympy.diff(expr, X, n), "mpmath")(mpmath.mpf(point)))


def pointwise(text: str, n: int, points: list[float], rewrite: bool = True) -> np.ndarray:
    """Relative errors, point by point, of ``text``'s ``n``-th derivative (its value for
    ``n = 0``) in float64 against :func:`exact`, where the reference is not 0 (underflow)."""
    f = jc.Function(text, rewrite=rewrite)
    expr, xs = sympy.sympify(text, locals={"x": X}), np.array(points)
    expected = np.array([exact(expr, n, x) for x in xs])
    usable = np.abs(expected) > 1e-300
    with jax.enable_x64(True):
        got = np.asarray((jc.derivative(f, n=n) if n else f)(xs))
    return np.abs(got - expected)[usable] / np.abs(expected[usable])


def limit_at_zero(expr: sympy.Expr) -> sympy.Expr:
    """The limit at ``x = 0``, from the series to order 2 (SymPy 1.14's ``limit`` gives -oo for
    ``coth(x) - 1/x``, and its series of ``x*coth(x)`` to order 1 is ``O(x)``)."""
    return sympy.series(expr, X, 0, 2).removeO().subs(X, 0)


def relative(actual, expected: float) -> float:
    return abs(float(actual) - expected) / abs(expected)


def taylor(fn, x, n: int):
    """The n-th derivative by Taylor mode (``jet``) alone."""
    series = (jnp.ones_like(x),) + (jnp.zeros_like(x),) * (n - 1)
    return jet.jet(fn, (x,), (series,))[1][-1]


def nested(fn, n: int):
    for _ in range(n):
        fn = jax.grad(fn)
    return fn


def forward(fn, n: int):
    """The n-th derivative by nested forward mode (``jvp``)."""
    for _ in range(n):
        fn = (lambda f: lambda x: jax.jvp(f, (x,), (jnp.ones_like(x),))[1])(fn)
    return fn


@pytest.mark.parametrize("name", FUNCTIONS)
def test_values_and_derivatives_orders_0_to_4(name):
    """Every rule (value, grad at orders 1-2, Taylor mode at orders 1-4) keeps its relative
    accuracy into the tails, in float64."""
    expr, points = FUNCTIONS[name]
    fn = IMPLEMENTATIONS[name]
    with jax.enable_x64(True):
        xs = jnp.array(points, jnp.float64)
        for n in range(5):
            expected = np.array([exact(expr, n, point) for point in points])
            got = [fn(xs)] if n == 0 else [jax.jit(taylor, static_argnums=(0, 2))(fn, xs, n)]
            got += [jax.vmap(nested(fn, n))(xs)] if 1 <= n <= 2 else []
            usable = (np.abs(expected) > 1e-300) & (np.abs(expected) < 1e300)
            for values in got:
                with np.errstate(all="ignore"):  # 0/0 where the reference underflows
                    error = np.abs(np.asarray(values) - expected) / np.abs(expected)
                bounds = TOLERANCES.get(name, (5e-15,))
                bound = bounds[2] if n >= 3 and len(bounds) > 2 else bounds[0]
                assert np.all(error[usable] < bound), (name, n, error)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_float32_derivatives(name):
    expr, points = FUNCTIONS[name]
    fn = IMPLEMENTATIONS[name]
    xs = jnp.array([p for p in points if abs(p) < 1e30], jnp.float32)
    for n in (1, 2, 3):
        expected = np.array([exact(expr, n, float(x)) if abs(x) != 1 else np.nan for x in xs])
        usable = (np.abs(expected) > 1e-30) & (np.abs(expected) < 1e30)  # atanh(±1): NaN
        with np.errstate(all="ignore"):
            error = np.abs(np.asarray(taylor(fn, xs, n), np.float64) - expected) / np.abs(expected)
        assert np.all(error[usable] < TOLERANCES.get(name, (0, 5e-6))[1]), (name, n, error)


def test_the_textbook_rule_loses_what_the_stable_one_keeps():
    with jax.enable_x64(True):
        assert float(jax.grad(jnp.tanh)(20.0)) == 0.0  # 1 - tanh(20)**2 rounds to 0
        assert relative(jax.grad(stable.tanh)(jnp.float64(20.0)), exact(sympy.tanh(X), 1, 20.0)
                        ) < 1e-15


def test_transformations_compose():
    """jit, vmap, reverse mode and forward mode agree; dtypes are kept; weak Python numbers."""
    xs = jnp.linspace(-30.0, 30.0, 7, dtype=jnp.float32)
    forward = jax.vmap(lambda x: jax.jvp(stable.tanh, (x,), (jnp.ones_like(x),))[1])(xs)
    reverse = jax.jit(jax.vmap(jax.grad(stable.tanh)))(xs)
    np.testing.assert_allclose(forward, reverse, rtol=1e-6)
    assert reverse.dtype == jnp.float32
    assert stable.hypot(xs, 2).dtype == jnp.float32
    assert float(stable.expm1(1)) == pytest.approx(np.expm1(1.0), rel=1e-6)


def test_hypot_no_overflow_and_a_finite_slope_at_the_origin():
    with jax.enable_x64(True):
        big = jnp.float64(1e200)
        assert float(stable.hypot(big, big)) == pytest.approx(np.sqrt(2) * 1e200, rel=1e-15)
        assert float(jax.grad(stable.hypot)(big, big)) == pytest.approx(np.sqrt(0.5), rel=1e-15)
        # d²/da² hypot(a, 1) = 1/hypot³: the quotient rule's 1/h - a²/h³ would cancel
        a = jnp.float64(1e6)
        expected = exact(sympy.sqrt(X**2 + 1), 2, 1e6)
        assert relative(nested(lambda a: stable.hypot(a, 1.0), 2)(a), expected) < 1e-15
        assert relative(taylor(lambda a: stable.hypot(a, 1.0), a, 3),
                        exact(sympy.sqrt(X**2 + 1), 3, 1e6)) < 1e-14
    zero = jnp.float32(0.0)
    assert jax.grad(stable.hypot, argnums=(0, 1))(zero, zero) == (0.0, 0.0)


def test_square_difference_keeps_value_and_slope():
    with jax.enable_x64(True):
        near_one = jnp.float64(1 - 2.0**-40)
        assert float(stable.sqdiff(1.0, near_one)) == (1 - float(near_one)) * (1 + float(near_one))
        tiny = jnp.float64(1e-9)  # d/db (1 - b²) = -2b: the factored form's rule would cancel
        assert float(jax.grad(lambda b: stable.sqdiff(1.0, b))(tiny)) == -2e-9
        assert float(taylor(lambda b: stable.sqdiff(1.0, b), tiny, 1)) == -2e-9


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_logcosh_at_zero_both_signs_and_where_cosh_overflows(dtype):
    """Value and derivatives 1-4 (nested jvp and Taylor mode) keep their relative accuracy, at
    |u| = 1e3 too, where ``log(cosh(u))`` as written overflows; exact zeros at u = 0."""
    points = [0.0, 1e-9, -0.3, 0.7499, 0.75, -0.9, 2.5, -15.0, 40.0, -700.0, 800.0, -1e3]
    info, expr = np.finfo(dtype), sympy.log(sympy.cosh(X))
    with jax.enable_x64(dtype == jnp.float64):
        xs = jnp.array(points, dtype)
        assert np.isinf(np.asarray(jnp.log(jnp.cosh(xs)))[-2:]).all()
        for n in range(5):
            expected = np.array([exact(expr, n, float(x), digits=1000) for x in xs])
            got = [stable.logcosh(xs)] if n == 0 else [
                jax.jit(forward(stable.logcosh, n))(xs),
                jax.jit(taylor, static_argnums=(0, 2))(stable.logcosh, xs, n)]
            zero, usable = expected == 0, np.abs(expected) > info.tiny  # sech(1e3)**2 underflows
            for values in got:
                assert values.dtype == dtype
                values = np.asarray(values, np.float64)
                assert np.all(values[zero] == 0), n
                error = np.abs(values[usable] - expected[usable]) / np.abs(expected[usable])
                assert np.all(error < 32 * info.eps), (n, error / info.eps)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_logcosh_values_within_an_ulp_across_both_forms(dtype):
    """Dense in [-3, 3] and around |u| = 3/4, where the polynomial in u² hands over to
    ``|u| - log(2) + log1p(exp(-2|u|))``: the value within ~1 ulp of 50-digit mpmath."""
    near = np.linspace(0.74, 0.76, 201)
    points = np.concatenate([np.linspace(-3, 3, 601), near, -near, np.geomspace(1e-6, 1e3, 200)])
    with jax.enable_x64(dtype == jnp.float64):
        xs = jnp.asarray(points, dtype)
        got = np.asarray(stable.logcosh(xs), np.float64)
    with mpmath.workdps(50):
        expected = np.array([float(mpmath.log(mpmath.cosh(mpmath.mpf(float(x))))) for x in xs])
    usable = expected != 0
    error = np.abs(got[usable] - expected[usable]) / expected[usable]
    assert error.max() < 2 * np.finfo(dtype).eps, error.max() / np.finfo(dtype).eps


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_log1p_values_within_about_two_ulp(dtype):
    """Tiny, near -1, around -0.41 (where XLA's own float64 log1p is off by 122 ulp), huge; and
    the ends: -1, below -1, infinity, NaN."""
    rng = np.random.default_rng(8)
    finfo = np.finfo(dtype)
    points = np.concatenate([rng.uniform(-1, 1, 2000), -1 + np.geomspace(finfo.eps, 1, 300),
                             np.geomspace(finfo.tiny, finfo.max / 2, 600), -0.41 + np.linspace(
                                 -1e-3, 1e-3, 201), -np.geomspace(finfo.tiny, 0.5, 300)])
    with jax.enable_x64(dtype == jnp.float64):
        xs = jnp.asarray(points, dtype)
        got = np.asarray(stable.log1p(xs), np.float64)
        ends = np.asarray(stable.log1p(jnp.asarray([-1, -2, np.inf, np.nan, 0], dtype)))
    with mpmath.workdps(50):
        expected = np.array([float(mpmath.log1p(mpmath.mpf(float(x)))) for x in xs])
    ulp = np.abs(got - expected) / np.spacing(np.abs(expected).astype(dtype)).astype(np.float64)
    assert ulp.max() < 2.5, ulp.max()  # XLA's own log1p: 2.25 in float32, 122 in float64
    np.testing.assert_array_equal(ends, [-np.inf, np.nan, np.inf, np.nan, 0])


# -- rewrites ---------------------------------------------------------------------------------
U = 2 * sympy.sin(X) + X  # any subexpression (no constant term: 1 + u stays 1 + u)
REWRITES = [
    (1 - sympy.tanh(U) ** 2, sympy.sech(U) ** 2),
    (3 - 3 * sympy.tanh(U) ** 2, 3 * sympy.sech(U) ** 2),
    (Y * sympy.tanh(U) ** 2 - Y, -Y * sympy.sech(U) ** 2),
    (1 - sympy.coth(U) ** 2, -sympy.csch(U) ** 2),
    (1 - sympy.sech(U) ** 2, sympy.tanh(U) ** 2),
    (1 + sympy.tanh(U), 2 * logistic(2 * U)),
    (1 - logistic(U), logistic(-U)),
    (2 * logistic(U) - 1, sympy.tanh(U / 2)),
    (1 - sympy.erf(U), sympy.erfc(U)),
    (1 - sympy.erfc(U), sympy.erf(U)),
    (sympy.exp(U) - 1, expm1(U)),
    (Y - Y * sympy.exp(U), -Y * expm1(U)),
    (1 - sympy.cos(U), 2 * sympy.sin(U / 2) ** 2),
    (sympy.cosh(U) - 1, 2 * sympy.sinh(U / 2) ** 2),
    (sympy.sin(U) / U, sympy.sinc(U)),
    ((1 - sympy.cos(X)) / X**2, sympy.sinc(X / 2) ** 2 / 2),
    ((sympy.cosh(3 * X) - 1) / X**2, 9 * tails.Sinhc(3 * X / 2) ** 2 / 2),
    (X**3 / (sympy.exp(X) - 1), X**2 / tails.Exprel(X)),
    (sympy.sin(2 * X - 2) ** 3 / (1 - X), -2 * sympy.sinc(2 * X - 2) * sympy.sin(2 * X - 2) ** 2),
    (Y * sympy.sinh(X * Y) / X**2, Y**2 * tails.Sinhc(X * Y) / X),
    (X - sympy.sin(X), -tails.SinRest3(X)),
    ((X - sympy.sin(X)) / X, -(X**2) * tails.SinTail3(X)),
    ((sympy.exp(U) - 1 - U) / U**2, tails.ExpTail2(U)),
    (expm1(X) - X, tails.ExpRest2(X)),
    (sympy.exp(X) - X + 3, tails.ExpRest2(X) + 4),
    (6 * sympy.sin(2 * X) - 12 * X, 6 * tails.SinRest3(2 * X)),
    (Y * sympy.sinh(X) - X * Y, Y * tails.SinhRest3(X)),
    (sympy.exp(X) - 1 - X - X**2 / 2, tails.ExpRest3(X)),
    ((sympy.cos(X) - 1 + X**2 / 2) / X**4, tails.CosTail4(X)),
    (sympy.cosh(X) - 1 - X**2 / 2, tails.CoshRest4(X)),
    (X - sympy.log(1 + X), -tails.Log1pRest2(X)),
    (sympy.log(1 + X) / X, tails.Log1pc(X)),
    ((sympy.log(1 + X) - X) / X**2, tails.Log1pTail2(X)),
    (2 * X / sympy.atan(2 * X), 1 / tails.Atanc(2 * X)),
    (sympy.tan(X) - X, tails.TanRest3(X)),
    (X * Y - Y * sympy.atanh(X), -Y * tails.AtanhRest3(X)),
    (1 / (sympy.sqrt(X + 1) - sympy.sqrt(X)), sympy.sqrt(X) + sympy.sqrt(X + 1)),
    (sympy.coth(U) - 1 / U, tails.Langevin(U)),
    (3 / sympy.tanh(X / Y) - 3 * Y / X + 1, 3 * tails.Langevin(X / Y) + 1),
    (X / sympy.tanh(X), tails.Xcoth(X)),
    (1 / X - 1 / (sympy.exp(X) - 1), -tails.Bose(X)),
    (3 / (sympy.exp(2 * X) - 1) - 3 / (2 * X), 3 * tails.Bose(2 * X)),
    (Y * X**2 / sympy.tanh(2 * X), Y * X * tails.Xcoth(2 * X) / 2),
    (X * sympy.coth(2 * X) / 2 - sympy.Rational(1, 4), X * tails.Langevin(2 * X) / 2),
    (sympy.log(1 + U), log1p(U)),
    (sympy.log(1 + sympy.exp(-U)), softplus(-U)),
    (Y * sympy.log(sympy.exp(X) + 1), Y * softplus(X)),
    (-sympy.log(1 / (1 + sympy.exp(-X))), softplus(-X)),
    (sympy.log(1 - logistic(X)), -softplus(X)),
    (sympy.log(sympy.exp(X) + sympy.exp(Y)), logaddexp(X, Y)),
    (sympy.log(2 + sympy.exp(U)), logaddexp(sympy.log(2), U)),
    (sympy.log(sympy.exp(X) + sympy.exp(2 * X) + sympy.exp(3 * X)),
     logaddexp(logaddexp(X, 2 * X), 3 * X)),
    (sympy.log(sympy.cosh(U)), stable.LogCosh(U)),
    (1 / (1 + sympy.exp(-U)), logistic(U)),
    (sympy.exp(U) / (1 + sympy.exp(U)), logistic(U)),
    (sympy.exp(-U) / (1 + sympy.exp(-U)) ** 2, logistic(U) * logistic(-U)),
    (1 / sympy.sinh(U) ** 2, sympy.csch(U) ** 2),
    (sympy.cosh(U) / sympy.sinh(U) ** 3, sympy.coth(U) * sympy.csch(U) ** 2),
    (1 / (1 - U**2), 1 / stable.SquareDifference(1, U)),
    (sympy.sqrt(U**2 - 1), stable.Leg(U, 1)),
    (1 / sympy.sqrt(U**2 - 1) - U**2 / (U**2 - 1) ** sympy.Rational(3, 2), -stable.Leg(U, 1) ** -3),
    (X**4 - 4 * Y**2, stable.SquareDifference(X**2, 2 * Y)),
    (sympy.sqrt(U**2 + Y**2), hypot(Y, U)),
    ((4 * U**2 + 1) ** sympy.Rational(-3, 2), hypot(1, 2 * U) ** -3),
    (1 / hypot(1, U) - U**2 / hypot(1, U) ** 3, hypot(1, U) ** -3),
    (U**2 / (U**2 + 1) - 1, -1 / (U**2 + 1)),
    (sympy.sqrt(1 + U) - 1, U / (sympy.sqrt(U + 1) + 1)),
    ((sympy.sqrt(1 + X) - 1) / X, 1 / (sympy.sqrt(X + 1) + 1)),
    (2 * sympy.sqrt(X + 4) - 4 + sympy.sin(X), 4 * X / (2 * sympy.sqrt(X + 4) + 4) + sympy.sin(X)),
    (1 - sympy.sqrt(1 - X**2), X**2 / (stable.Leg(1, X) + 1)),
    (Y * (sympy.sqrt(1 + X**2) - 1), Y * stable.HypotExcess(1, X)),
    (6 - 3 * sympy.sqrt(X**2 + 4) + sympy.sin(X), sympy.sin(X) - 3 * stable.HypotExcess(2, X)),
]


@pytest.mark.parametrize(("written", "stable_form"), REWRITES, ids=str)
def test_each_rewrite(written, stable_form):
    assert stabilize(written) == stable_form
    for point in (sympy.Rational(3, 10), sympy.Rational(-17, 10)):  # an identity: 40 digits
        values = [sympy.N(e.subs({X: point, Y: sympy.Rational(3, 5)}), 40)
                  for e in (written, stable_form)]
        assert abs(values[0] - values[1]) <= 1e-35 * max(1, abs(values[0]))


def test_rewrites_reach_inside_every_node_once():
    tail = sympy.tanh(X) ** 2
    expr = sympy.Piecewise((sympy.log(1 + X), X > 0), (sympy.exp(1 - tail) - 1, True))
    assert stabilize(expr) == sympy.Piecewise(
        (log1p(X), X > 0), (expm1(sympy.sech(X) ** 2), True))
    assert stabilize(X**3 - 1 / X) == X**3 - 1 / X  # nothing to do: unchanged


def test_square_roots_of_unknown_sign_stay_as_written():
    """``r + c*sqrt(a)`` is rewritten only where ``r`` and ``c`` are proved of opposite signs
    (elsewhere the conjugate's denominator could cancel instead), or ``r`` is a square root
    with a coefficient of opposite sign and the numerator is proved nonzero (else it is 0/0 where
    both radicands are), and, for ``hypot``, where the sum cancels somewhere."""
    kept = [sympy.sqrt(X + Y) - sympy.sqrt(X), 3 * sympy.sqrt(X + 2) - 2 * sympy.sqrt(X + 5),
            sympy.sqrt(X) - X, sympy.sqrt(X + 1) + 1, sympy.sqrt(X + 1) + sympy.sqrt(X)]
    assert [stabilize(expr) for expr in kept] == kept
    for expr, terms in ((sympy.sqrt(X**2 + 1) - X, {hypot(1, X), -X}),
                        (sympy.sqrt(X**2 + 4) - 3, {hypot(2, X), -3})):
        assert set(sympy.Add.make_args(stabilize(expr))) == terms


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logs_of_sums_of_exponentials_are_finite_where_exp_overflows(dtype):
    """As written, ``log(1 + exp(x))`` was inf (and its slope NaN) from x ≈ 89 in float32 and
    710 in float64, ``log(sigmoid(x))`` rounded to 0 from x ≈ 17 and 37, and
    ``log(exp(x) + exp(y))`` was inf."""
    big = {"float32": 100.0, "float64": 800.0}[dtype]
    xs = np.array([-80.0, -30.0, 30.0, big], dtype)  # exp(-80): normal in float32
    with jax.enable_x64(True):
        softplus_values = np.asarray(jc.Function("log(1 + exp(x))")(xs))
        slopes = np.asarray(jc.derivative("log(1 + exp(x))")(xs))
        log_sigmoid = np.asarray(jc.Function("log(sigmoid(x))")(xs))
    expected = {sign: np.array([float(mpmath.log1p(mpmath.exp(sign * x)))
                                for x in xs.astype(float)]) for sign in (1, -1)}
    tolerances = {"rtol": 4 * np.finfo(dtype).eps, "atol": np.finfo(dtype).tiny}  # flushed to 0
    np.testing.assert_allclose(softplus_values, expected[1], **tolerances)
    np.testing.assert_allclose(log_sigmoid, -expected[-1], **tolerances)
    assert slopes[-1] == 1 and 0 < slopes[0] < 1e-30 and softplus_values.dtype == dtype
    pair = np.array([big, big - 10], dtype)
    with jax.enable_x64(True):
        value = jc.Function("log(exp(x) + exp(y))")(*pair)
        slopes = [jc.derivative("log(exp(x) + exp(y))", v)(*pair) for v in "xy"]
    np.testing.assert_allclose(
        [value, *slopes], [float(mpmath.log(mpmath.exp(big) + mpmath.exp(big - 10))),
                           1 / (1 + np.exp(-10)), 1 / (1 + np.exp(10))],
        rtol=4 * np.finfo(dtype).eps)


def test_rewrite_false_keeps_the_formula_as_written():
    tiny = np.array([1e-17, 1e-12])
    as_written = np.asarray(jc.Function("log(1 + x)", rewrite=False)(tiny))
    assert as_written[0] == 0 and abs(as_written[1] / tiny[1] - 1) > 1e-5  # 1 + x rounded
    np.testing.assert_allclose(jc.Function("log(1 + x)")(tiny), np.log1p(tiny), rtol=1e-15)


def test_derivatives_of_the_reported_formula_by_every_path():
    """tanh((x + 5/3)**2) at x = 1.71 and 3: relative error 4e-7 and ~1e-3 before."""
    expr = sympy.tanh((X + sympy.Rational(5, 3)) ** 2)
    f = jc.Function(expr)
    xs = np.array([1.71, 3.0])
    for n in (1, 2, 3, 4):
        expected = [exact(expr, n, x) for x in xs]
        for method in ("ad", "symbolic"):
            got = jc.derivative(f, n=n, method=method)(xs)
            for value, reference in zip(got, expected, strict=True):
                assert relative(value, reference) < 1e-13, (n, method)


@pytest.mark.parametrize("text", ["log(cosh(x))", "log(cosh(x**2 + 1))", "Ei(-x - 0.5)"])
def test_polynomial_pieces_keep_float32_points_float32_under_x64(text):
    """``horner``'s coefficients take the points' dtype: with x64 on (a user's global flag),
    float32 points give the float32 values and derivatives they give with it off."""
    xs = np.linspace(-3, 3, 61, dtype=np.float32)
    f = jc.Function(text)
    expected = [np.asarray(f(xs)), np.asarray(jc.derivative(f)(xs))]
    with jax.enable_x64(True):
        got = [f(xs), jc.derivative(f)(xs)]
    assert [g.dtype for g in got] == [np.float32, np.float32]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(g), e)


def test_log_cosh_head_for_sympy():
    u = stable.LogCosh(X)
    assert u.is_real and stable.LogCosh(0) == 0 and sympy.diff(u, X) == sympy.tanh(X)
    assert u.rewrite(sympy.cosh) == sympy.log(sympy.cosh(X))
    assert abs(sympy.N(stable.LogCosh(3), 40) - sympy.N(sympy.log(sympy.cosh(3)), 40)) < 1e-38


@pytest.mark.parametrize("head", [stable.Leg, stable.HypotRatio, stable.HypotExcess,
                                  stable.SquareDifference, stable.LogCosh, logistic, softplus,
                                  logaddexp], ids=lambda head: head.__name__)
def test_closed_form_heads_for_sympy(head):
    """Each head SymPy sees is its closed form at numbers, in evalf and in rewrite(rule); real
    for real arguments (Leg only where SymPy proves it)."""
    numbers = (sympy.Integer(3), sympy.Rational(1, 2))[: max(head.nargs)]
    symbols = (X, Y)[: len(numbers)]
    assert head(*numbers) == head.closed(*numbers) and head(*numbers).is_number
    u = head(*symbols)
    assert u.func is head and u.rewrite(head.rule) == head.closed(*symbols)
    thirds = {s: sympy.Rational(len(symbols) + 1 - k, 3) for k, s in enumerate(symbols)}
    value, closed = sympy.N(u.subs(thirds), 40), sympy.N(head.closed(*symbols).subs(thirds), 40)
    assert value.is_Float and abs(value - closed) < 1e-38
    assert u.is_real is (None if head is stable.Leg else True)
    assert head(*(s * sympy.I for s in symbols)).is_real is None


@pytest.mark.parametrize("head", tails.HEADS, ids=lambda head: head.__name__)
def test_tail_heads_for_sympy(head):
    """The tails the rewrites make are real, their limit at 0, differentiable and evaluable by
    SymPy, and stand for their quotients."""
    u, quotient = head(2 * X), head.closed(2 * X)
    assert u.is_real and head(0) == limit_at_zero(head.closed(X))
    assert head(sympy.Integer(3)) == head.closed(sympy.Integer(3))
    assert u.rewrite(head.rule) == quotient
    assert sympy.simplify(sympy.diff(u, X).rewrite(head.rule) - sympy.diff(quotient, X)) == 0
    third = sympy.Rational(1, 3)
    assert abs(sympy.N(u.subs(X, third), 40) - sympy.N(quotient.subs(X, third), 40)) < 1e-38


#: Removable singularities at 0 as people write them: the quotient rule cancels near 0 (as
#: written, ``sin(x)/x`` at 1e-8 had f'' = 0 instead of -1/3 and f''' = -1e9 instead of 2e-9;
#: ``cosh(x) - 1`` rounded to 0; Langevin's ``coth(x) - 1/x`` lost every digit of its value)
REMOVABLE = ["sin(x)/x", "(1 - cos(x))/x**2", "(cosh(x) - 1)/x**2", "sinh(x)/x", "sin(3*x)/x",
             "(exp(x) - 1)/x", "x/(exp(x) - 1)", "x**3/(exp(x) - 1)", "(x - sin(x))/x**3",
             "x - sin(x)", "(exp(x) - 1 - x)/x**2", "(sinh(x) - x)/x**3",
             "(cos(x) - 1 + x**2/2)/x**4", "coth(x) - 1/x", "1/tanh(2*x) - 1/(2*x)",
             "x/tanh(x)", "x/2/tanh(x/2)", "x*coth(x) - 1", "1/x - 1/(exp(x) - 1)"]


#: Differences with a square root that cancel, and points in their domains: ``sqrt(1 + x) - 1``
#: at 1e-12 kept 4 digits as written, ``1 - sqrt(1 - x**2)`` at 1e-9 none (it was 0)
SQUARE_ROOT_DIFFERENCES = {
    "sqrt(1 + x) - 1": [1e-12, -1e-6, 0.01, -0.5, 3.0, 1e10],
    "(sqrt(1 + x) - 1)/x": [1e-12, -1e-6, 0.01, -0.5, 3.0, 1e10],
    "1 - sqrt(1 - x**2)": [1e-9, -1e-5, 0.3, -0.9, 0.999],
    "sqrt(1 + x**2) - 1": [1e-9, -1e-5, 0.3, -3.0, 1e10, 1e200],
    "2*sqrt(x + 4) - 4 + sin(x)": [1e-12, -1e-6, 0.01, -0.5, 3.0],
    "sqrt(x + 1) - sqrt(x)": [1e12, 1e6, 0.5, 3.0],
    "sqrt(x**2 + 2) - sqrt(x**2 + 1)": [1e10, -1e5, 0.3, 0.0, -3.0],
}


@pytest.mark.parametrize("text", SQUARE_ROOT_DIFFERENCES)
def test_square_root_differences_keep_their_digits(text):
    """Values and derivatives of orders 1-2 within 1e-15 of 160-digit mpmath, pointwise, in
    float64 (the formula as written is off by more than 1e-6 at the first point)."""
    xs = SQUARE_ROOT_DIFFERENCES[text]
    for n in range(3):
        error = pointwise(text, n, xs)
        assert error.max() < 1e-15, (n, error)
    assert pointwise(text, 0, xs[:1], rewrite=False)[0] > 1e-6


@pytest.mark.parametrize("text", REMOVABLE)
def test_removable_singularities_keep_value_and_derivatives_near_zero(text):
    """Values within 1e-15 of 160-digit mpmath, derivatives of orders 1-3 (AD, and Taylor mode
    at order 3) within 3e-14 of the largest, on points near and away from 0; at 0 itself f is
    its limit and f' its slope."""
    expr = sympy.sympify(text, locals={"x": X})
    xs = np.array([1e-8, -1e-4, 0.01, -0.5, 1.9, 3.0, -6.0])
    with jax.enable_x64(True):
        for n in range(4):
            f = jc.Function(text) if n == 0 else jc.derivative(text, n=n)
            expected = np.array([exact(expr, n, x) for x in xs])
            scale = np.abs(expected) if n == 0 else np.abs(expected).max()
            error = np.abs(np.asarray(f(xs)) - expected) / scale
            assert error.max() < (1e-15 if n == 0 else 3e-14), (n, error)
        at_zero = [float(jc.Function(text)(0.0)), float(jc.derivative(text)(0.0))]
    limits = [limit_at_zero(e) for e in (expr, sympy.diff(expr, X))]
    np.testing.assert_allclose(at_zero, [float(v) for v in limits], rtol=1e-15, atol=1e-300)


_NEAR_AND_FAR = [1e-8, -1e-4, 0.01, 0.39, -0.41]
#: Tails of functions of finite radius (``tails.NEAR_FINITE``), and points in their domains: as
#: written, the value of ``x - log(1 + x)`` at 1e-8 kept 8 digits, the slope of ``tan(x) - x``
#: none (0), that of ``atan(x)/x`` not even its sign
FINITE_RADIUS = {
    **{text: [*_NEAR_AND_FAR, 0.9, 3.0] for text in (
        "x - log(1 + x)", "log(1 + x)/x", "log(1 + x) - x + x**2/2")},
    **{text: [*_NEAR_AND_FAR, 3.0, -30.0] for text in ("atan(x)/x", "x - atan(x)", "x - tanh(x)",
                                                      "asinh(x)/x", "x/asinh(x)")},
    **{text: [*_NEAR_AND_FAR, 0.9, -0.99] for text in ("x - asin(x)", "atanh(x) - x")},
    "tan(x) - x": [*_NEAR_AND_FAR, 0.69, -0.71, 1.2, -1.5],
}


@pytest.mark.parametrize("text", FINITE_RADIUS)
def test_tails_of_functions_of_finite_radius_keep_their_digits(text):
    """Values and derivatives of orders 1-2 within 2e-12 of 160-digit mpmath, pointwise, in
    float64; as written, one of them is off by more than 1e-6 at 1e-8."""
    xs = FINITE_RADIUS[text]
    for n in range(3):
        error = pointwise(text, n, xs)
        assert error.max() < 2e-12, (n, error)
    assert max(pointwise(text, n, xs[:1], rewrite=False)[0] for n in range(3)) > 1e-6


#: Remainders far out, where ``g``'s derivatives decay: as ``x**(p + 1)*Tail(x)`` their second
#: derivatives cancelled (``exp(x) - 1 - x`` at -30: 3e-4 relative; ``x - tanh(x)`` at -30: 1e9)
FAR_REMAINDERS = {"exp(x) - 1 - x": [-30.0, -10.0], "x - tanh(x)": [-30.0, 10.0],
                  "x - atan(x)": [1e4, -300.0], "x - log(1 + x)": [1e4, 100.0],
                  "x - asinh(x)": [1e5, -50.0], "x - sin(x)": [30.0, -7.0]}


@pytest.mark.parametrize("text", FAR_REMAINDERS)
def test_remainders_keep_their_derivatives_far_from_zero(text):
    for n in (1, 2):
        error = pointwise(text, n, FAR_REMAINDERS[text])
        assert error.max() < 2e-15, (n, error)


def test_log_cosh_of_an_argument_proved_far_from_zero_takes_the_far_form_only():
    """Where SymPy proves |u| >= 3/4, ``LogCoshFar(u)`` lowers to the far form alone (no
    polynomial in u², which is most of ``logcosh``'s operations): the same values bit for bit
    where it applies, within an ulp of mpmath, and the same derivatives."""
    assert stable.LogCosh(X).is_nonnegative and stable.LogCosh(X + 1).is_nonnegative
    heads = {X**2 + 1: stable.LogCoshFar, -sympy.exp(X) - 1: stable.LogCoshFar,
             stable.LogCosh(X) + 1: stable.LogCoshFar, X: stable.LogCosh,
             X**2 + sympy.Rational(1, 2): stable.LogCosh}  # |u| can be 1/2, or 0
    heads[1 + sum(X ** (2 * k) for k in range(1, 20))] = stable.LogCosh  # too big to ask
    for u, head in heads.items():
        assert type(stabilize(sympy.log(sympy.cosh(u)))) is head, u
    with jax.enable_x64(True):
        far = np.concatenate([np.linspace(0.75, 60, 20_001), -np.geomspace(0.75, 800, 2_001)])
        np.testing.assert_array_equal(stable.logcosh_far(far), stable.logcosh(far))
    f = jc.Function("log(cosh(x**2 + 1))")
    with jax.enable_x64(True):
        names = {e.primitive.name for e in f.kernel.program("float64").trace(
            f.leaves, np.ones(3)).jaxpr.eqns}
    assert "jaxcalc_logcosh_far" in names and "jaxcalc_logcosh" not in names
    xs = np.linspace(-4, 4, 81)
    written = sympy.log(sympy.cosh(X**2 + 1))
    for n in (0, 1, 2):
        expected = np.array([exact(written, n, x) for x in xs])
        usable = expected != 0  # the slope at 0
        for method in ("ad", "symbolic")[: 1 if n == 0 else 2]:
            got = np.asarray(f(xs) if n == 0 else jc.derivative(f, n=n, method=method)(xs))
            error = np.abs(got[usable] - expected[usable]) / np.abs(expected[usable])
            assert error.max() < (2 if n == 0 else 8) * 2.0**-52, (n, method, error.max())


def test_symbolic_derivatives_through_the_log_cosh_head():
    """SymPy differentiates ``LogCosh`` (its ``fdiff``); the symbolic and AD paths agree with
    80-digit references, also where ``cosh(3x)`` overflows (|x| > 237)."""
    written = sympy.log(sympy.cosh(3 * X)) + X**2
    f = jc.Function(stable.LogCosh(3 * X) + X**2)
    xs = np.array([-400.0, -1.5, 0.0, 0.2, 2.0, 300.0])
    for n in (1, 2, 3, 4):
        expected = np.array([exact(written, n, x, digits=1000) for x in xs])
        usable = np.abs(expected) > 1e-300
        for method in ("symbolic", "ad"):
            got = np.asarray(jc.derivative(f, n=n, method=method)(xs))
            np.testing.assert_allclose(got[usable], expected[usable], rtol=1e-14, atol=0,
                                       err_msg=f"order {n}, {method}")
    assert jc.derivative(f, method="symbolic").expr == 3 * sympy.tanh(3 * X) + 2 * X


def f5_exact(x: float) -> tuple[float, float]:
    """The benchmark's f5 (ten nested ``log(cosh(u)) + 1``) and its slope, by 50-digit mpmath."""
    with mpmath.workdps(50):
        u, slope = mpmath.mpf(x), mpmath.mpf(1)
        for _ in range(10):
            slope *= mpmath.tanh(u)
            u = mpmath.log(mpmath.cosh(u)) + 1
        return float(u), float(slope)


def test_the_benchmark_f5_lowers_through_log_cosh():
    """Every level of f5 becomes ``LogCosh``: the values stay within a few ulp of the formula as
    written and of mpmath, and the slope (AD and symbolic) within a few ulp of mpmath."""
    f = jc.Function(GRID_FUNCTIONS["f5"])
    assert stabilize(f.expr).count(stable.LogCosh) == 10
    assert stabilize(f.expr).count(stable.LogCoshFar) == 9  # all but log(cosh(x)): |u| >= 1
    xs = np.linspace(-3, 3, 301)
    value, slope = np.array([f5_exact(x) for x in xs]).T
    eps = np.finfo(np.float64).eps
    as_written = np.asarray(jc.Function(GRID_FUNCTIONS["f5"], rewrite=False)(xs))
    np.testing.assert_allclose(f(xs), as_written, rtol=8 * eps, atol=0)
    np.testing.assert_allclose(f(xs), value, rtol=8 * eps, atol=0)
    for method in ("ad", "symbolic"):
        got = np.asarray(jc.derivative(f, method=method)(xs))
        np.testing.assert_allclose(got, slope, rtol=16 * eps, atol=0, err_msg=method)


#: Pieces of the forms the tail rewrites catch, for :func:`_tail_formula`
_TAIL_ARGUMENTS = ["x", "2*x", "x/3", "(x - 1)", "(1 - x)", "x**2", "(2*x + 1)", "sin(x)", "y*x"]
_TAIL_FORMS = ["sin({u})/{v}", "sinh({u})/{v}", "(exp({u}) - 1)/{v}", "{v}/(exp({u}) - 1)",
               "(1 - cos({u}))/{v}**2", "({u} - sin({u}))/{v}**3", "sin({u})**2/{v}",
               "(exp({u}) - 1 - {u})/{v}**2", "(cosh({u}) - 1)/{v}**2",
               "(cos({u}) - 1 + {u}**2/2)/{v}**4", "{c}*sin({u}) - {c}*{u} + x",
               "exp({u}) - {u} + {c}", "expm1({u}) - {u}", "(sinh({u}) - {u})*{c}",
               "{v}**3/(exp({u}) - 1)", "coth({u}) - 1/{u}", "{c}*{v}/tanh({u})"]


def _tail_formula(rng) -> str:
    """A formula with one or two of the forms, on random arguments and coefficients."""
    def form() -> str:
        u = rng.choice(_TAIL_ARGUMENTS)
        v = u if rng.random() < 0.7 else rng.choice(_TAIL_ARGUMENTS)
        c = rng.choice(["3", "y", "1/2", "-2"])
        return rng.choice(_TAIL_FORMS).format(u=u, v=f"({v})", c=c)
    text = form()
    return f"({text}) {rng.choice('+*')} ({form()})" if rng.random() < 0.5 else text


@pytest.mark.parametrize("text", [_tail_formula(random.Random(seed)) for seed in range(24)])
def test_rewritten_tails_equal_the_formula_as_written(text):
    """Where the formula as written is well conditioned, its rewritten form (tails, powers
    merged) gives the same values and AD derivatives of orders 1-2."""
    xs, ys = np.array([0.7, 1.9, -2.3, 5.1, -0.37]), np.array([1.3, -0.6, 2.2, 0.45, 3.0])
    stable_form, written = jc.Function(text), jc.Function(text, rewrite=False)
    assert stable_form.expr == written.expr
    with jax.enable_x64(True):
        points = (xs, ys)[: len(written.variables)]
        for n in (0, 1, 2):
            a, b = ((stable_form, written) if n == 0 else
                    (jc.derivative(f, "x", n=n, method="ad") for f in (stable_form, written)))
            np.testing.assert_allclose(a(*points), b(*points), rtol=1e-9, atol=1e-12,
                                       err_msg=f"order {n}")
