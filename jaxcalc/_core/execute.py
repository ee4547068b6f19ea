"""How a compiled kernel meets user arrays: dtype, precision, one plan per call signature.

Every jaxcalc callable is a :class:`Kernel` (the static, hashable part: what to compute) and its
param leaves. :func:`call` is the one path from user inputs to results:

* **Numbers in, numbers out.** The working dtype is ``dtype=`` when given, else the promoted
  float dtype of the array inputs (NumPy or JAX arrays keep theirs), else float64: Python
  numbers, lists and integer arrays are float64 (NumPy's rule), as in the CLI. float64 is
  computed inside JAX's scoped x64 context, never by flipping the global flag; a float64
  request the backend cannot honour is an error.
* **Work once per signature, not per call.** The first call with a new signature (``dtype=``
  and each input's and param's type, dtype and shape) does every check: arity, dtype, that the
  inputs broadcast, that the result fits in memory (before anything is allocated); it picks the
  route (on the CPU, whether the program splits its points over XLA's threads, runs on one,
  or runs inline on the calling thread: ``_core.threads``)
  and keeps the plan in a bounded table shared by equal kernels. A later call with that
  signature builds the key and runs the plan: one call of the kernel's jitted program (JAX's
  own dispatch; one trace and one compile per shape and dtype), for large CPU host inputs
  through :mod:`hostcall` (the same, reading the inputs where they lie and writing into huge
  pages). A callable remembers its previous one-array call: the same class, dtype and shape
  again skip even the key.
* **Inside a JAX trace** (``jax.jit``/``grad``/``vmap`` of user code, traced inputs or
  params) the kernel is simply traced, under JAX's precision rule: Python numbers are float64
  only inside ``with jax.enable_x64(True):``, and an explicit ``dtype="float64"`` outside it is
  an error. Concrete inputs are computed as they are outside any trace.
* **out=** (opt-in buffer reuse): the result is written into a NumPy array the caller owns,
  which is returned. Nothing else keeps a result: arrays belong to the caller alone.

Example:
    >>> import numpy as np
    >>> from jaxcalc._core.function import Function
    >>> f = Function("3*x**2 + 1")
    >>> f(2.0).dtype, f(np.float32(2.0)).dtype  # a Python number is float64, NumPy's rule
    (dtype('float64'), dtype('float32'))
    >>> buffer = np.empty(3)
    >>> f(np.arange(3.0), out=buffer) is buffer
    True
"""

from __future__ import annotations

import collections
import contextlib
import functools
import numbers
import weakref
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import caches, hostcall, memory, threads
from .errors import InputError

_FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")
_FLOAT64 = np.dtype("float64")

#: Most call signatures (shapes, dtypes) planned per kernel; beyond it its plans and programs
#: start over.
MAX_SIGNATURES = 256
#: Most distinct kernels whose plans are shared by equal kernels (least recently built go).
MAX_KERNELS = 1024


class Kernel:
    """The static part of an elementwise jaxcalc callable; subclasses are hashable.

    Subclasses define ``n_inputs`` and ``raw(leaves, *xs)``, a pure JAX function of the
    param leaves and ``n_inputs`` same-dtype arrays, elementwise over the broadcast inputs.
    """

    n_inputs: int

    def raw(self, leaves: Sequence[jax.Array], *xs: jax.Array) -> jax.Array:
        raise NotImplementedError

    def program(self, dtype) -> Callable:
        """``program(leaves, *xs)``: ``raw`` on inputs and leaves cast to the float ``dtype``
        inside the trace, under :func:`jax.jit` (one compile per input shape and dtype, whether
        NumPy or JAX arrays hold them); shared by equal kernels."""
        return _plans(self).program(np.dtype(dtype))

    @property
    def compiles(self) -> int:
        """How many times calls of this kernel (or of an equal one) traced a new signature,
        each then compiled once (the plain program, or the inline loop made from the same
        body): the count to watch for recompiles."""
        return _plans(self).traces


