"""How a compiled elementwise kernel meets user arrays: dtype, precision scope, dispatch.

Every jaxcalc callable (a :class:`~jaxcalc.Function`, a derivative, a gradient, ...) is a
:class:`Kernel` (the static, hashable part: what to compute) plus its param leaves. This
module owns the one path from user inputs to results:

* the working dtype is ``dtype=`` when given, else that of the floating array inputs, else
  JAX's default float; float64 is computed inside JAX's scoped x64 context, never by
  flipping the global flag, and a float64 request the backend cannot honour is an error;
* outside a JAX trace the kernel runs jit-compiled (one compilation per shape and dtype);
  inside one (``jax.jit``/``grad``/``vmap`` of user code) it is simply traced, under JAX's
  precision rule: NumPy float64 inputs compute in float32 unless the trace runs inside
  ``with jax.enable_x64(True):``, and an explicit ``dtype="float64"`` there is an error.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import hostcall
from .errors import InputError

_FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")


class Kernel:
    """The static part of an elementwise jaxcalc callable; subclasses are hashable.

    Subclasses define ``n_inputs`` and ``raw(leaves, *xs)``, a pure JAX function of the
    param leaves and ``n_inputs`` same-dtype arrays, elementwise over the broadcast inputs.
    """

    n_inputs: int

    def raw(self, leaves: Sequence[jax.Array], *xs: jax.Array) -> jax.Array:
        raise NotImplementedError

    @property
    def jitted(self):
        """``raw`` compiled with :func:`jax.jit`, shared by equal kernels: the same expression
        (or derivative of it) built twice compiles once per shape and dtype."""
        return _jit(self)


@functools.lru_cache(maxsize=1024)
def _jit(kernel: Kernel):
    return jax.jit(kernel.raw)


def resolve_dtype(xs: Sequence[object], dtype=None) -> np.dtype:
    """The working float dtype for inputs ``xs`` (see module docstring)."""
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
    return jnp.dtype(jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)


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


def check_arity(kernel: Kernel, xs: Sequence[object], name: str) -> None:
    if len(xs) != kernel.n_inputs:
        raise InputError(
            f"{name} takes {kernel.n_inputs} input(s), got {len(xs)}; pass one array per variable"
        )


def _as_array(x: object, dtype: np.dtype) -> jax.Array:
    if isinstance(x, (str, bytes)) or (
        not isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, bool))
        and not hasattr(x, "__array__")
        and not isinstance(x, (list, tuple))
    ):
        raise InputError(f"inputs must be numbers or arrays, got {type(x).__name__}")
    try:
        return jnp.asarray(x, dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise InputError(f"could not read input as a {dtype} array: {e}") from e


def call(kernel: Kernel, leaves: Sequence[jax.Array], xs: Sequence[object], dtype=None,
         name: str = "this function") -> jax.Array:
    """Evaluate ``kernel`` on ``xs`` elementwise; returns a ``jax.Array`` of the working dtype."""
    check_arity(kernel, xs, name)
    working = resolve_dtype(xs, dtype)
    if is_traced((*xs, *leaves)):  # JAX's precision rule: float64 only in (scoped) x64 mode
        if jax.dtypes.canonicalize_dtype(working) != working:
            if dtype is not None:
                raise InputError(f"`dtype={working.name}` inside jax.jit/grad/vmap needs x64: "
                                 "trace inside `with jax.enable_x64(True):`")
            working = jax.dtypes.canonicalize_dtype(working)
        return kernel.raw([jnp.asarray(p, working) for p in leaves],
                          *(_as_array(x, working) for x in xs))
    with precision(working):
        streamed = hostcall.call(kernel, leaves, xs, working) if hostcall.is_large(xs) else None
        if streamed is not None:
            return streamed
        arrays = [_as_array(x, working) for x in xs]
        try:
            jnp.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError as e:
            raise InputError(f"input shapes do not broadcast: {[a.shape for a in arrays]}") from e
        return kernel.jitted([jnp.asarray(p, working) for p in leaves], *arrays)
