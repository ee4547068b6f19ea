"""Derivatives as Functions: any order, any method, gradients, Jacobians and Hessians.

Every result is a :class:`~jaxcalc.Function` with the signature and params of the function it
came from, so derivatives compose (``derivative(derivative(f))`` is ``derivative(f, n=2)``),
plot, stream over grids and train like f itself. Wherever f is not finite the derivative is NaN
(d/dx log(x) at -1 is NaN, not -1); AD and symbolic paths share the conventions at kinks (see
``_core.registry``) and agree.

Methods: ``"ad"`` is forward mode (``jax.jvp`` with a tangent of ones: every point at once,
fused with f) for orders 1–2 and Taylor mode (``jax.experimental.jet``) from order 3; gradients
use one reverse pass (``jax.vjp``), whatever the number of variables. ``"symbolic"`` lowers
SymPy's derivative (bounded, see ``_core.symbolic``). ``"auto"`` chooses once per (formula,
variable, order), without running SymPy where AD serves: AD up to order 2 and wherever Taylor
mode has a rule for every function (there a small formula takes SymPy's derivative, unless one
of its functions' SymPy derivatives cancel: ``sinc`` near 0); above that, the symbolic path
while it stays small, and nested forward passes up to order 8; anything else is refused up
front with the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import sympy
from jax.experimental import jet

from . import execute as _execute
from .errors import InputError, ResourceError, UnsupportedFunctionError
from .function import ExpressionKernel, Function, as_function, symbol
from .lower import has_taylor_rules
from .parse import DEFAULT_LIMITS, ParseLimits
from .registry import Registry, check_symbolic, symbolic_cancels
from .symbolic import (
    MAX_NODES,
    check_order,
    nodes,
    pick_variable,
    short,
    symbolic_derivative,
)

_METHODS = ("auto", "ad", "symbolic")

#: Highest order computed by nested jvp (when Taylor mode lacks a rule, e.g. for ``tan``): each
#: nesting doubles the traced program, so order 10 already takes seconds to compile.
MAX_NESTED_ORDER = 8

#: Largest symbolic derivative ``auto`` accepts above order 2 before it prefers Taylor mode
#: (SymPy nodes; lowering and compiling more takes longer than Taylor mode's program).
AUTO_SYMBOLIC_NODES = 2_000

#: Most forward/reverse passes one derivative program may trace (a Hessian of n variables
#: traces n): beyond it compiling takes minutes, so it is refused up front.
MAX_PASSES = 64


# -- kernels ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Derived(_execute.Kernel):
    """A kernel computed from ``base``: same inputs, params, registry and domain."""

    base: _execute.Kernel

    @property
    def n_inputs(self) -> int:
        return self.base.n_inputs

    @property
    def variables(self) -> tuple[str, ...]:
        return self.base.variables

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.base.param_names

    @property
    def registry(self) -> Registry:
        return self.base.registry

    def guard_exprs(self) -> tuple[sympy.Expr, ...]:
        return self.base.guard_exprs()

    def substitute(self, values):
        return dataclasses.replace(self, base=self.base.substitute(values))

    def _fn(self, leaves):
        return lambda *xs: self.base.raw(leaves, *xs)


@dataclasses.dataclass(frozen=True)
class DerivativeKernel(_Derived):
    """∂ⁿ base / ∂ x_index ⁿ by forward mode (``taylor``: Taylor mode from order 3)."""

    index: int
    n: int
    taylor: bool = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self.base.shape

    def raw(self, leaves, *xs):
        fn = self._fn(leaves)
        if self.n == 1:  # one forward pass gives f with f' (measured ~10% faster than two)
            value, result = _along(fn, xs, self.index)
        else:
            value, result = fn(*xs), nth_partial(fn, xs, self.index, self.n, self.taylor)
        return _finite_where(value, result, self.shape)

    def symbolic(self) -> sympy.Basic:
        return symbolic_derivative(self.base.symbolic(), symbol(self.variables[self.index]),
                                   self.n)

    def label(self) -> str:
        var = self.variables[self.index]
        return f"Derivative({self.base.label()}, {var if self.n == 1 else (var, self.n)})"


@dataclasses.dataclass(frozen=True)
class JacobianKernel(_Derived):
    """All first (``order=1``: gradient, Jacobian) or second (``order=2``: Hessian) partial
    derivatives, as trailing axes of length n_variables."""

    order: int = 1

    @property
    def shape(self) -> tuple[int, ...]:
        return self.base.shape + (self.n_inputs,) * self.order

    def raw(self, leaves, *xs):
        fn = self._fn(leaves)
        xs = tuple(jnp.broadcast_arrays(*xs))
        if self.order == 1:  # the passes give f as well: traced and compiled once
            value, result = _jacobian(fn, self.base.shape, *xs)
        else:
            def first(*xs):
                return _jacobian(fn, self.base.shape, *xs)[1]

            value = fn(*xs)
            result = jnp.stack([_directional(first, j)(*xs) for j in range(len(xs))], axis=-1)
        return _finite_where(value, result, self.base.shape)

    def symbolic(self) -> sympy.Basic:
        symbols = [symbol(v) for v in self.variables]
        entries = _entries(self.base.symbolic())
        for _ in range(self.order):
            entries = [symbolic_derivative(e, [s], 1) for e in entries for s in symbols]
        return sympy.ImmutableDenseNDimArray(entries, self.shape)

    def label(self) -> str:
        what = "gradient" if not self.base.shape and self.order == 1 else \
            ("jacobian" if self.order == 1 else "hessian")
        return f"{what}({self.base.label()})"


def _entries(expr: sympy.Basic) -> list[sympy.Expr]:
    return expr.reshape(len(expr)).tolist() if isinstance(expr, sympy.NDimArray) else [expr]


def _finite_where(value: jax.Array, result: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``result`` where every value of the base is finite, else NaN. ``value`` has the base's
    per-point ``shape`` trailing; ``result`` may have more trailing axes."""
    finite = jnp.isfinite(value)
    extra = result.ndim - finite.ndim
    return jnp.where(finite.reshape(finite.shape + (1,) * extra), result, jnp.nan)


