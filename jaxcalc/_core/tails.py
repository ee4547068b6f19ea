"""Taylor tails: ``(g(u) - T(u))/u**(p + 1)``, ``T`` the degree-``p`` Taylor polynomial at 0 of
``g``, and the remainders ``g(u) - T(u)``, computed so that values and derivatives keep their
digits near 0.

Formulas as people write them hold such quotients, each with a removable singularity at 0:
``sin(x)/x``, ``(exp(x) - 1)/x``, ``(x - sin(x))/x**3``, ``log(1 + x)/x``, ``atan(x)/x``, and
such differences: ``x - sin(x)``, ``exp(x) - 1 - x``, ``x - log(1 + x)``, ``tan(x) - x``. As
written, the difference cancels near 0 (``x - sin(x)`` keeps ~``2·log10(1/|x|)`` digits fewer
than ``x``) and the quotient rule cancels in every derivative: ``sin(x)/x`` at 1e-8 had f'' = 0
instead of -1/3 and f''' = -1e9 instead of 2e-9, ``atan(x)/x`` f' = +1.8e-8 instead of
-6.7e-9, ``tan(x) - x`` f' = 0 instead of 1e-16. Below :data:`NEAR` (by ``p``; for functions
of finite radius :data:`NEAR_FINITE`) a tail is its own Taylor polynomial (in ``u**2`` where
only even powers occur), which ``grad``, ``jvp`` and ``jet`` differentiate exactly, and a
remainder that polynomial times ``u**(p + 1)``; beyond it, the quotient or difference as written
(``g(u) - g(0)`` computed without cancellation: ``expm1``, ``-2*sin(u/2)**2``, ``log1p``), whose
derivatives there lose few bits. A remainder is not its tail times ``u**(p + 1)`` far out: that
product rule cancels where ``g``'s derivatives decay (``exp(x) - 1 - x`` at x = -30: f'' =
exp(x) lost 4 digits). The junctions of the entire functions are where both forms' derivatives
of orders 0-4 stay within 5e-15 (``p <= 1``) and 3e-14 (``p = 2, 3``) of mpmath, measured under
``jit``: the higher ``p``, the more the quotient rule cancels, the farther out. Series of
radius 1 (``log1p``, ``atan``, ``atanh``, ``asin``, ``asinh``) or π/2 (``tan``, ``tanh``) need
20-80 terms at 0.3-0.7, and the quotients beyond lose more: orders 0-2 within 1e-14
(``g(u)/u``) to 1e-12 (``(asinh(u) - u)/u**3``), orders 3-4 up to 4e-10.

``_core.rewrite`` makes these heads from the formulas (``sin(u)**m * u**-n`` and the like for
the quotients by ``u``, ``c*g(u) - c*T(u)`` for the remainders, a remainder over ``u**n`` for
the other quotients); each lowers to its function here:

===================================  =============================================
head                                 value
===================================  =============================================
sinc                                 ``sin(u)/u`` (also typed: ``sinc``)
Sinhc, Exprel                        ``sinh(u)/u``, ``(exp(u) - 1)/u``
Log1pc, Atanc, Atanhc, Asinc,        ``g(u)/u``: ``log1p``, ``atan``, ``atanh``,
Asinhc, Tanc, Tanhc                  ``asin``, ``asinh``, ``tan``, ``tanh``
SinTail3, SinhTail3                  ``(sin(u) - u)/u**3``, ``(sinh(u) - u)/u**3``
ExpTail2, ExpTail3                   ``(exp(u) - 1 - u)/u**2``, ``(... - u**2/2)/u**3``
CosTail4, CoshTail4                  ``(cos(u) - 1 + u**2/2)/u**4``, ``cosh``'s
Log1pTail2, Log1pTail3               ``(log1p(u) - u)/u**2``, ``(... + u**2/2)/u**3``
AtanTail3, AtanhTail3, AsinTail3,    ``(g(u) - u)/u**3``
AsinhTail3, TanTail3, TanhTail3
SinRest3, ExpRest2, ..., TanhRest3   ``g(u) - T(u)``: each ``...Tail`` head above
                                     times ``u**(p + 1)``
Langevin                             ``coth(u) - 1/u``
Xcoth                                ``u*coth(u)``
Bose                                 ``1/expm1(u) - 1/u``
===================================  =============================================

Langevin's function is ``coth`` less its pole: as written it loses every digit near 0
(``coth(1e-8)`` is 1e8 + 3.3e-9); :func:`langevin` is a quotient of two Taylor polynomials
there, and :func:`xcoth` is ``1 + u*langevin(u)`` there (the derivatives of ``u*coth(u)`` as
written cancel near 0).

Example:
    >>> import jax, jax.numpy as jnp
    >>> with jax.enable_x64(True):
    ...     print(float(jax.grad(sinc)(jnp.float64(1e-9))))  # -x/3
    -3.333333333333333e-10
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> SinTail3(x).rewrite(sympy.sin), SinTail3(0), SinRest3(x).rewrite(sympy.sin)
    ((-x + sin(x))/x**3, -1/6, -x + sin(x))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import sympy
from sympy.codegen.cfunctions import expm1, log1p

from . import stable
from .heads import ClosedForm


def _entire(cycle: tuple[int, ...]) -> Callable[[int], sympy.Rational]:
    """The coefficients ``cycle[n % 4]/n!`` (sin, cos, sinh, cosh, exp)."""
    return lambda n: sympy.Rational(cycle[n % 4], math.factorial(n))


def _odd(odd: Callable[[int], sympy.Rational]) -> Callable[[int], sympy.Rational]:
    """The coefficients of an odd function: ``odd(k)`` that of ``u**(2*k + 1)``."""
    return lambda n: odd(n // 2) if n % 2 else sympy.Integer(0)


def _tanh_odd(k: int) -> sympy.Rational:
    """``tanh``'s coefficient of ``u**(2*k + 1)``, from the Bernoulli number ``B(2k + 2)``."""
    m = 2 * k + 2
    return 2**m * (2**m - 1) * sympy.bernoulli(m) / math.factorial(m)


