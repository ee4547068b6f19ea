"""`Function`: the one callable type made from formulas, compiled with JAX.

A Function is a :class:`~jaxcalc._core.execute.Kernel` (the static, hashable part: what to
compute) and its params (the pytree leaves), so ``jax.jit``, ``jax.grad`` with respect to params,
``jax.vmap`` over stacked params and optax accept it as it is. The formula itself, its
derivatives of any order by any method, gradients, Jacobians and Hessians are all Functions
(see ``_core.derive``): each has ``.variables``, ``.params``, ``.shape`` (the per-point output
shape) and ``.expr`` (for derivatives computed by SymPy when first asked).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from . import execute as _execute
from .errors import InputError
from .lower import lower
from .parse import DEFAULT_LIMITS, ParseLimits, parse
from .registry import REGISTRY, Registry
from .rewrite import stabilize
from .symbolic import hints, short


def symbol(name: str) -> sympy.Symbol:
    """The SymPy symbol jaxcalc uses for ``name`` (every symbol is real)."""
    return sympy.Symbol(name, real=True)


def _flat(expr: sympy.Basic) -> tuple[tuple[sympy.Expr, ...], tuple[int, ...]]:
    """The entries of an expression or SymPy array, and its shape (``()`` for one)."""
    if isinstance(expr, sympy.NDimArray):
        return tuple(expr.reshape(len(expr)).tolist()) if len(expr) else (), expr.shape
    return (expr,), ()


@dataclasses.dataclass(frozen=True)
class ExpressionKernel(_execute.Kernel):
    """Evaluate ``exprs`` (reshaped to ``shape`` per point); NaN wherever one of ``guards``
    (the functions this is a derivative of) is not finite, so a derivative never outlives its
    function's domain. ``rewrite`` lowers through the stable forms of ``_core.rewrite``."""

    exprs: tuple[sympy.Expr, ...]
    shape: tuple[int, ...]
    variables: tuple[str, ...]
    param_names: tuple[str, ...] = ()
    guards: tuple[sympy.Expr, ...] = ()
    registry: Registry = REGISTRY
    rewrite: bool = True

    @property
    def n_inputs(self) -> int:
        return len(self.variables)

    @functools.cached_property
    def lowered_exprs(self) -> tuple[sympy.Expr, ...]:
        """``exprs`` as lowered (``auto`` asks what they call)."""
        return self._as_lowered(self.exprs)

    def _as_lowered(self, exprs: tuple[sympy.Expr, ...]) -> tuple[sympy.Expr, ...]:
        """``exprs`` in the stable forms of ``_core.rewrite`` where ``rewrite``."""
        return tuple(map(stabilize, exprs)) if self.rewrite else exprs

    @functools.cached_property
    def _lowered(self):
        symbols = [symbol(n) for n in (*self.variables, *self.param_names)]
        exprs = (*self.lowered_exprs, *self._as_lowered(self.guards))
        return lower(exprs, symbols, registry=self.registry)

    def raw(self, leaves, *xs):
        outs = self._lowered(*xs, *leaves)
        values, guards = outs[: len(self.exprs)], outs[len(self.exprs):]
        value = values[0] if not self.shape else jnp.stack(values, -1)
        value = value.reshape(value.shape[: value.ndim - (len(self.shape) > 0)] + self.shape)
        for guard in guards:
            finite = jnp.isfinite(guard).reshape(guard.shape + (1,) * len(self.shape))
            value = jnp.where(finite, value, jnp.nan)
        return value

    # -- what every jaxcalc kernel answers (see _core.derive) -----------------------------------
    def symbolic(self) -> sympy.Basic:
        if not self.shape:
            return self.exprs[0]
        return sympy.ImmutableDenseNDimArray(self.exprs, self.shape)

    def guard_exprs(self) -> tuple[sympy.Expr, ...]:
        return (*self.guards, *self.exprs)

    def label(self) -> str:
        return str(self.symbolic())

    def substitute(self, values: Mapping[sympy.Symbol, sympy.Expr]) -> ExpressionKernel:
        """This kernel with every param replaced by ``values`` (no params left)."""
        return dataclasses.replace(
            self, exprs=tuple(e.xreplace(values) for e in self.exprs), param_names=(),
            guards=tuple(g.xreplace(values) for g in self.guards))