def _along(fn, xs: Sequence[jax.Array], index: int) -> tuple[jax.Array, jax.Array]:
    """``fn(*xs)`` and ∂fn/∂x_index, elementwise, by one forward-mode pass."""
    tangents = (jnp.ones_like(x) if i == index else jnp.zeros_like(x) for i, x in enumerate(xs))
    return jax.jvp(fn, tuple(xs), tuple(tangents))


def _directional(fn, index: int):
    """x ↦ ∂fn/∂x_index, elementwise, by one forward-mode pass."""
    return lambda *xs: _along(fn, xs, index)[1]


def _jacobian(fn, shape: tuple[int, ...], *xs) -> tuple[jax.Array, jax.Array]:
    """The value of elementwise ``fn`` (per-point output ``shape``) at broadcast ``xs`` and all
    its first partials, as a trailing axis: reverse mode (one pass per output) when there are
    fewer outputs than inputs, else forward mode (one pass per input)."""
    outputs = math.prod(shape)
    if outputs >= len(xs):
        passes = [_along(fn, xs, i) for i in range(len(xs))]
        return passes[0][0], jnp.stack([slope for _, slope in passes], axis=-1)
    value, pullback = jax.vjp(fn, *xs)
    if outputs == 1:
        units = [jnp.ones_like(value)]
    else:
        flat = jnp.zeros(xs[0].shape + (outputs,), value.dtype)
        units = [flat.at[..., k].set(1).reshape(value.shape) for k in range(outputs)]
    rows = [jnp.stack(pullback(unit), axis=-1) for unit in units]
    return value, jnp.stack(rows, axis=-2).reshape(value.shape + (len(xs),))


def _nth_by_jet(fn, xs, index: int, n: int) -> jax.Array:
    def along(t):  # fn restricted to the line x + t·e_index
        return fn(*(x + t if i == index else x for i, x in enumerate(xs)))

    zero = jnp.zeros_like(xs[index])
    series = (jnp.ones_like(zero),) + (zero,) * (n - 1)
    return jet.jet(along, (zero,), (series,))[1][-1]