def _asin_odd(k: int) -> sympy.Rational:
    return sympy.binomial(2 * k, k) / (4**k * (2 * k + 1))


#: The functions whose tails jaxcalc computes → their Taylor coefficients at 0, by power: the
#: entire ones, and those converging for |u| < 1 (log1p, the inverse functions) or < π/2 (tan,
#: tanh)
_SERIES: dict[type, Callable[[int], sympy.Rational]] = {
    sympy.sin: _entire((0, 1, 0, -1)), sympy.cos: _entire((1, 0, -1, 0)),
    sympy.sinh: _entire((0, 1, 0, 1)), sympy.cosh: _entire((1, 0, 1, 0)),
    sympy.exp: _entire((1, 1, 1, 1)),
    log1p: lambda n: sympy.Rational((-1) ** (n + 1), n) if n else sympy.Integer(0),
    sympy.atan: _odd(lambda k: sympy.Rational((-1) ** k, 2 * k + 1)),
    sympy.atanh: _odd(lambda k: sympy.Rational(1, 2 * k + 1)),
    sympy.asin: _odd(_asin_odd), sympy.asinh: _odd(lambda k: (-1) ** k * _asin_odd(k)),
    sympy.tan: _odd(lambda k: (-1) ** k * _tanh_odd(k)), sympy.tanh: _odd(_tanh_odd),
}
#: ``g(u) - g(0)``, computed without cancellation (and with Taylor-mode rules)
_FROM_ZERO: dict[type, Callable[[jax.Array], jax.Array]] = {
    sympy.sin: jnp.sin, sympy.sinh: jnp.sinh, sympy.exp: stable.expm1,
    sympy.cos: lambda u: -2 * jnp.sin(u / 2) ** 2, sympy.cosh: lambda u: 2 * jnp.sinh(u / 2) ** 2,
    log1p: stable.log1p, sympy.atan: stable.atan, sympy.atanh: stable.atanh,
    sympy.asin: stable.asin, sympy.asinh: stable.asinh, sympy.tan: stable.tan,
    sympy.tanh: stable.tanh,
}
#: Below this |u| a tail of an entire function of degree ``p`` is its Taylor polynomial, by
#: ``p``: the measured junctions (``sin(u)/u``'s fourth derivative loses 7 bits at |u| = 1.8
#: as a quotient; the quotient ``(sin(u) - u)/u**3`` 3.5e-14 of its derivatives at 3.5, 7.6e-15
#: at 5).
NEAR = {0: 2.5, 1: 3.5, 2: 4.5, 3: 4.5}
#: The same for the functions of finite radius, by function and ``p``: each measured against
#: 120-digit mpmath on both sides of candidates (0.2, 0.3, 0.4; tan and tanh 0.3, 0.5, 0.7) for
#: the least error of orders 0-2 with at most ~80 terms (the quotients lose ~``k·log10(1/|u|)``
#: digits at order ``k`` beyond; polynomials of radius 1 need 40-80 terms at 0.3-0.4)
NEAR_FINITE = {log1p: {0: 0.3, 1: 0.4, 2: 0.4}, sympy.atan: {0: 0.3, 2: 0.4},
               sympy.atanh: {0: 0.3, 2: 0.3}, sympy.asin: {0: 0.4, 2: 0.4},
               sympy.asinh: {0: 0.4, 2: 0.4}, sympy.tan: {0: 0.5, 2: 0.7},
               sympy.tanh: {0: 0.7, 2: 0.7}}


