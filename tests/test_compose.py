"""One callable type: every derivative, gradient, Jacobian and Hessian is a Function that every
entry point accepts; vector-valued formulas; the `auto` method's choices and bounded high orders."""

from __future__ import annotations

import math

import jax
import mpmath
import numpy as np
import pytest
import sympy
from conftest import mpmath_value, relative_error

import jaxcalc as jc

X, Y = sympy.symbols("x y", real=True)
POINTS = np.array([0.6, 1.3, 2.2])


# -- composition ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["auto", "ad", "symbolic"])
def test_derivative_of_a_derivative_is_the_second_derivative(method):
    f = jc.Function("sin(x)*exp(x/2) - 1/x")
    twice = jc.derivative(jc.derivative(f, method=method), method=method)
    once = jc.derivative(f, n=2, method=method)
    assert isinstance(twice, jc.Function) and isinstance(once, jc.Function)
    expected = [mpmath_value(f.expr, p, n=2) for p in POINTS]
    assert relative_error(twice(POINTS), expected) <= 1e-13
    assert relative_error(once(POINTS), expected) <= 1e-13
    if method != "symbolic":
        assert twice.kernel == once.kernel  # d(d f) is literally d² f: one program
    assert sympy.simplify(twice.expr - sympy.diff(f.expr, X, 2)) == 0


def test_every_derived_function_has_the_contract():
    f = jc.Function("a*x**2*y", params={"a": 2.0})
    for g in (jc.derivative(f, "x"), jc.derivative(f, "y", method="symbolic"), jc.gradient(f),
              jc.hessian(f), jc.jacobian(f), f.diff("x", 2)):
        assert isinstance(g, jc.Function)
        assert g.variables == ("x", "y") and list(g.params) == ["a"]
        assert jax.tree_util.tree_leaves(g) == list(f.leaves)
    assert jc.derivative(f, "x").expr == 4 * X * Y * sympy.Symbol("a", real=True) / 2
    assert jc.gradient(f).shape == (2,) and jc.hessian(f).shape == (2, 2)
    assert jc.gradient(f).expr.shape == (2,)


def test_an_ad_derivative_computes_its_expression_only_when_asked():
    d = jc.derivative("x**3 - 1/x", method="ad")
    assert "_symbolic" not in vars(d.kernel) and repr(d) == \
        "Function(Derivative(x**3 - 1/x, x), variables=('x',))"
    assert d.expr == 3 * X**2 + X**-2


def test_symbolic_derivative_of_an_ad_derivative_and_back():
    f = jc.Function("log(x)*x**3")
    mixed = jc.derivative(jc.derivative(f, method="ad"), method="symbolic")
    assert sympy.simplify(mixed.expr - sympy.diff(f.expr, X, 2)) == 0
    assert np.isnan(float(mixed(-1.0, dtype="float64")))  # f's domain still guards it
    assert relative_error(mixed(POINTS), [mpmath_value(f.expr, p, n=2) for p in POINTS]) <= 1e-13


def test_tangent_of_a_derivative():
    d = jc.derivative("x**3 - 1/x")  # 3x² + 1/x²
    t = jc.tangent(d, at=1.0)
    assert (t.value, t.slope, t.intercept) == (4.0, 4.0, 0.0)
    assert t.line == 4 * X


def test_plot_of_a_derivative(tmp_path):
    ax = jc.plot_function(jc.derivative("x**2 - 6*x + 1"), (0.0, 4.0), derivatives=(1,))
    ys = ax.lines[0].get_ydata()
    np.testing.assert_allclose(ys[[0, -1]], [-6.0, 2.0])
    assert np.allclose(ax.lines[1].get_ydata(), 2.0)


