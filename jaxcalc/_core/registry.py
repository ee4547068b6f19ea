"""The function registry: every function jaxcalc supports, declared once.

Each :class:`Entry` says everything the rest of jaxcalc needs to know about one function: the
names people type (``asin``, ``arcsin``), how many arguments it takes, how to build it in SymPy,
which SymPy heads it lowers, its JAX implementation, whether Taylor mode (``jax.experimental.jet``)
has rules for it, and its derivative convention at kinks and steps. The parser
(``_core.parse``), the lowering (``_core.lower``), the ``auto`` derivative method, the public
listing :func:`functions` and the README table all read :data:`REGISTRY`; users extend it per
formula with ``functions=`` (see :meth:`Registry.extend`).

Example:
    >>> REGISTRY["arcsin"].name, REGISTRY["arcsin"].arity
    ('asin', (1,))
    >>> REGISTRY.for_head(sympy.asin).name
    'asin'
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import sympy

#: Derivative conventions: ``smooth`` (the ordinary derivative), ``kink`` (at a kink the mean
#: of the one-sided derivatives: ``Abs'(0) = 0``, a ``Max``/``Min`` tie splits 1/2-1/2), ``step``
#: (derivative 0 everywhere: the Dirac delta at a jump is dropped, as JAX does).
KINDS = ("smooth", "kink", "step")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One supported function.

    Attributes:
        name: the name SymPy prints (``asin``, ``Abs``); also accepted in text.
        build: SymPy constructor: ``build(*sympy_args) -> sympy.Expr``.
        jax: JAX implementation of the lowered head, elementwise in its arguments.
        heads: the SymPy heads (classes) that lower through ``jax``.
        arity: the numbers of arguments accepted in text.
        aliases: other spellings accepted in text (``arcsin``, ``ln``).
        taylor: whether Taylor mode (``jet``) has rules for every primitive of ``jax``.
        kind: derivative convention, one of :data:`KINDS`.
        summary: one line for :func:`functions` and the README table.
    """

    name: str
    build: Callable[..., sympy.Expr]
    jax: Callable[..., jax.Array]
    heads: tuple[type, ...]
    arity: tuple[int, ...] = (1,)
    aliases: tuple[str, ...] = ()
    taylor: bool = True
    kind: str = "smooth"
    summary: str = ""

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class Registry(Mapping[str, Entry]):
    """Entries by every spelling accepted in text; :meth:`for_head` finds one by SymPy head.

    Immutable and hashable (a Function's compiled kernels are cached per registry).
    """

    def __init__(self, entries: tuple[Entry, ...]):
        self.entries = tuple(entries)
        self._by_name = {s: e for e in self.entries for s in e.spellings}
        self._by_head = {h: e for e in self.entries for h in e.heads}

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

    def for_head(self, head: type) -> Entry | None:
        """The entry lowering SymPy head ``head`` (a class such as ``sympy.sin``), or None."""
        return self._by_head.get(head)


def _abs(x):
    # |x| = x·sign(x) exactly, and sign has a (symbolic) zero derivative, so every order of
    # jvp/grad/jet sees Abs' = sign with sign(0) = 0: the mean of the one-sided slopes.
    # (jnp.abs has abs'(0) = 1; a custom_jvp is lost at higher orders and breaks jet.)
    return x * jnp.sign(x)


def _heaviside(x, h0=0.5):
    return jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, h0))


def _reduce(binary):
    return lambda *args: functools.reduce(binary, args)


def _min_max(head):
    def build(*args):  # SymPy compares symbolic arguments pairwise, slowly: fold numbers only
        numbers = [a for a in args if a.is_Number]
        others = [a for a in args if not a.is_Number]
        return head(*others, *([head(*numbers)] if numbers else []), evaluate=False)

    return build


def _log(x, base=None):
    return sympy.log(x) if base is None else sympy.log(x) / sympy.log(base)


def _sympy(name: str, *, jax_impl, **kw) -> Entry:
    head = getattr(sympy, name)
    return Entry(name, head, jax_impl, (head,), **kw)


# fmt: off
_ENTRIES = (
    _sympy("sin", jax_impl=jnp.sin, summary="sine"),
    _sympy("cos", jax_impl=jnp.cos, summary="cosine"),
    _sympy("tan", jax_impl=jnp.tan, taylor=False, summary="tangent"),
    _sympy("asin", jax_impl=jnp.arcsin, aliases=("arcsin",), summary="inverse sine"),
    _sympy("acos", jax_impl=jnp.arccos, aliases=("arccos",), summary="inverse cosine"),
    _sympy("atan", jax_impl=jnp.arctan, aliases=("arctan",), summary="inverse tangent"),
    _sympy("atan2", jax_impl=jnp.arctan2, arity=(2,), aliases=("arctan2",),
           summary="atan2(y, x): angle of the point (x, y)"),
    _sympy("sinh", jax_impl=jnp.sinh, summary="hyperbolic sine"),
    _sympy("cosh", jax_impl=jnp.cosh, summary="hyperbolic cosine"),
    _sympy("tanh", jax_impl=jnp.tanh, summary="hyperbolic tangent"),
    _sympy("asinh", jax_impl=jnp.arcsinh, aliases=("arcsinh",), summary="inverse sinh"),
    _sympy("acosh", jax_impl=jnp.arccosh, aliases=("arccosh",), summary="inverse cosh"),
    _sympy("atanh", jax_impl=jnp.arctanh, aliases=("arctanh",), summary="inverse tanh"),
    _sympy("exp", jax_impl=jnp.exp, summary="exponential"),
    Entry("log", _log, jnp.log, (sympy.log,), arity=(1, 2), aliases=("ln",),
          summary="natural logarithm; log(x, b) is the base-b logarithm"),
    _sympy("sqrt", jax_impl=jnp.sqrt, summary="square root (NaN for x < 0)"),
    _sympy("cbrt", jax_impl=jnp.cbrt, summary="principal cube root x**(1/3) (NaN for x < 0)"),
    Entry("Abs", sympy.Abs, _abs, (sympy.Abs,), aliases=("abs",), kind="kink",
          summary="absolute value"),
    _sympy("sign", jax_impl=jnp.sign, kind="step", summary="sign: -1, 0 or 1"),
    _sympy("floor", jax_impl=jnp.floor, kind="step", summary="largest integer <= x"),
    _sympy("ceiling", jax_impl=jnp.ceil, kind="step", summary="smallest integer >= x"),
    Entry("Heaviside", sympy.Heaviside, _heaviside, (sympy.Heaviside,), kind="step",
          summary="unit step, 1/2 at 0"),
    _sympy("erf", jax_impl=jsp.erf, summary="error function"),
    _sympy("erfc", jax_impl=jsp.erfc, summary="complementary error function"),
    _sympy("gamma", jax_impl=jsp.gamma, taylor=False, summary="gamma function"),
    _sympy("loggamma", jax_impl=jsp.gammaln, taylor=False, summary="log|gamma(x)|"),
    Entry("Min", _min_max(sympy.Min), _reduce(jnp.minimum), (sympy.Min,), arity=tuple(range(2, 33)),
          kind="kink", summary="smallest argument"),
    Entry("Max", _min_max(sympy.Max), _reduce(jnp.maximum), (sympy.Max,), arity=tuple(range(2, 33)),
          kind="kink", summary="largest argument"),
)
# fmt: on

#: Every function jaxcalc supports out of the box.
REGISTRY = Registry(_ENTRIES)


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
        for e in sorted(REGISTRY.entries, key=lambda e: e.name.lower())
    ]
