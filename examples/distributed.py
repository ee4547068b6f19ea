"""Many hosts: one grid reduced by several processes with ``jax.distributed`` (JAX's runtime).

Each process evaluates a contiguous share of the grid on its own devices (``jc.evaluate`` shards
its blocks over ``jax.local_devices()``), then the small partial results are exchanged with
``multihost_utils.process_allgather`` and combined — the grid itself never leaves a process.

Run on one machine (starts 2 processes on localhost and prints one JSON line)::

    python examples/distributed.py

Run on N hosts (the same command on each, with its own ``--process-id``)::

    python examples/distributed.py --coordinator HOST0:12355 --num-processes N --process-id I

On CPUs JAX needs its Gloo collectives (set below); on GPUs/TPUs the defaults work. The shares
overlap by one point so that the trapezoid integrals of the shares add up to the whole.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys

EXPRESSION, START, STOP, POINTS = "x**3 - 1/x", 0.5, 3.0, 2_000_001


def share(grid, index: int, count: int):
    """Points ``lo..hi`` (inclusive: neighbours share one point) of a lazy axis, and ``lo``."""
    import jaxcalc as jc

    lo = index * (grid.size - 1) // count
    hi = (index + 1) * (grid.size - 1) // count
    last = grid.last if hi == grid.size - 1 else None
    return jc.Axis(grid.start + lo * grid.step, grid.step, hi - lo + 1, last), lo


def work(coordinator: str, count: int, index: int) -> dict:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes=count, process_id=index)
    import numpy as np
    from jax.experimental import multihost_utils

    import jaxcalc as jc

    d = jc.derivative(EXPRESSION)
    part, lo = share(jc.linspace(START, STOP, POINTS), index, count)
    local = [jc.evaluate(d, part, reduce=r, dtype="float64") for r in ("max", "integral")]
    where = jc.evaluate(d, part, reduce="argmax", dtype="float64") + lo
    mine = np.array([local[0], local[1], where], dtype=np.float64)
    with jax.enable_x64(True):  # keep float64 through the exchange
        every = multihost_utils.process_allgather(mine)  # shape (processes, 3)
    best = int(np.argmax(every[:, 0]))
    result = {"processes": jax.process_count(), "devices": len(jax.devices()),
              "max": float(every[best, 0]), "argmax": int(every[best, 2]),
              "integral": float(every[:, 1].sum())}
    jax.distributed.shutdown()
    return result


def local_demo(count: int = 2) -> int:
    """Start ``count`` processes on localhost; print process 0's result."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, __file__, "--coordinator", f"localhost:{port}",
            "--num-processes", str(count)]
    procs = [subprocess.Popen([*argv, "--process-id", str(i)], stdout=subprocess.PIPE, text=True)
             for i in range(count)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    if any(p.returncode for p in procs):
        return 1
    print(outputs[0].strip())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coordinator", help="HOST:PORT of process 0")
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()
    if args.coordinator is None:
        return local_demo(args.num_processes)
    print(json.dumps(work(args.coordinator, args.num_processes, args.process_id)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
