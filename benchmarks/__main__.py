"""``python -m benchmarks [--repeat N] [--out docs/benchmarks.md]``: run and publish the benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import Progress

from benchmarks import rewrite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N queries of each benchmark")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="where to write the report")
    args = parser.parse_args(argv)
    with Progress(transient=True) as progress:
        task = progress.add_task("rewrite + execution", total=None)

        def step(index: int, total: int) -> None:
            progress.update(task, total=total, completed=index)

        rows = rewrite.run(repeat=args.repeat, limit=args.limit, progress=step)
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    report = "# Benchmarks\n\n" + rewrite.markdown(rows, command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    for key, value in rewrite.summary(rows).items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
