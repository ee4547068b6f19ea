"""`Function`: an expression, its variables and trainable params, compiled with JAX.

A Function is a JAX pytree whose leaves are its params (the expression is static), so
``jax.jit``, ``jax.grad`` with respect to params, ``jax.vmap`` over stacked params and optax
accept it as it is; ``jax.tree_util.tree_map`` over a Function returns a Function.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from . import execute as _execute
from .errors import InputError, JaxcalcError
from .lower import lower
from .parse import parse


def symbol(name: str) -> sympy.Symbol:
    """The SymPy symbol jaxcalc uses for ``name`` (every symbol is real)."""
    return sympy.Symbol(name, real=True)


@dataclasses.dataclass(frozen=True)
class ExpressionKernel(_execute.Kernel):
    """Evaluate ``expr``; NaN wherever one of ``guards`` (the functions this expression is
    a derivative of) is not finite, so a derivative never outlives its function's domain."""

    expr: sympy.Expr
    variables: tuple[str, ...]
    param_names: tuple[str, ...] = ()
    guards: tuple[sympy.Expr, ...] = ()

    @property
    def n_inputs(self) -> int:
        return len(self.variables)

    @functools.cached_property
    def _lowered(self):
        symbols = [symbol(n) for n in (*self.variables, *self.param_names)]
        return lower((self.expr, *self.guards), symbols)

    def raw(self, leaves, *xs):
        value, *guards = self._lowered(*xs, *leaves)
        for guard in guards:
            value = jnp.where(jnp.isfinite(guard), value, jnp.nan)
        return value


def as_expression(expr: str | sympy.Expr, names: Sequence[str] | None = None) -> sympy.Expr:
    """Text (parsed safely) or a SymPy expression, with every symbol made real."""
    if isinstance(expr, str):
        return parse(expr, names)
    if not isinstance(expr, sympy.Expr):
        if isinstance(expr, (int, float)) and not isinstance(expr, bool):
            return sympy.Float(expr) if isinstance(expr, float) else sympy.Integer(expr)
        raise InputError(
            f"expected an expression as text or a sympy.Expr, got {type(expr).__name__}"
        )
    return expr.xreplace({s: symbol(s.name) for s in expr.free_symbols if s.is_Symbol})


