"""Grids, ``evaluate`` (arrays, files, reductions), budgets, bucketing and ``jaxcalc grid``
(plain calls, large ones included, are in test_calls.py); sharding and multi-process runs are
in test_devices.py."""

from __future__ import annotations

import json
import os
import re

import jax
import numpy as np
import pytest

import jaxcalc as jc
from jaxcalc._cli import main
from jaxcalc._core import memory
from jaxcalc._grid import devices as _devices
from jaxcalc._grid import evaluate as _evaluate
from jaxcalc._grid import fused as _fused
from jaxcalc._grid import grids as _grids

F64 = "float64"
REDUCES = ("max", "min", "sum", "mean", "argmax", "argmin", "integral")


def trapezoid_nd(values: np.ndarray, axes) -> np.ndarray:
    for k in reversed(range(len(axes))):
        values = np.trapezoid(values, np.asarray(axes[k]), axis=k)
    return values


def numpy_reduce(values: np.ndarray, name: str, axes) -> object:
    if name == "integral":
        return trapezoid_nd(values, axes)
    flat = values.reshape((-1,) + values.shape[len(axes):])
    return {"max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean,
            "argmax": np.argmax, "argmin": np.argmin}[name](flat, axis=0)


# -- grids ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [(0.5, 3, 11), (-2, 7.3, 1000), (3, 0.5, 4), (1, 1, 1)])
def test_linspace_matches_numpy(args):
    np.testing.assert_array_equal(np.asarray(jc.linspace(*args)), np.linspace(*args))
    assert jc.linspace(*args).shape == (args[2],)


def test_linspace_without_endpoint_and_arange_match_numpy():
    np.testing.assert_array_equal(np.asarray(jc.linspace(0, 1, 8, endpoint=False)),
                                  np.linspace(0, 1, 8, endpoint=False))
    for args in [(5,), (0, 1, 0.1), (2, -3, -0.7)]:
        np.testing.assert_array_equal(np.asarray(jc.arange(*args)), np.arange(*args))


def test_mesh_shape_and_points():
    m = jc.mesh(jc.linspace(0, 1, 5), [10.0, 20.0, 30.0], jc.arange(2))
    assert m.shape == (5, 3, 2) and m.size == 30
    assert m.point(0) == (0.0, 10.0, 0.0)
    assert m.point(29) == (1.0, 30.0, 1.0)
    assert m.point(int(np.ravel_multi_index((2, 1, 0), m.shape))) == (0.5, 20.0, 0.0)


def test_out_of_either_byte_order_and_devices_listed_once():
    for kind in ("<f8", ">f8", ">f4"):
        out = np.empty(5, kind)
        assert jc.evaluate("2*x", jc.linspace(0, 1, 5), out=out) is out
        np.testing.assert_array_equal(out, [0.0, 0.5, 1.0, 1.5, 2.0])
    with pytest.raises(jc.InputError, match=r"`out` has dtype >f8 but the values are float32"):
        jc.evaluate("x", jc.linspace(0, 1, 5), out=np.empty(5, ">f8"), dtype="float32")
    device = jax.devices()[0]
    with pytest.raises(jc.InputError, match=r"`devices` lists a device more than once"):
        jc.evaluate("x", jc.linspace(0, 1, 5), devices=[device, device])


def test_every_grid_gives_the_point_at_an_index():
    axis = jc.linspace(0, 1, 5)
    index = jc.evaluate("-(x - 0.3)**2", axis, reduce="argmax")
    assert (index, axis.point(index), axis.point(-1), axis.point((2,))) == (1, 0.25, 1.0, 0.5)
    m = jc.mesh(axis, [10.0, 20.0])
    assert m.point((4, 1)) == m.point(9) == m.point(-1) == (1.0, 20.0)
    points = _grids.as_grid((np.ones((2, 1)), np.arange(3.0)))
    assert points.point((1, 2)) == points.point(5) == (1.0, 2.0)
    for grid, index in ((axis, 5), (axis, 1.5), (axis, "a"), (m, (1,)), (m, (5, 0)), (m, 10),
                        (points, (0, 3))):
        with pytest.raises(jc.InputError, match=rf"`index` must be a flat index below "
                                                rf"{grid.size} or one index per axis of shape"):
            grid.point(index)