class _Plans:
    """What equal kernels share: per working dtype one traced function, jitted as the programs
    of ``_core.threads`` (points split over XLA's threads, on one thread, or inline loops), and
    the table call signature -> ``(run, x64, plan)``."""

    __slots__ = ("kernel", "bodies", "programs", "table", "traces", "__weakref__")

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.bodies: dict[np.dtype, Callable] = {}
        self.programs: dict[tuple, Callable] = {}
        self.table: dict[tuple, tuple] = {}
        self.traces = 0

    def program(self, dtype: np.dtype, split: bool = True, inline: tuple | None = None,
                reading: tuple[int, ...] | None = None, few: bool = True) -> Callable:
        """The jitted program for ``dtype``; ``split=False``: compiled to run on one thread;
        ``inline=(rows, tail, result dtype)``: the loop of ``threads.inline``, on one thread;
        ``reading=pads``: ``program(leaves, spent, *pieces)`` of ``hostcall.reading``, which
        writes its result into the memory of ``spent`` (donated: deleted by the call). All wrap
        one traced function, so JAX traces each shape once for them. On the CPU a kernel of one
        value per point compiles with ``threads.ONE_FUSION_OPTIONS`` for ``few`` points (fewer
        than ``threads.ELEMENTAL_POINTS``)."""
        key = (dtype, split, inline, reading, few)
        jitted = self.programs.get(key)
        if jitted is None:
            if inline is not None:  # retraces the body of a signature traced by its plan
                body = threads.inline(functools.partial(self._raw, dtype=dtype), *inline)
            else:
                body = self.bodies.get(dtype)
                if body is None:
                    body = self.bodies[dtype] = functools.partial(self._trace, dtype=dtype)
            options = {} if split else dict(threads.ONE_THREAD_OPTIONS)
            if (few and jax.default_backend() == "cpu"
                    and getattr(self.kernel, "shape", None) == ()):
                options.update(threads.ONE_FUSION_OPTIONS)
            if reading is not None:
                body = hostcall.reading(body, reading)
            jitted = self.programs[key] = jax.jit(
                body, compiler_options=options or None,
                donate_argnums=(1,) if reading is not None else (),
                keep_unused=reading is not None)  # (kept: XLA writes the result where `spent` was)
        return jitted

    def shape(self, dtype: np.dtype, leaves, xs) -> jax.ShapeDtypeStruct:
        """The result's shape and dtype for these inputs (traced abstractly: not counted)."""
        return jax.eval_shape(functools.partial(self._raw, dtype=dtype), leaves, *xs)

    def _trace(self, leaves, *xs, dtype):
        self.traces += 1
        return self._raw(leaves, *xs, dtype=dtype)

    def _raw(self, leaves, *xs, dtype):
        return self.kernel.raw([jnp.asarray(p, dtype) for p in leaves],
                               *(jnp.asarray(x, dtype) for x in xs))

    def clear(self) -> None:
        """Forget every plan and compiled program (the jitted objects stay, emptied, so that
        callables still holding one compile no more than a fresh one would)."""
        self.table.clear()
        for jitted in self.programs.values():
            jitted.clear_cache()


_SHARED: collections.OrderedDict[Kernel, _Plans] = collections.OrderedDict()
_ALL_PLANS: weakref.WeakSet[_Plans] = weakref.WeakSet()


@caches.on_clear
def _clear_plans() -> None:
    for plans in list(_ALL_PLANS):
        plans.clear()
    _SHARED.clear()


def _plans(kernel: Kernel) -> _Plans:
    """``kernel``'s plans, cached on the instance (one attribute lookup per call)."""
    try:
        return kernel._jaxcalc_plans
    except AttributeError:
        pass
    plans = _SHARED.pop(kernel, None) or _Plans(kernel)
    _SHARED[kernel] = plans
    _ALL_PLANS.add(plans)
    while len(_SHARED) > MAX_KERNELS:
        _SHARED.popitem(last=False)
    with contextlib.suppress(AttributeError):  # kernels are frozen dataclasses: no setattr
        object.__setattr__(kernel, "_jaxcalc_plans", plans)
    return plans


def _signature(dtype, xs: Sequence[object], leaves: Sequence[object]) -> tuple:
    """The plan key: ``dtype=``, then per input and leaf its class, dtype and shape (a Python
    float: its class); AttributeError for inputs that need reading first (lists, ints, ...)."""
    key = [dtype]
    for v in (*xs, *leaves):
        if v.__class__ is float:
            key.append(float)
        else:
            key += (v.__class__, v.dtype, v.shape)
    return tuple(key)


_NO_CALL = (None, None, None, None, False)


