"""What building a derivative costs: ``jc.derivative(f)`` built and first called vs the plain peer.

The peer is what a JAX user writes by hand for the same numbers: ``sympy.sympify`` the text,
``sympy.diff`` it, ``sympy.lambdify(x, d, "jax")``, ``jax.jit`` and call it. Both are timed from
text to the first result on 10 float64 points, each run in a fresh Python process (SymPy's and
JAX's caches empty: what a new formula costs), interleaved, median of ``--repeat`` runs. The
issue target (issue 9): ratio ≤ 1.0 on f1..f5 (the benchmark formulas).

    python bench/bench_build.py [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

from jaxcalc._tools.bench import GRID_FUNCTIONS
from jaxcalc._tools.bench_report import machine_info, versions

_SETUP = """
import time, numpy as np, jax
xs = np.linspace(0.5, 3.0, 10)
"""

_JAXCALC = """
import jaxcalc as jc
began = time.perf_counter()
jax.block_until_ready(jc.derivative({text!r})(xs))
print(time.perf_counter() - began)
"""

_PEER = """
import sympy
began = time.perf_counter()
x = sympy.Symbol("x")
d = sympy.diff(sympy.sympify({text!r}), x)
with jax.enable_x64(True):
    jax.block_until_ready(jax.jit(sympy.lambdify(x, d, "jax"))(xs))
print(time.perf_counter() - began)
"""


def _seconds(program: str, text: str) -> float:
    code = textwrap.dedent(_SETUP) + textwrap.dedent(program).format(text=text)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per contestant")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    rows = []
    for name, text in GRID_FUNCTIONS.items():
        ours, peers = [], []
        for _ in range(args.repeat):  # interleaved: load drifts hit both alike
            ours.append(_seconds(_JAXCALC, text))
            peers.append(_seconds(_PEER, text))
        row = {"function": name, "jaxcalc_s": statistics.median(ours),
               "peer_s": statistics.median(peers)}
        row["ratio"] = row["jaxcalc_s"] / row["peer_s"]
        rows.append(row)
        print(f"{name}: jaxcalc {row['jaxcalc_s'] * 1e3:7.1f} ms   sympify+diff+lambdify+jit "
              f"{row['peer_s'] * 1e3:7.1f} ms   ratio {row['ratio']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(), "versions": versions(), "dtype": "float64",
                       "points": 10, "repeat": args.repeat, "results": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
