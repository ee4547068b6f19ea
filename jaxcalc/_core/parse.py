"""Formula text to a SymPy expression, safely.

The text is read by Python's own parser (``ast.parse`` in ``"eval"`` mode) and the tree is walked
against allow-lists: number literals, names, ``+ - * / **`` (``^`` means ``**``), unary signs and
calls of the functions in :data:`FUNCTIONS`. Nothing the user writes is evaluated as Python; the
SymPy tree is built from SymPy constructors, and every symbol is real (``Symbol(name, real=True)``).
The :class:`ParseLimits` are checked before the work they guard, so any text is answered quickly.

Example:
    >>> parse("3*x^2 + 1")
    3*x**2 + 1
"""

from __future__ import annotations

import ast
import bisect
import difflib
import keyword
import math
import re
import time
import unicodedata
import warnings
from collections.abc import Callable, Collection, Container, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import mpmath
import sympy

from .errors import (
    EmptyExpressionError,
    ExpressionSyntaxError,
    InputError,
    NonAsciiError,
    ParseError,
    TooLargeError,
    UnknownFunctionError,
    UnknownNameError,
    UnsafeConstructError,
)

__all__ = ["CONSTANTS", "DEFAULT_LIMITS", "FUNCTIONS", "ParseLimits", "parse"]


@dataclass(frozen=True)
class ParseLimits:
    """Resource limits of :func:`parse`; exceeding one raises :class:`TooLargeError`.

    Attributes:
        max_length: characters of text.
        max_nodes: nodes of Python's syntax tree (operands and operations).
        max_depth: nesting depth of brackets, and of calls, unary signs, powers and operands in
            the tree, where a chain of ``+``/``-`` (or ``*``/``/``) is one level: long flat sums
            pass.
        max_digits: digits of a number literal, and of each exact number in the result (so
            that what SymPy prints parses again).
        max_exponent: bound on a constant exponent, and on the denominator of an exact one:
            ``x**(10**100)`` and ``2**10**10`` are refused before SymPy computes anything.
        max_magnitude: a constant given to a function, and a constant power, must lie within
            ``10**±max_magnitude`` (the float64 range) or be 0; an exact power or ``gamma`` may
            make this many digits, and all of them together 10 times as many.
        max_seconds: CPU seconds of SymPy work, which evaluates constants eagerly (as in
            ``floor(exp(99))``); a safety net.
    """

    max_length: int = 10_000
    max_nodes: int = 5_000
    max_depth: int = 100
    max_digits: int = 400
    max_exponent: int = 10_000
    max_magnitude: int = 308
    max_seconds: float = 0.25


DEFAULT_LIMITS = ParseLimits()

_ONE, _TWO, _ONE_OR_TWO, _SEVERAL = (1,), (2,), (1, 2), range(2, 33)

#: The allowed functions: name -> (SymPy callable, allowed numbers of arguments).
#: ``log(x, b)`` is the base-``b`` logarithm; ``abs`` is ``Abs``. ``cbrt`` is SymPy's principal
#: cube root ``x**(1/3)`` (complex for negative ``x``); the real one is ``sign(x)*cbrt(Abs(x))``.
#: ``Min``/``Max`` fold their number arguments but leave the others be (no pairwise comparisons).
# fmt: off
FUNCTIONS: Mapping[str, tuple[Callable[..., sympy.Expr], Container[int]]] = MappingProxyType(
    {
        **{name: (getattr(sympy, name), _ONE) for name in (
            "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
            "acosh", "atanh", "exp", "sqrt", "cbrt", "Abs", "sign", "floor", "ceiling",
            "Heaviside", "erf", "erfc", "gamma", "loggamma")},
        "abs": (sympy.Abs, _ONE),
        "atan2": (sympy.atan2, _TWO),
        "log": (sympy.log, _ONE_OR_TWO),
        "Min": (sympy.Min, _SEVERAL),
        "Max": (sympy.Max, _SEVERAL),
    }
)
# fmt: on

