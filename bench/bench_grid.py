"""The grids issue's benchmark: plain calls at 10^7 points, streamed reductions, and a device check.

CPU (default)::

    python3 bench/bench_grid.py [--points 1e7] [--repeat-seconds 3] [--out bench/results]

runs the harness of ``jaxcalc bench`` (``jaxcalc._tools.bench.run_benchmark``: same contestants,
interleaved timing, roof, 50-digit error check, report) on f1..f5 at one size, float64, with
``jc.derivative(f)(xs)`` (and its AD / symbolic paths) against NumPy evaluating SymPy's
derivative (``lambdify(cse=True)``), numexpr evaluating it, and NumPy central differences
(``jaxcalc.fd.difference``), then prints the grids issue's ratios and targets. First, in a fresh
process, ``jaxcalc grid`` streams a max over 10^9 lazy points (time and the process's peak RSS).
Writes ``cpu-grid-<date>.json`` (``{"report": <jaxcalc bench JSON>, "ratios", "targets",
"streamed"}``) and ``.md`` into ``--out``.

Accelerator (``--device-check``; ``--out`` defaults to ``$OUT``)::

    python3 bench/bench_grid.py --device-check --out DIR

measures the device copy bandwidth (the harness's copy kernel on a large array), f' of f1/f2 over
10^9 float32 and 5*10^8 float64 points as a share of it, and a streamed reduction over a lazy
grid larger than device memory. On a CPU it runs the same steps at small sizes (a dry run). About
a minute on an H100/H200. Writes ``grid-device-<kind>-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import jaxcalc as jc  # noqa: E402
from jaxcalc._tools.bench import GRID_FUNCTIONS, run_benchmark  # noqa: E402
from jaxcalc._tools.bench_measure import INTERVAL, measure_roof, time_interleaved  # noqa: E402
from jaxcalc._tools.bench_report import machine_info, versions  # noqa: E402

METHODS = ("jaxcalc", "jaxcalc_ad", "jaxcalc_symbolic", "numpy_symbolic", "numexpr", "numpy_fd")
TARGETS = {"vs_best_symbolic": {k: 1.0 for k in GRID_FUNCTIONS},
           "vs_np_fd": {"f1": 10, "f2": 10, "f3": 3, "f4": 10, "f5": 1.5}}


def ratios(report) -> dict:
    """Per function, jaxcalc's speedups over the peers (their seconds over its seconds)."""
    seconds = {(r.expression, r.method): r.seconds for r in report.results}
    rows = {}
    for key in report.expressions:
        s = {m: seconds[key, m] for m in METHODS if (key, m) in seconds}
        best = min(s["numpy_symbolic"], s["numexpr"])
        rows[key] = {"vs_best_symbolic": best / s["jaxcalc"],
                     "vs_np_fd": s["numpy_fd"] / s["jaxcalc"], "ad_vs_best": best / s["jaxcalc_ad"],
                     "symbolic_vs_best": best / s["jaxcalc_symbolic"]}
        print(f"{key}: jaxcalc/best {rows[key]['vs_best_symbolic']:.2f}x  "
              f"jaxcalc/np_fd {rows[key]['vs_np_fd']:.1f}x", flush=True)
    return rows


def streamed(points: int) -> dict:
    """``jaxcalc grid f2 --order 1 --reduce max`` over ``points``, in a fresh process (first, so
    its peak RSS is that of the command alone)."""
    import subprocess

    argv = [sys.executable, "-m", "jaxcalc", "grid", GRID_FUNCTIONS["f2"], "--range",
            *map(str, INTERVAL), "--points", str(points), "--order", "1", "--reduce", "max",
            "--json"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout)
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"jaxcalc grid ... --points {points:.0e} --reduce max: {result['seconds']:.2f} s, "
          f"peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
    return result


