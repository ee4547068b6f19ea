"""Figures that show the calculus: f with its derivatives and tangents, contours with gradient
arrows, and the accuracy of finite differences against automatic differentiation.

matplotlib is imported inside the functions (``import jaxcalc`` stays light) and only through
``matplotlib.figure.Figure``: no pyplot state, no GUI, nothing shown; every function draws on
``ax`` when given, else on a new Figure, and returns the Axes (``ax.figure`` is the Figure).

Poles are drawn honestly: non-finite samples become gaps, and a gap is also cut between two
samples whose signs differ when the value at their midpoint lies outside their range (a pole,
not a zero crossing), so ``1/x`` never gets a vertical line across 0. The y-axis is fitted to f
away from its poles, so a pole does not flatten the rest of the plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sympy

from .._core.derive import derivative, gradient
from .._core.errors import InputError
from .._core.function import Function, as_function, require_one_formula, symbol
from .._core.symbolic import short
from .._core.tangent import tangent
from .._grid.files import atomic_write, writable
from . import fd

_DTYPE = "float64"
_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_PRIMES = {1: "'", 2: "''", 3: "'''"}
_POLE_MARGIN = 0.02  # fraction of the x-range left out around a pole when fitting the y-axis
_LABEL_CHARS, _TITLE_CHARS = 48, 72


def _new_axes(ax, figsize=(7.0, 4.5)):
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained").add_subplot()


def _interval(value, name: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be two numbers (a, b), got {value!r}") from None
    if not (np.isfinite(a) and np.isfinite(b) and a < b):
        raise InputError(f"`{name}` must be finite numbers with a < b, got ({a}, {b})")
    return a, b


def _finite(value, name: str) -> np.ndarray:
    """``value`` (a number or numbers) as a flat float64 array of finite numbers, or
    InputError."""
    try:
        values = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if not np.all(np.isfinite(values)):
        raise InputError(f"`{name}` must be finite numbers, got {value!r}")
    return values


def _points(points: int, low: int = 3) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or points < low:
        raise InputError(f"`points` must be an integer >= {low}, got {points!r}")
    return points


def _one_variable(f) -> Function:
    f = as_function(f)  # a constant: a function of x
    if len(f.variables) != 1:
        raise InputError(
            f"`f` must have one variable to plot as a curve; `{f.expr}` has {f.variables}: "
            "use plot_contour for a function of two variables"
        )
    return require_one_formula(f, "a curve")


def _short(text: str, width: int = _LABEL_CHARS) -> str:
    return short(text, width)


def _numbers(fn, xs, dtype=_DTYPE) -> np.ndarray:
    return np.asarray(fn(xs, dtype=dtype), dtype=np.float64)


def _curves(fns, a: float, b: float, points: int):
    """Samples of each of ``fns`` on ``points`` even steps, and the x of f's poles.

    Each is evaluated once on twice as fine a grid: the odd points are the midpoints that tell
    a pole (neighbours of opposite sign, midpoint value outside their range) from a zero
    crossing. Non-finite samples become NaN, and every curve gets a NaN gap wherever one of
    them has a pole (a derivative turns f's even-order pole into an odd one).
    """
    fine = np.linspace(a, b, 2 * points - 1)
    xs, middle = fine[::2], fine[1::2]
    samples, cut = [], np.zeros(points - 1, dtype=bool)
    for fn in fns:
        values = _numbers(fn, fine)
        ys = np.where(np.isfinite(values[::2]), values[::2], np.nan)
        left, right, mids = ys[:-1], ys[1:], values[1::2]
        outside = ~np.isfinite(mids) | (mids < np.fmin(left, right)) | (mids > np.fmax(left, right))
        cut |= (np.sign(left) * np.sign(right) < 0) & outside
        samples.append(ys)
    cuts = np.flatnonzero(cut)
    poles = np.concatenate([xs[np.isnan(samples[0])], middle[cuts]])
    gap_xs = np.insert(xs, cuts + 1, middle[cuts])
    return [(gap_xs, np.insert(ys, cuts + 1, np.nan)) for ys in samples], poles


def _ylim(curves, poles, a: float, b: float):
    """y-limits that fit ``curves`` away from ``poles``; None when nothing is finite."""
    values = []
    for xs, ys in curves:
        keep = np.isfinite(ys)
        if poles.size:
            distance = np.abs(xs[:, None] - poles[None, :]).min(axis=1)
            keep &= distance > _POLE_MARGIN * (b - a)
        values.append(ys[keep])
    values = np.concatenate(values)
    if values.size == 0:
        return None
    low, high = values.min(), values.max()
    q_low, q_high = np.percentile(values, [1, 99])
    if high - low > 20 * (q_high - q_low):  # a spike the samples did not resolve as a pole
        low, high = q_low, q_high
    pad = 0.06 * (high - low) if high > low else max(1.0, abs(high))
    return low - pad, high + pad


def _derivative_label(f: Function, n: int) -> str:
    name = f"f{_PRIMES.get(n, f'^({n})')}({f.variables[0]})"
    return _short(f"{name} = {f.diff(n=n).expr}") + "  (AD)"


def _line_text(t) -> str:
    """``y = 4*x - 4`` when slope and intercept are rational, else with 6 significant digits."""
    x = symbol(t.variable)
    if t.line is not None and t.line.coeff(x).is_Rational and t.line.subs(x, 0).is_Rational:
        return f"y = {t.line}"
    slope, intercept = float(t.slope), float(t.intercept)
    sign = "-" if intercept < 0 else "+"
    return f"y = {slope:.6g}*{t.variable} {sign} {abs(intercept):.6g}"


def _decorate(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.axhline(0.0, color="0.75", linewidth=0.8, zorder=0)
    ax.axvline(0.0, color="0.75", linewidth=0.8, zorder=0)
    ax.grid(True, color="0.92")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_short(title, _TITLE_CHARS))
    ax.legend(loc="best", fontsize="small")


def plot_function(
    f,
    xrange: Sequence[float] | None = None,
    *,
    derivatives: Sequence[int] = (),
    tangent_at: Sequence[float] | float = (),
    points: int = 1001,
    ax=None,
):
    """Plot a one-variable ``f``, optionally with derivatives (by AD) and tangent lines.

    Args:
        f: a :class:`Function`, or text / SymPy expression to build one.
        xrange: ``(a, b)``; default ``(-3, 3)``, widened to hold every tangent point.
        derivatives: orders to draw with f, e.g. ``(1,)`` for f' or ``(1, 2)`` for f' and f''.
        tangent_at: point(s) whose tangent lines are drawn (point marked, equation in the
            legend); f must be finite and differentiable there.
        points: samples on the x-range.
        ax: matplotlib Axes to draw on; default a new Figure.

    Returns:
        The Axes. Lines carry their data (``get_xydata``) and labels (``f(x) = ...``,
        ``f'(x) = ...  (AD)``, ``tangent at x = 1: y = 4*x - 4``).

    Example:
        >>> import jaxcalc as jc
        >>> ax = jc.plot_function("x**3 - 1/x", derivatives=(1,), tangent_at=1.0)
        >>> [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
        ['f(x) = x**3 - 1/x', "f'(x) = 3*x**2 + x**(-2)  (AD)", 'tangent at x = 1: y = 4*x - 4']
    """
    f = _one_variable(f)
    var = f.variables[0]
    at = _finite(tangent_at, "tangent_at")
    if xrange is None:
        a, b = -3.0, 3.0
        if at.size:
            a, b = min(a, at.min() - 1.0), max(b, at.max() + 1.0)
    else:
        a, b = _interval(xrange, "xrange")
    orders = []
    for n in derivatives:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"`derivatives` must be orders >= 1 such as (1, 2), got {n!r}")
        orders.append(int(n))
    points = _points(points)

    ax = _new_axes(ax)
    fns = [f] + [derivative(f, n=n) for n in orders]
    curves, poles = _curves(fns, a, b, points)
    if not np.isfinite(curves[0][1]).any():
        raise InputError(f"`{f.expr}` is not finite anywhere on ({a:g}, {b:g}); choose another "
                         "xrange")
    labels = [_short(f"f({var}) = {f.expr}")] + [_derivative_label(f, n) for n in orders]
    for i, ((xs, ys), label) in enumerate(zip(curves, labels, strict=True)):
        ax.plot(xs, ys, color=f"C{i}", linewidth=2 if i == 0 else 1.5, label=label)
    line_xs = np.linspace(a, b, 2)
    for i, x0 in enumerate(at):
        t = tangent(f, float(x0), dtype=_DTYPE)
        if not (np.isfinite(t.value) and np.isfinite(t.slope)):
            raise InputError(
                f"`{f.expr}` has no tangent at {var} = {x0:g} (value {float(t.value)}, "
                f"slope {float(t.slope)}); pick a point where it is finite and differentiable"
            )
        color = f"C{len(orders) + 1 + i}"
        ax.plot(line_xs, t(line_xs), color=color, linestyle="--", linewidth=1.5,
                label=f"tangent at {var} = {x0:g}: {_line_text(t)}")
        ax.plot([x0], [float(t.value)], "o", color=color, markersize=6, label="_point")
    ax.set_xlim(a, b)
    # near poles derivatives outgrow f (f'' ~ 1/x**3 beside 1/x): then fit f alone
    limits = _ylim(curves if not poles.size else curves[:1], poles, a, b)
    if limits is not None:
        ax.set_ylim(*limits)
    _decorate(ax, var, "y", f"y = {f.expr}")
    return ax


def plot_contour(f, xrange=(-2.0, 2.0), yrange=None, *, points: int = 101, arrows: int = 15,
                 ax=None):
    """Contours of a two-variable ``f`` with its gradient (by AD) as arrows.

    Args:
        f: a :class:`Function` of two variables (the first is horizontal), or text for one.
        xrange, yrange: ``(a, b)`` of each axis; ``yrange`` defaults to ``xrange``.
        points: grid points per axis for the contours.
        arrows: arrows per axis for the gradient field.
        ax: matplotlib Axes to draw on; default a new Figure.

    Returns:
        The Axes, holding the filled contours, the contour lines and a ``Quiver`` whose
        ``U, V`` are the gradient's components.

    Example:
        >>> import jaxcalc as jc
        >>> ax = jc.plot_contour("x**2 + 3*y**2")
        >>> sorted(type(c).__name__ for c in ax.collections)
        ['QuadContourSet', 'QuadContourSet', 'Quiver']
    """
    f = as_function(f)
    if len(f.variables) != 2:
        raise InputError(
            f"`f` must have two variables for a contour plot; `{f.expr}` has {f.variables}"
        )
    require_one_formula(f, "a contour plot")
    xa, xb = _interval(xrange, "xrange")
    ya, yb = _interval(xrange if yrange is None else yrange, "yrange")
    points, arrows = _points(points), _points(arrows, low=2)

    ax = _new_axes(ax, figsize=(6.5, 5.0))
    gx, gy = np.meshgrid(np.linspace(xa, xb, points), np.linspace(ya, yb, points))
    z = np.asarray(f(gx, gy, dtype=_DTYPE), dtype=np.float64)
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        raise InputError(f"`{f.expr}` is not finite anywhere on this grid; choose other ranges")
    low, high = np.percentile(finite, [1, 99])
    if high <= low:
        low, high = low - 1.0, high + 1.0
    levels = np.linspace(low, high, 16)
    z = np.ma.masked_invalid(z)
    filled = ax.contourf(gx, gy, z, levels=levels, cmap="viridis", extend="both")
    ax.contour(gx, gy, z, levels=levels, colors="white", linewidths=0.5, alpha=0.6)
    ax.figure.colorbar(filled, ax=ax, label=_short(str(f.expr)))

    ax_, ay_ = np.meshgrid(np.linspace(xa, xb, arrows), np.linspace(ya, yb, arrows))
    grad = np.asarray(gradient(f)(ax_, ay_, dtype=_DTYPE), dtype=np.float64)
    u, v = np.ma.masked_invalid(grad[..., 0]), np.ma.masked_invalid(grad[..., 1])
    ax.quiver(ax_, ay_, u, v, color="#d62728", angles="xy", pivot="mid", width=0.004,
              label="gradient (AD)")
    x_name, y_name = f.variables
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(_short(f"{f.expr}, arrows: gradient by AD", _TITLE_CHARS))
    ax.set_aspect("equal" if 0.25 < (yb - ya) / (xb - xa) < 4 else "auto")
    return ax


def _exact_derivative(f: Function, at: float) -> float:
    """f'(at) to float64 from SymPy at 30 digits, at the float ``at`` exactly; InputError
    where f or f' is not a finite real number there."""
    x, point = symbol(f.variables[0]), sympy.Rational(at)
    for expr in (f.expr, sympy.diff(f.expr, x)):
        value = expr.subs(x, point).evalf(30)
        if not value.is_real or not value.is_finite:
            raise InputError(f"`{f.expr}` has no finite derivative at {at!r}; pick another "
                             "point")
    return float(value)


def accuracy(f, at: float = 1.0, steps=None, dtype=_DTYPE) -> dict[str, np.ndarray | float]:
    """Relative errors of f'(at) computed in ``dtype`` (float64 or float32; ``at`` rounded to
    it): ``forward`` and ``central`` differences over ``steps`` (arrays), ``misc_derivative``
    (scipy.misc.derivative's default, dx = 1) and ``ad`` (floats); also ``steps``, ``at`` (as
    rounded) and ``exact`` (SymPy's f'(at)). The chart's data.

    Example:
        >>> errors = accuracy("exp(sin(x))", 1.0, steps=[1e-6])
        >>> bool(errors["ad"] < 1e-15 < 1e-12 < errors["central"][0] < 1e-9)
        True
    """
    f = _one_variable(f)
    dtype = np.dtype(dtype)
    point = _finite(at, "at")
    if point.size != 1:
        raise InputError(f"`at` must be one finite number, got {at!r}")
    at = float(dtype.type(point[0]))
    scale = max(1.0, abs(at))
    smallest = -15 if dtype == np.float64 else -7  # float32 rounds x + 1e-8 back to x
    steps = np.logspace(smallest, 0, 61) * scale if steps is None else _finite(steps, "steps")
    if not (steps.size and np.all(steps > 0)):
        raise InputError(f"`steps` must be positive numbers such as [1e-8, 1e-4], got {steps}")
    exact = _exact_derivative(f, at)
    denominator = abs(exact) or 1.0

    def numpy_f(z):
        return _numbers(f, z, dtype).astype(dtype)

    xs = np.full(steps.shape, at, dtype)
    errors = {"exact": exact, "steps": steps, "at": at}
    for kind, order in (("forward", 1), ("central", 2)):
        estimate = fd.difference(numpy_f, xs, kind=kind, accuracy=order, h=steps)
        errors[kind] = np.abs(estimate - exact) / denominator
    errors["ad"] = abs(float(_numbers(derivative(f), at, dtype)) - exact) / denominator
    errors["misc_derivative"] = abs(float(fd.misc_derivative(numpy_f, at)) - exact) / denominator
    return errors


def plot_accuracy(f, at: float = 1.0, *, steps=None, ax=None, dtype=_DTYPE):
    """Finite-difference error against step h (log-log) next to AD's, for f'(at) in ``dtype``
    (float64 by default, or float32; the title and the eps line say which).

    Forward and central differences (``jaxcalc.fd.difference``) trace a V: truncation error
    falls with h until rounding error (~eps/h) takes over; AD (``jaxcalc.derivative``) has no
    step and sits flat at rounding level. A star marks ``scipy.misc.derivative``'s default
    step, dx = 1 (the lecture's call). Errors are relative to SymPy's exact derivative; an error
    of exactly 0 is drawn at 1e-17.

    Args:
        f: a one-variable :class:`Function`, or text for one.
        at: the point.
        steps: the steps h; default 61 from 1e-15 (float32: 1e-7) to 1 (times
            ``max(1, |at|)``).
        ax: matplotlib Axes to draw on; default a new Figure.
        dtype: ``"float64"`` (default) or ``"float32"``: what f, the differences and AD
            compute in.

    Returns:
        The Axes: lines labelled ``forward difference ...``, ``central difference ...`` and
        ``AD ...`` over the same steps.

    Example:
        >>> import jaxcalc as jc
        >>> ax = jc.plot_accuracy("exp(sin(x))", at=1.0)
        >>> ax.get_xscale(), ax.get_yscale()
        ('log', 'log')
    """
    f = _one_variable(f)
    errors = accuracy(f, at, steps, dtype)
    steps, floor = errors["steps"], 1e-17
    ax = _new_axes(ax, figsize=(9.5, 4.5))
    ax.loglog(steps, np.maximum(errors["forward"], floor), "o-", color="C1", markersize=3,
              label="forward difference (error ~ h)")
    ax.loglog(steps, np.maximum(errors["central"], floor), "s-", color="C0", markersize=3,
              label="central difference (error ~ h²)")
    ax.loglog([1.0], [max(errors["misc_derivative"], floor)], "*", color="C3", markersize=12,
              label="scipy.misc.derivative default (dx = 1)")
    ad = errors["ad"]
    ax.loglog(steps, np.full(steps.shape, max(ad, floor)), color="C2", linewidth=2.5,
              label=f"AD, jc.derivative: {ad:.1e}" if ad else "AD, jc.derivative: 0 (exact)")
    eps = np.finfo(dtype).eps
    ax.axhline(eps, color="0.6", linestyle=":", linewidth=1, label="_eps")
    ax.annotate(f"{np.dtype(dtype).name} eps", (steps[0], eps), xytext=(2, 3),
                textcoords="offset points", fontsize="small", color="0.4")
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error of f'")
    ax.set_ylim(floor / 3, None)
    ax.grid(True, which="major", color="0.92")
    ax.set_title(_short(f"f = {f.expr}: error of f'({errors['at']:g}) in {np.dtype(dtype).name}",
                        _TITLE_CHARS))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside the V
    return ax


def output_path(path) -> Path:
    """``path`` checked for writing a figure: a known extension and an existing folder."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise InputError(
            f"`{path}`: the file name must end in .png, .svg or .pdf (the format follows it)"
        )
    return writable(path)


def save(figure, path) -> Path:
    """Write ``figure`` to ``path`` atomically; the format (PNG, SVG, PDF) is its extension."""
    path = output_path(path)
    with atomic_write(path) as out:
        figure.savefig(out, format=_FORMATS[path.suffix.lower()], dpi=120)
    return path