@functools.cache
def coefficient(g: type, n: int) -> sympy.Rational:
    """The n-th Taylor coefficient of ``g`` at 0."""
    return sympy.Rational(_SERIES[g](n))


def _float(r: sympy.Rational) -> float:
    return r.p / r.q  # correctly rounded (Python's int division), 20x faster than float(r)


def _polynomial(coefficients: list[float], near: float) -> tuple[tuple[float, ...], bool]:
    """A Taylor series at 0 (``coefficients``, lowest power first), truncated to as many terms
    as keep derivatives up to order 8 within float64 rounding below ``near`` (highest power
    first), and whether the terms are in ``u**2`` (only even powers occur)."""
    even = not any(coefficients[1::2])
    terms, step = (coefficients[::2], near**2) if even else (coefficients, near)
    size = next(m for m in range(1, len(terms) - 8) if all(
        abs(c) * step**k * k**8 < 1e-19 * abs(terms[0]) for k, c in enumerate(terms[m:m + 8], m)))
    return tuple(reversed(terms[:size])), even


def _sides(x, near: float):
    """``(x, close, far)``: ``x`` as an array, whether ``|x| < near``, and ``x`` where it is not
    (else ``near``: the far form, unused there, and its derivative stay finite)."""
    (x,) = stable.floats(x)
    close = jnp.abs(x) < near
    return x, close, jnp.where(close, near, x)


@functools.cache
def _expansion(g: type, p: int) -> tuple[float, tuple[float, ...], bool, tuple]:
    """What a tail of ``g`` after degree ``p`` and its remainder share: the junction, the
    polynomial's terms and whether they are in ``u**2`` (:func:`_polynomial`), and the Taylor
    terms ``(n, coefficient)`` of degrees 1 to ``p``."""
    near = NEAR_FINITE[g][p] if g in NEAR_FINITE else NEAR[p]
    terms, even = _polynomial([_float(coefficient(g, p + 1 + n)) for n in range(120)], near)
    low = tuple((n, c) for n in range(1, p + 1) if (c := _float(coefficient(g, n))))
    return near, terms, even, low


def tail_function(g: type, p: int, name: str,
                  rest: bool = False) -> Callable[[jax.Array], jax.Array]:
    """The JAX function of the tail of ``g`` (a key of ``_SERIES``) after degree ``p``, or with
    ``rest``, of the remainder ``g(x) - T(x)`` (the tail times ``x**(p + 1)``)."""
    near, terms, even, low = _expansion(g, p)
    from_zero = _FROM_ZERO[g]

    def tail(x):
        x, close, far = _sides(x, near)
        difference = from_zero(far)
        for n, c in low:
            difference = difference - c * far**n
        polynomial = stable.horner(terms, x * x if even else x)
        if rest:
            return jnp.where(close, x ** (p + 1) * polynomial, difference)
        return jnp.where(close, polynomial, difference / far ** (p + 1))

    tail.__name__ = tail.__qualname__ = name
    tail.__doc__ = (f"``{g.__name__}(x) - T(x)``" if rest else
                    f"``({g.__name__}(x) - T(x))/x**{p + 1}``") + (
        f", ``T`` its degree-{p} Taylor polynomial at 0; accurate near 0 to every order (see "
        "the module).")
    return tail


