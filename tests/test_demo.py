"""``jaxcalc demo``: the lecture's results and homework answers printed, the plots written, the
benchmark run and its table printed."""

from __future__ import annotations

import json
import sys
import types

import pytest

from jaxcalc._cli import main

FILES = ["lecture.png", "homework1.png", "homework2.png", "homework3_tangent.png", "accuracy.png"]


def test_demo_prints_the_lecture_and_homework_and_writes_the_plots(tmp_path, capsys):
    outdir = tmp_path / "new" / "folder"  # created, parents included
    assert main(["demo", "--outdir", str(outdir), "--bench-seconds", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  sympy.diff(3*x**2 + 1, x)    -> 6*x" in lines
    assert "  f'(2) by JAX autodiff        -> 12.0" in lines
    assert ("  f'(2) by fd.misc_derivative  -> 12.0   (the removed scipy.misc.derivative)"
            in lines)
    assert "  1. d/dx (x**2 - 6*x + 1) = 2*x - 6" in lines
    assert "  2. d/dx (2*x - 1/x) = 2 + x**(-2)" in lines
    assert "  3. tangent of x**3 - 1/x at x = 1: y = 4*x - 4" in lines
    assert not any(line.startswith("Benchmark") for line in lines)
    assert sorted(p.name for p in outdir.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (outdir / name).read_bytes().startswith(b"\x89PNG")
        assert any(line.split()[:1] == [name] for line in lines)


def test_demo_json_summary_in_the_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--bench-seconds", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lecture"] == {"expression": "3*x**2 + 1", "derivative": "6*x", "at": 2.0,
                                  "ad": 12.0, "misc_derivative": 12.0}
    assert summary["homework"] == [
        {"expression": "x**2 - 6*x + 1", "derivative": "2*x - 6"},
        {"expression": "2*x - 1/x", "derivative": "2 + x**(-2)"},
        {"expression": "x**3 - 1/x", "tangent_at": 1.0, "value": 0.0, "slope": 4.0,
         "line": "4*x - 4"},
    ]
    assert summary["files"] == [f"jaxcalc-demo/{name}" for name in FILES]
    assert summary["benchmark"] is None
    assert all((tmp_path / path).is_file() for path in summary["files"])


def test_demo_runs_the_benchmark_and_prints_its_table(tmp_path, monkeypatch, capsys):
    calls = []

    class Report:
        def table(self):
            return "expression  method  n  seconds\n3*x**2 + 1  jaxcalc_ad  1e4  5e-05"

    def run_benchmark(expressions=None, *, sizes=(10**4, 10**5), dtype="float64", methods=None,
                      progress=False, time_budget=None):
        calls.append((expressions, sizes, dtype, methods, progress, time_budget))
        return Report()

    fake = types.ModuleType("jaxcalc._tools.bench")
    fake.run_benchmark = run_benchmark
    monkeypatch.setitem(sys.modules, "jaxcalc._tools.bench", fake)
    assert main(["demo", "--outdir", str(tmp_path), "--bench-seconds", "7"]) == 0
    assert calls == [(["3*x**2 + 1", "x**3 - 1/x"], (10**4, 10**5), "float64", None, False, 7.0)]
    text = capsys.readouterr().out
    assert text.endswith("Benchmark (float64, time budget 7 s)\n" + Report().table() + "\n")


def test_demo_outdir_that_is_a_file_is_an_error(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["demo", "--outdir", str(taken), "--bench-seconds", "0"]) == 2
    assert capsys.readouterr().err.startswith(f"error: --outdir {str(taken)!r}: cannot create")


@pytest.mark.slow
def test_demo_end_to_end_with_the_real_benchmark(tmp_path, capsys):
    assert main(["demo", "--outdir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Benchmark (float64, time budget 10 s)" in text and "jaxcalc_ad" in text
