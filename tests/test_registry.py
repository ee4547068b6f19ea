"""The function registry: every registered function against mpmath, its Taylor-mode flag
against jet itself, the spellings, user functions (formula and JAX callable), the README table.

Each function is built by its own ``Entry.build`` and lowered once by ``_core.lower`` (so these
tests see the registry and the lowering alone), then evaluated under strict dtype promotion.
Accuracy is :func:`conftest.relative_error` (relative, absolute below 1e-2) against 50-digit
mpmath at the points as rounded to the working dtype: the value <= 1e-5 in float32 and <= 1e-13
in float64, as are, in float64, the forward-mode AD derivative and SymPy's derivative lowered.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from conftest import TOLERANCE, mpmath_value, relative_error, rounded
from jax.experimental import jet

import jaxcalc as jc
from jaxcalc._core.lower import check_supported, has_taylor_rules, lower
from jaxcalc._core.registry import REGISTRY, Registry, check_symbolic, markdown_table

x, y = sympy.symbols("x y", real=True)
SYMBOLS = (x, y)

# name -> points inside the domain where the function is smooth (numbers for one argument,
# pairs for two), and optionally the SymPy arguments (default: x, or x, y).
CASES = {
    "sin": ([-2.5, 0.3, 1.7],),
    "cos": ([-2.5, 0.3, 1.2],),
    "tan": ([-1.2, 0.4, 1.3],),
    "sec": ([-1.2, 0.4, 2.5],),
    "csc": ([-2.0, 0.4, 1.3],),
    "cot": ([-2.0, 0.4, 1.3],),
    "asin": ([-0.7, 0.2, 0.9],),
    "acos": ([-0.7, 0.2, 0.9],),
    "atan": ([-3.0, 0.5, 40.0],),
    "atan2": ([(1.5, 0.5), (-2.0, 1.0), (-1.0, -3.0)],),
    "asec": ([-3.0, 1.5, 4.0],),
    "acsc": ([-3.0, 1.5, 4.0],),
    "acot": ([-3.0, 0.5, 4.0],),
    "sinh": ([-3.0, 0.5, 4.0],),
    "cosh": ([-3.0, 0.5, 4.0],),
    "tanh": ([-3.0, 0.5, 2.0],),
    "sech": ([-3.0, 0.5, 2.0],),
    "csch": ([-3.0, 0.5, 2.0],),
    "coth": ([-3.0, 0.5, 2.0],),
    "asinh": ([-3.0, 0.5, 20.0],),
    "acosh": ([1.5, 3.0, 20.0],),
    "atanh": ([-0.8, 0.3, 0.6],),
    "asech": ([0.2, 0.5, 0.9],),
    "acsch": ([-3.0, 0.5, 2.0],),
    "acoth": ([-3.0, 1.5, 4.0],),
    "exp": ([-3.0, 0.5, 5.0],),
    "log": ([0.2, 1.5, 30.0],),
    "log10": ([0.2, 1.5, 3e4],),
    "log2": ([0.2, 1.5, 3e4],),
    "exp2": ([-3.3, 0.5, 10.7],),
    "log1p": ([-0.5, 1e-6, 3.0],),
    "expm1": ([-2.0, 1e-6, 3.0],),
    "logistic": ([-4.0, 0.5, 6.0],),
    "softplus": ([-30.0, 0.5, 40.0],),
    "logaddexp": ([(1.5, 0.5), (-2.0, 1.0), (30.0, -1.0)],),
    "sqrt": ([0.3, 2.0, 9.0],),
    "cbrt": ([0.3, 2.0, 27.0],),
    "pow": ([(1.5, 2.5), (3.0, -0.5), (0.5, 3.0)],),
    "hypot": ([(3.0, 4.0), (-1.5, 0.2), (1e-3, 2.0)],),
    "Abs": ([-2.0, 0.5, 3.0],),
    "Max": ([(0.5, 2.0), (3.0, -1.0)],),
    "Min": ([(0.5, 2.0), (3.0, -1.0)],),
    "sign": ([-2.0, 0.5],),
    "floor": ([-2.5, 0.3, 3.7],),
    "ceiling": ([-2.5, 0.3, 3.7],),
    "Heaviside": ([-2.0, 0.7],),
    "Mod": ([(7.5, 3.0), (-7.5, 3.0), (7.5, -2.0)],),
    "erf": ([-1.5, 0.2, 2.0],),
    "erfc": ([-1.0, 0.5, 3.0],),
    "erfinv": ([-0.9, 0.3, 0.7],),
    "Ei": ([-2.0, 0.5, 3.0],),
    "gamma": ([0.3, 2.5, 5.5, -1.5],),
    "loggamma": ([0.3, 2.5, 10.0],),
    "digamma": ([0.3, 2.5, 10.0],),
    "polygamma": ([0.3, 2.5, 10.0], (sympy.Integer(2), x)),
    "beta": ([(0.5, 2.5), (3.0, 1.5), (10.0, 2.5)],),
    "factorial": ([0.5, 2.5, 6.0],),
    "binomial": ([(5.5, 2.0), (4.0, 1.5), (10.0, 3.0)],),
    "sinc": ([-2.0, 0.5, 7.0],),
}


def test_every_registered_function_has_a_case():
    assert sorted(CASES) == sorted(e.name for e in REGISTRY.public)
    assert len(REGISTRY.public) >= 50


def _case(name):
    points, *args = CASES[name]
    entry = REGISTRY[name]
    args = args[0] if args else SYMBOLS[: entry.arity[0]]
    expr = entry.build(*args)
    variables = sorted(expr.free_symbols, key=lambda s: s.name)
    rows = [p if isinstance(p, tuple) else (p,) for p in points]
    return entry, expr, variables, rows


def _derivative(expr, wrt):
    """SymPy's derivative with jaxcalc's convention at jumps: Dirac deltas and the unevaluated
    derivatives of floor/ceiling (each piece is constant) are 0."""
    d = sympy.diff(expr, wrt).replace(sympy.DiracDelta, lambda *_: sympy.Integer(0))
    steps = (sympy.floor, sympy.ceiling)
    return d.replace(lambda n: isinstance(n, sympy.Derivative) and isinstance(n.expr, steps),
                     lambda _: sympy.Integer(0)).doit()


def _reference(expr, variables, row):
    return mpmath_value(expr, {s.name: v for s, v in zip(variables, row, strict=True)})


def _values_and_derivatives(fn, columns):
    """``fn``'s value, its lowered symbolic derivatives and its AD derivatives (jvp)."""
    value, *symbolic = fn(*columns)
    ad = []
    for index in range(len(columns)):
        tangents = [jnp.ones_like(c) if i == index else jnp.zeros_like(c)
                    for i, c in enumerate(columns)]
        ad.append(jax.jvp(lambda *c: fn(*c)[0], columns, tangents)[1])
    return value, symbolic, ad