def _names(values: Sequence[str] | str | None, what: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    for v in values:
        if not (isinstance(v, str) and v.isidentifier()):
            raise InputError(f"`{what}` must be names such as 'x', got {v!r}")
    if len(set(values)) != len(values):
        raise InputError(f"`{what}` has duplicates: {values}")
    return values


@jax.tree_util.register_pytree_node_class
class Function:
    """A formula as a fast, differentiable, elementwise JAX function.

    Args:
        expr: text such as ``"x**3 - 1/x"`` (parsed safely, never evaluated) or a SymPy
            expression.
        variables: input names in call order; default: the free symbols that are not
            params, sorted by name.
        params: ``{name: initial value}`` for trainable symbols: the pytree leaves.

    Calls are elementwise over arrays of any shape (several variables broadcast), jit-compiled
    once per shape and dtype, in the inputs' float dtype (or ``dtype=``) — see ``_execute``.

    Training: ``jax.grad(loss)(f)`` is a Function whose ``.params`` are the gradients; optax
    updates ``f`` itself (``optax.adam(lr).init(f)``); ``f.apply(params, x)`` and
    :meth:`with_params` serve code that keeps params apart; :meth:`bind` gives the fitted
    expression. Params follow JAX's precision rule when set: float values keep their dtype,
    other numbers take the default float; float64 exists only in x64 mode, so a float64 fit
    builds ``f`` and trains inside ``with jax.enable_x64(True):`` (the global flag stays off).

    Example:
        >>> f = Function("x**3 - 1/x")
        >>> float(f(2.0))
        7.5
        >>> f.diff()
        Function(3*x**2 + x**(-2), variables=('x',))
        >>> g = Function("a*x**2", params={"a": 3.0})
        >>> float(jax.grad(lambda g: g(2.0))(g).params["a"])  # d(a*x**2)/da at x = 2
        4.0
    """

    def __init__(
        self,
        expr: str | sympy.Expr,
        variables: Sequence[str] | str | None = None,
        *,
        params: Mapping[str, object] | None = None,
    ):
        if isinstance(expr, Function):  # a copy, keeping what is not overridden
            variables = expr.variables if variables is None else variables
            params = expr.params if params is None else params
            expr = expr.expr
        variables = _names(variables, "variables")
        params = dict(params or {})
        param_names = _names(tuple(params), "params") or ()
        overlap = set(variables or ()) & set(param_names)
        if overlap:
            raise InputError(f"{sorted(overlap)} cannot be both variables and params")
        allowed = None if variables is None else (*variables, *param_names)
        expression = as_expression(expr, allowed)
        free = sorted(s.name for s in expression.free_symbols)
        if variables is None:
            variables = tuple(n for n in free if n not in param_names)
        unknown = set(free) - set(variables) - set(param_names)
        if unknown:
            raise InputError(
                f"free symbol(s) {sorted(unknown)} are neither `variables` {variables} nor "
                f"`params`; list them in one of the two"
            )
        kernel = ExpressionKernel(expression, variables, param_names)
        kernel._lowered  # noqa: B018 -- validate the lowering now: UnsupportedFunctionError
        self._init(kernel, [_as_leaf(params[n], n) for n in param_names])

    def _init(self, kernel: ExpressionKernel, leaves: Sequence[object]) -> None:
        self._kernel = kernel
        self._leaves = tuple(leaves)

    @classmethod
    def _from_kernel(cls, kernel: ExpressionKernel, leaves: Sequence[object]) -> Function:
        self = object.__new__(cls)
        self._init(kernel, leaves)
        return self

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten(self):
        return self._leaves, self._kernel

    @classmethod
    def tree_unflatten(cls, kernel, leaves):
        return cls._from_kernel(kernel, leaves)

    # -- the contract --------------------------------------------------------------------
    @property
    def expr(self) -> sympy.Expr:
        return self._kernel.expr

    @property
    def variables(self) -> tuple[str, ...]:
        return self._kernel.variables

    @property
    def params(self) -> dict[str, jax.Array]:
        return dict(zip(self._kernel.param_names, self._leaves, strict=True))

    @property
    def kernel(self) -> ExpressionKernel:
        return self._kernel

    @property
    def leaves(self) -> tuple[object, ...]:
        return self._leaves

    def __call__(self, *xs, dtype=None) -> jax.Array:
        return _execute.call(self._kernel, self._leaves, xs, dtype, name=self._label)

    @functools.cached_property
    def _label(self) -> str:  # printing a SymPy expression costs ~0.1 ms: once, not per call
        return f"`{self.expr}`"

    def apply(self, params: Mapping[str, object], *xs, dtype=None) -> jax.Array:
        """Evaluate with ``params`` in place of the stored ones (for functional code):
        ``jax.grad(lambda p: loss(f.apply(p, xs)))(f.params)``."""
        return self.with_params(params)(*xs, dtype=dtype)

    def with_params(self, params: Mapping[str, object]) -> Function:
        """A copy whose params are ``params`` (every name, no others; arrays of any shape, so
        stacked values make an ensemble for ``jax.vmap``). ``.expr`` stays symbolic: see
        :meth:`bind` for the fitted expression."""
        names = self._kernel.param_names
        if not isinstance(params, Mapping) or set(params) != set(names):
            got = list(params) if isinstance(params, Mapping) else type(params).__name__
            raise InputError(
                f"`params` must be a dict with exactly the keys {list(names)}, got {got}"
            )
        return self._from_kernel(self._kernel, [_as_leaf(params[n], n) for n in names])

    def bind(self, digits: int | None = None) -> Function:
        """A param-free copy whose ``.expr`` has the param values substituted as SymPy Floats:
        the fitted expression, e.g. after training ``f.with_params(params).bind()``.

        Args:
            digits: round each value to this many significant digits (SymPy Floats of that
                precision: what prints is what is there); default: the exact values, printed
                with the digits their dtype holds (about 6 for float32, 15 for float64).

        Example:
            >>> f = Function("a*x**2 + b", params={"a": 2.0001338, "b": -1.0})
            >>> f.bind()
            Function(2.00013*x**2 - 1.0, variables=('x',))
            >>> f.bind(digits=3).expr
            2.0*x**2 - 1.0
        """
        if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int)
                                   or digits < 1):
            raise InputError(f"`digits` must be a positive integer or None, got {digits!r}")
        if _execute.is_traced(self._leaves):
            raise InputError(
                "`bind` needs concrete param values; call it outside jax.jit/grad/vmap"
            )
        values = {}
        for name, value in self.params.items():
            if jnp.ndim(value) != 0:
                raise InputError(
                    f"param `{name}` must be one number to bind, got shape "
                    f"{jnp.shape(value)}; bind one member of an ensemble, e.g. "
                    "jax.tree_util.tree_map(lambda v: v[0], f).bind()"
                )
            if digits is None:
                bits = jnp.finfo(np.asarray(value).dtype).nmant + 1
                values[symbol(name)] = sympy.Float(float(value), precision=bits)
            else:
                values[symbol(name)] = sympy.Float(f"{float(value):.{digits}g}", digits)
        k = self._kernel
        kernel = ExpressionKernel(k.expr.xreplace(values), k.variables, (),
                                  tuple(g.xreplace(values) for g in k.guards))
        return self._from_kernel(kernel, [])

    def diff(self, wrt: str | None = None, n: int = 1) -> Function:
        """The exact symbolic ``n``-th derivative (SymPy), as a Function with the same
        signature; NaN wherever this function is not finite (see DESIGN: singular points)."""
        wrt = pick_variable(self.variables, wrt)
        n = check_order(n)
        derivative = symbolic_derivative(self.expr, symbol(wrt), n)
        k = self._kernel
        kernel = ExpressionKernel(derivative, k.variables, k.param_names, (*k.guards, k.expr))
        return self._from_kernel(kernel, self._leaves)

    def __repr__(self) -> str:
        params = f", params={list(self._kernel.param_names)}" if self._kernel.param_names else ""
        return f"Function({self.expr}, variables={self.variables}{params})"

    def __str__(self) -> str:
        return str(self.expr)