@pytest.mark.parametrize("call, message", [
    (lambda: jc.linspace(0, 1, 0), r"`num` must be a whole number >= 1"),
    (lambda: jc.linspace(0, float("inf"), 3), r"`stop` must be finite"),
    (lambda: jc.arange(0, 1, 0), r"`step` must not be 0"),
    (lambda: jc.arange(1, 0, 0.5), r"has no points"),
    (lambda: jc.mesh(), r"at least one axis"),
    (lambda: jc.mesh(np.ones((2, 2))), r"mesh axis 0 must be"),
])
def test_grid_errors(call, message):
    with pytest.raises(jc.InputError, match=message):
        call()


# -- values -----------------------------------------------------------------------------------

def test_linspace_values_of_function_and_derivative():
    xs = np.linspace(0.5, 3, 1001)
    d = jc.derivative("x**3 - 1/x")
    got = jc.evaluate(d, jc.linspace(0.5, 3, 1001), dtype=F64, chunk_size=64)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got, 3 * xs**2 + 1 / xs**2, rtol=1e-14)
    f32 = jc.evaluate("x**3 - 1/x", jc.linspace(0.5, 3, 1001), chunk_size=64)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, xs**3 - 1 / xs, rtol=1e-6, atol=1e-5)


def test_mesh_values_with_a_plain_axis_and_gradient():
    ys = np.sort(np.random.default_rng(0).uniform(-1, 1, 23))
    grid = jc.mesh(jc.linspace(0, 2, 37), ys)
    X, Y = np.meshgrid(np.linspace(0, 2, 37), ys, indexing="ij")
    got = jc.evaluate("x**2*y + sin(y)", grid, dtype=F64, chunk_size=64)
    np.testing.assert_allclose(got, X**2 * Y + np.sin(Y), rtol=1e-14, atol=1e-15)
    grad = jc.evaluate(jc.gradient("x**2*y + sin(y)"), grid, dtype=F64, chunk_size=64)
    assert grad.shape == (37, 23, 2)
    np.testing.assert_allclose(grad[..., 0], 2 * X * Y, atol=1e-14)
    np.testing.assert_allclose(grad[..., 1], X**2 + np.cos(Y), atol=1e-14)


def test_three_axis_mesh_and_hessian():
    grid = jc.mesh(jc.linspace(-1, 1, 9), jc.linspace(0, 1, 5), jc.arange(3))
    X, Y, Z = np.meshgrid(*(np.asarray(a) for a in grid.axes), indexing="ij")
    got = jc.evaluate("x*y*z + x**2", grid, dtype=F64, chunk_size=16)
    np.testing.assert_allclose(got, X * Y * Z + X**2, atol=1e-15)
    h = jc.evaluate(jc.hessian("x*y*z + x**2"), grid, dtype=F64, chunk_size=16)
    assert h.shape == (9, 5, 3, 3, 3)
    np.testing.assert_allclose(h[..., 0, 1], Z, atol=1e-15)


def test_plain_arrays_broadcast_with_a_scalar():
    x = np.random.default_rng(1).uniform(0.5, 3, (50, 7))
    got = jc.evaluate("x*y", (x, 2.0), chunk_size=32)
    assert got.shape == (50, 7)
    np.testing.assert_allclose(got, 2 * x, rtol=1e-15)
    assert got.dtype == np.float64  # the array's dtype


def test_tangent_and_numpy_callables_run_on_the_host():
    t = jc.tangent("x**3 - 1/x", at=1.0, dtype=F64)
    xs = np.linspace(-1, 2, 300)
    np.testing.assert_allclose(jc.evaluate(t, jc.linspace(-1, 2, 300), dtype=F64,
                                           chunk_size=64), 4 * xs - 4, atol=1e-13)
    grid = jc.mesh(jc.linspace(0, 1, 20), jc.linspace(0, 2, 30))
    got = _evaluate.run(np.hypot, grid, dtype=F64)
    X, Y = np.meshgrid(np.linspace(0, 1, 20), np.linspace(0, 2, 30), indexing="ij")
    np.testing.assert_allclose(got.value, np.hypot(X, Y))
    assert got.device == "host" and got.points == 600


