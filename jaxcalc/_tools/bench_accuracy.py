"""The benchmark's accuracy chart: f' error against the step h at a point (the finite-difference
V, :func:`jaxcalc.plot_accuracy`) above the tail case's error along x, where each method's f' is
compared with the 50-digit reference at every point: jaxcalc's AD and symbolic paths, NumPy
evaluating SymPy's f', and NumPy central differences (``jaxcalc bench --accuracy-plot``).

Example:
    >>> import numpy as np
    >>> xs, errors = errors_along("x**3 - 1/x", np.dtype("float64"), points=16)
    >>> xs.shape, sorted(errors), bool(errors["numpy_symbolic"].max() < 1e-15)
    ((16,), ['jaxcalc_ad', 'jaxcalc_symbolic', 'numpy_fd', 'numpy_symbolic'], True)
"""

from __future__ import annotations

import numpy as np

from .bench import ERROR_FLOORS, TAIL_CASE
from .bench_measure import INTERVAL, reference, relative_errors
from .bench_methods import ERROR_FLOOR, METHODS, Case

#: The methods drawn along x: both jaxcalc paths, NumPy on SymPy's f', central differences.
ALONG_METHODS = ("jaxcalc_ad", "jaxcalc_symbolic", "numpy_symbolic", "numpy_fd")
_TOP = 10.0  # errors above (a result of 0 is 1, a non-finite one inf) are drawn here


def errors_along(text: str = TAIL_CASE, dtype="float64", points: int = 256,
                 methods=ALONG_METHODS) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``points`` evenly spaced x on [0.5, 3] in ``dtype``, and per method the relative error of
    f'(x) there against the 50-digit reference (the benchmark's measure, with the expression's
    error floor: none for the tail case)."""
    case, dtype = Case.from_text(text, text, ERROR_FLOORS.get(text, ERROR_FLOOR)), np.dtype(dtype)
    xs = np.linspace(*INTERVAL, points).astype(dtype)
    ref = reference(case, xs)
    errors = {}
    with np.errstate(all="ignore"):
        for name in methods:
            method = METHODS[name]
            backend = method.device()
            out = method.build(case, dtype)(backend.put(xs))
            errors[name] = relative_errors(backend.host(out), ref, case.error_floor)
    return xs, errors


def plot_errors_along(text: str = TAIL_CASE, dtype="float64", *, ax):
    """Draw :func:`errors_along` on ``ax`` (log scale); returns ``ax``."""
    dtype = np.dtype(dtype)
    xs, errors = errors_along(text, dtype)
    eps = float(np.finfo(dtype).eps)
    bottom = eps / 64  # an exact result (error 0) is drawn here
    for i, (name, error) in enumerate(errors.items()):
        worst = np.nanmax(error)
        ax.semilogy(xs, np.clip(np.nan_to_num(error, nan=_TOP), bottom, _TOP), color=f"C{i}",
                    linewidth=1.5, label=f"{name}: worst {worst:.1e}")
    ax.axhline(eps, color="0.6", linestyle=":", linewidth=1)
    ax.annotate(f"{dtype.name} eps", (xs[0], eps), xytext=(2, 3), textcoords="offset points",
                fontsize="small", color="0.4")
    ax.set_ylim(bottom / 3, _TOP * 3)
    ax.set_xlabel("x")
    ax.set_ylabel("relative error of f'")
    ax.set_title(f"f = {text} on [{INTERVAL[0]:g}, {INTERVAL[1]:g}]: error of f'(x) in "
                 f"{dtype.name} (1 = the result is 0)", fontsize="medium")
    ax.grid(True, which="major", color="0.92")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return ax


def accuracy_figure(text: str, at: float, dtype="float64"):
    """The chart of ``jaxcalc bench --accuracy-plot``: :func:`jaxcalc.plot_accuracy` of ``text``
    at ``at`` above :func:`plot_errors_along` of the tail case, both in ``dtype``."""
    from matplotlib.figure import Figure

    from .plot import plot_accuracy

    figure = Figure(figsize=(10, 9), layout="constrained")
    top, bottom = figure.subplots(2, 1)
    plot_accuracy(text, at=at, dtype=dtype, ax=top)
    plot_errors_along(TAIL_CASE, dtype, ax=bottom)
    return figure