def test_evaluate_of_a_jacobian_and_of_a_derivative():
    g = jc.Function(["x*y", "sin(x) + y"])
    values = jc.evaluate(jc.jacobian(g), jc.mesh(jc.linspace(0, 1, 3), jc.linspace(1, 2, 2)),
                         dtype="float64")
    assert values.shape == (3, 2, 2, 2)
    np.testing.assert_allclose(values[2, 1], [[2.0, 1.0], [math.cos(1.0), 1.0]], rtol=1e-15)
    top = jc.evaluate(jc.derivative(jc.derivative("x**3")), jc.linspace(0, 1, 101),
                      reduce="max", dtype="float64")
    assert float(top) == 6.0


# -- vector-valued formulas ----------------------------------------------------------------------
@pytest.mark.parametrize("spec", [["x*y", "sin(x) + y"], ("x*y", "sin(x) + y"),
                                  sympy.Matrix([X * Y, sympy.sin(X) + Y]),
                                  sympy.Matrix([[X * Y, sympy.sin(X) + Y]])])
def test_vector_valued_formulas_and_their_jacobian(spec):
    g = jc.Function(spec)
    xs, ys = np.linspace(0.5, 2, 4).reshape(4, 1), np.array([1.5, -0.5, 3.0])
    assert g.shape == (2,) and g.variables == ("x", "y")
    assert g(xs, ys).shape == (4, 3, 2)
    np.testing.assert_allclose(g(xs, ys)[..., 1], np.sin(xs) + ys, rtol=1e-15)
    jac = jc.jacobian(g)(xs, ys)
    assert jac.shape == (4, 3, 2, 2)
    exact = sympy.Matrix([X * Y, sympy.sin(X) + Y]).jacobian([X, Y])
    for i, j in np.ndindex(4, 3):
        point = {"x": xs[i, 0], "y": ys[j]}
        expected = [[mpmath_value(exact[r, c], point) for c in range(2)] for r in range(2)]
        assert relative_error(jac[i, j], expected) <= 1e-14
    assert jc.jacobian(g).expr.tolist() == exact.tolist()


def test_jacobian_uses_reverse_mode_for_many_variables():
    names = [f"v{k}" for k in range(6)]
    g = jc.Function(["+".join(f"{v}**2" for v in names), "*".join(names)])
    point = np.arange(1.0, 7.0)
    jac = jc.jacobian(g)(*point)
    assert jac.shape == (2, 6)
    np.testing.assert_allclose(jac[0], 2 * point)
    np.testing.assert_allclose(jac[1], np.prod(point) / point)
    assert jc.hessian(g)(*point).shape == (2, 6, 6)


def test_derivative_of_a_vector_formula_is_elementwise():
    d = jc.derivative(["x**2", "sin(x)"])
    np.testing.assert_allclose(d(np.array([0.0, 1.0])), [[0.0, 1.0], [2.0, math.cos(1.0)]])


def test_gradient_of_many_variables_is_one_reverse_pass():
    names = [f"v{k:03d}" for k in range(200)]  # sorted by name = in order
    grad = jc.gradient(" + ".join(f"{k + 1}*{v}**2" for k, v in enumerate(names)))
    values = grad(*np.ones(200))
    np.testing.assert_array_equal(values, 2.0 * np.arange(1, 201))
    with pytest.raises(jc.ResourceError, match="traces about 40000 passes"):
        jc.hessian(grad)


def test_matrices_and_arrays_keep_their_shape():
    m = jc.Function(sympy.Matrix([[X, Y], [Y * X, 2]]))
    assert m.shape == (2, 2) and m(3.0, 2.0).tolist() == [[3.0, 2.0], [6.0, 2.0]]
    assert jc.jacobian(m).shape == (2, 2, 2)
    assert jc.Function(sympy.Array([X, 2 * X])).shape == (2,)


@pytest.mark.parametrize(("spec", "message"), [
    ([["x"], ["y"]], "non-empty flat list"),
    ([], "non-empty flat list"),
])
def test_bad_vector_formulas(spec, message):
    with pytest.raises(jc.InputError, match=message):
        jc.Function(spec)