def test_wrong_arity_and_bad_arguments():
    with pytest.raises(jc.InputError, match=r"grid has 1 axes but the function takes 2"):
        jc.evaluate("x*y", jc.linspace(0, 1, 5))
    with pytest.raises(jc.InputError, match=r"`reduce` must be one of max, min"):
        jc.evaluate("x", jc.linspace(0, 1, 5), reduce="median")
    with pytest.raises(jc.InputError, match=r"either `reduce` or `out`"):
        jc.evaluate("x", jc.linspace(0, 1, 5), reduce="max", out="a.npy")
    with pytest.raises(jc.InputError, match=r"`grid` must be a linspace"):
        jc.evaluate("x", "0..1")
    with pytest.raises(jc.InputError, match=r"must be elementwise"):
        jc.evaluate(lambda x: x[:2], jc.linspace(0, 1, 5))
    for values, dtype in (("a", "<U1"), (1j, "complex128"), (None, "object")):
        with pytest.raises(jc.InputError, match=rf"`fn` returned values of dtype {dtype}; it "
                                                r"must return real numbers"):
            jc.evaluate(lambda x, v=values: np.full(x.shape, v), jc.linspace(0, 1, 5))


# -- reductions ---------------------------------------------------------------------------------

GRIDS = {
    "linspace": (lambda: jc.linspace(0.5, 3, 1003), "sin(3*x)*exp(-x) + x/7",
                 lambda x: np.sin(3 * x) * np.exp(-x) + x / 7),
    "mesh": (lambda: jc.mesh(jc.linspace(-1, 1, 41), np.sort(np.random.default_rng(2)
                                                              .uniform(0, 2, 29))),
             "x*exp(-x**2 - y) + y/3", lambda x, y: x * np.exp(-x**2 - y) + y / 3),
}


@pytest.mark.parametrize("name", REDUCES)
@pytest.mark.parametrize("kind", list(GRIDS))
@pytest.mark.parametrize("engine", ["kernel", "numpy"])
def test_reductions_match_numpy(name, kind, engine):
    make, text, numpy_fn = GRIDS[kind]
    grid = make()
    axes = [np.asarray(a) for a in grid.axes] if isinstance(grid, jc.Mesh) else [np.asarray(grid)]
    values = numpy_fn(*np.meshgrid(*axes, indexing="ij"))
    fn = jc.Function(text) if engine == "kernel" else numpy_fn
    got = jc.evaluate(fn, grid, reduce=name, dtype=F64, chunk_size=64)
    expected = numpy_reduce(values, name, axes)
    if name.startswith("arg"):  # an int on a 1-D grid, one int per axis on a mesh
        where = np.unravel_index(int(expected), values.shape)
        assert got == (int(expected) if values.ndim == 1 else tuple(int(i) for i in where))
        assert values[got] == values.max() if name == "argmax" else values.min()
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("name", REDUCES)
def test_reductions_over_plain_arrays_and_per_component(name):
    x = np.sort(np.random.default_rng(3).uniform(0.5, 3, 777))
    got = jc.evaluate("log(x)*x", x, reduce=name, chunk_size=32)
    values = np.log(x) * x
    expected = np.trapezoid(values, x) if name == "integral" else numpy_reduce(values, name, [x])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if name == "integral":
        return
    grid = jc.mesh(jc.linspace(0, 1, 13), jc.linspace(1, 2, 11))
    grads = jc.evaluate(jc.gradient("x**2*y"), grid, reduce=name, dtype=F64, chunk_size=16)
    X, Y = np.meshgrid(np.linspace(0, 1, 13), np.linspace(1, 2, 11), indexing="ij")
    both = np.stack([2 * X * Y, X**2], axis=-1)
    expected = numpy_reduce(both, name, [0, 0])
    if name.startswith("arg"):  # per component: one array of indices per axis
        expected = np.unravel_index(expected, X.shape)
    np.testing.assert_allclose(grads, expected, rtol=1e-12)


def test_nan_propagates_like_numpy():
    grid = jc.linspace(-1, 1, 101)
    xs = np.linspace(-1, 1, 101)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.log(xs)
    assert np.isnan(jc.evaluate("log(x)", grid, reduce="max", dtype=F64, chunk_size=16))
    assert jc.evaluate("log(x)", grid, reduce="argmax", dtype=F64, chunk_size=16) \
        == np.argmax(values) == 0
    reversed_grid = jc.linspace(1, -1, 101)
    assert jc.evaluate("log(x)", reversed_grid, reduce="argmin", dtype=F64, chunk_size=16) \
        == np.argmin(values[::-1])


def test_integral_is_accurate():
    value = jc.evaluate("exp(x)", jc.linspace(0, 1, 10**5 + 1), reduce="integral", dtype=F64)
    assert abs(value - (np.e - 1)) < 1e-9
    assert jc.evaluate("x", jc.linspace(0, 1, 1), reduce="integral", dtype=F64) == 0


