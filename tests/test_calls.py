"""Calls (``_core.execute``, ``_core.hostcall``): numbers in and out, one compile per signature,
nothing kept behind the caller's back, ``out=``, memory checks before allocating, byte order."""

from __future__ import annotations

import gc
import mmap
import os
import resource
import threading
import time
import weakref
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcalc as jc
from jaxcalc._core import caches, execute, fresh, hostcall, memory, threads
from jaxcalc._tools.bench import GRID_FUNCTIONS

F64 = "float64"
CPU_ONLY = pytest.mark.skipif(jax.default_backend() != "cpu",
                              reason="host memory and the large route are CPU-only")
MIN_BYTES = hostcall.MIN_BYTES  # where the large route starts; the tests below use
TEST_MIN_BYTES = 4 << 20  # a smaller start (same route, arrays an eighth the size)
N_LARGE = TEST_MIN_BYTES // 8 + 12_345  # float64 points on the large route


@pytest.fixture(autouse=True)
def _smaller_large_start(monkeypatch):
    monkeypatch.setattr(hostcall, "MIN_BYTES", TEST_MIN_BYTES)


@pytest.fixture(autouse=True)
def _x64_stays_off():
    assert jax.config.jax_enable_x64 is False
    yield
    assert jax.config.jax_enable_x64 is False  # no call may flip the global flag



# -- numbers in, numbers out ------------------------------------------------------------------
def test_python_numbers_and_lists_are_float64_like_the_cli():
    f = jc.Function("exp(x) / 3")
    for value in (f(0.1), f(1), f(True), f([0.1, 0.2]), f(np.arange(3)), f(np.int32(2))):
        assert value.dtype == np.float64
    d3 = jc.derivative("sin(x)*exp(x)", n=3)
    assert float(d3(0.0)) == 2.0  # float32 gave 1.999999; `jaxcalc diff --order 3 --at 0`: 2.0


def test_arrays_keep_their_float_dtype_and_dtype_overrides():
    f = jc.Function("x * y")
    for dtype in (np.float16, jnp.bfloat16, np.float32, np.float64):
        x = np.ones(3, dtype)
        assert f(x, x).dtype == dtype
        assert f(x, 2.0).dtype == dtype  # a Python number never widens an array
    assert f(np.ones(2, np.float32), np.ones(2)).dtype == np.float64  # arrays promote
    assert f(1.0, 2.0, dtype="float32").dtype == np.float32
    assert f(np.float64(1.0), 2.0, dtype="float16").dtype == np.float16


def test_inside_a_trace_jax_precision_rules_apply():
    f = jc.Function("x / 3")
    assert jax.jit(f)(1.0).dtype == np.float32  # the traced 1.0 is JAX's default float
    with jax.enable_x64(True):
        assert jax.jit(f)(1.0).dtype == np.float64
    with pytest.raises(jc.InputError, match="needs x64"):
        jax.jit(lambda x: f(x, dtype=F64))(np.float32(1.0))
    assert float(jax.grad(lambda x: f(x))(2.0)) == pytest.approx(1 / 3)


# -- one compile per (function, dtype, shape), whatever the address and the results kept --------
@pytest.mark.parametrize("points", [1000, N_LARGE], ids=["plain", "large"])
def test_one_compile_per_shape_at_any_offset_with_results_kept_or_dropped(points,
                                                                          backend_compiles):
    d = jc.derivative(f"x**3 - 1/x + {points}", method="ad")  # a kernel no other test compiles
    buffer = np.random.default_rng(0).uniform(0.5, 3, points + 16)
    kept = []
    fresh._allocator.cache_clear()  # the large route also compiles the program allocating its
    shared = int(points == N_LARGE)  # results, once per shape and dtype for every function
    before = backend_compiles()
    for offset in range(16):  # 16 addresses: every alignment of a float64 within 64 bytes
        xs = buffer[offset : offset + points]
        ys = d(xs)
        if offset % 2:
            kept.append(ys)  # some results kept alive, others dropped at once
        del ys
    with jax.enable_x64(True):
        on_device = jax.device_put(buffer[:points])
    d(on_device)  # a JAX array of the same shape and dtype: the same program
    assert backend_compiles() - before == 1 + shared
    assert d.kernel.compiles == 1
    xs = buffer[:points]
    np.testing.assert_allclose(np.asarray(kept[0]), 3 * buffer[1:points + 1]**2
                               + 1 / buffer[1:points + 1]**2, rtol=1e-13)
    d(xs.astype(np.float32))  # a new dtype: one more (on the large route not: a plain call)
    assert backend_compiles() - before == 2 + shared


