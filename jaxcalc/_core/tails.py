"""Taylor tails: ``(g(u) - T(u))/u**(p + 1)``, ``T`` the degree-``p`` Taylor polynomial at 0 of an
entire function ``g``, computed so that values and derivatives keep their digits near 0.

Formulas as people write them hold such quotients, each with a removable singularity at 0:
``sin(x)/x``, ``(exp(x) - 1)/x``, ``(x - sin(x))/x**3``, ``(exp(x) - 1 - x)/x**2``. As written,
the difference cancels near 0 (``x - sin(x)`` keeps ~``2·log10(1/|x|)`` digits fewer than
``x``) and the quotient rule cancels in every derivative: ``sin(x)/x`` at 1e-8 had f'' = 0
instead of -1/3 and f''' = -1e9 instead of 2e-9. Below :data:`NEAR` (by ``p``) a tail is its
own Taylor polynomial (in ``u**2`` where only even powers occur), which ``grad``, ``jvp`` and
``jet`` differentiate exactly; beyond it, the quotient as written (``g(u) - g(0)`` computed
without cancellation: ``expm1``, ``-2*sin(u/2)**2``), whose derivatives there lose few bits.
The junctions are where both forms' derivatives of orders 0-4 stay within 5e-15 (``p <= 1``)
and 3e-14 (``p = 2, 3``) of mpmath, measured under ``jit``: the higher ``p``, the more the
quotient rule cancels, the farther out.

``_core.rewrite`` makes these heads from the formulas (``sin(u)**m * u**-n`` and the like for
the quotients by ``u``, ``c*g(u) - c*T(u)`` for the others); each lowers to its function here:

=========  ===================================
head       value
=========  ===================================
sinc       ``sin(u)/u`` (also typed: ``sinc``)
Sinhc      ``sinh(u)/u``
Exprel     ``(exp(u) - 1)/u``
SinTail3   ``(sin(u) - u)/u**3``
SinhTail3  ``(sinh(u) - u)/u**3``
ExpTail2   ``(exp(u) - 1 - u)/u**2``
ExpTail3   ``(exp(u) - 1 - u - u**2/2)/u**3``
CosTail4   ``(cos(u) - 1 + u**2/2)/u**4``
CoshTail4  ``(cosh(u) - 1 - u**2/2)/u**4``
Langevin   ``coth(u) - 1/u``
Xcoth      ``u*coth(u)``
=========  ===================================

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
    >>> SinTail3(x).rewrite(sympy.sin), SinTail3(0)
    ((-x + sin(x))/x**3, -1/6)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import sympy

from . import stable
from .heads import ClosedForm

#: The entire functions whose tails jaxcalc computes: the n-th Taylor coefficient at 0 is
#: ``cycle[n % 4] / n!``.
_CYCLES = {sympy.sin: (0, 1, 0, -1), sympy.cos: (1, 0, -1, 0), sympy.sinh: (0, 1, 0, 1),
           sympy.cosh: (1, 0, 1, 0), sympy.exp: (1, 1, 1, 1)}
#: ``g(u) - g(0)``, computed without cancellation
_FROM_ZERO: dict[type, Callable[[jax.Array], jax.Array]] = {
    sympy.sin: jnp.sin, sympy.sinh: jnp.sinh, sympy.exp: stable.expm1,
    sympy.cos: lambda u: -2 * jnp.sin(u / 2) ** 2, sympy.cosh: lambda u: 2 * jnp.sinh(u / 2) ** 2,
}
#: Below this |u| a tail of degree ``p`` is its Taylor polynomial, by ``p``: the measured
#: junctions (``sin(u)/u``'s fourth derivative loses 7 bits at |u| = 1.8 as a quotient; the
#: quotient ``(sin(u) - u)/u**3`` 3.5e-14 of its derivatives at 3.5, 7.6e-15 at 5).
NEAR = {0: 2.5, 1: 3.5, 2: 4.5, 3: 4.5}


def coefficient(g: type, n: int) -> sympy.Rational:
    """The n-th Taylor coefficient of ``g`` at 0."""
    return sympy.Rational(_CYCLES[g][n % 4], math.factorial(n))


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


def tail_function(g: type, p: int, name: str) -> Callable[[jax.Array], jax.Array]:
    """The JAX function of the tail of ``g`` (a key of ``_CYCLES``) after degree ``p``."""
    near = NEAR[p]
    terms, even = _polynomial([float(coefficient(g, p + 1 + n)) for n in range(120)], near)
    from_zero = _FROM_ZERO[g]
    low = [(n, c) for n in range(1, p + 1) if (c := float(coefficient(g, n)))]

    def tail(x):
        x, close, far = _sides(x, near)
        difference = from_zero(far)
        for n, c in low:
            difference = difference - c * far**n
        return jnp.where(close, stable.horner(terms, x * x if even else x),
                         difference / far ** (p + 1))

    tail.__name__ = tail.__qualname__ = name
    tail.__doc__ = (f"``({g.__name__}(x) - T(x))/x**{p + 1}``, ``T`` its degree-{p} Taylor "
                    "polynomial at 0; accurate near 0 to every order (see the module).")
    return tail


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
        polynomial = sum(coefficient(cls.g, n) * u**n for n in range(cls.p + 1))
        return (cls.g(u) - polynomial) / u ** (cls.p + 1)

    def fdiff(self, argindex=1):
        (u,) = self.args
        rate = self.g(u).fdiff() - sum(n * coefficient(self.g, n) * u ** (n - 1)
                                       for n in range(1, self.p + 1))
        return rate / u ** (self.p + 1) - (self.p + 1) * self / u


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


Sinhc = _head("Sinhc", sympy.sinh, 0, "sinh(u)/u")
Exprel = _head("Exprel", sympy.exp, 0, "(exp(u) - 1)/u")
SinTail3 = _head("SinTail3", sympy.sin, 2, "(sin(u) - u)/u**3")
SinhTail3 = _head("SinhTail3", sympy.sinh, 2, "(sinh(u) - u)/u**3")
ExpTail2 = _head("ExpTail2", sympy.exp, 1, "(exp(u) - 1 - u)/u**2")
ExpTail3 = _head("ExpTail3", sympy.exp, 2, "(exp(u) - 1 - u - u**2/2)/u**3")
CosTail4 = _head("CosTail4", sympy.cos, 3, "(cos(u) - 1 + u**2/2)/u**4")
CoshTail4 = _head("CoshTail4", sympy.cosh, 3, "(cosh(u) - 1 - u**2/2)/u**4")


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


#: Each head's JAX function.
HEADS: dict[type, Callable[[jax.Array], jax.Array]] = {
    **{head: tail_function(head.g, head.p, head.__name__.lower())
       for head in (Sinhc, Exprel, SinTail3, SinhTail3, ExpTail2, ExpTail3, CosTail4, CoshTail4)},
    Langevin: langevin,
    Xcoth: xcoth,
}
