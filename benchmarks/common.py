"""What every section shares: the scales, interleaved timing, medians and spreads, progress."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: a benchmark key, the same for every run and never a secret (the engine needs one for hash, tokenize, encrypt)
KEY_HEX = "62656e63686d61726b206b6579202121"


@dataclass(frozen=True)
class Scale:
    """How big each section's data is. ``large`` is what the targets are about; ``small`` only shows
    that the code runs (the test suite's smoke test)."""

    name: str
    #: TPC-H / TPC-DS: copies of the shared data set's entities (customers, orders, items, sales...)
    tpc_copies: int
    #: TPC-H / TPC-DS: the first N queries of each, or all
    tpc_limit: int | None
    #: TPC-H / TPC-DS: which of the two
    tpc_sets: tuple[str, ...]
    #: rows of the synthetic table with one column per protection kind
    kinds_rows: int
    #: rows of the synthetic table whose keyed hash is the full-scan worst case
    hash_rows: int
    #: rows (6 columns) of the table the front door and PostgreSQL both serve whole
    fetch_rows: int
    #: users of the demo database behind that table
    users: int
    #: rows streamed through a server-side cursor while the front door's memory is watched
    stream_rows: int
    #: seconds of each in-process DuckDB rate, and of each pgbench run (whole seconds, at least 1)
    pgbench_seconds: float
    #: a comparison stops adding rounds once it has spent this long (at least 3 rounds, or --repeat if fewer)
    budget_seconds: float


SCALES = {
    "small": Scale("small", tpc_copies=1, tpc_limit=2, tpc_sets=("tpch", "tpcds"), kinds_rows=5_000,
                   hash_rows=20_000, fetch_rows=2_000, users=200, stream_rows=50_000, pgbench_seconds=0.3,
                   budget_seconds=5),
    "large": Scale("large", tpc_copies=100, tpc_limit=None, tpc_sets=("tpch", "tpcds"), kinds_rows=1_000_000,
                   hash_rows=10_000_000, fetch_rows=1_000_000, users=5_000, stream_rows=10_000_000,
                   pgbench_seconds=10, budget_seconds=120),
}


# --- statistics ------------------------------------------------------------------------------------

def stat(values: Iterable[float]) -> dict[str, float]:
    """Median, quartiles and extremes of ``values`` (``n`` of them); NaN-free input expected."""
    data = sorted(values)
    if not data:
        nan = float("nan")
        return {"median": nan, "q1": nan, "q3": nan, "min": nan, "max": nan, "n": 0}
    if len(data) >= 2:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    else:
        q1 = q3 = data[0]
    return {"median": statistics.median(data), "q1": q1, "q3": q3, "min": data[0], "max": data[-1],
            "n": len(data)}


def paired(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, float]:
    """Ratios of samples taken in the same round (interleaved), summarized: the round-to-round spread of
    the ratio, not of either side alone (a busy moment of the machine slows both sides of a round)."""
    return stat(a / b for a, b in zip(numerator, denominator) if b > 0)


def spread(s: dict[str, float], digits: int = 2, *, iqr: bool = True) -> str:
    """``1.23x (IQR 1.10-1.40)`` or ``(min-max ...)``."""
    if not s or s.get("n", 0) == 0:
        return "n/a"
    if s["n"] == 1:
        return f"{s['median']:.{digits}f}x"
    low, high, label = (s["q1"], s["q3"], "IQR") if iqr else (s["min"], s["max"], "min-max")
    return f"{s['median']:.{digits}f}x ({label} {low:.{digits}f}-{high:.{digits}f})"


# --- timing ----------------------------------------------------------------------------------------

#: seconds above which a warm-up call is kept as the first sample
SLOW_WARMUP = 2.0


class Samples(dict):
    """Seconds per call by contender, wall clock (the mapping itself) and CPU time (``.cpu``)."""

    def __init__(self, names: list[str]):
        super().__init__({name: [] for name in names})
        self.cpu: dict[str, list[float]] = {name: [] for name in names}


def interleaved(contenders: dict[str, Callable[[], object]], repeat: int, *, warmup: bool = True,
                budget: float | None = None, inner: int = 1) -> Samples:
    """Seconds per call of each contender, wall clock and this process's CPU time (every thread: DuckDB's
    workers too), ``repeat`` rounds in which each runs once, the order rotated every round so none
    always goes first; each sample is the mean of ``inner`` back-to-back calls (for calls too short to
    time one by one). With ``budget`` seconds, rounds stop early once that much time has gone, after at
    least min(3, repeat) rounds.

    Why CPU time too: on a machine whose load is several times its cores, a process waits for a core
    most of the time, and wall-clock samples of the same query spread over a factor of ten; the CPU
    time the query costs hardly moves. It is what the rewrite and the execution cost, the figure an
    idle machine's wall clock would show for single-threaded work."""
    names = list(contenders)
    samples = Samples(names)

    def once(name: str) -> None:
        fn = contenders[name]
        cpu, started = time.process_time(), time.perf_counter()
        for _ in range(inner):
            fn()
        samples[name].append((time.perf_counter() - started) / inner)
        samples.cpu[name].append((time.process_time() - cpu) / inner)

    if warmup:
        # a first call that took long enough that caches and first-time costs do not matter counts as
        # the first round (a 50-second scan is not worth repeating to warm up)
        for name in names:
            once(name)
        if inner == 1 and any(values[0] >= SLOW_WARMUP for values in samples.values()):
            repeat -= 1
        else:
            for name in names:
                samples[name].clear()
                samples.cpu[name].clear()
    begun = time.perf_counter()
    for round_ in range(repeat):
        offset = round_ % len(names)
        for name in names[offset:] + names[:offset]:
            once(name)
        if budget is not None and round_ + 1 >= min(3, repeat) and time.perf_counter() - begun > budget:
            break
    return samples


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def machine() -> dict[str, Any]:
    """What the run ran on: cores, memory, load, versions."""
    import platform

    import duckdb
    import sqlglot

    memory = None
    try:
        with open("/proc/meminfo") as lines:
            for line in lines:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) // 1024
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as lines:
            for line in lines:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_mb": memory, "cpu": cpu, "python": platform.python_version(),
            "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__}


# --- progress --------------------------------------------------------------------------------------

class Steps:
    """A section's progress: ``step()`` after each unit of work, ``total`` known up front or later."""

    def __init__(self, update: Callable[[int, int | None, str | None], None] | None = None):
        self._update = update
        self.done = 0
        self.total: int | None = None

    def set_total(self, total: int) -> None:
        self.total = total
        if self._update:
            self._update(self.done, total, None)

    def step(self, what: str | None = None, count: int = 1) -> None:
        self.done += count
        if self._update:
            self._update(self.done, self.total, what)

    def note(self, what: str) -> None:
        if self._update:
            self._update(self.done, self.total, what)


def as_dict(obj: Any) -> Any:
    return asdict(obj)