def nth_partial(fn, xs: Sequence[jax.Array], index: int, n: int, taylor: bool = True):
    """∂ⁿfn/∂x_indexⁿ at ``xs`` (elementwise ``fn``); Taylor mode for n ≥ 3 when ``taylor``."""
    if n >= 3 and taylor:
        try:
            return _nth_by_jet(fn, xs, index, n)
        except (KeyError, NotImplementedError):  # a primitive without a jet rule after all
            if n > MAX_NESTED_ORDER:
                raise ResourceError(f"Taylor mode has no rule for a function in this formula, "
                                    f"and nested forward passes stop at order "
                                    f"{MAX_NESTED_ORDER}; use method='symbolic'") from None
    for _ in range(n):
        fn = _directional(fn, index)
    return fn(*xs)


# -- choosing a method -----------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
def _taylor(kernel) -> bool:
    """Whether Taylor mode has a rule for everything ``kernel``'s formula lowers to."""
    return all(has_taylor_rules(e, kernel.registry) for e in _root(kernel).exprs)


@functools.lru_cache(maxsize=512)
def _symbolic_kernel(kernel, index: int, n: int, max_nodes: int = MAX_NODES) -> ExpressionKernel:
    """The symbolic ``n``-th derivative of ``kernel`` along variable ``index``, as a kernel
    NaN wherever ``kernel``'s function is not finite."""
    derived = symbolic_derivative(kernel.symbolic(), symbol(kernel.variables[index]), n,
                                  max_nodes=max_nodes)
    return dataclasses.replace(_root(kernel), exprs=tuple(_entries(derived)), shape=kernel.shape,
                               guards=kernel.guard_exprs(), param_names=kernel.param_names)


@functools.lru_cache(maxsize=512)
def _auto(kernel, index: int, n: int):
    """The kernel ``auto`` uses for the n-th derivative (chosen once per kernel, index, n)."""
    taylor = _taylor(kernel)
    if n <= 2 or taylor:
        exact = None
        # a small formula: SymPy's derivative is the cheapest program, where it does not cancel
        if n >= 3 and sum(map(nodes, _root(kernel).exprs)) <= AUTO_SYMBOLIC_NODES \
                and not _symbolic_cancels(kernel):
            exact = _try_symbolic(kernel, index, n, AUTO_SYMBOLIC_NODES)
        return exact or _ad_kernel(kernel, index, n, taylor)
    exact = _try_symbolic(kernel, index, n, MAX_NODES)
    if exact is not None:
        return exact
    if n <= MAX_NESTED_ORDER:
        return _ad_kernel(kernel, index, n, taylor)
    raise ResourceError(
        f"no exact path computes the order-{n} derivative of `{short(kernel.label())}` in "
        f"reasonable time: SymPy's derivative outgrows {MAX_NODES} nodes, and Taylor mode has no "
        f"rule for one of its functions (nested forward passes stop at order {MAX_NESTED_ORDER})"
    )


def _symbolic_cancels(kernel) -> bool:
    """Whether a function of ``kernel``'s formula, as lowered, has SymPy derivatives that cancel
    where the function does not (see :func:`~jaxcalc._core.registry.symbolic_cancels`):
    ``sinc(x)``, and ``sin(x)/x``, which lowers as ``sinc(x)``."""
    return any(symbolic_cancels(e, kernel.registry) for e in _root(kernel).lowered_exprs)


def _root(kernel) -> ExpressionKernel:
    while isinstance(kernel, _Derived):
        kernel = kernel.base
    return kernel


def _try_symbolic(kernel, index: int, n: int, max_nodes: int) -> ExpressionKernel | None:
    """The symbolic kernel, or None where SymPy cannot (a JAX-callable user function) or its
    derivative outgrows ``max_nodes``."""
    try:
        for expr in _root(kernel).exprs:
            check_symbolic(expr, kernel.registry)
        return _symbolic_kernel(kernel, index, n, max_nodes)
    except (ResourceError, UnsupportedFunctionError):
        return None


def _ad_kernel(kernel, index: int, n: int, taylor: bool) -> DerivativeKernel:
    if isinstance(kernel, DerivativeKernel) and kernel.index == index:  # d(dᵏf) = dᵏ⁺¹f
        n, kernel = check_order(n + kernel.n), kernel.base
    if n >= 3 and not taylor and n > MAX_NESTED_ORDER:
        raise ResourceError(
            f"an order-{n} AD derivative of `{short(kernel.label())}` needs {n} nested forward "
            "passes (one of its functions has no Taylor-mode rule), whose cost doubles with each "
            f"order; use method='symbolic' or an order <= {MAX_NESTED_ORDER}"
        )
    return DerivativeKernel(kernel, index, n, taylor)


