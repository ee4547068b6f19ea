"""The benchmark's contestants: every way to get f'(xs) that ``jaxcalc bench`` compares.

A :class:`Method` builds, for one :class:`Case` (an expression) and one dtype, a callable
``run(xs) -> f'(xs)``; its :class:`Backend` says where ``xs`` must live (NumPy, JAX or CuPy
arrays), how to wait for a result, and how to bring it to the host for the error check.

========================  =================================================================
name                      what runs
========================  =================================================================
``jaxcalc``               ``jc.derivative(f)``: what users call (``auto`` picks AD or symbolic)
``jaxcalc_ad``            ``jc.derivative(f, method="ad")``: forward-mode AD, jit-compiled
``jaxcalc_symbolic``      ``jc.derivative(f, method="symbolic")``: SymPy's f', lowered to JAX
``numpy_fd``              ``jaxcalc.fd.difference``: central difference, default step
``numpy_symbolic``        ``sympy.lambdify(x, sympy.diff(f), cse=True)`` (NumPy, SciPy)
``numexpr``               ``sympy.lambdify(x, sympy.diff(f), "numexpr")`` (if installed)
``scipy_differentiate``   ``scipy.differentiate.derivative(f, xs).df`` (if installed)
``cupy_fd``               central difference on the GPU with CuPy (if installed)
========================  =================================================================

Example:
    >>> import numpy as np
    >>> case = Case.from_text("f2", "x**3 - 1/x")
    >>> run = METHODS["numpy_symbolic"].build(case, np.dtype("float64"))
    >>> run(np.array([1.0, 2.0])).tolist()
    [4.0, 12.25]
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from collections.abc import Callable

import numpy as np
import sympy

from .._core import execute as _execute
from .._core.derive import derivative
from .._core.errors import InputError
from .._core.function import Function, symbol
from . import fd

#: The error measure's floor: relative to max |f'| over the reference points (see
#: ``jaxcalc._tools.bench``), so that a zero of f' does not turn a tiny absolute error into a
#: huge relative one. A case whose f' has no zero on the interval may use 0 (pure relative error).
ERROR_FLOOR = 1e-3


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmarked expression of one variable: its name, text, compiled Function and the
    floor of its error measure (:data:`ERROR_FLOOR`)."""

    name: str
    text: str
    function: Function
    error_floor: float = ERROR_FLOOR

    @classmethod
    def from_text(cls, name: str, text, error_floor: float = ERROR_FLOOR) -> Case:
        function = Function(text)
        if len(function.variables) != 1:
            raise InputError(
                f"`{text}`: the benchmark needs an expression of exactly one variable, "
                f"got {function.variables or 'none'}; e.g. 'x**3 - 1/x'"
            )
        return cls(name, str(text), function, error_floor)

    @property
    def symbol(self) -> sympy.Symbol:
        return symbol(self.function.variables[0])

    @functools.cached_property
    def derivative(self) -> sympy.Expr:
        """SymPy's exact f' (what the symbolic baselines and the reference evaluate)."""
        return sympy.diff(self.function.expr, self.symbol)

    @functools.cached_property
    def numpy_function(self) -> Callable:
        """f itself as a NumPy function (what the finite-difference baselines evaluate).

        Both lambdify calls use SymPy's default modules, as users do: SciPy's special
        functions where SciPy is installed, NumPy otherwise."""
        return sympy.lambdify(self.symbol, self.function.expr)

    def lambdified_derivative(self, modules=None, **kwargs) -> Callable:
        return sympy.lambdify(self.symbol, self.derivative, modules, **kwargs)


@dataclasses.dataclass(frozen=True)
class Backend:
    """Where a method's arrays live: ``put`` moves host inputs there, ``sync`` waits for a
    result, ``host`` copies a result to a NumPy array (outside the timed region)."""

    name: str
    put: Callable[[np.ndarray], object]
    sync: Callable[[object], object]
    host: Callable[[object], np.ndarray]


def _jax_put(xs: np.ndarray):
    """On CPU the NumPy array itself (what users pass; the result is host memory), elsewhere
    a copy on the accelerator, so the timing is of the device, not of the bus."""
    import jax

    if jax.default_backend() == "cpu":
        return xs
    with _execute.precision(xs.dtype):  # float64 stays float64 (scoped x64)
        return jax.device_put(xs)


