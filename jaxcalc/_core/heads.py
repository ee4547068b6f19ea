"""SymPy heads that stand for a closed form: jaxcalc lowers each to one stable JAX function,
while SymPy evaluates it through its closed form.

A head such as ``softplus(x)`` (``log(1 + exp(x))``) or ``HypotExcess(a, b)``
(``hypot(a, b) - |a|``) keeps a formula's cancelling or overflowing subexpression in one piece
for the lowering; SymPy still needs its value at numbers, at any precision (``evalf``), its
rewrite into functions SymPy knows, and whether it is real. :class:`ClosedForm` answers all
four from one classmethod, ``closed``.

Example:
    >>> import sympy
    >>> class Cube(ClosedForm):
    ...     rule = sympy.Pow
    ...     @classmethod
    ...     def closed(cls, u):
    ...         return u**3
    >>> x = sympy.Symbol("x", real=True)
    >>> Cube(2), Cube(x).rewrite(sympy.Pow), Cube(x).is_real, Cube(sympy.pi).evalf(5)
    (8, x**3, True, 31.006)
"""

from __future__ import annotations

import sympy


class ClosedForm(sympy.Function):
    """A head equal to ``closed(*args)``. Subclasses set ``closed``, ``rule`` (the function
    named in ``rewrite(rule)``, which gives the closed form), ``nargs`` where not one, and
    ``real_valued = False`` where real arguments may give a non-real value."""

    nargs = 1
    rule: type
    real_valued = True

    @classmethod
    def closed(cls, *args: sympy.Expr) -> sympy.Expr:
        """The head as the closed form it stands for."""
        raise NotImplementedError

    @classmethod
    def eval(cls, *args):
        if all(a.is_Number for a in args):
            return cls.closed(*args)
        return None

    def _eval_rewrite(self, rule, args, **hints):
        return self.closed(*args) if rule is self.rule else None

    def _eval_evalf(self, prec):
        return self.closed(*self.args)._eval_evalf(prec)

    def _eval_is_real(self):
        return True if self.real_valued and all(a.is_real for a in self.args) else None
