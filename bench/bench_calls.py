"""The calls issue's benchmark: what one call costs next to plain JAX, first calls, compile time.

    python3 bench/bench_calls.py [--rounds 41] [--batch 200] [--sections percall,first,vars]
                                 [--inputs numpy|device] [--out bench/results/cpu-calls-<date>.md]

* ``percall``: median seconds per call after warm-up of ``jc.derivative(f)(xs)`` against what a
  JAX user writes by hand, ``jax.jit(jax.vmap(jax.grad(sympy.lambdify(x, f, "jax"))))``, and of
  ``jc.Function(f)(xs)`` against ``jax.jit(sympy.lambdify(x, f, "jax"))``, for
  ``f = x**3 - 1/x`` on 10, 10^3 and 10^4 points, float32 and float64 (``--inputs``: NumPy
  arrays, or arrays already on the default device, as on a GPU), each call synced
  (``block_until_ready``). Contestants alternate in interleaved rounds (the order rotating);
  each sample is a batch of ``--batch`` calls, so a ratio comes from one machine
  state. The float64 peer runs its whole batch inside one ``jax.enable_x64(True)`` scope (its
  cheapest form; jaxcalc enters the scope itself, per call); the ``peer, scope per call``
  column is the peer as a JAX user without the global flag writes it. Reported: median per call
  (wall and process CPU time), the ratio of medians, and the spread of the per-round ratios
  (10th-90th percentile), since the machine is shared.
* ``first``: build + compile + run on 10 points of a formula never seen before (every cache
  cleared: jaxcalc's, SymPy's, JAX's) against ``sympify`` + ``lambdify`` + ``jit`` of the same
  formula, for the function itself and its derivative, float64; median of alternating runs.
* ``vars``: the first call of ``jc.gradient(f)`` of an n-variable formula against the plain-JAX
  gradient (``jit(vmap(grad(lambdify(...), argnums=all)))``), n = 1, 3, 5, 9: does the compile
  time grow faster than JAX's own?
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np
import sympy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import jaxcalc as jc  # noqa: E402
from jaxcalc._tools.bench import GRID_FUNCTIONS  # noqa: E402
from jaxcalc._tools.bench_report import machine_info, versions  # noqa: E402

FORMULA = "x**3 - 1/x"
SIZES = (10, 1_000, 10_000)
DTYPES = ("float32", "float64")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def interleaved(batches: dict, rounds: int) -> dict:
    """Per contestant: wall and CPU seconds per call of each round (one sample per round)."""
    for run in batches.values():  # warm-up: compilation, caches
        run()
    samples = {name: {"wall": [], "cpu": []} for name in batches}
    names = list(batches)
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            calls = batches[name]()
            samples[name]["cpu"].append((time.process_time() - cpu) / calls)
            samples[name]["wall"].append((time.perf_counter() - wall) / calls)
    return samples


def _batch(fn, xs, size: int, scope: bool = False, per_call_scope: bool = False):
    def run():
        if per_call_scope:
            for _ in range(size):
                with jax.enable_x64(True):
                    fn(xs).block_until_ready()
        elif scope:
            with jax.enable_x64(True):
                for _ in range(size):
                    fn(xs).block_until_ready()
        else:
            for _ in range(size):
                fn(xs).block_until_ready()
        return size
    return run


def per_call(rounds: int, batch: int, on_device: bool = False) -> list[dict]:
    x = sympy.Symbol("x", real=True)
    f = sympy.sympify(FORMULA, locals={"x": x})
    cases = {
        "derivative": (jc.derivative(FORMULA),
                       jax.jit(jax.vmap(jax.grad(sympy.lambdify(x, f, "jax"))))),
        "function": (jc.Function(FORMULA), jax.jit(sympy.lambdify(x, f, "jax"))),
    }
    rows = []
    for case, (ours, peer) in cases.items():
        for dtype in DTYPES:
            f64 = dtype == "float64"
            for n in SIZES:
                xs = np.random.default_rng(0).uniform(0.5, 3.0, n).astype(dtype)
                if on_device:
                    with jax.enable_x64(f64):
                        xs = jax.device_put(xs)
                batches = {"jaxcalc": _batch(ours, xs, batch),
                           "peer": _batch(peer, xs, batch, scope=f64)}
                if f64:
                    batches["peer_scoped_call"] = _batch(peer, xs, batch, per_call_scope=True)
                s = interleaved(batches, rounds)
                paired = [a / b for a, b in zip(s["jaxcalc"]["wall"], s["peer"]["wall"],
                                                strict=True)]
                row = {"case": case, "dtype": dtype, "points": n,
                       "jaxcalc_us": statistics.median(s["jaxcalc"]["wall"]) * 1e6,
                       "peer_us": statistics.median(s["peer"]["wall"]) * 1e6,
                       "jaxcalc_cpu_us": statistics.median(s["jaxcalc"]["cpu"]) * 1e6,
                       "peer_cpu_us": statistics.median(s["peer"]["cpu"]) * 1e6,
                       "ratio_p10": _percentile(paired, 0.1), "ratio_p90": _percentile(paired, 0.9)}
                row["ratio"] = row["jaxcalc_us"] / row["peer_us"]
                row["ratio_cpu"] = row["jaxcalc_cpu_us"] / row["peer_cpu_us"]
                row["ratio_best"] = min(s["jaxcalc"]["wall"]) / min(s["peer"]["wall"])
                if f64:
                    row["peer_scoped_call_us"] = statistics.median(
                        s["peer_scoped_call"]["wall"]) * 1e6
                rows.append(row)
                print(f"{case:10s} {dtype} {n:>6}: jaxcalc {row['jaxcalc_us']:7.1f} us  peer "
                      f"{row['peer_us']:7.1f} us  ratio {row['ratio']:.2f} (rounds "
                      f"{row['ratio_p10']:.2f}-{row['ratio_p90']:.2f})  best-round ratio "
                      f"{row['ratio_best']:.2f}  cpu ratio {row['ratio_cpu']:.2f}", flush=True)
    return rows


def _fresh() -> None:
    jc.clear_caches()
    jax.clear_caches()
    sympy.core.cache.clear_cache()


def _seconds(run) -> float:
    _fresh()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def first_calls(repeats: int) -> list[dict]:
    xs = np.random.default_rng(1).uniform(0.5, 3.0, 10)
    rows = []
    for key, text in GRID_FUNCTIONS.items():
        for case in ("function", "derivative"):
            def ours(text=text, case=case):
                fn = jc.Function(text) if case == "function" else jc.derivative(text)
                fn(xs).block_until_ready()

            def peer(text=text, case=case):
                x = sympy.Symbol("x", real=True)
                fn = sympy.lambdify(x, sympy.sympify(text, locals={"x": x}), "jax")
                fn = jax.jit(fn if case == "function" else jax.vmap(jax.grad(fn)))
                with jax.enable_x64(True):
                    fn(xs).block_until_ready()

            times = {"jaxcalc": [], "peer": []}
            for i in range(repeats):
                order = (("jaxcalc", ours), ("peer", peer))
                for name, run in order if i % 2 == 0 else order[::-1]:
                    times[name].append(_seconds(run))
            row = {"function": key, "case": case,
                   "jaxcalc_s": statistics.median(times["jaxcalc"]),
                   "peer_s": statistics.median(times["peer"])}
            row["ratio"] = row["jaxcalc_s"] / row["peer_s"]
            rows.append(row)
            print(f"first call {key} {case:10s}: jaxcalc {row['jaxcalc_s'] * 1e3:7.1f} ms  peer "
                  f"{row['peer_s'] * 1e3:7.1f} ms  ratio {row['ratio']:.2f}", flush=True)
    return rows


def _formula(n: int) -> tuple[str, list[str]]:
    names = [f"x{i}" for i in range(n)]
    terms = [f"sin({a})*{b}**2 + exp(-{a}*{b}/2)" for a, b in zip(names, names[1:] + names[:1],
                                                                   strict=True)]
    return " + ".join(terms), names


def variables(repeats: int, counts=(1, 3, 5, 9)) -> list[dict]:
    rows = []
    for n in counts:
        text, names = _formula(n)
        xs = [np.random.default_rng(i).uniform(0.5, 3.0, 10) for i in range(n)]

        def ours(text=text, xs=xs):
            jc.gradient(text)(*xs).block_until_ready()

        def peer(text=text, names=names, xs=xs):
            symbols = [sympy.Symbol(v, real=True) for v in names]
            expr = sympy.sympify(text, locals=dict(zip(names, symbols, strict=True)))
            fn = sympy.lambdify(symbols, expr, "jax")
            fn = jax.jit(jax.vmap(jax.grad(fn, argnums=tuple(range(len(names))))))
            with jax.enable_x64(True):
                jax.block_until_ready(fn(*xs))

        times = {"jaxcalc": [], "peer": []}
        for i in range(repeats):
            order = (("jaxcalc", ours), ("peer", peer))
            for name, run in order if i % 2 == 0 else order[::-1]:
                times[name].append(_seconds(run))
        row = {"variables": n, "jaxcalc_s": statistics.median(times["jaxcalc"]),
               "peer_s": statistics.median(times["peer"])}
        row["ratio"] = row["jaxcalc_s"] / row["peer_s"]
        rows.append(row)
        print(f"gradient of {n} variables, first call: jaxcalc {row['jaxcalc_s'] * 1e3:7.1f} ms  "
              f"peer {row['peer_s'] * 1e3:7.1f} ms  ratio {row['ratio']:.2f}", flush=True)
    return rows


def markdown(result: dict) -> str:
    machine, vers = result["machine"], result["versions"]
    lines = [f"# Call benchmark on {machine.get('device')} ({machine.get('backend')}) "
             f"{result['date']}", "",
             f"Machine: {machine.get('cpu')}, {machine.get('cpu_count')} cores (shared: other "
             f"jobs ran at the same time; 1-minute load average "
             f"{machine.get('load_average') or 0:.1f} at the start); jax {vers.get('jax')}, "
             f"numpy {vers.get('numpy')}, sympy {vers.get('sympy')}; "
             f"Python {sys.version.split()[0]}. Command: "
             f"`python3 bench/bench_calls.py {' '.join(result['argv'])}`.", ""]
    if result.get("percall"):
        inputs = {"numpy": "NumPy inputs", "device": "inputs on the device"}[result["inputs"]]
        lines += [f"## Per call (median after warm-up; {inputs}, synced)", "",
                  f"f = `{FORMULA}`. Peer: `jax.jit(jax.vmap(jax.grad(sympy.lambdify(x, f, "
                  "'jax'))))` for the derivative, `jax.jit(sympy.lambdify(x, f, 'jax'))` for "
                  "the function; float64 peer batch inside one `jax.enable_x64(True)` scope. "
                  f"{result['rounds']} interleaved rounds of {result['batch']} calls; ratio = "
                  "median jaxcalc / median peer (wall); spread = 10th-90th percentile of the "
                  "per-round ratios; best-round ratio = fastest jaxcalc round / fastest peer "
                  "round (least disturbed by other jobs); CPU ratio from process CPU time.", "",
                  "| case | dtype | points | jaxcalc µs | peer µs | ratio | spread | best-round "
                  "ratio | CPU ratio | peer, scope per call µs |",
                  "|---|---|---:|---:|---:|---:|---|---:|---:|---:|"]
        for r in result["percall"]:
            scoped = f"{r['peer_scoped_call_us']:.1f}" if "peer_scoped_call_us" in r else "-"
            lines.append(f"| {r['case']} | {r['dtype']} | {r['points']:,} | {r['jaxcalc_us']:.1f} "
                         f"| {r['peer_us']:.1f} | {r['ratio']:.2f}x | {r['ratio_p10']:.2f}-"
                         f"{r['ratio_p90']:.2f} | {r['ratio_best']:.2f}x | {r['ratio_cpu']:.2f}x "
                         f"| {scoped} |")
        lines.append("")
    if result.get("first"):
        lines += ["## First call of a new formula (build + compile + run on 10 points)", "",
                  "Every cache cleared before each run; peer: `sympify` + `lambdify` + `jit` "
                  "(+ `vmap(grad)` for the derivative), float64; medians of alternating runs.", "",
                  "| f | case | jaxcalc ms | peer ms | ratio |", "|---|---|---:|---:|---:|"]
        for r in result["first"]:
            lines.append(f"| {r['function']} | {r['case']} | {r['jaxcalc_s'] * 1e3:.1f} | "
                         f"{r['peer_s'] * 1e3:.1f} | {r['ratio']:.2f}x |")
        lines.append("")
    if result.get("vars"):
        lines += ["## Gradient compile time against the number of variables (first call)", "",
                  "f = sum over i of `sin(x_i)*x_(i+1)**2 + exp(-x_i*x_(i+1)/2)` (cyclic); "
                  "peer: `jit(vmap(grad(lambdify(...), argnums=all)))`, float64.", "",
                  "| variables | jaxcalc ms | peer ms | ratio |", "|---:|---:|---:|---:|"]
        for r in result["vars"]:
            lines.append(f"| {r['variables']} | {r['jaxcalc_s'] * 1e3:.1f} | "
                         f"{r['peer_s'] * 1e3:.1f} | {r['ratio']:.2f}x |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--batch", type=int, default=200, help="calls per timed sample")
    parser.add_argument("--repeats", type=int, default=5, help="runs per first-call figure")
    parser.add_argument("--sections", default="percall,first,vars")
    parser.add_argument("--inputs", choices=("numpy", "device"), default="numpy",
                        help="per-call inputs: NumPy arrays or arrays on the default device")
    parser.add_argument("--out", default=None, help="Markdown file to write")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    result = {"date": datetime.date.today().isoformat(), "machine": machine_info(),
              "versions": versions(), "argv": sys.argv[1:] if argv is None else list(argv),
              "rounds": args.rounds, "batch": args.batch, "inputs": args.inputs}
    if "percall" in sections:
        result["percall"] = per_call(args.rounds, args.batch, args.inputs == "device")
    if "first" in sections:
        result["first"] = first_calls(args.repeats)
    if "vars" in sections:
        result["vars"] = variables(args.repeats)
    text = markdown(result)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
