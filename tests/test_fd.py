"""Tests of jaxcalc.fd: exact weights, convergence orders, default-step accuracy, scipy parity."""

import ast
import inspect
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxcalc import fd
from jaxcalc._core.errors import InputError

# f, f', f'' (exact), and a point well inside their smooth region.
FUNCS = {
    "sin": (np.sin, np.cos, lambda x: -np.sin(x)),
    "exp": (np.exp, np.exp, np.exp),
    "cubic": (lambda x: x**3 - 1 / x, lambda x: 3 * x**2 + x**-2.0, lambda x: 6 * x - 2 * x**-3.0),
}
STENCILS = [("forward", 1), ("backward", 1), ("forward", 2), ("backward", 3),
            ("central", 2), ("central", 4), ("central", 6), ("central", 8)]


def test_weights_match_known_tables():
    assert fd.weights([-1, 0, 1]).tolist() == [-0.5, 0.0, 0.5]
    assert fd.weights(range(-2, 3), exact=True) == tuple(
        Fraction(v) for v in ("1/12", "-2/3", "0", "2/3", "-1/12"))
    assert fd.weights([-1, 0, 1], n=2, exact=True) == (1, -2, 1)
    assert fd.weights([0, 1]).tolist() == [-1.0, 1.0]
    # scipy.misc.derivative's tables, bit for bit
    scipy_tables = {
        (1, 3): np.array([-1, 0, 1]) / 2.0,
        (1, 5): np.array([1, -8, 0, 8, -1]) / 12.0,
        (1, 7): np.array([-1, 9, -45, 0, 45, -9, 1]) / 60.0,
        (1, 9): np.array([3, -32, 168, -672, 0, 672, -168, 32, -3]) / 840.0,
        (2, 3): np.array([1, -2.0, 1]),
        (2, 5): np.array([-1, 16, -30, 16, -1]) / 12.0,
        (2, 7): np.array([2, -27, 270, -490, 270, -27, 2]) / 180.0,
        (2, 9): np.array([-9, 128, -1008, 8064, -14350, 8064, -1008, 128, -9]) / 5040.0,
    }
    for (n, order), table in scipy_tables.items():
        np.testing.assert_array_equal(fd.weights(range(-(order // 2), order // 2 + 1), n), table)


@given(st.lists(st.fractions(-5, 5), min_size=2, max_size=6, unique=True),
       st.integers(0, 3))
def test_weights_moments_exact_for_arbitrary_offsets(offsets, n):
    if len(offsets) <= n:
        return
    w = fd.weights(offsets, n, exact=True)
    for j in range(len(offsets)):  # sum w_k o_k**j / j! == [j == n]
        assert sum(wk * o**j for wk, o in zip(w, offsets, strict=True)) == (
            math.factorial(n) if j == n else 0)


# Not (cubic, central 8): 1/x has derivatives k!/x**(k+1), so its h**8 term dominates only for
# steps where rounding already does (the fitted slope is ~8.5 there).
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("name, kind, accuracy", [
    (name, kind, accuracy) for name in FUNCS for kind, accuracy in STENCILS
    if (name, accuracy) != ("cubic", 8)])
def test_convergence_order(name, kind, accuracy, n):
    f, ref = FUNCS[name][0], FUNCS[name][n]
    x = 2.0
    lo = 1e-10 ** (1 / (accuracy + n))  # truncation >> rounding (~1e-16 / h**n) from here up
    hs = np.geomspace(lo, 4 * lo, 8)
    err = [abs(fd.difference(f, x, n=n, kind=kind, accuracy=accuracy, h=h) - ref(x)) for h in hs]
    slope = np.polyfit(np.log(hs), np.log(err), 1)[0]
    assert abs(slope - accuracy) < 0.3


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("kind, accuracy", STENCILS)
def test_exact_for_polynomials_below_degree_n_plus_accuracy(kind, accuracy, n):
    coef = np.random.default_rng(0).uniform(-1, 1, n + accuracy + 1)
    x, h = 0.3, 0.5
    for degree, exact in [(n + accuracy - 1, True), (n + accuracy, False)]:
        p = np.polynomial.Polynomial(coef[: degree + 1])
        got = fd.difference(p, x, n=n, kind=kind, accuracy=accuracy, h=h)
        assert np.isclose(got, p.deriv(n)(x), rtol=1e-10, atol=1e-10) == exact


@pytest.mark.parametrize("dtype, out", [(np.float32, np.float32), (np.float64, np.float64),
                                        (np.int64, np.float64)])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_dtype_and_shape(dtype, out, shape):
    x = np.arange(1, 1 + math.prod(shape)).reshape(shape).astype(dtype)
    for got in (fd.difference(np.exp, x, kind="forward"), fd.richardson(np.exp, x).value,
                fd.default_step(x)):
        assert got.dtype == out and np.shape(got) == shape
    assert fd.difference(lambda x: 2.0, x).dtype == out  # constant f broadcasts to x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_default_step_is_the_documented_rule_and_exact(dtype):
    x = np.linspace(-300, 300, 101, dtype=dtype)
    h = fd.default_step(x, n=2, accuracy=4)
    rule = np.finfo(dtype).eps ** (1 / 6) * np.maximum(1, np.abs(x))
    np.testing.assert_allclose(h, rule, rtol=np.finfo(dtype).eps ** 0.5)
    np.testing.assert_array_equal((x + h) - x, h)


@pytest.mark.parametrize("dtype, bound", [(np.float64, 1e-9), (np.float32, 1e-3)])
@pytest.mark.parametrize("name", ["sin", "cubic"])
def test_default_step_error(name, dtype, bound):
    f, df, _ = FUNCS[name]
    x = np.linspace(0.5, 3, 2001, dtype=dtype)
    ref = df(x.astype(np.float64))
    got = fd.difference(f, x)
    # normwise relative error (sin' = cos vanishes inside the interval)
    assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) < bound


def test_richardson_beats_central_and_error_estimate_is_honest():
    x = np.linspace(0.5, 3, 201)
    for f, df in [(np.sin, np.cos), (np.exp, np.exp)]:
        central = np.abs(fd.difference(f, x, h=0.1) - df(x))
        est = fd.richardson(f, x, h=0.1)
        err = np.abs(est.value - df(x))
        assert np.max(err) < 1e-4 * np.max(central)
        assert np.all(err <= est.error)
        default = fd.richardson(f, x)
        assert np.all(np.abs(default.value - df(x)) <= default.error)
        assert np.max(default.error / np.abs(df(x)).max()) < 1e-11
    second = fd.richardson(np.sin, 1.0, n=2, h=0.2, levels=3)
    assert abs(second.value + np.sin(1.0)) < 1e-9


def test_misc_derivative_like_scipy():
    assert fd.misc_derivative(lambda x: 3 * x**2 + 1, 2.0) == 12.0  # the lecture
    f, x, dx = np.exp, 0.7, 0.1
    assert fd.misc_derivative(f, x, dx, n=2) == pytest.approx(
        (f(x + dx) - 2 * f(x) + f(x - dx)) / dx**2, rel=1e-15)
    five = (-f(x + 2 * dx) + 16 * f(x + dx) - 30 * f(x) + 16 * f(x - dx) - f(x - 2 * dx))
    assert fd.misc_derivative(f, x, dx, n=2, order=5) == pytest.approx(five / 12 / dx**2, rel=1e-14)
    assert fd.misc_derivative(lambda x, a: a * x**3, 1.0, args=(2.0,), order=5) == 6.0
    np.testing.assert_allclose(fd.misc_derivative(np.sin, np.array([0.0, 1.0]), 1e-3, order=7),
                               np.cos([0.0, 1.0]), rtol=1e-12)


def test_misc_derivative_default_dx_trap():
    assert fd.misc_derivative(lambda x: x**3, 1.0) == 4.0  # (2**3 - 0**3) / 2, not 3
    assert fd.misc_derivative(np.exp, 0.0) == pytest.approx(math.sinh(1.0))  # not 1
    assert fd.misc_derivative(lambda x: x**3 - 1 / x, 2.0) == pytest.approx(40 / 3)  # not 12.25


@pytest.mark.parametrize("call, match", [
    (lambda: fd.difference(np.sin, 1.0, n=0), r"`n` must be an integer >= 1 .*got 0"),
    (lambda: fd.difference(np.sin, 1.0, n=1.0), r"`n` must be an integer >= 1 .*got 1\.0"),
    (lambda: fd.difference(np.sin, 1.0, kind="centered"), r"`kind` must be one of .*'centered'"),
    (lambda: fd.difference(np.sin, 1.0, accuracy=3), r"`accuracy` must be an even .*got 3\. Use"),
    (lambda: fd.difference(np.sin, 1.0, kind="forward", accuracy=0),
     r"`accuracy` must be an integer >= 1 .*got 0"),
    (lambda: fd.difference(np.sin, 1.0, h=0.0), r"`h` must be positive and finite.*h=None"),
    (lambda: fd.difference(np.sin, [1.0, 2.0], h=[0.1, np.nan]), r"`h` must be positive"),
    (lambda: fd.difference(np.sin, [1.0, 2.0], h=[0.1, 0.1, 0.1]),
     r"`h` must broadcast to the shape of `x`, \(2,\); got shape \(3,\)"),
    (lambda: fd.difference(np.sin, 1e20, h=1.0), r"`h` must exceed half the float spacing"),
    (lambda: fd.difference(np.sin, 1j), r"`x` must hold real numbers .*complex128"),
    (lambda: fd.richardson(np.sin, 1.0, levels=1), r"`levels` must be an integer >= 2 .*got 1"),
    (lambda: fd.weights([0, 1, 1]), r"`offsets` must be more than n = 1 distinct .*duplicates"),
    (lambda: fd.weights([0], n=1), r"`offsets` must be more than n = 1 distinct points"),
    (lambda: fd.misc_derivative(np.sin, 1.0, order=4), r"`order` must be odd .*got 4\. .*=5"),
    (lambda: fd.misc_derivative(np.sin, 1.0, n=3, order=3),
     r"`order` must be at least n \+ 1 = 4 .*got 3\. Use order=5"),
    (lambda: fd.misc_derivative(np.sin, 1.0, order="3"), r"`order` must be an odd integer"),
    (lambda: fd.misc_derivative(np.sin, 1.0, dx=0), r"`dx` must be a positive finite .*got 0"),
    (lambda: fd.misc_derivative(np.sin, 1.0, dx=-0.5), r"`dx` must be a positive"),
    (lambda: fd.misc_derivative(np.sin, "1.0"), r"`x` must hold real numbers .*got dtype <U3"),
    (lambda: fd.misc_derivative("3*x**2", 2.0),
     r"`func` must be a function of x .*got str\. For a formula use jaxcalc.derivative"),
])
def test_error_messages(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_imports_only_numpy_and_errors():
    tree = ast.parse(inspect.getsource(fd))
    nodes = list(ast.walk(tree))
    modules = {a.name for node in nodes if isinstance(node, ast.Import) for a in node.names}
    modules |= {"." * node.level + (node.module or "") for node in nodes
                if isinstance(node, ast.ImportFrom)}
    assert modules == {"__future__", "fractions", "functools", "typing", "numpy", ".._core.errors"}