@CPU_ONLY
def test_the_large_route_compiles_once_per_size(backend_compiles):
    sizes = (N_LARGE, 2 * N_LARGE + 1, 3 * TEST_MIN_BYTES // 8)
    f, g = jc.Function("x**2 + 7.25*x"), jc.Function("x**2 - 7.25*x")
    fresh._allocator.cache_clear()
    before = backend_compiles()
    for n in sizes:
        xs = np.linspace(0, 1, n)
        np.testing.assert_allclose(np.asarray(f(xs)), xs**2 + 7.25 * xs, rtol=1e-15)
        np.testing.assert_allclose(np.asarray(f(xs[::-1].copy())), (xs**2 + 7.25 * xs)[::-1],
                                   rtol=1e-15)
    assert f.kernel.compiles == 3
    assert backend_compiles() - before == 6  # f's three programs and three allocators
    for n in sizes:
        g(np.linspace(0, 1, n))
    assert backend_compiles() - before == 9  # g's three: the allocators are shared


def test_equal_functions_share_plans_and_programs():
    f, g = jc.Function("x**2 + 0.375*x"), jc.Function("x**2 + 0.375*x")
    assert f.kernel is not g.kernel
    f(np.ones(4))
    g(np.zeros(4))
    assert f.kernel.compiles == g.kernel.compiles == 1


@CPU_ONLY
def test_a_repeated_call_reuses_its_plan_and_any_change_takes_the_full_path():
    f = jc.Function("x**2 - 0.625")
    x32, x64 = np.linspace(0, 1, 5, dtype=np.float32), np.linspace(0, 1, 5)
    for xs in (x32, x32, x64, x64, x32, x64[:3], jnp.asarray(x32), 2.0, x32):
        ys = f(xs)  # the previous call's plan, or the table's: values and dtypes as always
        expected = np.asarray(xs, np.float64)**2 - 0.625
        assert ys.dtype == getattr(xs, "dtype", np.float64)
        np.testing.assert_allclose(np.asarray(ys, np.float64), expected, rtol=1e-6)
    assert f._last[:3] == (np.ndarray, np.dtype(np.float32), (5,))
    assert f.kernel.compiles == 4  # float32 and float64 of 5 points, float64 of 3, and 1
    g = jax.tree_util.tree_map(lambda leaf: leaf, f)  # a copy from the pytree: its own plan
    assert g._last[0] is None and float(g(np.float32(1.0))) == 0.375


def test_clear_caches_leaves_a_remembered_plan_compiling_only_once():
    f = jc.Function("x**2 + 0.8125")
    xs = np.ones(6)
    f(xs), f(xs)
    jc.clear_caches()
    f(xs), f(xs[:3]), f(xs)  # the remembered plan, then the table's, then remembered again
    assert f.kernel.compiles == 3  # 6 points before and after clearing, 3 points once


# -- threads: split only where the work pays for the hand-off ----------------------------------
def _plan(function, *args, dtype=None):
    """The plan of ``function(*args, dtype=dtype)`` (``out=``: its dtype), once it ran."""
    key = execute._signature(dtype, args, function.leaves)
    return execute._plans(function.kernel).table[key][2]


def _program_text(function, xs) -> str:
    plan = _plan(function, xs)
    with execute.precision(plan.dtype):
        return plan.program.lower((), xs).compile().as_text()


@CPU_ONLY
def test_cheap_calls_run_on_one_thread_and_heavy_ones_split(backend_compiles):
    xs = np.linspace(0.5, 2, 10_000, dtype=np.float32)
    cheap = jc.derivative("x**3 - 1/x + 0.0625")  # XLA alone split it: 20-80 µs per call
    heavy = jc.derivative("log(cosh(log(cosh(log(cosh(log(cosh(x)) + 1)) + 1)) + 1)) + 0.0625")
    for d in (cheap, heavy):
        before = backend_compiles()
        first = np.asarray(d(xs))
        np.testing.assert_array_equal(np.asarray(d(xs)), first)
        assert backend_compiles() - before == 1 and d.kernel.compiles == 1
    np.testing.assert_allclose(np.asarray(cheap(xs)), 3 * xs**2 + 1 / xs**2, rtol=1e-6)
    assert "outer_dimension_partitions" not in _program_text(cheap, xs)
    assert "outer_dimension_partitions" in _program_text(heavy, xs)


@CPU_ONLY
def test_one_value_per_point_compiles_with_the_elemental_emitter(monkeypatch):
    """Programs of one value per point on few points get ``threads.ONE_FUSION_OPTIONS``
    (~1.5x faster compiles), which this jaxlib accepts; a gradient's programs (a value per
    variable) and those of many points do not."""
    probe = jax.jit(lambda x: x + 1, compiler_options=threads.ONE_FUSION_OPTIONS or None)
    assert float(probe.lower(np.float32(1)).compile()(np.float32(1))) == 2.0
    options, jit = [], jax.jit
    monkeypatch.setattr(jax, "jit", lambda fun, **kw: options.append(kw["compiler_options"])
                        or jit(fun, **kw))
    f = jc.Function("x**2 + 0.03125")
    np.testing.assert_array_equal(np.asarray(f(np.full(10, 2.0))), np.full(10, 4.03125))
    f.kernel.program(F64)  # the split program, made by the call
    g = jc.gradient("x*y + 0.03125")
    np.testing.assert_array_equal(np.asarray(g(np.full(10, 2.0), 3.0))[0], [3.0, 2.0])
    assert len(options) == 4
    fusion = threads.ONE_FUSION_OPTIONS.items()
    assert all(fusion <= (o or {}).items() for o in options[:2])
    assert not any(fusion and fusion <= (o or {}).items() for o in options[2:])
    assert [threads.ONE_THREAD_OPTIONS.items() <= (o or {}).items() for o in options] == [
        False, True, False, True]
    del options[:]  # on ELEMENTAL_POINTS points and more: XLA's fusion emitters, faster code
    many = np.full(threads.ELEMENTAL_POINTS, 2.0)
    np.testing.assert_array_equal(np.asarray(f(many)), np.full(many.shape, 4.03125))
    assert options and not any(fusion and fusion <= (o or {}).items() for o in options)


def test_the_work_estimate_counts_nested_programs_and_the_dtype():
    def f(x):
        return jax.jit(jnp.exp)(x) * x + 1  # a nested program

    estimate = {}
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == F64):
            jaxpr = jax.make_jaxpr(f)(jnp.zeros(1000, dtype)).jaxpr
        estimate[dtype] = threads.microseconds(jaxpr)
    per_point = threads.TRANSCENDENTAL_NS + 2 * threads.ARITHMETIC_NS  # exp; mul, add
    assert estimate["float32"] == pytest.approx(1000 * per_point / 1e3)
    assert estimate["float64"] == pytest.approx(2 * estimate["float32"])
    assert threads.split(jaxpr) is False
    big = jax.make_jaxpr(f)(jnp.zeros(100_000, "float32")).jaxpr
    assert threads.split(big) is True