def _columns(rows, dtype):
    rows = [tuple(rounded(v, dtype) for v in row) for row in rows]
    return rows, [jnp.asarray(c, dtype) for c in zip(*rows, strict=True)]


@pytest.mark.parametrize("name", CASES)
def test_value_and_derivatives_match_mpmath(name):
    """float32 and float64 values; derivatives in float64 (each dtype compiles anew: the
    float32 derivatives would double the time of this test and test the same lowering)."""
    entry, expr, variables, rows = _case(name)
    derivatives = [_derivative(expr, v) for v in variables]
    fn = lower([expr, *derivatives], variables)
    with jax.numpy_dtype_promotion("strict"):
        rows32, columns = _columns(rows, "float32")
        value = jax.jit(lambda *c: lower(expr, variables)(*c))(*columns)
        assert value.dtype == np.float32
        expected = [_reference(expr, variables, row) for row in rows32]
        assert relative_error(value, expected) <= TOLERANCE["float32"], value
        with jax.enable_x64(True):
            rows64, columns = _columns(rows, "float64")
            value, symbolic, ad = jax.jit(_values_and_derivatives, static_argnums=0)(fn, columns)
    assert value.dtype == np.float64
    expected = [_reference(expr, variables, row) for row in rows64]
    assert relative_error(value, expected) <= TOLERANCE["float64"], value
    for d, *got in zip(derivatives, symbolic, ad, strict=True):
        expected = [_reference(d, variables, row) for row in rows64]
        for g in got:
            assert relative_error(g, expected) <= TOLERANCE["float64"], (d, g)


@pytest.mark.parametrize("name", CASES)
def test_heads_in_sympys_derivatives_lower(name):
    """What SymPy's derivatives introduce (polygamma, DiracDelta, Heaviside, sign, relations
    inside Piecewise...) lowers, up to the second order."""
    _, expr, variables, _ = _case(name)
    for v in variables:
        first = _derivative(expr, v)
        for d in (first, *(_derivative(first, w) for w in variables)):
            check_supported(d)


