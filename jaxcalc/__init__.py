"""jaxcalc: calculus that is fast, exact and safe at scale.

Safe formula text → SymPy → JIT-compiled JAX; derivatives by JAX and by SymPy that agree;
tangent lines; grids from one point to billions; plots and benchmarks.

Example:
    >>> import jaxcalc as jc
    >>> jc.Function("3*x**2 + 1").diff()
    Function(6*x, variables=('x',))
    >>> float(jc.derivative("3*x**2 + 1")(2.0))
    12.0
"""

from importlib.metadata import PackageNotFoundError, version

from ._core.caches import clear_caches as clear_caches
from ._core.derive import derivative as derivative
from ._core.derive import gradient as gradient
from ._core.derive import hessian as hessian
from ._core.derive import jacobian as jacobian
from ._core.errors import EmptyExpressionError as EmptyExpressionError
from ._core.errors import ExpressionSyntaxError as ExpressionSyntaxError
from ._core.errors import InputError as InputError
from ._core.errors import JaxcalcError as JaxcalcError
from ._core.errors import NonAsciiError as NonAsciiError
from ._core.errors import ParseError as ParseError
from ._core.errors import ResourceError as ResourceError
from ._core.errors import TooLargeError as TooLargeError
from ._core.errors import UnknownFunctionError as UnknownFunctionError
from ._core.errors import UnknownNameError as UnknownNameError
from ._core.errors import UnsafeConstructError as UnsafeConstructError
from ._core.errors import UnsupportedFunctionError as UnsupportedFunctionError
from ._core.function import Function as Function
from ._core.parse import ParseLimits as ParseLimits
from ._core.parse import parse as parse
from ._core.registry import functions as functions
from ._core.tangent import Tangent as Tangent
from ._core.tangent import tangent as tangent
from ._grid.evaluate import evaluate as evaluate
from ._grid.grids import Axis as Axis
from ._grid.grids import Mesh as Mesh
from ._grid.grids import arange as arange
from ._grid.grids import linspace as linspace
from ._grid.grids import mesh as mesh
from ._tools import fd as fd
from ._tools.plot import plot_accuracy as plot_accuracy
from ._tools.plot import plot_contour as plot_contour
from ._tools.plot import plot_function as plot_function

try:
    __version__ = version("jaxcalc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Axis",
    "EmptyExpressionError",
    "ExpressionSyntaxError",
    "Function",
    "InputError",
    "JaxcalcError",
    "Mesh",
    "NonAsciiError",
    "ParseError",
    "ParseLimits",
    "ResourceError",
    "Tangent",
    "TooLargeError",
    "UnknownFunctionError",
    "UnknownNameError",
    "UnsafeConstructError",
    "UnsupportedFunctionError",
    "arange",
    "clear_caches",
    "derivative",
    "evaluate",
    "fd",
    "functions",
    "gradient",
    "hessian",
    "jacobian",
    "linspace",
    "mesh",
    "parse",
    "plot_accuracy",
    "plot_contour",
    "plot_function",
    "tangent",
]
