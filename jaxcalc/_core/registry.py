"""The function registry: every function jaxcalc supports, declared once.

Each :class:`Entry` (the table is :mod:`jaxcalc._core.functions_table`) says everything the rest
of jaxcalc needs to know about one function: the names people type (``asin``, ``arcsin``), how
many arguments it takes, how to build it in SymPy, which SymPy heads it lowers, its JAX
implementation, whether Taylor mode (``jax.experimental.jet``) has rules for it, and its
derivative convention at kinks and steps. The parser, the lowering, the ``auto`` derivative
method, the public listing :func:`functions` and the README table all read :data:`REGISTRY`;
users add functions per formula with ``functions=`` (see :meth:`Registry.extend`).

Example:
    >>> REGISTRY["arcsin"].name, REGISTRY["arcsin"].arity
    ('asin', (1,))
    >>> REGISTRY.for_head(sympy.asin).name
    'asin'
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import keyword
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

import jax
import jax.numpy as jnp
import sympy

from .errors import InputError, ParseError, UnsupportedFunctionError
from .functions_table import ENTRIES, KINDS, Entry

__all__ = ["REGISTRY", "Entry", "Registry", "check_symbolic", "functions", "markdown_table",
           "symbolic_cancels"]

#: What ``functions=`` accepts per name: a formula (text or SymPy) or a JAX callable.
UserFunction = str | sympy.Expr | Callable[..., jax.Array]


class Registry(Mapping[str, Entry]):
    """Entries by every spelling accepted in text; :meth:`for_head` finds one by SymPy head.

    Immutable, hashable, and equal to any registry with equal entries (a Function's compiled
    kernels are cached per registry).
    """

    def __init__(self, entries: Iterable[Entry]):
        self.entries = tuple(entries)
        self._by_name: dict[str, Entry] = {}
        self._by_head: dict[type, Entry] = {}
        for entry in self.entries:
            if entry.kind not in KINDS:
                raise ValueError(f"{entry.name}: kind {entry.kind!r} is not one of {KINDS}")
            for key, table in [(s, self._by_name) for s in entry.spellings if entry.public] + [
                (h, self._by_head) for h in entry.heads
            ]:
                if table.setdefault(key, entry) is not entry:
                    raise ValueError(f"{key!r} is declared by both {table[key].name} and "
                                     f"{entry.name}")

    def __getitem__(self, name: str) -> Entry:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __hash__(self) -> int:
        return hash(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registry) and other.entries == self.entries

    def __repr__(self) -> str:
        return f"Registry({len(self.public)} functions)"

    @property
    def public(self) -> tuple[Entry, ...]:
        """The entries text may call (those :func:`functions` lists), in table order."""
        return tuple(e for e in self.entries if e.public)

    def for_head(self, head: type) -> Entry | None:
        """The entry lowering SymPy head ``head`` (a class such as ``sympy.sin``), or None."""
        return self._by_head.get(head)

    def extend(self, functions: Mapping[str, UserFunction] | None) -> Registry:
        """This registry plus the user's functions (``self`` when there are none).

        Each key is a name, or a name with its arguments (``"f(a, b)"``); each value is

        * a formula, as text (parsed safely) or a SymPy expression: its arguments are the ones
          the key names, else its free symbols sorted by name. It becomes an entry whose
          ``build`` substitutes the call's arguments into the formula, so every path, symbolic
          included, sees only the functions it calls: built-ins, or those of the registry it
          extends (extend twice to build one user function on another);
        * a JAX callable, elementwise in its arguments (as many as the key names, else its
          required positional parameters): a new real SymPy head lowered by the callable.
          SymPy cannot differentiate it (``symbolic=False``): AD only.

        Names must be plain identifiers that are not yet a function or constant (built-ins
        cannot be overridden, so a printed formula means one thing). Equal inputs give equal
        registries.

        Raises:
            InputError: naming the key, for a bad name, formula or value.

        Example:
            >>> reg = REGISTRY.extend({"mish": "u*tanh(log(1 + exp(u)))"})
            >>> x = sympy.Symbol("x", real=True)
            >>> reg["mish"].build(x)
            x*tanh(log(exp(x) + 1))
            >>> reg == REGISTRY.extend({"mish": "u*tanh(log(1 + exp(u)))"})
            True
        """
        if functions is None or (isinstance(functions, Mapping) and not functions):
            return self
        if not isinstance(functions, Mapping):
            raise InputError(
                "`functions` must be a dict such as {'mish': 'u*tanh(log(1 + exp(u)))'}, got "
                f"{type(functions).__name__}"
            )
        new = sorted((_user_entry(key, value, self) for key, value in functions.items()),
                     key=lambda e: e.name)
        for first, second in itertools.pairwise(new):
            if first.name == second.name:
                raise InputError(f"`functions` defines `{first.name}` twice; keep one key")
        return Registry((*self.entries, *new))


#: Every function jaxcalc supports out of the box.
REGISTRY = Registry(ENTRIES)


@dataclasses.dataclass(frozen=True)
class _Formula:
    """``build`` of a user formula: the call's arguments substituted for its own."""

    arguments: tuple[sympy.Symbol, ...]
    expr: sympy.Expr

    def __call__(self, *args: sympy.Expr) -> sympy.Expr:
        values = [sympy.sympify(a, strict=True) for a in args]  # numbers or SymPy, no text
        return self.expr.xreplace(dict(zip(self.arguments, values, strict=True)))


