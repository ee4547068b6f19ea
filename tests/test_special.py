"""``Ei(x)`` (``_core.special``): values against 50-digit mpmath on both sides, the ends of its
domain, its derivative on every path, and the same work whatever the points."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import jaxcalc as jc
from jaxcalc._core import special


def _ei(points) -> np.ndarray:
    with mpmath.workdps(50):
        return np.array([float(mpmath.ei(mpmath.mpf(float(x)))) for x in points])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_ei_against_mpmath_on_both_sides(dtype):
    """x < 0 (the series below |x| = 1, the continued fraction above): within 2.5 ulp. x > 0
    (JAX's rational approximations): within 4 ulp times the condition number ``e^x/|Ei(x)|``
    where it exceeds 1 (near the root at 0.3725 any input rounding is magnified)."""
    info = np.finfo(dtype)
    negative = -np.concatenate([np.geomspace(1e-30, 1, 600), np.linspace(1, 2, 300),
                                np.geomspace(2, 80, 600)])
    positive = np.concatenate([np.geomspace(1e-30, 1, 600), np.geomspace(1, 80, 600)])
    with jax.enable_x64(dtype == jnp.float64):
        for xs, ulps, conditioned in ((negative, 2.5, False), (positive, 4, True)):
            xs = xs.astype(dtype)
            got = np.asarray(jax.jit(special.ei)(xs), np.float64)
            expected = _ei(xs)
            usable = np.abs(expected) > info.tiny
            error = np.abs(got[usable] - expected[usable]) / np.abs(expected[usable])
            if conditioned:
                error /= np.maximum(1, np.exp(xs[usable].astype(np.float64)) / np.abs(
                    expected[usable]))
            assert error.max() < ulps * info.eps, (error.max() / info.eps, xs[0])


def test_ei_at_the_ends_of_its_domain():
    xs = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1e300, 1e300])
    got = np.asarray(jc.Function("Ei(x)")(xs))
    np.testing.assert_array_equal(got, [-np.inf, -np.inf, np.inf, 0.0, np.nan, 0.0, np.inf])
    assert jc.Function("Ei(x)")(np.zeros(0)).shape == (0,)


@pytest.mark.parametrize("method", ["ad", "symbolic"])
def test_ei_derivative_is_exp_over_x(method):
    xs = np.array([-40.0, -3.0, -0.7, -1e-5, 1e-5, 0.5, 3.0, 40.0])
    got = np.asarray(jc.derivative("Ei(x)", method=method)(xs))
    np.testing.assert_allclose(got, np.exp(xs) / xs, rtol=1e-15, atol=0)
    second = np.asarray(jc.derivative("Ei(x)", n=2, method=method)(xs))
    np.testing.assert_allclose(second, np.exp(xs) * (xs - 1) / xs**2, rtol=1e-15, atol=0)


def test_ei_takes_the_continued_fraction_terms_of_its_smallest_far_point(monkeypatch):
    """The work is fixed by the smallest |x| >= 1 (20 + 80/|x| terms, at most 100), not by
    how slowly any one point converges (JAX's own loop took 33 s for 5 000 points on [-1, 0))."""
    counts = []
    loop = jax.lax.fori_loop
    monkeypatch.setattr(special.lax, "fori_loop", lambda lo, hi, *rest: counts.append(hi)
                        or loop(lo, hi, *rest))
    with jax.enable_x64(True):
        for xs, terms in (([-0.5, -1.000001, -30.0], 100), ([-4.0, -30.0, 2.0], 40),
                          ([-0.5, 3.0], 20), ([-2.5, np.nan, -np.inf], 52)):
            got = special.ei(jnp.array(xs))  # eagerly: each call shows its count
            assert int(counts[-1]) == terms, xs
            np.testing.assert_allclose(np.asarray(got), _ei(xs), rtol=3e-16, atol=0)
