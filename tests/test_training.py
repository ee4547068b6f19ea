"""Training with optax: fits that recover known parameters (float32 and float64),
physics-informed fits of y' = -k*y, a 1000-member ensemble in one vmapped step, no re-tracing.

References are exact where they exist: a least-squares fit must land on NumPy's ``lstsq``
solution for the same data, the physics-informed fit with an exponential candidate on SciPy's
``curve_fit`` of the same samples, each to what its dtype resolves. Distances to the *true*
parameters are judged against the data's own standard errors (the noise sets them).
"""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import curve_fit

import jaxcalc as jc

TRUE = {"a": 2.0, "b": -3.0, "c": 1.0}
SIGMA = 0.05
N = 200


def quadratic() -> jc.Function:
    return jc.Function("a*x**2 + b*x + c", params={"a": 0.0, "b": 0.0, "c": 0.0})


def noisy_data(seed: int, members: int | None = None):
    """``x`` on [-1, 1] and y = 2x² - 3x + 1 + N(0, SIGMA²) noise (``members`` rows of it)."""
    x = np.linspace(-1.0, 1.0, N)
    shape = (N,) if members is None else (members, N)
    noise = SIGMA * np.random.default_rng(seed).standard_normal(shape)
    return x, TRUE["a"] * x**2 + TRUE["b"] * x + TRUE["c"] + noise


def least_squares(x, y) -> np.ndarray:
    """The exact optimum (rows a, b, c; one column per data set) and its standard errors."""
    design = np.stack([x**2, x, np.ones_like(x)], axis=1)
    solution = np.linalg.lstsq(design, np.asarray(y).T, rcond=None)[0]
    return solution, SIGMA * np.sqrt(np.diag(np.linalg.inv(design.T @ design)))


def make_step(loss, optimizer):
    """A jitted optax step for ``loss(model)``; ``traces`` counts its Python executions."""
    traces = []

    @jax.jit
    def step(model, state, *data):
        traces.append(1)
        value, grads = jax.value_and_grad(loss)(model, *data)
        updates, state = optimizer.update(grads, state, model)
        return optax.apply_updates(model, updates), state, value

    return step, traces


def train(model, loss, steps: int, lr: float, *data):
    """``steps`` of Adam with a cosine-decayed learning rate (so the fit settles)."""
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps))
    step, traces = make_step(loss, optimizer)
    state = optimizer.init(model)
    for _ in range(steps):
        model, state, value = step(model, state, *data)
    return model, float(value), len(traces)


def squared_error(f, xs, ys):
    return jnp.mean((f(xs) - ys) ** 2)


def test_the_core_does_not_import_optax():
    code = "import sys, jaxcalc; print('optax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the quadratic fit ------------------------------------------------------------------------
@pytest.mark.parametrize(("dtype", "optimum_tol"), [("float32", 1e-5), ("float64", 1e-11)])
def test_quadratic_fit_lands_on_the_least_squares_optimum(dtype, optimum_tol):
    x, y = noisy_data(seed=0)
    optimum, stderr = least_squares(x, y)
    with jax.enable_x64(dtype == "float64"):
        f = quadratic()
        fitted, loss, traces = train(f, squared_error, 2000, 0.05, jnp.asarray(x, dtype),
                                     jnp.asarray(y, dtype))
    assert traces == 1  # 2000 steps, one trace
    got = np.array([fitted.params[k] for k in "abc"], np.float64)
    assert all(v.dtype == np.dtype(dtype) for v in fitted.params.values())
    np.testing.assert_allclose(got, optimum, rtol=0, atol=optimum_tol)
    assert np.all(np.abs(got - [TRUE[k] for k in "abc"]) < 4 * stderr)  # the data's precision
    assert loss == pytest.approx(SIGMA**2, rel=0.2)
    bound, x = fitted.bind(), jc.parse("x")
    coefficients = [bound.expr.coeff(x, 2), bound.expr.coeff(x, 1), bound.expr.coeff(x, 0)]
    assert [float(c) for c in coefficients] == got.tolist()