def _taylor(g: type, p: int, u: sympy.Expr) -> sympy.Expr:
    """The degree-``p`` Taylor polynomial of ``g`` at 0, at ``u``."""
    return sum(coefficient(g, n) * u**n for n in range(p + 1))


def _taylor_rate(g: type, p: int, u: sympy.Expr) -> sympy.Expr:
    """The derivative of :func:`_taylor` by ``u``."""
    return sum(n * coefficient(g, n) * u ** (n - 1) for n in range(1, p + 1))


class Removable(ClosedForm):
    """A quotient with a removable singularity at ``u = 0`` (its ``closed`` form), and
    ``at_zero`` its limit there. Subclasses set ``at_zero``, ``rule`` and ``closed``."""

    at_zero: sympy.Rational

    @classmethod
    def eval(cls, u):
        return cls.at_zero if u.is_zero else super().eval(u)


class Tail(Removable):
    """``(g(u) - T(u))/u**(p + 1)``, ``T`` the degree-``p`` Taylor polynomial of ``g`` at 0.
    Subclasses set ``g`` (also their ``rule``) and ``p``."""

    g: type
    p: int

    @classmethod
    def closed(cls, u: sympy.Expr) -> sympy.Expr:
        return (cls.g(u) - _taylor(cls.g, cls.p, u)) / u ** (cls.p + 1)

    def fdiff(self, argindex=1):
        (u,) = self.args
        rate = self.g(u).fdiff() - _taylor_rate(self.g, self.p, u)
        return rate / u ** (self.p + 1) - (self.p + 1) * self / u


class Rest(ClosedForm):
    """``g(u) - T(u)`` (``u**(p + 1)*tail(u)``), ``T`` the degree-``p`` Taylor polynomial of
    ``g`` at 0: near 0 that product, beyond it the difference as written, whose derivatives
    (``g'(u) - T'(u)``, ...) keep the digits a product rule would cancel where ``g``'s decay
    (``exp(x) - 1 - x`` at x = -30: f'' = exp(x)). Subclasses set ``tail`` (a :class:`Tail`),
    ``g`` (also their ``rule``) and ``p``."""

    tail: type[Tail]
    g: type
    p: int

    @classmethod
    def closed(cls, u: sympy.Expr) -> sympy.Expr:
        return cls.g(u) - _taylor(cls.g, cls.p, u)

    def fdiff(self, argindex=1):
        (u,) = self.args
        return self.g(u).fdiff() - _taylor_rate(self.g, self.p, u)


def _head(name: str, g: type, p: int, formula: str) -> type[Tail]:
    """The :class:`Tail` of ``g`` after degree ``p``, a SymPy head called ``name``."""
    return type(name, (Tail,), {"g": g, "rule": g, "p": p, "at_zero": coefficient(g, p + 1),
                                "__doc__": f"``{formula}``.", "__module__": __name__})


class Langevin(Removable):
    """``coth(u) - 1/u``, the Langevin function: ``coth`` less its pole."""

    at_zero = sympy.Integer(0)
    rule = sympy.coth

    @classmethod
    def closed(cls, u: sympy.Expr) -> sympy.Expr:
        return sympy.coth(u) - 1 / u

    def fdiff(self, argindex=1):
        (u,) = self.args
        return u**-2 - sympy.csch(u) ** 2


class Xcoth(Removable):
    """``u*coth(u)``, ``1 + u*Langevin(u)``."""

    at_zero = sympy.Integer(1)
    rule = sympy.coth

    @classmethod
    def closed(cls, u: sympy.Expr) -> sympy.Expr:
        return u * sympy.coth(u)

    def fdiff(self, argindex=1):
        (u,) = self.args
        return sympy.coth(u) - u * sympy.csch(u) ** 2