# -- outputs ----------------------------------------------------------------------------------

def test_out_array_is_filled():
    out = np.zeros((6, 4))
    got = jc.evaluate("x + 10*y", jc.mesh(jc.arange(6), jc.arange(4)), out=out, dtype=F64,
                      chunk_size=4)
    assert got is out
    np.testing.assert_array_equal(out, np.arange(6)[:, None] + 10 * np.arange(4)[None, :])
    with pytest.raises(jc.InputError, match=r"writeable array of shape \(6, 4\)"):
        jc.evaluate("x + y", jc.mesh(jc.arange(6), jc.arange(4)), out=np.zeros(24))


def test_out_file_contents(tmp_path):
    path = tmp_path / "values.npy"
    got = jc.evaluate(jc.derivative("x**3 - 1/x"), jc.linspace(0.5, 3, 5000), out=path,
                      dtype=F64, chunk_size=256)
    xs = np.linspace(0.5, 3, 5000)
    np.testing.assert_allclose(np.load(path), 3 * xs**2 + 1 / xs**2, rtol=1e-14)
    assert isinstance(got, np.memmap) and not got.flags.writeable
    assert os.listdir(tmp_path) == ["values.npy"]
    mesh_path = tmp_path / "mesh.npy"
    jc.evaluate(jc.gradient("x*y"), jc.mesh(jc.arange(5), jc.arange(3)), out=str(mesh_path),
                chunk_size=4)
    assert np.load(mesh_path).shape == (5, 3, 2)
    with pytest.raises(jc.InputError, match=r"ending in .npy"):
        jc.evaluate("x", jc.arange(3), out=str(tmp_path / "values.txt"))


@pytest.mark.parametrize("error", [RuntimeError("bad chunk"), KeyboardInterrupt()])
@pytest.mark.parametrize("engine", ["numpy", "kernel"])
def test_failure_mid_run_leaves_no_file(tmp_path, monkeypatch, error, engine):
    path = tmp_path / "values.npy"
    np.save(path, np.arange(3.0))  # an older file at the path survives untouched
    calls = []

    def flaky(x):
        calls.append(1)
        if len(calls) == 3:
            raise error
        return x * 2

    fn = flaky
    if engine == "kernel":
        fn = jc.Function("2*x")
        original = _fused.DeviceEngine._per_block

        def failing(self, group):
            flaky(0)
            return original(self, group)

        monkeypatch.setattr(_fused.DeviceEngine, "_per_block", failing)
    with pytest.raises(type(error)):
        jc.evaluate(fn, jc.linspace(0, 1, 1000), out=path, chunk_size=16)
    assert sorted(os.listdir(tmp_path)) == ["values.npy"]
    np.testing.assert_array_equal(np.load(path), np.arange(3.0))


def test_full_disk_is_a_resource_error(tmp_path, monkeypatch):
    class Full:
        free = 1000

    monkeypatch.setattr(_devices.shutil, "disk_usage", lambda _: Full())
    with pytest.raises(jc.ResourceError, match=r"needs more disk space than the 1000 B free"):
        jc.evaluate("x", jc.linspace(0, 1, 10**6), out=tmp_path / "big.npy")
    assert os.listdir(tmp_path) == []


# -- budgets and compilation ----------------------------------------------------------------------

def test_output_that_cannot_fit_raises_up_front():
    with pytest.raises(jc.ResourceError, match=r"output \(10,000,000,000,000 values of float64\) "
                                              r"\(host memory\) needs 72.8 TiB but only"):
        jc.evaluate("x", jc.linspace(0, 1, 10**13), dtype=F64)
    assert isinstance(jc.ResourceError("x"), MemoryError)


def test_block_that_cannot_fit_on_the_device_raises(monkeypatch):
    monkeypatch.setattr(_devices, "device_budget", lambda devices: 10_000)
    with pytest.raises(jc.ResourceError, match=r"one block of this grid \(device memory\)"):
        jc.evaluate("x*y", jc.mesh(jc.arange(4), jc.arange(10**4)), dtype=F64)
    value = jc.evaluate("x", jc.linspace(0, 1, 10**4), reduce="max", dtype=F64)
    assert value == 1.0  # smaller blocks when they do fit