def _cupy_backend() -> Backend:
    import cupy

    return Backend("cupy", cupy.asarray,
                   lambda out: cupy.cuda.get_current_stream().synchronize(), cupy.asnumpy)


NUMPY = Backend("numpy", lambda xs: xs, lambda out: None, np.asarray)
JAX = Backend("jax", _jax_put, lambda out: out.block_until_ready(), np.asarray)


def central_difference(fn: Callable, x, xp=np):
    """``(f(x + h) - f(x - h)) / 2h`` with ``jaxcalc.fd``'s default step, for any array module
    ``xp`` with NumPy's API (CuPy): the same numbers as ``fd.difference(fn, x)``.

    >>> round(float(central_difference(np.exp, np.float64(0.0))), 9)
    1.0
    """
    h = xp.finfo(x.dtype).eps ** (1 / 3) * xp.maximum(1, xp.abs(x))
    h = (x + h) - x
    return (fn(x + h) - fn(x - h)) / (2 * h)


@dataclasses.dataclass(frozen=True)
class Method:
    """A named way to compute f' for a :class:`Case`; ``build(case, dtype) -> run(xs)``."""

    name: str
    build: Callable[[Case, np.dtype], Callable]
    backend: Backend | Callable[[], Backend] = NUMPY
    requires: str | None = None  # a module that must be importable

    @property
    def available(self) -> bool:
        if self.requires is None:
            return True
        try:
            return importlib.util.find_spec(self.requires) is not None
        except ModuleNotFoundError:  # a missing parent package of a dotted name
            return False

    def device(self) -> Backend:
        return self.backend if isinstance(self.backend, Backend) else self.backend()


def _jaxcalc(method: str):
    def build(case: Case, dtype: np.dtype):
        d = derivative(case.function, method=method)
        return functools.partial(d, dtype=dtype)

    return build


def _numpy_fd(case: Case, dtype: np.dtype):
    return functools.partial(fd.difference, case.numpy_function)


def _numpy_symbolic(case: Case, dtype: np.dtype):
    return case.lambdified_derivative(cse=True)


def _numexpr(case: Case, dtype: np.dtype):
    return case.lambdified_derivative("numexpr")


def _scipy_differentiate(case: Case, dtype: np.dtype):
    from scipy.differentiate import derivative as scipy_derivative

    f = case.numpy_function
    return lambda xs: scipy_derivative(f, xs).df


def _cupy_fd(case: Case, dtype: np.dtype):
    import cupy

    f = sympy.lambdify(case.symbol, case.function.expr, "cupy")
    return functools.partial(central_difference, f, xp=cupy)


#: Every method, in the order tables and plots list them.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("jaxcalc", _jaxcalc("auto"), JAX),
    Method("jaxcalc_ad", _jaxcalc("ad"), JAX),
    Method("jaxcalc_symbolic", _jaxcalc("symbolic"), JAX),
    Method("numpy_fd", _numpy_fd),
    Method("numpy_symbolic", _numpy_symbolic),
    Method("numexpr", _numexpr, requires="numexpr"),
    Method("scipy_differentiate", _scipy_differentiate, requires="scipy.differentiate"),
    Method("cupy_fd", _cupy_fd, _cupy_backend, requires="cupy"),
)}


def available_methods() -> tuple[str, ...]:
    """Names of the methods whose libraries are installed here."""
    return tuple(name for name, m in METHODS.items() if m.available)


def pick_methods(names) -> tuple[Method, ...]:
    """The methods called ``names`` (default: every available one), checked."""
    if names is None:
        return tuple(METHODS[n] for n in available_methods())
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise InputError("`methods` is empty; name at least one, e.g. methods=['jaxcalc_ad']")
    for name in names:
        if name not in METHODS:
            raise InputError(f"`methods`: unknown method {name!r}; choose from "
                             f"{', '.join(METHODS)}")
        if not METHODS[name].available:
            raise InputError(f"`methods`: {name!r} needs the `{METHODS[name].requires}` package, "
                             "which is not installed; install it or leave the method out")
    return tuple(METHODS[n] for n in dict.fromkeys(names))
