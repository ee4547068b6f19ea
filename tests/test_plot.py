"""Plots checked by their data: line arrays against NumPy/SymPy references, tangent slopes,
legends, gaps at poles, contour + gradient arrows, the accuracy chart; files and the CLI."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import jaxcalc as jc
from jaxcalc._cli import main
from jaxcalc._tools import plot as _plot

MAGIC = {".png": (b"\x89PNG",), ".pdf": (b"%PDF",), ".svg": (b"<?xml", b"<svg")}


def lines(ax) -> dict[str, np.ndarray]:
    """The labelled (legend) lines of ``ax``: label -> (n, 2) array of x, y."""
    return {line.get_label(): line.get_xydata() for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def assert_no_segment_crosses(xy: np.ndarray, poles) -> None:
    """No drawn segment (two consecutive finite points) has a pole between its ends."""
    x, y = xy[:, 0], xy[:, 1]
    drawn = np.isfinite(y[:-1]) & np.isfinite(y[1:])
    for pole in poles:
        across = drawn & (np.minimum(x[:-1], x[1:]) <= pole) & (np.maximum(x[:-1], x[1:]) >= pole)
        assert not across.any(), f"a segment joins across the pole at {pole}"


def test_function_and_derivatives_are_drawn_with_their_values():
    ax = jc.plot_function("3*x**2 + 1", (-3, 3), derivatives=(1, 2), points=201)
    drawn = lines(ax)
    assert list(drawn) == ["f(x) = 3*x**2 + 1", "f'(x) = 6*x  (AD)", "f''(x) = 6  (AD)"]
    assert legend(ax) == list(drawn)
    f, d1, d2 = drawn.values()
    for xy in drawn.values():
        assert xy.shape == (201, 2) and np.isfinite(xy).all()
        np.testing.assert_array_equal(xy[:, 0], np.linspace(-3, 3, 201))
    x = f[:, 0]
    np.testing.assert_allclose(f[:, 1], 3 * x**2 + 1, rtol=1e-14)
    np.testing.assert_allclose(d1[:, 1], 6 * x, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(d2[:, 1], 6.0, rtol=1e-14)
    assert ax.get_xlim() == (-3.0, 3.0)
    low, high = ax.get_ylim()
    assert low <= -18 and high >= 28 and high < 40  # every curve fits, nothing wasted
    assert ax.get_xlabel() == "x" and ax.get_title() == "y = 3*x**2 + 1"


def test_tangent_line_slope_point_and_legend():
    ax = jc.plot_function("x**3 - 1/x", tangent_at=1.0)
    label = "tangent at x = 1: y = 4*x - 4"
    assert legend(ax) == ["f(x) = x**3 - 1/x", label]
    tangent_xy = lines(ax)[label]
    (x0, y0), (x1, y1) = tangent_xy
    assert (x1 - x0) > 0 and (y1 - y0) / (x1 - x0) == pytest.approx(4.0, rel=1e-14)
    assert y0 - 4.0 * x0 == pytest.approx(-4.0, rel=1e-14)
    (marker,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(marker.get_xydata(), [[1.0, 0.0]], atol=1e-15)
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    assert marker.get_color() == line.get_color()


def test_several_tangents_and_range_widened_to_hold_them():
    ax = jc.plot_function("x**2", tangent_at=[-1.0, 5.0])
    assert ax.get_xlim() == (-3.0, 6.0)
    drawn = lines(ax)
    for x0, text in ((-1.0, "tangent at x = -1: y = -2*x - 1"),
                     (5.0, "tangent at x = 5: y = 10*x - 25")):
        (xa, ya), (xb, yb) = drawn[text]
        assert (yb - ya) / (xb - xa) == pytest.approx(2 * x0)


def test_float_tangent_equation_is_readable():
    ax = jc.plot_function("sin(x)", tangent_at=1.0)
    (label,) = [text for text in legend(ax) if text.startswith("tangent")]
    slope, intercept = math.cos(1.0), math.sin(1.0) - math.cos(1.0)
    assert label == f"tangent at x = 1: y = {slope:.6g}*x + {intercept:.6g}"


POLES = {
    "1/x": [0.0],
    "x**3 - 1/x": [0.0],
    "2*x - 1/x": [0.0],
    "tan(x)": [-3 * math.pi / 2, -math.pi / 2, math.pi / 2, 3 * math.pi / 2],
}


@pytest.mark.parametrize("xrange", [(-3.0, 3.0), (-2.9, 3.1), (-5.0, 4.7)])
@pytest.mark.parametrize("text", list(POLES))
def test_poles_break_the_curve_and_do_not_flatten_it(text, xrange):
    ax = jc.plot_function(text, xrange, derivatives=(1,), points=401)
    poles = [p for p in POLES[text] if xrange[0] < p < xrange[1]]
    f_xy, d_xy = lines(ax).values()
    for xy in (f_xy, d_xy):
        assert_no_segment_crosses(xy, poles)
    # the gap is one sample wide: the curve runs up to the pole from both sides
    step = (xrange[1] - xrange[0]) / 400
    finite = f_xy[np.isfinite(f_xy[:, 1]), 0]
    for pole in poles:
        assert np.min(np.abs(finite - pole)) < step
        assert finite[finite < pole].size and finite[finite > pole].size
    # the drawn points are f itself
    f = jc.Function(text)
    drawn = f_xy[np.isfinite(f_xy[:, 1])]
    np.testing.assert_allclose(drawn[:, 1], np.asarray(f(drawn[:, 0], dtype="float64")),
                               rtol=1e-12)
    # the y-axis fits f away from its poles instead of the huge values next to them
    low, high = ax.get_ylim()
    away = np.abs(finite[:, None] - np.array(poles)[None, :]).min(axis=1) > 0.3
    values = f_xy[np.isfinite(f_xy[:, 1]), 1][away]
    assert low <= values.min() and values.max() <= high
    assert high - low < 4 * (values.max() - values.min()) + 20


@pytest.mark.parametrize("text", ["sin(3*x)", "x**3 - x", "tanh(60*x)", "x - 1/(x**2 + 1)"])
def test_zero_crossings_are_not_taken_for_poles(text):
    ax = jc.plot_function(text, (-3, 3), derivatives=(1,), points=301)
    for xy in lines(ax).values():
        assert xy.shape == (301, 2) and np.isfinite(xy).all()


def test_domain_edges_leave_gaps_not_lines():
    ax = jc.plot_function("log(x)", (-2, 2), derivatives=(1,), points=101)
    for xy in lines(ax).values():
        x, y = xy[:, 0], xy[:, 1]
        assert np.isnan(y[x <= 0]).all() and np.isfinite(y[x > 0]).all()


def test_constant_is_a_flat_line():
    (xy,) = lines(jc.plot_function("5", points=11)).values()
    np.testing.assert_array_equal(xy[:, 1], 5.0)


def test_draws_on_a_given_axes():
    from matplotlib.figure import Figure

    left, right = Figure().subplots(1, 2)
    assert jc.plot_function("x**2", ax=right) is right
    assert not left.get_lines() and right.get_lines()


def test_contour_has_contours_and_gradient_arrows():
    ax = jc.plot_contour("x**2 + 3*y**2", (-2, 2), (-1, 1), points=41, arrows=9)
    kinds = sorted(type(c).__name__ for c in ax.collections)
    assert kinds == ["QuadContourSet", "QuadContourSet", "Quiver"]
    (quiver,) = [c for c in ax.collections if type(c).__name__ == "Quiver"]
    x, y = quiver.X, quiver.Y
    assert x.size == 81 and x.min() == -2 and y.max() == 1
    np.testing.assert_allclose(quiver.U, 2 * x, atol=1e-14)
    np.testing.assert_allclose(quiver.V, 6 * y, atol=1e-14)
    filled = next(c for c in ax.collections if getattr(c, "filled", False))
    assert filled.levels.min() >= 0 and filled.levels.max() <= 4 + 3
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert len(ax.figure.axes) == 2  # with a colour bar


def test_contour_masks_where_f_is_not_finite():
    ax = jc.plot_contour("log(x) + y", (-1, 1), points=21, arrows=5)
    (quiver,) = [c for c in ax.collections if type(c).__name__ == "Quiver"]
    hidden = np.broadcast_to(quiver.Umask, quiver.U.shape)  # arrows matplotlib leaves out
    x = quiver.X.ravel()
    assert hidden[x <= 0].all() and not hidden[x > 0].any()


def test_accuracy_chart_fd_v_shape_above_ad():
    ax = jc.plot_accuracy("exp(sin(x))", at=1.0)
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    drawn = lines(ax)
    forward = drawn["forward difference (error ~ h)"]
    central = drawn["central difference (error ~ h²)"]
    (ad_label,) = [k for k in drawn if k.startswith("AD")]
    ad = drawn[ad_label]
    np.testing.assert_array_equal(forward[:, 0], ad[:, 0])
    assert np.ptp(ad[:, 1]) == 0 and ad[0, 1] < 1e-15  # flat, at rounding level
    assert (forward[:, 1] > ad[:, 1]).all() and (central[:, 1] > ad[:, 1]).all()
    h, error = central[:, 0], central[:, 1]
    best = np.argmin(error)
    assert 1e-8 < h[best] < 1e-3 and error[best] < 1e-9  # the bottom of the V
    assert error[0] > 1e3 * error[best] and error[-1] > 1e3 * error[best]
    right = (h > 1e-3) & (h < 1e-1)  # truncation: slopes 2 (central) and 1 (forward)
    assert np.polyfit(np.log(h[right]), np.log(error[right]), 1)[0] == pytest.approx(2, abs=0.1)
    assert np.polyfit(np.log(h[right]), np.log(forward[right, 1]), 1)[0] == pytest.approx(
        1, abs=0.1)
    (star,) = drawn["scipy.misc.derivative default (dx = 1)"]
    assert star[0] == 1.0 and star[1] == pytest.approx(error[-1], rel=1e-12)


def test_accuracy_reference_is_exact():
    errors = _plot.accuracy("exp(sin(x))", 1.0, steps=[1e-3])
    assert errors["exact"] == pytest.approx(math.exp(math.sin(1.0)) * math.cos(1.0), rel=1e-15)
    assert errors["ad"] < 1e-15 and 1e-8 < errors["central"][0] < 1e-6


@pytest.mark.parametrize("call, match", [
    (lambda: jc.plot_function("x*y"), "plot_contour"),
    (lambda: jc.plot_contour("x**2"), "two variables"),
    (lambda: jc.plot_function("x", (1, 1)), r"`xrange` must be finite numbers with a < b"),
    (lambda: jc.plot_function("x", "ab"), r"`xrange` must be two numbers"),
    (lambda: jc.plot_function("x", derivatives=(0,)), r"`derivatives` must be orders >= 1"),
    (lambda: jc.plot_function("x", points=2), r"`points` must be an integer >= 3"),
    (lambda: jc.plot_function("1/x", tangent_at=0.0), "no tangent at x = 0"),
    (lambda: jc.plot_function("x", tangent_at=math.inf), r"`tangent_at` must be finite"),
    (lambda: jc.plot_contour("x*y", (0, 1), (2, 1)), r"`yrange` must be finite"),
    (lambda: jc.plot_accuracy("1/x", at=0.0), "no finite derivative at 0.0"),
    (lambda: jc.plot_function("log(x)", (-2, -1)),
     r"`log\(x\)` is not finite anywhere on \(-2, -1\); choose another xrange"),
    (lambda: jc.plot_accuracy("log(x)", at=-1.0), r"`log\(x\)` has no finite derivative at -1.0"),
    (lambda: jc.plot_function("x", tangent_at=[0.5, "a"]), r"`tangent_at` must be finite"),
    (lambda: jc.plot_function(["x", "x**2"]),
     r"a curve needs one formula, not 2; take one component of `\[x, x\*\*2\]` at a time"),
    (lambda: jc.plot_function(jc.gradient("x**2")), r"a curve needs one formula, not 1"),
    (lambda: jc.plot_contour(["x", "y"]), r"a contour plot needs one formula, not 2"),
    (lambda: jc.plot_accuracy("x", at="a"), r"`at` must be finite numbers, got 'a'"),
    (lambda: jc.plot_accuracy("x", at=[1.0, 2.0]), r"`at` must be one finite number"),
    (lambda: jc.plot_accuracy("x", steps=[]), r"`steps` must be positive numbers"),
    (lambda: jc.plot_accuracy("x", steps=[1e-3, -1.0]), r"`steps` must be positive numbers"),
])
def test_bad_arguments_raise_input_errors(call, match):
    with pytest.raises(jc.InputError, match=match):
        call()


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_save_writes_the_format_of_the_extension_atomically(tmp_path, suffix):
    path = tmp_path / f"figure{suffix}"
    path.write_bytes(b"old")
    assert _plot.save(jc.plot_function("x**2", points=11).figure, path) == path
    assert path.read_bytes().lstrip().startswith(MAGIC[suffix])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_save_rejects_unknown_extensions_and_missing_folders(tmp_path):
    figure = jc.plot_function("x", points=11).figure
    with pytest.raises(jc.InputError, match=r"must end in \.png, \.svg or \.pdf"):
        _plot.save(figure, tmp_path / "figure.gif")
    with pytest.raises(jc.InputError, match="does not exist"):
        _plot.save(figure, tmp_path / "missing" / "figure.png")
    assert list(tmp_path.iterdir()) == []


def test_headless_and_lazy():
    code = ("import sys, jaxcalc as jc; assert 'matplotlib' not in sys.modules; "
            "jc.plot_function('x**2', points=11); print('matplotlib.pyplot' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_cli_plot_writes_each_format(tmp_path, capsys, suffix):
    path = tmp_path / f"f{suffix}"
    argv = ["plot", "x**3 - 1/x", "--derivative", "--second-derivative", "--tangent-at", "1",
            "-o", str(path)]
    assert main(argv) == 0
    assert capsys.readouterr().out == f"wrote {path}\n"
    assert path.read_bytes().lstrip().startswith(MAGIC[suffix])


def test_cli_plot_json_and_range(tmp_path, capsys):
    path = tmp_path / "f.png"
    assert main(["plot", "sin(x)", "--range", "0", "6", "-o", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "expression": "sin(x)", "range": [0.0, 6.0], "file": str(path)}


def test_cli_plot_two_variables_draws_contours(tmp_path):
    path = tmp_path / "c.svg"
    assert main(["plot", "x**2 - y**2", "--range", "-1", "1", "-o", str(path)]) == 0
    assert b"<svg" in path.read_bytes()[:500]


@pytest.mark.parametrize("argv, match", [
    (["plot", "x", "-o", "f.gif"], r"error: `f.gif`: the file name must end in \.png"),
    (["plot", "x", "--range", "2", "1", "-o", "f.png"], r"error: --range A B needs A < B"),
    (["plot", "x*y", "--derivative", "-o", "f.png"], r"error: --derivative.*drop those"),
    (["plot", "1/x", "--tangent-at", "0", "-o", "f.png"], "error: `1/x` has no tangent"),
    (["plot", "x", "-o", "missing/f.png"], "error: `missing/f.png`: the folder"),
    (["plot", "x"], "error: .*-o/--output"),
    (["tangent", "x**2", "--at", "1", "--plot", "t.bmp"], r"error: `t.bmp`"),
])
def test_cli_plot_errors_exit_2(tmp_path, monkeypatch, capsys, argv, match):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.match(match, err)
    assert list(tmp_path.iterdir()) == []


def test_cli_tangent_plot(tmp_path, capsys):
    path = tmp_path / "t.png"
    assert main(["tangent", "x**3 - 1/x", "--at", "1", "--plot", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "y = 4*x - 4",
        "point x = 1.0, value 0.0, slope 4.0, intercept -4.0",
        f"wrote {path}",
    ]
    assert path.read_bytes().startswith(b"\x89PNG")