def test_params_dict_and_function_pytree_train_identically():
    x, y = noisy_data(seed=1)
    xs, ys = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    f = quadratic()
    as_pytree, _, _ = train(f, squared_error, 50, 0.05, xs, ys)
    as_dict, _, _ = train(f.params, lambda p, xs, ys: squared_error(f.with_params(p), xs, ys),
                          50, 0.05, xs, ys)
    for k in "abc":
        np.testing.assert_array_equal(as_pytree.params[k], as_dict[k])


def test_a_jitted_step_does_not_retrace_across_steps_or_equal_functions():
    x, y = noisy_data(seed=2)
    optimizer = optax.sgd(0.1)
    step, traces = make_step(squared_error, optimizer)
    xs, ys = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    f = quadratic()  # params given as Python floats: strongly typed, so step 2 reuses step 1
    state = optimizer.init(f)
    for _ in range(5):
        f, state, _ = step(f, state, xs, ys)
    g = quadratic().with_params({"a": 1.0, "b": 2.0, "c": 3.0})  # built anew: same kernel
    step(g, optimizer.init(g), xs, ys)
    assert len(traces) == 1


def test_optax_states_hold_functions_and_round_trip_through_tree_util():
    f = quadratic().with_params(TRUE)
    state = optax.adam(0.1).init(f)
    moments = [s for s in jax.tree_util.tree_leaves(state, is_leaf=lambda n: isinstance(
        n, jc.Function)) if isinstance(s, jc.Function)]
    assert len(moments) == 2 and all(m.kernel == f.kernel for m in moments)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert jax.tree_util.tree_structure(rebuilt) == treedef
    updated = optax.apply_updates(f, jax.tree_util.tree_map(jnp.ones_like, f))
    assert isinstance(updated, jc.Function)
    assert {k: float(v) for k, v in updated.params.items()} == {"a": 3.0, "b": -2.0, "c": 2.0}


# -- physics-informed: y' = -k*y from 8 noisy samples -----------------------------------------
K, AMPLITUDE = 1.5, 2.0


def physics_samples():
    """8 samples of 2*exp(-1.5*x) on [0, 1] with N(0, 0.01²) noise."""
    x = np.linspace(0.0, 1.0, 8)
    return x, AMPLITUDE * np.exp(-K * x) + 0.01 * np.random.default_rng(3).standard_normal(8)


def physics_data(dtype):
    """The samples and 64 collocation points, as ``dtype`` arrays (call in its x64 scope)."""
    x, y = physics_samples()
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype), jnp.linspace(0.0, 1.0, 64, dtype=dtype)


def physics_loss(model, x_data, y_data, x_colloc):
    """Data misfit + the residual of y' + k*y at collocation points; k is trained too."""
    y, k = model["y"], model["k"]
    residual = jc.derivative(y)(x_colloc) + k * y(x_colloc)
    return jnp.mean(residual**2) + jnp.mean((y(x_data) - y_data) ** 2)


CANDIDATES = {
    "exponential": ("A*exp(-r*x)", {"A": 1.0, "r": 0.0}),
    "polynomial": ("c0 + c1*x + c2*x**2 + c3*x**3 + c4*x**4", {f"c{i}": 0.0 for i in range(5)}),
}


@pytest.fixture(scope="module")
def exponential_fit():
    """SciPy's least-squares fit of A*exp(-r*x) to the samples, and the standard error of r."""
    (amplitude, rate), covariance = curve_fit(
        lambda x, a, r: a * np.exp(-r * x), *physics_samples(), p0=(1.0, 1.0),
        xtol=1e-14, ftol=1e-14,
    )
    return amplitude, rate, float(np.sqrt(covariance[1, 1]))


@pytest.mark.parametrize(
    ("candidate", "dtype", "rate_tol"),
    [
        ("exponential", "float32", 1e-5),
        ("exponential", "float64", 1e-9),
        ("polynomial", "float32", None),  # a different model: judged by the data's precision
    ],
)
def test_physics_informed_fit_recovers_k(candidate, dtype, rate_tol, exponential_fit):
    amplitude, rate, rate_stderr = exponential_fit
    text, init = CANDIDATES[candidate]
    with jax.enable_x64(dtype == "float64"):
        model = {"y": jc.Function(text, params=init), "k": jnp.zeros((), dtype)}
        fitted, loss, traces = train(model, physics_loss, 3000, 0.05, *physics_data(dtype))
    k = float(fitted["k"])
    assert traces == 1 and loss < 3 * 0.01**2  # the noise variance sets the floor
    assert fitted["k"].dtype == np.dtype(dtype)
    assert abs(k - K) < 3 * rate_stderr
    if rate_tol is None:
        assert abs(k - rate) < 0.3 * rate_stderr
    else:  # the residual ties the candidate's rate to k; the data fix both
        assert k == pytest.approx(rate, rel=rate_tol)
        assert float(fitted["y"].params["r"]) == pytest.approx(rate, rel=rate_tol)
        assert float(fitted["y"].params["A"]) == pytest.approx(amplitude, rel=rate_tol)
    y = fitted["y"].bind()
    xs = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(y(xs, dtype="float64"), AMPLITUDE * np.exp(-K * xs), rtol=0.02)