#: The named constants.
CONSTANTS: Mapping[str, sympy.Expr] = MappingProxyType({"pi": sympy.pi, "E": sympy.E})

_Unary = Callable[[sympy.Expr], sympy.Expr]
_LOG10_2 = math.log10(2)
_BAD_CHAR = re.compile(r"[^\t\n\x20-\x7e]")
_BRACKET = re.compile(r"[()\[\]{}]")
_NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(?:\.[\d_]*)?")
_CALLS = "|".join(sorted(FUNCTIONS, key=len, reverse=True))
_FUNCTION_LIST = ", ".join(sorted(FUNCTIONS)) + " (for a product write `*`)"
_HINTS = (  # (pattern of a likely slip, what it meant, what the slip is called)
    (r"(?<![\w.])(\d+(?:\.\d*)?)(?![eE][+-]?\d)([A-Za-z]\w*)", "{}*{}", "implicit multiplication"),
    (rf"(?<![\w.])({_CALLS})\s+(\w+)", "{}({})", "a call without parentheses"),
    (r"(?<![\w.])(\w+)\s+(\w+)", "{}*{}", "implicit multiplication"),
)
_ALLOWED = "use numbers, names, + - * / ** ^ and calls of allowed functions"
# fmt: off
_UNSAFE = {
    ast.Attribute: "attribute access (`.`)", ast.Subscript: "subscripts (`[...]`)",
    ast.Lambda: "lambda functions", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings", ast.Compare: "comparisons", ast.BoolOp: "`and`/`or`",
    ast.NamedExpr: "assignment expressions (`:=`)", ast.IfExp: "conditional expressions",
    ast.Tuple: "tuples", ast.List: "lists", ast.Set: "sets", ast.Dict: "dicts",
    ast.Starred: "starred arguments", ast.Await: "`await`",
    ast.MatMult: "`@`", ast.FloorDiv: "`//`", ast.Mod: "`%`", ast.LShift: "`<<`",
    ast.RShift: "`>>`", ast.BitOr: "`|`", ast.BitAnd: "`&`",
    ast.Not: "`not`", ast.Invert: "`~`", str: "string literals", bytes: "bytes literals",
    bool: "`True`/`False`", type(None): "`None`", complex: "complex numbers",
    type(...): "`...`",
}
# fmt: on


