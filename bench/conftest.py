"""Run settings and metadata for the pytest-benchmark suite: the grids (``JAXCALC_BENCH_SIZES``,
default ``"1e4 1e5"``; ``JAXCALC_BENCH_DTYPE``, default ``float64``), and a header with the
machine, device, cache, dtype and library versions (the harness's ``machine_info``)."""

from __future__ import annotations

import os

import numpy as np

from jaxcalc._tools.bench_report import machine_info, versions

SIZES = tuple(int(float(s)) for s in os.environ.get("JAXCALC_BENCH_SIZES", "1e4 1e5").split())
DTYPE = np.dtype(os.environ.get("JAXCALC_BENCH_DTYPE", "float64"))


def pytest_report_header(config):
    m = machine_info()
    libraries = ", ".join(f"{k} {v}" for k, v in versions().items())
    return [f"jaxcalc bench on {m['backend']} ({m['device']}), {m['cpu']} x{m['cpu_count']}, "
            f"last-level cache {m['cache_bytes'] / 2**20:.0f} MiB",
            f"dtype {DTYPE.name}, sizes {', '.join(f'{n:,}' for n in SIZES)}",
            f"versions: {libraries}"]