def as_expression(expr, names: Sequence[str] | None = None, *, registry: Registry = REGISTRY,
                  limits: ParseLimits = DEFAULT_LIMITS) -> sympy.Basic:
    """Text (parsed safely), a number or a SymPy expression, every symbol made real; or several
    formulas: a flat list or tuple (shape ``(m,)``), a ``sympy.Matrix`` (a column or row is
    ``(m,)``, else its shape) or a SymPy array (its shape), as a SymPy array."""
    if isinstance(expr, (list, tuple, sympy.MatrixBase, sympy.NDimArray)):
        items, shape = _items(expr)
        return sympy.ImmutableDenseNDimArray(
            [as_expression(e, names, registry=registry, limits=limits) for e in items], shape)
    if isinstance(expr, str):
        return parse(expr, names, limits=limits, functions=registry)
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sympy.Float(expr) if isinstance(expr, float) else sympy.Integer(expr)
    if not isinstance(expr, sympy.Expr):
        raise InputError(
            "expected an expression as text, a number, a sympy.Expr, a Function, or a list, "
            f"tuple or sympy.Matrix of them, got {type(expr).__name__}"
        )
    if expr.has(sympy.I) or (expr.is_number and expr.is_real is False):
        raise InputError(f"`{expr}` is not real: jaxcalc computes with real numbers only")
    _check_magnitudes(expr, limits.max_magnitude)
    renamed = {s: symbol(s.name) for s in expr.free_symbols if s.is_Symbol and s != symbol(s.name)}
    return expr.xreplace(renamed) if renamed else expr  # xreplace rebuilds the whole tree


def _check_magnitudes(expr: sympy.Expr, magnitude: int) -> None:
    """InputError for a number in ``expr`` that floating point cannot hold: an infinity, or
    one beyond ``10**±magnitude`` (text with such a number is refused the same way)."""
    bound = sympy.Integer(10) ** magnitude
    for number in expr.atoms(sympy.Number):
        if number is sympy.nan or number == 0:
            continue
        if not (number.is_finite and 1 / bound <= abs(number) <= bound):
            raise InputError(f"`{short(number)}` in `{short(expr)}` is beyond floating point "
                             f"(magnitudes 10**-{magnitude} to 10**{magnitude}); jaxcalc computes "
                             "in float64 at most")


def _items(expr) -> tuple[list, tuple[int, ...]]:
    """The formulas of a list, tuple, Matrix or SymPy array, and the output shape."""
    if isinstance(expr, (sympy.MatrixBase, sympy.NDimArray)):
        shape = tuple(expr.shape)
        items = list(expr) if isinstance(expr, sympy.MatrixBase) else \
            list(expr.reshape(len(expr)).tolist() if len(expr) else [])
        if isinstance(expr, sympy.MatrixBase) and 1 in shape:
            shape = (len(items),)
    else:
        items, shape = list(expr), (len(expr),)
    if not items or any(isinstance(e, (list, tuple, sympy.MatrixBase, sympy.NDimArray))
                        for e in items):
        raise InputError("several formulas are a non-empty flat list, e.g. ['x*y', "
                         f"'sin(x) + y'], a sympy.Matrix or a SymPy array; got {expr!r}")
    return items, shape