def _as_leaf(value: object, name: str) -> jax.Array:
    """A param as a strongly typed float array: a float value keeps its dtype, anything else
    takes the default float; JAX's precision rule applies (float64 only in x64 mode)."""
    if isinstance(value, (str, bytes)):
        raise InputError(f"param `{name}` must be a number or array, got {value!r}")
    dtype = getattr(value, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.float64
    try:
        return jnp.asarray(value, jax.dtypes.canonicalize_dtype(dtype))
    except (TypeError, ValueError) as e:
        raise InputError(f"param `{name}` must be a number or array, got {value!r}") from e


def pick_variable(variables: Sequence[str], wrt: str | None) -> str:
    """``wrt`` checked against ``variables``; None means the only variable."""
    if wrt is None:
        if len(variables) != 1:
            raise InputError(
                f"`wrt` is needed: this function has variables {tuple(variables)}; "
                "pass wrt='x' for one of them"
            )
        return variables[0]
    if wrt not in variables:
        raise InputError(f"`wrt` must be one of the variables {tuple(variables)}, got {wrt!r}")
    return wrt


#: Highest derivative order accepted: SymPy and Taylor mode both take seconds around order 30
#: even for small expressions, and far longer beyond (``n = 10**6`` would never finish).
MAX_ORDER = 32


def check_order(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 0 <= n <= MAX_ORDER:
        raise InputError(
            f"the derivative order `n` must be an integer from 0 to {MAX_ORDER}, got {n!r}"
        )
    return int(n)


_STEPS = (sympy.floor, sympy.ceiling)


def symbolic_derivative(expr: sympy.Expr, wrt: sympy.Symbol, n: int) -> sympy.Expr:
    """``d^n expr / d wrt^n`` by SymPy; floor/ceiling have derivative 0 (see ``_lower``)."""
    try:
        result = sympy.diff(expr, wrt, n)
    except (RecursionError, MemoryError) as e:  # pragma: no cover - SymPy internals
        raise JaxcalcError(f"SymPy could not differentiate `{expr}`: {type(e).__name__}") from e

    def is_step_derivative(node):
        return isinstance(node, sympy.Derivative) and isinstance(node.expr, _STEPS)

    if result.has(sympy.Derivative):
        result = result.replace(is_step_derivative, lambda _: sympy.Integer(0)).doit()
    return result