def test_many_lengths_compile_a_logarithmic_number_of_times(backend_compiles):
    d = jc.derivative("x**2 - 1/x")
    lengths = sorted(set(np.geomspace(1, 5000, 80).astype(int)))
    before = backend_compiles()
    for n in lengths:
        jc.evaluate(d, jc.linspace(0.5, 3, int(n)), reduce="max", dtype=F64, chunk_size=1024)
    reduce_compiles = backend_compiles() - before
    for n in lengths:
        jc.evaluate(d, jc.linspace(0.5, 3, int(n)), dtype=F64, chunk_size=1024)
    assert len(lengths) > 40
    assert reduce_compiles <= 11  # rows 1, 2, 4, ..., 1024
    assert backend_compiles() - before - reduce_compiles <= 2 * 11  # step and output buffers


def test_progress_bar_only_when_asked(capsys, monkeypatch):
    monkeypatch.setattr(_devices, "PROGRESS_DELAY", 0.0)
    jc.evaluate("x", jc.linspace(0, 1, 1000), reduce="sum", chunk_size=64)
    assert capsys.readouterr().err == ""
    jc.evaluate("x", jc.linspace(0, 1, 1000), reduce="sum", chunk_size=64, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err != ""  # rich, on stderr (transient off a tty)


# -- CLI ----------------------------------------------------------------------------------------

def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_reduce_json(capsys):
    code, out, err = run_cli(capsys, "grid", "x**3 - 1/x", "--range", "0.5", "3", "--points",
                             "1e5", "--order", "1", "--reduce", "max", "--json")
    payload = json.loads(out)
    assert code == 0 and err == ""
    assert set(payload) == {"expression", "order", "points", "reduce", "value", "seconds",
                            "points_per_second", "device", "devices"}
    assert payload["points"] == 100_000 and payload["value"] == pytest.approx(27 + 1 / 9)
    assert payload["devices"] >= 1 and payload["order"] == 1


def test_cli_argmin_text_and_small_print(capsys):
    code, out, _ = run_cli(capsys, "grid", "(x - 1)**2", "--range", "0", "2", "--points", "201",
                           "--reduce", "argmin")
    assert code == 0 and out.startswith("argmin of (x - 1)**2: index 100, x = 1.0")
    code, out, _ = run_cli(capsys, "grid", "x**2", "--range", "0", "1", "--points", "3")
    assert code == 0 and out.splitlines() == ["0.0 0.0", "0.5 0.25", "1.0 1.0"]
    code, out, _ = run_cli(capsys, "grid", "x**2", "--range", "0", "1", "--points", "3", "--json")
    assert json.loads(out)["values"] == [0.0, 0.25, 1.0]


def test_cli_output_file(capsys, tmp_path):
    path = str(tmp_path / "d.npy")
    code, out, _ = run_cli(capsys, "grid", "x**3 - 1/x", "--range", "0.5", "3", "--points",
                           "20000", "--order", "2", "-o", path, "--json")
    payload = json.loads(out)
    assert code == 0 and payload["output"] == path and "value" not in payload
    xs = np.linspace(0.5, 3, 20000)
    np.testing.assert_allclose(np.load(path), 6 * xs - 2 / xs**3, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("argv, message", [
    (["--points", "1e9"], r"refusing to print 1,000,000,000 values: pass --reduce"),
    (["--points", "1.5"], r"argument --points: must be a whole number >= 1"),
    (["--points", "10", "--reduce", "max", "-o", "a.npy"], r"either --reduce or -o"),
    (["--points", "10", "--reduce", "median"], r"invalid choice"),
])
def test_cli_errors_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, "grid", "x", "--range", "0", "1", *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert re.search(message, err)


def test_cli_rejects_two_variables(capsys):
    code, _, err = run_cli(capsys, "grid", "x*y", "--range", "0", "1", "--points", "5",
                           "--reduce", "max")
    assert code == 2 and "function of one variable" in err


@pytest.mark.parametrize("name", [None, *REDUCES])
def test_host_threads_do_not_change_results(monkeypatch, name, tmp_path):
    d = jc.derivative("sin(x)/x")
    grid = jc.linspace(0.5, 30, 100_001)
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(_devices, "workers", lambda threads=threads: threads)
        out = None if name else tmp_path / f"t{threads}.npy"
        results.append(jc.evaluate(d, grid, reduce=name, out=out, dtype=F64, chunk_size=1024))
    np.testing.assert_array_equal(results[0], results[1])


# -- issue 11: inside transforms, no silent materialization, smaller points ------------------------

def test_grad_of_an_integral_fits_a_parameter():
    # loss(a) = (integral_0^1 a*x**2 dx - 1)**2 = (a/3 - 1)**2: minimum at a = 3, where
    # d loss / da = 2 (a/3 - 1) / 3 is 0; fitted by plain gradient steps through `evaluate`.
    grid = jc.linspace(0, 1, 2001)

    def loss(f):
        return (jc.evaluate(f, grid, reduce="integral") - 1.0) ** 2

    f = jc.Function("a*x**2", params={"a": 1.0})
    slope = jax.grad(loss)(f).params["a"]
    assert float(slope) == pytest.approx(2 * (1 / 3 - 1) / 3, rel=1e-5)
    step = jax.jit(lambda f: jax.tree_util.tree_map(lambda p, g: p - 4.0 * g, f,
                                                    jax.grad(loss)(f)))
    for _ in range(60):
        f = step(f)
    assert float(f.params["a"]) == pytest.approx(3.0, rel=1e-4)


@pytest.mark.parametrize("name", REDUCES)
def test_reductions_under_jit_match_the_streamed_ones(name):
    grid = jc.mesh(jc.linspace(-1, 1, 21), jc.linspace(0, 2, 13))
    streamed = jc.evaluate("x*exp(-x**2 - y) + y/3", grid, reduce=name, chunk_size=16)
    with jax.enable_x64(True):
        traced = jax.jit(lambda: jc.evaluate("x*exp(-x**2 - y) + y/3", grid, reduce=name))()
    if name.startswith("arg"):
        assert tuple(int(i) for i in traced) == streamed
    else:
        np.testing.assert_allclose(float(traced), float(streamed), rtol=1e-6)


def test_vmap_over_params_and_traced_grid_arrays():
    f = jc.Function("a*x", params={"a": 1.0})
    stacked = jax.tree_util.tree_map(lambda p: jnp_stack(p), f)
    sums = jax.vmap(lambda f: jc.evaluate(f, jc.linspace(0, 1, 11), reduce="sum"))(stacked)
    np.testing.assert_allclose(sums, [0.0, 5.5, 11.0], rtol=1e-6)
    xs = np.linspace(0, 1, 11, dtype=np.float32)
    got = jax.jit(lambda x: jc.evaluate("x**2", x, reduce="integral"))(xs)
    assert float(got) == pytest.approx(np.trapezoid(xs**2, xs), rel=1e-6)
    lam = jax.jit(lambda a: jc.evaluate(lambda x: a * x, jc.linspace(0, 1, 5)))(2.0)
    np.testing.assert_allclose(lam, [0.0, 0.5, 1.0, 1.5, 2.0])


def jnp_stack(p):
    return jax.numpy.stack([p * 0, p, p * 2])


def test_params_stream_as_one_number_each():
    stacked = jc.Function("a*x + b", params={"a": np.arange(3.0), "b": np.ones(3)})
    for grid in (jc.linspace(0, 1, 3), np.ones(3)):
        with pytest.raises(jc.InputError, match=r"param `a` has shape \(3,\); `evaluate` "
                                                r"streams the grid through one value per param"):
            jc.evaluate(stacked, grid)
    sums = jax.vmap(lambda f: jc.evaluate(f, jc.linspace(0, 1, 11), reduce="sum"))(stacked)
    np.testing.assert_allclose(sums, [11.0, 16.5, 22.0], rtol=1e-6)


def test_a_grid_too_large_to_trace_is_an_input_error():
    f = jc.Function("a*x**2", params={"a": 1.0})
    with pytest.raises(jc.InputError, match=r"inside jax.jit/grad/vmap, `evaluate` computes the "
                                            r"whole grid as one JAX array: 1,000,000,000,000 "
                                            r"points need about .* call evaluate outside it"):
        jax.grad(lambda f: jc.evaluate(f, jc.linspace(0, 1, 10**12), reduce="max"))(f)
    with pytest.raises(jc.InputError, match=r"`out` cannot be filled inside jax.jit"):
        jax.jit(lambda: jc.evaluate("x", jc.linspace(0, 1, 5), out=np.zeros(5)))()
    with pytest.raises(jc.InputError, match=r"`stop` is traced .* pass an array such as "
                                            r"jnp.linspace"):
        jax.grad(lambda b: jc.evaluate("x", jc.linspace(0, b, 5), reduce="integral"))(1.0)
    slope = jax.grad(lambda b: jc.evaluate("x", jax.numpy.linspace(0, b, 5),
                                           reduce="integral"))(2.0)
    assert float(slope) == pytest.approx(2.0)  # d/db of b**2/2, through traced grid arrays


def test_calling_a_function_on_a_huge_lazy_grid_is_checked_first():
    with pytest.raises(jc.ResourceError, match=r"1,000,000,000,000 points of a lazy grid as an "
                                              r"array \(host memory\) needs .* stream them with "
                                              r"jc.evaluate"):
        jc.Function("x")(jc.linspace(0, 1, 10**12))
    with pytest.raises(jc.ResourceError):
        np.asarray(jc.arange(0, 1, 1e-13))
    np.testing.assert_allclose(jc.Function("2*x")(jc.linspace(0, 1, 3)), [0.0, 1.0, 2.0])


def test_mesh_argmax_returns_one_index_per_axis():
    grid = jc.mesh(jc.linspace(-1, 1, 5), [0.5, 2.0, 1.0])
    X, Y = np.meshgrid(np.linspace(-1, 1, 5), [0.5, 2.0, 1.0], indexing="ij")
    values = -(X - 0.5) ** 2 * Y
    index = jc.evaluate("-(x - 0.5)**2*y", grid, reduce="argmin", dtype=F64)
    assert index == np.unravel_index(np.argmin(values), values.shape) == (0, 1)
    assert grid.point(index) == (-1.0, 2.0) == grid.point(int(np.argmin(values)))
    arrays = (np.ones((4, 1)), np.arange(3.0)[None, :])
    assert jc.evaluate("x*y", arrays, reduce="argmax") == (0, 2)  # N-D arrays too
    assert jc.evaluate("x", jc.linspace(0, 1, 9), reduce="argmax") == 8  # 1-D: an int


def test_resource_error_states_its_margin(monkeypatch):
    monkeypatch.setattr(memory, "host_available", lambda: 10 * 2**30)
    with pytest.raises(jc.ResourceError, match=r"needs 9.3 GiB but only 10.0 GiB is available "
                                              r"and one run may use 80% of it \(8.0 GiB\)"):
        jc.evaluate("x", jc.linspace(0, 1, 10**9 + 10**7 * 25), dtype=F64)


def test_arity_message_names_one_axis_per_variable():
    with pytest.raises(jc.InputError, match=r"give one axis per variable$"):
        jc.evaluate("x*y", jc.linspace(0, 1, 5))
    with pytest.raises(jc.InputError, match=r"give one array per variable$"):
        jc.evaluate("x*y", np.ones(3))


def test_argmin_over_blocks_of_minus_infinity_is_quiet():
    # every block's minimum is -inf: combining them once computed -inf - -inf (a RuntimeWarning,
    # an error under this suite's filterwarnings)
    grid = jc.linspace(0, 0.9, 5000)
    assert jc.evaluate(lambda x: np.full_like(x, -np.inf), grid, reduce="argmin",
                       chunk_size=64) == 0
    assert jc.evaluate("-1/(x - x + floor(x))", grid, reduce="argmin", chunk_size=64) == 0


# -- issue 14: counts, files, dtypes, constants, broadcasts, byte order ---------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: jc.linspace(0, 1, 1e30), r"`num` asks for 1e\+30 points; a grid holds at most 2"),
    (lambda: jc.linspace(0, 1, 10**19), r"`num` asks for 1e\+19 points"),
    (lambda: jc.arange(0, 1, 1e-20), r"arange\(0.0, 1.0, 1e-20\) asks for 1e\+20 points"),
    (lambda: jc.arange(-1e308, 1e308, 1e-300), r"has too many points; use a larger `step`"),
    (lambda: jc.mesh(jc.linspace(0, 1, 2**30), jc.linspace(0, 1, 2**30)),
     r"a mesh of shape \(1073741824, 1073741824\) asks for 1.15e\+18 points"),
])
def test_huge_counts_are_input_errors(call, message):
    with pytest.raises(jc.InputError, match=message):
        call()


