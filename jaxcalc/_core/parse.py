"""Formula text to a SymPy expression, safely.

The text is read by Python's own parser (``ast.parse`` in ``"eval"`` mode) and the tree is walked
against allow-lists: number literals, names, ``+ - * / **`` (``^`` means ``**``), unary signs and
calls of the functions in the registry (:data:`jaxcalc._core.registry.REGISTRY`, or one extended
by ``functions=``). Nothing the user writes is evaluated as Python; the SymPy tree is built from
SymPy constructors, and every symbol is real (``Symbol(name, real=True)``). A name is a function
only where it is called: ``gamma*pr/rho`` has the variables gamma, pr and rho.

Acceptance depends on the text and the :class:`ParseLimits` only, never on time or load: the
limits bound the work itself (characters, syntax nodes, depth, digits, exponents, magnitudes),
constants are folded with a bounded amount of work per node, and SymPy's evaluation around
variables is kept from deep arguments and bounded per text (see ``_core.fold``), so any text
is answered quickly.

Example:
    >>> parse("3*x^2 + 1")
    3*x**2 + 1
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import difflib
import functools
import keyword
import re
import unicodedata
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

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
from .fold import Folder, Site
from .registry import REGISTRY, Registry

__all__ = ["CONSTANTS", "DEFAULT_LIMITS", "ParseLimits", "name_hint", "parse"]


@dataclass(frozen=True)
class ParseLimits:
    """Limits of :func:`parse` on the work a text may ask for; exceeding one raises
    :class:`TooLargeError`. Each is a positive integer (else :class:`InputError`).

    Attributes:
        max_length: characters of text.
        max_nodes: nodes of Python's syntax tree (operands and operations).
        max_depth: nesting depth of brackets, and of calls, unary signs, powers and operands in
            the tree, where a chain of ``+``/``-`` (or ``*``/``/``) is one level: long flat sums
            pass.
        max_digits: digits of a number literal, and of each exact number in the result (so
            that what SymPy prints parses again); exact arithmetic that would pass it is
            carried out in floating point instead.
        max_exponent: bound on a constant exponent, and on the denominator of an exact one,
            also after SymPy merges powers (``x**10000*x**10000``): ``x**(10**100)`` and
            ``2**10**10`` are refused before SymPy computes anything.
        max_magnitude: every constant (a literal, an intermediate or a folded value) must be 0
            or have a decimal exponent within ``±max_magnitude`` (the float64 range), and an
            exact power may make at most this many digits.
    """

    max_length: int = 10_000
    max_nodes: int = 5_000
    max_depth: int = 100
    max_digits: int = 400
    max_exponent: int = 10_000
    max_magnitude: int = 308

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value < 1:
                raise InputError(
                    f"`ParseLimits.{field.name}` must be a positive integer, got {value!r}"
                )


DEFAULT_LIMITS = ParseLimits()

#: The named constants.
CONSTANTS: Mapping[str, sympy.Expr] = MappingProxyType({"pi": sympy.pi, "E": sympy.E})

_BAD_CHAR = re.compile(r"[^\t\n\x20-\x7e]")
#: ``lambda``, a wavelength or a rate in physics and a keyword in Python, is a name in any text
#: without a ``:`` (which every lambda expression has): Python's parser reads it as ``_ambda``
#: (as long, so columns stay), and the names at those places are put back.
_LAMBDA = re.compile(r"\blambda\b")
_BRACKET = re.compile(r"[()\[\]{}]")
_NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(?:\.[\d_]*)?")
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
    functions: Registry | Mapping[str, object] | None = None,
) -> sympy.Expr:
    """Parse formula text into a SymPy expression without ever executing it.

    Args:
        text: the formula, e.g. ``"x**3 - 1/x"``; ``^`` is a power, as ``**``.
        variables: the names it may use besides :data:`CONSTANTS`; ``None`` allows any name.
            A name that is not called is a variable, even one spelled like a function.
        limits: bounds on the work, see :class:`ParseLimits`.
        functions: the functions it may call: a ``Registry``, or a mapping of user functions
            added to the built-in ones (``Registry.extend``); default: the built-in ones.

    Returns:
        The expression; every name becomes ``sympy.Symbol(name, real=True)``. Constants are
        real, finite and folded as ``_core.fold`` describes.

    Raises:
        ParseError: a subclass saying what is wrong and, where known, at which 1-based
            ``column`` (counted from the start of the text).
        InputError: ``variables``, ``limits`` or ``functions`` is not what is expected.

    Example:
        >>> parse("x**3 - 1/x")
        x**3 - 1/x
        >>> parse("gamma*pr/rho", variables=("gamma", "pr", "rho"))
        gamma*pr/rho
    """
    if not isinstance(limits, ParseLimits):
        raise InputError(f"`limits` must be a jaxcalc.ParseLimits, got {type(limits).__name__}")
    registry = _registry(functions)
    names = _check_variables(variables)
    source = _Source(_check_text(text, limits), limits, registry)
    tree = source.syntax_tree()
    try:
        return _Builder(source, names, registry).result(tree.body)
    except ParseError:
        raise
    except (RecursionError, MemoryError, OverflowError) as err:
        raise TooLargeError(f"a constant is too large to evaluate ({err})") from None
    except Exception as err:  # SymPy building a node; never let it escape unexplained
        raise ParseError(f"could not build the expression: {type(err).__name__}: {err}") from None


def name_hint(name: str) -> str:
    """What a variable called ``name`` was probably meant to be, or ``""``.

    Example:
        >>> name_hint("e")
        "for Euler's number write `E`, and `exp(x)` for e**x"
    """
    if name == "e":
        return "for Euler's number write `E`, and `exp(x)` for e**x"
    if name == "I":
        return "`I` is a variable here: jaxcalc computes with real numbers only"
    if name.lower() == "pi" and name != "pi":
        return "for the number pi write `pi`"
    return ""


def _registry(functions: Registry | Mapping[str, object] | None) -> Registry:
    if functions is None:
        return REGISTRY
    if isinstance(functions, Registry):
        return functions
    if isinstance(functions, Mapping):
        return REGISTRY.extend(functions)
    raise InputError(
        "`functions` must be a mapping such as {'mish': 'u*tanh(log(1 + exp(u)))'}, "
        f"got {type(functions).__name__}"
    )


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
        if not plain or (keyword.iskeyword(name) and name != "lambda") or name.startswith("_"):
            raise InputError(f"`variables` holds {name!r}, which is not a plain name like 'x'")
        if name in CONSTANTS:
            raise InputError(f"`variables` holds {name!r}, which names a constant")
    return names


@functools.lru_cache(maxsize=16)
def _hints(registry: Registry) -> tuple[tuple[str, str, str], ...]:
    """(pattern of a likely slip, what it meant, what the slip is called)."""
    calls = "|".join(sorted(registry, key=len, reverse=True))
    return (
        (r"(?<![\w.])(\d+(?:\.\d*)?)(?![eE][+-]?\d)([A-Za-z]\w*)", "{}*{}",
         "implicit multiplication"),
        (rf"(?<![\w.])({calls})\s+(\w+)", "{}({})", "a call without parentheses"),
        (r"(?<![\w.])(\w+)\s+(\w+)", "{}*{}", "implicit multiplication"),
    )  # fmt: skip


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
    """The text as Python code (``^`` spelled ``**``, blanks as spaces), the code Python's
    parser reads (``lambda`` a name: see :data:`_LAMBDA`) and the column map."""

    def __init__(self, text: str, limits: ParseLimits, registry: Registry):
        self.text, self.limits, self.registry = text, limits, registry
        body = text.lstrip()
        self.shift = len(text) - len(body)
        carets = [match.start() for match in re.finditer(r"\^", body)]
        self.caret_starts = [start + k for k, start in enumerate(carets)]  # positions in code
        self.code = body.replace("\t", " ").replace("\n", " ").replace("^", "**")
        self.parsed, self.lambdas = self.code, set()  # what Python's parser reads: see _LAMBDA
        if ":" not in self.code:
            self.lambdas = {match.start() for match in _LAMBDA.finditer(self.code)}
            self.parsed = _LAMBDA.sub("_ambda", self.code)

    def is_keyword(self, word: str) -> bool:
        """Whether Python's parser reads ``word`` as a keyword in this code."""
        return keyword.iskeyword(word) and not (word == "lambda" and self.lambdas)

    def column(self, offset: int) -> int:
        """The 1-based column of the text at 0-based ``offset`` of the code."""
        return self.shift + offset - bisect.bisect_left(self.caret_starts, offset) + 1

    def site(self, node: ast.expr) -> Site:
        """Where ``node`` is, for messages that quote it."""
        return Site(self.code, node.col_offset, node.end_col_offset, self.column(node.col_offset))

    def syntax_tree(self) -> ast.Expression:
        try:
            with warnings.catch_warnings():  # e.g. "invalid decimal literal": no output, ever
                warnings.simplefilter("ignore")
                tree = ast.parse(self.parsed, mode="eval")
        except SyntaxError as err:
            raise self.syntax_error(err) from None
        except (RecursionError, MemoryError):
            raise TooLargeError("expression too long or deep for Python's parser") from None
        nodes, limit = 0, self.limits.max_nodes
        for node in ast.walk(tree):
            nodes += isinstance(node, ast.expr)
            if type(node) is ast.Name and node.col_offset in self.lambdas:
                node.id = "lambda"
        if nodes > limit:
            raise TooLargeError(f"expression has {nodes} parts; the limit is {limit}")
        return tree

    def syntax_error(self, err: SyntaxError) -> ExpressionSyntaxError:
        for pattern, meant, slip in _hints(self.registry):
            for match in re.finditer(pattern, self.text):
                if not any(map(self.is_keyword, match.groups())):
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


