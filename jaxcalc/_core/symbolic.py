"""Exact derivatives by SymPy, bounded: steps differentiate to 0, growth is checked per order.

``floor``, ``ceiling``, ``sign``, ``Heaviside``, ... (the registry's ``step`` kind) have
derivative 0 everywhere, whatever their argument (the Dirac delta at a jump is dropped, as the
JAX path does): they are frozen into placeholder symbols while SymPy differentiates, so
``floor(exp(x - 1))`` never reaches SymPy's own rules, nor the ``sign(u)`` that ``Abs(u)``'s
first derivative makes (SymPy leaves its derivative unevaluated where ``u`` is not proved
real, which could not be lowered). The derivative is taken one order at a
time and refused (:class:`~jaxcalc.ResourceError`) as soon as its tree outgrows
:data:`MAX_NODES`: high orders of ``tan`` or ``gamma`` swell exponentially, and the refusal
comes at once with the size reached instead of after minutes in SymPy.

Example:
    >>> x = sympy.Symbol("x", real=True)
    >>> symbolic_derivative(x**3 + sympy.floor(sympy.exp(x - 1)), x, 2)
    6*x
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence

import sympy

from .errors import InputError, ResourceError
from .parse import name_hint
from .registry import REGISTRY

#: Highest derivative order accepted by every path.
MAX_ORDER = 32

#: Largest derivative tree (SymPy nodes) built on the way to an order; beyond it the symbolic
#: path refuses. 20 000 nodes lower and compile in about a second.
MAX_NODES = 20_000

#: A derivative whose estimated final size exceeds this many times the limit is refused at once.
_EARLY = 10

#: Heads with derivative 0 everywhere (the registry's ``step`` kind).
_STEPS = tuple(head for entry in REGISTRY.entries if entry.kind == "step" for head in entry.heads)


def check_order(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 0 <= n <= MAX_ORDER:
        raise InputError(
            f"the derivative order `n` must be an integer from 0 to {MAX_ORDER}, got {n!r}"
        )
    return int(n)


def pick_variable(variables: Sequence[str], wrt: str | None) -> str:
    """``wrt`` checked against ``variables``; None means the only variable."""
    if wrt is None:
        if len(variables) != 1:
            raise InputError(
                f"`wrt` is needed: this function has variables {tuple(variables)}; "
                f"pass wrt='x' for one of them{hints(variables)}"
            )
        return variables[0]
    if wrt not in variables:
        raise InputError(f"`wrt` must be one of the variables {tuple(variables)}, got "
                         f"{wrt!r}{hints(variables)}")
    return wrt


def hints(names: Sequence[str]) -> str:
    """``"; "`` and what variables such as ``e`` or ``I`` were probably meant to be, or ``""``."""
    said = [hint for hint in map(name_hint, names) if hint]
    return "".join(f"; {hint}" for hint in said)


def symbolic_derivative(expr: sympy.Basic, wrt: sympy.Symbol | Sequence[sympy.Symbol],
                        n: int = 1, *, max_nodes: int = MAX_NODES) -> sympy.Basic:
    """``d^n expr / d wrt^n`` (or the mixed derivative along the symbols ``wrt``, in order);
    ``expr`` may be a SymPy array, differentiated elementwise. Refused (ResourceError) once
    an intermediate order outgrows ``max_nodes``."""
    path = [wrt] * n if isinstance(wrt, sympy.Symbol) else list(wrt)
    if isinstance(expr, sympy.NDimArray):
        return expr.applyfunc(lambda e: symbolic_derivative(e, path, max_nodes=max_nodes))
    steps: dict[sympy.Basic, sympy.Dummy] = {}  # each step -> its placeholder
    result = _frozen(expr, steps)
    sizes = [nodes(result)]
    for order, symbol in enumerate(path, 1):
        try:
            result = sympy.diff(result, symbol)
        except (RecursionError, MemoryError):  # pragma: no cover - SymPy internals
            raise ResourceError(f"SymPy could not differentiate `{short(expr)}`") from None
        sizes.append(nodes(result))
        estimate = _estimate(sizes, len(path))
        if sizes[-1] > max_nodes or estimate > _EARLY * max_nodes:
            reached = f"order {order} has {sizes[-1]} nodes"
            if order < len(path):
                reached += f"; order {len(path)} would have about {estimate:.2g}"
            raise ResourceError(
                f"the symbolic derivative of `{short(expr)}` outgrows its limit of {max_nodes} "
                f"nodes ({reached}); use a lower order, or method='auto' (Taylor mode where "
                "it has rules)"
            )
        result = _frozen(result, steps)  # the steps this order made (``Abs`` -> ``sign``)
    for node, dummy in reversed(steps.items()):  # the latest first: they may hold earlier ones
        result = result.xreplace({dummy: node})
    return result


def _frozen(expr: sympy.Basic, steps: dict[sympy.Basic, sympy.Dummy]) -> sympy.Basic:
    """``expr`` with its steps replaced by placeholders (real symbols), each step's the same
    every time (``steps``, filled as new ones appear)."""
    return expr.xreplace({node: steps.setdefault(node, sympy.Dummy(real=True))
                          for node in expr.atoms(*_STEPS)})


def _estimate(sizes: list[int], n: int) -> float:
    """The tree size expected at order ``n`` from the sizes so far (orders 0, 1, ...): their
    recent growth per order, compounded. Derivatives of ``tan`` and ``gamma`` grow about 2×
    per order, of ``exp(sin(x))`` 1.1–1.5×."""
    k = len(sizes) - 1
    if k < 5 or k >= n:  # growth of the first orders says little
        return float(sizes[-1])
    rate = (sizes[-1] / max(sizes[-4], 1)) ** (1 / 3)
    return sizes[-1] * rate ** (n - k)


def nodes(expr: sympy.Basic, limit: int | None = None) -> int:
    """Nodes of the expression tree (a repeated subtree counts each time: SymPy's work does);
    counting stops at ``limit``."""
    return sum(1 for _ in itertools.islice(sympy.preorder_traversal(expr), limit))


def short(expr: sympy.Basic | str, width: int = 60) -> str:
    """``expr`` printed, cut to ``width`` characters with ``...`` (for messages and labels)."""
    text = str(expr)
    return text if len(text) <= width else text[: width - 3] + "..."
