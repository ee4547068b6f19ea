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

from . import fd as fd
from ._derive import derivative as derivative
from ._derive import gradient as gradient
from ._derive import hessian as hessian
from ._errors import EmptyExpressionError as EmptyExpressionError
from ._errors import ExpressionSyntaxError as ExpressionSyntaxError
from ._errors import InputError as InputError
from ._errors import JaxcalcError as JaxcalcError
from ._errors import NonAsciiError as NonAsciiError
from ._errors import ParseError as ParseError
from ._errors import ResourceError as ResourceError
from ._errors import TooLargeError as TooLargeError
from ._errors import UnknownFunctionError as UnknownFunctionError
from ._errors import UnknownNameError as UnknownNameError
from ._errors import UnsafeConstructError as UnsafeConstructError
from ._errors import UnsupportedFunctionError as UnsupportedFunctionError
from ._evaluate import evaluate as evaluate
from ._function import Function as Function
from ._grid import Axis as Axis
from ._grid import Mesh as Mesh
from ._grid import arange as arange
from ._grid import linspace as linspace
from ._grid import mesh as mesh
from ._parse import ParseLimits as ParseLimits
from ._parse import parse as parse
from ._plot import plot_accuracy as plot_accuracy
from ._plot import plot_contour as plot_contour
from ._plot import plot_function as plot_function
from ._tangent import Tangent as Tangent
from ._tangent import tangent as tangent

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
    "derivative",
    "evaluate",
    "fd",
    "gradient",
    "hessian",
    "linspace",
    "mesh",
    "parse",
    "plot_accuracy",
    "plot_contour",
    "plot_function",
    "tangent",
]