def test_tangent_needs_one_formula():
    with pytest.raises(jc.InputError, match="needs one formula, not 2"):
        jc.tangent(["x", "x**2"], at=1.0)


# -- steps: every path differentiates them --------------------------------------------------------
STEP_SUMS = ["floor(exp(x-1))+floor(exp(x-2))", "ceiling(x**2)*x + sign(sin(x))",
             "Heaviside(x - 1)*x**2 + floor(x)**2"]


@pytest.mark.parametrize("text", STEP_SUMS)
def test_steps_of_any_argument_differentiate_on_every_path(text):
    f = jc.Function(text)
    points = np.array([0.3, 1.7, 2.6])
    values = {m: jc.derivative(f, method=m)(points, dtype="float64")
              for m in ("auto", "ad", "symbolic")}
    np.testing.assert_array_equal(values["ad"], values["symbolic"])
    np.testing.assert_array_equal(values["auto"], values["ad"])
    t = jc.tangent(f, at=1.7, dtype="float64")
    assert t.slope == float(values["ad"][1]) and str(t.line)


def test_the_symbolic_derivative_drops_the_delta_of_a_step():
    assert jc.Function("floor(exp(x-1))+floor(exp(x-2))").diff().expr == 0
    assert jc.Function("x*floor(exp(x))").diff().expr == sympy.floor(sympy.exp(X))


# -- auto and bounded high orders ----------------------------------------------------------------
def test_auto_chooses_once_per_formula_variable_and_order():
    f = jc.Function("gamma(x)")  # no Taylor-mode rule: symbolic above order 2
    assert jc.derivative(f, n=9).kernel is jc.derivative(f, n=9).kernel
    assert type(jc.derivative(f, n=9).kernel).__name__ == "ExpressionKernel"  # symbolic
    assert type(jc.derivative(f, n=1).kernel).__name__ == "DerivativeKernel"  # AD


def test_auto_takes_taylor_mode_where_sympys_derivative_cancels():
    """SymPy's third derivative of sinc(x) is a sum of terms ~6/x**4 that cancel to ~x/5:
    ``auto`` takes Taylor mode there (a small formula otherwise takes SymPy's)."""
    assert type(jc.derivative("x**3*exp(x)", n=3).kernel).__name__ == "ExpressionKernel"
    points = np.array([0.0, 1e-6, -1e-3, 0.5, 2.4999, 3.0])
    for n in (3, 4, 6):
        d = jc.derivative("2*sinc(x)", n=n)
        assert type(d.kernel).__name__ == "DerivativeKernel"
        with mpmath.workdps(40):
            expected = [float(2 * mpmath.diff(mpmath.sinc, p, n)) for p in points]
        assert relative_error(d(points, dtype="float64"), expected) <= 1e-13


@pytest.mark.parametrize(("text", "n", "method"), [
    ("tan(x)", 24, "symbolic"), ("gamma(x)", 32, "auto"), ("gamma(x)", 32, "symbolic"),
    ("loggamma(x)*gamma(x)", 20, "auto")])
def test_runaway_orders_are_refused_up_front(text, n, method):
    with pytest.raises(jc.ResourceError, match="would have about|outgrows"):
        jc.derivative(text, n=n, method=method)


def test_high_order_of_a_big_power_takes_the_small_symbolic_path():
    d = jc.derivative("(x+1)**9999", n=32)
    assert type(d.kernel).__name__ == "ExpressionKernel"
    expected = mpmath_value((X + 1) ** 9999, 0.001, n=32)
    # condition number ~ 9967 * 0.001 / 1.001 ≈ 10: the input's rounding costs ~1e-12
    assert relative_error(d(0.001, dtype="float64"), expected) <= 1e-11


@pytest.mark.parametrize(("text", "mp_function", "n"), [
    ("tan(x)", mpmath.tan, 9), ("tan(x)", mpmath.tan, 24), ("gamma(x)", mpmath.gamma, 12)])