class _Builder:
    """Walks the syntax tree against the allow-lists, building the SymPy tree bottom-up."""

    def __init__(self, source: _Source, variables: tuple[str, ...] | None, registry: Registry):
        self.source, self.variables, self.registry = source, variables, registry
        self.limits = limits = source.limits
        self.fold = Folder(limits.max_digits, limits.max_magnitude)

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
        kind = type(node)
        if kind is ast.Constant:
            return self.number(node)
        if kind is ast.Name:
            return self.name(node)
        if kind is ast.Call:
            return self.call(node, depth)
        if kind is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
            operand = self.build(node.operand, depth + 1)
            if type(node.op) is ast.UAdd:
                return operand
            return self.fold.combine(sympy.Mul, [(_MINUS_ONE, False), (operand, False)],
                                     self.source.site(node))  # fmt: skip
        if kind is ast.BinOp and type(node.op) is ast.Pow:
            base, exponent = (self.build(side, depth + 1) for side in (node.left, node.right))
            return self.power(node, base, exponent, node.right)
        if kind is ast.BinOp and type(node.op) in (ast.Add, ast.Sub):
            return self.chain(node, sympy.Add, ast.Add, ast.Sub, depth)
        if kind is ast.BinOp and type(node.op) in (ast.Mult, ast.Div):
            return self.chain(node, sympy.Mul, ast.Mult, ast.Div, depth)
        raise self.unsafe(node, type(node.op) if kind in (ast.BinOp, ast.UnaryOp) else kind)

    def chain(
        self, node: ast.expr, head: type, op: type, inverse_op: type, depth: int
    ) -> sympy.Expr:
        """A left-nested chain such as ``a - b + c``, walked without recursion."""
        top, links = node, []
        while type(node) is ast.BinOp and type(node.op) in (op, inverse_op):
            links.append((type(node.op), node.right))
            node = node.left
        operands = []
        if op is ast.Mult and type(node) is ast.UnaryOp and type(node.op) is ast.USub:
            operands.append((_MINUS_ONE, False))  # `-a/b` is -(a/b), as SymPy prints it; (-a)/b
            node = node.operand  # would distribute the sign over a sum `a` and not round-trip
        links.append((op, node))
        for link_op, operand in reversed(links):
            operands.append((self.build(operand, depth + 1), link_op is inverse_op))
        result = self.fold.combine(head, operands, self.source.site(top))
        return self.checked_powers(result, top)

    def number(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if type(value) is int:
            if abs(value) >= 10**self.limits.max_digits:  # e.g. hexadecimal; decimal is checked
                limit = self.limits.max_digits  # before parsing, by _check_text
                raise self.error(TooLargeError, node, f"a number of more than {limit} digits")
            number = sympy.Integer(value)
        elif type(value) is float:
            literal = self.source.site(node).text
            if value in (float("inf"), 0.0) and re.search(r"^[^eE]*[1-9]", literal):
                way = "above" if value else "below"
                raise self.error(TooLargeError, node, f"a number {way} double precision")
            number = sympy.Float(value)
        else:
            raise self.unsafe(node, type(value))
        self.fold.check(self.fold.value(number), self.source.site(node))
        return number

    def name(self, node: ast.Name) -> sympy.Expr:
        name = node.id
        if name.startswith("_"):
            raise self.unsafe(node, "names starting with `_`")
        if name in CONSTANTS:
            return CONSTANTS[name]
        if self.variables is not None and name not in self.variables:
            allowed = [*self.variables, *CONSTANTS]
            hint = name_hint(name)
            hint = f" {hint};" if hint else _did_you_mean(name, allowed)
            if name in self.registry:
                hint += f" `{name}` is a function: call it, e.g. `{name}(x)`, or declare it;"
            then = f";{hint} allowed names: {', '.join(allowed)}"
            raise self.error(UnknownNameError, node, f"unknown name `{name}`", then)
        return sympy.Symbol(name, real=True)

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        func = node.func
        if type(func) is not ast.Name or func.id not in self.registry:
            raise self.bad_callee(node, depth)
        if node.keywords:
            raise self.unsafe(node.keywords[0].value, "keyword arguments")
        name = func.id
        entry = self.registry[name]
        if len(node.args) not in entry.arity:
            then = f": `{name}` takes {_arity(entry.arity)}, got {len(node.args)}"
            raise self.error(ExpressionSyntaxError, node, "wrong number of arguments", then)
        args = [self.build(arg, depth + 1) for arg in node.args]
        if parts := self.fold.power_parts(entry.build, args):
            return self.power(node, *parts, node)
        result = self.fold.call(entry.build, args, self.source.site(node))
        return self.checked_powers(result, node)

    def bad_callee(self, node: ast.Call, depth: int) -> ParseError:
        func = node.func
        if type(func) is ast.Name and func.id.startswith("_"):
            return self.unsafe(func, "names starting with `_`")
        if type(func) is ast.Name and func.id not in (*CONSTANTS, *(self.variables or ())):
            names = sorted(self.registry)
            listing = f"{', '.join(names)} (for a product write `*`)"
            then = f";{_did_you_mean(func.id, names)} the functions are {listing}"
            return self.error(UnknownFunctionError, func, f"unknown function `{func.id}`", then)
        self.build(func, depth + 1)  # a callee that is no allowed operand fails here
        head = self.source.code[node.col_offset : self.source.code.index("(", func.end_col_offset)]
        then = f" is not supported; did you mean `{head.strip()[:40]}*(...)`?"
        return self.error(ExpressionSyntaxError, node, "implicit multiplication", then)

    def power(
        self, node: ast.expr, base: sympy.Expr, exponent: sympy.Expr, at: ast.expr
    ) -> sympy.Expr:
        """``base**exponent`` for ``node``; ``at`` is where the exponent is written."""
        self.check_exponent(exponent, at)
        result = self.fold.power(base, exponent, self.source.site(node))
        return self.checked_powers(result, node)

    def checked_powers(self, result: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """``result``, its exponents checked: SymPy merges powers, ``sqrt(sqrt(x))`` is
        ``x**(1/4)`` and ``x**10000*x**10000`` is ``x**20000``."""
        for factor in result.args if result.is_Mul else (result,):
            if factor.is_Pow:
                self.check_exponent(factor.exp, node)
        return result

    def check_exponent(self, exponent: sympy.Expr, node: ast.AST) -> None:
        """Raises if constant ``exponent`` is too large (or an exact one too fine)."""
        value = self.fold.value(exponent)
        if value is None:
            return
        limit = self.limits.max_exponent
        if exponent.is_Rational:
            small = abs(exponent.p) <= limit * exponent.q and exponent.q <= limit
        else:
            small = abs(value) <= limit
        if not small:
            raise self.error(TooLargeError, node, f"an exponent beyond {limit}")


_MINUS_ONE = sympy.Integer(-1)


def _arity(arities: Sequence[int]) -> str:
    if len(arities) > 2 and list(arities) == list(range(arities[0], arities[-1] + 1)):
        return f"{arities[0]} to {arities[-1]} arguments"
    unit = " argument" if tuple(arities) == (1,) else " arguments"
    return " or ".join(map(str, arities)) + unit


def _did_you_mean(name: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" did you mean `{close[0]}`?" if close else ""