def parse(
    text: str,
    variables: Collection[str] | None = None,
    *,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> sympy.Expr:
    """Parse formula text into a SymPy expression without ever executing it.

    Args:
        text: the formula, e.g. ``"x**3 - 1/x"``; ``^`` is a power, as ``**``.
        variables: the names it may use besides :data:`CONSTANTS`; ``None`` allows any name.
        limits: resource limits, see :class:`ParseLimits`.

    Returns:
        The expression; every name becomes ``sympy.Symbol(name, real=True)``.

    Raises:
        ParseError: a subclass saying what is wrong and, where known, at which 1-based
            ``column`` (counted from the start of the text).
        InputError: ``variables`` is not a collection of plain names.

    Example:
        >>> parse("x**3 - 1/x")
        x**3 - 1/x
    """
    names = _check_variables(variables)
    source = _Source(_check_text(text, limits), limits)
    tree = source.syntax_tree()
    try:
        return _Builder(source, names, limits).result(tree.body)
    except ParseError:
        raise
    except (RecursionError, MemoryError, OverflowError) as err:
        raise TooLargeError(f"a constant is too large to evaluate ({err})") from None
    except Exception as err:  # SymPy evaluating a constant; never let it escape unexplained
        raise ParseError(f"could not build the expression: {type(err).__name__}: {err}") from None


def _check_variables(variables: Collection[str] | None) -> tuple[str, ...] | None:
    if variables is None:
        return None
    if isinstance(variables, str) or not isinstance(variables, Iterable):
        raise InputError(
            f"`variables` must be a collection of names like ('x',), not {variables!r}"
        )
    names = tuple(variables)
    for name in names:
        plain = isinstance(name, str) and name.isidentifier() and name.isascii()
        if not plain or keyword.iskeyword(name) or name.startswith("_"):
            raise InputError(f"`variables` holds {name!r}, which is not a plain name like 'x'")
        if name in FUNCTIONS or name in CONSTANTS:
            raise InputError(f"`variables` holds {name!r}, which names a function or constant")
    return names


def _check_text(text: object, limits: ParseLimits) -> str:
    """The cheap checks, done before Python's parser sees the text; returns it."""
    if not isinstance(text, str):
        raise ParseError(f"expected text (a str) such as 'x**2 + 1', got {type(text).__name__}")
    if len(text) > limits.max_length:
        raise TooLargeError(f"text is {len(text)} characters; the limit is {limits.max_length}")
    if bad := _BAD_CHAR.search(text):
        char, column = bad.group(), bad.start() + 1
        kind = "control character" if char < "\x80" else "non-ASCII character"
        name = unicodedata.name(char, "")
        raise NonAsciiError(
            f"{kind} U+{ord(char):04X}{f' ({name})' if name else ''} at column {column}; "
            "formulas use ASCII letters, digits and operators only",
            column=column,
        )
    if not text.strip():
        raise EmptyExpressionError("empty expression; expected a formula such as 'x**2 + 1'")
    if (comment := text.find("#") + 1) > 0:  # Python would silently drop the rest of the line
        raise UnsafeConstructError(
            f"not allowed at column {comment}: comments (`#`)", column=comment
        )
    _check_sizes(text, limits)
    return text


def _check_sizes(text: str, limits: ParseLimits) -> None:
    """Bracket depth and digits per number, by a scan: Python's parser may choke on either."""
    depth = 0
    for bracket in _BRACKET.finditer(text):
        depth += 1 if bracket.group() in "([{" else -1
        if depth > limits.max_depth:
            column = bracket.start() + 1
            raise TooLargeError(
                f"brackets nested deeper than {limits.max_depth} at column {column}", column=column
            )
    for number in _NUMBER.finditer(text):
        digits = sum(char.isdigit() for char in number.group())
        if digits > limits.max_digits:
            column = number.start() + 1
            raise TooLargeError(
                f"number at column {column} has {digits} digits; the limit is {limits.max_digits}",
                column=column,
            )


class _Source:
    """The text as Python code (``^`` spelled ``**``, blanks as spaces) and its column map."""

    def __init__(self, text: str, limits: ParseLimits):
        self.text, self.limits = text, limits
        body = text.lstrip()
        self.shift = len(text) - len(body)
        carets = [match.start() for match in re.finditer(r"\^", body)]
        self.caret_starts = [start + k for k, start in enumerate(carets)]  # positions in code
        self.code = body.replace("\t", " ").replace("\n", " ").replace("^", "**")

    def column(self, offset: int) -> int:
        """The 1-based column of the text at 0-based ``offset`` of the code."""
        return self.shift + offset - bisect.bisect_left(self.caret_starts, offset) + 1

    def syntax_tree(self) -> ast.Expression:
        try:
            with warnings.catch_warnings():  # e.g. "invalid decimal literal": no output, ever
                warnings.simplefilter("ignore")
                tree = ast.parse(self.code, mode="eval")
        except SyntaxError as err:
            raise self.syntax_error(err) from None
        except (RecursionError, MemoryError):
            raise TooLargeError("expression too long or deep for Python's parser") from None
        nodes, limit = sum(isinstance(n, ast.expr) for n in ast.walk(tree)), self.limits.max_nodes
        if nodes > limit:
            raise TooLargeError(f"expression has {nodes} parts; the limit is {limit}")
        return tree

    def syntax_error(self, err: SyntaxError) -> ExpressionSyntaxError:
        for pattern, meant, slip in _HINTS:
            for match in re.finditer(pattern, self.text):
                if not any(keyword.iskeyword(word) for word in match.groups()):
                    column = match.start() + 1
                    return ExpressionSyntaxError(
                        f"{slip} at column {column} is not supported; "
                        f"did you mean `{meant.format(*match.groups())}`?",
                        column=column,
                    )
        end = len(self.text.rstrip())
        at_end = not err.offset or err.offset > len(self.code)
        if at_end and self.text[end - 1] in "+-*/^(,":
            return ExpressionSyntaxError(
                f"incomplete expression: nothing follows `{self.text[end - 1]}` at column {end}",
                column=end,
            )
        column = min(self.column(err.offset - 1), end) if err.offset else end
        detail = (err.msg or "").split(". Perhaps")[0]
        detail = "" if detail in ("", "invalid syntax") else f": {detail}"
        return ExpressionSyntaxError(f"invalid syntax at column {column}{detail}", column=column)


def _size(value: sympy.Expr) -> tuple[float, bool]:
    """``|log10|value||`` of a constant (the digit count of an exact one; 0 for 0, oo and nan),
    and whether it is real."""
    if value.is_Rational:
        return math.log10(max(abs(value.p), value.q)), True
    approx = value if value.is_Float else value.evalf(3)
    real, imag = approx.as_real_imag()
    parts = [part for part in (real, imag) if part.is_Float and part]
    size = max((min(abs(mpmath.mag(part)), 10**9) * _LOG10_2 for part in parts), default=0.0)
    return size, imag.is_zero is True


class _Builder:
    """Walks the syntax tree against the allow-lists, building the SymPy tree bottom-up."""

    def __init__(self, source: _Source, variables: tuple[str, ...] | None, limits: ParseLimits):
        self.source, self.variables, self.limits = source, variables, limits
        self.digits_left = 10 * limits.max_magnitude  # exact digits powers and gamma may still make
        self.deadline = time.thread_time() + limits.max_seconds
        self.constant_memo: dict[sympy.Basic, bool] = {}

    def result(self, node: ast.expr) -> sympy.Expr:
        expr = self.build(node, 1)
        limit = self.limits.max_digits
        bound = 10**limit
        if any(max(abs(n.p), n.q) >= bound for n in expr.atoms(sympy.Rational)):
            raise TooLargeError(f"the result holds a number with more than {limit} digits")
        return expr

    def error(self, cls: type[ParseError], node: ast.AST, what: str, then: str = "") -> ParseError:
        column = self.source.column(node.col_offset)
        return cls(f"{what} at column {column}{then}", column=column)

    def unsafe(self, node: ast.AST, kind: type | str) -> ParseError:
        what = kind if isinstance(kind, str) else _UNSAFE.get(kind, f"`{kind.__name__}`")
        return self.error(UnsafeConstructError, node, "not allowed", f": {what}; {_ALLOWED}")

    def build(self, node: ast.expr, depth: int) -> sympy.Expr:
        if depth > self.limits.max_depth:
            raise self.error(TooLargeError, node, f"nesting deeper than {self.limits.max_depth}")
        if time.thread_time() > self.deadline:
            raise self.error(TooLargeError, node, "too much work evaluating constants")
        kind = type(node)
        if kind is ast.Constant:
            return self.number(node)
        if kind is ast.Name:
            return self.name(node)
        if kind is ast.Call:
            return self.call(node, depth)
        if kind is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
            operand = self.build(node.operand, depth + 1)
            return -operand if type(node.op) is ast.USub else operand
        if kind is ast.BinOp and type(node.op) is ast.Pow:
            return self.power(node, depth)
        if kind is ast.BinOp and type(node.op) in (ast.Add, ast.Sub):
            return sympy.Add(*self.chain(node, ast.Add, ast.Sub, depth, lambda term: -term))
        if kind is ast.BinOp and type(node.op) in (ast.Mult, ast.Div):
            return sympy.Mul(*self.chain(node, ast.Mult, ast.Div, depth, _reciprocal))
        raise self.unsafe(node, type(node.op) if kind in (ast.BinOp, ast.UnaryOp) else kind)

    def chain(
        self, node: ast.expr, op: type, inverse_op: type, depth: int, invert: _Unary
    ) -> list[sympy.Expr]:
        """The operands of a left-nested chain such as ``a - b + c``, walked without recursion."""
        links = []
        while type(node) is ast.BinOp and type(node.op) in (op, inverse_op):
            links.append((type(node.op), node.right))
            node = node.left
        operands = []
        if op is ast.Mult and type(node) is ast.UnaryOp and type(node.op) is ast.USub:
            operands.append(sympy.Integer(-1))  # `-a/b` is -(a/b), as SymPy prints it; (-a)/b
            node = node.operand  # would distribute the sign over a sum `a` and not round-trip
        links.append((op, node))
        for link_op, operand in reversed(links):
            value = self.build(operand, depth + 1)
            operands.append(invert(value) if link_op is inverse_op else value)
        return operands

    def number(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if type(value) is int:
            if abs(value) >= 10**self.limits.max_digits:  # e.g. hexadecimal; decimal is checked
                limit = self.limits.max_digits  # before parsing, by _check_text
                raise self.error(TooLargeError, node, f"a number of more than {limit} digits")
            return sympy.Integer(value)
        if type(value) is float:
            if not math.isfinite(value):
                raise self.error(TooLargeError, node, "a number beyond double precision")
            return sympy.Float(value)
        raise self.unsafe(node, type(value))

    def name(self, node: ast.Name) -> sympy.Expr:
        name = node.id
        if name.startswith("_"):
            raise self.unsafe(node, "names starting with `_`")
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            what, then = f"function `{name}` without arguments", f"; call it, e.g. `{name}(x)`"
            raise self.error(ExpressionSyntaxError, node, what, then)
        if self.variables is not None and name not in self.variables:
            allowed = [*self.variables, *CONSTANTS]
            then = f";{_did_you_mean(name, allowed)} allowed names: {', '.join(allowed)}"
            raise self.error(UnknownNameError, node, f"unknown name `{name}`", then)
        return sympy.Symbol(name, real=True)

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        func = node.func
        if type(func) is not ast.Name or func.id not in FUNCTIONS:
            raise self.bad_callee(node, depth)
        if node.keywords:
            raise self.unsafe(node.keywords[0].value, "keyword arguments")
        name = func.id
        function, arities = FUNCTIONS[name]
        if len(node.args) not in arities:
            then = f": `{name}` takes {_arity(arities)}, got {len(node.args)}"
            raise self.error(ExpressionSyntaxError, node, "wrong number of arguments", then)
        args = [self.build(arg, depth + 1) for arg in node.args]
        what = f"the argument of `{name}`"
        real = all([self.check_magnitude(arg, node, what) for arg in args])
        if name in ("gamma", "loggamma") and args[0].is_Rational and args[0].q <= 2:
            size = float(min(abs(args[0]), 10**6))  # SymPy writes gamma(n), gamma(n + 1/2) out
            if size > 2:
                self.spend(math.lgamma(size) / math.log(10), node, f"`{name}`")
        if name in ("Min", "Max"):  # SymPy compares symbolic arguments pairwise, slowly
            numbers = [arg for arg in args if arg.is_Number]
            others = [arg for arg in args if not arg.is_Number]
            return function(*others, *([function(*numbers)] if numbers else []), evaluate=False)
        if real:
            result = function(*args)
            return self.checked_power(result, node) if result.is_Pow else result
        # SymPy can take seconds to simplify functions of complex constants, e.g. acos(3): skip it
        if name == "log" and len(args) == 2:
            return function(args[0], evaluate=False) / function(args[1], evaluate=False)
        return function(*args, evaluate=False)

    def bad_callee(self, node: ast.Call, depth: int) -> ParseError:
        func = node.func
        if type(func) is ast.Name and func.id.startswith("_"):
            return self.unsafe(func, "names starting with `_`")
        if type(func) is ast.Name and func.id not in (*CONSTANTS, *(self.variables or ())):
            then = f";{_did_you_mean(func.id, FUNCTIONS)} the functions are {_FUNCTION_LIST}"
            return self.error(UnknownFunctionError, func, f"unknown function `{func.id}`", then)
        self.build(func, depth + 1)  # a callee that is no allowed operand fails here
        head = self.source.code[node.col_offset : self.source.code.index("(", func.end_col_offset)]
        then = f" is not supported; did you mean `{head.strip()[:40]}*(...)`?"
        return self.error(ExpressionSyntaxError, node, "implicit multiplication", then)

    def power(self, node: ast.BinOp, depth: int) -> sympy.Expr:
        base = self.build(node.left, depth + 1)
        exponent = self.build(node.right, depth + 1)
        real = self.check_exponent(exponent, node.right)
        if base.is_Rational and exponent.is_Rational:
            self.spend(_size(base)[0] * (abs(exponent.p) // exponent.q), node, "the power")
        real &= self.check_magnitude(base, node, "the base of the power")
        return self.checked_power(sympy.Pow(base, exponent, evaluate=real), node)

    def checked_power(self, result: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """``result``, checked: SymPy merges nested powers, ``sqrt(sqrt(x))`` is ``x**(1/4)``."""
        if result.is_Pow:
            self.check_exponent(result.exp, node)
        self.check_magnitude(result, node, "the power")
        return result

    def check_exponent(self, exponent: sympy.Expr, node: ast.AST) -> bool:
        """Whether ``exponent`` is not a constant, or a real one; raises if it is too large."""
        if not self.is_constant(exponent):
            return True
        limit = self.limits.max_exponent
        if exponent.is_Rational:
            real, small = True, abs(exponent.p) <= limit * exponent.q and exponent.q <= limit
        else:
            size, real = _size(exponent)
            small = size <= math.log10(limit)
        if not small:
            raise self.error(TooLargeError, node, f"an exponent beyond {limit}")
        return real

    def is_constant(self, expr: sympy.Basic) -> bool:
        """Whether ``expr`` has no symbols (memoized, so parents reuse their children's answers)."""
        if expr.is_Atom:
            return not expr.is_Symbol
        known = self.constant_memo.get(expr)
        if known is None:
            known = self.constant_memo[expr] = all(map(self.is_constant, expr.args))
        return known

    def check_magnitude(self, value: sympy.Expr, node: ast.AST, what: str) -> bool:
        """Whether ``value`` is not a constant, or a real one; raises if it is too large."""
        if not self.is_constant(value):
            return True
        size, real = _size(value)
        if size > self.limits.max_magnitude:
            raise self.error(
                TooLargeError, node, what, f" is beyond 10**±{self.limits.max_magnitude}"
            )
        return real

    def spend(self, digits: float, node: ast.AST, what: str) -> None:
        self.digits_left -= digits
        if digits > self.limits.max_magnitude or self.digits_left < 0:
            limit = self.limits.max_magnitude
            then = (
                f" makes about {digits:.0f} digits; the limit is {limit} each, {10 * limit} in all"
            )
            raise self.error(TooLargeError, node, what, then)


def _reciprocal(value: sympy.Expr) -> sympy.Expr:
    return sympy.Pow(value, -1)


def _arity(arities: Container[int]) -> str:
    if isinstance(arities, range):
        return f"{arities.start} to {arities.stop - 1} arguments"
    return " or ".join(map(str, arities)) + (" argument" if arities == _ONE else " arguments")


def _did_you_mean(name: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" did you mean `{close[0]}`?" if close else ""
