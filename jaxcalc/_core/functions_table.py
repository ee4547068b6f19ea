"""The built-in function table: one :class:`Entry` per function jaxcalc supports.

The table is data; :mod:`jaxcalc._core.registry` makes the lookups (by spelling, by SymPy
head) and the user extensions. SymPy rewrites some functions as it builds them, and the table
says so: ``sqrt(x)``, ``cbrt(x)`` and ``pow(x, y)`` are powers (lowered by the power rules of
:mod:`jaxcalc._core.lower`), ``digamma(x)`` is ``polygamma(0, x)``, ``Mod(x, y)`` is
``x - y*floor(x/y)`` (so every path differentiates it). ``log10``, ``log2``, ``exp2``,
``log1p``, ``expm1`` and ``hypot`` are SymPy's ``sympy.codegen.cfunctions`` heads: they print
as typed and lower to the accurate JAX function.

Example:
    >>> [e.name for e in ENTRIES if "arcsin" in e.aliases]
    ['asin']
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import sympy
from sympy.codegen import cfunctions

from . import special, stable, tails
from .heads import ClosedForm

#: Derivative conventions: ``smooth`` (the ordinary derivative); ``kink`` (at a kink the mean of
#: the one-sided derivatives: ``Abs'(0) = 0``, a ``Max``/``Min`` tie splits 1/2-1/2); ``step``
#: (piecewise constant: derivative 0 everywhere, the Dirac delta at a jump dropped, as JAX does);
#: ``jump`` (piecewise smooth: each piece's derivative, the Dirac delta at a jump dropped).
KINDS = ("smooth", "kink", "step", "jump")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One supported function.

    Attributes:
        name: the name SymPy prints (``asin``, ``Abs``); also accepted in text.
        build: SymPy constructor: ``build(*sympy_args) -> sympy.Expr``.
        jax: JAX implementation of ``heads``, elementwise in its arguments (None when ``build``
            makes only other heads, e.g. a user formula).
        heads: the SymPy heads (classes) that lower through ``jax``; empty when ``build``
            makes powers or other entries' heads (``sqrt``, ``digamma``).
        arity: the numbers of arguments accepted in text.
        aliases: other spellings accepted in text (``arcsin``, ``ln``).
        taylor: whether Taylor mode (``jax.experimental.jet``) has rules for the lowering.
        kind: derivative convention, one of :data:`KINDS`.
        summary: one line for :func:`~jaxcalc.functions` and the README table.
        symbolic: whether SymPy can differentiate it (False for a user's JAX callable).
        symbolic_cancels: whether SymPy's derivatives cancel where the function itself does
            not (``sinc`` near 0: ``cos(x)/x - sin(x)/x**2``): ``auto`` then prefers Taylor mode
            to SymPy's derivative above order 2.
        public: whether text may call it and the listing shows it (False for heads only SymPy
            produces: ``DiracDelta``, relations and logic inside ``Piecewise``).
    """

    name: str
    build: Callable[..., sympy.Expr]
    jax: Callable[..., jax.Array] | None
    heads: tuple[type, ...] = ()
    arity: tuple[int, ...] = (1,)
    aliases: tuple[str, ...] = ()
    taylor: bool = True
    kind: str = "smooth"
    summary: str = ""
    symbolic: bool = True
    symbolic_cancels: bool = False
    public: bool = True

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _fn(head: type, jax_impl: Callable[..., jax.Array], **kw) -> Entry:
    """The entry of a SymPy head that is built, printed and lowered as itself."""
    return Entry(head.__name__, head, jax_impl, (head,), **kw)


def _internal(head: type, jax_impl: Callable[..., jax.Array], **kw) -> Entry:
    return _fn(head, jax_impl, arity=(), public=False, **kw)


def _reciprocal_of(fn):  # sec(x) = 1/cos(x)
    return lambda x: 1 / fn(x)


def _of_reciprocal(fn):  # asec(x) = acos(1/x)
    return lambda x: fn(1 / x)


def _reduce(binary):
    return lambda *args: functools.reduce(binary, args)