_KEY = re.compile(r"\s*([A-Za-z]\w*)\s*(?:\((.*)\))?\s*", re.DOTALL)


def _user_entry(key: object, value: object, registry: Registry) -> Entry:
    name, arguments = _signature(key, registry)
    where = f"`functions[{key!r}]`"
    if isinstance(value, (str, sympy.Expr)):
        return _formula_entry(where, name, arguments, value, registry)
    if callable(value) and not isinstance(value, (type, sympy.Basic)):
        return _callable_entry(where, name, arguments, value)
    raise InputError(
        f"{where} must be a formula (text such as 'log(1 + exp(u))' or a sympy.Expr) or a "
        f"JAX callable such as `lambda u: u * jax.nn.sigmoid(u)`, got {type(value).__name__}"
    )


def _signature(key: object, registry: Registry) -> tuple[str, tuple[str, ...] | None]:
    """The name and, when the key names them (``"f(a, b)"``), the arguments."""
    match = _KEY.fullmatch(key) if isinstance(key, str) and key.isascii() else None
    if match is None:
        raise InputError(
            f"`functions` keys must be names such as 'swish' or 'f(a, b)', got {key!r}"
        )
    name, inside = match.groups()
    arguments = None if inside is None else tuple(a.strip() for a in inside.split(","))
    from .parse import CONSTANTS  # parse reads this registry: imported when first needed

    if keyword.iskeyword(name) or name in registry or name in CONSTANTS:
        what = "constant" if name in CONSTANTS else "function"
        raise InputError(
            f"`functions` key {key!r}: `{name}` is already a {what}; built-ins cannot be "
            "redefined, pick another name"
        )
    bad = [a for a in arguments or () if not a.isidentifier() or keyword.iskeyword(a)]
    if arguments is not None and (bad or len(set(arguments)) != len(arguments)):
        raise InputError(
            f"`functions` key {key!r}: arguments must be distinct names, as in 'f(a, b)'"
        )
    return name, arguments


def _formula_entry(where, name, arguments, formula, registry: Registry) -> Entry:
    from .parse import parse  # parse reads this registry: imported when first needed

    if isinstance(formula, str):
        try:
            expr = parse(formula, arguments, functions=registry)
        except ParseError as err:
            raise InputError(f"{where}: {err}") from None
    else:
        expr = formula.xreplace({s: sympy.Symbol(s.name, real=True) for s in formula.free_symbols})
    free = sorted(s.name for s in expr.free_symbols)
    arguments = tuple(free) if arguments is None else arguments
    if not arguments:
        raise InputError(
            f"{where}: the formula `{expr}` has no arguments; name them in the key, e.g. "
            f"'{name}(u)'"
        )
    if not set(free) <= set(arguments):
        raise InputError(
            f"{where}: the formula `{expr}` uses {sorted(set(free) - set(arguments))}, which "
            f"the key does not name as arguments {arguments}"
        )
    used = [registry.for_head(type(node)) for node in sympy.preorder_traversal(expr)]
    used = [e for e in used if e is not None]
    return Entry(
        name, _Formula(tuple(sympy.Symbol(a, real=True) for a in arguments), expr), None,
        arity=(len(arguments),), taylor=all(e.taylor for e in used),
        kind=max((e.kind for e in used), key=KINDS.index, default="smooth"),
        summary=f"{name}({', '.join(arguments)}) = {expr}", symbolic=all(e.symbolic for e in used),
    )


