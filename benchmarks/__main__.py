"""``python -m benchmarks [--repeat N] [--frontdoor | --only NAME] [--out docs/benchmarks.md]``: run and
publish the benchmarks.

The rewrite benchmark runs by default; ``--frontdoor`` adds the front door against a PostgreSQL 15 started
for the run (Debian's ``postgresql`` package), ``--only frontdoor`` runs that one alone. A section that
was not run this time is kept as it stands in the existing report, with the command that produced it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rich.progress import Progress

from benchmarks import frontdoor, rewrite

#: benchmark -> the start of its section heading in the report, in report order
SECTIONS = {"rewrite": "## Rewrite cost", "frontdoor": "## Front door"}


def sections(text: str) -> dict[str, str]:
    """The report's sections by benchmark name, each from its ``## `` heading to the next one."""
    out: dict[str, str] = {}
    chunks = text.split("\n## ")
    for chunk in chunks[1:]:
        body = "## " + chunk.rstrip("\n") + "\n"
        for name, heading in SECTIONS.items():
            if body.startswith(heading):
                out[name] = body
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N queries of each benchmark")
    parser.add_argument("--frontdoor", action="store_true",
                        help="also run the front door against PostgreSQL 15 (rows/s and pgbench TPS)")
    parser.add_argument("--only", choices=sorted(SECTIONS), default=None, help="run this benchmark alone")
    parser.add_argument("--frontdoor-rows", type=int, default=200_000, help="rows of the front door's table")
    parser.add_argument("--pgbench-seconds", type=int, default=5, help="seconds of each pgbench run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="where to write the report")
    args = parser.parse_args(argv)
    chosen = [args.only] if args.only else ["rewrite"] + (["frontdoor"] if args.frontdoor else [])
    command = ("python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    report = sections(args.out.read_text()) if args.out.exists() else {}
    summaries: dict[str, dict[str, float]] = {}
    failed = ""
    with Progress(transient=True) as progress:
        def stepper(description: str) -> Callable[[int, int], None]:
            task = progress.add_task(description, total=None)

            def step(index: int, total: int) -> None:
                progress.update(task, total=total, completed=index)

            return step

        if "rewrite" in chosen:
            rows = rewrite.run(repeat=args.repeat, limit=args.limit, progress=stepper("rewrite + execution"))
            report["rewrite"] = rewrite.markdown(rows, command)
            summaries["rewrite"] = rewrite.summary(rows)
        if "frontdoor" in chosen:
            try:
                results = frontdoor.run(repeat=args.repeat, progress=stepper("front door vs PostgreSQL 15"),
                                        rows=args.frontdoor_rows, seconds=args.pgbench_seconds)
            except Exception as error:  # noqa: BLE001 - the other sections are still written; the old one stays
                failed = f"front door: failed, its section left as it was: {type(error).__name__}: {error}"
            else:
                report["frontdoor"] = frontdoor.markdown(results, command)
                summaries["frontdoor"] = frontdoor.summary(results)
                if "missing" in results:
                    print(f"front door: not measured: {results['missing']}")
    text = "# Benchmarks\n\n" + "\n".join(report[name] for name in SECTIONS if name in report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    for values in summaries.values():
        for key, value in values.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print(f"wrote {args.out}")
    if failed:
        print(failed, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