class Bose(Removable):
    """``1/expm1(u) - 1/u``: the Bose-Einstein occupation ``1/(exp(u) - 1)`` less its pole,
    ``Langevin(u/2)/2 - 1/2``."""

    at_zero = sympy.Rational(-1, 2)
    rule = sympy.exp

    @classmethod
    def closed(cls, u: sympy.Expr) -> sympy.Expr:
        return 1 / (sympy.exp(u) - 1) - 1 / u

    def fdiff(self, argindex=1):
        (u,) = self.args
        return u**-2 - sympy.exp(u) / (sympy.exp(u) - 1) ** 2


Sinhc = _head("Sinhc", sympy.sinh, 0, "sinh(u)/u")
Exprel = _head("Exprel", sympy.exp, 0, "(exp(u) - 1)/u")
SinTail3 = _head("SinTail3", sympy.sin, 2, "(sin(u) - u)/u**3")
SinhTail3 = _head("SinhTail3", sympy.sinh, 2, "(sinh(u) - u)/u**3")
ExpTail2 = _head("ExpTail2", sympy.exp, 1, "(exp(u) - 1 - u)/u**2")
ExpTail3 = _head("ExpTail3", sympy.exp, 2, "(exp(u) - 1 - u - u**2/2)/u**3")
CosTail4 = _head("CosTail4", sympy.cos, 3, "(cos(u) - 1 + u**2/2)/u**4")
CoshTail4 = _head("CoshTail4", sympy.cosh, 3, "(cosh(u) - 1 - u**2/2)/u**4")
Log1pc = _head("Log1pc", log1p, 0, "log1p(u)/u")
Log1pTail2 = _head("Log1pTail2", log1p, 1, "(log1p(u) - u)/u**2")
Log1pTail3 = _head("Log1pTail3", log1p, 2, "(log1p(u) - u + u**2/2)/u**3")
Atanc = _head("Atanc", sympy.atan, 0, "atan(u)/u")
AtanTail3 = _head("AtanTail3", sympy.atan, 2, "(atan(u) - u)/u**3")
Atanhc = _head("Atanhc", sympy.atanh, 0, "atanh(u)/u")
AtanhTail3 = _head("AtanhTail3", sympy.atanh, 2, "(atanh(u) - u)/u**3")
Asinc = _head("Asinc", sympy.asin, 0, "asin(u)/u")
AsinTail3 = _head("AsinTail3", sympy.asin, 2, "(asin(u) - u)/u**3")
Asinhc = _head("Asinhc", sympy.asinh, 0, "asinh(u)/u")
AsinhTail3 = _head("AsinhTail3", sympy.asinh, 2, "(asinh(u) - u)/u**3")
Tanc = _head("Tanc", sympy.tan, 0, "tan(u)/u")
TanTail3 = _head("TanTail3", sympy.tan, 2, "(tan(u) - u)/u**3")
Tanhc = _head("Tanhc", sympy.tanh, 0, "tanh(u)/u")
TanhTail3 = _head("TanhTail3", sympy.tanh, 2, "(tanh(u) - u)/u**3")


def _rest(tail: type[Tail]) -> type[Rest]:
    """The :class:`Rest` of a tail (``SinRest3`` of ``SinTail3``)."""
    return type(tail.__name__.replace("Tail", "Rest"), (Rest,), {
        "tail": tail, "g": tail.g, "rule": tail.g, "p": tail.p,
        "__doc__": f"``u**{tail.p + 1}*{tail.__name__}(u)``.", "__module__": __name__})


_TAILS = (SinTail3, SinhTail3, ExpTail2, ExpTail3, CosTail4, CoshTail4, Log1pTail2, Log1pTail3,
          AtanTail3, AtanhTail3, AsinTail3, AsinhTail3, TanTail3, TanhTail3)
(SinRest3, SinhRest3, ExpRest2, ExpRest3, CosRest4, CoshRest4, Log1pRest2, Log1pRest3, AtanRest3,
 AtanhRest3, AsinRest3, AsinhRest3, TanRest3, TanhRest3) = _RESTS = tuple(map(_rest, _TAILS))
#: The heads of ``g(u)/u`` by ``g`` (``expm1(u)/u`` is ``Exprel``; ``sin(u)/u`` is SymPy's
#: ``sinc``, lowered by :data:`sinc`)
OVER_ARGUMENT = {sympy.sinh: Sinhc, expm1: Exprel, log1p: Log1pc, sympy.atan: Atanc,
                 sympy.atanh: Atanhc, sympy.asin: Asinc, sympy.asinh: Asinhc, sympy.tan: Tanc,
                 sympy.tanh: Tanhc}


