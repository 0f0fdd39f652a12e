"""``python -m benchmarks [--scale small|large] [--repeat N] [--only SECTION ...] [--out docs/benchmarks.md]``

Builds its data at the chosen scale, starts what it compares against (PostgreSQL 15, on loopback, torn
down afterwards), measures every section with its reference interleaved in one run, and writes the
report (``docs/benchmarks.md``), its plots and the raw results (``docs/benchmarks/``).

Sections, in order: rewrite (TPC-H/TPC-DS rewrite cost against sqlglot), execution (TPC-H/TPC-DS
through the engine against the raw query), kinds (overhead per protection kind), hash (the keyed hash
over the large table against the hash alone), frontdoor (rows/s, pgbench TPS and streaming memory
against PostgreSQL 15 and DuckDB in process). ``--only`` runs some and keeps the others' last results.

``python -m benchmarks soak [--clients 20] [--minutes 10] [--format table|json]`` is apart: the front door
under mixed load, then idle; it fails on any error or memory not given back (benchmarks/soak.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from benchmarks import common, report
from benchmarks.common import SCALES, Steps, load_average

SECTIONS = ("rewrite", "execution", "kinds", "hash", "frontdoor")


class LoadWatch:
    """The one-minute load average every few seconds while the run lasts."""

    def __init__(self, every: float = 5.0):
        self.samples = [load_average()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(every,), daemon=True)
        self._thread.start()

    def _watch(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(load_average())

    def snapshot(self) -> dict[str, float]:
        samples = self.samples + [load_average()]
        return {"before": samples[0], "median": statistics.median(samples), "max": max(samples),
                "after": samples[-1]}

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self.samples.append(load_average())
        return self.snapshot()


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="large",
                        help="large (default): the targets' sizes; small: seconds, for the smoke test")
    parser.add_argument("--repeat", type=int, default=None,
                        help="rounds per comparison (medians reported); default 5 at large, 1 at small")
    parser.add_argument("--only", action="append", choices=SECTIONS, default=None, metavar="SECTION",
                        help=f"run this section (repeatable; one of {', '.join(SECTIONS)}); the others keep "
                             "their results from the last run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="where to write the report")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: write the report and plots again from the saved results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["soak"]:  # the front door under mixed load, then idle: errors and memory given back
        from benchmarks import soak

        return soak.main(given[1:])
    args = parse(argv)
    scale = SCALES[args.scale]
    repeat = args.repeat or (1 if scale.name == "small" else 5)
    chosen = [name for name in SECTIONS if name in (args.only or SECTIONS)]
    command = "python -m benchmarks" + ("".join(" " + shlex.quote(a) for a in argv) if argv is not None
                                        else "".join(" " + shlex.quote(a) for a in sys.argv[1:]))
    assets = args.out.parent / args.out.stem
    saved = assets / "results.json"
    if args.render:
        write(json.loads(saved.read_text()), args.out)
        print(f"wrote {args.out} from {saved}")
        return 0
    results: dict[str, Any] = {"sections": {}}
    if args.only and saved.exists():
        results = json.loads(saved.read_text())
    console = Console(stderr=True)
    begun, started_at = time.perf_counter(), dt.datetime.now().isoformat(timespec="seconds")
    load = LoadWatch()
    failures: list[str] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}", style="bold"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[what]}", style="dim"))
    with Progress(*columns, console=console) as progress, tempfile.TemporaryDirectory(prefix="pe-bench-") as scratch:
        folder = Path(scratch)
        overall = progress.add_task("benchmarks", total=len(chosen), what="")

        def steps_for(name: str) -> Steps:
            task = progress.add_task(f"  {name}", total=None, what="")

            def update(done: int, total: int | None, what: str | None) -> None:
                progress.update(task, completed=done, total=total, **({"what": what} if what else {}))

            return Steps(update)

        shared: dict[str, Any] = {"chosen": chosen}
        for name in chosen:
            steps = steps_for(name)
            load_before, section_begun = load_average(), time.perf_counter()
            try:
                result = RUNNERS[name](scale, repeat, steps, folder, shared)
            except Exception as error:  # noqa: BLE001 - the other sections still run; this one keeps its old result
                failures.append(f"{name}: {type(error).__name__}: {error}")
                console.print(f"[red]{name} failed[/red]: {type(error).__name__}: {error}")
                console.print(traceback.format_exc(), markup=False, highlight=False)
                progress.advance(overall)
                continue
            if result is None:
                from benchmarks import tpcworld

                console.print(f"{name}: not measured: {tpcworld.available()}")
                progress.advance(overall)
                continue
            body, summary = result
            results["sections"][name] = {
                "meta": {"command": command, "scale": scale.name, "repeat": repeat, "started": started_at,
                         "seconds": time.perf_counter() - section_begun, "load_before": load_before,
                         "load_after": load_average()},
                "result": body, "summary": summary}
            progress.advance(overall)
            console.print(f"{name}: done in {time.perf_counter() - section_begun:.0f} s")
            # what is measured so far is saved at once: a failure or an interruption later loses none of it
            results["meta"] = meta(command, scale.name, repeat, started_at, begun, load.snapshot(), chosen)
            write(results, args.out, plots=False)
        for world in shared.get("tpc", []):
            world.close()
        for key in ("synthetic",):
            if key in shared:
                shared[key].close()
    results["meta"] = meta(command, scale.name, repeat, started_at, begun, load.stop(), chosen)
    write(results, args.out)
    for row in report.summary_rows(results):
        print(f"{row[0]}: {row[3]} -> target {row[2]}: met {row[4].strip('*')}")
    print(f"wrote {args.out}")
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def meta(command: str, scale: str, repeat: int, started: str, begun: float, load: dict[str, float],
         chosen: list[str]) -> dict[str, Any]:
    return {"command": command, "scale": scale, "repeat": repeat, "started": started,
            "seconds": time.perf_counter() - begun, "load": load, "machine": common.machine(), "sections": chosen}


def write(results: dict[str, Any], out: Path, *, plots: bool = True) -> None:
    assets = out.parent / out.stem
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    drawn, why = report.plots(results, assets, out.parent) if plots else ({}, None)
    kept = None
    if out.exists():
        text = out.read_text()
        if report.KEPT_SECTION in text:
            rest = text.split(report.KEPT_SECTION, 1)[1]
            kept = report.KEPT_SECTION + rest.split("\n## ", 1)[0]
    page = report.markdown(results, drawn, kept)
    if why:
        page += f"\n({why}.)\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)


# --- the sections ----------------------------------------------------------------------------------------

def _tpc(scale: common.Scale, steps: Steps, folder: Path, shared: dict[str, Any], copies: int) -> list[Any] | None:
    """The TPC worlds, built once per run (at ``copies``; the execution section's size serves both); None
    when the shared data is not here."""
    from benchmarks import tpcworld

    if "tpc" not in shared:
        reason = tpcworld.available()
        if reason:
            return None
        worlds = []
        for name in scale.tpc_sets:
            steps.note(f"building {name} ({copies} copies)")
            target = folder / f"tpc-{name}"
            target.mkdir()
            worlds.append(tpcworld.build(name, target, copies, scale.tpc_limit))
        shared["tpc"] = worlds
    return shared["tpc"]


def run_rewrite(scale, repeat, steps, folder, shared):
    from benchmarks import rewrite

    # the rewrite does not depend on the data's size: the execution section's data serves, if it runs too
    copies = scale.tpc_copies if "execution" in shared["chosen"] else 1
    worlds = _tpc(scale, steps, folder, shared, copies)
    if worlds is None:
        return None
    steps.set_total(sum(len(w.queries) for w in worlds))
    body = rewrite.run(worlds, max(repeat, 5) if scale.name != "small" else repeat, steps)
    return body, rewrite.summary(body)


def run_execution(scale, repeat, steps, folder, shared):
    from benchmarks import execution

    worlds = _tpc(scale, steps, folder, shared, scale.tpc_copies)
    if worlds is None:
        return None
    steps.set_total(sum(len(w.queries) for w in worlds))
    body = execution.run_tpc(worlds, repeat, steps)
    body["copies"] = scale.tpc_copies
    body["table_rows"] = {w.name: w.rows for w in worlds}
    return body, execution.summary_tpc(body)


def _synthetic(scale, steps, folder, shared, hash_rows):
    from benchmarks import execution

    if "synthetic" not in shared:
        steps.note(f"building the synthetic tables ({scale.kinds_rows:,} and {hash_rows:,} rows)")
        target = folder / "synthetic"
        target.mkdir()
        shared["synthetic"] = execution.Synthetic(target, scale.kinds_rows, hash_rows)
    return shared["synthetic"]


def run_kinds(scale, repeat, steps, folder, shared):
    from benchmarks import data, execution

    steps.set_total(len(data.KINDS) + 1)
    world = _synthetic(scale, steps, folder, shared, scale.hash_rows)
    body = execution.run_kinds(world, repeat, scale.budget_seconds, steps)
    return body, {}


def run_hash(scale, repeat, steps, folder, shared):
    from benchmarks import execution

    steps.set_total(2)
    world = _synthetic(scale, steps, folder, shared, scale.hash_rows)
    body = execution.run_hash(world, repeat, scale.budget_seconds * 2, steps)
    return body, {}


def run_frontdoor(scale, repeat, steps, folder, shared):
    from benchmarks import frontdoor

    # the TPC and synthetic engines are done with: free their memory before PostgreSQL and the server
    for world in shared.pop("tpc", []):
        world.close()
    if "synthetic" in shared:
        shared.pop("synthetic").close()
    body = frontdoor.run(scale, repeat, steps)
    return body, frontdoor.summary(body)


RUNNERS: dict[str, Callable[..., Any]] = {
    "rewrite": run_rewrite, "execution": run_execution, "kinds": run_kinds, "hash": run_hash,
    "frontdoor": run_frontdoor,
}


if __name__ == "__main__":
    raise SystemExit(main())
