"""SymPy expression → pure JAX function, through ONE table of SymPy heads.

No source code is generated or exec'd: :func:`lower` walks the SymPy tree and calls the
JAX function that :data:`LOWERINGS` maps each head to. Shared subexpressions are computed
once (the walk is memoised on SymPy nodes), integer powers stay exact (``lax.integer_pow``),
``x**(1/2)``/``x**(1/3)`` become ``sqrt``/``cbrt``, constants take the working dtype, and
``Piecewise`` uses the "double where" pattern so an unused branch cannot poison gradients.

Conventions at kinks and jumps (shared with the symbolic path, see ``_derive``):

* ``Abs'(0) = sign(0) = 0`` and ``Max``/``Min`` split a tie ``1/2``-``1/2`` (SymPy's
  ``Heaviside(0) = 1/2``), i.e. the mean of the one-sided derivatives;
* ``sign``, ``Heaviside``, ``floor`` and ``ceiling`` have derivative 0 everywhere: the Dirac
  delta at a jump is dropped (``DiracDelta`` lowers to 0), as JAX does;
* ``x**(p/q)`` is the principal real power: NaN for ``x < 0`` (so is ``cbrt``, which SymPy
  defines as ``x**(1/3)``); ``loggamma`` is ``log|gamma|``.

Example:
    >>> import sympy, jax.numpy as jnp
    >>> x = sympy.Symbol("x", real=True)
    >>> fn = lower(x**3 - 1 / x, [x])
    >>> float(fn(jnp.float32(2.0)))
    7.5
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import sympy
from jax import lax
from sympy.functions.elementary.piecewise import ExprCondPair

from .errors import UnsupportedFunctionError

Lowering = Callable[..., jax.Array]


def _abs(x):
    # |x| = x·sign(x) exactly, and sign has a (symbolic) zero derivative, so every order of
    # jvp/grad/jet sees Abs' = sign with sign(0) = 0: the mean of the one-sided slopes.
    # (jnp.abs has abs'(0) = 1; a custom_jvp is lost at higher orders and breaks jet.)
    return x * jnp.sign(x)


def _heaviside(x, h0=0.5):
    return jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, h0))


def _dirac_delta(x, *_order):
    return jnp.zeros_like(x)


def _reduce(binary):
    return lambda *args: functools.reduce(binary, args)


def _polygamma(n, x):
    # A constant order (the usual case: SymPy's derivatives of loggamma) stays a Python int,
    # weakly typed, so that even strict dtype promotion accepts it next to a float x.
    order = round(n) if isinstance(n, float) else jnp.round(n).astype(jnp.int32)
    return jsp.polygamma(order, x)


def _not(a):
    return jnp.logical_not(a)


#: SymPy head → JAX function of the lowered arguments. ``Add``, ``Mul``, ``Pow``,
#: ``Piecewise``, symbols and numbers have structural rules in :func:`lower`.
LOWERINGS: Mapping[type, Lowering] = {
    sympy.sin: jnp.sin,
    sympy.cos: jnp.cos,
    sympy.tan: jnp.tan,
    sympy.asin: jnp.arcsin,
    sympy.acos: jnp.arccos,
    sympy.atan: jnp.arctan,
    sympy.atan2: jnp.arctan2,
    sympy.sinh: jnp.sinh,
    sympy.cosh: jnp.cosh,
    sympy.tanh: jnp.tanh,
    sympy.asinh: jnp.arcsinh,
    sympy.acosh: jnp.arccosh,
    sympy.atanh: jnp.arctanh,
    sympy.exp: jnp.exp,
    sympy.log: jnp.log,
    sympy.Abs: _abs,
    sympy.sign: jnp.sign,
    sympy.floor: jnp.floor,
    sympy.ceiling: jnp.ceil,
    sympy.Min: _reduce(jnp.minimum),
    sympy.Max: _reduce(jnp.maximum),
    sympy.Heaviside: _heaviside,
    sympy.DiracDelta: _dirac_delta,
    sympy.erf: jsp.erf,
    sympy.erfc: jsp.erfc,
    sympy.gamma: jsp.gamma,
    sympy.loggamma: jsp.gammaln,
    sympy.polygamma: _polygamma,
    sympy.Lt: jnp.less,
    sympy.Le: jnp.less_equal,
    sympy.Gt: jnp.greater,
    sympy.Ge: jnp.greater_equal,
    sympy.Eq: jnp.equal,
    sympy.Ne: jnp.not_equal,
    sympy.And: _reduce(jnp.logical_and),
    sympy.Or: _reduce(jnp.logical_or),
    sympy.Xor: _reduce(jnp.logical_xor),
    sympy.Not: _not,
}

_STRUCTURAL = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Piecewise)


def _check_table(table: Mapping[type, Lowering]) -> None:
    for head, fn in table.items():
        if not (isinstance(head, type) and issubclass(head, sympy.Basic) and callable(fn)):
            raise TypeError(f"bad lowering table entry {head!r}: {fn!r}")


_check_table(LOWERINGS)


def supported_heads(extra: Mapping[type, Lowering] | None = None) -> list[str]:
    """Names of the SymPy heads jaxcalc lowers, sorted."""
    table = collections.ChainMap(dict(extra or {}), LOWERINGS)
    return sorted({h.__name__ for h in table} | {h.__name__ for h in _STRUCTURAL})


def check_supported(expr: sympy.Basic, extra: Mapping[type, Lowering] | None = None) -> None:
    """Raise :class:`UnsupportedFunctionError` naming the first head with no lowering."""
    table = collections.ChainMap(dict(extra or {}), LOWERINGS)
    walk = sympy.preorder_traversal(expr)
    for node in walk:
        if node.is_Symbol or _is_constant(node):
            walk.skip()  # constants are folded by SymPy (see _constant), whatever their heads
            continue
        if isinstance(node, (*_STRUCTURAL, sympy.logic.boolalg.BooleanAtom, ExprCondPair)):
            continue
        if node.func not in table:
            raise UnsupportedFunctionError(
                f"`{node.func.__name__}` (in `{node}`) has no JAX lowering; supported: "
                + ", ".join(supported_heads(extra))
            )


def _is_constant(node: sympy.Basic) -> bool:
    return isinstance(node, sympy.logic.boolalg.BooleanAtom) or getattr(node, "is_number", False)


def _constant(node: sympy.Basic) -> float | bool:
    """A constant subexpression (``pi/2``, ``erf(2)``), evaluated by SymPy to a Python float:
    weakly typed, so it takes the working dtype; NaN where it is not real (``log(-2)``)."""
    if isinstance(node, sympy.logic.boolalg.BooleanAtom):
        return bool(node)
    try:
        value = complex(node)  # overflow gives inf
    except (TypeError, ValueError):
        return float("nan")
    return value.real if value.imag == 0 else float("nan")


def _exponent(node: sympy.Pow) -> sympy.Expr:
    """The exponent, a float that is a whole or half number made exact: ``x**2.0`` is ``x**2``
    and ``x**0.5`` is ``sqrt(x)`` (SymPy's ``Float(2.0) == 2`` is False)."""
    exponent = node.exp
    if exponent.is_Float and float(2 * exponent).is_integer():
        return sympy.Rational(int(2 * exponent), 2)
    return exponent


def _root(node: sympy.Pow) -> sympy.Pow | None:
    """``b**(1/q)`` for ``node = b**(p/q)``, q in (2, 3), p != 1: lowered once and shared, so
    ``sqrt(x)`` and ``x**(3/2)`` compute one square root."""
    exponent = _exponent(node)
    if exponent.is_Rational and exponent.q in (2, 3) and exponent.p != 1:
        return sympy.Pow(node.base, sympy.Rational(1, exponent.q), evaluate=False)
    return None


def _power(base: jax.Array, exponent: sympy.Expr, lower_exponent) -> jax.Array:
    if exponent.is_Integer:
        n = int(exponent)
        powered = base if abs(n) == 1 else lax.integer_pow(base, abs(n))
        return powered if n >= 0 else 1 / powered
    if exponent.is_Rational and exponent.q in (2, 3) and exponent.p == 1:
        return jnp.sqrt(base) if exponent.q == 2 else jnp.where(base < 0, jnp.nan, jnp.cbrt(base))
    return jnp.power(base, lower_exponent())


def _product(values: Sequence[jax.Array | float]) -> jax.Array | float:
    return functools.reduce(jnp.multiply, values) if values else 1.0


def _operands(node: sympy.Expr) -> tuple[sympy.Expr, ...]:
    """The terms of an ``Add`` (factors of a ``Mul``), constant ones folded into one, first:
    ``x + pi + E`` is ``x + 5.859...`` computed exactly by SymPy, not in the working dtype."""
    constants = [a for a in node.args if a.is_number]
    if len(constants) < 2:
        return node.args
    return (node.func(*constants), *(a for a in node.args if not a.is_number))


def _split_denominator(factors: Sequence[sympy.Expr]):
    numerator, denominator = [], []
    for factor in factors:
        exp = factor.exp if factor.is_Pow else None
        if exp is not None and exp.is_Number and exp.is_negative:
            denominator.append(factor.base if exp == -1 else factor.base ** (-exp))
        elif factor.is_Rational and factor.p == 1 and factor.q != 1:
            denominator.append(sympy.Integer(factor.q))
        else:
            numerator.append(factor)
    return numerator, denominator


class _Lowerer:
    """One walk of one expression in one environment (symbol → array)."""

    def __init__(self, env: Mapping[sympy.Symbol, jax.Array], table: Mapping[type, Lowering]):
        self.env = env
        self.table = table
        self.memo: dict[sympy.Basic, jax.Array | float | bool] = {}

    def __call__(self, root: sympy.Basic):
        # Iterative post-order walk: deep expressions cannot hit Python's recursion limit.
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if node in self.memo:
                continue
            children = self._children(node)
            if ready or not children:
                self.memo[node] = self._lower_node(node)
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in children if c not in self.memo)
        return self.memo[root]

    def _children(self, node):
        if node.is_Symbol or _is_constant(node) or isinstance(node, sympy.Piecewise):
            return ()
        if node.is_Mul:
            numerator, denominator = _split_denominator(_operands(node))
            return (*numerator, *denominator)
        if node.is_Pow:  # the exponent is lowered on demand (it is usually a number)
            root = _root(node)
            return (node.base,) if root is None else (root,)
        return _operands(node) if node.is_Add else node.args

    def _lower_node(self, node):
        if node.is_Symbol:
            return self.env[node]
        if _is_constant(node):
            return _constant(node)
        lowered = [self.memo.get(a) for a in self._children(node)]
        if node.is_Add:
            return functools.reduce(jnp.add, lowered)
        if node.is_Mul:
            numerator, denominator = _split_denominator(_operands(node))
            if numerator and numerator[0] == -1:
                top = -_product(lowered[1 : len(numerator)])
            else:
                top = _product(lowered[: len(numerator)])
            if not denominator:
                return top
            return top / functools.reduce(jnp.multiply, lowered[len(numerator) :])
        if node.is_Pow:
            root = _root(node)
            if root is not None:
                return _power(self.memo[root], sympy.Integer(_exponent(node).p), None)
            return _power(self.memo[node.base], _exponent(node), lambda: self(node.exp))
        if isinstance(node, sympy.Piecewise):
            return self._piecewise(node)
        return self.table[node.func](*lowered)

    def _piecewise(self, node: sympy.Piecewise):
        """Double where: each branch sees its inputs through ``where(selected, v, stop_grad(v))``.

        Values are unchanged, but the cotangent reaching the inputs from an unselected branch is
        selected away (not multiplied by zero), so an inf/NaN derivative there cannot leak out.
        """
        taken = jnp.asarray(False)
        branches = []
        for expr, cond in node.args:
            selected = jnp.logical_and(jnp.logical_not(taken), self(cond))
            taken = jnp.logical_or(taken, selected)
            guarded = {s: jnp.where(selected, v, lax.stop_gradient(v)) for s, v in self.env.items()}
            branches.append((selected, _Lowerer(guarded, self.table)(expr)))
        result = jnp.nan
        for selected, value in reversed(branches):
            result = jnp.where(selected, value, result)
        return result