def _xla_flops(program, *args) -> float:
    return program.lower(*args).compile().cost_analysis().get("flops", 0.0)


@CPU_ONLY
@pytest.mark.parametrize(("dtype", "shape"), [(F64, (10_000,)), ("float32", (1001,)),
                                              (F64, (40, 53))])
def test_inline_programs_compute_what_the_plain_program_does(dtype, shape):
    xs = np.random.default_rng(5).uniform(0.5, 3, shape).astype(dtype)
    cases = [(jc.derivative("x**3 - 1/x + 0.125"), (xs,)),
             (jc.gradient("x*y + y**2/3 + 0.125"), (xs, xs[..., ::-1].copy())),
             (jc.Function("a*x**2 + b*y + 0.125", params={"a": 2.0, "b": -1.0}), (xs, 1.5)),
             (jc.derivative("x**3 - 1/x + 0.125"), (xs,))]  # the table's plan, a second time
    for function, args in cases:
        got = function(*args)
        inline = _plan(function, *args).program
        with execute.precision(np.dtype(dtype)):
            expected = function.kernel.program(dtype)(function.leaves, *args)
            assert _xla_flops(inline, function.leaves, *args) < threads.INLINE_FLOPS
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def _one_function(program, *args) -> bool:
    """Whether XLA:CPU compiled the program's loop into one function (no dispatch per step)."""
    return "xla_cpu_small_call" in program.lower(*args).compile().as_text()


def test_steps_stay_under_xla_bytes_for_one_function():
    assert threads.one_function_rows(16, 128) == 56  # a float64 input and result: 896 bytes
    assert threads.one_function_rows(8, 128) == 112
    assert threads.one_function_rows(32, 160) == 24  # two inputs, two results, params
    assert threads.one_function_rows(100, 128) > 10**9  # under MIN_ROWS: not capped


@CPU_ONLY
def test_inline_loops_compile_into_one_function():
    probe = jax.jit(threads.inline(lambda leaves, x: 2 * x, 8, (), np.dtype("float32")))
    if not _one_function(probe, (), np.ones(64, np.float32)):
        pytest.skip("this XLA compiles no loop into one function")
    xs = np.linspace(0.5, 3, 10_000)
    cases = [(jc.derivative("x**3 - 1/x + 0.0078125"), (xs,)),
             (jc.Function("3*x**2 + 0.0078125"), (xs.astype(np.float32),)),
             (jc.gradient("x*y + y**2/3 + 0.0078125"), (xs, xs[::-1].copy())),
             (jc.Function("a*x**2 + b + 0.0078125", params={"a": 2.0, "b": -1.0}), (xs,))]
    for function, args in cases:
        expected = function(*args)
        plan = _plan(function, *args)
        assert [key[2] for key in execute._plans(function.kernel).programs
                if key[0] == plan.dtype and key[2]], function  # an inline program
        with execute.precision(plan.dtype):
            assert _one_function(plan.program, function.leaves, *args), function
            plain = function.kernel.program(plan.dtype)(function.leaves, *args)
        np.testing.assert_array_equal(np.asarray(expected), np.asarray(plain))


