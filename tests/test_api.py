"""The public surface, pinned on purpose, and every docstring example, executed."""

import doctest
import importlib
import pkgutil

import pytest

import jaxcalc

PUBLIC = [
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

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(jaxcalc.__path__, "jaxcalc.")
    if m.name != "jaxcalc.__main__"
)


def test_public_names_are_pinned():
    assert jaxcalc.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(jaxcalc, name) is not None


def test_errors_form_one_family():
    errors = [getattr(jaxcalc, n) for n in PUBLIC if n.endswith("Error")]
    assert all(issubclass(e, jaxcalc.JaxcalcError) for e in errors)
    assert issubclass(jaxcalc.ParseError, ValueError)


def test_version_comes_from_metadata():
    assert jaxcalc.__version__ and jaxcalc.__version__[0].isdigit()


@pytest.mark.parametrize("name", ["jaxcalc", *MODULES])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
