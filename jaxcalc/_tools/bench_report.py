"""What a benchmark run found, and its three views: a terminal table, JSON, a throughput plot.

The JSON schema (``BenchReport.to_json``; floats are plain, non-finite ones are null)::

    {"schema": "jaxcalc-bench/2", "created": "2026-11-26T10:00:00+00:00",
     "machine": {"platform", "machine", "cpu", "cpu_count", "python", "backend", "device",
                 "device_count", "load_average", "cache_bytes"},
     "versions": {"jaxcalc", "jax", "jaxlib", "numpy", "sympy", "mpmath", ...installed only},
     "roof_gbps": float, "roof_kernel": "numpy.copyto", "dtype": "float64",
     "expressions": {"f1": "3*x**2 + 1", ...}, "error_floors": {"f1": 0.001, ...},
     "results": [{"expression": "f1", "method": "jaxcalc_ad", "dtype": "float64", "n": 100000,
                  "seconds": float, "points_per_second": float, "compile_seconds": float,
                  "max_rel_error": float | null, "roof_fraction": float,
                  "output_dtype": "float64", "cache_resident": bool}, ...],
     "skipped": [{"expression", "method", "dtype", "n", "reason"}, ...],
     "total_seconds": float}

``expression`` in a result is a key of ``expressions`` (f1..f5 and tail for the defaults, the
text itself for the user's). See ``jaxcalc._tools.bench`` for what each number measures.
:func:`crossovers` reads off where one method overtakes the others as the grid grows.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path

from .._core.symbolic import short
from .._grid.files import atomic_write
from .bench_measure import cache_bytes
from .bench_methods import ERROR_FLOOR, METHODS

_PACKAGES = ("jaxcalc", "jax", "jaxlib", "numpy", "sympy", "mpmath", "numexpr", "scipy", "cupy",
             "matplotlib")
_TEXT_WIDTH = 76
_COLUMNS = ("expression", "method", "n", "seconds", "Mpts/s", "% roof", "compile s",
            "max rel err")


@dataclasses.dataclass(frozen=True)
class Result:
    """One measured cell: an expression's f' by one method at one size."""

    expression: str
    method: str
    dtype: str
    n: int
    seconds: float
    points_per_second: float
    compile_seconds: float
    max_rel_error: float
    roof_fraction: float
    output_dtype: str
    cache_resident: bool = False  # x and f' fit in the last-level cache: the roof does not apply


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A cell that was not measured, and why."""

    expression: str
    method: str
    dtype: str
    n: int
    reason: str


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Where the run happened: OS, CPU, Python, JAX backend and device, and the 1-minute
    load average as the run began (other work on the machine slows every number)."""
    import jax

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "cache_bytes": cache_bytes(),
    }


def versions() -> dict:
    """Versions of jaxcalc and the libraries it was compared with (installed ones only)."""
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "jaxcalc":
                found[name] = "0+unknown"  # running from a source tree
    return found


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _count(n: int) -> str:
    exponent = round(math.log10(n))
    return f"1e{exponent}" if 10**exponent == n else str(n)


def _short(text: str, width: int = _TEXT_WIDTH) -> str:
    return short(text, width)


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see ``_files``)."""
    with atomic_write(path, "w") as out:
        out.write(text)
    return Path(path)