def test_physics_loss_on_params_kept_apart_has_the_same_gradients():
    """Functional style: params kept apart, ``jc.derivative(y.with_params(p))`` in the loss."""
    text, init = CANDIDATES["polynomial"]
    y = jc.Function(text, params={k: 0.1 * i for i, k in enumerate(init)})
    data = physics_data("float32")

    def functional(p, *data):
        return physics_loss({"y": y.with_params(p["y"]), "k": p["k"]}, *data)

    model = {"y": y, "k": jnp.float32(0.5)}
    direct = jax.jit(jax.grad(physics_loss))(model, *data)
    apart = jax.jit(jax.grad(functional))({"y": y.params, "k": jnp.float32(0.5)}, *data)
    assert float(direct["k"]) == float(apart["k"]) != 0.0
    for name, value in direct["y"].params.items():
        assert float(value) == float(apart["y"][name]) != 0.0


# -- an ensemble of 1000 fits in one vmapped step ---------------------------------------------
MEMBERS = 1000


def ensemble_step(optimizer):
    def one(f, state, xs, ys):
        value, grads = jax.value_and_grad(squared_error)(f, xs, ys)
        updates, state = optimizer.update(grads, state, f)
        return optax.apply_updates(f, updates), state, value

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, 0))), jax.jit(one)


def test_ensemble_of_1000_fits_matches_least_squares_and_its_standard_errors():
    x, y = noisy_data(seed=4, members=MEMBERS)
    xs, ys = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    optimizer = optax.adam(0.05)
    step, _ = ensemble_step(optimizer)
    ensemble = quadratic().with_params({k: jnp.zeros(MEMBERS) for k in "abc"})
    state = jax.vmap(optimizer.init)(ensemble)
    for _ in range(2000):
        ensemble, state, losses = step(ensemble, state, xs, ys)
    assert losses.shape == (MEMBERS,)
    got = np.stack([np.asarray(ensemble.params[k], np.float64) for k in "abc"])
    optimum, stderr = least_squares(x, y)
    np.testing.assert_allclose(got, optimum, rtol=0, atol=1e-5)
    # 1000 samples estimate a standard deviation to ~2%; 10% is a loose, honest bound
    np.testing.assert_allclose(got.std(axis=1), stderr, rtol=0.1)
    assert np.all(np.abs(got.mean(axis=1) - [TRUE[k] for k in "abc"]) < 4 * stderr / MEMBERS**0.5)
    member = jax.tree_util.tree_map(lambda v: v[7], ensemble).bind()
    assert member.params == {} and member.variables == ("x",)


def test_vmapped_ensemble_step_equals_a_python_loop_of_single_steps():
    x, y = noisy_data(seed=5, members=4)
    xs, ys = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    optimizer = optax.adam(0.05)
    step, one = ensemble_step(optimizer)
    rng = np.random.default_rng(6)
    starts = {k: jnp.asarray(rng.normal(size=4), jnp.float32) for k in "abc"}
    ensemble = quadratic().with_params(starts)
    state = jax.vmap(optimizer.init)(ensemble)
    for _ in range(10):
        ensemble, state, _ = step(ensemble, state, xs, ys)
    for i in range(4):
        f = quadratic().with_params({k: v[i] for k, v in starts.items()})
        single_state = optimizer.init(f)
        for _ in range(10):
            f, single_state, _ = one(f, single_state, xs, ys[i])
        for k in "abc":
            np.testing.assert_allclose(ensemble.params[k][i], f.params[k], rtol=1e-5, atol=1e-6)