def lower(
    expr: sympy.Expr | Sequence[sympy.Expr],
    symbols: Sequence[sympy.Symbol],
    extra: Mapping[type, Lowering] | None = None,
) -> Callable[..., jax.Array]:
    """Lower ``expr`` to a pure JAX function of ``symbols`` (positional arrays, one dtype).

    The result is elementwise and broadcasts its arguments: a constant expression still
    returns an array of the broadcast shape and the arguments' dtype. A sequence of
    expressions lowers to one function returning a tuple, sharing their subexpressions.
    ``extra`` adds or overrides table entries (``{sympy_head: jax_function}``).

    Example:
        >>> import sympy, jax.numpy as jnp
        >>> x, y = sympy.symbols("x y", real=True)
        >>> lower(x * y + 1, [x, y])(jnp.ones(3), jnp.arange(3.0)).tolist()
        [1.0, 2.0, 3.0]
    """
    table = collections.ChainMap(dict(extra or {}), LOWERINGS)
    exprs = (expr,) if isinstance(expr, sympy.Basic) else tuple(expr)
    for e in exprs:
        check_supported(e, extra)
    symbols = tuple(symbols)

    def lowered(*args: jax.Array):
        dtype = jnp.result_type(*args) if args else jnp.float32
        shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in args))
        walk = _Lowerer(dict(zip(symbols, args, strict=True)), table)
        outs = tuple(jnp.broadcast_to(jnp.asarray(walk(e), dtype), shape) for e in exprs)
        return outs[0] if isinstance(expr, sympy.Basic) else outs

    return lowered