#: ``sin(u)/u`` (SymPy's ``sinc``, a public function)
sinc = tail_function(sympy.sin, 0, "sinc")
#: Below this |u| the Langevin function is a quotient of two polynomials (measured: orders 0-4
#: of both forms within 6e-15 of mpmath; at 3, the polynomials' within 1.4e-14).
LANGEVIN_NEAR = 3.5
#: The Taylor polynomials of ``(u*cosh(u) - sinh(u))/u**3`` and ``sinh(u)/u`` at 0 (in
#: ``u**2``): entire functions, the second ``>= 1``, so that their quotient does not cancel
_LANGEVIN_TERMS = tuple(
    _polynomial([0.0 if n % 2 else c(n) for n in range(120)], LANGEVIN_NEAR)[0]
    for c in (lambda n: (n + 2) / math.factorial(n + 3), lambda n: 1 / math.factorial(n + 1)))


def _langevin_parts(x):
    """:func:`_sides` of ``x`` at :data:`LANGEVIN_NEAR`, and ``x*N(x**2)/D(x**2)`` (see
    :func:`langevin`)."""
    x, close, far = _sides(x, LANGEVIN_NEAR)
    numerator, denominator = _LANGEVIN_TERMS
    square = x * x
    return x, close, far, x * stable.horner(numerator, square) / stable.horner(denominator, square)


def langevin(x):
    """``coth(x) - 1/x``: below :data:`LANGEVIN_NEAR` ``x*N(x**2)/D(x**2)``, ``N`` and ``D``
    the Taylor polynomials of ``(x*cosh(x) - sinh(x))/x**3`` and ``sinh(x)/x``, which ``grad``,
    ``jvp`` and ``jet`` differentiate without cancellation; beyond, the difference as written
    (``coth`` is 1 where ``1/x`` is small). As written, it loses every digit near 0
    (``coth(1e-8)`` is 1e8 + 3.3e-9) and its derivatives cancel to order 4 up to |x| ≈ 2.

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     print(float(langevin(1e-8)), float(jax.grad(langevin)(0.0)))
        3.3333333333333334e-09 0.3333333333333333
    """
    _, close, far, near = _langevin_parts(x)
    return jnp.where(close, near, stable.coth(far) - 1 / far)


def xcoth(x):
    """``x*coth(x)``: ``1 + x*langevin(x)`` below :data:`LANGEVIN_NEAR` (as written, its
    derivatives cancel near 0: ``coth(x) - x*csch(x)**2``), beyond it as written (where
    ``1 + x*langevin(x)`` would cancel in the second derivative: ``2/x**2`` twice)."""
    x, close, far, near = _langevin_parts(x)
    return jnp.where(close, 1 + x * near, far * stable.coth(far))


def bose(x):
    """``1/expm1(x) - 1/x``: ``langevin(x/2)/2 - 1/2`` below twice :data:`LANGEVIN_NEAR`, beyond
    it ``(coth(x/2) - 1)/2 - 1/x`` (``1/expm1(x)`` without overflow; ``-1/x`` is most of it for
    large ``x``, which ``1/2 - langevin(x/2)/2`` would lose). As written, it loses every digit
    near 0 (``1/x`` is 1e8 at 1e-8) and its derivatives are NaN from x ≈ 710.

    Example:
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     print(float(bose(1e-8)), float(jax.grad(bose)(0.0)), float(bose(800.0)))
        -0.49999999916666665 0.08333333333333333 -0.00125
    """
    _, close, half, near = _langevin_parts(x / 2)
    return jnp.where(close, near / 2 - 0.5, (stable.coth(half) - 1) / 2 - 0.5 / half)


#: Each head's JAX function.
HEADS: dict[type, Callable[[jax.Array], jax.Array]] = {
    **{head: tail_function(head.g, head.p, head.__name__.lower(), rest=head in _RESTS)
       for head in (*OVER_ARGUMENT.values(), *_TAILS, *_RESTS)},
    Langevin: langevin,
    Xcoth: xcoth,
    Bose: bose,
}