def _jet_third_derivative(fn, point):
    zero = jnp.zeros_like(point)
    return jet.jet(fn, (point,), ((jnp.ones_like(point), zero, zero),))[1][-1]


@pytest.mark.parametrize("name", CASES)
def test_taylor_flag_is_true_to_jet(name):
    entry, expr, variables, rows = _case(name)
    expr = expr.subs({v: c for v, c in zip(variables[1:], rows[0][1:], strict=True)})
    assert has_taylor_rules(expr) == entry.taylor
    fn = lower(expr, variables[:1])
    with jax.enable_x64(True):
        point = jnp.float64(rows[0][0])
        try:
            third = _jet_third_derivative(fn, point)
        except Exception:  # any failure (no rule, a custom_jvp jet cannot see) means no rules
            assert not entry.taylor, f"jet fails on {expr} though `{name}` says taylor=True"
            return
    assert entry.taylor, f"jet works on {expr}; set taylor=True for `{name}`"
    if entry.kind not in ("step", "jump"):  # SymPy leaves derivatives of floor unevaluated
        assert relative_error(third, mpmath_value(expr, rows[0][0], n=3)) <= 1e-10


@pytest.mark.parametrize(
    ("expr", "taylor"),
    [(sympy.sqrt(x) * sympy.tan(x), True), (sympy.cbrt(x) + x, False),
     (x ** sympy.Rational(2, 3), False), (x ** sympy.Rational(5, 2), True),
     (sympy.exp(sympy.gamma(x)), False), (x ** y, True),
     (sympy.Piecewise((sympy.asin(x), x < 1), (x**2, True)), True)],
)
def test_has_taylor_rules_is_true_to_jet(expr, taylor):
    assert has_taylor_rules(expr) is taylor
    fn = lower(expr, [x, y])
    with jax.enable_x64(True):
        try:
            _jet_third_derivative(lambda t: fn(t, jnp.float64(1.5)), jnp.float64(0.5))
            worked = True
        except Exception:
            worked = False
    assert worked is taylor


REQUIRED = {"ln": "log", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
            "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2",
            "log10": "log10", "log2": "log2", "pow": "pow", "abs": "Abs", "sigmoid": "logistic"}


@pytest.mark.parametrize(("spelling", "name"), REQUIRED.items())
def test_spellings_people_type_find_their_function(spelling, name):
    assert REGISTRY[spelling] is REGISTRY[name]
    assert REGISTRY[spelling].name == name


def test_every_spelling_parses_to_what_its_entry_builds():
    for entry in REGISTRY.public:
        args = SYMBOLS[: entry.arity[0]]
        for spelling in entry.spellings:
            text = f"{spelling}({', '.join(a.name for a in args)})"
            assert jc.parse(text) == entry.build(*args), text


def test_user_functions_parse_through_the_extended_registry():
    splus = {"splus": "log(1 + exp(u))"}
    assert jc.parse("splus(2*x)", functions=splus) == sympy.log(1 + sympy.exp(2 * x))
    registry = REGISTRY.extend({"swish": jax.nn.silu})
    assert jc.parse("swish(x) + 1", functions=registry) == registry["swish"].build(x) + 1


def test_every_entry_builds_what_lowers_and_owns_its_heads_and_spellings():
    for entry in REGISTRY.public:
        check_supported(entry.build(*SYMBOLS[: entry.arity[0]]))
        assert all(REGISTRY.for_head(h) is entry for h in entry.heads)
        assert all(REGISTRY[s] is entry for s in entry.spellings)


def test_sympy_mod_from_sympy_input_lowers_to_pythons_mod():
    fn = lower(sympy.Mod(x, y), [x, y])
    xs, ys = jnp.asarray([7.5, -7.5, 7.5]), jnp.asarray([3.0, 3.0, -2.0])
    assert fn(xs, ys).tolist() == [1.5, 1.5, -0.5]
    assert jax.jvp(fn, (xs, ys), (jnp.zeros(3), jnp.ones(3)))[1].tolist() == [-2.0, 3.0, 4.0]


def test_sympy_forms_print_and_rewrite_as_documented():
    assert str(REGISTRY["log10"].build(x)) == "log10(x)"
    assert str(REGISTRY["digamma"].build(x)) == "polygamma(0, x)"
    assert REGISTRY["pow"].build(x, y) == x**y
    assert REGISTRY["Mod"].build(sympy.Integer(-7), sympy.Integer(3)) == 2  # Python's -7 % 3
    assert REGISTRY["log"].build(x, 2) == sympy.log(x) / sympy.log(2)