def _abs(x):
    # |x| = x·sign(x) exactly, and sign has a (symbolic) zero derivative, so every order of
    # jvp/grad/jet sees Abs' = sign with sign(0) = 0: the mean of the one-sided slopes.
    # (jnp.abs has abs'(0) = 1; a custom_jvp is lost at higher orders and breaks jet.)
    return x * jnp.sign(x)


def _heaviside(x, h0=0.5):
    return jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, h0))


def _dirac_delta(x, *_order):
    return jnp.zeros_like(x)


def _real_part(x):  # jaxcalc's values are real (or NaN where complex): re(u) = u
    return x


def _imaginary_part(x):  # 0, NaN where u is (where the complex value was)
    return 0 * x


def _log(x, base=None):
    return sympy.log(x) if base is None else sympy.log(x) / sympy.log(base)


def _min_max(head):
    def build(*args):  # SymPy compares symbolic arguments pairwise, slowly: fold numbers only
        numbers = [a for a in args if a.is_Number]
        others = [a for a in args if not a.is_Number]
        return head(*others, *([head(*numbers)] if numbers else []), evaluate=False)

    return build


def _mod(x, y):
    return x - y * sympy.floor(x / y)


def _polygamma(n, x):
    # A constant order (the usual case: SymPy's derivatives of loggamma) stays a Python int,
    # weakly typed, so that even strict dtype promotion accepts it next to a float x.
    order = round(n) if isinstance(n, float) else jnp.round(n).astype(jnp.int32)
    return jsp.polygamma(order, x)


def _beta(x, y):  # jax.scipy.special.beta goes through exp(betaln): 1e-6 relative at (10, 2.5)
    return jsp.gamma(x) * jsp.gamma(y) / jsp.gamma(x + y)


def _factorial(x):
    return jsp.gamma(x + 1)


def _binomial(n, k):
    return jsp.gamma(n + 1) / (jsp.gamma(k + 1) * jsp.gamma(n - k + 1))


class logistic(ClosedForm):  # noqa: N801 -- printed name, as SymPy's own functions
    """The logistic sigmoid ``1/(1 + exp(-x))`` as a SymPy head (SymPy has none)."""

    rule = sympy.exp

    @classmethod
    def closed(cls, x):
        return 1 / (1 + sympy.exp(-x))

    def fdiff(self, argindex=1):  # = logistic(x)*(1 - logistic(x)), without its cancellations
        return sympy.sech(self.args[0] / 2) ** 2 / 4


class softplus(ClosedForm):  # noqa: N801 -- printed name, as SymPy's own functions
    """``log(1 + exp(x))`` as a SymPy head (SymPy has none), finite where ``exp(x)``
    overflows."""

    rule = sympy.exp

    @classmethod
    def closed(cls, x):
        return sympy.log(1 + sympy.exp(x))

    def fdiff(self, argindex=1):
        return logistic(self.args[0])


class logaddexp(ClosedForm):  # noqa: N801 -- printed name, as NumPy's
    """``log(exp(x) + exp(y))`` as a SymPy head (SymPy has none), finite where ``exp``
    overflows."""

    nargs, rule = 2, sympy.exp

    @classmethod
    def closed(cls, x, y):
        return sympy.log(sympy.exp(x) + sympy.exp(y))

    def fdiff(self, argindex=1):
        x, y = self.args
        return logistic(x - y) if argindex == 1 else logistic(y - x)


_VARIADIC = tuple(range(2, 33))
_RELATIONS = {sympy.Lt: jnp.less, sympy.Le: jnp.less_equal, sympy.Gt: jnp.greater,
              sympy.Ge: jnp.greater_equal, sympy.Eq: jnp.equal, sympy.Ne: jnp.not_equal}