def test_out_array_of_another_dtype_is_refused():
    grid = jc.linspace(0, 1, 5)
    with pytest.raises(jc.InputError, match=r"`out` has dtype int32 but the values are float32; "
                                            r"pass an array of float32"):
        jc.evaluate("1.7*x", grid, out=np.zeros(5, np.int32))
    with pytest.raises(jc.InputError, match=r"`out` has dtype float32 but the values are float64"):
        jc.evaluate("1.7*x", grid, out=np.zeros(5, np.float32), dtype=F64)
    out = np.zeros(5, np.float64)  # a float `out` sets the working dtype
    assert jc.evaluate("1.7*x", grid, out=out) is out
    np.testing.assert_allclose(out, 1.7 * np.linspace(0, 1, 5), rtol=1e-15)


@pytest.mark.parametrize("size", [1.5, 0, -3, True, "64"])
def test_bad_chunk_sizes_are_input_errors(size):
    with pytest.raises(jc.InputError, match=r"`chunk_size` must be a whole number >= 1"):
        jc.evaluate("x", jc.linspace(0, 1, 5), chunk_size=size)


def test_constants_evaluate_over_grids():
    assert jc.evaluate("5", jc.linspace(0, 1, 4)).tolist() == [5.0] * 4
    grid = jc.mesh(jc.linspace(0, 1, 3), [1.0, 2.0])
    got = jc.evaluate("5", grid, dtype=F64)
    assert got.shape == (3, 2) and got.dtype == np.float64 and (got == 5).all()
    assert jc.evaluate("2", grid, reduce="sum") == 12.0
    assert jc.evaluate("pi", jc.linspace(0, 2, 3), reduce="integral", dtype=F64) == 2 * np.pi
    assert jc.evaluate(jc.Function("a", params={"a": 3.0}), np.ones((2, 3))).shape == (2, 3)