def _callable_entry(where, name, arguments, fn) -> Entry:
    try:
        hash(fn)  # compiled kernels are cached per registry
    except TypeError:
        raise InputError(
            f"{where} must be hashable to cache its compiled kernels; wrap it in a function "
            f"(`def {name}(u): ...`)"
        ) from None
    arity = len(arguments) if arguments is not None else _positional_arity(where, name, fn)
    probe = [jax.ShapeDtypeStruct((), jnp.float32)] * arity
    try:
        shape = jax.eval_shape(fn, *probe).shape
    except Exception as err:  # the user's code: say which function failed, and how
        raise InputError(
            f"{where} failed on {arity} float32 scalar argument(s): {type(err).__name__}: {err}"
        ) from None
    if shape != ():
        raise InputError(f"{where} must be elementwise: scalar arguments gave shape {shape}")
    head = sympy.Function(name, real=True)
    return Entry(name, head, fn, (head,), arity=(arity,), taylor=False, symbolic=False,
                 summary="JAX callable (AD only)")


def _positional_arity(where: str, name: str, fn: Callable) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        parameters = None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in parameters or () if p.kind in positional and p.default is p.empty]
    if not required:
        raise InputError(
            f"{where}: cannot tell how many arguments the callable takes; name them in the "
            f"key, e.g. '{name}(u)' or '{name}(a, b)'"
        )
    return len(required)


def _entries(expr: sympy.Basic, registry: Registry) -> Iterator[Entry]:
    """The entries of the functions ``expr`` calls."""
    for node in expr.atoms(sympy.Function):
        if (entry := registry.for_head(node.func)) is not None:
            yield entry


def symbolic_cancels(expr: sympy.Basic, registry: Registry = REGISTRY) -> bool:
    """Whether ``expr`` calls a function whose SymPy derivatives cancel where it does not
    (its entry's ``symbolic_cancels``: ``sinc`` near 0).

    Example:
        >>> x = sympy.Symbol("x", real=True)
        >>> symbolic_cancels(sympy.sinc(x) + x), symbolic_cancels(sympy.sin(x) / x)
        (True, False)
    """
    return any(entry.symbolic_cancels for entry in _entries(expr, registry))


def check_symbolic(expr: sympy.Basic, registry: Registry = REGISTRY) -> None:
    """Raise :class:`UnsupportedFunctionError` if ``expr`` calls a function that SymPy cannot
    differentiate (a user's JAX callable): the symbolic derivative and exact tangent need one.

    Example:
        >>> reg = REGISTRY.extend({"swish": lambda u: u * jax.nn.sigmoid(u)})
        >>> check_symbolic(reg["swish"].build(sympy.Symbol("x")), reg)
        Traceback (most recent call last):
        ...
        jaxcalc._core.errors.UnsupportedFunctionError: `swish` is a JAX callable: ...
    """
    for entry in _entries(expr, registry):
        if not entry.symbolic:
            raise UnsupportedFunctionError(
                f"`{entry.name}` is a JAX callable: it has no symbolic derivative, so the "
                "symbolic path and exact tangent lines cannot use it; use method='ad', or "
                f"define `{entry.name}` by a formula (text) instead"
            )


def _arity(arity: tuple[int, ...]) -> str:
    if len(arity) > 2 and arity == tuple(range(arity[0], arity[-1] + 1)):
        return f"{arity[0]} to {arity[-1]}"
    return " or ".join(map(str, arity))


def functions() -> list[dict[str, object]]:
    """The supported functions: one dict per function (name, aliases, arity, convention,
    Taylor-mode support, summary), sorted by name.

    Example:
        >>> import jaxcalc as jc
        >>> [f["aliases"] for f in jc.functions() if f["name"] == "log"]
        [('ln',)]
    """
    return [
        {"name": e.name, "aliases": e.aliases, "arity": e.arity, "kind": e.kind,
         "taylor": e.taylor, "summary": e.summary}
        for e in sorted(REGISTRY.public, key=lambda e: e.name.lower())
    ]


def markdown_table() -> str:
    """The README's table of supported functions (``tests/test_registry.py`` pins the two)."""
    rows = ["| Function | Also typed | Arguments | Derivative | Taylor mode | What it is |",
            "|---|---|---|---|---|---|"]
    for f in functions():
        aliases = ", ".join(f"`{a}`" for a in f["aliases"])
        taylor = "yes" if f["taylor"] else "no"
        summary = f["summary"].replace("|", "\\|")  # a bar would end the cell
        rows.append(f"| `{f['name']}` | {aliases} | {_arity(f['arity'])} | {f['kind']} | "
                    f"{taylor} | {summary} |")
    return "\n".join(rows)