# fmt: off
ENTRIES: tuple[Entry, ...] = (
    # trigonometric
    _fn(sympy.sin, jnp.sin, summary="sine"),
    _fn(sympy.cos, jnp.cos, summary="cosine"),
    _fn(sympy.tan, stable.tan, summary="tangent"),
    _fn(sympy.sec, _reciprocal_of(jnp.cos), summary="secant 1/cos(x)"),
    _fn(sympy.csc, _reciprocal_of(jnp.sin), summary="cosecant 1/sin(x)"),
    _fn(sympy.cot, stable.cot, summary="cotangent cos(x)/sin(x)"),
    _fn(sympy.asin, stable.asin, aliases=("arcsin",), summary="inverse sine"),
    _fn(sympy.acos, stable.acos, aliases=("arccos",), summary="inverse cosine"),
    _fn(sympy.atan, stable.atan, aliases=("arctan",), summary="inverse tangent"),
    _fn(sympy.atan2, jnp.arctan2, arity=(2,), aliases=("arctan2",),
        summary="atan2(y, x): angle of the point (x, y)"),
    _fn(sympy.asec, _of_reciprocal(stable.acos), summary="inverse secant acos(1/x)"),
    _fn(sympy.acsc, _of_reciprocal(stable.asin), summary="inverse cosecant asin(1/x)"),
    _fn(sympy.acot, _of_reciprocal(stable.atan), summary="inverse cotangent atan(1/x)"),
    # hyperbolic
    _fn(sympy.sinh, jnp.sinh, summary="hyperbolic sine"),
    _fn(sympy.cosh, jnp.cosh, summary="hyperbolic cosine"),
    _fn(sympy.tanh, stable.tanh, summary="hyperbolic tangent"),
    _fn(sympy.sech, stable.sech, summary="hyperbolic secant 1/cosh(x)"),
    _fn(sympy.csch, stable.csch, summary="hyperbolic cosecant 1/sinh(x)"),
    _fn(sympy.coth, stable.coth, summary="hyperbolic cotangent 1/tanh(x)"),
    _fn(sympy.asinh, stable.asinh, aliases=("arcsinh",), summary="inverse hyperbolic sine"),
    _fn(sympy.acosh, stable.acosh, aliases=("arccosh",), summary="inverse hyperbolic cosine"),
    _fn(sympy.atanh, stable.atanh, aliases=("arctanh",), summary="inverse hyperbolic tangent"),
    _fn(sympy.asech, _of_reciprocal(stable.acosh), summary="inverse hyperbolic secant"),
    _fn(sympy.acsch, _of_reciprocal(stable.asinh), summary="inverse hyperbolic cosecant"),
    _fn(sympy.acoth, _of_reciprocal(stable.atanh), summary="inverse hyperbolic cotangent"),
    # exponentials and logarithms
    _fn(sympy.exp, jnp.exp, summary="exponential"),
    Entry("log", _log, jnp.log, (sympy.log,), arity=(1, 2), aliases=("ln",),
          summary="natural logarithm; log(x, b) = log(x)/log(b)"),
    _fn(cfunctions.log10, jnp.log10, summary="base-10 logarithm"),
    _fn(cfunctions.log2, jnp.log2, summary="base-2 logarithm"),
    _fn(cfunctions.exp2, jnp.exp2, taylor=False, summary="2**x"),
    _fn(cfunctions.log1p, stable.log1p, summary="log(1 + x), accurate for small x"),
    _fn(cfunctions.expm1, stable.expm1, summary="exp(x) - 1, accurate for small x"),
    _fn(logistic, stable.logistic, aliases=("sigmoid", "expit"),
        summary="logistic sigmoid 1/(1 + exp(-x))"),
    _fn(softplus, stable.softplus, summary="softplus log(1 + exp(x)), finite for large x"),
    _fn(logaddexp, stable.logaddexp, arity=(2,),
        summary="log(exp(x) + exp(y)), finite for large x, y"),
    # powers (SymPy writes them as x**y; the lowering's power rules compute them)
    Entry("sqrt", sympy.sqrt, None, summary="square root x**(1/2) (NaN for x < 0)"),
    Entry("cbrt", sympy.cbrt, None, taylor=False,
          summary="principal cube root x**(1/3) (NaN for x < 0)"),
    Entry("pow", sympy.Pow, None, arity=(2,), summary="pow(x, y) = x**y"),
    _fn(cfunctions.hypot, stable.hypot, arity=(2,), summary="sqrt(x**2 + y**2) without overflow"),
    # kinks and steps
    Entry("Abs", sympy.Abs, _abs, (sympy.Abs,), aliases=("abs",), kind="kink",
          summary="absolute value"),
    Entry("Max", _min_max(sympy.Max), _reduce(jnp.maximum), (sympy.Max,), arity=_VARIADIC,
          kind="kink", summary="largest argument"),
    Entry("Min", _min_max(sympy.Min), _reduce(jnp.minimum), (sympy.Min,), arity=_VARIADIC,
          kind="kink", summary="smallest argument"),
    _fn(sympy.sign, jnp.sign, kind="step", summary="sign: -1, 0 or 1"),
    _fn(sympy.floor, jnp.floor, kind="step", summary="largest integer <= x"),
    _fn(sympy.ceiling, jnp.ceil, aliases=("ceil",), kind="step",
        summary="smallest integer >= x"),
    _fn(sympy.Heaviside, _heaviside, kind="step", summary="unit step, 1/2 at 0"),
    Entry("Mod", _mod, jnp.mod, (sympy.Mod,), arity=(2,), aliases=("mod",), kind="jump",
          summary="Mod(x, y) = x - y*floor(x/y), the sign of y (Python's %)"),
    # special functions
    _fn(sympy.erf, jsp.erf, summary="error function"),
    _fn(sympy.erfc, stable.erfc, summary="complementary error function 1 - erf(x)"),
    _fn(sympy.erfinv, jsp.erfinv, summary="inverse error function"),
    _fn(sympy.Ei, special.ei, taylor=False, summary="exponential integral Ei(x)"),
    _fn(sympy.gamma, jsp.gamma, taylor=False, summary="gamma function"),
    _fn(sympy.loggamma, jsp.gammaln, aliases=("lgamma",), taylor=False,
        summary="log|gamma(x)|"),
    Entry("digamma", sympy.digamma, None, taylor=False,
          summary="digamma psi(x) = polygamma(0, x)"),
    _fn(sympy.polygamma, _polygamma, arity=(2,), taylor=False,
        summary="polygamma(n, x): n-th derivative of digamma"),
    _fn(sympy.beta, _beta, arity=(2,), taylor=False,
        summary="beta(x, y) = gamma(x)*gamma(y)/gamma(x + y)"),
    _fn(sympy.factorial, _factorial, taylor=False, summary="factorial x! = gamma(x + 1)"),
    _fn(sympy.binomial, _binomial, arity=(2,), taylor=False,
        summary="binomial(n, k) through gamma"),
    _fn(sympy.sinc, tails.sinc, symbolic_cancels=True, summary="sinc(x) = sin(x)/x, 1 at 0"),
    # heads only SymPy produces: derivatives of steps, conditions inside Piecewise
    _internal(sympy.DiracDelta, _dirac_delta, kind="step"),
    # SymPy differentiates Abs(u) through re(u) and im(u) where it cannot prove u real
    # (Abs(acos(x/2))); jaxcalc computes real values only
    _internal(sympy.re, _real_part),
    _internal(sympy.im, _imaginary_part),
    _internal(stable.SquareDifference, stable.sqdiff),  # a**2 - b**2, made by _core.rewrite
    _internal(stable.HypotRatio, stable.cosine),  # a/hypot(a, b), made by _core.rewrite
    _internal(stable.HypotExcess, stable.hypot_excess),  # hypot(a, b) - |a|, made by _core.rewrite
    _internal(stable.Leg, stable.leg),  # sqrt(a**2 - b**2), made by _core.rewrite
    _internal(stable.LogCosh, stable.logcosh),  # log(cosh(u)), made by _core.rewrite
    _internal(stable.LogCoshFar, stable.logcosh_far),  # the same where |u| >= 3/4
    # Taylor tails (sinh(u)/u, (sin(u) - u)/u**3, ...), made by _core.rewrite
    *(_internal(head, fn, symbolic_cancels=True) for head, fn in tails.HEADS.items()),
    *(_internal(head, fn) for head, fn in _RELATIONS.items()),
    _internal(sympy.And, _reduce(jnp.logical_and)),
    _internal(sympy.Or, _reduce(jnp.logical_or)),
    _internal(sympy.Xor, _reduce(jnp.logical_xor)),
    _internal(sympy.Not, jnp.logical_not),
)
# fmt: on
