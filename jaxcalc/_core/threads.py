"""How a call's compiled program uses the CPU's threads: split over XLA's, on one, or inline.

XLA:CPU splits an elementwise loop over its threads wherever its cost model deems the loop
compute-bound (more arithmetic operations than bytes; transcendental functions do not count)
and worth 100 µs of work, an estimate dominated by ``10 × bytes``: so any such loop of a few
thousand points is split, while a loop of transcendental functions is not, however long. Handing
half the points to another thread costs 20-80 µs on the 2-core benchmark machine, several times
the work itself: ``jc.derivative("x**3 - 1/x")`` ran 40-98 µs on 10^4 float32 points against
plain JAX's 8-20 µs (whose loop, without the NaN guard, XLA happened to deem memory-bound).

So each new call signature estimates its program's single-thread time from the traced jaxpr
(the elements every equation computes, weighed by measured costs per element) and below
:data:`SPLIT_MICROSECONDS` runs the program on one thread, compiled with XLA's parallel task
assigner disabled (``xla_disable_hlo_passes``, XLA's own per-program option,
:data:`ONE_THREAD_OPTIONS`). Measured crossovers (f' of the benchmark's f1-f5, float32, min of
interleaved runs): one thread wins below ~70-110 µs of single-thread work and loses above.

A program XLA does not split still runs on XLA's own worker thread, handed over and back
(20-40 µs here, as long as a whole call of 10^4 points), unless XLA's cost analysis counts
fewer than :data:`INLINE_FLOPS` flops: then it runs on the calling thread (XLA's
``cheap_computation_``). :func:`inline` makes such a program out of any elementwise one: a loop
over slices of :func:`inline_rows` points, whose body XLA counts once. The values are the
same, point for point; where XLA counts more than the estimate (:func:`flops` is an upper
bound, tested on every registry function), the program is merely handed over as before.
Where a step also accesses under :data:`SMALL_LOOP_BYTES` (:func:`one_function_rows`: 56
float64 points of one input and one result), XLA compiles the whole loop into one function
instead of dispatching every step (~30 ns more a step): ``jc.derivative("3*x**2 + 1")`` on
2^17 float64 points 54 against 94-140 µs with 96-point steps.
Measured (``bench/bench_calls.py``): ``jc.derivative("x**3 - 1/x")`` on 10^4 float64 points
25 µs against plain JAX's 39 µs. The price
is paid once per signature: the loop compiles in ~30-50 ms more than the plain program.
Programs of one value per point on fewer than :data:`ELEMENTAL_POINTS` points also compile
with :data:`ONE_FUSION_OPTIONS` (XLA's elemental loop emitter: 30-40% shorter compiles).

Example:
    >>> import jax, jax.numpy as jnp
    >>> jaxpr = jax.make_jaxpr(lambda x: jnp.sin(x) * x + 1)(jnp.zeros(10_000, "float32"))
    >>> round(microseconds(jaxpr.jaxpr), 1)  # one sine, one multiply, one add per point
    30.6
    >>> split(jaxpr.jaxpr)
    False
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import jaxlib
from jax import lax
from jax.extend import core as jax_core

_JAXLIB = tuple(int(part) for part in jaxlib.__version__.split(".")[:2])

#: Estimated single-thread time (µs) from which a program's points are split over threads.
SPLIT_MICROSECONDS = 100.0

#: Measured cost (ns per float32 element) of an arithmetic operation and of a transcendental
#: one (exp, log, sin, ..., and jaxcalc's stable functions); float64 costs twice as much.
ARITHMETIC_NS = 0.03
TRANSCENDENTAL_NS = 3.0

#: Compiler options of a program that runs on one thread.
ONE_THREAD_OPTIONS = {"xla_disable_hlo_passes": "cpu-parallel-task-assigner"}
#: Compiler options of a CPU program with one value per point, which XLA compiles into one
#: loop fusion: its elemental loop emitter instead of its MLIR fusion emitters, which compile
#: such a loop 30-40% slower (the programs of f1, f3 and f5 for 10 float64 points: 18 against
#: 30 ms, 37 against 55, 111 against 160) into code as fast (bit for bit the same values; f4's
#: derivative, a 40-term polynomial, runs 10-20% slower). Not for several values per point
#: (gradients): XLA splits those into a fusion per value, each compiled on its own, and the
#: elemental emitter takes longer (a 9-variable gradient: 205 against 125 ms). jaxlib 0.8-0.10
#: have the option; later ones retire that emitter, and get no options.
ONE_FUSION_OPTIONS = {"xla_cpu_use_fusion_emitters": False} if _JAXLIB < (0, 11) else {}
#: Points from which a program of one value per point compiles without
#: :data:`ONE_FUSION_OPTIONS`: the elemental emitter's code ran up to 3.5x slower where
#: transcendental functions sit behind selects (at 10^6 float64 points ``x**3/(exp(x) - 1)``'s
#: derivative 32 against 10 ms, ``sinh(x)/x``'s 29 against 8, ``x/tanh(x)``'s 41 against 12,
#: ``tanh(x)``'s 7 against 5; 1.2-1.4x faster on ``log(cosh(x))``), so its shorter compile
#: serves only calls on fewer points, where compiling is most of a first call.
ELEMENTAL_POINTS = 1 << 16

#: XLA:CPU runs a program on the calling thread when its cost analysis counts fewer flops.
INLINE_FLOPS = 1000
#: Flops per element counted for an elementary function XLA expands into arithmetic and its
#: transcendental operations (``sinh``, ``atan``, ...: XLA counts up to 11).
ELEMENTARY_FLOPS = 16
#: Flops per element counted for an operation XLA may expand into many (special functions:
#: ``polygamma`` counts 71); plain arithmetic and XLA's own transcendental functions count
#: one (XLA counts them as at most one), jaxcalc's stable functions what they lower to.
EXPANDED_FLOPS = 128
#: Fewest points per loop step worth an inline program (each step costs ~0.05-0.1 µs).
MIN_ROWS = 16
#: XLA:CPU compiles a while loop into one function, its steps then costing nanoseconds instead
#: of a dispatch each, where one step accesses fewer bytes than this (its backend option
#: ``xla_cpu_small_while_loop_byte_threshold``, at its default; it cannot be set per program).
SMALL_LOOP_BYTES = 1024
#: Bytes a loop step accesses besides its points and params: counter, offsets, condition
#: (measured: 64-128 with 64-bit indices).
LOOP_SCALAR_BYTES = 128
#: Most loop steps of an inline call: beyond them the steps cost more than the hand-off saves
#: (measured: 625 steps won, 2083 lost).
MAX_STEPS = 1024

_XLA_TRANSCENDENTAL = frozenset({  # XLA's own operations, counted as transcendental
    "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "pow", "atan2", "cbrt", "erf",
})
_XLA_EXPANDED = frozenset({  # expanded into arithmetic and the above: ELEMENTARY_FLOPS
    "exp2", "sinh", "cosh", "asinh", "acosh", "atanh", "asin", "acos", "atan", "logistic",
})
_FREE = frozenset({
    "reshape", "broadcast_in_dim", "convert_element_type", "squeeze", "expand_dims", "copy",
    "copy_p", "stop_gradient", "slice", "concatenate", "stack", "transpose", "iota",
})
_ARITHMETIC = frozenset({
    "add", "add_any", "sub", "mul", "div", "neg", "integer_pow", "square", "abs", "sign",
    "max", "min", "clamp", "select_n", "is_finite", "eq", "ne", "lt", "le", "gt", "ge", "and",
    "or", "not", "floor", "ceil", "round", "rem", "sqrt", "rsqrt", "copysign", "nextafter",
    "scatter", "scatter-add", "scatter_add",
})


def microseconds(jaxpr: jax_core.Jaxpr) -> float:
    """Estimated single-thread time of ``jaxpr``'s elementwise work, in µs."""
    return sum((ARITHMETIC_NS if eqn.primitive.name in _ARITHMETIC else TRANSCENDENTAL_NS)
               * math.prod(aval.shape) * aval.dtype.itemsize / 4e3
               for eqn, aval in _operations(jaxpr))


