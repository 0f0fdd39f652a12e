"""``policyengine fuzz``: generated queries, mutated wire sessions and mutated policy sets, against oracles.

The short run is what the test suite does; ``--long`` is the thorough one (10,000 queries, 5,000
wire sessions, 5,000 policy mutations). Every failure is printed with its seed and index, and
``--reproduce SEED:INDEX`` prints the generated query again. ``--only postgres`` is the differential fuzzer
(policyengine/fuzz/postgres.py): generated statements on the front door and on a real PostgreSQL 15,
whose answers must agree exactly; it runs only when asked for, since it needs PostgreSQL 15 (``--postgres DSN``
or a throwaway cluster started from a clone).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit
from policyengine.cli.output import Format, lines, render, stderr, write_json


class Fuzzer(str, Enum):
    queries = "queries"
    protocol = "protocol"
    policies = "policies"
    postgres = "postgres"


SHORT = {Fuzzer.queries: 300, Fuzzer.protocol: 300, Fuzzer.policies: 300, Fuzzer.postgres: 300}
LONG = {Fuzzer.queries: 10_000, Fuzzer.protocol: 5_000, Fuzzer.policies: 5_000, Fuzzer.postgres: 5_000}
#: what runs without --only: the bypass hunters; the PostgreSQL differential needs a PostgreSQL 15, so it is asked for
DEFAULT = [Fuzzer.queries, Fuzzer.protocol, Fuzzer.policies]


@app.command()
def fuzz(
    long: Annotated[bool, typer.Option("--long", help="The thorough run: 10,000 queries, 5,000 sessions, "
                                                      "5,000 policy mutations.")] = False,
    only: Annotated[list[Fuzzer] | None, typer.Option("--only", help="Run only this fuzzer (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: a random one, printed).")] = None,
    count: Annotated[int | None, typer.Option("--count", "-n", help="Cases per fuzzer (overrides --long).")] = None,
    reproduce: Annotated[str | None, typer.Option(
        "--reproduce", help="SEED:INDEX: print that generated query and exit.")] = None,
    statements: Annotated[int | None, typer.Option(
        "--statements", help="Statements of the postgres fuzzer (the same as --count for it).")] = None,
    postgres: Annotated[str | None, typer.Option(
        "--postgres", envvar="POLICYENGINE_FUZZ_POSTGRES",
        help="The postgres fuzzer's PostgreSQL 15: a connection string to a database it may create the demo "
             "tables in (default: a throwaway cluster, from a clone with PostgreSQL 15 installed).")] = None,
    fmt: FormatOption = Format.table,
) -> int:
    """Look for bypasses with generated queries (three oracles), protocol mutations and policy mutations;
    with --only postgres, compare generated statements on the front door and on a real PostgreSQL 15."""
    from policyengine.cli import state

    policies = Path(state.policies)
    if reproduce is not None:
        from policyengine.fuzz.run import reproduce as generate

        try:
            run_seed, index = (int(part) for part in reproduce.split(":"))
        except ValueError:
            lines(["error: --reproduce takes SEED:INDEX, e.g. 42:1234"], err=True)
            raise typer.Exit(EXIT_INVALID) from None
        if only == [Fuzzer.postgres]:
            from policyengine.fuzz.postgres import reproduce as generate_statement

            print(generate_statement(run_seed, index))
            return EXIT_OK
        load_or_exit(fmt)
        print(generate(run_seed, index, policies))
        return EXIT_OK
    load_or_exit(fmt)
    seed = seed if seed is not None else secrets.randbelow(1_000_000)
    chosen = only or DEFAULT
    sizes = LONG if long else SHORT
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    differences: list[dict[str, Any]] = []
    stderr.print(f"seed {seed}", highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True) as progress:
        for fuzzer in chosen:
            n = count if count is not None else sizes[fuzzer]
            if fuzzer is Fuzzer.postgres and statements is not None:
                n = statements
            task = progress.add_task(fuzzer.value, total=n)

            def step(done: int, total: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=total)

            try:
                report = (_postgres(n, seed, policies, step, postgres) if fuzzer is Fuzzer.postgres
                          else _RUNNERS[fuzzer](n, seed, policies, step))
            except RuntimeError as error:  # the postgres fuzzer without a PostgreSQL 15 or psycopg
                lines([f"error: {fuzzer.value}: {error}"], err=True)
                raise typer.Exit(EXIT_INVALID) from None
            if fuzzer is Fuzzer.postgres:
                differences += [difference.as_dict() for difference in report.failures]
            summary = report.summary()
            rows.append({"fuzzer": fuzzer.value, "cases": n, "failures": len(report.failures),
                         "details": ", ".join(f"{k}={v}" for k, v in summary.items()
                                              if k not in ("seed", "failures"))})
            failures += [f"{fuzzer.value}: {failure}" for failure in report.failures]
    if fmt is Format.json:
        write_json({"seed": seed, "runs": rows, "failures": failures,
                    **({"differences": differences} if Fuzzer.postgres in chosen else {})})
    else:
        render(rows, ["fuzzer", "cases", "failures", "details"], fmt, title=f"seed {seed}")
        if fmt is Format.table:
            lines(failures, err=True)
    return EXIT_INVALID if failures else EXIT_OK


def _queries(n: int, seed: int, policies: Path, step: Callable[[int, int], None]) -> Any:
    from policyengine.fuzz.run import run

    return run(n, seed, policies=policies, progress=step)


def _protocol(n: int, seed: int, policies: Path, step: Callable[[int, int], None]) -> Any:
    from policyengine.fuzz.protocol import run

    return run(n, seed, progress=step, policies=policies)


def _policies(n: int, seed: int, policies: Path, step: Callable[[int, int], None]) -> Any:
    from policyengine.fuzz.policies import run

    return run(n, seed, policies=policies, progress=step)


def _postgres(n: int, seed: int, policies: Path, step: Callable[[int, int], None], postgres: str | None) -> Any:
    from policyengine.fuzz.postgres import run

    return run(n, seed, policies=policies, postgres=postgres, progress=step)


_RUNNERS = {Fuzzer.queries: _queries, Fuzzer.protocol: _protocol, Fuzzer.policies: _policies}
