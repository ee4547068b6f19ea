"""Constants of parsed text, folded with a hard bound on the work.

Every constant subexpression the parser builds gets a numeric value, computed bottom-up by mpmath
at a fixed working precision (:data:`WORKING_DIGITS`) from the values of its parts, *before*
SymPy builds it: a constant must be a finite real number whose decimal exponent lies within
``±max_magnitude``, or the text is refused naming it. SymPy is only asked for what stays small:

* arithmetic on numbers, ``pi`` and ``E`` stays exact while its numbers keep within
  ``max_digits`` digits and its tree within :data:`EXACT_NODES` nodes; an exact power is refused
  when its size estimate (digits of the base times the exponent) passes ``max_magnitude``;
* a function of *plain* constants (numbers, ``pi``, ``E`` and small combinations of them, with
  rationals up to :data:`SPECIAL_BOUND` for functions beyond the elementary ones) keeps SymPy's
  exact form: ``sin(2)``, ``gamma(1/2)`` is ``sqrt(pi)``;
* any other constant becomes a float of its value (an integer stays one): ``sin(sin(2))`` is
  ``0.789...``, ``floor(exp(exp(2)))`` is ``1618``.

So each node costs a bounded amount of work, whatever the text nests around a constant.

Around variables, SymPy's evaluation asks questions about the arguments (real? infinite? an
integer? the complex argument?) that take milliseconds a few levels deep and time exponential
in the depth (``(cosh(u) + 1)**2`` asks ``as_real_imag`` of the whole chain ``u``, at every
level). So a function of an expression with variables is built as written (``sin(-x)`` stays,
where SymPy would rewrite it as ``-sin(x)``), inside a call's formula too (``log(exp(x), 2)`` is
``log(exp(x))/log(2)``); arithmetic with variables is SymPy's, except that an argument deeper
than :data:`EVALUATED_HEIGHT` levels shows SymPy only its top ``+``, ``*`` or ``**`` (the rest
stands behind placeholder symbols, :meth:`Folder.hide`), and SymPy's work on powers of calls
and on call formulas is bounded per text (:data:`EVALUATION_WORK`). Ordinary formulas are
built exactly as SymPy builds them.

Example:
    >>> from jaxcalc._core.parse import parse
    >>> parse("sin(2) + sin(sin(2))*x")
    0.789072343572888*x + sin(2)
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import mpmath
import sympy
from mpmath.libmp import mpf_pos, round_nearest

from .errors import ParseError, TooLargeError

#: Decimal digits of the working precision of constant values.
WORKING_DIGITS = 30
#: A constant larger than this many SymPy nodes is kept as a float.
EXACT_NODES = 32
#: Rationals given to a function beyond the elementary ones (gamma, polygamma, ...) stay exact
#: when numerator and denominator are at most this; larger ones are folded numerically.
SPECIAL_BOUND = 20
#: Nodes of a plain argument (``pi/4``, ``sqrt(3)``, ``2*E``).
PLAIN_NODES = 8
#: A non-constant argument more than this many levels deep is hidden from SymPy's evaluation
#: (:meth:`Folder.hide`); ordinary formulas are shallower and built exactly as SymPy builds them.
EVALUATED_HEIGHT = 8
#: Units of work SymPy may spend per parse on powers of bases with calls and on the functions
#: of a call's formula (``Mod(x + 1, 3)`` is ``x - 3*floor(x/3 + 1/3) + 1``): SymPy's questions
#: about such a base or argument (is it real? an integer? its complex argument?) cost 1 to 60 ms
#: at 3 to 5 levels and about double per level (:meth:`Folder.afford`). Once they are spent,
#: such bases and arguments are hidden (:meth:`Folder.hide`): a long text of them stays fast.
EVALUATION_WORK = 32
#: Largest order of ``polygamma``: mpmath's work grows with the order (and any larger one
#: overflows double precision but very close to the order's own size). An order must also be a
#: whole number: mpmath's fractional orders below -1 took minutes at large arguments, and JAX's
#: polygamma rounds them.
POLYGAMMA_ORDER = 200

_MP = mpmath.MPContext()
_MP.dps = WORKING_DIGITS
_PREC = _MP.prec
_LOG10_2 = math.log10(2)
_Value = object  # an mpf or mpc of _MP; None stands for "not a constant"
_NOT_REAL = (sympy.zoo, sympy.oo, sympy.nan, sympy.I)
_NOT_FINITE = "is not a finite number (a pole, a division by zero or undefined)"


@dataclass(frozen=True)
class Site:
    """Where a subexpression is: ``code[start:end]``, at 1-based ``column`` of the text."""

    code: str
    start: int
    end: int
    column: int

    @property
    def text(self) -> str:
        return self.code[self.start : self.end]

    def error(self, cls: type[ParseError], problem: str) -> ParseError:
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return cls(f"`{shown}` at column {self.column} {problem}", column=self.column)


class Folder:
    """The constant values of one parse: a memo from SymPy node to value, another from call of
    constants to its result, and the checks."""

    def __init__(self, max_digits: int, max_magnitude: int):
        self.max_digits, self.max_magnitude = max_digits, max_magnitude
        self._values: dict[sympy.Basic, _Value | None] = {}
        self._calls: dict[tuple, sympy.Expr] = {}
        self._shapes: dict[sympy.Basic, tuple[int, bool]] = {}
        self._work = EVALUATION_WORK

    # values -----------------------------------------------------------------------------------

    def value(self, expr: sympy.Basic) -> _Value | None:
        """The value of ``expr``, or None when it is not a constant (or has an unknown head)."""
        try:
            return self._values[expr]
        except KeyError:
            pass
        if expr.is_Symbol:
            value = None
        elif expr.is_Atom:
            value = _atom_value(expr)
        else:
            args = [self.value(arg) for arg in expr.args]
            value = None if any(a is None for a in args) else _apply_head(expr, args)
        self._values[expr] = value
        return value

    def shape(self, expr: sympy.Basic) -> tuple[int, bool]:
        """Levels of ``expr``'s tree (0 for an atom), and whether it holds a call (a head other
        than ``+``, ``*`` and ``**``)."""
        try:
            return self._shapes[expr]
        except KeyError:
            pass
        if expr.is_Atom:
            shape = (0, False)
        else:
            shapes = [self.shape(arg) for arg in expr.args]
            call = not (expr.is_Add or expr.is_Mul or expr.is_Pow)
            shape = (1 + max(h for h, _ in shapes), call or any(c for _, c in shapes))
        self._shapes[expr] = shape
        return shape

    def hide(
        self, exprs: Sequence[sympy.Expr], marked: Sequence[bool] | None = None
    ) -> tuple[list[sympy.Expr], Callable[[sympy.Expr], sympy.Expr]]:
        """``exprs`` with the non-constant parts SymPy must not see replaced by placeholder
        symbols (the same one for equal parts), and the function that puts them back into what
        SymPy builds of the placeholders, without evaluating. A ``marked`` expression is hidden
        whole; one deeper than :data:`EVALUATED_HEIGHT` levels keeps its top ``+``, ``*`` or
        ``**`` in view, so that SymPy still merges numbers and like terms (``2*u + 3*u`` is
        ``5*u``), but never queries the trees below."""
        originals: dict[sympy.Symbol, sympy.Expr] = {}
        placeholders: dict[sympy.Expr, sympy.Symbol] = {}

        def stand_in(expr: sympy.Expr) -> sympy.Expr:
            if expr.is_Atom or self.value(expr) is not None:
                return expr
            if expr not in placeholders:
                placeholders[expr] = _placeholder(len(placeholders))
                originals[placeholders[expr]] = expr
            return placeholders[expr]

        hidden = []
        for expr, mark in zip(exprs, marked or [False] * len(exprs), strict=True):
            if mark:
                expr = stand_in(expr)
            elif self.shape(expr)[0] > EVALUATED_HEIGHT and self.value(expr) is None:
                arithmetic = expr.is_Add or expr.is_Mul or expr.is_Pow
                parts = [stand_in(arg) for arg in expr.args] if arithmetic else ()
                expr = expr.func(*parts, evaluate=False) if arithmetic else stand_in(expr)
            hidden.append(expr)
        return hidden, functools.partial(_reveal, originals=originals)

    def afford(self, expr: sympy.Expr) -> bool:
        """Whether SymPy may still work out a power or a call formula of ``expr``: a non-constant
        ``expr`` of ``h`` levels costs ``2**(h - 3)`` units (at least one) of
        :data:`EVALUATION_WORK`, spent when they are left."""
        height = self.shape(expr)[0]
        if expr.is_Atom or height > EVALUATED_HEIGHT or self.value(expr) is not None:
            return True  # nothing to spend: hidden anyway, or no work
        cost = 2 ** max(0, height - 3)
        if cost > self._work:
            return False
        self._work -= cost
        return True

    def holds_call(self, expr: sympy.Expr) -> bool:
        """Whether ``expr`` has a head other than ``+``, ``*`` and ``**`` (see :meth:`shape`)."""
        return self.shape(expr)[1]

    def unaffordable_powers(
        self, factors: Sequence[sympy.Expr], inverted: Sequence[bool]
    ) -> list[bool]:
        """Which ``factors`` of a product to hide: those with calls that SymPy makes a new power
        of (a reciprocal, or one whose base another factor shares: ``f*f`` is ``f**2``) once
        :meth:`afford` says no."""
        bases = [{f.as_base_exp()[0] for f in sympy.Mul.make_args(factor)} for factor in factors]
        counts = collections.Counter(base for group in bases for base in group)
        return [
            (inv or any(counts[b] > 1 for b in group))
            and self.holds_call(factor)
            and not self.afford(factor)
            for factor, inv, group in zip(factors, inverted, bases, strict=True)
        ]

    def settle(self, expr: sympy.Expr, value: _Value | None, site: Site) -> sympy.Expr:
        """``expr`` (just built) recorded with ``value``, its numeric value (None when it is not
        a constant). A constant that SymPy made infinite or complex (``csc(pi)`` is ``zoo``
        where its value at 30 digits is merely large) is refused; one beyond
        :data:`EXACT_NODES` nodes or ``max_digits`` digits becomes a float."""
        if value is None and expr.is_Atom and not expr.is_Symbol:  # a constant again: x - x
            value = self.check(self.value(expr), site)
        if value is None:
            self._values.setdefault(expr, None)
            return expr
        if expr.has(*_NOT_REAL):
            raise site.error(ParseError, _NOT_FINITE)
        if expr.is_Atom:  # valued exactly from itself
            return expr
        if not self.is_small(expr):
            return _float(value)
        self._values[expr] = value
        return expr

    def check(self, value: _Value | None, site: Site) -> _Value | None:
        """``value`` as a real number; raises unless it is finite, real and within range."""
        if value is None:
            return None
        if isinstance(value, _MP.mpc):
            if value.imag:
                raise site.error(
                    ParseError,
                    f"is not a real number (it is {_short(value)}); jaxcalc computes with real "
                    "numbers only",
                )
            value = value.real
        if not _MP.isfinite(value):
            raise site.error(ParseError, _NOT_FINITE)
        if value and abs(_MP.floor(_MP.log10(abs(value)))) > self.max_magnitude:
            raise site.error(TooLargeError, f"is beyond 10**±{self.max_magnitude}")
        return value

    # sizes ------------------------------------------------------------------------------------

    def is_small(self, expr: sympy.Basic) -> bool:
        """Whether constant ``expr`` has at most EXACT_NODES nodes and max_digits digits."""
        nodes = 0
        for node in sympy.preorder_traversal(expr):
            nodes += 1
            too_long = node.is_Rational and _digits(node.p, node.q) > self.max_digits
            if nodes > EXACT_NODES or too_long:
                return False
        return True

    def rationals(self, expr: sympy.Basic) -> list[sympy.Rational]:
        """The exact numbers of the constant factors of ``expr`` (what an exact power of it
        multiplies); none for a sum with symbols, which SymPy does not expand."""
        if self.value(expr) is None:
            factors = expr.args if expr.is_Mul else ()
            return [r for f in factors if self.value(f) is not None for r in self.rationals(f)]
        return [node for node in sympy.preorder_traversal(expr) if node.is_Rational]

    def weight(self, expr: sympy.Basic) -> float:
        """Digits of :meth:`rationals`: a bound on what a product with ``expr`` adds."""
        return sum(_digits(r.p, r.q) for r in self.rationals(expr))

    def sum_digits(self, terms: Sequence[sympy.Expr]) -> float:
        """A bound on the digits of the exact numbers of a sum of constant ``terms``: the
        denominators multiply, the numerators grow by the number of terms."""
        numbers = [r for term in terms for r in self.rationals(term)]
        if not numbers:
            return 0.0
        largest = max(_digits(r.p, 1) for r in numbers)
        return sum(_digits(1, r.q) for r in numbers) + largest + math.log10(len(numbers))

    # operations -------------------------------------------------------------------------------

    def combine(
        self, head: type, operands: Sequence[tuple[sympy.Expr, bool]], site: Site
    ) -> sympy.Expr:
        """``head`` (Add or Mul) of ``operands``, each ``(expr, inverted)``: negated in a sum,
        a reciprocal in a product. The constant operands are checked together first, and folded
        into one float when their exact numbers together pass max_digits digits."""
        add = head is sympy.Add
        constants, others = [], []
        for expr, inverted in operands:
            value = self.value(expr)
            if inverted and value is not None:
                if not (add or value):
                    raise site.error(ParseError, "divides by zero")
                value = -value if add else 1 / value
            (others if value is None else constants).append((expr, inverted, value))
        total = None
        if constants:
            values = [value for _, _, value in constants]
            total = self.check(_MP.fsum(values) if add else _MP.fprod(values), site)
        exprs, inverted = [expr for expr, _, _ in others], [inv for _, inv, _ in others]
        marked = None if add else self.unaffordable_powers(exprs, inverted)
        hidden, reveal = self.hide(exprs, marked)
        terms = [_inverted(h, add) if inv else h for h, inv in zip(hidden, inverted, strict=True)]
        exprs = [expr for expr, _, _ in constants]
        digits = self.sum_digits(exprs) if add else sum(map(self.weight, exprs))
        if len(constants) > 1 and digits > self.max_digits:
            terms.append(_float(total))
        else:
            terms += [_inverted(expr, add) if inv else expr for expr, inv, _ in constants]
        result = reveal(head(*terms))
        return self.settle(result, total if not others else None, site)

    def power(self, base: sympy.Expr, exponent: sympy.Expr, site: Site) -> sympy.Expr:
        """``base**exponent``, its size estimated before SymPy computes it."""
        base_value, exponent_value = self.value(base), self.value(exponent)
        if exponent_value is not None:
            digits = self.weight(base) * float(abs(exponent_value))
            if digits > self.max_magnitude:
                raise site.error(
                    TooLargeError,
                    f"makes about {digits:.0f} digits; the limit is {self.max_magnitude}",
                )
        value = None
        if base_value is not None and exponent_value is not None:
            value = self.check(_power(base_value, exponent_value), site)
        marked = (self.holds_call(base) and not self.afford(base), False)
        (base, exponent), reveal = self.hide([base, exponent], marked)
        return self.settle(reveal(sympy.Pow(base, exponent)), value, site)

    def power_parts(
        self, build: Callable[..., sympy.Expr], args: Sequence[sympy.Expr]
    ) -> tuple[sympy.Expr, sympy.Expr] | None:
        """Base and exponent when ``build`` makes a power (``sqrt``, ``pow``), else None: a
        power goes through :meth:`power`, which estimates its size first."""
        template, _ = _template(build, len(args))
        if not template.is_Pow:
            return None
        hidden, reveal = self.hide(args)
        arguments = dict(zip(_dummies(len(args)), hidden, strict=True))
        return reveal(template.base.xreplace(arguments)), reveal(template.exp.xreplace(arguments))

    def call(
        self, build: Callable[..., sympy.Expr], args: Sequence[sympy.Expr], site: Site
    ) -> sympy.Expr:
        """``build(*args)``; a function of constants is valued numerically first (once per
        parse: ``digamma(3) + digamma(3)`` values it once), and kept exact only when its
        arguments are plain (see the module docstring)."""
        values = [self.value(arg) for arg in args]
        template, elementary = _template(build, len(args))
        for order in _polygamma_orders(template, values):
            if abs(order) > POLYGAMMA_ORDER:
                raise site.error(TooLargeError, f"has a polygamma order beyond {POLYGAMMA_ORDER}")
            if not (order >= 0 and order == _MP.floor(order)):
                raise site.error(ParseError, "has a polygamma order that is not a whole number "
                                 f"from 0 to {POLYGAMMA_ORDER}")
        if any(value is None for value in values):
            if build is template.func:  # one SymPy head, such as sin: built as written
                return self.settle(template.func(*args, evaluate=False), None, site)
            marked = [self.holds_call(arg) or not self.afford(arg) for arg in args]
            hidden, reveal = self.hide(args, marked)  # no function of a function is evaluated
            return self.settle(reveal(build(*hidden)), None, site)
        key = (build, *args)
        if key not in self._calls:
            self._calls[key] = self._constant_call(build, args, values, template, elementary, site)
        return self._calls[key]

    def _constant_call(
        self, build: Callable[..., sympy.Expr], args: Sequence[sympy.Expr],
        values: Sequence[_Value], template: sympy.Expr, elementary: bool, site: Site
    ) -> sympy.Expr:
        value = self.check(_evaluate(template, values), site)
        if value is None:  # SymPy cannot evaluate it (a user's JAX function): left as it is
            return self.settle(build(*args), None, site)
        if all(_is_plain(arg, elementary) for arg in args):
            try:
                exact = build(*args)
            except (ArithmeticError, TypeError, ValueError):  # SymPy gave up: keep the value
                return _float(value)
            return self.settle(exact, value, site)
        return _float(value)


def _polygamma_orders(template: sympy.Expr, values: Sequence[_Value | None]) -> list[_Value]:
    """The values of the orders of the polygammas in ``template`` that are constants (a call's
    other arguments may hold variables: ``None`` among ``values``)."""
    dummies = _dummies(len(values))
    known = [_MP.zero if v is None else v for v in values]  # the orders do not read these
    orders = []
    for f in template.atoms(sympy.polygamma):
        needed = [v for d, v in zip(dummies, values, strict=True) if d in f.args[0].free_symbols]
        if None not in needed:
            order = _evaluate(f.args[0], known)
            orders.append(order if isinstance(order, _MP.mpf) else _MP.nan)
    return orders


def _digits(numerator: int, denominator: int) -> float:
    return math.log10(max(abs(numerator), denominator, 1))


def _atom_value(atom: sympy.Basic) -> _Value | None:
    if atom.is_Rational:
        return _MP.mpf(atom.p) / atom.q
    if atom.is_Float:
        return _MP.mpf(atom._mpf_)
    if atom.is_NumberSymbol:  # pi, E
        return _MP.mpf(atom.evalf(WORKING_DIGITS + 5)._mpf_)
    if atom in (sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
        return _MP.nan
    if atom is sympy.I:
        return _MP.mpc(0, 1)
    return None


def _apply_head(expr: sympy.Basic, args: list[_Value]) -> _Value | None:
    if expr.is_Add:
        return _MP.fsum(args)
    if expr.is_Mul:
        return _MP.fprod(args)
    if expr.is_Pow:
        return _power(*args)
    return _evaluate(expr.func(*_dummies(len(args))), args)


def _power(base: _Value, exponent: _Value) -> _Value:
    try:
        return _MP.power(base, exponent)
    except ZeroDivisionError:
        return _MP.nan


@functools.cache
def _dummies(n: int) -> tuple[sympy.Symbol, ...]:
    return tuple(sympy.Symbol(f"_arg{k}", real=True) for k in range(n))


@functools.cache
def _placeholder(k: int) -> sympy.Dummy:
    return sympy.Dummy(f"hidden{k}", real=True)


def _reveal(expr: sympy.Basic, originals: Mapping[sympy.Basic, sympy.Expr]) -> sympy.Basic:
    """``expr`` with the placeholders of :meth:`Folder.hide` replaced by ``originals``; only
    the nodes above them are rebuilt, without evaluation."""
    if not originals or expr.is_Atom:
        return originals.get(expr, expr)
    return rebuilt(expr, [_reveal(arg, originals) for arg in expr.args])


#: Heads that take ``evaluate=False`` (others, such as ``ExprCondPair``, are built as SymPy does).
_UNEVALUATED = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function, sympy.Min, sympy.Max)


def rebuilt(node: sympy.Basic, args: Sequence[sympy.Basic]) -> sympy.Basic:
    """``node`` with ``args`` as its arguments, built without SymPy's evaluation (which asks
    questions of the whole tree below: seconds on deep trees); ``node`` itself when every
    argument is the one it has."""
    if all(new is old for new, old in zip(args, node.args, strict=True)):
        return node
    return node.func(*args, evaluate=False) if isinstance(node, _UNEVALUATED) else node.func(*args)


@functools.lru_cache(maxsize=1024)
def _template(build: Callable[..., sympy.Expr], n: int) -> tuple[sympy.Expr, bool]:
    """``build`` of ``n`` placeholder arguments, and whether it uses elementary functions only."""
    template = build(*_dummies(n))
    modules = {type(f).__module__ for f in template.atoms(sympy.Function)}
    return template, all((m or "").startswith("sympy.functions.elementary") for m in modules)


def _evaluate(template: sympy.Expr, values: Sequence[_Value]) -> _Value | None:
    """``template`` at ``values``: SymPy evaluates a function of floats numerically, one level."""
    floats = {dummy: sympy.Float._new(v._mpf_, _PREC) for dummy, v in zip(_dummies(len(values)),
                                                                       values, strict=False)}
    try:
        result = template.xreplace(floats).evalf(WORKING_DIGITS)
    except (ArithmeticError, ValueError):  # e.g. loggamma at a pole
        return _MP.nan
    if result.is_Atom:
        return _atom_value(result)
    real, imag = result.as_real_imag()
    if not (real.is_Number and imag.is_Number):
        return None  # a function SymPy cannot evaluate (a user's JAX function): opaque
    if not (real.is_finite and imag.is_finite):
        return _MP.nan
    return _MP.mpc(_atom_value(real), _atom_value(imag)) if imag else _atom_value(real)


def _is_plain(arg: sympy.Expr, elementary: bool) -> bool:
    """Whether ``arg`` is a number, pi, E or a small function-free combination of them (with
    small rationals, unless the function is elementary)."""
    nodes = 0
    for node in sympy.preorder_traversal(arg):
        nodes += 1
        if nodes > PLAIN_NODES or isinstance(node, sympy.Function):
            return False
        if not elementary and node.is_Rational and max(abs(node.p), node.q) > SPECIAL_BOUND:
            return False
    return True


def _inverted(expr: sympy.Expr, add: bool) -> sympy.Expr:
    return -expr if add else sympy.Pow(expr, -1)


def _float(value: _Value) -> sympy.Float | sympy.Integer:
    """``value`` rounded to a double-precision SymPy float; an integer (the value of a step
    function, exact at the working precision) stays one."""
    if _MP.isint(value) and abs(value) < 2**53:
        return sympy.Integer(int(value))
    return sympy.Float._new(mpf_pos(value._mpf_, 53, round_nearest), 53)


def _short(value: _Value) -> str:
    return _MP.nstr(value, 6).strip("()").replace("j", "i")