def flops(jaxpr: jax_core.Jaxpr) -> float:
    """An upper estimate of the flops XLA's cost analysis counts for ``jaxpr``."""
    return sum(_flops(eqn) * math.prod(aval.shape) for eqn, aval in _operations(jaxpr))


def _flops(eqn) -> float:
    """Flops per output element of one operation."""
    name = eqn.primitive.name
    if name == "integer_pow":  # multiplies by squaring; a reciprocal for negative powers
        y = abs(eqn.params["y"])
        return max(y.bit_length() + y.bit_count() - 2, 0) + (eqn.params["y"] < 0)
    if name in _ARITHMETIC or name in _XLA_TRANSCENDENTAL:
        return 1
    if name in _XLA_EXPANDED:
        return ELEMENTARY_FLOPS
    if name.startswith("jaxcalc_"):  # ``_core.stable``'s primitives: what they lower to
        return _primitive_flops(eqn.primitive, tuple(v.aval.dtype for v in eqn.invars))
    return EXPANDED_FLOPS


@functools.lru_cache(maxsize=256)
def _primitive_flops(primitive, dtypes: tuple) -> float:
    scalars = [jax.ShapeDtypeStruct((), dtype) for dtype in dtypes]
    return flops(jax.make_jaxpr(primitive.impl)(*scalars).jaxpr)