def cpu_markdown(result: dict, report) -> str:
    lines = [report.markdown(), "## The grids issue's targets", "",
             "| f | jaxcalc / best(numpy_symbolic, numexpr) | jaxcalc / numpy_fd | AD / best | "
             "symbolic / best |", "|---|---|---|---|---|"]
    for key, row in result["ratios"].items():
        ok1 = row["vs_best_symbolic"] >= TARGETS["vs_best_symbolic"][key]
        ok2 = row["vs_np_fd"] >= TARGETS["vs_np_fd"][key]
        lines.append(
            f"| {key} | {row['vs_best_symbolic']:.2f}x {'ok' if ok1 else 'MISS'} "
            f"(>= {TARGETS['vs_best_symbolic'][key]}) | {row['vs_np_fd']:.1f}x "
            f"{'ok' if ok2 else 'MISS'} (>= {TARGETS['vs_np_fd'][key]}) | "
            f"{row['ad_vs_best']:.2f}x | {row['symbolic_vs_best']:.2f}x |")
    st = result.get("streamed")
    if st:
        lines += ["", f"`jaxcalc grid \"{st['expression']}\" --range 0.5 3 --points "
                  f"{st['points']:.0e} --order 1 --reduce max`: {st['seconds']:.2f} s, "
                  f"{st['points_per_second'] / 1e6:.0f} Mpts/s, value {st['value']}, peak RSS "
                  f"{st['peak_rss_bytes'] / 2**20:.0f} MiB (the command's process)."]
    return "\n".join(lines) + "\n"


# -- the device check ---------------------------------------------------------------------------

def _best_seconds(call, repeats: int = 5) -> float:
    """The best of ``repeats`` calls after a warm-up (the harness's timer)."""
    return time_interleaved({"call": call}, repeat_seconds=0, min_repeats=repeats)["call"].best


def device_check(quick: bool) -> dict:
    gpu = not quick
    checks = []
    sizes = {"float32": 10**9, "float64": 5 * 10**8} if gpu else {"float32": 10**6,
                                                                    "float64": 10**6}
    for dtype, n in sizes.items():
        with jax.enable_x64(dtype == "float64"):
            nbytes = n * np.dtype(dtype).itemsize
            roof = measure_roof(nbytes, repeats=5)[0] * 1e9  # the harness's copy kernel
            xs = jax.device_put(jnp.linspace(*INTERVAL, n, dtype=dtype))
            for key in ("f1", "f2"):
                for method in ("ad", "symbolic"):
                    d = jc.derivative(GRID_FUNCTIONS[key], method=method)
                    seconds = _best_seconds(lambda d=d, xs=xs: d(xs).block_until_ready())
                    rate = 2 * nbytes / seconds
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
    d = jc.derivative(GRID_FUNCTIONS["f2"])
    t = time.perf_counter()
    value = float(jc.evaluate(d, jc.linspace(*INTERVAL, n), reduce="max", dtype="float32"))
    seconds = time.perf_counter() - t
    stream = {"points": n, "device_memory_bytes": limit, "grid_bytes_float32": 4 * n,
              "value": value, "seconds": seconds, "points_per_second": n / seconds,
              "devices": jax.device_count()}
    print(f"streamed max of f2' over {n:.3g} float32 points ({4 * n / 2**30:.0f} GiB as an "
          f"array, device memory {limit / 2**30:.0f} GiB): {seconds:.2f} s, "
          f"{n / seconds / 1e9:.1f} Gpts/s, value {value:.6f}", flush=True)
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
    parser.add_argument("--repeat-seconds", type=float, default=3.0,
                        help="time each contestant's calls take per function (>= 3 calls, or "
                             "1-2 calls of over a second)")
    parser.add_argument("--streamed-points", type=float, default=1e9,
                        help="points for the streamed `jaxcalc grid` run (0: skip)")
    args = parser.parse_args(argv)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    result = {"date": date}
    if args.device_check:
        result.update(machine=machine_info(), versions=versions())
        out = Path(args.out or os.environ.get("OUT") or "bench/results")
        quick = jax.default_backend() == "cpu"
        result["check"] = device_check(quick)
        kind = "cpu-dry-run" if quick else result["machine"]["device"].replace(" ", "-")
        stem, text = f"grid-device-{kind}-{date}", device_markdown(result)
    else:
        out = Path(args.out or Path(__file__).parent / "results")
        if args.streamed_points:
            result["streamed"] = streamed(int(args.streamed_points))
        report = run_benchmark(GRID_FUNCTIONS, sizes=(int(args.points),), methods=METHODS,
                               repeat_seconds=args.repeat_seconds, max_call_seconds=60,
                               progress=True)
        result.update(report=report.to_json(), ratios=ratios(report), targets=TARGETS)
        stem, text = f"cpu-grid-{date}", cpu_markdown(result, report)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(text)
    print(text)
    print(f"wrote {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