def _names(values: Sequence[str] | str | None, what: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise InputError(f"`{what}` must be names such as ('x', 'y'), got {values!r}") from None
    for v in values:
        if not (isinstance(v, str) and v.isidentifier()):
            raise InputError(f"`{what}` must be names such as 'x', got {v!r}")
    if len(set(values)) != len(values):
        raise InputError(f"`{what}` has duplicates: {values}")
    return values


@jax.tree_util.register_pytree_node_class
class Function(_execute.Elementwise):
    """A formula as a fast, differentiable, elementwise JAX function.

    Args:
        expr: text such as ``"x**3 - 1/x"`` (parsed safely, never evaluated), a SymPy
            expression, a list/tuple/``sympy.Matrix`` of those (vector-valued: outputs of shape
            ``(..., m)``), or a Function (copied, with the overrides given).
        variables: input names in call order; default: the free symbols that are not
            params, sorted by name.
        params: ``{name: initial value}`` for trainable symbols: the pytree leaves.
        functions: user functions, ``{"mish": "u*tanh(log(1 + exp(u)))"}`` (a formula in its
            arguments) or ``{"swish": lambda u: u * jax.nn.sigmoid(u)}`` (a JAX callable: AD
            only); see ``jc.functions()`` for the built-in ones.
        limits: parsing limits (:class:`~jaxcalc.ParseLimits`).
        rewrite: lower through numerically stable forms (``log(1 + u)`` as ``log1p(u)``, ...;
            see ``_core.rewrite``); ``False`` computes the formula exactly as written.

    Calls are elementwise over arrays of any shape (several variables broadcast, given in
    :attr:`variables` order or by name: ``f(x=xs, y=2.0)``), jit-compiled once per shape and
    dtype, in the inputs' float dtype (Python numbers: float64) or ``dtype=``.

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
        >>> Function(["x*y", "sin(x) + y"])(1.0, 2.0).shape
        (2,)
        >>> g = Function("a*x**2", params={"a": 3.0})
        >>> float(jax.grad(lambda g: g(2.0))(g).params["a"])  # d(a*x**2)/da at x = 2
        4.0
    """

    def __init__(self, expr, variables: Sequence[str] | str | None = None, *,
                 params: Mapping[str, object] | None = None,
                 functions: Mapping[str, object] | None = None,
                 limits: ParseLimits = DEFAULT_LIMITS, rewrite: bool = True):
        if isinstance(expr, Function):
            if variables is None and params is None and functions is None:
                self._init(expr.kernel, expr.leaves)  # a copy
                return
            variables = expr.variables if variables is None else variables
            params = expr.params if params is None else params
            functions = expr.kernel.registry if functions is None else functions
            expr = expr.expr
        variables = _names(variables, "variables")
        params = dict(params or {})
        param_names = _names(tuple(params), "params") or ()
        overlap = set(variables or ()) & set(param_names)
        if overlap:
            raise InputError(f"{sorted(overlap)} cannot be both variables and params")
        registry = functions if isinstance(functions, Registry) else REGISTRY.extend(functions)
        allowed = None if variables is None else (*variables, *param_names)
        expression = as_expression(expr, allowed, registry=registry, limits=limits)
        free = sorted(s.name for s in expression.free_symbols)
        if variables is None:
            variables = tuple(n for n in free if n not in param_names)
        unknown = set(free) - set(variables) - set(param_names)
        if unknown:
            raise InputError(
                f"free symbol(s) {sorted(unknown)} are neither `variables` {variables} nor "
                f"`params`; list them in one of the two{hints(sorted(unknown))}"
            )
        exprs, shape = _flat(expression)
        kernel = ExpressionKernel(exprs, shape, variables, param_names, registry=registry,
                                  rewrite=bool(rewrite))
        kernel._lowered  # noqa: B018 -- validate the lowering now: UnsupportedFunctionError
        self._init(kernel, [_as_leaf(params[n], n) for n in param_names])

    def _init(self, kernel, leaves: Sequence[object]) -> None:
        self._kernel = kernel
        self._leaves = tuple(leaves)

    @classmethod
    def from_kernel(cls, kernel, leaves: Sequence[object]) -> Function:
        """The Function computing ``kernel`` with param ``leaves`` (for ``_core.derive``)."""
        self = object.__new__(cls)
        self._init(kernel, leaves)
        return self

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten(self):
        return self._leaves, self._kernel

    @classmethod
    def tree_unflatten(cls, kernel, leaves):
        return cls.from_kernel(kernel, leaves)

    # -- the contract --------------------------------------------------------------------
    @property
    def expr(self) -> sympy.Basic:
        """The formula (a SymPy array of shape :attr:`shape` when that is not ``()``); for an
        AD derivative, SymPy's derivative, computed when first asked."""
        return self._kernel.symbolic()

    @property
    def variables(self) -> tuple[str, ...]:
        return self._kernel.variables

    @property
    def params(self) -> dict[str, jax.Array]:
        return dict(zip(self._kernel.param_names, self._leaves, strict=True))

    @property
    def shape(self) -> tuple[int, ...]:
        """Output shape per point: ``()``, ``(m,)`` for m formulas, ``(..., n)`` for a
        gradient or Jacobian over n variables."""
        return self._kernel.shape

    @property
    def kernel(self):
        return self._kernel

    @property
    def leaves(self) -> tuple[object, ...]:
        return self._leaves

    @functools.cached_property
    def _label(self) -> str:  # printing a SymPy expression costs ~0.1 ms: once, not per call
        return f"`{self._kernel.label()}`"

    def apply(self, params: Mapping[str, object], *xs, dtype=None, **named) -> jax.Array:
        """Evaluate with ``params`` in place of the stored ones (for functional code):
        ``jax.grad(lambda p: loss(f.apply(p, xs)))(f.params)``."""
        return self.with_params(params)(*xs, dtype=dtype, **named)

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
        return self.from_kernel(self._kernel, [_as_leaf(params[n], n) for n in names])

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
        return self.from_kernel(self._kernel.substitute(values), [])

    def diff(self, wrt: str | None = None, n: int = 1) -> Function:
        """The exact symbolic ``n``-th derivative (SymPy), as a Function with the same
        signature; NaN wherever this function is not finite (see DESIGN: singular points).
        The same as ``jc.derivative(f, wrt, n, method="symbolic")``."""
        from .derive import derivative  # derive builds on Function

        return derivative(self, wrt, n, method="symbolic")

    def __repr__(self) -> str:
        params = f", params={list(self._kernel.param_names)}" if self._kernel.param_names else ""
        return f"Function({self._kernel.label()}, variables={self.variables}{params})"

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
    except (TypeError, ValueError, OverflowError) as e:
        raise InputError(f"param `{name}` must be a number or array, got "
                         f"{reprlib.repr(value)}") from e


def as_function(f, wrt: str | None = None, limits: ParseLimits = DEFAULT_LIMITS) -> Function:
    """``f`` as a Function (text parsed within ``limits``); a constant becomes a function of
    ``wrt`` (default x), so that its derivatives, gradient and tangent exist (0, on the grid's
    shape)."""
    f = f if isinstance(f, Function) else Function(f, limits=limits)
    if not f.variables:
        f = Function(f, (wrt or "x",))
    return f


def require_one_formula(f: Function, what: str) -> Function:
    """``f``, or InputError saying that ``what`` needs one value per point, where ``f`` is
    vector-valued (several formulas, a gradient, a Jacobian)."""
    if f.shape:
        raise InputError(f"{what} needs one formula, not {math.prod(f.shape)}; take one "
                         f"component of `{short(f.kernel.label())}` at a time")
    return f
