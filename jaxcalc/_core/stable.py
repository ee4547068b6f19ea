"""Numerically stable JAX functions whose derivative rules keep relative accuracy.

JAX differentiates ``tanh`` as ``1 - tanh(u)**2``: once ``tanh(u)`` rounds to ±1 the derivative
loses every digit, although ``sech(u)**2`` is perfectly representable. Each function here is a
JAX primitive carrying its three rules together (as JAX's own primitives do): the value (a stable
``jax.numpy`` composition), the derivative (``jax.jvp``/``grad``/``vmap`` at any order, written
with the stable functions themselves) and the Taylor-mode rule (``jax.experimental.jet``, which
ignores ``custom_jvp`` rules and would otherwise differentiate the primal's own primitives):

=========  ======================================  =============================================
function   derivative rule                         Taylor rule
=========  ======================================  =============================================
tanh       ``sech(u)**2``                          ODE ``t' = s²``, ``s' = -s·t``
sech       ``-sech(u)·tanh(u)``                    same ODE, from ``sech(u)`` computed stably
coth       ``-csch(u)**2``                         ODE ``c' = -q²``, ``q' = -q·c``
csch       ``-csch(u)·coth(u)``                    same ODE
logistic   ``sech(u/2)**2/4``                      tanh's, as ``(1 + tanh(u/2))/2``
atanh      ``1/(1 - u²)``, factored for |u| ≥ 1/2  series of the derivative
asinh      ``1/hypot(1, u)`` (no overflow)         series of the derivative
acosh      ``1/(sqrt(u - 1)·sqrt(u + 1))``         series of the derivative
log1p      ``1/(1 + u)``                           series of the derivative
expm1      ``exp(u)``                              series of the derivative
erfc       ``-2/sqrt(pi)·exp(-u²)``                series of the derivative
logcosh    ``tanh(u)``                             series of the derivative
softplus   ``logistic(u)``                         series of the derivative
logaddexp  ``logistic(±(a - b))``                  the larger plus softplus of the other less it
hypot      ``a/hypot(a, b)``, ``b/hypot(a, b)``    scaled ``m·sqrt((a/m)² + (b/m)²)``
sqdiff     ``2a``, ``-2b``                         series of ``a²`` minus that of ``b²``
leg        ``a/leg(a, b)``, ``-b/leg(a, b)``       ``|a|·sqrt(1 - (b/a)²)``, or ``sqrt(sqdiff)``
excess     ``-sign(a)·excess/hypot``, ``b/hypot``  hypot's, less ``|a|``'s
=========  ======================================  =============================================

``hypot_excess(a, b) = hypot(a, b) - |a|`` (:class:`HypotExcess`: ``sqrt(1 + x**2) - 1``, the
relativistic kinetic energy) is computed as ``b*(b/(hypot(a, b) + |a|))``, which neither
cancels near ``b = 0`` nor overflows, and differentiated as ``hypot``.

``sqdiff(a, b) = a**2 - b**2`` is computed as ``(a - b)*(a + b)`` (no cancellation near
``|a| = |b|``) but differentiated as ``a**2 - b**2`` (the factored form's product rule would
cancel near ``b = 0``); :class:`SquareDifference` is its SymPy head, produced by
``_core.rewrite``. The ratios ``a/hypot(a, b)`` (:func:`cosine`, SymPy head :class:`HypotRatio`)
have their own rule (``b²/hypot³``, ...), so that second derivatives of ``hypot`` do not cancel
either. ``logcosh(u) = log(cosh(u)) = |u| + log1p(exp(-2|u|)) - log(2)`` is finite where
``cosh`` overflows (|u| > 710 in float64); near 0, where that form cancels, it is a polynomial
in ``u²``, and ``log1p`` is one too, so ``exp`` is its only transcendental function (XLA calls
the scalar libm ``log`` per float64 element on CPU; ``exp`` and polynomials run vectorized).
:class:`LogCosh` is its SymPy head. (Quotients such as ``sin(x)/x`` need no rules of their own:
see ``_core.tails``.) ``tan``, ``cot``, ``asin``, ``acos`` and ``atan`` are compositions of
``sin``, ``cos``, ``atan2`` and ``sqrt``, which Taylor mode can differentiate (``jet`` has no
rules for the former).

In the ODE rules the only subtraction of nearly equal numbers (``1 - t²``) never happens: the
order-0 rate is ``s²`` with ``s = sech(u)`` computed directly. ``hypot`` has derivative 0 at
(0, 0), the mean of the one-sided slopes of ``|a|`` (the convention of ``Abs``).

Example:
    >>> import jax, jax.numpy as jnp
    >>> with jax.enable_x64(True):
    ...     slope = jax.grad(tanh)(jnp.float64(20.0))
    >>> float(slope), float(jax.grad(jnp.tanh)(20.0))
    (1.6993417021166355e-17, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import sympy
from jax import lax
from jax.experimental import jet
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from sympy.codegen import cfunctions

from .heads import ClosedForm

Series = list  # [x0, x1, ..., xn]: a value and its Taylor coefficients


def floats(*xs) -> list[jax.Array]:
    """The arguments as arrays of one float dtype and one shape (Python numbers stay weak)."""
    dtype = jnp.result_type(*xs)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)  # the default float dtype
    return jnp.broadcast_arrays(*(jnp.asarray(x).astype(dtype) for x in xs))


def _inlined(fn: Callable) -> Callable:
    """``fn`` with the ``jit`` wrappers of the ``jax.numpy`` functions it calls inlined
    (``jax.disable_jit``, this thread only): lowering a primitive traces its operations
    straight into the program instead of tracing and lowering a nested program per ``jnp``
    call (``log1p``'s lowering: ~3 ms less of a first call's ~80). Values are straight-line
    code: ``jax.disable_jit`` would unroll a ``lax`` loop."""

    def inlined(*xs):
        with jax.disable_jit():
            return fn(*xs)

    return inlined


def _primitive(name: str, value: Callable, derivatives: Sequence[Callable], taylor: Callable):
    """An elementwise primitive with its value, partial derivatives and Taylor rule."""
    prim = Primitive(f"jaxcalc_{name}")
    prim.def_impl(value)
    prim.def_abstract_eval(lambda *avals: avals[0])
    mlir.register_lowering(prim, mlir.lower_fun(_inlined(value), multiple_results=False))
    if len(derivatives) == 1:
        batching.defvectorized(prim)
    else:
        batching.defbroadcasting(prim)
    ad.defjvp(prim, *(lambda g, *xs, d=d: g * d(*xs) for d in derivatives))
    jet.jet_rules[prim] = taylor

    def bound(*xs):
        return prim.bind(*floats(*xs))

    bound.__name__ = bound.__qualname__ = name
    bound.prim = prim
    return bound


# -- Taylor rules --------------------------------------------------------------------------
def _series(fn, primals, series):
    """``jet`` on plain Taylor coefficients (as jet rules see them), not derivatives."""
    return jet.jet(fn, primals, series, factorial_scaled=False)


def _cauchy(a: Series, b: Series, m: int):
    """Coefficient ``m`` of the product of two series."""
    return sum(a[i] * b[m - i] for i in range(m + 1))


def _compose(rates: Series, u: Series, k: int):
    """Coefficient ``k`` of ``y(u(t))`` from ``dy/du`` (coefficients up to ``k - 1``)."""
    return sum(j * u[j] * rates[k - j] for j in range(1, k + 1)) / k


def _by_derivative(value: Callable, derivative: Callable):
    """Taylor rule of a unary function from the series of its (stable) derivative."""

    def rule(primals, series):
        (x,), (terms,) = primals, series
        u = [x, *terms]
        if len(terms) == 1:
            rates = [derivative(x)]
        else:
            first, rest = _series(derivative, (x,), (terms[:-1],))
            rates = [first, *rest]
        out = [value(x)] + [_compose(rates, u, k) for k in range(1, len(u))]
        return out[0], out[1:]

    return rule


def _by_ode(values: Callable, rates: Callable, output: int):
    """Taylor rule of component ``output`` of ``y(u)`` solving ``dy/du = rates(y)``.

    ``values(x)`` gives ``y`` at the expansion point; ``rates(y, m)`` gives coefficient ``m`` of
    each component of ``dy/du`` from the coefficients of ``y`` up to ``m``.
    """

    def rule(primals, series):
        (x,), (terms,) = primals, series
        u = [x, *terms]
        ys = [[y] for y in values(x)]
        history = [[] for _ in ys]
        for k in range(1, len(u)):
            for past, rate in zip(history, rates(ys, k - 1), strict=True):
                past.append(rate)
            for y, past in zip(ys, history, strict=True):
                y.append(_compose(past, u, k))
        return ys[output][0], ys[output][1:]

    return rule


def _tanh_sech(y, m):  # t' = s², s' = -s·t
    t, s = y
    return _cauchy(s, s, m), -_cauchy(s, t, m)


def _coth_csch(y, m):  # c' = -q², q' = -q·c
    c, q = y
    return -_cauchy(q, q, m), -_cauchy(q, c, m)




# -- values --------------------------------------------------------------------------------
def _sech_value(x):
    e = jnp.exp(-jnp.abs(x))  # 2e/(1 + e²): no overflow of cosh
    return 2 * e / (1 + e * e)


def _csch_value(x):
    return 1 / jnp.sinh(x)


def _coth_value(x):
    return 1 / jnp.tanh(x)


def _logistic_taylor(primals, series):
    """``logistic(u) = (1 + tanh(u/2))/2``: the coefficients of ``tanh(u/2)``, halved."""
    (x,), (terms,) = primals, series
    _, tanh_terms = jet.jet_rules[tanh.prim]((x / 2,), ([t / 2 for t in terms],))
    return jax.nn.sigmoid(x), [t / 2 for t in tanh_terms]


def _nonzero(h):
    """``h``, with 1 where it is 0 (a divisor: ``hypot``'s ratios are 0 at the origin)."""
    return jnp.where(h == 0, 1, h)


def _hypot_scaled(a, b):
    """``m·sqrt((a/m)² + (b/m)²)``, ``m = max(|a|, |b|)``: no overflow, and (unlike
    ``jnp.hypot``) made of primitives that Taylor mode differentiates at any order."""
    m = jnp.maximum(jnp.abs(a), jnp.abs(b))
    m = _nonzero(m)
    return m * jnp.sqrt((a / m) ** 2 + (b / m) ** 2)


def _hypot_taylor(primals, series):
    a, b = primals
    _, terms = _series(_hypot_scaled, tuple(primals), tuple(series))
    return jnp.hypot(a, b), terms


def _cosine_value(a, b):
    h = jnp.hypot(a, b)
    # 0 at the origin (the mean one-sided slope); the barrier keeps XLA from reassociating
    # (a/h)/h**2 into a/h**3, which overflows where the ratio was meant to avoid it
    return jax.lax.optimization_barrier(a / _nonzero(h))


def _cosine_scaled(a, b):
    h = _hypot_scaled(a, b)
    return a / _nonzero(h)


def _cosine_taylor(primals, series):
    _, terms = _series(_cosine_scaled, tuple(primals), tuple(series))
    return _cosine_value(*primals), terms


def _leg_value(a, b):
    a, b = jnp.abs(a), jnp.abs(b)  # NaN where |a| < |b|, as sqrt(a**2 - b**2)
    return jnp.sqrt(a - b) * jnp.sqrt(a + b)


def _leg_series_form(a, b):
    """``sqrt(a² - b²)`` made of primitives whose Taylor rules keep relative accuracy:
    ``|a|·sqrt(1 - (b/a)²)`` away from ``|a| = |b|``, ``sqrt(sqdiff(a, b))`` near it."""
    far = jnp.abs(a) >= 2 * jnp.abs(b)
    safe_a = jnp.where(far, a, 1)
    return jnp.where(far, jnp.abs(safe_a) * jnp.sqrt(1 - (b / safe_a) ** 2),
                     jnp.sqrt(sqdiff(a, b)))


def _leg_taylor(primals, series):
    _, terms = _series(_leg_series_form, tuple(primals), tuple(series))
    return _leg_value(*primals), terms


def _over_leg(numerator: int):
    """``a/leg(a, b)`` (0) or ``b/leg(a, b)`` (1): value and Taylor rule."""

    def value(a, b):
        return jax.lax.optimization_barrier((a, b)[numerator] / _leg_value(a, b))

    def taylor(primals, series):
        form = lambda a, b: (a, b)[numerator] / _leg_series_form(a, b)  # noqa: E731
        _, terms = _series(form, tuple(primals), tuple(series))
        return value(*primals), terms

    return value, taylor


def _excess_value(a, b):
    # b*(b/(h + |a|)), not b**2/(h + |a|): b**2 overflows first; the barrier keeps XLA from
    # reassociating it into that
    return b * jax.lax.optimization_barrier(b / _nonzero(jnp.hypot(a, b) + jnp.abs(a)))


def _excess_taylor(primals, series):
    (a, _), (a_terms, _) = primals, series
    _, terms = _hypot_taylor(primals, series)
    return _excess_value(*primals), [t - jnp.sign(a) * s for t, s in zip(terms, a_terms,
                                                                          strict=True)]


def _logaddexp_series_form(a, b):
    """The larger argument plus ``softplus`` of the other less it: smooth (unlike ``max``),
    and the larger argument's series is not cancelled."""
    return jnp.where(a >= b, a + softplus(b - a), b + softplus(a - b))


def _logaddexp_taylor(primals, series):
    _, terms = _series(_logaddexp_series_form, tuple(primals), tuple(series))
    return jnp.logaddexp(*primals), terms


def _sqdiff_taylor(primals, series):
    (a, b), (a_terms, b_terms) = primals, series
    a, b = [a, *a_terms], [b, *b_terms]
    terms = [_cauchy(a, a, k) - _cauchy(b, b, k) for k in range(1, len(a))]
    return (a[0] - b[0]) * (a[0] + b[0]), terms


# -- the functions -------------------------------------------------------------------------
tanh = _primitive(
    "tanh", jnp.tanh, [lambda x: sech(x) ** 2],
    _by_ode(lambda x: (jnp.tanh(x), _sech_value(x)), _tanh_sech, 0))
sech = _primitive(
    "sech", _sech_value, [lambda x: -sech(x) * tanh(x)],
    _by_ode(lambda x: (jnp.tanh(x), _sech_value(x)), _tanh_sech, 1))
coth = _primitive(
    "coth", _coth_value, [lambda x: -csch(x) ** 2],
    _by_ode(lambda x: (_coth_value(x), _csch_value(x)), _coth_csch, 0))
csch = _primitive(
    "csch", _csch_value, [lambda x: -csch(x) * coth(x)],
    _by_ode(lambda x: (_coth_value(x), _csch_value(x)), _coth_csch, 1))
logistic = _primitive(
    "logistic", jax.nn.sigmoid, [lambda x: sech(x / 2) ** 2 / 4], _logistic_taylor)

hypot = _primitive(
    "hypot", jnp.hypot, [lambda a, b: cosine(a, b), lambda a, b: cosine(b, a)], _hypot_taylor)
#: ``a/hypot(a, b)``, the partial derivative of ``hypot`` in ``a``
cosine = _primitive(
    "cosine", _cosine_value,
    [lambda a, b: cosine(b, a) ** 2 / hypot(a, b),
     lambda a, b: -cosine(a, b) * cosine(b, a) / hypot(a, b)], _cosine_taylor)
#: ``hypot(a, b) - |a|`` without cancellation (near ``b = 0``) or overflow
hypot_excess = _primitive(
    "hypot_excess", _excess_value,
    [lambda a, b: -jnp.sign(a) * hypot_excess(a, b) / _nonzero(hypot(a, b)),  # a/h - sign(a)
     lambda a, b: cosine(b, a)], _excess_taylor)
#: ``log(exp(a) + exp(b))`` without overflow; partials ``logistic(a - b)``, ``logistic(b - a)``
logaddexp = _primitive(
    "logaddexp", jnp.logaddexp,
    [lambda a, b: logistic(a - b), lambda a, b: logistic(b - a)], _logaddexp_taylor)
#: ``a**2 - b**2`` without cancellation, in value and derivative
sqdiff = _primitive(
    "sqdiff", lambda a, b: (a - b) * (a + b), [lambda a, b: 2 * a, lambda a, b: -2 * b],
    _sqdiff_taylor)


#: ``leg(a, b) = sqrt(a**2 - b**2)``; its partials ``a/leg`` and ``-b/leg`` are :func:`leg_a`
#: and ``-``:func:`leg_b`, whose own partials (``-b²/leg³``, ...) never subtract
leg = _primitive("leg", _leg_value, [lambda a, b: leg_a(a, b), lambda a, b: -leg_b(a, b)],
                 _leg_taylor)
_leg_a_value, _leg_a_taylor = _over_leg(0)
_leg_b_value, _leg_b_taylor = _over_leg(1)
leg_a = _primitive("leg_a", _leg_a_value,
                   [lambda a, b: -leg_b(a, b) ** 2 / leg(a, b),
                    lambda a, b: leg_a(a, b) * leg_b(a, b) / leg(a, b)], _leg_a_taylor)
leg_b = _primitive("leg_b", _leg_b_value,
                   [lambda a, b: -leg_a(a, b) * leg_b(a, b) / leg(a, b),
                    lambda a, b: (1 + leg_b(a, b) ** 2) / leg(a, b)], _leg_b_taylor)


class Leg(ClosedForm):
    """``Leg(a, b) = sqrt(a**2 - b**2)``, lowered by :func:`leg`."""

    nargs, rule, real_valued = 2, sympy.Pow, False

    @classmethod
    def closed(cls, a, b):
        return sympy.sqrt(a**2 - b**2)

    def fdiff(self, argindex=1):
        a, b = self.args
        return a / self if argindex == 1 else -b / self


class HypotRatio(ClosedForm):
    """``HypotRatio(a, b) = a/hypot(a, b)``, lowered by :func:`cosine`: ``x/hypot(1, x)**3``
    as ``HypotRatio(x, 1)/hypot(1, x)**2`` keeps clear of overflow at large ``x``."""

    nargs, rule = 2, sympy.Pow

    @classmethod
    def closed(cls, a, b):
        return a / sympy.sqrt(a**2 + b**2)

    def fdiff(self, argindex=1):
        a, b = self.args
        h = sympy.sqrt(a**2 + b**2)
        return b**2 / h**3 if argindex == 1 else -a * b / h**3


class HypotExcess(ClosedForm):
    """``HypotExcess(a, b) = hypot(a, b) - |a|``, lowered by :func:`hypot_excess`."""

    nargs, rule = 2, sympy.Pow

    @classmethod
    def closed(cls, a, b):
        return sympy.sqrt(a**2 + b**2) - sympy.Abs(a)

    def fdiff(self, argindex=1):
        a, b = self.args
        if argindex == 1:  # a/hypot(a, b) - sign(a), without cancellation
            return -sympy.sign(a) * self / cfunctions.hypot(a, b)
        return HypotRatio(b, a)


class SquareDifference(ClosedForm):
    """``SquareDifference(a, b) = a**2 - b**2``, lowered by :func:`sqdiff`."""

    nargs, rule = 2, sympy.Pow

    @classmethod
    def closed(cls, a, b):
        return a**2 - b**2

    def fdiff(self, argindex=1):
        return 2 * self.args[0] if argindex == 1 else -2 * self.args[1]


def _atanh_rate(x):
    # 1 - x² without cancellation near |x| = 1, and with a derivative (-2x) that keeps its
    # relative accuracy near 0, where the factored form's -(1 + x) + (1 - x) would cancel
    return 1 / jnp.where(jnp.abs(x) < 0.5, 1 - x * x, (1 - x) * (1 + x))


def _asinh_rate(x):
    return 1 / hypot(1.0, x)


def _acosh_rate(x):
    return 1 / (jnp.sqrt(x - 1) * jnp.sqrt(x + 1))


def _log1p_rate(x):
    return 1 / (1 + x)


def _log1p_value(x):
    """``log(u)·x/(u - 1)`` with ``u = 1 + x`` rounded (Goldberg, "What every computer scientist
    should know about floating-point arithmetic", thm. 4): within 2.5 ulp of ``log1p``, where
    XLA:CPU's own ``log1p`` is off by up to 122 ulp in float64 (near x = -0.41) and takes half
    again as long to compile. The barrier keeps XLA from folding ``(1 + x) - 1`` to ``x``."""
    u = lax.optimization_barrier(1 + x)
    rounded = u - 1
    value = jnp.where(rounded == 0, x, jnp.log(u) * (x / rounded))
    return jnp.where(u == jnp.inf, u, value)


#: ``log(cosh(u))/u²`` for ``u² <= 9/16`` as a polynomial in ``u²`` (highest power first): the
#: Chebyshev fit ``mpmath.chebyfit(lambda z: log(cosh(sqrt(z)))/z, [0, 9/16], 13)``, error 1e-18
_LOGCOSH_NEAR = (
    1.712980917330056e-07, -1.0877301036102407e-06, 3.953222593287847e-06,
    -1.1702763976921858e-05, 3.268047270322507e-05, -9.096279781304856e-05,
    0.00025657553171000224, -0.0007386023221838909, 0.0021869488014526445,
    -0.0067460317434871325, 0.02222222222215754, -0.08333333333333269, 0.5)
#: ``log1p(t)/t`` for ``0 <= t <= exp(-3/2)`` as a polynomial in ``t``: the Chebyshev fit
#: ``mpmath.chebyfit(lambda t: log1p(t)/t, [0, exp(-3/2)], 14)``, error 1e-19
_LOG1P_SMALL = (
    -0.018491789297649656, 0.04893749123622228, -0.07336785653064291, 0.08844938503130044,
    -0.09957055711311226, 0.11105760637426422, -0.12499525480439726, 0.1428568475477264,
    -0.16666665413132883, 0.19999999965402288, -0.24999999999426345, 0.3333333333332836,
    -0.49999999999999983, 1.0)


def horner(coefficients: Sequence[float], x):
    """The polynomial with ``coefficients`` (highest power first) at the array ``x``, in
    ``lax`` operations (traced twice as fast as ``jnp``'s, with the same values), the
    coefficients rounded to ``x``'s dtype (``lax`` does not promote: under x64 a Python float
    would be a float64 beside float32 points)."""
    rounded = np.asarray(coefficients, x.dtype)
    result = rounded[0]
    for c in rounded[1:]:
        result = lax.add(lax.mul(result, x), c)
    return result


#: From this |u| on, ``log(cosh(u))`` is computed by :func:`_logcosh_far_of_abs`.
LOGCOSH_FAR = 0.75


def _logcosh_far_of_abs(a):
    """``a - log(2) + log1p(exp(-2a))`` for ``a = |u|`` (``log1p`` a polynomial): within ~1 ulp
    from ``a = 3/4`` on (below, the terms cancel)."""
    t = jnp.exp(-2 * a)
    return (a - math.log(2)) + t * horner(_LOG1P_SMALL, t)


def _logcosh_far_value(x):
    return _logcosh_far_of_abs(jnp.abs(x))


def _logcosh_value(x):
    """``u²·P(u²)`` below ``|u| = 3/4``, :func:`_logcosh_far_of_abs` above: within ~1 ulp in
    float32 and float64."""
    a = jnp.abs(x)
    z = a * a
    return jnp.where(a < LOGCOSH_FAR, z * horner(_LOGCOSH_NEAR, z),
                     _logcosh_far_of_abs(jnp.maximum(a, LOGCOSH_FAR)))


def _erfc_rate(x):
    return (-2 / math.sqrt(math.pi)) * jnp.exp(-(x * x))


def _unary(name: str, value: Callable, derivative: Callable):
    return _primitive(name, value, [derivative], _by_derivative(value, derivative))


atanh = _unary("atanh", jnp.arctanh, _atanh_rate)
asinh = _unary("asinh", jnp.arcsinh, _asinh_rate)
acosh = _unary("acosh", jnp.arccosh, _acosh_rate)
log1p = _unary("log1p", _log1p_value, _log1p_rate)
expm1 = _unary("expm1", jnp.expm1, jnp.exp)
erfc = _unary("erfc", jsp.erfc, _erfc_rate)
logcosh = _unary("logcosh", _logcosh_value, tanh)
#: ``log(1 + exp(u)) = max(u, 0) + log1p(exp(-|u|))``: no overflow (as written, inf from
#: u ≈ 710), and no cancellation for u << 0
softplus = _unary("softplus",
                  lambda x: jnp.maximum(x, 0) + _log1p_value(jnp.exp(-jnp.abs(x))), logistic)
#: ``logcosh`` where ``|u| >= 3/4`` (:class:`LogCoshFar`): a third of its operations, so its
#: programs compile faster (the ten nested levels of the benchmark's f5: 76-94 against 111 ms)
logcosh_far = _unary("logcosh_far", _logcosh_far_value, tanh)


# Taylor mode (jet) has no rules for tan, asin, acos, atan: these compositions of functions
# that have them (sin, cos, atan2, sqrt) serve every derivative rule.
def tan(x):
    return jnp.sin(x) / jnp.cos(x)


def cot(x):
    return jnp.cos(x) / jnp.sin(x)


def asin(x):
    return jnp.arctan2(x, jnp.sqrt((1 - x) * (1 + x)))


def acos(x):
    return jnp.arctan2(jnp.sqrt((1 - x) * (1 + x)), x)


def atan(x):
    return jnp.arctan2(x, jnp.ones_like(x))


class LogCosh(ClosedForm):
    """``LogCosh(u) = log(cosh(u))``, lowered by :func:`logcosh`."""

    rule = sympy.cosh

    @classmethod
    def closed(cls, u):
        return sympy.log(sympy.cosh(u))

    def fdiff(self, argindex=1):
        return sympy.tanh(self.args[0])

    def _eval_is_extended_nonnegative(self):
        return True if self.args[0].is_extended_real else None


class LogCoshFar(LogCosh):
    """``LogCosh(u)`` where SymPy proves ``|u| >= 3/4``, lowered by :func:`logcosh_far`."""