def test_big_endian_arrays_are_read_natively():
    x = np.linspace(0.5, 3, 777).astype(">f8")
    np.testing.assert_allclose(jc.evaluate("log(x)", x), np.log(x.astype(np.float64)),
                               rtol=1e-15)
    assert jc.evaluate("log(x)", x, reduce="max") == np.log(3.0)
    grid = jc.mesh(np.array([1.0, 2.0], ">f4"), jc.linspace(0, 1, 3))
    assert jc.evaluate("x*y", grid, reduce="sum") == 4.5


def test_broadcast_arrays_are_walked_lazily():
    x, y = np.arange(40.0)[:, None], np.linspace(0, 1, 70)[None, :]
    got = jc.evaluate("x*y*z", (x, y, 2.0), dtype=F64, chunk_size=64)
    np.testing.assert_allclose(got, 2 * x * y, rtol=1e-15)
    assert jc.evaluate("x*y*z", (x, y, 2.0), reduce="argmax", chunk_size=64) == (39, 69)
    points = jc._grid.grids.as_grid((x, y, 2.0))
    assert points.arrays[0].shape == (40, 1)  # kept as given, not copied to (40, 70)
    for lo, hi in [(0, 2800), (5, 6), (69, 141), (100, 2799), (70, 140)]:
        np.testing.assert_array_equal(points.flat(lo, hi)[0], np.broadcast_to(x, (40, 70))
                                      .reshape(-1)[lo:hi])