@CPU_ONLY
def test_an_inline_program_is_chosen_only_where_it_applies():
    xs = np.linspace(0.5, 2, 10_000)
    small = jc.derivative("x**3 - 1/x + 0.25")
    small(xs[:8])  # XLA counts fewer flops than its limit: the plain one-thread program
    heavy = jc.derivative("log(cosh(log(cosh(x)) + 1)) + 0.25")
    heavy(xs[:1000])  # a step of a few points: the plain one-thread program
    grid = jc.Function("x*y + 0.25")
    grid(xs[:100, None], xs[None, :50])  # inputs broadcast against each other
    for function in (small, heavy, grid):
        assert execute._plans(function.kernel).programs.keys() == {
            (np.dtype(F64), True, None, None, True), (np.dtype(F64), False, None, None, True)}
    long = jc.derivative("x**3 - 1/x + 0.5")
    long(np.linspace(0.5, 2, 200_000, dtype=np.float32))  # more steps than a hand-off costs
    assert execute._plans(long.kernel).programs.keys() == {  # (and not few points)
        (np.dtype("float32"), True, None, None, False),
        (np.dtype("float32"), False, None, None, False)}


def test_the_flop_estimate_bounds_xla_count_for_every_function():
    formulas = ["polygamma(1, x)", "binomial(x, 3)", "x**7 - x**(-3)", *GRID_FUNCTIONS.values()]
    for entry in jc.functions():
        if entry["name"] not in ("polygamma", "binomial"):
            formulas.append(f"{entry['name']}(x{', 1.5' if 1 not in entry['arity'] else ''})")
    xs = np.linspace(0.5, 0.9, 100)
    with jax.enable_x64(True):
        for formula in formulas:
            derivative = jc.derivative(formula)  # its program evaluates the function as well
            program = derivative.kernel.program(F64)
            estimate = threads.flops(program.trace(derivative.leaves, xs).jaxpr.jaxpr)
            assert estimate >= _xla_flops(program, derivative.leaves, xs), formula


# -- nothing kept behind the caller's back; bounded, clearable caches ---------------------------
def test_dropped_results_free_their_memory():
    f = jc.Function("2*x + 1")
    small = np.ones(1000)
    f(small)  # compile first
    gc.collect()
    live = len(jax.live_arrays())
    results = [f(small) for _ in range(5)]
    assert len(jax.live_arrays()) == live + 5
    del results
    gc.collect()
    assert len(jax.live_arrays()) == live



@CPU_ONLY
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_dropped_large_results_give_their_memory_back():
    f = jc.Function("2*x + 1")
    xs = np.ones(5 << 20)  # 40 MiB results: above glibc's largest mmap threshold, so a freed
    f(xs)  # result is unmapped at once (the process's resident memory shows it)
    gc.collect()
    ys = f(xs)
    ys.block_until_ready()
    alive = weakref.ref(ys)
    held = _resident()
    del ys
    gc.collect()
    assert alive() is None
    for _ in range(100):  # (XLA may free a buffer on its own thread: up to a second)
        if held - _resident() >= 0.9 * xs.nbytes:
            break
        time.sleep(0.01)
    assert held - _resident() >= 0.9 * xs.nbytes  # the result's pages went back