@dataclasses.dataclass
class BenchReport:
    """The outcome of :func:`jaxcalc._tools.bench.run_benchmark`."""

    machine: dict
    versions: dict
    roof_gbps: float
    roof_kernel: str
    dtype: str
    expressions: dict[str, str]
    results: list[Result]
    skipped: list[Skipped]
    total_seconds: float
    error_floors: dict[str, float] = dataclasses.field(default_factory=dict)
    created: str = dataclasses.field(default_factory=lambda: datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"))

    def _order(self, row) -> tuple:
        names, methods = list(self.expressions), list(METHODS)
        return names.index(row.expression), methods.index(row.method), row.n

    def header(self) -> str:
        m = self.machine
        where = f"{m['backend']} ({m['device']})" if m["backend"] != "cpu" else "cpu"
        return (f"jaxcalc bench: {self.dtype} on {where}; {m['cpu']}, {m['cpu_count']} CPUs; "
                f"copy roof {self.roof_gbps:.1f} GB/s ({self.roof_kernel})")

    def _cells(self) -> list[list[str]]:
        """Formatted cells per row; a skipped row has 4: its reason follows ``n``."""
        rows = []
        for row in sorted([*self.results, *self.skipped], key=self._order):
            cells = [_short(row.expression, 12), row.method, _count(row.n)]
            if isinstance(row, Skipped):
                cells.append(f"skipped: {_short(row.reason, 60)}")
            else:
                roof = "in cache" if row.cache_resident else f"{100 * row.roof_fraction:.1f}%"
                cells += [f"{row.seconds:.3g}", f"{row.points_per_second / 1e6:,.1f}",
                          roof, f"{row.compile_seconds:.3f}",
                          f"{row.max_rel_error:.1e}"]
            rows.append(cells)
        return rows

    def table(self) -> str:
        """The results as a plain-text table, one row per expression, method and size."""
        rows = self._cells()
        widths = [max(len(r[i]) for r in [_COLUMNS, *rows] if i < 3 or len(r) == len(_COLUMNS))
                  for i in range(len(_COLUMNS))]

        def line(cells):  # a skipped row's reason runs on after the n column
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths, strict=False))).rstrip()

        legend = [_short(f"{name} = {text}") for name, text in self.expressions.items()
                  if name != text] + self._notes()
        return "\n".join([self.header(), "", line(_COLUMNS), *map(line, rows),
                          *([""] + legend if legend else [])])

    def _notes(self) -> list[str]:
        """What the table cannot say in its cells: other error floors, cache residency."""
        notes = [f"max rel err of {name}: floor {floor:g} * max |f'| (default {ERROR_FLOOR:g})"
                 for name, floor in self.error_floors.items() if floor != ERROR_FLOOR]
        if any(r.cache_resident for r in self.results):
            cache = self.machine.get("cache_bytes") or 0
            notes.append(f"in cache: x and f' fit in the {cache / 2**20:.0f} MiB last-level "
                         "cache; the copy roof (main memory) does not apply")
        return notes

    def markdown(self) -> str:
        """The results as a Markdown page: machine, versions, dtype, then the table."""
        m = self.machine
        rows = [[f"`{r[0]}`", *r[1:], *[""] * (len(_COLUMNS) - len(r))] for r in self._cells()]
        return "\n".join([
            f"# jaxcalc bench, {self.dtype}, {self.created[:10]}", "",
            f"- machine: {m['cpu']}, {m['cpu_count']} CPUs; {m['platform']}; load average "
            f"{m.get('load_average') or 0:.1f} at the start",
            f"- device: {m['backend']} ({m['device']}), {m['device_count']} device(s)",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in self.versions.items()),
            f"- copy roof: {self.roof_gbps:.1f} GB/s ({self.roof_kernel}); run took "
            f"{self.total_seconds:.0f} s",
            *(f"- {name}: `{_short(text)}`" for name, text in self.expressions.items()
              if name != text),
            *(f"- {note}" for note in self._notes()), "",
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + "|".join("---" if i < 2 else "---:" for i in range(len(_COLUMNS))) + "|",
            *("| " + " | ".join(r) + " |" for r in rows), "",
        ])

    @classmethod
    def from_json(cls, data: dict) -> BenchReport:
        """The report a :meth:`to_json` object describes (e.g. one read from a results file)."""
        def row(kind, fields):
            return kind(**{k: math.nan if v is None else v for k, v in fields.items()
                           if k in kind.__dataclass_fields__})

        return cls(data["machine"], data["versions"], data["roof_gbps"], data["roof_kernel"],
                   data["dtype"], data["expressions"],
                   [row(Result, r) for r in data["results"]],
                   [row(Skipped, s) for s in data["skipped"]], data["total_seconds"],
                   data.get("error_floors", {}), data["created"])

    def to_json(self) -> dict:
        """The documented JSON object (module docstring)."""
        def plain(row):
            return {k: _finite(v) if isinstance(v, float) else v
                    for k, v in dataclasses.asdict(row).items()}

        return {
            "schema": "jaxcalc-bench/2",
            "created": self.created,
            "machine": self.machine,
            "versions": self.versions,
            "roof_gbps": self.roof_gbps,
            "roof_kernel": self.roof_kernel,
            "dtype": self.dtype,
            "expressions": self.expressions,
            "error_floors": self.error_floors,
            "results": [plain(r) for r in sorted(self.results, key=self._order)],
            "skipped": [plain(s) for s in sorted(self.skipped, key=self._order)],
            "total_seconds": self.total_seconds,
        }

    def write_json(self, path) -> Path:
        """Write :meth:`to_json` to ``path`` (atomically)."""
        return write_text(path, json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n")

    def plot(self, path) -> Path:
        """Throughput against N (log-log), one panel per expression, one line per method, the
        copy roof dashed, the cache-resident sizes shaded; written to ``path`` (.png, .svg or
        .pdf) atomically."""
        from matplotlib.figure import Figure

        from .plot import output_path, save

        path = output_path(path)
        names = list(self.expressions)
        cols = min(3, len(names))
        rows = math.ceil(len(names) / cols)
        figure = Figure(figsize=(max(4.2 * cols, 8.0), 3.4 * rows + 0.6), layout="constrained")
        axes = figure.subplots(rows, cols, squeeze=False).ravel()
        itemsize = 4 if self.dtype == "float32" else 8
        roof = self.roof_gbps * 1e9 / (2 * itemsize)
        smallest = min((r.n for r in self.results), default=0)
        in_cache = max((r.n for r in self.results if r.cache_resident), default=0)
        for ax, name in zip(axes, names, strict=False):
            for i, method in enumerate(METHODS):
                mine = [r for r in sorted(self.results, key=self._order)
                        if r.expression == name and r.method == method]
                if mine:
                    ax.loglog([r.n for r in mine], [r.points_per_second for r in mine], "o-",
                              color=f"C{i}", label=method, markersize=4)
            ax.axhline(roof, color="0.5", linestyle="--", linewidth=1, label="copy roof")
            if in_cache > smallest:
                ax.axvspan(smallest, in_cache, color="0.93", zorder=0,
                           label="x and f' fit in cache (no roof)")
            ax.set_title(_short(name if name == self.expressions[name]
                                else f"{name} = {self.expressions[name]}", 40), fontsize="medium")
            ax.set_xlabel("grid points N")
            ax.set_ylabel("points / s")
            ax.grid(True, which="major", color="0.92")
        for ax in axes[len(names):]:
            ax.set_visible(False)
        seen = {}
        for ax in axes[: len(names)]:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                seen.setdefault(label, handle)
        figure.legend(seen.values(), seen.keys(), loc="outside lower center",
                      ncols=min(4, len(seen)), fontsize="small")
        figure.suptitle(_short(self.header(), 110), fontsize="small")
        return save(figure, path)


def _about(n: float, low: int, high: int) -> str:
    """``n`` in the table's style, to one significant digit (31622.8 -> "~3e4"), or two where
    one would put it on the bracket ``(low, high)`` it was interpolated in (1.4e5 -> "~1.4e5")."""
    for digits in (1, 2):
        text = f"{n:.{digits - 1}e}"
        if low < float(text) < high:
            break
    mantissa, exponent = text.split("e")
    return f"~{mantissa}e{int(exponent)}"


@dataclasses.dataclass(frozen=True)
class Crossover:
    """How ``method`` compares with ``peer`` on ``expression`` as the grid grows:
    ``speedups[i]`` is the peer's time over the method's at ``sizes[i]`` (above 1: the method
    is faster).

    Example:
        >>> c = Crossover("f", "jaxcalc", "numexpr", (10**3, 10**4, 10**5, 10**7),
        ...               (0.1, 0.5, 2.0, 4.0))
        >>> c.overtakes_at
        31623
        >>> print(c.sentence())
        f: jaxcalc overtakes numexpr at ~3e4 points (slower at 1e4, faster from 1e5; 4.0x at 1e7)
    """

    expression: str
    method: str
    peer: str
    sizes: tuple[int, ...]
    speedups: tuple[float, ...]

    @property
    def overtakes_at(self) -> int | None:
        """Where the speedup crosses 1 for good, interpolated log-log between the last size
        where the method is slower and the next; None when it is faster at every size or
        slower at the largest."""
        wins = [s > 1 for s in self.speedups]
        if all(wins) or not wins[-1]:
            return None
        i = max(k for k, won in enumerate(wins) if not won)
        (n0, n1), (s0, s1) = self.sizes[i: i + 2], self.speedups[i: i + 2]
        if s0 <= 0:  # a speedup of 0 has no logarithm: say "just below n1"
            return n1
        t = -math.log(s0) / (math.log(s1) - math.log(s0))
        return round(math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))))

    def sentence(self) -> str:
        """One line for people: where the method overtakes the peer, or that it never does."""
        last = f"{self.speedups[-1]:.1f}x at {_count(self.sizes[-1])}"
        span = f"{_count(self.sizes[0])} to {_count(self.sizes[-1])}"
        if all(s > 1 for s in self.speedups):
            text = f"{self.method} is faster than {self.peer} at every size ({span}; {last})"
        elif self.speedups[-1] <= 1:
            text = (f"{self.peer} stays faster than {self.method} up to {_count(self.sizes[-1])} "
                    f"points ({self.method} runs at {last})")
        else:
            i = max(k for k, s in enumerate(self.speedups) if s <= 1)
            about = _about(self.overtakes_at, *self.sizes[i: i + 2])
            text = (f"{self.method} overtakes {self.peer} at {about} points "
                    f"(slower at {_count(self.sizes[i])}, faster from "
                    f"{_count(self.sizes[i + 1])}; {last})")
        return f"{self.expression}: {text}"

    def to_json(self) -> dict:
        return {"expression": self.expression, "method": self.method, "peer": self.peer,
                "sizes": list(self.sizes), "speedups": [_finite(s) for s in self.speedups],
                "overtakes_at": self.overtakes_at, "sentence": self.sentence()}


def crossovers(report: BenchReport, method: str = "jaxcalc", peers=None) -> list[Crossover]:
    """Per expression and peer, how ``method`` compares as n grows (the sizes both measured).

    ``peers``: method names; default every measured method whose name does not start with
    ``jaxcalc``. Pairs with no size in common are left out.
    """
    seconds = {(r.expression, r.method, r.n): r.seconds for r in report.results}
    measured = {r.method for r in report.results}
    if peers is None:
        peers = [m for m in METHODS if m in measured and not m.startswith("jaxcalc")]
    found = []
    for expression in report.expressions:
        mine = {n: s for (e, m, n), s in seconds.items() if (e, m) == (expression, method)}
        for peer in peers:
            theirs = {n: s for (e, m, n), s in seconds.items() if (e, m) == (expression, peer)}
            sizes = sorted(set(mine) & set(theirs))
            if sizes:
                found.append(Crossover(expression, method, peer, tuple(sizes),
                                       tuple(theirs[n] / mine[n] for n in sizes)))
    return found