def test_internal_heads_lower_but_are_not_spellable():
    lt = REGISTRY.for_head(sympy.Lt)
    assert lt is not None and not lt.public and "Lt" not in REGISTRY
    assert REGISTRY.for_head(sympy.DiracDelta).jax(jnp.ones(2)).tolist() == [0.0, 0.0]


def test_functions_listing_is_sorted_and_complete():
    listing = jc.functions()
    names = [f["name"] for f in listing]
    assert names == sorted(names, key=str.lower) and len(names) == len(REGISTRY.public)
    sinc = next(f for f in listing if f["name"] == "sinc")
    assert sinc == {"name": "sinc", "aliases": (), "arity": (1,), "kind": "smooth",
                    "taylor": True, "summary": "sinc(x) = sin(x)/x, 1 at 0"}


README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- functions table: generated by jaxcalc._core.registry.markdown_table() -->"
END = "<!-- end of functions table -->"


def test_readme_table_is_the_registry():
    text = README.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert table == markdown_table(), (
        "README.md's function table is stale: replace it with "
        "jaxcalc._core.registry.markdown_table()"
    )


def test_unsupported_head_names_it_and_what_is_supported():
    with pytest.raises(jc.UnsupportedFunctionError,
                       match=r"`besselj` \(in `besselj\(0, x\)`\).*supported: .*acot.*functions="):
        lower(sympy.besselj(0, x), [x])


# -- user functions -----------------------------------------------------------------------


def _values(expr, registry, points, dtype="float64"):
    with jax.enable_x64(True):
        return np.asarray(lower(expr, [x], registry)(jnp.asarray(points, dtype)))


def test_formula_function_works_on_every_path():
    registry = REGISTRY.extend({"splus": "log(1 + exp(u))"})
    entry = registry["splus"]
    assert entry.symbolic and entry.taylor and entry.arity == (1,) and entry.jax is None
    expr = entry.build(x)
    assert expr == sympy.log(1 + sympy.exp(x))
    points = [-3.0, 0.5, 4.0]
    expected = [mpmath_value(expr, p) for p in points]
    assert relative_error(_values(expr, registry, points), expected) <= 1e-13
    slope = [mpmath_value(expr, p, n=1) for p in points]
    assert relative_error(_values(sympy.diff(expr, x), registry, points), slope) <= 1e-13


def test_formula_arguments_come_from_the_key_or_sorted_free_symbols():
    a, b = sympy.symbols("a b", real=True)
    u = sympy.Symbol("u")  # a SymPy formula's symbols are made real, as in jc.Function
    registry = REGISTRY.extend({"f(b, a)": "a - b", "g": "b**2 - a", "h(u)": u + 1,
                                "k": "Max(u, 0)"})
    assert registry["f"].build(x, y) == y - x
    assert registry["f"].build(a, b) == b - a  # arguments are substituted all at once
    assert registry["g"].build(x, y) == y**2 - x
    assert registry["h"].build(y) == y + 1
    assert registry["f"].summary == "f(b, a) = a - b"
    assert (registry["k"].kind, registry["g"].kind) == ("kink", "smooth")


def test_formula_may_call_the_functions_of_the_registry_it_extends():
    first = REGISTRY.extend({"swish": jax.nn.silu, "sq": "u**2"})
    second = first.extend({"f": "sq(swish(u)) + 1"})
    assert second["f"].build(y) == first["swish"].build(y) ** 2 + 1
    assert not second["f"].symbolic and not second["f"].taylor
    with pytest.raises(jc.InputError, match=r"`functions\['g'\]`: unknown function `sq`"):
        REGISTRY.extend({"sq": "u**2", "g": "sq(u)"})


