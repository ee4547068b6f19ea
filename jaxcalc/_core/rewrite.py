"""SymPy → SymPy rewrites into numerically stable forms with the same value.

Textbook derivatives cancel: SymPy writes ``d/du tanh(u)`` as ``1 - tanh(u)**2``, which loses
every digit once ``tanh(u)`` rounds to 1 although ``sech(u)**2`` is representable. Before an
expression is lowered, :func:`stabilize` replaces the forms below (each is an identity for real
arguments, so a result changes by no more than its rounding; where the original cancels or
overflows the rewritten form is the accurate one). The new heads lower to the stable functions
of ``_core.stable``, whose own derivative and Taylor-mode rules keep the accuracy at every order,
and to the Taylor tails of ``_core.tails`` (quotients such as ``sin(u)/u``, polynomials near 0).
``c`` is any coefficient (a number or an expression); ``u``, ``a`` and ``b`` are expressions.

===========================================  ===================================================
written                                      lowered as
===========================================  ===================================================
``c - c*tanh(u)**2``                         ``c*sech(u)**2``
``c - c*coth(u)**2``                         ``-c*csch(u)**2``
``c - c*sech(u)**2``                         ``c*tanh(u)**2``
``c ∓ c*tanh(u)``                            ``2*c*logistic(∓2*u)``
``c - c*logistic(u)``                        ``c*logistic(-u)``
``c - 2*c*logistic(u)``                      ``-c*tanh(u/2)``
``c - c*erf(u)``                             ``c*erfc(u)``
``c - c*erfc(u)``                            ``c*erf(u)``
``c*exp(u) - c``                             ``c*expm1(u)``
``c - c*cos(u)``                             ``2*c*sin(u/2)**2``
``c*cosh(u) - c``                            ``2*c*sinh(u/2)**2``
``c*Xcoth(u) - c`` (``c*u*coth(u) - c``)      ``c*u*Langevin(u)``
``g(k*u)**m * u**-n``, ``g``: ``sin``,      ``k**j*G(k*u)**j*g(k*u)**(m-j)*u**(j-n)``,
``sinh``, ``expm1``, ``log1p``, ``atan``,    ``G(v) = g(v)/v`` (``sinc``, ``Sinhc``, ``Exprel``,
``atanh``, ``asin``, ``asinh``, ``tan`` or   ``Log1pc``, ...: 1 at 0), ``j`` the one of ``m``,
``tanh``; ``m``, ``n`` of one sign           ``n`` nearer 0
``c*g(u) - c*T(u)``, ``T`` the Taylor        ``c*Rest(u)`` (``_core.tails``): ``SinRest3``,
polynomial of ``g`` at 0 to degree ``p``     ``ExpRest2``, ``Log1pRest2``, ``TanRest3``, ...
(``x - sin(x)``, ``x - log(1 + x)``)
``Rest(k*u)*u**-n``                          ``k**(p+1)*u**(p+1-n)*Tail(k*u)``: ``SinTail3``, ...
products with powers of one base or several  the powers or numbers merged
numbers (made above: ``-(-softplus(-x))``)   (``softplus(-x)``)
``c*coth(u) - c/u``                          ``c*Langevin(u)`` (``coth`` less its pole, 0 at 0)
``c/expm1(u) - c/u``                        ``c*Bose(u)`` (``1/expm1`` less its pole)
``coth(k*u)*u**n``, ``n >= 1``               ``u**(n-1)/k*Xcoth(k*u)`` (``u*coth(u)``, 1 at 0)
``tanh(u)**-n``                              ``coth(u)**n``
``log(1 + u)``                               ``log1p(u)``
``log1p(exp(u))``, ``log(logistic(u))``      ``softplus(u)``, ``-softplus(-u)`` (no overflow)
``log(exp(u) + exp(v) + ...)`` (a number     ``logaddexp(logaddexp(u, v), ...)``
``k > 0`` as ``exp(log(k))``)                 (``softplus(u)`` for ``log(1 + exp(u))``)
``log(cosh(u))``                             ``LogCosh(u)`` (no overflow past |u| ≈ 710)
``(1 + exp(u))**-n``                         ``logistic(-u)**n``
``(b**m)**n``, ``m``, ``n`` integers          ``b**(m*n)``
``exp(k*u)*logistic(-u)**n``, 0 < k <= n     ``logistic(u)**k*logistic(-u)**(n-k)``
``sinh(u)**-n``, ``cosh(u)**-n``             ``csch(u)**n``, ``sech(u)**n``
``cosh(u)*csch(u)``, ``sinh(u)*sech(u)``     ``coth(u)``, ``tanh(u)``
``a*hypot(a, b)**-n``                        ``HypotRatio(a, b)*hypot(a, b)**(1 - n)``
``r + c*sqrt(a)``, ``r*c < 0`` (proved;       ``(r**2 - c**2*a)/(r - c*sqrt(a))``, the
``r`` the number term, else the others; or   numerator expanded; ``c*HypotExcess(p, q)``
``r = d*sqrt(b)``, ``d*c < 0``, the          for ``c*hypot(p, q) - c*|p|``
numerator proved nonzero)
``a**2 - b**2`` (two terms)                  ``SquareDifference(a, b)``
``(a**2 + b**2)**(k/2)``                     ``hypot(a, b)**k``
``SquareDifference(a, b)**(k/2)``            ``Leg(a, b)**k``, ``Leg(a, b) = sqrt(a**2 - b**2)``
``t - t*p/s``, ``s = p + q = a**2 ± b**2``   ``t*q/s`` (``p``, ``q``: ``±a**2``, ``±b**2``)
===========================================  ===================================================

``a**2`` is read off the form: ``u**2``, ``u**4``, ``4*u**2`` or a square number such as 1.
Where SymPy proves ``|u| >= 3/4`` (``log(cosh(x**2 + 1))``, the inner levels of nested
``log(cosh(u)) + 1``; asked for arguments of up to 48 nodes), ``log(cosh(u))`` becomes
``LogCoshFar(u)``: the same values from ``logcosh``'s far form alone, a third of its
operations to compile and run.
``SquareDifference(a, b)`` is computed as ``(a - b)*(a + b)`` and differentiated as
``a**2 - b**2`` (``stable.sqdiff``), so ``1/(1 - u**2)`` (``atanh'``) and
``sqrt(u**2 - 1)`` (as ``Leg(u, 1)``, ``stable.leg``) keep their digits near ``|u| = 1`` and
their derivatives near ``u = 0`` and at large ``u``;
``1/sqrt(u**2 + 1)`` (``asinh'``) becomes ``1/hypot(1, u)``, which does not overflow, and the
last rule (``s`` written as ``a**2 + b**2``, ``hypot(a, b)**2``, ``SquareDifference(a, b)`` or
``Leg(a, b)**2``) combines terms of SymPy's derivatives (``1/h - u**2/h**3`` would cancel for
large ``u``).

Example:
    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> stabilize(1 - sympy.tanh(x)**2)
    sech(x)**2
    >>> stabilize(sympy.sin(x) + sympy.log(1 + x**2))
    sin(x) + log1p(x**2)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import sympy
from sympy.codegen.cfunctions import expm1, hypot, log1p

from .fold import rebuilt
from .functions_table import logaddexp, logistic, softplus
from .stable import LOGCOSH_FAR, HypotExcess, HypotRatio, Leg, LogCosh, LogCoshFar, SquareDifference
from .symbolic import nodes
from .tails import HEADS, OVER_ARGUMENT, Bose, Langevin, Rest, Xcoth, coefficient

# -- ``c + k*h`` with k/c = r: (head of h, power of h, r) → the value of 1 + r*h ----------------
_ONE_PLUS: dict[tuple[type, int, int], Callable[[sympy.Expr], sympy.Expr]] = {
    (sympy.tanh, 2, -1): lambda u: sympy.sech(u) ** 2,
    (sympy.coth, 2, -1): lambda u: -sympy.csch(u) ** 2,
    (sympy.sech, 2, -1): lambda u: sympy.tanh(u) ** 2,
    (sympy.tanh, 1, -1): lambda u: 2 * logistic(-2 * u),
    (sympy.tanh, 1, 1): lambda u: 2 * logistic(2 * u),
    (logistic, 1, -1): lambda u: logistic(-u),
    (logistic, 1, -2): lambda u: -sympy.tanh(u / 2),
    (sympy.erf, 1, -1): sympy.erfc,
    (sympy.erfc, 1, -1): sympy.erf,
    (sympy.exp, 1, -1): lambda u: -expm1(u),
    (sympy.cos, 1, -1): lambda u: 2 * sympy.sin(u / 2) ** 2,
    (sympy.cosh, 1, -1): lambda u: -2 * sympy.sinh(u / 2) ** 2,
    (Xcoth, 1, -1): lambda u: -u * Langevin(u),
}


def _head_power(factor: sympy.Expr) -> tuple[type, int, sympy.Expr] | None:
    """``(head, n, u)`` for a factor ``head(u)**n`` (n = 1 or 2) of a one-argument head."""
    base, n = (factor.base, factor.exp) if factor.is_Pow else (factor, 1)
    if n in (1, 2) and isinstance(base, sympy.Function) and len(base.args) == 1:
        return base.func, int(n), base.args[0]
    return None


def _one_plus(node: sympy.Add) -> sympy.Expr | None:
    """``c + k*h(u)`` among the terms, with ``k/c`` a key of :data:`_ONE_PLUS`, rewritten."""
    terms = node.args
    for i, term in enumerate(terms):
        factors = sympy.Mul.make_args(term)
        for f, factor in enumerate(factors):
            match = _head_power(factor)
            if match is None:
                continue
            head, n, u = match
            k = sympy.Mul(*factors[:f], *factors[f + 1 :])  # not term/factor: exp(u)/exp(u)
            for j, c in enumerate(terms):
                if j == i:
                    continue
                ratio = k / c
                rule = _ONE_PLUS.get((head, n, ratio)) if ratio.is_Number else None
                if rule is not None:
                    rest = (t for m, t in enumerate(terms) if m not in (i, j))
                    return sympy.Add(c * rule(u), *rest)
    return None


def _square_root(term: sympy.Expr) -> sympy.Expr | None:
    """``r`` with ``term = r**2`` read off its form (a positive square number, ``b**(2m)`` or
    ``q*b**(2m)`` with ``q`` a positive square number), else None."""
    coeff, rest = term.as_coeff_Mul()
    if not (coeff.is_Rational and coeff.is_positive):
        return None
    root = sympy.sqrt(coeff)
    if not root.is_Rational:
        return None
    if rest == 1:
        return root
    if rest.is_Pow and rest.exp.is_Integer and rest.exp % 2 == 0:
        return root * rest.base ** (rest.exp // 2)
    return None


def _squares(node: sympy.Basic) -> tuple[int, sympy.Expr, sympy.Expr] | None:
    """``(sign, a, b)`` for a two-term sum ``a**2 + sign*b**2`` (``a**2`` the positive term)."""
    if not node.is_Add or len(node.args) != 2:
        return None
    first, second = node.args
    for p, n in ((first, second), (second, first)):
        a = _square_root(p)
        if a is None:
            continue
        b = _square_root(n)
        if b is not None:
            return 1, a, b
        b = _square_root(-n)
        if b is not None:
            return -1, a, b
    return None


def _hypot_power(node: sympy.Pow) -> sympy.Expr | None:
    """Half-integer powers of ``a**2 + b**2`` (``node`` as written)."""
    e = node.exp
    squares = _squares(node.base)
    if squares is None or squares[0] != 1 or not (e.is_Rational and e.q == 2):
        return None
    _, a, b = squares
    return hypot(stabilize(a), stabilize(b)) ** (2 * e)


def _square_totals(node: sympy.Expr) -> list[tuple[sympy.Expr, ...]]:
    """``(atom, s, p, q)`` for each ``s`` in ``node`` that is ``a**2 ± b**2`` (``hypot(a, b)**2``,
    ``SquareDifference(a, b)`` or a sum of two squares raised to a negative integer power):
    whenever ``p + q = s``, ``t + t*(-p/s)`` is ``t*q/s`` without cancellation."""
    found = []
    atoms = node.atoms(hypot, SquareDifference, Leg, sympy.Pow)  # one walk of the tree
    for h in (a for a in atoms if isinstance(a, hypot)):
        a, b = h.args
        found += [(h, h**2, a**2, b**2), (h, h**2, b**2, a**2)]
    for d in (a for a in atoms if isinstance(a, SquareDifference)):
        a, b = d.args
        found += [(d, d, a**2, -(b**2)), (d, d, -(b**2), a**2)]
    for leg in (a for a in atoms if isinstance(a, Leg)):
        a, b = leg.args
        found += [(leg, leg**2, a**2, -(b**2)), (leg, leg**2, -(b**2), a**2)]
    for power in (a for a in atoms if isinstance(a, sympy.Pow)):
        squares = _squares(power.base)
        if power.exp.is_Integer and power.exp < 0 and squares and squares[0] == 1:
            _, a, b = squares
            found += [(power.base, power.base, a**2, b**2), (power.base, power.base, b**2, a**2)]
    return found


#: Most nodes of a ratio of two terms that :func:`_pythagoras` expands, and of each of the two
#: terms it divides (SymPy's division asks its assumptions of both: 30 s, and a raw ValueError,
#: on a 300-node chain of special functions).
_RATIO_NODES = 64


def _pythagoras(node: sympy.Add) -> sympy.Expr | None:
    """Two terms ``t - t*p/s`` with ``s = p + q`` a sum or difference of squares, as ``t*q/s``."""
    totals = _square_totals(node)
    terms = node.args
    small = [nodes(t, _RATIO_NODES + 1) <= _RATIO_NODES for t in terms] if totals else []
    for i, first in enumerate(terms if totals else ()):
        for j, second in enumerate(terms):
            if i == j or not (small[i] and small[j]):
                continue
            ratio = second / first
            if nodes(ratio, _RATIO_NODES + 1) > _RATIO_NODES:  # expanding one takes seconds
                continue
            for atom, total, p, q in totals:
                if ratio.has(atom) and sympy.expand(ratio * total + p) == 0:
                    rest = (t for m, t in enumerate(terms) if m not in (i, j))
                    return sympy.Add(first * q / total, *rest)
    return None


def _logistic(node: sympy.Pow) -> sympy.Expr | None:
    """``(1 + exp(u))**-n`` → ``logistic(-u)**n``."""
    base, e = node.base, node.exp
    if not (e.is_Integer and e < 0 and base.is_Add and len(base.args) == 2):
        return None
    one, other = base.args
    if one == 1 and isinstance(other, sympy.exp):
        return logistic(-other.args[0]) ** (-e)
    return None


#: ``1/sinh(u)**n``, ``1/cosh(u)**n``: reciprocals that do not overflow; ``1/tanh(u)**n``: the
#: ``coth`` that :func:`_less_pole` and :func:`_pole_times_argument` look for
_RECIPROCALS = {sympy.sinh: sympy.csch, sympy.cosh: sympy.sech, sympy.tanh: sympy.coth}
#: ``cosh(u)*csch(u)``, ``sinh(u)*sech(u)``: quotients of two overflowing factors
_QUOTIENTS = {(sympy.cosh, sympy.csch): sympy.coth, (sympy.sinh, sympy.sech): sympy.tanh}


def _leg(node: sympy.Pow) -> sympy.Expr | None:
    """``SquareDifference(a, b)**(k/2)`` → ``Leg(a, b)**k``."""
    if isinstance(node.base, SquareDifference) and node.exp.is_Rational and node.exp.q == 2:
        return Leg(*node.base.args) ** (2 * node.exp)
    return None


def _reciprocal(node: sympy.Pow) -> sympy.Expr | None:
    base, e = node.base, node.exp
    if base.func in _RECIPROCALS and e.is_Integer and e < 0:
        return _RECIPROCALS[base.func](*base.args) ** (-e)
    return None


def _power_of_power(node: sympy.Pow) -> sympy.Expr | None:
    """``(b**m)**n``, ``m`` and ``n`` integers (made by the rewrites: the reciprocal of a
    conjugate, ``1/(sqrt(x + 1) - sqrt(x))``) → ``b**(m*n)``: one rounding instead of two."""
    base, n = node.base, node.exp
    if base.is_Pow and base.exp.is_Integer and n.is_Integer:
        return base.base ** (base.exp * n)
    return None


def _quotient(node: sympy.Mul) -> sympy.Expr | None:
    powers = [f.as_base_exp() for f in node.args]
    for i, (top, m) in enumerate(powers):
        for j, (bottom, n) in enumerate(powers):
            head = _QUOTIENTS.get((top.func, bottom.func))
            if head is None or top.args != bottom.args or not (m.is_Integer and n.is_Integer):
                continue
            k = min(m, n)
            rest = (f for r, f in enumerate(node.args) if r not in (i, j))
            return sympy.Mul(head(*top.args) ** k, top ** (m - k), bottom ** (n - k), *rest)
    return None


def _hypot_ratio(node: sympy.Mul) -> sympy.Expr | None:
    """``a*hypot(a, b)**-n`` → ``HypotRatio(a, b)*hypot(a, b)**(1 - n)``."""
    factors = node.args
    for i, factor in enumerate(factors):
        base, n = factor.as_base_exp()
        if not (isinstance(base, hypot) and n.is_Integer and n < 0):
            continue
        for j, other in enumerate(factors):
            for a, b in (base.args, base.args[::-1]):
                if other == a:
                    rest = (f for m, f in enumerate(factors) if m not in (i, j))
                    return sympy.Mul(HypotRatio(a, b), base ** (n + 1), *rest)
    return None


def _exp_logistic(node: sympy.Mul) -> sympy.Expr | None:
    """``exp(k*u)*logistic(-u)**n`` → ``logistic(u)**k*logistic(-u)**(n - k)``, 0 < k <= n."""
    factors = node.args
    for i, factor in enumerate(factors):
        if not isinstance(factor, sympy.exp):
            continue
        for j, other in enumerate(factors):
            base, n = other.as_base_exp()
            if not (isinstance(base, logistic) and n.is_Integer):
                continue
            u = -base.args[0]
            k = factor.args[0] / u
            if k.is_Integer and 0 < k <= n:
                rest = (f for m, f in enumerate(factors) if m not in (i, j))
                return sympy.Mul(logistic(u) ** k, base ** (n - k), *rest)
    return None


#: ``g`` with ``g(0) = 0`` and ``g'(0) = 1`` → the head of ``g(u)/u`` (1 at 0), whose lowering keeps
#: the derivatives' digits near ``u = 0``, where the quotient rule's terms cancel
_OVER_ARGUMENT = {sympy.sin: sympy.sinc, **OVER_ARGUMENT}


def _over_argument(node: sympy.Mul) -> sympy.Expr | None:
    """``g(k*u)**m * u**-n`` (``m``, ``n`` integers of one sign, ``k`` free of ``u``'s
    variables) → ``k**j * G(k*u)**j * g(k*u)**(m - j) * u**(j - n)`` with ``G(v) = g(v)/v`` and
    ``j`` the one of ``m``, ``n`` nearer 0: ``sin(x)/x`` → ``sinc(x)``, ``2*sin(x/2)**2/x**2``
    → ``sinc(x/2)**2/2``, ``x/expm1(x)`` → ``1/Exprel(x)``."""
    factors = _factors(node)
    for i, factor in enumerate(factors):
        base, m = factor.as_base_exp()
        head = _OVER_ARGUMENT.get(base.func)
        if head is None or not m.is_Integer:
            continue
        (v,) = base.args
        for u, n, k, rest in _multiples(factors, i, v, lambda n, m=m: n * m < 0):
            step = sympy.sign(m) * min(abs(m), abs(n))
            return sympy.Mul(k**step, head(v) ** step, base ** (m - step), u ** (n + step), *rest)
    return None


#: The remainders ``_taylor_tail`` makes from each function's head: those of ``_core.tails``, the
#: highest degree first (``SinRest3``; ``ExpRest3``, ``ExpRest2``); ``expm1(u)`` is ``exp(u) - 1``
_RESTS = {g: tuple(sorted((h for h in HEADS if issubclass(h, Rest) and h.g is g),
                          key=lambda h: -h.p))
          for g in {h.g for h in HEADS if issubclass(h, Rest)}}
_RESTS[expm1] = _RESTS[sympy.exp]


#: Largest ``u`` and ``c`` (tree nodes) of the tail rules: SymPy's arithmetic on them (``u**3``,
#: ``v/u``) asks its assumptions, which took seconds on a 60-node chain of special functions
_TAIL_NODES = 32


def _small(*exprs: sympy.Expr) -> bool:
    return all(nodes(e, _TAIL_NODES + 1) <= _TAIL_NODES for e in exprs)


def _taylor_tail(node: sympy.Add) -> sympy.Expr | None:
    """``c*g(u)`` and terms ``-c*T(u)``, ``T`` the Taylor polynomial of ``g`` at 0 to degree
    ``p``, → ``c*Rest(u)`` (``_core.tails``): ``x - sin(x)`` → ``-SinRest3(x)``,
    ``exp(x) - 1 - x`` → ``ExpRest2(x)``."""
    for factor, c, others in _term_factors(node, lambda f: bool(_RESTS.get(f.func))):
        (u,) = factor.args
        if not _small(u, c):
            continue
        first = 1 if factor.func is expm1 else 0  # expm1's constant term is in it
        for rest in _RESTS[factor.func]:
            wanted = (-c * a * u**n  # built as matched: most fail at the first
                      for n in range(first, rest.p + 1) if (a := coefficient(rest.g, n)))
            remaining = _without(list(others), wanted)
            if remaining is not None:
                return sympy.Add(c * rest(u), *remaining)
    return None


def _rest_quotient(node: sympy.Mul) -> sympy.Expr | None:
    """``Rest(k*u) * u**-n`` → ``k**(p + 1) * u**(p + 1 - n) * Tail(k*u)``, the quotient as its
    tail (``_core.tails``), whose derivatives do not cancel near 0: ``(x - sin(x))/x**3`` →
    ``-SinTail3(x)``."""
    factors = _factors(node)
    for i, factor in enumerate(factors):
        if not isinstance(factor, Rest):
            continue
        (v,) = factor.args
        for u, n, k, rest in _multiples(factors, i, v, lambda n: n < 0):
            p = factor.p
            return sympy.Mul(k ** (p + 1), u ** (p + 1 + n), factor.tail(v), *rest)
    return None


def _less_pole(node: sympy.Add) -> sympy.Expr | None:
    """``c*coth(u)`` and ``-c/u`` among the terms → ``c*Langevin(u)`` (``coth`` less its pole):
    ``coth(x) - 1/x``, ``1/tanh(x/T) - T/x`` (the first cancels near 0: ``coth(1e-8)`` is
    1e8 + 3.3e-9); ``c/expm1(u)`` and ``-c/u`` → ``c*Bose(u)`` (the Bose-Einstein occupation
    less its pole): ``1/x - 1/(exp(x) - 1)``, which cancels near 0 too."""
    for factor, c, others in _term_factors(node, _pole):
        head, u = _pole(factor)
        if _small(u, c):
            rest = _without(list(others), [-c / u])
            if rest is not None:
                return sympy.Add(c * head(u), *rest)
    return None


def _pole(factor: sympy.Expr) -> tuple[type, sympy.Expr] | None:
    """``(head, u)`` where ``factor`` has the pole ``1/u`` at ``u = 0``: ``coth(u)``
    (``Langevin``), ``1/expm1(u)`` (``Bose``); else None."""
    if factor.func is sympy.coth:
        return Langevin, factor.args[0]
    if factor.is_Pow and factor.exp == -1 and isinstance(factor.base, expm1):
        return Bose, factor.base.args[0]
    return None


def _pole_times_argument(node: sympy.Mul) -> sympy.Expr | None:
    """``coth(k*u) * u**n`` (``n >= 1``, ``k`` free of ``u``'s variables) →
    ``u**(n - 1)/k * Xcoth(k*u)``: ``x/tanh(x)`` → ``Xcoth(x)``, whose derivatives do not cancel
    near 0 (``coth(x) - x*csch(x)**2`` does)."""
    factors = _factors(node)
    for i, factor in enumerate(factors):
        if factor.func is not sympy.coth:
            continue
        (v,) = factor.args
        for u, n, k, rest in _multiples(factors, i, v, lambda n: n > 0):
            return sympy.Mul(u ** (n - 1) / k, Xcoth(v), *rest)
    return None


def _without(terms: list[sympy.Expr], wanted: Iterable[sympy.Expr]) -> list[sympy.Expr] | None:
    """``terms`` less each term of ``wanted`` (a wanted number taken out of the sum's number
    term), or None at the first that is not there."""
    for w in (part for whole in wanted for part in sympy.Add.make_args(whole)):
        if w in terms:
            terms.remove(w)
            continue
        number = next((t for t in terms if t.is_Number), None)
        if not (w.is_Number and number is not None):
            return None
        terms[terms.index(number)] = number - w
    return terms


def _merged_powers(node: sympy.Mul) -> sympy.Expr | None:
    """A product with integer powers of one base, or several numbers, among its factors
    (nested products made by the rewrites: ``-(-softplus(-x))``), with those merged:
    ``softplus(-x)``."""
    factors = _factors(node)
    bases = [f.as_base_exp() for f in factors]
    powers = [b for b, e in bases if e.is_Integer and not b.is_Number]
    if len(set(powers)) == len(powers) and sum(f.is_Number for f in factors) < 2:
        return None
    return sympy.Mul(*factors)


def _conjugate(node: sympy.Add) -> sympy.Expr | None:
    """``r + c*sqrt(a)`` with ``r`` and ``c`` of opposite signs (the two cancel where
    ``r**2`` nears ``c**2*a``) → ``(r**2 - c**2*a)/(r - c*sqrt(a))``, the numerator expanded and
    the denominator's terms of one sign: ``sqrt(1 + x) - 1`` → ``x/(sqrt(x + 1) + 1)``,
    ``1 - Leg(1, x)`` (``1 - sqrt(1 - x**2)``) → ``x**2/(Leg(1, x) + 1)``; ``c*hypot(p, q) -
    c*|p|`` (``sqrt(1 + x**2) - 1``), whose ``q**2`` would overflow first and whose quotient's
    derivatives would cancel at large ``q``, → ``c*HypotExcess(p, q)``. ``r`` is the sum's
    number, else all its other terms; also ``r = d*sqrt(b)`` with ``d`` of ``c``'s opposite sign
    (the signs of ``a`` and ``b`` unknown: negative, both forms are NaN) where the numerator is
    proved nonzero (``sqrt(x + 1) - sqrt(x)`` → ``-1/(-sqrt(x) - sqrt(x + 1))``)."""
    for root, c, others in _term_factors(node, _is_square_root):
        numbers = [t for t in others if t.is_Number]
        for chosen in ([numbers, others] if numbers and len(others) > 1 else [others]):
            r = sympy.Add(*chosen)
            if not _small(r, c, root):
                continue
            proved = (r * c).is_extended_negative
            if not (proved or _opposite_root(r, c)):
                continue
            stable_form = _conjugated(r, c, root, proved)
            if stable_form is not None:
                return sympy.Add(stable_form, *(t for t in others if t not in chosen))
    return None


def _is_square_root(factor: sympy.Expr) -> bool:
    return isinstance(factor, (Leg, hypot)) or (factor.is_Pow and factor.exp == sympy.S.Half)


def _opposite_root(r: sympy.Expr, c: sympy.Expr) -> bool:
    """Whether ``r`` is ``d`` times one square root, ``d*c`` proved negative."""
    factors = _factors(r)
    roots = [f for f in factors if _is_square_root(f)]
    return len(roots) == 1 and bool((r / roots[0] * c).is_extended_negative)


def _conjugated(r: sympy.Expr, c: sympy.Expr, root: sympy.Expr,
                proved: bool = True) -> sympy.Expr | None:
    """``r + c*root`` without cancellation (see :func:`_conjugate`), or None; ``proved``: the
    signs of ``r`` and ``c`` are (else ``r`` is a root: the numerator must be proved nonzero,
    and a number where ``root`` is a ``hypot``, whose square would overflow)."""
    if isinstance(root, hypot):
        for p, q in (root.args, root.args[::-1]):
            if p.is_Number and sympy.expand(r**2 - c**2 * p**2) == 0:
                return c * HypotExcess(p, q)
        radicand = root.args[0] ** 2 + root.args[1] ** 2
    else:
        radicand = root.args[0] ** 2 - root.args[1] ** 2 if isinstance(root, Leg) else root.base
    top, bottom = sympy.expand(r**2 - c**2 * radicand), r - c * root
    if (isinstance(root, hypot) and not top.is_Number) or not (proved or top.is_zero is False):
        return None
    return -top / -bottom if r.could_extract_minus_sign() else top / bottom


def _term_factors(node: sympy.Add, pick: Callable[[sympy.Expr], bool]):
    """``(factor, c, others)`` for each factor of each term of the sum ``node`` that ``pick``
    accepts: ``c`` the product of the term's other factors, ``others`` the sum's other terms."""
    terms = node.args
    for i, term in enumerate(terms):
        factors = _factors(term)
        for f, factor in enumerate(factors):
            if pick(factor):
                yield factor, sympy.Mul(*factors[:f], *factors[f + 1 :]), terms[:i] + terms[i + 1 :]


def _multiples(factors: list[sympy.Expr], i: int, v: sympy.Expr,
               exponent_ok: Callable[[sympy.Integer], bool]):
    """``(u, n, k, rest)`` for each factor ``u**n`` of ``factors`` but the ``i``-th, ``n`` an
    integer that ``exponent_ok`` accepts, ``u`` with variables and ``v = k*u`` (``k`` free of
    them); ``rest``: the factors other than these two."""
    for j, other in enumerate(factors):
        u, n = other.as_base_exp()
        if j != i and n.is_Integer and exponent_ok(n) and u.free_symbols:
            k = _ratio(v, u)
            if k is not None:
                yield u, n, k, (f for r, f in enumerate(factors) if r not in (i, j))


def _factors(node: sympy.Expr) -> list[sympy.Expr]:
    """The factors of a product, those of unevaluated products within it included (anything
    else is its own one factor)."""
    if not node.is_Mul:
        return [node]
    return [factor for arg in node.args for factor in _factors(arg)]


def _ratio(v: sympy.Expr, u: sympy.Expr) -> sympy.Expr | None:
    """``v/u`` where it is free of ``u``'s variables (``(2*x - 2)/(1 - x) = -2``), else None
    (also for large ``u`` or ``v``)."""
    if not _small(u, v):
        return None
    k_v, core_v = v.as_content_primitive()
    k_u, core_u = u.as_content_primitive()
    if core_v == core_u:
        return k_v / k_u
    if core_v == -core_u:
        return -k_v / k_u
    ratio = v / u
    return None if ratio.has(*u.free_symbols) else ratio


#: Largest argument (tree nodes) of ``log(cosh(u))`` whose bound |u| >= 3/4 SymPy is asked to
#: prove: its assumptions take ~0.2 ms a node on sums (a 40-term polynomial: 50 ms)
_PROOF_NODES = 48


def _exponents(arg: sympy.Expr) -> list[sympy.Expr] | None:
    """``[u, v, ...]`` for a sum ``exp(u) + exp(v) + ...`` (a positive number ``k`` as
    ``exp(log(k))``) with at least one ``exp``, else None."""
    if not arg.is_Add or not any(isinstance(t, sympy.exp) for t in arg.args):
        return None
    found = []
    for term in arg.args:
        if isinstance(term, sympy.exp):
            found.append(term.args[0])
        elif term.is_Number and term.is_positive:
            found.append(sympy.log(term))
        else:
            return None
    return found


def _log(arg: sympy.Expr) -> sympy.Expr | None:
    """``log(1 + u)`` → ``log1p(u)``, ``log(cosh(u))`` → ``LogCosh(u)`` (``LogCoshFar(u)``
    where SymPy proves ``|u| >= 3/4``), ``log(logistic(u))`` → ``-softplus(-u)``,
    ``log(exp(u) + exp(v))`` → ``logaddexp(u, v)`` (``softplus(u)`` where ``v = 0``)."""
    if isinstance(arg, sympy.cosh):
        (u,) = arg.args
        bound = sympy.Rational(LOGCOSH_FAR)
        far = nodes(u, _PROOF_NODES + 1) <= _PROOF_NODES and (
            (u - bound).is_extended_nonnegative or (-u - bound).is_extended_nonnegative)
        return (LogCoshFar if far else LogCosh)(u)
    if isinstance(arg, logistic):
        return -softplus(-arg.args[0])
    exponents = _exponents(arg)
    if exponents:
        if len(exponents) == 2 and 0 in exponents:
            return softplus(exponents[1 - exponents.index(0)])
        return functools.reduce(logaddexp, exponents)
    if arg.is_Add and 1 in arg.args:
        return log1p(sympy.Add(*(t for t in arg.args if t != 1)))
    return None


def _local(node: sympy.Expr) -> sympy.Expr | None:
    """One rewrite of ``node`` (whose arguments are already rewritten), or None."""
    if node.is_Add:
        squares = _squares(node)
        if squares is not None and squares[0] == -1:
            _, a, b = squares
            return _one_plus(node) or SquareDifference(a, b)
        return (_taylor_tail(node) or _less_pole(node) or _one_plus(node) or _pythagoras(node)
                or _conjugate(node))
    if node.is_Pow:
        return _logistic(node) or _reciprocal(node) or _leg(node) or _power_of_power(node)
    if node.is_Mul:
        return (_exp_logistic(node) or _quotient(node) or _hypot_ratio(node)
                or _over_argument(node) or _rest_quotient(node) or _pole_times_argument(node)
                or _merged_powers(node))
    if isinstance(node, sympy.log):
        return _log(node.args[0])
    if isinstance(node, log1p) and isinstance(node.args[0], sympy.exp):
        return softplus(node.args[0].args[0])
    return None


#: Local rewrites of one node stop after this many (each removes a pattern; a safeguard).
_MAX_LOCAL = 16


def _settle(node: sympy.Expr) -> sympy.Expr:
    for _ in range(_MAX_LOCAL):
        try:
            rewritten = _local(node)
        except (ValueError, TypeError):  # SymPy cannot decide (a comparison, an assumption):
            return node  # the node stays as written, which computes the same values
        if rewritten is None or rewritten == node:
            return node
        node = stabilize(rewritten) if rewritten.args else rewritten
    return node


def stabilize(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every cancelling or overflowing form of the table above replaced by its
    stable equivalent (a bottom-up walk, shared subexpressions rewritten once).

    Example:
        >>> import sympy
        >>> x = sympy.Symbol("x", real=True)
        >>> stabilize(sympy.diff(sympy.atanh(x), x))
        1/SquareDifference(1, x)
        >>> stabilize(sympy.exp(x) - 1), stabilize(sympy.sqrt(x**2 + 4))
        (expm1(x), hypot(2, x))
    """
    done: dict[sympy.Basic, sympy.Basic] = {}
    stack = [(expr, False)]
    while stack:  # iterative post-order: deep expressions cannot exhaust Python's stack
        node, ready = stack.pop()
        if node in done:
            continue
        if not node.args:
            done[node] = node
        elif ready:
            whole = _hypot_power(node) if node.is_Pow else None
            if whole is None:
                # unevaluated: the local rules below canonicalise what they rewrite
                whole = rebuilt(node, [done[a] for a in node.args])
            done[node] = _settle(whole) if isinstance(whole, sympy.Expr) else whole
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in done)
    return done[expr]
