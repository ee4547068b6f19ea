"""Run metadata for the pytest-benchmark suite: the machine, device and library versions."""

from __future__ import annotations

from jaxcalc._tools.bench_report import machine_info, versions


def pytest_report_header(config):
    m = machine_info()
    libraries = ", ".join(f"{k} {v}" for k, v in versions().items())
    return [f"jaxcalc bench on {m['backend']} ({m['device']}), {m['cpu']} x{m['cpu_count']}",
            f"versions: {libraries}"]