def test_callable_function_lowers_with_ad_and_refuses_the_symbolic_path():
    registry = REGISTRY.extend({"swish": lambda u: u * jax.nn.sigmoid(u)})
    entry = registry["swish"]
    assert not entry.symbolic and not entry.taylor and entry.arity == (1,)
    expr = entry.build(x)
    assert expr.func is entry.heads[0] and expr.is_real
    reference = x * REGISTRY["logistic"].build(x)
    points = [-3.0, 0.5, 4.0]
    fn = lower(expr, [x], registry)
    with jax.enable_x64(True):
        xs = jnp.asarray(points)
        value, slope = jax.jvp(fn, (xs,), (jnp.ones_like(xs),))
    assert relative_error(value, [mpmath_value(reference, p) for p in points]) <= 1e-13
    assert relative_error(slope, [mpmath_value(reference, p, n=1) for p in points]) <= 1e-13
    message = r"`swish` is a JAX callable: it has no symbolic derivative.*method='ad'"
    with pytest.raises(jc.UnsupportedFunctionError, match=message):
        check_symbolic(sympy.sin(expr), registry)
    with pytest.raises(jc.UnsupportedFunctionError, match=message):
        lower(sympy.diff(expr, x), [x], registry)
    with pytest.raises(jc.UnsupportedFunctionError, match="`swish`"):
        lower(expr, [x])  # the built-in registry does not know it
    check_symbolic(sympy.sin(x))  # built-ins are fine


def test_callable_arity_from_its_signature_or_the_key():
    registry = REGISTRY.extend({"f": lambda a, b, c=1.0: a * b + c, "g(u)": jnp.sin})
    assert registry["f"].arity == (2,) and registry["g"].arity == (1,)
    with jax.enable_x64(True):
        value = lower(registry["f"].build(x, y), [x, y], registry)(jnp.float64(2), jnp.float64(3))
    assert float(value) == 7.0


def test_extended_registries_are_equal_for_equal_inputs():
    def swish(u):
        return u * jax.nn.sigmoid(u)

    one = REGISTRY.extend({"splus": "log(1 + exp(u))", "swish": swish})
    two = REGISTRY.extend({"swish": swish, "splus": "log(1 + exp(u))"})
    assert one == two and hash(one) == hash(two) and isinstance(one, Registry)
    assert one != REGISTRY and REGISTRY.extend({"splus": "log(2 + exp(u))"}) != one
    assert REGISTRY.extend(None) is REGISTRY and REGISTRY.extend({}) is REGISTRY
    assert len(one) == len(REGISTRY) + 2 and REGISTRY.for_head(one["swish"].heads[0]) is None


class Unhashable:
    __hash__ = None

    def __call__(self, u):
        return u


@pytest.mark.parametrize(
    ("functions", "message"),
    [
        ([("f", "u")], r"`functions` must be a dict .* got list"),
        ({"sin": "u"}, r"'sin': `sin` is already a function; built-ins cannot be redefined"),
        ({"arcsin": "u"}, r"`arcsin` is already a function"),
        ({"pi": "u"}, r"`pi` is already a constant"),
        ({"lambda": "u"}, r"`lambda` is already a function"),
        ({"1f": "u"}, r"keys must be names such as 'swish' or 'f\(a, b\)', got '1f'"),
        ({3: "u"}, r"keys must be names .* got 3"),
        ({"f(a, a)": "a"}, r"'f\(a, a\)': arguments must be distinct names"),
        ({"f(a, 1)": "a"}, r"arguments must be distinct names"),
        ({"f": "u", "f(v)": "v"}, r"`functions` defines `f` twice; keep one key"),
        ({"f": 3}, r"`functions\['f'\]` must be a formula .* got int"),
        ({"f": sympy.sin}, r"`functions\['f'\]` must be a formula .* got FunctionClass"),
        ({"f": "u +"}, r"`functions\['f'\]`: incomplete expression"),
        ({"f(u)": "u + v"}, r"`functions\['f\(u\)'\]`: unknown name `v`"),
        ({"f": "2"}, r"`functions\['f'\]`: the formula `2` has no arguments; .* 'f\(u\)'"),
        ({"f(a)": x + y}, r"uses \['x', 'y'\], which the key does not name as arguments"),
        ({"f": lambda *u: u[0]}, r"cannot tell how many arguments .* 'f\(u\)'"),
        ({"f": Unhashable()}, r"`functions\['f'\]` must be hashable .*`def f\(u\): ...`"),
        ({"f": lambda u: jnp.ones(3) * u}, r"must be elementwise: .* gave shape \(3,\)"),
        ({"f": lambda u: u.no_such_method()}, r"failed on 1 float32 scalar argument\(s\)"),
    ],
)
def test_bad_user_functions_name_the_key(functions, message):
    with pytest.raises(jc.InputError, match=message):
        REGISTRY.extend(functions)


def test_no_user_text_is_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    text = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    with pytest.raises(jc.InputError):
        REGISTRY.extend({"f": text})
    with pytest.raises(jc.InputError):
        REGISTRY.extend({f"f(u): {text}": "u"})
    assert not marker.exists()
