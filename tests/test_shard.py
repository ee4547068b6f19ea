"""Sharding over several devices (4 CPU devices in a subprocess) and multi-process runs with
``jax.distributed`` (examples/distributed.py: 2 processes on localhost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import jaxcalc as jc

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import contextlib, io, json
    import jax, numpy as np
    import jaxcalc as jc
    from jaxcalc._grid.evaluate import run
    from jaxcalc._cli import main

    d = jc.derivative("x**3 - 1/x")
    ys = np.linspace(1, 2, 23)
    cases = {
        "linspace": (d, jc.linspace(0.5, 3, 100_003)),
        "mesh": (jc.gradient("x**2*y + sin(y)"), jc.mesh(jc.linspace(0, 1, 37), ys)),
        "points": (jc.Function("x*y"), (np.linspace(0, 1, 5001), 3.0)),
    }
    report = {"devices": len(jax.devices())}
    for name, (fn, grid) in cases.items():
        for red in (None, "max", "argmin", "sum", "integral"):
            if red == "integral" and name == "points":
                continue
            many = run(fn, grid, reduce=red, dtype="float64", chunk_size=512)
            one = run(fn, grid, reduce=red, dtype="float64", chunk_size=512, devices=1)
            report[f"{name}/{red}"] = [many.devices, one.devices,
                                       bool(np.array_equal(many.value, one.value))]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(["grid", "x**3 - 1/x", "--range", "0.5", "3", "--points", "1e5", "--order", "1",
              "--reduce", "max", "--json"])
    report["cli"] = json.loads(buffer.getvalue())
    print(json.dumps(report))
""")


def python(args, env_extra=None, timeout=300):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    # These tests are about host devices: on a GPU machine the GPU would be JAX's default.
    env = dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu")
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_four_devices_give_identical_results():
    report = python(["-c", SCRIPT], {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert report.pop("devices") == 4
    cli = report.pop("cli")
    assert cli["devices"] == 4 and cli["value"] == pytest.approx(27 + 1 / 9)
    assert len(report) == 14
    for case, (many, one, same) in report.items():
        assert (many, one, same) == (4, 1, True), case


def test_two_processes_with_jax_distributed():
    result = python([str(ROOT / "examples" / "distributed.py")])
    assert result["processes"] == 2 and result["devices"] == 2
    d = jc.derivative("x**3 - 1/x")
    grid = jc.linspace(0.5, 3.0, 2_000_001)
    assert result["max"] == jc.evaluate(d, grid, reduce="max", dtype="float64")
    assert result["argmax"] == jc.evaluate(d, grid, reduce="argmax", dtype="float64")
    np.testing.assert_allclose(result["integral"],
                               jc.evaluate(d, grid, reduce="integral", dtype="float64"),
                               rtol=1e-12)