# -- the public functions ----------------------------------------------------------------------
def derivative(f, wrt: str | None = None, n: int = 1, *, method: str = "auto",
               limits: ParseLimits = DEFAULT_LIMITS) -> Function:
    """The ``n``-th derivative of ``f`` with respect to ``wrt``: a Function with f's signature.

    Args:
        f: a :class:`Function` (any: a derivative, a gradient, a vector-valued formula), or
            text / SymPy expression to build one.
        wrt: the variable; may be omitted when f has exactly one.
        n: the order (0 gives f itself, NaN where it is not finite).
        method: ``"ad"`` (forward mode fused with f; Taylor mode from order 3),
            ``"symbolic"`` (SymPy's derivative, lowered), or ``"auto"`` (the default: AD where
            it has rules, chosen once per formula, variable and order without running SymPy;
            the symbolic path for high orders of functions Taylor mode lacks, such as tan).
            All are exact and agree.
        limits: parsing limits when ``f`` is text (:class:`~jaxcalc.ParseLimits`).

    Example:
        >>> import jaxcalc as jc
        >>> d = jc.derivative("x**3 - 1/x")
        >>> [float(v) for v in d(jnp.array([1.0, 2.0]))]
        [4.0, 12.25]
        >>> float(jc.derivative(d)(2.0)), float(jc.derivative("x**3 - 1/x", n=2)(2.0))
        (11.75, 11.75)
    """
    f = as_function(f, wrt, limits)
    wrt = pick_variable(f.variables, wrt)
    n = check_order(n)
    if method not in _METHODS:
        raise InputError(f"`method` must be one of {_METHODS}, got {method!r}")
    index = f.variables.index(wrt)
    if method == "symbolic":
        for expr in _root(f.kernel).exprs:
            check_symbolic(expr, f.kernel.registry)
        kernel = _symbolic_kernel(f.kernel, index, n)
    elif method == "ad":
        kernel = _ad_kernel(f.kernel, index, n, _taylor(f.kernel))
    else:
        kernel = _auto(f.kernel, index, n)
    return Function.from_kernel(kernel, f.leaves)


def _all_partials(f, order: int, limits: ParseLimits) -> Function:
    f = as_function(f, limits=limits)
    passes = f.kernel.n_inputs ** (order - 1) * max(1, min(len(f.variables), _size(f.shape)))
    if passes > MAX_PASSES:
        raise ResourceError(
            f"this derivative of `{short(f.kernel.label())}` traces about {passes} passes over the "
            f"formula (the limit is {MAX_PASSES}); differentiate fewer variables at a time "
            "with jc.derivative(f, wrt=...)"
        )
    return Function.from_kernel(JacobianKernel(f.kernel, order), f.leaves)


def _size(shape: tuple[int, ...]) -> int:
    size = 1
    for s in shape:
        size *= s
    return size


def gradient(f, *, limits: ParseLimits = DEFAULT_LIMITS) -> Function:
    """∇f elementwise: ``gradient(f)(x, y)`` has shape ``(..., n_variables)`` (one reverse
    pass, whatever the number of variables).

    Example:
        >>> import jaxcalc as jc
        >>> jc.gradient("x**2 * y")(3.0, 2.0).tolist()
        [12.0, 9.0]
    """
    return _all_partials(f, 1, limits)


def jacobian(f, *, limits: ParseLimits = DEFAULT_LIMITS) -> Function:
    """The Jacobian elementwise: shape ``(..., m, n_variables)`` for m formulas (a scalar
    formula gives its gradient).

    Example:
        >>> import jaxcalc as jc
        >>> jc.jacobian(["x*y", "sin(x) + y"])(0.0, 2.0).tolist()
        [[2.0, 0.0], [1.0, 1.0]]
    """
    return _all_partials(f, 1, limits)


def hessian(f, *, limits: ParseLimits = DEFAULT_LIMITS) -> Function:
    """The Hessian elementwise: shape ``(..., n_variables, n_variables)``, symmetric (for m
    formulas, ``(..., m, n, n)``).

    Example:
        >>> import jaxcalc as jc
        >>> jc.hessian("x**2 * y")(3.0, 2.0).tolist()
        [[4.0, 6.0], [6.0, 0.0]]
    """
    return _all_partials(f, 2, limits)