def test_outer_product_arrays_are_a_mesh():
    x, y = np.arange(40.0, dtype=np.float32)[:, None], np.linspace(0, 1, 70)[None, :]
    grid = jc._grid.grids.as_grid((x, y))
    assert isinstance(grid, jc.Mesh) and grid.shape == (40, 70)
    got = jc.evaluate("x*y", (x, y), chunk_size=64)
    assert got.dtype == np.float64  # the arrays' dtypes decide, as for any plain arrays
    np.testing.assert_allclose(got, x * y, rtol=1e-15)
    assert jc.evaluate("x*y", (x, y), reduce="argmax") == (39, 69)
    assert jc.evaluate("x", (x[:, 0],), reduce="argmax") == 39  # 1-D: plain points


@pytest.mark.slow
def test_reduction_over_broadcast_inputs_stays_small():
    # 4000 x 70000 = 2.8e8 points: full-size float64 inputs would be 2.2 GB each
    # Peak RSS from VmHWM: ru_maxrss would report the parent's (pytest's) peak too, since Linux
    # carries it across fork and exec.
    script = ("import re, numpy as np, jaxcalc as jc\n"
              "v = jc.evaluate('x*y', (np.ones((4000, 1)), np.ones((1, 70000))), reduce='max')\n"
              "status = open('/proc/self/status').read()\n"
              "print(float(v), re.search(r'VmHWM:\\s*(\\d+)', status).group(1))\n")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert done.returncode == 0, done.stderr[-2000:]
    value, peak_kib = done.stdout.split()
    assert float(value) == 1.0
    assert int(peak_kib) < 1_500_000  # < 1.5 GB peak RSS (JAX itself takes ~0.3-0.5 GB)
