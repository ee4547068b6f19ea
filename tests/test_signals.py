"""Interrupting a run: real signals to real processes (``python -m jaxcalc`` and a script calling
``jc.evaluate``), and Ctrl-C inside this process. Checked: exit codes, that the process ends
(a generous safety bound: the target, within 1 s, is measured, not asserted), that no worker
thread survives, and that no file (final or temporary) is left in the output's folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import jaxcalc as jc
from jaxcalc._grid import fused as _fused

ROOT = Path(__file__).resolve().parent.parent
EXIT_BOUND = 20  # seconds from the signal to the end of the process: a safety net (target: 1 s)
READY_BOUND = 120  # seconds to start (import JAX, compile) on a loaded machine

#: Prints "ready" once blocks flow, then slows every block down, so that the signal always
#: arrives mid-run (the run itself is unchanged: real engine, real files, real handlers).
HOOK = textwrap.dedent("""
    import sys, time
    from jaxcalc._grid import output as _output
    _advance = _output.Progress.advance
    def advance(self, *args, **kwargs):
        if not getattr(_output, "_ready", False):
            _output._ready = True
            print("ready", flush=True)
        time.sleep(0.05)
        return _advance(self, *args, **kwargs)
    _output.Progress.advance = advance
""")

LIBRARY = HOOK + textwrap.dedent("""
    import json, os, threading
    import jaxcalc as jc
    target = sys.argv[1]
    fn = jc.Function("sin(x)") if sys.argv[2] == "kernel" else (lambda x: x * 2)
    try:
        jc.evaluate(fn, jc.linspace(0, 1, 2_000_000), out=target, chunk_size=4096)
    except KeyboardInterrupt:
        print(json.dumps({"threads": [t.name for t in threading.enumerate()],
                          "files": os.listdir(os.path.dirname(target))}), flush=True)
        sys.exit(130)
""")


def start(args, cwd) -> subprocess.Popen:
    """``python args``, with SIGINT handled as in a terminal (Ctrl-C raises KeyboardInterrupt)
    even where this test run inherited it ignored, as a shell's background jobs do: children
    inherit an ignored signal, while a handled one is reset to the default in them."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def wait_ready(process: subprocess.Popen) -> None:
    line = process.stdout.readline()
    assert line.strip() == "ready", process.stderr.read()[-2000:]


def finish(process: subprocess.Popen) -> tuple[str, str]:
    """The process's output once it ends, or a failure (the process killed) when it has not
    ended :data:`EXIT_BOUND` seconds after the signal."""
    try:
        return process.communicate(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"the process had not ended {EXIT_BOUND} s after the signal: {err[-2000:]}")


def wait_computing(process: subprocess.Popen, cpu_seconds: float = 2.0) -> None:
    """Wait until ``process`` runs a subcommand (its SIGTERM handler is installed: Python has
    none of its own) and has then used ``cpu_seconds`` more of CPU (compiled, blocks running)."""
    proc = Path(f"/proc/{process.pid}")
    began, ticks = time.monotonic(), None
    while process.poll() is None and time.monotonic() - began < READY_BOUND:
        status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
        used = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[11])
        if ticks is None and int(status["SigCgt"], 16) >> (signal.SIGTERM - 1) & 1:
            ticks = used
        if ticks is not None and used - ticks > cpu_seconds * os.sysconf("SC_CLK_TCK"):
            return
        time.sleep(0.05)
    pytest.fail(f"the process did not start computing: {process.communicate()[1][-2000:]}")


def cli(*argv) -> list[str]:
    return ["-c", HOOK + "from jaxcalc._cli import run\nrun()", *argv]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_reduction_stops_on_a_signal(tmp_path, sig, code):
    # `python -m jaxcalc` exactly as users run it (3 hours of work at this machine's speed)
    process = start(["-m", "jaxcalc", "grid", "sin(x)", "--range", "0", "1", "--points", "1e12",
                     "--reduce", "max"], tmp_path)
    wait_computing(process)
    process.send_signal(sig)
    out, err = finish(process)
    assert process.returncode == code
    assert out == "" and err == f"error: interrupted ({sig.name})\n"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_cli_output_file_leaves_nothing(tmp_path, sig):
    process = start(cli("grid", "sin(x)", "--range", "0", "1", "--points", "1e7", "-o",
                        str(tmp_path / "g.npy")), tmp_path)
    wait_ready(process)
    process.send_signal(sig)
    _, err = finish(process)
    assert process.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + sig)
    if sig != signal.SIGKILL:
        assert err == f"error: interrupted ({sig.name})\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["kernel", "numpy"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_library_output_file_leaves_nothing(tmp_path, engine, sig):
    folder = tmp_path / "out"
    folder.mkdir()
    (tmp_path / "run.py").write_text(LIBRARY)
    process = start([str(tmp_path / "run.py"), str(folder / "e.npy"), engine], tmp_path)
    wait_ready(process)
    process.send_signal(sig)
    out, err = finish(process)
    assert os.listdir(folder) == []
    if sig == signal.SIGINT:  # KeyboardInterrupt, once every worker thread has stopped
        assert process.returncode == 130, err[-2000:]
        report = json.loads(out.strip().splitlines()[-1])
        assert not [t for t in report["threads"] if t.startswith("jaxcalc")]
        assert report["files"] == []
    else:  # no handler in a plain script: the process dies at once, its unnamed file with it
        assert process.returncode == -sig


@pytest.mark.parametrize("where", ["first", "later"])
def test_ctrl_c_in_a_worker_stops_every_thread(tmp_path, monkeypatch, where):
    monkeypatch.setattr("jaxcalc._grid.devices.workers", lambda: 2)
    original, calls = _fused.DeviceEngine._per_block, []

    def interrupted(self, group):
        calls.append(threading.current_thread().name)
        if len(calls) == (1 if where == "first" else 20):
            raise KeyboardInterrupt
        return original(self, group)

    monkeypatch.setattr(_fused.DeviceEngine, "_per_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        jc.evaluate("sin(x)", jc.linspace(0, 1, 10**6), out=tmp_path / "v.npy", chunk_size=1024)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("jaxcalc")]
    assert os.listdir(tmp_path) == []
    assert len(calls) < 200  # the other share stopped too (each has ~490 blocks)
    monkeypatch.setattr(_fused.DeviceEngine, "_per_block", original)
    value = jc.evaluate("sin(x)", jc.linspace(0, 1, 10**4), reduce="max", dtype="float64")
    np.testing.assert_allclose(value, np.sin(1.0), rtol=1e-15)  # the next run is unaffected
