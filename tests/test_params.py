"""Trainable params: the pytree, `apply`/`with_params`/`bind`, the dtype rule, and gradients
with respect to params against SymPy's derivatives with respect to the param symbols.

float64 cases build the Function and trace inside ``jax.enable_x64(True)`` (the documented way
to train in float64); the global flag stays off. Gradient accuracy is
:func:`conftest.relative_error` against 50-digit mpmath at the inputs as rounded to the dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from conftest import TOLERANCE, mpmath_value, relative_error, rounded

import jaxcalc as jc

EXPR = "a*sin(b*x) + c*exp(-d*x**2) + log(1 + (e*x)**2)"
VALUES = {"a": 1.5, "b": 0.7, "c": -2.0, "d": 0.3, "e": 1.2}
POINTS = [-1.7, -0.4, 0.25, 1.1, 2.3]


def assert_close32(actual, expected):
    """Equal to float32 rounding (values here are of order 1)."""
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def x64(dtype: str):
    """The precision scope a user trains ``dtype`` in."""
    return jax.enable_x64(dtype == "float64")


def quadratic(**values) -> jc.Function:
    return jc.Function("a*x**2 + b*x + c", params={"a": 1.0, "b": -2.0, "c": 0.5, **values})


def _references(dtype, wrt, n_x=0):
    """d/d(wrt) of d^n_x/dx^n_x EXPR at POINTS and VALUES (as rounded to ``dtype``)."""
    expr = jc.parse(EXPR)
    if n_x:
        expr = sympy.diff(expr, jc.parse("x"), n_x)
    values = {k: rounded(v, dtype) for k, v in VALUES.items()}
    return [mpmath_value(expr, {**values, "x": rounded(p, dtype)}, wrt=wrt, n=1) for p in POINTS]


# -- the pytree -------------------------------------------------------------------------------
def test_leaves_are_the_params_in_order_and_the_expression_is_static():
    f = quadratic()
    leaves, treedef = jax.tree_util.tree_flatten(f)
    assert [float(v) for v in leaves] == [1.0, -2.0, 0.5]
    assert list(f.params) == ["a", "b", "c"]
    g = jax.tree_util.tree_unflatten(treedef, [jnp.float32(v) for v in (3.0, 4.0, 5.0)])
    assert isinstance(g, jc.Function) and g.expr == f.expr and g.variables == ("x",)
    assert {k: float(v) for k, v in g.params.items()} == {"a": 3.0, "b": 4.0, "c": 5.0}
    assert float(g(2.0)) == 3 * 4 + 4 * 2 + 5
    assert treedef == jax.tree_util.tree_structure(quadratic(a=9.0))  # built twice: same aux


def test_tree_map_returns_a_function_and_keeps_the_original():
    f = quadratic()
    doubled = jax.tree_util.tree_map(lambda v: 2 * v, f)
    assert isinstance(doubled, jc.Function)
    assert float(doubled(1.0)) == 2 * float(f(1.0))
    assert float(f.params["a"]) == 1.0
    assert jax.tree_util.tree_leaves(jc.Function("x**2")) == []


def test_derived_callables_share_the_functions_leaves():
    f = quadratic()
    for derived in (jc.derivative(f), jc.derivative(f, method="symbolic"), jc.gradient(f)):
        assert jax.tree_util.tree_leaves(derived) == list(f.leaves)


# -- params: values and dtype -----------------------------------------------------------------
def test_params_are_strongly_typed_default_float_arrays():
    f = jc.Function("a*x + b", params={"a": 2, "b": np.float64(0.5)})
    for value in f.params.values():
        assert isinstance(value, jax.Array) and value.dtype == jnp.float32 and not value.weak_type
    assert f(np.float32(3.0)).dtype == np.float32


def test_params_are_float64_when_built_in_x64_scope():
    with jax.enable_x64(True):
        f = jc.Function("a*x + b", params={"a": 2.0, "b": np.float64(0.1)})
        assert {v.dtype for v in f.params.values()} == {jnp.dtype("float64")}
        assert float(f.params["b"]) == 0.1
        assert f(jnp.asarray(1.0)).dtype == np.float64
    assert not jax.config.jax_enable_x64


def test_float_params_keep_a_narrower_dtype():
    f = jc.Function("a*x", params={"a": jnp.bfloat16(1.5)})
    assert f.params["a"].dtype == jnp.bfloat16


def test_inputs_decide_the_working_dtype_and_params_follow():
    f = quadratic()  # float32 params
    assert f(2.0, dtype="float64").dtype == np.float64
    assert float(f(2.0, dtype="float64")) == 1.0 * 4 - 2.0 * 2 + 0.5


def test_numpy_float64_inputs_inside_a_trace_follow_jax_precision_rule():
    f = quadratic()
    xs = np.linspace(-1.0, 1.0, 5)  # NumPy float64; the trace runs in float32 (x64 off)
    grads = jax.grad(lambda f: jnp.sum(f(xs)))(f)
    assert grads.params["a"].dtype == jnp.float32
    assert np.isclose(float(grads.params["a"]), np.sum(xs**2))
    with pytest.raises(jc.InputError, match=r"`dtype=float64` inside jax.jit/grad/vmap needs x64"):
        jax.grad(lambda f: jnp.sum(f(xs, dtype="float64")))(f)
    with jax.enable_x64(True):
        assert jax.jit(lambda f: f(xs))(quadratic()).dtype == np.float64


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": "1.0"}, r"param `a` must be a number or array, got '1.0'"),
        ({"a": object()}, r"param `a` must be a number or array"),
        ({"a": 10**400}, r"param `a` must be a number or array, got 1000000"),
        ({"x": 1.0}, r"\['x'\] cannot be both variables and params"),
    ],
)
def test_bad_params_raise(params, message):
    with pytest.raises(jc.InputError, match=message):
        jc.Function("a*x", "x", params=params)


# -- with_params / apply ----------------------------------------------------------------------
def test_with_params_returns_a_new_function_and_apply_evaluates_with_them():
    f = quadratic()
    new = {"a": 2.0, "b": -3.0, "c": 1.0}
    g = f.with_params(new)
    xs = np.linspace(-2.0, 2.0, 9, dtype=np.float32)
    expected = 2 * xs**2 - 3 * xs + 1
    assert_close32(g(xs), expected)
    assert_close32(f.apply(new, xs), expected)
    assert g.kernel is f.kernel and float(f.params["a"]) == 1.0
    assert all(isinstance(v, jax.Array) and v.dtype == jnp.float32 for v in g.params.values())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": 1.0, "b": 2.0}, r"`params` must be a dict with exactly the keys \['a', 'b', 'c'\], "
                               r"got \['a', 'b'\]"),
        ({"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}, r"got \['a', 'b', 'c', 'd'\]"),
        ([1.0, 2.0, 3.0], r"`params` must be a dict .* got list"),
        ({"a": 1.0, "b": 2.0, "c": "3"}, r"param `c` must be a number or array"),
    ],
)
def test_with_params_checks_its_argument(params, message):
    with pytest.raises(jc.InputError, match=message):
        quadratic().with_params(params)


# -- gradients with respect to params = SymPy's derivatives w.r.t. the param symbols ---------
@pytest.mark.parametrize("wrt", sorted(VALUES))
def test_param_gradients_equal_symbolic_derivatives(wrt, dtype):
    with x64(dtype):
        f = jc.Function(EXPR, params=VALUES)
        xs = jnp.asarray(POINTS, dtype)
        per_point = jax.vmap(jax.grad(lambda f, x: f(x)), in_axes=(None, 0))(f, xs)
        functional = jax.vmap(jax.grad(lambda p, x: f.apply(p, x)), in_axes=(None, 0))(
            f.params, xs
        )
    assert per_point.params[wrt].dtype == np.dtype(dtype)
    expected = _references(dtype, wrt)
    assert relative_error(per_point.params[wrt], expected) <= TOLERANCE[dtype]
    np.testing.assert_array_equal(functional[wrt], per_point.params[wrt])


@pytest.mark.parametrize("method", ["ad", "symbolic"])
@pytest.mark.parametrize("wrt", ["a", "b", "e"])
def test_param_gradients_flow_through_input_derivatives(wrt, method, dtype):
    """d/dparam of df/dx: the derivative built inside the loss from the traced f, or the
    derivative Function itself differentiated (its leaves are f's params)."""
    with x64(dtype):
        f = jc.Function(EXPR, params=VALUES)
        xs = jnp.asarray(POINTS, dtype)
        built_inside = jax.vmap(
            jax.grad(lambda f, x: jc.derivative(f, method=method)(x)), in_axes=(None, 0)
        )(f, xs).params[wrt]
        derived = jc.derivative(f, method=method)
        on_derived = jax.vmap(jax.grad(lambda d, x: d(x)), in_axes=(None, 0))(derived, xs)
    expected = _references(dtype, wrt, n_x=1)
    assert relative_error(built_inside, expected) <= 4 * TOLERANCE[dtype]
    index = sorted(VALUES).index(wrt)
    np.testing.assert_array_equal(jax.tree_util.tree_leaves(on_derived)[index], built_inside)


def test_gradient_of_a_physics_residual_matches_sympy():
    """d/dk and d/dA of mean((y' + k*y)**2) for y = A*exp(-r*x), against SymPy, in float64."""
    x, a_, r_, k_ = sympy.symbols("x A r k", real=True)
    points = [0.0, 0.5, 1.0]
    values = {a_: 2.0, r_: 1.3, k_: 1.5}
    y = a_ * sympy.exp(-r_ * x)
    loss = sum((sympy.diff(y, x) + k_ * y).subs(x, p) ** 2 for p in points) / len(points)
    with jax.enable_x64(True):
        f = jc.Function("A*exp(-r*x)", params={"A": 2.0, "r": 1.3})
        xs = jnp.asarray(points)

        def residual_loss(model):
            y, k = model
            return jnp.mean((jc.derivative(y)(xs) + k * y(xs)) ** 2)

        g_f, g_k = jax.grad(residual_loss)((f, jnp.asarray(1.5)))
    for symbol_, got in [(a_, g_f.params["A"]), (r_, g_f.params["r"]), (k_, g_k)]:
        expected = float(sympy.diff(loss, symbol_).subs(values))
        assert abs(float(got) - expected) <= 1e-12 * max(1.0, abs(expected))


# -- jit and vmap -----------------------------------------------------------------------------
def test_jit_over_a_function_traces_once_for_new_param_values():
    traces = []

    @jax.jit
    def evaluate(f, xs):
        traces.append(1)
        return f(xs)

    xs = jnp.linspace(0.0, 1.0, 4)
    for a in (1.0, 2.0, 3.0):
        f = quadratic(a=a)  # a new Function each time, equal kernel: the same jit cache entry
        assert_close32(evaluate(f, xs), a * xs**2 - 2 * xs + 0.5)
    assert len(traces) == 1


def test_vmap_over_stacked_params_equals_a_python_loop():
    f = quadratic()
    rng = np.random.default_rng(0)
    stacked = {k: jnp.asarray(rng.normal(size=7), jnp.float32) for k in "abc"}
    xs = jnp.linspace(-1.0, 1.0, 11)
    loop = np.stack([f.apply({k: v[i] for k, v in stacked.items()}, xs) for i in range(7)])
    ensemble = f.with_params(stacked)
    assert ensemble.params["a"].shape == (7,)
    assert_close32(jax.vmap(lambda p: f.apply(p, xs))(stacked), loop)
    assert_close32(jax.vmap(lambda g: g(xs))(ensemble), loop)
    by_tree_map = jax.tree_util.tree_map(lambda v: v + jnp.arange(7.0), f)
    loop = np.stack([f.apply({k: v + i for k, v in f.params.items()}, xs) for i in range(7)])
    assert_close32(jax.vmap(lambda g: g(xs))(by_tree_map), loop)
    # gradients of the whole ensemble in one call, against the loop
    grads = jax.vmap(jax.grad(lambda g: jnp.sum(g(xs) ** 2)))(ensemble)
    for i in range(7):
        member = jax.tree_util.tree_map(lambda v, i=i: v[i], ensemble)
        single = jax.grad(lambda g: jnp.sum(g(xs) ** 2))(member)
        for k in "abc":
            assert_close32(grads.params[k][i], single.params[k])


# -- bind: the fitted expression ---------------------------------------------------------------
def test_bind_substitutes_float32_values_exactly_and_prints_six_digits():
    f = quadratic().with_params({"a": 2.0001338, "b": -2.9998701, "c": 1.0000234})
    bound = f.bind()
    assert str(bound.expr) == "2.00013*x**2 - 2.99987*x + 1.00002"
    assert bound.params == {} and bound.variables == ("x",)
    assert f.expr == jc.parse("a*x**2 + b*x + c")  # the trainable one stays symbolic
    x = jc.parse("x")
    coefficients = [bound.expr.coeff(x, 2), bound.expr.coeff(x, 1), bound.expr.coeff(x, 0)]
    assert [float(c) for c in coefficients] == [float(f.params[k]) for k in "abc"]
    xs = np.linspace(-3.0, 3.0, 13, dtype=np.float32)
    np.testing.assert_array_equal(bound(xs), f(xs))


def test_bind_keeps_float64_digits_and_rounds_on_request():
    with jax.enable_x64(True):
        f = jc.Function("a*exp(-k*x)", params={"a": 2.0, "k": 1.23456789012345})
    assert str(f.bind().expr) == "2.0*exp(-1.23456789012345*x)"
    rounded_expr = f.bind(digits=3).expr
    assert str(rounded_expr) == "2.0*exp(-1.23*x)"
    value = float(f.bind(digits=3)(1.0, dtype="float64"))  # 1.23 held to 3 digits
    assert value == pytest.approx(2 * np.exp(-1.23), rel=1e-3)


def test_bind_keeps_the_domain_guards_of_a_derivative():
    f = jc.Function("log(a*x)", params={"a": 2.0})
    derivative = f.diff().bind()
    assert derivative.expr == jc.parse("1/x")
    values = derivative(np.array([-1.0, 0.5], np.float32))
    assert np.isnan(values[0]) and values[1] == 2.0


def test_bind_without_params_is_the_same_expression():
    f = jc.Function("x**2 + 1")
    assert f.bind().expr == f.expr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: f.with_params({"a": jnp.ones(3), "b": 0.0, "c": 0.0}).bind(),
         r"param `a` must be one number to bind, got shape \(3,\); bind one member"),
        (lambda f: f.bind(digits=0), r"`digits` must be a positive integer or None, got 0"),
        (lambda f: f.bind(digits=2.5), r"`digits` must be a positive integer or None"),
        (lambda f: jax.jit(lambda g: g.bind()(1.0))(f), r"`bind` needs concrete param values"),
    ],
)
def test_bind_errors(make, message):
    with pytest.raises(jc.InputError, match=message):
        make(quadratic())
