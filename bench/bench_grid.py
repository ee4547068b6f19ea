"""The grids issue's benchmark: plain calls at 10^7 points, streamed reductions, and a device check.

CPU (default)::

    python3 bench/bench_grid.py [--points 1e7] [--repeats 7] [--out bench/results]

times ``jc.derivative(f)(xs)`` (and its AD / symbolic paths) against NumPy evaluating SymPy's
derivative (``lambdify(cse=True)``), numexpr evaluating it, and NumPy central differences
(``jaxcalc.fd.difference``) on f1..f5, float64, points uniform on [0.5, 3] (seed 0), result in
host memory. Every contestant runs once per round, rounds repeat (medians are reported), so all
ratios come from one run on one machine state. First, in a fresh process, ``jaxcalc grid`` streams
a max over 10^9 lazy points (time and the process's peak RSS). Writes ``cpu-grid-<date>.json``
and ``.md`` into ``--out``.

Accelerator (``--device-check``; ``--out`` defaults to ``$OUT``)::

    python3 bench/bench_grid.py --device-check --out DIR

measures the device copy bandwidth (a jitted copy of a large array), f' of f1/f2 over 10^9
float32 and 5*10^8 float64 points as a share of it, and a streamed reduction over a lazy grid
larger than device memory. On a CPU it runs the same steps at small sizes (a dry run). About a
minute on an H100/H200. Writes ``grid-device-<kind>-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import sympy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import jaxcalc as jc  # noqa: E402
from jaxcalc._tools.bench import DEFAULT_EXPRESSIONS  # noqa: E402
from jaxcalc._tools.bench_report import machine_info, versions  # noqa: E402

INTERVAL = (0.5, 3.0)


def contestants(text: str, xs: np.ndarray) -> dict:
    """name -> zero-argument call returning the derivative values (synced, host memory)."""
    import numexpr  # noqa: F401 - lambdify's numexpr printer needs it

    f = jc.Function(text)
    x = sympy.Symbol(f.variables[0], real=True)
    exact = sympy.diff(f.expr, x)
    numpy_f = sympy.lambdify(x, f.expr, "numpy", cse=True)
    numpy_d = sympy.lambdify(x, exact, "numpy", cse=True)
    numexpr_d = sympy.lambdify(x, exact, "numexpr")
    calls = {}
    for name, method in (("jaxcalc", None), ("jaxcalc_ad", "ad"),
                         ("jaxcalc_symbolic", "symbolic")):
        d = jc.derivative(f) if method is None else jc.derivative(f, method=method)
        calls[name] = lambda d=d: d(xs).block_until_ready()
    calls["np_sym_cse"] = lambda: numpy_d(xs)
    calls["numexpr"] = lambda: numexpr_d(xs)
    calls["np_fd"] = lambda: jc.fd.difference(numpy_f, xs)
    return calls


def time_rounds(calls: dict, repeats: int, max_seconds: float) -> dict:
    """Median seconds per contestant over interleaved rounds (fewer rounds for slow ones)."""
    times = {name: [] for name in calls}
    for call in calls.values():  # warm-up: compilation, caches, page tables
        call()
    began = time.perf_counter()
    names = list(calls)
    for round_ in range(repeats):
        # Rotate who goes first: a call right after a big allocation-heavy one pays for it.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            t = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t)
        if round_ >= 2 and time.perf_counter() - began > max_seconds:
            break
    return {name: statistics.median(ts) for name, ts in times.items()}


def cpu_benchmark(points: int, repeats: int, max_seconds: float) -> dict:
    xs = np.random.default_rng(0).uniform(*INTERVAL, points)
    rows = {}
    for key, text in DEFAULT_EXPRESSIONS.items():
        calls = contestants(text, xs)
        seconds = time_rounds(calls, repeats, max_seconds)
        best = min(seconds["np_sym_cse"], seconds["numexpr"])
        rows[key] = {
            "expression": text if len(text) < 60 else text[:57] + "...",
            "seconds": seconds,
            "auto_picks": jc.derivative(text).description.rsplit(", ", 1)[-1].rstrip(")"),
            "vs_best_symbolic": best / seconds["jaxcalc"],
            "vs_np_fd": seconds["np_fd"] / seconds["jaxcalc"],
            "ad_vs_best": best / seconds["jaxcalc_ad"],
            "symbolic_vs_best": best / seconds["jaxcalc_symbolic"],
        }
        print(f"{key}: " + "  ".join(f"{k} {v * 1e3:.1f} ms" for k, v in seconds.items())
              + f"  | jaxcalc/best {rows[key]['vs_best_symbolic']:.2f}x"
              f"  jaxcalc/np_fd {rows[key]['vs_np_fd']:.1f}x", flush=True)
    return rows


def streamed(points: int) -> dict:
    """``jaxcalc grid f2 --order 1 --reduce max`` over ``points``, in a fresh process (first, so
    its peak RSS is that of the command alone)."""
    import subprocess

    argv = [sys.executable, "-m", "jaxcalc", "grid", DEFAULT_EXPRESSIONS["f2"], "--range",
            *map(str, INTERVAL), "--points", str(points), "--order", "1", "--reduce", "max",
            "--json"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout)
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"jaxcalc grid ... --points {points:.0e} --reduce max: {result['seconds']:.2f} s, "
          f"peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
    return result


TARGETS = {"vs_best_symbolic": {k: 1.0 for k in DEFAULT_EXPRESSIONS},
           "vs_np_fd": {"f1": 10, "f2": 10, "f3": 3, "f4": 10, "f5": 1.5}}


def cpu_markdown(result: dict) -> str:
    lines = [f"# CPU grid benchmark {result['date']}", "",
             f"{result['points']:,} points, float64, uniform on [0.5, 3]; medians over "
             f"interleaved rounds; result in host memory. Machine: "
             f"{result['machine']['cpu']}, {result['machine']['cpu_count']} cores; "
             f"jax {result['versions']['jax']}.", "",
             "| f | jaxcalc ms | auto | AD ms | symbolic ms | np_sym_cse ms | numexpr ms "
             "| np_fd ms | jaxcalc / best(np_sym_cse, numexpr) | jaxcalc / np_fd |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, row in result["functions"].items():
        s = {k: v * 1e3 for k, v in row["seconds"].items()}
        ok1 = row["vs_best_symbolic"] >= TARGETS["vs_best_symbolic"][key]
        ok2 = row["vs_np_fd"] >= TARGETS["vs_np_fd"][key]
        lines.append(
            f"| {key} | {s['jaxcalc']:.1f} | {row['auto_picks']} | {s['jaxcalc_ad']:.1f} | "
            f"{s['jaxcalc_symbolic']:.1f} | {s['np_sym_cse']:.1f} | {s['numexpr']:.1f} | "
            f"{s['np_fd']:.1f} | {row['vs_best_symbolic']:.2f}x {'ok' if ok1 else 'MISS'} "
            f"(>= {TARGETS['vs_best_symbolic'][key]}) | {row['vs_np_fd']:.1f}x "
            f"{'ok' if ok2 else 'MISS'} (>= {TARGETS['vs_np_fd'][key]}) |")
    st = result.get("streamed")
    if st:
        lines += ["", f"`jaxcalc grid \"{st['expression']}\" --range 0.5 3 --points "
                  f"{st['points']:.0e} --order 1 --reduce max`: {st['seconds']:.2f} s, "
                  f"{st['points_per_second'] / 1e6:.0f} Mpts/s, value {st['value']}, peak RSS "
                  f"{st['peak_rss_bytes'] / 2**20:.0f} MiB (the command's process)."]
    return "\n".join(lines) + "\n"


# -- the device check ---------------------------------------------------------------------------

def _best_seconds(call, repeats: int = 5) -> float:
    call()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t)
    return min(ts)


def copy_bandwidth(n: int, dtype) -> float:
    """Bytes/s of a jitted copy (read + write) of ``n`` values on the default device."""
    x = jnp.ones(n, dtype)
    copy = jax.jit(jnp.copy)
    seconds = _best_seconds(lambda: copy(x).block_until_ready())
    return 2 * n * np.dtype(dtype).itemsize / seconds


def device_check(quick: bool) -> dict:
    gpu = not quick
    checks = []
    sizes = {"float32": 10**9, "float64": 5 * 10**8} if gpu else {"float32": 10**6,
                                                                    "float64": 10**6}
    for dtype, n in sizes.items():
        with jax.enable_x64(dtype == "float64"):
            roof = copy_bandwidth(n, dtype)
            xs = jax.device_put(jnp.linspace(*INTERVAL, n, dtype=dtype))
            for key in ("f1", "f2"):
                for method in ("ad", "symbolic"):
                    d = jc.derivative(DEFAULT_EXPRESSIONS[key], method=method)
                    seconds = _best_seconds(lambda d=d, xs=xs: d(xs).block_until_ready())
                    rate = 2 * n * np.dtype(dtype).itemsize / seconds
                    checks.append({"function": key, "method": method, "dtype": dtype, "points": n,
                                   "seconds": seconds, "bytes_per_second": rate,
                                   "copy_bytes_per_second": roof, "share_of_copy": rate / roof})
                    print(f"{key} {method} {dtype} n={n:.0e}: {seconds * 1e3:.2f} ms, "
                          f"{rate / 1e9:.0f} GB/s = {100 * rate / roof:.1f}% of copy "
                          f"({roof / 1e9:.0f} GB/s)", flush=True)
            del xs
    stats = jax.devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit", 2**30)
    n = int(1.25 * limit / 4) if gpu else 10**7
    d = jc.derivative(DEFAULT_EXPRESSIONS["f2"])
    t = time.perf_counter()
    r = jc._evaluate.run(d, jc.linspace(*INTERVAL, n), reduce="max", dtype="float32")
    seconds = time.perf_counter() - t
    stream = {"points": n, "device_memory_bytes": limit, "grid_bytes_float32": 4 * n,
              "value": float(r.value), "seconds": seconds, "points_per_second": n / seconds,
              "devices": r.devices}
    print(f"streamed max of f2' over {n:.3g} float32 points ({4 * n / 2**30:.0f} GiB as an "
          f"array, device memory {limit / 2**30:.0f} GiB): {seconds:.2f} s, "
          f"{n / seconds / 1e9:.1f} Gpts/s, value {float(r.value):.6f}", flush=True)
    return {"copy_and_derivatives": checks, "streamed": stream}


def device_markdown(result: dict) -> str:
    lines = [f"# Grid device check {result['date']} on {result['machine']['device']}", "",
             "| f | method | dtype | points | ms | GB/s | % of copy |",
             "|---|---|---|---|---|---|---|"]
    for c in result["check"]["copy_and_derivatives"]:
        lines.append(f"| {c['function']} | {c['method']} | {c['dtype']} | {c['points']:.0e} | "
                     f"{c['seconds'] * 1e3:.2f} | {c['bytes_per_second'] / 1e9:.0f} | "
                     f"{100 * c['share_of_copy']:.1f}% |")
    s = result["check"]["streamed"]
    lines += ["", f"Streamed reduction over {s['points']:.3g} float32 points "
              f"({s['grid_bytes_float32'] / 2**30:.0f} GiB if materialized; device memory "
              f"{s['device_memory_bytes'] / 2**30:.0f} GiB): {s['seconds']:.2f} s, "
              f"{s['points_per_second'] / 1e9:.1f} Gpts/s."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device-check", action="store_true")
    parser.add_argument("--out", default=None, help="folder for the JSON and Markdown results")
    parser.add_argument("--points", type=float, default=1e7)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-seconds", type=float, default=20.0,
                        help="stop adding rounds for a function after this long (>= 3 rounds)")
    parser.add_argument("--streamed-points", type=float, default=1e9,
                        help="points for the streamed `jaxcalc grid` run (0: skip)")
    args = parser.parse_args(argv)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    result = {"date": date, "machine": machine_info(), "versions": versions()}
    if args.device_check:
        out = Path(args.out or os.environ.get("OUT") or "bench/results")
        quick = jax.default_backend() == "cpu"
        result["check"] = device_check(quick)
        kind = "cpu-dry-run" if quick else result["machine"]["device"].replace(" ", "-")
        stem, text = f"grid-device-{kind}-{date}", device_markdown(result)
    else:
        out = Path(args.out or Path(__file__).parent / "results")
        if args.streamed_points:
            result["streamed"] = streamed(int(args.streamed_points))
        result.update(points=int(args.points), dtype="float64",
                      functions=cpu_benchmark(int(args.points), args.repeats, args.max_seconds))
        stem, text = f"cpu-grid-{date}", cpu_markdown(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(text)
    print(text)
    print(f"wrote {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