class Elementwise:
    """Base of the callables that compute a kernel with param leaves elementwise (subclasses
    set ``_kernel``, ``_leaves`` and ``_label``, the name errors use). Calling one is
    :func:`call`, with the inputs by position, by variable name (``f(x=1.0, y=xs)``) or both;
    a call with one array like the previous call's (class, dtype, shape) and no keywords
    reruns that call's plan after three comparisons, then JAX's own dispatch."""

    _last = _NO_CALL  # (class, dtype, shape, run(x), x64) of the previous one-array call

    def __call__(self, *xs, dtype=None, out=None, **named) -> jax.Array:
        if named:
            xs = by_name(self._kernel.variables, xs, named, self._label)
        elif len(xs) == 1 and dtype is None and out is None:
            x = xs[0]
            cls, kind, shape, run, x64 = self._last
            if x.__class__ is cls and x.dtype is kind and x.shape == shape:
                if not x64:
                    return run(x)
                previous = _X64.swap_local(True)  # `with jax.enable_x64(True):`, inlined
                try:
                    return run(x)
                finally:
                    _X64.set_local(previous)
        return call(self._kernel, self._leaves, xs, dtype, self._label, out, owner=self)


def by_name(variables: Sequence[str], xs: Sequence[object], named: dict,
            name: str = "this function") -> tuple:
    """The inputs in the order of ``variables``: ``xs`` by position, then ``named`` by name;
    InputError for a name that is not a variable, given twice, or missing."""
    if len(xs) > len(variables):
        raise InputError(f"{name} takes {len(variables)} input(s) {variables}, got "
                         f"{len(xs)} by position")
    given = dict(zip(variables, xs, strict=False))  # the first len(xs) variables
    unknown = [k for k in named if k not in variables]
    twice = [k for k in named if k in given]
    if unknown or twice:
        raise InputError(
            f"{name} has no variable(s) {unknown}; its variables are {variables}" if unknown
            else f"{name} got {twice} both by position and by name")
    given.update(named)
    missing = [v for v in variables if v not in given]
    if missing:
        raise InputError(f"{name} needs a value for each of its variables {variables}; "
                         f"missing {missing}")
    return tuple(given[v] for v in variables)


def call(kernel: Kernel, leaves: Sequence[object], xs: Sequence[object], dtype=None,
         name: str = "this function", out: np.ndarray | None = None,
         owner: Elementwise | None = None):
    """Evaluate ``kernel`` on ``xs`` elementwise (see the module docstring): a ``jax.Array``
    of the working dtype, or ``out`` filled with the result. A known signature costs one dict
    lookup; ``owner`` (the callable) then remembers a one-array call's plan for its next call."""
    if out is not None:
        return _first_call(kernel, leaves, xs, dtype, name, out)
    try:
        run, x64, _ = kernel._jaxcalc_plans.table[_signature(dtype, xs, leaves)]
    except (AttributeError, KeyError, TypeError):  # TypeError: an unhashable `dtype`
        return _first_call(kernel, leaves, xs, dtype, name, out)
    if owner is not None and dtype is None and len(xs) == 1 and xs[0].__class__ is not float:
        x = xs[0]
        owner._last = x.__class__, x.dtype, x.shape, functools.partial(run, leaves), x64
    if not x64:
        return run(leaves, *xs)
    previous = _X64.swap_local(True)  # `with jax.enable_x64(True):` minus building it
    try:
        return run(leaves, *xs)
    finally:
        _X64.set_local(previous)


class _Scoped:
    """The x64 switch of :func:`call`: ``swap_local(True)`` turns x64 on for this thread and
    returns what ``set_local`` restores. These are ``jax.enable_x64``'s own thread-local
    methods, the body of its context manager (building one per call cost ~0.5 µs, a tenth of a
    whole small call); where a JAX version lacks them, the context manager itself."""

    def __init__(self, state):
        self.state = state
        fast = (callable(getattr(state, "swap_local", None))
                and callable(getattr(state, "set_local", None))
                and getattr(state, "_update_thread_local_hook", None) is None)
        self.swap_local = state.swap_local if fast else self._enter
        self.set_local = state.set_local if fast else self._exit

    def _enter(self, value: bool):
        scope = self.state(value)
        scope.__enter__()
        return scope

    @staticmethod
    def _exit(scope) -> None:
        scope.__exit__(None, None, None)


_X64 = _Scoped(jax.enable_x64)


