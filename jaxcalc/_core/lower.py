"""SymPy expression → pure JAX function, through the function registry.

No source code is generated or exec'd: :func:`lower` walks the SymPy tree and calls the JAX
function of each head's entry in the one table, :mod:`jaxcalc._core.registry`. Shared
subexpressions are computed once (the walk is memoised on SymPy nodes), integer powers stay
exact (``lax.integer_pow``),
``x**(1/2)``/``x**(1/3)`` become ``sqrt``/``cbrt``, constants take the working dtype, and
``Piecewise`` uses the "double where" pattern so an unused branch cannot poison gradients.

Conventions at kinks and jumps (shared with the symbolic path, see ``_derive``):

* ``Abs'(0) = sign(0) = 0`` and ``Max``/``Min`` split a tie ``1/2``-``1/2`` (SymPy's
  ``Heaviside(0) = 1/2``), i.e. the mean of the one-sided derivatives;
* steps (``sign``, ``Heaviside``, ``floor``, ``ceiling``) have derivative 0 and jumps
  (``Mod``) the derivative of each smooth piece: the Dirac delta at a jump is dropped
  (``DiracDelta`` lowers to 0), as JAX does;
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

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import sympy
from jax import lax
from sympy.functions.elementary.piecewise import ExprCondPair

from .errors import UnsupportedFunctionError
from .registry import REGISTRY, Registry, check_symbolic

_STRUCTURAL = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Piecewise)
_PASS_THROUGH = (*_STRUCTURAL, sympy.logic.boolalg.BooleanAtom, ExprCondPair)


def check_supported(expr: sympy.Basic, registry: Registry = REGISTRY) -> None:
    """Raise :class:`UnsupportedFunctionError` naming the first head with no lowering.

    Example:
        >>> check_supported(sympy.besselj(0, sympy.Symbol("x")))
        Traceback (most recent call last):
        ...
        jaxcalc._core.errors.UnsupportedFunctionError: `besselj` (in `besselj(0, x)`) has ...
    """
    for node in _operations(expr):
        if isinstance(node, _PASS_THROUGH) or registry.for_head(node.func) is not None:
            continue
        if isinstance(node, (sympy.Derivative, sympy.Subs)):
            check_symbolic(node, registry)  # a user's JAX callable: say so
            raise UnsupportedFunctionError(
                f"SymPy left the derivative `{node}` unevaluated: it has no closed form to "
                "lower; use method='ad'"
            )
        names = ", ".join(sorted((e.name for e in registry.public), key=str.lower))
        raise UnsupportedFunctionError(
            f"`{node.func.__name__}` (in `{node}`) has no JAX lowering; supported: {names}, "
            "Piecewise; add your own with `functions=`"
        )


def has_taylor_rules(expr: sympy.Basic, registry: Registry = REGISTRY) -> bool:
    """Whether Taylor mode (``jax.experimental.jet``) has rules for all that ``expr`` lowers
    to: every head's entry says ``taylor``, and no power lowers to ``cbrt``.

    Example:
        >>> x = sympy.Symbol("x", real=True)
        >>> has_taylor_rules(sympy.tan(x) * sympy.exp(x)), has_taylor_rules(sympy.gamma(x))
        (True, False)
    """
    for node in _operations(expr):
        if node.is_Pow and _exponent(node).is_Rational and _exponent(node).q == 3:
            return False
        if (entry := registry.for_head(node.func)) is not None and not entry.taylor:
            return False
    return True


def _operations(expr: sympy.Basic) -> Iterator[sympy.Basic]:
    """The nodes of ``expr`` that lower to operations, parents first: symbols and constants
    (folded by SymPy, see :func:`_constant`, whatever their heads) are left out."""
    walk = sympy.preorder_traversal(expr)
    for node in walk:
        if node.is_Symbol or _is_constant(node):
            walk.skip()
        else:
            yield node


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

    def __init__(self, env: Mapping[sympy.Symbol, jax.Array], registry: Registry):
        self.env = env
        self.registry = registry
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
        return self.registry.for_head(node.func).jax(*lowered)

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
            branches.append((selected, _Lowerer(guarded, self.registry)(expr)))
        result = jnp.nan
        for selected, value in reversed(branches):
            result = jnp.where(selected, value, result)
        return result


def lower(
    expr: sympy.Expr | Sequence[sympy.Expr],
    symbols: Sequence[sympy.Symbol],
    registry: Registry = REGISTRY,
) -> Callable[..., jax.Array]:
    """Lower ``expr`` to a pure JAX function of ``symbols`` (positional arrays, one dtype).

    The result is elementwise and broadcasts its arguments: a constant expression still
    returns an array of the broadcast shape and the arguments' dtype. A sequence of
    expressions lowers to one function returning a tuple, sharing their subexpressions.
    ``registry`` supplies each head's JAX implementation (user functions: see
    :meth:`Registry.extend`); an unsupported head raises :class:`UnsupportedFunctionError` here.

    Example:
        >>> import sympy, jax.numpy as jnp
        >>> x, y = sympy.symbols("x y", real=True)
        >>> lower(x * y + 1, [x, y])(jnp.ones(3), jnp.arange(3.0)).tolist()
        [1.0, 2.0, 3.0]
    """
    exprs = (expr,) if isinstance(expr, sympy.Basic) else tuple(expr)
    for e in exprs:
        check_supported(e, registry)
    symbols = tuple(symbols)

    def lowered(*args: jax.Array):
        dtype = jnp.result_type(*args) if args else jnp.float32
        shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in args))
        walk = _Lowerer(dict(zip(symbols, args, strict=True)), registry)
        outs = tuple(jnp.broadcast_to(jnp.asarray(walk(e), dtype), shape) for e in exprs)
        return outs[0] if isinstance(expr, sympy.Basic) else outs

    return lowered