def _resident() -> int:
    """Bytes of this process's memory resident in RAM."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_results_are_independent_buffers():
    xs = np.linspace(0.5, 3, N_LARGE)
    d = jc.derivative("3*x**2 + 1", method="ad")
    first = d(xs)
    view = np.asarray(first)
    snapshot = view.copy()
    del first
    live = [d(xs * k) for k in (2.0, 3.0, 4.0)]
    np.testing.assert_array_equal(view, snapshot)
    assert len({a.unsafe_buffer_pointer() for a in live}) == 3
    for k, got in zip((2.0, 3.0, 4.0), live, strict=True):
        np.testing.assert_array_equal(np.asarray(got), 6 * (xs * k))


def test_clear_caches_empties_every_cache_and_calls_still_work():
    f = jc.Function("x**3 + 0.5")
    f(np.ones(3))
    jc.derivative(f)(np.ones(3))
    assert f.kernel.compiles == 1
    assert any(c.cache_info().currsize for c in caches.lru_caches())
    jc.clear_caches()
    assert all(c.cache_info().currsize == 0 for c in caches.lru_caches())
    assert not execute._plans(f.kernel).table and not execute._SHARED
    assert float(f(1.0)) == 1.5
    assert f.kernel.compiles == 2  # compiled again


def test_plan_tables_are_bounded(monkeypatch):
    monkeypatch.setattr(execute, "MAX_SIGNATURES", 4)
    f = jc.Function("x - 0.125")
    for n in range(1, 12):
        assert f(np.ones(n)).shape == (n,)
        assert len(execute._plans(f.kernel).table) <= 4


# -- out= -------------------------------------------------------------------------------------
@pytest.mark.parametrize("points", [7, N_LARGE])
def test_out_is_filled_and_returned(points):
    xs = np.linspace(0.5, 3, points)
    d = jc.derivative("x**3 - 1/x")
    out = np.empty(points)
    assert d(xs, out=out) is out
    np.testing.assert_allclose(out, 3 * xs**2 + 1 / xs**2, rtol=1e-14)
    assert d(xs, out=out) is out  # reused as often as the caller likes
    out32 = np.empty(points, np.float32)  # out's dtype is the working dtype, as in evaluate
    d(xs, out=out32)
    np.testing.assert_allclose(out32, 3 * xs**2 + 1 / xs**2, rtol=1e-6)
    grad = np.empty((points, 2))
    jc.gradient("x*y")(xs, 2.0, out=grad)
    np.testing.assert_array_equal(grad[:, 0], np.full(points, 2.0))
    for kind in (">f8", ">f4"):  # big-endian: written byte-swapped (the values, not cast)
        swapped = np.empty(points, kind)
        assert d(xs.astype(kind), out=swapped) is swapped and swapped.dtype == kind
        np.testing.assert_array_equal(swapped, np.asarray(d(xs.astype(kind[1:]))))


@pytest.mark.parametrize(("out", "kwargs", "match"), [
    (np.empty(5, np.int32), {}, r"`out` must be a float array .* got int32"),
    (np.empty(5, np.float32), {"dtype": F64}, r"`out` has dtype float32 but `dtype` is float64"),
    (np.empty(4), {}, r"`out` has shape \(4,\) but the result has shape \(5,\)"),
    (jnp.zeros(5), {}, r"`out` must be a writable NumPy array, got ArrayImpl"),
    (np.broadcast_to(np.zeros(1), (5,)), {}, r"`out` must be a writable NumPy array"),
])
def test_bad_out_is_an_input_error(out, kwargs, match):
    with pytest.raises(jc.InputError, match=match):
        jc.Function("1.7*x")(np.ones(5), out=out, **kwargs)


def test_out_inside_a_trace_is_an_input_error():
    f = jc.Function("x + 1")
    with pytest.raises(jc.InputError, match="`out=` needs concrete arrays"):
        jax.jit(lambda x: f(x, out=np.empty(3)))(jnp.ones(3))


@CPU_ONLY
# -- memory checked before allocating, broadcasts included --------------------------------------
@pytest.mark.parametrize("dtype", [None, "float32"])
def test_a_broadcast_result_too_large_raises_before_allocating(monkeypatch, dtype):
    monkeypatch.setattr(memory, "host_available", lambda: 8 * 2**30)
    x, y = np.ones((40000, 1)), np.ones((1, 70000))  # 2.8e9 points: 22.4 GB of float64
    itemsize = 8 if dtype is None else 4
    with pytest.raises(jc.ResourceError, match=r"the result \(2,800,000,000 points of float"
                                               rf".*needs {2.8e9 * itemsize / 2**30:.1f} GiB"):
        jc.Function("x*y")(x, y, dtype=dtype)
    with pytest.raises(jc.ResourceError, match=r"needs 41.7 GiB"):  # (..., 2): twice the bytes
        jc.gradient("x*y")(x, y)
    assert jc.Function("x*y")(x[:4], y[:, :5]).shape == (4, 5)  # what fits still runs


@CPU_ONLY
def test_a_large_result_that_cannot_fit_raises_up_front(monkeypatch):
    monkeypatch.setattr(memory, "host_available", lambda: 1_000_000)
    need = memory.format_bytes(8 * N_LARGE)
    with pytest.raises(jc.ResourceError, match=rf"the result \({N_LARGE:,} points of float64\) "
                                              rf"\(host memory\) needs {need}"):
        jc.Function("2*x")(np.ones(N_LARGE))


# -- byte order, input checks -------------------------------------------------------------------
@pytest.mark.parametrize("points", [5, N_LARGE])
def test_big_endian_arrays_are_converted_at_every_size(points):
    native = np.linspace(0.5, 3, points)
    f = jc.Function("log(x) * y")
    expected = np.asarray(f(native, native))
    for x, y in ((native.astype(">f8"), native.astype(">f8")), (native.astype(">f8"), native)):
        got = f(x, y)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(got), expected)
    assert f(native.astype(">f4"), np.float32(2.0)).dtype == np.float32
    out = np.empty(points)
    f(native.astype(">f8"), 1.0, out=out)
    np.testing.assert_allclose(out, np.log(native), rtol=1e-15)


@pytest.mark.parametrize(("args", "match"), [
    ((np.ones(3), np.ones(4)), r"input shapes do not broadcast: \[\(3,\), \(4,\)\]"),
    ((np.ones(2),), r"`x\*y` takes 2 input\(s\), got 1; pass one array per variable"),
    ((-(10**400), 1.0), r"could not read input as a float64 number"),
    ((np.array([1j]), 1.0), r"complex inputs \(complex128\) are not supported"),
    ((np.array(["1.0"]), 1.0), r"inputs must be arrays of real numbers, got dtype <U3"),
    (([[1.0, 2.0], [3.0]], 1.0), r"could not read input as an array"),
    ((None, 1.0), r"inputs must be numbers or arrays, got NoneType"),
    ((np.ma.masked_array([1.0, 2.0], mask=[0, 1]), 1.0),
     r"masked arrays are not supported: pass x.filled\(np.nan\)"),
])
def test_bad_inputs_are_input_errors(args, match):
    f = jc.Function("x*y")
    with pytest.raises(jc.InputError, match=match):
        f(*args)
    with pytest.raises(jc.InputError, match=match):  # also once the signature is known
        f(*args)


def test_inputs_by_variable_name_equal_inputs_by_position():
    f = jc.Function("x - 2*y")
    xs, ys = np.linspace(0, 1, 5), np.float32(3.0)
    expected = np.asarray(f(xs, ys))
    for by_name in (f(x=xs, y=ys), f(y=ys, x=xs), f(xs, y=ys)):
        np.testing.assert_array_equal(np.asarray(by_name), expected)
    assert f(x=np.float32(1), y=ys, dtype="float32").dtype == np.float32
    out = np.empty(5)
    assert f(y=ys, x=xs, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert float(jax.jit(lambda a, b: f(y=a, x=b))(1.0, 2.0)) == 0.0
    np.testing.assert_array_equal(np.asarray(jc.gradient(f)(y=1.0, x=2.0)), [1.0, -2.0])
    assert float(jc.Function("a*x", params={"a": 2.0}).apply({"a": 3.0}, x=2.0)) == 6.0


@pytest.mark.parametrize(("args", "named", "match"), [
    ((), {"x": 1.0, "z": 2.0}, r"`x - 2\*y` has no variable\(s\) \['z'\]; its variables are "
                               r"\('x', 'y'\)"),
    ((1.0,), {"x": 2.0}, r"`x - 2\*y` got \['x'\] both by position and by name"),
    ((), {"y": 2.0}, r"`x - 2\*y` needs a value for each of its variables \('x', 'y'\); "
                     r"missing \['x'\]"),
    ((1.0, 2.0, 3.0), {"y": 2.0}, r"`x - 2\*y` takes 2 input\(s\) \('x', 'y'\), got 3 by "
                                  r"position"),
])
def test_bad_inputs_by_name_are_input_errors(args, named, match):
    with pytest.raises(jc.InputError, match=match):
        jc.Function("x - 2*y")(*args, **named)


@pytest.mark.parametrize("points", [4, N_LARGE])
def test_params_that_do_not_broadcast_with_the_inputs_are_input_errors(points):
    f = jc.Function("a*x + b", params={"a": np.arange(3.0), "b": 0.0})
    match = (r"param `a` has shape \(3,\), which does not broadcast with the inputs and the "
             rf"other params \(shape \({points},\)\)")
    with pytest.raises(jc.InputError, match=match):
        f(np.ones(points))
    with pytest.raises(jc.InputError, match=match):  # inside a trace too
        jax.jit(f)(np.ones(points))
    stacked = f.with_params({"a": np.ones(3), "b": np.ones(2)})
    with pytest.raises(jc.InputError, match=r"param `b` has shape \(2,\).*\(shape \(3,\)\)"):
        stacked(1.0)
    np.testing.assert_array_equal(np.asarray(f(np.ones((2, 1)))), [[0.0, 1.0, 2.0]] * 2)


# -- the large route ---------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_large_calls_equal_one_jit_call(offset):
    xs = np.linspace(0.5, 3, N_LARGE + 8)[offset : offset + N_LARGE]
    for fn in (jc.derivative("x**3 - 1/x"), jc.Function("sin(x)*exp(-x**2/2)"),
               jc.derivative("log(cosh(x)) + 1", method="symbolic")):
        got = fn(xs)
        assert isinstance(got, jax.Array) and got.dtype == np.float64 and got.shape == xs.shape
        with jax.enable_x64(True):  # the plain program on the whole input at once
            expected = fn.kernel.program(F64)(fn.leaves, xs)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


@CPU_ONLY
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16])
def test_inputs_are_read_where_they_lie_at_every_alignment(dtype):
    """A view from the 64-byte line of the first point, one line longer than the points and
    read from an offset, aliases the input at every address its points may have; points not
    aligned to their size, and views that would reach into a page the input does not touch,
    are copies. The points read are the input's either way."""
    size, n = np.dtype(dtype).itemsize, 1000
    raw = hostcall.aligned_empty((2 * mmap.PAGESIZE + (n + 64) * size,), np.uint8)
    pad = hostcall.LINE // size
    base = -raw.ctypes.data % mmap.PAGESIZE  # from a page's start: no view reaches another page
    for skew in range(0, hostcall.LINE, 2):
        xs = np.frombuffer(raw[base + skew : base + skew + n * size], dtype)
        xs[:] = np.arange(n)
        view, shift = hostcall._piece(xs, 0, n, n, pad)
        assert view.shape == (n + pad,) and view.ctypes.data % hostcall.LINE == 0
        np.testing.assert_array_equal(view[shift : shift + n], xs)
        assert np.shares_memory(view, xs) == (skew % size == 0), skew
        assert shift == (skew // size if skew % size == 0 else 0)
    page = -(-(raw.ctypes.data + (n + 64) * size) // mmap.PAGESIZE) * mmap.PAGESIZE
    for gap, aliased in ((hostcall.LINE, True), (0, False)):  # points ending a line before a
        first = page - raw.ctypes.data - gap - n * size  # page boundary, or at it
        xs = np.frombuffer(raw[first : first + n * size], dtype)
        xs[:] = np.arange(n)
        view, shift = hostcall._piece(xs, 0, n, n, pad)
        assert np.shares_memory(view, xs) == aliased, gap
        np.testing.assert_array_equal(view[shift : shift + n], xs)
    last = hostcall._piece(xs, n - 10, n, 16, pad)  # a short last chunk: padded with its last
    np.testing.assert_array_equal(last[0][:16], [*xs[-10:], *[xs[-1]] * 6])
    assert last[1] == 0


@CPU_ONLY
def test_the_result_is_written_into_a_fresh_unwritten_buffer(monkeypatch):
    """Each call computes into a buffer of ``fresh.uninitialized`` (donated: the result is
    that memory), at every alignment, with extra dims and promoted dtypes too."""
    allocated = []  # (buffer, its address)

    def allocate(*args, original=fresh.uninitialized):
        buffer = original(*args)
        allocated.append((buffer, buffer.unsafe_buffer_pointer()))
        return buffer

    monkeypatch.setattr(fresh, "uninitialized", allocate)
    xs = np.linspace(0.5, 3, N_LARGE + 3)
    for function, args in ((jc.derivative("x**3 - 1/x"), (xs[:N_LARGE],)),
                           (jc.derivative("x**3 - 1/x"), (xs[3:],)),
                           (jc.gradient("x*y"), (xs[:N_LARGE].astype(np.float32), xs[3:]))):
        allocated.clear()
        got = function(*args)
        [(buffer, address)] = allocated
        assert buffer.is_deleted() and got.unsafe_buffer_pointer() == address
        with jax.enable_x64(True):
            expected = function.kernel.program(F64)(function.leaves, *args)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


@CPU_ONLY
def test_out_is_filled_chunk_by_chunk_each_thread_in_one_buffer(monkeypatch):
    monkeypatch.setattr(hostcall, "CHUNK", 1 << 15)  # 16 chunks and a short one
    xs = np.linspace(0.5, 3, N_LARGE)
    d = jc.derivative("x**3 - 1/x")
    out = np.empty(N_LARGE)
    d(xs, out=out)
    plan = _plan(d, xs, dtype=np.dtype(F64))
    assert isinstance(plan, hostcall.Host)
    chunks, written = plan.chunks, []

    def recording(leaves, spent, *pieces):
        written.append((threading.current_thread().name, spent.unsafe_buffer_pointer()))
        return chunks(leaves, spent, *pieces)

    monkeypatch.setattr(plan, "chunks", recording)
    for workers in (hostcall.WORKERS, 1):  # 1: no helper thread, the caller does all the work
        monkeypatch.setattr(hostcall, "WORKERS", workers)
        written.clear()
        out[:] = np.nan
        assert d(xs, out=out) is out
        assert len(written) == -(-N_LARGE // hostcall.CHUNK)  # every chunk once
        threads_used = {name for name, _ in written}
        assert threading.current_thread().name in threads_used and len(threads_used) <= workers
        for name in threads_used:  # each thread computes into one buffer, chunk after chunk
            assert len({address for thread, address in written if thread == name}) == 1
        with jax.enable_x64(True):
            np.testing.assert_array_equal(out, np.asarray(d.kernel.program(F64)((), xs)))


@CPU_ONLY
def test_ctrl_c_in_an_out_fill_stops_every_thread(monkeypatch):
    monkeypatch.setattr(hostcall, "CHUNK", 1 << 12)  # 132 chunks
    monkeypatch.setattr(hostcall, "WORKERS", 2)
    xs = np.linspace(0.5, 3, N_LARGE)
    d = jc.derivative("x**3 - 1/x")
    out = np.empty(N_LARGE)
    d(xs, out=out)
    plan = _plan(d, xs, dtype=np.dtype(F64))
    chunks, calls = plan.chunks, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return chunks(*args)

    monkeypatch.setattr(plan, "chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        d(xs, out=out)
    assert len(calls) < 20  # whichever thread raised, the other stopped after its chunk
    assert not [t.name for t in threading.enumerate() if t.name.startswith("jaxcalc-fill")]
    monkeypatch.setattr(plan, "chunks", chunks)
    d(xs, out=out)  # the next call is unaffected
    np.testing.assert_allclose(out, 3 * xs**2 + 1 / xs**2, rtol=1e-14)


@CPU_ONLY
def test_fresh_buffers_are_unwritten_and_on_huge_pages_where_the_os_offers_them():
    assert fresh._registered()  # the custom call: this jaxlib takes it
    fill = jax.jit(lambda b: jnp.ones_like(b), donate_argnums=0, keep_unused=True)
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    huge = setting.exists() and "[never]" not in setting.read_text()
    with jax.enable_x64(True):
        fill(fresh.uninitialized((8 << 20,), F64)).block_until_ready()  # both compiled
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffer = fresh.uninitialized((8 << 20,), F64)  # 64 MiB
        assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 100  # untouched
        address = buffer.unsafe_buffer_pointer()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        filled = fill(buffer)
        filled.block_until_ready()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert filled.unsafe_buffer_pointer() == address
    assert float(filled[0]) == 1.0
    with jax.debug_nans(True):  # checks every jit output's values: the buffers are zeros
        for _ in range(10):
            spilled = jax.device_put(np.full(1000, np.nan, np.float32))
            del spilled  # memory full of NaN, which the next buffer may be
            np.testing.assert_array_equal(fresh.uninitialized((1000,), np.float32), 0.0)
        np.testing.assert_array_equal(np.asarray(jc.Function("x + 1")(np.zeros(N_LARGE))), 1.0)
    if huge:  # 16 384 pages of 4 KiB, or 32 of 2 MiB (and some small ones at the ends)
        assert faults < 4096


@CPU_ONLY
def test_the_large_route_starts_at_its_size_in_bytes(monkeypatch):
    monkeypatch.setattr(hostcall, "MIN_BYTES", MIN_BYTES)
    f = jc.Function("x**2 + 0.4375")
    points = MIN_BYTES // 8
    for n, dtype, route in ((points - 1, F64, execute._Plain), (points, F64, hostcall.Host),
                            (points, "float32", execute._Plain)):
        xs = np.ones(n, dtype)
        np.testing.assert_array_equal(np.asarray(f(xs)), np.full(n, 1.4375, dtype))
        assert isinstance(_plan(f, xs), route), (n, dtype)
    # XLA's default emitters, not the elemental one of few points; XLA's threads
    assert (np.dtype(F64), True, None, (8,), False) in execute._plans(f.kernel).programs


def test_large_calls_with_several_inputs_dtypes_and_extra_dims():
    x = np.random.default_rng(4).uniform(0.5, 3, (2 * N_LARGE // 64, 64)).astype(np.float32)
    got = jc.Function("x*y + x**2")(x, np.float32(2.0))
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(np.asarray(got), x * 2 + x**2, rtol=1e-6)
    grad = jc.gradient("x*y")(x, x.astype(np.float64))  # float64 promotes
    assert grad.shape == (*x.shape, 2) and grad.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(grad)[..., 0], x.astype(np.float64))
    ints = jc.Function("x + 1")(np.arange(N_LARGE))
    assert ints.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(ints), np.arange(N_LARGE) + 1.0)
    on_device = jc.Function("x + 1")(jax.device_put(np.arange(2 * N_LARGE, dtype=np.float32)))
    np.testing.assert_array_equal(np.asarray(on_device), np.arange(2 * N_LARGE) + 1.0)


def test_a_large_result_outlives_its_input():
    xs = np.linspace(0, 1, N_LARGE)
    got = jc.Function("2*x")(xs)
    del xs
    gc.collect()
    np.testing.assert_array_equal(np.asarray(got)[[0, -1]], [0.0, 2.0])


def test_the_x64_switch_falls_back_to_the_context_manager():
    class Plain:  # a JAX without the thread-local switch: only the context manager
        def __call__(self, value):
            return jax.enable_x64(value)

    switch = execute._Scoped(Plain())
    previous = switch.swap_local(True)
    assert jax.config.jax_enable_x64 is True
    switch.set_local(previous)
    assert jax.config.jax_enable_x64 is False


def test_large_calls_with_params():
    xs = np.linspace(0.5, 3, N_LARGE)
    f = jc.Function("a*x + b", params={"a": 2.0, "b": -1.0})
    np.testing.assert_allclose(np.asarray(f(xs)), 2 * xs - 1, rtol=1e-15)
    wide = f.with_params({"a": np.full((1, 1), 2.0), "b": -1.0})  # broadcasts: a plain call
    assert wide(xs).shape == (1, N_LARGE)
