"""`Function`: variables, shapes and broadcasting, the jit cache, dtypes, the pytree, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from conftest import compilations, mpmath_value, relative_error

import jaxcalc as jc

X, Y = sympy.symbols("x y", real=True)


@pytest.fixture(autouse=True)
def _x64_stays_off():
    assert jax.config.jax_enable_x64 is False
    yield
    assert jax.config.jax_enable_x64 is False  # no call may flip the global flag


# -- variables ---------------------------------------------------------------------------
def test_variables_default_to_sorted_free_symbols():
    f = jc.Function("z * b + a**2")
    assert f.variables == ("a", "b", "z")
    assert float(f(1.0, 2.0, 3.0)) == 7.0
    assert jc.Function("3*x**2 + 1").variables == ("x",)
    assert jc.Function("2 + pi").variables == ()


def test_explicit_variables_set_the_call_order():
    f = jc.Function("x - y", variables=("y", "x"))
    assert f.variables == ("y", "x")
    assert float(f(1.0, 5.0)) == 4.0
    g = jc.Function("x**2", variables="x")
    assert g.variables == ("x",)


def test_explicit_variables_may_include_unused_ones():
    f = jc.Function("x**2", variables=("x", "t"))
    out = f(np.arange(3.0), np.zeros((2, 1)))
    assert out.shape == (2, 3) and out.tolist() == [[0.0, 1.0, 4.0]] * 2


def test_function_of_a_function_and_of_a_sympy_expression():
    f = jc.Function("x**3 - 1/x")
    assert jc.Function(f).expr == f.expr
    assert jc.Function(X**3 - 1 / X).expr == f.expr


def test_sympy_symbols_without_assumptions_are_made_real():
    x = sympy.Symbol("x")  # complex by default in SymPy
    f = jc.Function(sympy.Abs(x) + sympy.sqrt(x**2))
    assert all(s.is_real for s in f.expr.free_symbols)
    assert f.expr == 2 * sympy.Abs(X)
    assert f.diff().expr == 2 * sympy.sign(X)
    assert float(f(-2.0)) == 4.0


@pytest.mark.parametrize(("expr", "number"), [
    (sympy.Float("1e400") * X, "1000000000"), (X / sympy.Integer(10) ** 400, "1/1000000000"),
    (sympy.oo * X, "oo"), (sympy.Symbol("y") - sympy.oo, "-oo"), (10**400, "1000000000"),
])
def test_sympy_numbers_beyond_floating_point_are_refused_as_in_text(expr, number):
    with pytest.raises(jc.InputError, match=rf"`{number}.*is beyond floating point \(magnitudes "
                                            r"10\*\*-308 to 10\*\*308\)"):
        jc.Function(expr)
    with pytest.raises(jc.ParseError, match=r"above double precision"):
        jc.Function("1e400*x")
    assert float(jc.Function(sympy.Float("1e300") * X)(2.0)) == 2e300  # within range: kept


# -- shapes --------------------------------------------------------------------------------
def test_scalar_zero_d_and_nd_inputs():
    f = jc.Function("x**3 - 1/x")
    assert float(f(2.0)) == 7.5 and f(2.0).shape == ()
    assert f(2).dtype == np.float64 and float(f(2)) == 7.5  # Python numbers: float64
    assert f(np.float32(2.0)).shape == ()
    assert f(np.array(2.0)).shape == ()
    grid = np.linspace(1.0, 2.0, 24).reshape(2, 3, 4)
    out = f(grid, dtype="float64")
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, grid**3 - 1 / grid, rtol=1e-15)
    assert f([1.0, 2.0]).tolist() == [0.0, 7.5]
    assert f(np.zeros((0, 3))).shape == (0, 3)


def test_several_variables_broadcast():
    f = jc.Function("x * y + y")
    xs, ys = np.arange(3.0).reshape(3, 1), np.arange(4.0)
    out = f(xs, ys)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, xs * ys + ys)
    assert f(2.0, ys).shape == (4,)


def test_shapes_that_do_not_broadcast_are_an_input_error():
    with pytest.raises(jc.InputError, match=r"do not broadcast: \[\(3,\), \(4,\)\]"):
        jc.Function("x * y")(np.ones(3), np.ones(4))


# -- the jit cache ---------------------------------------------------------------------------
def test_no_retrace_for_new_arrays_of_the_same_shape_and_dtype():
    f = jc.Function("x**2 + 0.125 * x - 7")  # an expression no other test compiles
    with compilations(f) as count:
        f(np.ones(5, np.float32))
        assert count() == 1
        f(np.full(5, 3.0, np.float32))
        f(jnp.arange(5.0))
        assert count() == 1
        f(np.ones(6, np.float32))  # a new shape traces once
        assert count() == 2
        f(np.ones(6, np.float32) * 2)
        assert count() == 2
        f(np.ones(6), dtype="float64")  # and so does a new dtype
        assert count() == 3


def test_equal_functions_share_their_compilation():
    f = jc.Function("x**2 + 0.25 * x - 9")
    with compilations(f) as count:
        f(np.ones(3, np.float32))
        jc.Function("x**2 + 0.25 * x - 9")(np.zeros(3, np.float32))
        assert count() == 1


# -- dtypes -----------------------------------------------------------------------------------
def test_numbers_are_float64_and_arrays_keep_their_dtype():
    f = jc.Function("exp(x) / 3")
    assert f(1.0).dtype == np.float64  # NumPy's rule, as in the CLI
    assert f(np.ones(2, np.float32)).dtype == np.float32
    for value in (f(0.1, dtype="float64"), f(0.1, dtype=np.float64), f(np.float64(0.1)),
                  f(np.array([0.1])), f([0.1], dtype=jnp.float64)):
        assert value.dtype == np.float64
        assert relative_error(value, mpmath_value(f.expr, 0.1)) <= 1e-15
    assert relative_error(f(0.1), mpmath_value(f.expr, 0.1)) <= 1e-15
    float32 = f(np.float32(0.1))
    assert relative_error(float32, mpmath_value(f.expr, float(np.float32(0.1)))) <= 1e-6


def test_dtype_argument_overrides_the_inputs():
    f = jc.Function("x / 3")
    assert f(np.float64(1.0), dtype="float32").dtype == np.float32
    assert f(np.arange(3), dtype="float64").dtype == np.float64


def test_mixed_float_inputs_promote():
    f = jc.Function("x + y")
    assert f(np.float32(1.0), np.float64(2.0)).dtype == np.float64
    assert f(np.float16(1.0), np.float32(2.0)).dtype == np.float32
    assert f(np.int32(1), np.int64(2)).dtype == np.float64  # integers: NumPy's float64


def test_python_numbers_are_float64_in_and_out_of_an_x64_scope():
    f = jc.Function("x / 3")
    with jax.enable_x64(True):
        assert f(1.0).dtype == np.float64
    assert f(1.0).dtype == np.float64
    assert jax.jit(f)(1.0).dtype == np.float32  # traced: JAX's precision rule


def test_float16_and_bfloat16_are_accepted():
    f = jc.Function("x * 2")
    assert f(1.5, dtype="float16").dtype == np.float16
    assert float(f(1.5, dtype="bfloat16")) == 3.0


# -- JAX transformations and the pytree ----------------------------------------------------------
def test_jax_transformations_of_a_function():
    f = jc.Function("sin(x) * x")
    xs = jnp.linspace(0.0, 1.0, 4)
    np.testing.assert_allclose(jax.vmap(jax.grad(f))(xs), np.sin(xs) + xs * np.cos(xs), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(f)(xs), f(xs), rtol=1e-6)


def test_pytree_leaves_are_the_params():
    f = jc.Function("a * x**2 + b", params={"a": 2.0, "b": -1.0})
    assert f.variables == ("x",)
    leaves, treedef = jax.tree_util.tree_flatten(f)
    assert [float(v) for v in leaves] == [2.0, -1.0]
    g = jax.tree_util.tree_unflatten(treedef, [jnp.float32(3.0), jnp.float32(0.5)])
    assert isinstance(g, jc.Function) and g.expr == f.expr and g.variables == f.variables
    assert float(g(2.0)) == 12.5 and float(f(2.0)) == 7.0
    assert {k: float(v) for k, v in g.params.items()} == {"a": 3.0, "b": 0.5}
    assert jax.tree_util.tree_structure(g) == treedef


def test_function_without_params_has_no_leaves():
    f = jc.Function("x**2")
    assert jax.tree_util.tree_leaves(f) == [] and f.params == {}
    assert float(jax.jit(lambda g, v: g(v))(f, 3.0)) == 9.0


def test_grad_with_respect_to_params():
    f = jc.Function("a * x**2 + b", params={"a": 2.0, "b": -1.0})
    grads = jax.grad(lambda g: g(3.0))(f)
    assert {k: float(v) for k, v in grads.params.items()} == {"a": 9.0, "b": 1.0}


# -- errors --------------------------------------------------------------------------------------
def test_wrong_number_of_inputs():
    f = jc.Function("x * y")
    with pytest.raises(jc.InputError, match=r"takes 2 input\(s\), got 1; pass one array per"):
        f(1.0)
    with pytest.raises(jc.InputError, match=r"takes 2 input\(s\), got 3"):
        f(1.0, 2.0, 3.0)


@pytest.mark.parametrize("bad", [1 + 2j, np.array([1j]), np.complex64(1.0)])
def test_complex_inputs_are_rejected(bad):
    with pytest.raises(jc.InputError, match="complex"):
        jc.Function("x**2")(bad)


@pytest.mark.parametrize("bad", ["1.0", b"1", None, {"x": 1.0}, object()])
def test_non_numeric_inputs_are_rejected(bad):
    with pytest.raises(jc.InputError, match="numbers or arrays"):
        jc.Function("x**2")(bad)


def test_ragged_string_and_huge_inputs_are_rejected():
    f = jc.Function("x**2")
    with pytest.raises(jc.InputError, match="could not read input as a float64 number"):
        f(-(10**400))
    with pytest.raises(jc.InputError):
        f([[1.0, 2.0], [3.0]])
    with pytest.raises(jc.InputError):
        f(np.array(["1.0"]))


@pytest.mark.parametrize(
    ("bad", "match"),
    [("int32", "`dtype` must be one of float16, bfloat16, float32, float64, got int32"),
     ("complex64", "`dtype` must be one of"),
     ("nonsense", "`dtype` must be a float dtype such as 'float32'"),
     (42, "`dtype` must be")],
)
def test_bad_dtype(bad, match):
    with pytest.raises(jc.InputError, match=match):
        jc.Function("x**2")(1.0, dtype=bad)


def test_unknown_free_symbol():
    with pytest.raises(jc.InputError, match=r"free symbol\(s\) \['y'\] are neither `variables`"):
        jc.Function(X * Y, variables=("x",))
    with pytest.raises(jc.JaxcalcError, match="y"):
        jc.Function("x * y", variables=("x",))


def test_variables_and_params_overlap():
    with pytest.raises(jc.InputError, match=r"\['a'\] cannot be both variables and params"):
        jc.Function("a * x", variables=("x", "a"), params={"a": 1.0})


@pytest.mark.parametrize(
    ("variables", "match"),
    [(("x", "x"), "`variables` has duplicates"), (("x", "1y"), "`variables` must be names"),
     ((3,), "`variables` must be names")],
)
def test_bad_variables(variables, match):
    with pytest.raises(jc.InputError, match=match):
        jc.Function("x", variables=variables)


@pytest.mark.parametrize("bad", [None, [[1], [2]], [], b"x", {"x": 1}])
def test_bad_expression_type(bad):
    message = "expected an expression as text, a number|several formulas are a non-empty flat"
    with pytest.raises(jc.InputError, match=message):
        jc.Function(bad)


def test_numbers_are_constant_functions():
    assert float(jc.Function(2.5)(dtype="float64")) == 2.5
    assert jc.Function(3, variables="x")(np.zeros(4)).tolist() == [3.0] * 4


def test_bad_param_value():
    with pytest.raises(jc.InputError, match="param `a` must be a number or array"):
        jc.Function("a * x", params={"a": "one"})


# -- printing ----------------------------------------------------------------------------------
def test_repr_and_str():
    f = jc.Function("x**3 - 1/x")
    assert repr(f) == "Function(x**3 - 1/x, variables=('x',))"
    assert str(f) == "x**3 - 1/x"
    g = jc.Function("a * x + b", params={"a": 1.0, "b": 0.0})
    assert repr(g) == "Function(a*x + b, variables=('x',), params=['a', 'b'])"