def _first_call(kernel, leaves, xs, dtype, name: str, out):
    """:func:`call` for a new signature, inputs that need reading, ``out=`` or a trace."""
    if len(xs) != kernel.n_inputs:
        raise InputError(
            f"{name} takes {kernel.n_inputs} input(s), got {len(xs)}; pass one array per variable"
        )
    if is_traced((*xs, *leaves)):
        if out is not None:
            raise InputError("`out=` needs concrete arrays; drop it inside jax.jit/grad/vmap")
        return _traced(kernel, leaves, xs, dtype)
    xs = tuple(read_input(x) for x in xs)
    leaves = tuple(read_input(p) for p in leaves)
    if out is not None:
        dtype = _out_dtype(out, dtype)
    plans = _plans(kernel)
    key = _signature(dtype, xs, leaves)
    entry = plans.table.get(key)
    if entry is None:
        if len(plans.table) >= MAX_SIGNATURES:  # start over: plans and compiled programs
            plans.clear()
        entry = plans.table[key] = _plan(plans, leaves, xs, dtype).entry()
    run, x64, plan = entry
    if out is None:
        with hostcall.x64_scope(x64):
            return run(leaves, *xs)
    if out.shape != plan.shape:
        raise InputError(f"`out` has shape {out.shape} but the result has shape {plan.shape}")
    plan.fill(out, leaves, xs)
    return out


def _out_dtype(out: object, dtype) -> np.dtype:
    if not isinstance(out, np.ndarray) or not out.flags.writeable:
        raise InputError(f"`out` must be a writable NumPy array, got {type(out).__name__}")
    if out.dtype.name not in _FLOAT_NAMES:
        raise InputError(f"`out` must be a float array (the result's dtype), got {out.dtype}; "
                         "pass e.g. np.empty(shape, 'float64')")
    native = out.dtype.newbyteorder("=")  # written byte-swapped where it is not native
    if dtype is not None and resolve_dtype((), dtype) != native:
        raise InputError(f"`out` has dtype {out.dtype} but `dtype` is {np.dtype(dtype).name}; "
                         "pass an `out` of the working dtype (nothing is cast silently)")
    return native


class _Plain:
    """The plain route: one call of the jitted program (in the x64 scope for float64)."""

    def __init__(self, program, dtype: np.dtype, shape: tuple[int, ...]):
        self.program, self.dtype, self.shape = program, np.dtype(dtype), shape

    def entry(self) -> tuple:
        """``(run, x64, self)`` for :func:`call`'s table: ``run(leaves, *xs)`` in the scope."""
        return self.program, self.dtype == _FLOAT64, self

    def fill(self, out: np.ndarray, leaves, xs) -> None:
        with hostcall.x64_scope(self.dtype == _FLOAT64):
            np.copyto(out, np.asarray(self.program(leaves, *xs)))


def _plan(plans: _Plans, leaves, xs, dtype):
    """Check a new signature once and pick its route (compiling is left to the first run)."""
    working = resolve_dtype(xs, dtype)
    batch = _batch(plans.kernel, leaves, xs)
    points = int(np.prod(batch, dtype=np.int64))
    programs = functools.partial(plans.program, working, few=points < threads.ELEMENTAL_POINTS)
    program = programs()
    with precision(working):
        route = hostcall.route(plans, batch, working, leaves, xs)
        if route is None:
            traced = program.trace(leaves, *xs)  # the trace the first run compiles
            result = traced.out_info
            if jax.default_backend() == "cpu" and not threads.split(traced.jaxpr.jaxpr):
                program = programs(split=False, inline=threads.inline_spec(traced, batch, xs))
        else:
            result = route.result
    memory.require_result(
        int(np.prod(result.shape, dtype=np.int64)) * result.dtype.itemsize,
        f"the result ({points:,} points of {working.name})",
        "use jc.evaluate(f, xs, reduce=...) or out='file.npy' to stream it")
    return route or _Plain(program, result.dtype, result.shape)


def param_names(kernel: Kernel, leaves: Sequence[object]) -> Sequence[str]:
    """The names of ``kernel``'s param ``leaves``, for messages (``#0``, ``#1``... where the
    kernel has none)."""
    return getattr(kernel, "param_names", None) or [f"#{k}" for k in range(len(leaves))]


def _batch(kernel: Kernel, leaves, xs) -> tuple[int, ...]:
    """The broadcast shape of the inputs ``xs``, or InputError where they, or a param leaf
    with them, do not broadcast."""
    shapes = [np.shape(x) for x in xs]
    try:
        batch = whole = np.broadcast_shapes(*shapes)
    except ValueError:
        raise InputError(f"input shapes do not broadcast: {shapes}") from None
    for name, leaf in zip(param_names(kernel, leaves), leaves, strict=True):
        try:
            whole = np.broadcast_shapes(whole, np.shape(leaf))
        except ValueError:
            raise InputError(f"param `{name}` has shape {np.shape(leaf)}, which does not "
                             f"broadcast with the inputs and the other params (shape {whole})"
                             ) from None
    return batch


