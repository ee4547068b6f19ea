"""Whether a call's compiled program may split its points over CPU threads.

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
assigner disabled (``xla_disable_hlo_passes``, XLA's own per-program option), which
:func:`one_thread` gives. Measured crossovers (f' of the benchmark's f1-f5, float32, min of
interleaved runs): one thread wins below ~70-110 µs of single-thread work and loses above.

Example:
    >>> import jax, jax.numpy as jnp
    >>> jaxpr = jax.make_jaxpr(lambda x: jnp.sin(x) * x + 1)(jnp.zeros(10_000, "float32"))
    >>> round(microseconds(jaxpr.jaxpr), 1)  # one sine, one multiply, one add per point
    30.6
    >>> split(jaxpr.jaxpr)
    False
"""

from __future__ import annotations

import math

from jax.extend import core as jax_core

#: Estimated single-thread time (µs) from which a program's points are split over threads.
SPLIT_MICROSECONDS = 100.0

#: Measured cost (ns per float32 element) of an arithmetic operation and of a transcendental
#: one (exp, log, sin, ..., and jaxcalc's stable functions); float64 costs twice as much.
ARITHMETIC_NS = 0.03
TRANSCENDENTAL_NS = 3.0

#: Compiler options of a program that runs on one thread.
ONE_THREAD_OPTIONS = {"xla_disable_hlo_passes": "cpu-parallel-task-assigner"}

_FREE = frozenset({
    "reshape", "broadcast_in_dim", "convert_element_type", "squeeze", "expand_dims", "copy",
    "copy_p", "stop_gradient", "slice", "concatenate", "transpose", "iota",
})
_ARITHMETIC = frozenset({
    "add", "add_any", "sub", "mul", "div", "neg", "integer_pow", "square", "abs", "sign",
    "max", "min", "clamp", "select_n", "is_finite", "eq", "ne", "lt", "le", "gt", "ge", "and",
    "or", "not", "floor", "ceil", "round", "rem", "sqrt", "rsqrt", "copysign", "nextafter",
})


def microseconds(jaxpr: jax_core.Jaxpr) -> float:
    """Estimated single-thread time of ``jaxpr``'s elementwise work, in µs."""
    total = 0.0
    for eqn in jaxpr.eqns:
        inner = _subjaxprs(eqn.params)
        if inner:
            total += sum(microseconds(j) for j in inner)
            continue
        name = eqn.primitive.name
        if name in _FREE:
            continue
        per = ARITHMETIC_NS if name in _ARITHMETIC else TRANSCENDENTAL_NS
        for var in eqn.outvars:
            aval = var.aval
            total += per * math.prod(aval.shape) * aval.dtype.itemsize / 4e3
    return total


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