def inline_rows(jaxpr: jax_core.Jaxpr, points: int) -> int:
    """Points per loop step of an :func:`inline` program for ``jaxpr`` (elementwise over
    ``points``), or 0 where XLA runs the program inline already or a step would be too small
    (a multiple of 8, for the vector units)."""
    if points <= MIN_ROWS:  # no step of MIN_ROWS points fits: no need to count (a first call
        return 0  # on a few points would trace every stable function's value once more)
    total = flops(jaxpr)
    if total < INLINE_FLOPS:
        return 0
    rows = int(0.8 * INLINE_FLOPS * points / total) // 8 * 8
    return rows if MIN_ROWS <= rows < points else 0


def inline_spec(traced, batch: tuple[int, ...], xs) -> tuple | None:
    """``inline=`` of ``_core.execute``'s programs for ``traced`` (a traced elementwise
    program, the points of shape ``batch``, inputs ``xs``): ``(rows, tail, dtype)`` of
    :func:`inline`, or None where the plain one-thread program serves (also where it would take
    more than :data:`MAX_STEPS` steps of :func:`inline_rows` points). The rows are capped by
    :func:`one_function_rows`."""
    result, points = traced.out_info, math.prod(batch)
    rows = inline_rows(traced.jaxpr.jaxpr, points)
    if (not rows or points > rows * MAX_STEPS
            or tuple(result.shape[:len(batch)]) != tuple(batch)
            or any(math.prod(jnp.shape(x)) not in (1, points) for x in xs)):
        return None
    tail = tuple(result.shape[len(batch):])
    point_bytes = math.prod(tail) * result.dtype.itemsize
    step_bytes = LOOP_SCALAR_BYTES
    for aval in traced.jaxpr.in_avals:  # the inputs, and the params (leaves)
        size = math.prod(aval.shape)
        if size == points:
            point_bytes += aval.dtype.itemsize
        else:
            step_bytes += size * aval.dtype.itemsize
    return min(rows, one_function_rows(point_bytes, step_bytes)), tail, result.dtype


def one_function_rows(point_bytes: int, step_bytes: int) -> int:
    """The most points per step (a multiple of 8) with which one step of an :func:`inline` loop
    accesses fewer than :data:`SMALL_LOOP_BYTES` (``point_bytes`` a point, ``step_bytes`` more
    a step), so that XLA:CPU compiles the whole loop into one function; unbounded (a large
    number) where that leaves fewer than :data:`MIN_ROWS` points."""
    rows = (SMALL_LOOP_BYTES - step_bytes) // point_bytes // 8 * 8
    return rows if rows >= MIN_ROWS else 1 << 62


def inline(body, rows: int, tail: tuple[int, ...], dtype):
    """``body(leaves, *xs)`` (elementwise over its broadcast inputs, each the full size or a
    single value; a ``dtype`` result of shape ``(*points, *tail)``) as a loop over ``rows``
    points at a time, the last slice overlapping its neighbour: a program XLA:CPU runs inline.
    """

    def looped(leaves, *xs):
        shape = jnp.broadcast_shapes(*(jnp.shape(x) for x in xs))
        points = math.prod(shape)
        flat = [jnp.reshape(x, -1 if jnp.size(x) == points else ()) for x in xs]

        def step(i, acc):
            start = jnp.minimum(i * rows, points - rows)
            piece = body(leaves, *(lax.dynamic_slice_in_dim(x, start, rows) if x.ndim else x
                                   for x in flat))
            return lax.dynamic_update_slice_in_dim(acc, piece, start, 0)

        acc = jnp.empty((points, *tail), dtype)
        return lax.fori_loop(0, -(-points // rows), step, acc).reshape(*shape, *tail)

    return looped


def _operations(jaxpr: jax_core.Jaxpr):
    """``(equation, output aval)`` of every operation of ``jaxpr`` that does work, nested
    programs included."""
    for eqn in jaxpr.eqns:
        inner = _subjaxprs(eqn.params)
        if inner:
            for nested in inner:
                yield from _operations(nested)
        elif eqn.primitive.name not in _FREE:
            for var in eqn.outvars:
                yield eqn, var.aval


def split(jaxpr: jax_core.Jaxpr) -> bool:
    """Whether the program of ``jaxpr`` is worth splitting over threads."""
    return microseconds(jaxpr) >= SPLIT_MICROSECONDS


def _subjaxprs(params: dict) -> list[jax_core.Jaxpr]:
    """The jaxprs nested in an equation's params (jit, custom rules, control flow)."""
    found = []
    for value in params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jax_core.ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, jax_core.Jaxpr):
                found.append(item)
    return found