def read_input(x: object):
    """An input as JAX dispatch takes it, or InputError: Python ints become floats, lists
    arrays, big-endian arrays native ones (values unchanged)."""
    kind = x.__class__
    if kind is float or isinstance(x, jax.Array):
        return x
    if kind is int or kind is bool:
        try:
            return float(x)
        except OverflowError as e:
            raise InputError(f"could not read input as a float64 number: {e}") from None
    if not isinstance(x, (np.ndarray, np.generic)):
        if isinstance(x, (str, bytes)) or not (isinstance(x, (list, tuple, numbers.Number))
                                               or hasattr(x, "__array__")):
            raise InputError(f"inputs must be numbers or arrays, got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except (TypeError, ValueError, OverflowError) as e:
            raise InputError(f"could not read input as an array: {e}") from None
    if x.dtype.kind == "c":
        raise InputError(f"complex inputs ({x.dtype}) are not supported; pass real arrays")
    if isinstance(x, np.ma.MaskedArray):
        raise InputError("masked arrays are not supported: pass x.filled(np.nan) (masked "
                         "points become NaN) or x.compressed() (they are dropped)")
    if x.dtype.kind not in "iub" and x.dtype.name not in _FLOAT_NAMES:
        raise InputError(f"inputs must be arrays of real numbers, got dtype {x.dtype}")
    if not x.dtype.isnative:  # big-endian data: converted, whatever the size
        x = x.astype(x.dtype.newbyteorder("="))
    return x


def resolve_dtype(xs: Sequence[object], dtype=None) -> np.dtype:
    """The working float dtype for inputs ``xs`` (see the module docstring); with no inputs at
    all, JAX's default float."""
    if dtype is not None:
        try:
            resolved = jnp.dtype(dtype)
        except TypeError as e:
            raise InputError(
                f"`dtype` must be a float dtype such as 'float32', got {dtype!r}"
            ) from e
        if resolved.name not in _FLOAT_NAMES:
            raise InputError(
                f"`dtype` must be one of {', '.join(_FLOAT_NAMES)}, got {resolved.name}"
            )
        return resolved
    if not xs:
        return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))
    floats = []
    for x in xs:
        kind = getattr(x, "dtype", None)
        if kind is None:
            if isinstance(x, complex):
                raise InputError("complex inputs are not supported; pass real numbers")
            continue
        kind = jnp.dtype(kind)
        if jnp.issubdtype(kind, jnp.complexfloating):
            raise InputError(f"complex inputs ({kind.name}) are not supported; pass real arrays")
        if jnp.issubdtype(kind, jnp.floating):
            floats.append(kind)
        elif not (jnp.issubdtype(kind, jnp.integer) or jnp.issubdtype(kind, jnp.bool_)):
            raise InputError(f"inputs must be real numbers or arrays, got dtype {kind}")
    if floats:
        return jnp.dtype(functools.reduce(jnp.promote_types, floats))
    return _FLOAT64


@contextlib.contextmanager
def precision(dtype: np.dtype):
    """Scope in which ``dtype`` is available to JAX (x64 for float64, nothing otherwise)."""
    if jnp.dtype(dtype) != jnp.float64 or jax.config.jax_enable_x64:
        yield
        return
    with jax.enable_x64(True):
        if jax.default_backend() == "tpu":  # no float64 arithmetic there: refuse, never downcast
            raise InputError("float64 was requested but the TPU backend cannot compute in float64")
        yield


def is_traced(values: Sequence[object]) -> bool:
    """Whether any value is a JAX tracer (we are inside user ``jit``/``grad``/``vmap``)."""
    return any(isinstance(v, jax.core.Tracer) for v in values)


def _traced(kernel: Kernel, leaves, xs, dtype) -> jax.Array:
    """The kernel inside a user's trace, under JAX's precision rule (module docstring)."""
    arrays = [x if isinstance(x, jax.core.Tracer) else read_input(x) for x in xs]
    _batch(kernel, leaves, arrays)
    working = resolve_dtype(arrays, dtype)
    canonical = jax.dtypes.canonicalize_dtype(working)
    if canonical != working:
        if dtype is not None:
            raise InputError(f"`dtype={working.name}` inside jax.jit/grad/vmap needs x64: "
                             "trace inside `with jax.enable_x64(True):`")
        working = canonical
    return kernel.raw([jnp.asarray(p, working) for p in leaves],
                      *(jnp.asarray(x, working) for x in arrays))
