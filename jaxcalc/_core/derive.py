"""Derivatives by automatic differentiation: n-th order, gradient, Hessian.

Every Function is elementwise, so one forward-mode pass (``jax.jvp`` with a tangent of ones)
gives the derivative at every grid point at once, fused with the function itself; orders of
3 and more use Taylor mode (``jax.experimental.jet``) where it has rules for every primitive,
nested ``jvp`` otherwise. Wherever f is not finite the derivative is NaN (d/dx log(x) at -1
is NaN, not -1). The symbolic twin is :meth:`Function.diff`; both follow the same conventions
at kinks (see ``_lower``) and agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import sympy
from jax.experimental import jet

from . import execute as _execute
from .errors import InputError, ResourceError
from .function import ExpressionKernel, Function, check_order, pick_variable

_METHODS = ("auto", "ad", "symbolic")


def _unit_tangents(xs: Sequence[jax.Array], index: int) -> tuple[jax.Array, ...]:
    return tuple(jnp.ones_like(x) if i == index else jnp.zeros_like(x) for i, x in enumerate(xs))


def _directional(fn, index: int):
    """x ↦ ∂fn/∂x_index, elementwise, by one forward-mode pass."""
    return lambda *xs: jax.jvp(fn, xs, _unit_tangents(xs, index))[1]


def _nth_by_jet(fn, xs, index: int, n: int) -> jax.Array:
    def along(t):  # fn restricted to the line x + t·e_index
        return fn(*(x + t if i == index else x for i, x in enumerate(xs)))

    zero = jnp.zeros_like(xs[index])
    series = (jnp.ones_like(zero),) + (zero,) * (n - 1)
    return jet.jet(along, (zero,), (series,))[1][-1]


#: Highest order computed by nested jvp (when Taylor mode lacks a rule, e.g. for ``tan``): each
#: nesting doubles the traced program, so order 10 already takes seconds to compile.
MAX_NESTED_ORDER = 8


def nth_partial(fn, xs: Sequence[jax.Array], index: int, n: int) -> jax.Array:
    """∂ⁿfn/∂x_indexⁿ at ``xs`` (elementwise ``fn``); Taylor mode for n ≥ 3 when possible."""
    if n >= 3:
        try:
            return _nth_by_jet(fn, xs, index, n)
        except (KeyError, NotImplementedError):  # a primitive without a jet rule
            if n > MAX_NESTED_ORDER:
                raise ResourceError(
                    f"an order-{n} AD derivative of this expression needs {n} nested forward "
                    "passes (one of its functions has no Taylor-mode rule), whose cost doubles "
                    f"with each order; use method='symbolic' or an order <= {MAX_NESTED_ORDER}"
                ) from None
    for _ in range(n):
        fn = _directional(fn, index)
    return fn(*xs)


def _finite_where(value: jax.Array, result: jax.Array) -> jax.Array:
    mask = jnp.isfinite(value)
    return jnp.where(mask.reshape(mask.shape + (1,) * (result.ndim - mask.ndim)), result, jnp.nan)


@dataclasses.dataclass(frozen=True)
class DerivativeKernel(_execute.Kernel):
    base: ExpressionKernel
    index: int
    n: int

    @property
    def n_inputs(self) -> int:
        return self.base.n_inputs

    def raw(self, leaves, *xs):
        fn = lambda *z: self.base.raw(leaves, *z)  # noqa: E731
        return _finite_where(fn(*xs), nth_partial(fn, xs, self.index, self.n))


@dataclasses.dataclass(frozen=True)
class GradientKernel(_execute.Kernel):
    base: ExpressionKernel
    second_order: bool = False

    @property
    def n_inputs(self) -> int:
        return self.base.n_inputs

    def raw(self, leaves, *xs):
        fn = lambda *z: self.base.raw(leaves, *z)  # noqa: E731
        xs = jnp.broadcast_arrays(*xs)
        count = len(xs)
        firsts = [_directional(fn, i) for i in range(count)]
        if not self.second_order:
            return _finite_where(fn(*xs), jnp.stack([g(*xs) for g in firsts], axis=-1))
        entries = {}
        for i in range(count):
            for j in range(i, count):
                entries[i, j] = entries[j, i] = _directional(firsts[i], j)(*xs)
        rows = [jnp.stack([entries[i, j] for j in range(count)], axis=-1) for i in range(count)]
        return _finite_where(fn(*xs), jnp.stack(rows, axis=-2))


@jax.tree_util.register_pytree_node_class
class Derived:
    """A callable derived from a Function (derivative, gradient, Hessian): same inputs,
    same params (its pytree leaves), evaluated like the Function itself."""

    def __init__(self, kernel: _execute.Kernel, leaves: Sequence[object], description: str):
        self.kernel = kernel
        self.leaves = tuple(leaves)
        self.description = description

    def __call__(self, *xs, dtype=None) -> jax.Array:
        return _execute.call(self.kernel, self.leaves, xs, dtype, name=self.description)

    def tree_flatten(self):
        return self.leaves, (self.kernel, self.description)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        return cls(aux[0], leaves, aux[1])

    def __repr__(self) -> str:
        return f"<{self.description}>"


def _as_function(f, wrt: str | None = None) -> Function:
    """``f`` as a Function; a constant becomes a function of ``wrt`` (default x), so that its
    derivatives, gradient and tangent exist (0, on the grid's shape)."""
    f = f if isinstance(f, Function) else Function(f)
    if not f.variables:
        f = Function(f.expr, (wrt or "x",), params=f.params)
    return f


_CHEAP_OPS = ("ADD", "SUB", "MUL", "NEG")


def _cost(expr: sympy.Expr) -> int:
    """Work per point after sharing subexpressions: +,-,* cost 1, /,** 4, functions 16."""
    shared, reduced = sympy.cse(expr)
    total = 0
    for part in [e for _, e in shared] + list(reduced):
        for term in sympy.Add.make_args(sympy.count_ops(part, visual=True)):
            count, op = term.as_coeff_Mul()
            if op != 0:
                total += int(count) * (1 if str(op) in _CHEAP_OPS else 4 if str(op) in
                                       ("DIV", "POW") else 16)
    return total


def _symbolic_if_faster(f: Function, wrt: str, n: int) -> Function | None:
    """SymPy's derivative when it is the faster exact path, else None (use AD).

    Model: AD's n-th order pass costs about (n + 1) times f; the lowered symbolic derivative
    costs its own :func:`_cost`. Measured (bench/bench_grid.py, CPU, 10^6-10^7 points): symbolic
    as fast or faster on f1..f5 (f4' 1.3x, f5'' 2.4x), AD faster on a product of 30 sines (1.2x),
    where the derivative swells to 2.8x the cost of f. Orders above 2 use AD (Taylor mode).
    """
    if not 1 <= n <= 2:
        return None
    exact = f.diff(wrt, n)
    return exact if _cost(exact.expr) <= (n + 1) * _cost(f.expr) + 16 else None


def derivative(f, wrt: str | None = None, n: int = 1, *, method: str = "auto") -> Derived:
    """The ``n``-th derivative of ``f`` with respect to ``wrt``, as a callable with f's signature.

    Args:
        f: a :class:`Function`, or text / SymPy expression to build one.
        wrt: the variable; may be omitted when f has exactly one.
        n: the order (0 gives f itself, NaN-masked like every derivative).
        method: ``"ad"`` (forward-mode autodiff, fused with f), ``"symbolic"`` (SymPy's
            derivative, lowered with shared subexpressions), or ``"auto"`` (the default: the
            symbolic one where it stays small, which measured as fast or faster, else AD).
            All are exact and agree; ``description`` names the one used.

    Example:
        >>> import jaxcalc as jc
        >>> d = jc.derivative("x**3 - 1/x")
        >>> [float(v) for v in d(jnp.array([1.0, 2.0]))]
        [4.0, 12.25]
    """
    f = _as_function(f, wrt)
    wrt = pick_variable(f.variables, wrt)
    n = check_order(n)
    if method not in _METHODS:
        raise InputError(f"`method` must be one of {_METHODS}, got {method!r}")
    exact = None
    if method == "symbolic":
        exact = f.diff(wrt, n)
    elif method == "auto":
        exact = _symbolic_if_faster(f, wrt, n)
        method = "auto: ad" if exact is None else "auto: symbolic"
    description = f"derivative of {f.expr} (wrt {wrt}, order {n}, {method})"
    if exact is not None:
        return Derived(exact.kernel, f.leaves, description)
    kernel = DerivativeKernel(f.kernel, f.variables.index(wrt), n)
    return Derived(kernel, f.leaves, description)


def gradient(f) -> Derived:
    """∇f elementwise: ``gradient(f)(x, y)`` has shape ``(..., n_variables)``.

    Example:
        >>> import jaxcalc as jc
        >>> jc.gradient("x**2 * y")(3.0, 2.0).tolist()
        [12.0, 9.0]
    """
    f = _as_function(f)
    return Derived(GradientKernel(f.kernel), f.leaves, f"gradient of {f.expr}")


def hessian(f) -> Derived:
    """The Hessian elementwise: shape ``(..., n_variables, n_variables)``, symmetric.

    Example:
        >>> import jaxcalc as jc
        >>> jc.hessian("x**2 * y")(3.0, 2.0).tolist()
        [[4.0, 6.0], [6.0, 0.0]]
    """
    f = _as_function(f)
    return Derived(GradientKernel(f.kernel, second_order=True), f.leaves, f"Hessian of {f.expr}")
