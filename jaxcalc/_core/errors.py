"""The one error family of jaxcalc.

Every error a user can provoke is a :class:`JaxcalcError`; the CLI prints it as one
``error: ...`` line and exits with status 2.
"""

from __future__ import annotations


class JaxcalcError(Exception):
    """Root of every error jaxcalc raises on purpose."""


class ParseError(JaxcalcError, ValueError):
    """Text that is not an expression jaxcalc accepts.

    ``column`` is the 1-based column the problem was found at, when known.
    """

    def __init__(self, message: str, *, column: int | None = None):
        super().__init__(message)
        self.column = column


class ExpressionSyntaxError(ParseError):
    """The text is not valid expression syntax."""


class UnknownFunctionError(ParseError):
    """A call of a function that is not on the allow-list."""


class UnknownNameError(ParseError):
    """A name that is neither a variable nor an allowed constant or function."""


class NonAsciiError(ParseError):
    """A character outside printable ASCII (unicode lookalikes, control characters)."""


class TooLargeError(ParseError):
    """Text, tree, nesting, literal or exponent beyond the configured limits."""


class EmptyExpressionError(ParseError):
    """Blank text."""


class UnsafeConstructError(ParseError):
    """Valid Python that jaxcalc does not evaluate (attributes, lambdas, strings...)."""


class UnsupportedFunctionError(JaxcalcError, ValueError):
    """A SymPy head with no JAX lowering; raised when a Function is built."""


class InputError(JaxcalcError, ValueError):
    """Bad arrays or arguments passed to a jaxcalc call."""


class ResourceError(JaxcalcError, MemoryError):
    """Work that would not fit in memory or on disk; raised before allocating."""