def test_high_orders_are_exact_by_some_path(text, mp_function, n):
    with mpmath.workdps(60):  # mpmath's own high-precision differentiation: no SymPy swell
        expected = float(mpmath.diff(mp_function, mpmath.mpf("0.5"), n))
    assert relative_error(jc.derivative(text, n=n)(0.5, dtype="float64"), expected) <= 1e-12


def test_exact_lines_that_would_not_print_fall_back_to_floats():
    t = jc.tangent("(x+1)**9999", at=0.001, dtype="float64")
    assert all(isinstance(c, sympy.Float) for c in t.line.as_coefficients_dict().values())
    assert relative_error(float(t.line.coeff(X)), mpmath_value((X + 1) ** 9999, 0.001, n=1)) \
        <= 1e-11  # condition number ~10, see above
    assert len(str(t.line)) < 100


# -- names -----------------------------------------------------------------------------------------
def test_variables_named_like_functions():
    f = jc.Function("gamma*pr/rho")
    assert f.variables == ("gamma", "pr", "rho")
    assert float(f(1.4, 2.0, 4.0)) == pytest.approx(0.7)
    g = jc.Function("pr*V/(gamma - 1) + gamma(2)*beta", variables=("pr", "V", "gamma", "beta"))
    assert g.variables == ("pr", "V", "gamma", "beta")
    assert float(jc.derivative(g, "gamma")(1.0, 2.0, 3.0, 0.0)) == pytest.approx(-0.5)


def test_a_variable_called_lambda():
    f = jc.Function("h*c/lambda")
    assert f.variables == ("c", "h", "lambda")
    assert float(f(**{"lambda": 0.5, "c": 3.0, "h": 2.0})) == 12.0
    for method in ("ad", "symbolic"):
        assert float(jc.derivative(f, "lambda", method=method)(3.0, 2.0, 0.5)) == -24.0
    assert str(jc.derivative(f, "lambda").expr) == "-c*h/lambda**2"


def test_a_variable_called_e_gets_a_hint():
    with pytest.raises(jc.InputError, match=r"variables \('e', 'x'\).*write `E`, and `exp\(x\)`"):
        jc.derivative("e**x")


# -- user functions on every path ------------------------------------------------------------------
def test_a_user_formula_works_on_every_path():
    f = jc.Function("splus(2*x) - x", functions={"splus": "log(1 + exp(u))"})
    expected = [mpmath_value(sympy.log(1 + sympy.exp(2 * X)) - X, p, n=1) for p in POINTS]
    for method in ("auto", "ad", "symbolic"):
        assert relative_error(jc.derivative(f, method=method)(POINTS), expected) <= 1e-13
    t = jc.tangent(f, at=0.0)
    assert t.line == X * 0 + sympy.log(2) and t.slope == 0.0
    assert jc.evaluate(f, jc.linspace(-1, 1, 5)).shape == (5,)


def test_a_jax_callable_works_with_ad_and_the_symbolic_path_says_why_not():
    f = jc.Function("swish(x)", functions={"swish": lambda u: u * jax.nn.sigmoid(u)})
    slope = float(jc.derivative(f)(1.0))
    sigmoid = 1 / (1 + math.exp(-1.0))
    assert slope == pytest.approx(sigmoid + sigmoid * (1 - sigmoid), rel=1e-12)
    assert float(jc.derivative(f, n=3)(1.0)) == pytest.approx(
        float(jax.grad(jax.grad(jax.grad(lambda u: u * jax.nn.sigmoid(u))))(1.0)), rel=1e-6)
    with pytest.raises(jc.UnsupportedFunctionError, match="`swish` is a JAX callable"):
        jc.derivative(f, method="symbolic")
    t = jc.tangent(f, at=1.0)
    assert t.slope == slope
    with pytest.raises(jc.UnsupportedFunctionError, match="exact tangent lines cannot use it"):
        t.line  # noqa: B018
