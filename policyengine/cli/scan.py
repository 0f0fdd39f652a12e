"""``policyengine scan``: find personal data in a database by content and name, and check the labels."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from policyengine.backends.contract_drift import compare
from policyengine.cli import EXIT_INVALID, EXIT_OK, FormatOption, app, load_or_exit, state
from policyengine.cli.common import DEFAULT_DB, DbOption, failed
from policyengine.cli.output import Format, lines, render, stderr, stdout, write_json

COLUMNS = ["table", "column", "type", "label", "holds", "suggested", "finding", "evidence"]
STYLES = {"finding": "bold"}


@app.command("scan")
def scan_command(
    tables: Annotated[list[str] | None, typer.Argument(help="Tables to scan (default: every table).")] = None,
    db: DbOption = DEFAULT_DB,
    sample: Annotated[int, typer.Option("--sample", "-n", min=1, max=1_000_000,
                                        help="Rows sampled per table (a fixed-seed reservoir sample).")] = 1000,
    show_all: Annotated[bool, typer.Option("--all", help="List every column, not only the findings.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Write the proposed contracts of tables without one "
                                                       "into the policy set's tables/ folder.")] = False,
    fmt: FormatOption = Format.table,
) -> int:
    """Sample each column, detect personal data (content and column name), and report unclassified
    columns, columns labelled below what they hold, and a proposed contract for each new table.

    Values are never printed: only what was found, and how often. The contracts are also compared with the
    database (types that differ, tables and columns on one side only). Exit 0 whatever is found; 1 when
    the policy set is invalid, the database or a table is missing, or a proposal would not validate.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from policyengine.dlp.scan import ScanError, check_proposals, scan, write_proposals

    policy_set = load_or_exit(fmt)
    catalog, shapes = _database(db)
    _check_tables(tables or (), shapes, db)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True) as progress:
        task = progress.add_task("sampling", total=None)

        def step(table: str, done: int, total: int) -> None:
            progress.update(task, description=f"scanning {table}", completed=done, total=total)

        try:
            report = scan(db, policy_set, tables or (), sample=sample, progress=step)
        except ScanError as error:
            failed(str(error))
    drift = compare(policy_set, catalog, shapes, tables or ())
    if write and report.proposals:
        problems = check_proposals(state.policies, report.proposals)
        if problems:
            lines([f"error: the proposed contracts would not validate: {p}" for p in problems], err=True)
            raise typer.Exit(EXIT_INVALID)
        write_proposals(state.policies, report.proposals)
    shown = report.columns if show_all else report.findings()
    rows = [c.row() for c in shown]
    if fmt is Format.json:
        write_json({
            "database": report.database, "sample": report.sample,
            "columns": [c.json_row() for c in report.columns],
            "findings": [c.json_row() for c in report.findings()],  # what `policyengine report --scan` reads
            "proposals": [{"table": p.table, "file": p.file, "written": p.written, "contract": p.contract}
                          for p in report.proposals],
            # the contracts against the database: types that differ, tables and columns on one side only
            "drift": [d.as_dict() for d in drift],
        })
        return EXIT_OK
    render(rows, COLUMNS, fmt, title=_title(report, len(rows)) if fmt is Format.table else None, styles=STYLES)
    if fmt is Format.table:
        _proposals(report, write)
        _show_drift(drift)
    elif drift:
        lines((f"drift: {d}" for d in drift), err=True)
    return EXIT_OK


def _database(db: Any) -> tuple[str, dict[tuple[str, str], list[tuple[str, str]]]]:
    """The database's name and tables with their columns' types, or exit 1 when it cannot be read."""
    from policyengine.backends.contract_drift import DriftError, read_database

    try:
        return read_database(db)
    except DriftError as error:
        failed(str(error))
    raise AssertionError("not reached: failed() exits")


def _check_tables(wanted: Any, shapes: dict[tuple[str, str], Any], db: Any) -> None:
    """Exit 1 naming the database's tables when a table asked for is not one of them (matched as the scan
    matches: ``table`` or ``schema.table``, any case)."""
    names = {name.lower() for schema, table in shapes for name in (table, f"{schema}.{table}")}
    unknown = [name for name in wanted if name.strip().lower() not in names]
    if unknown:
        tables = ", ".join(table if schema == "main" else f"{schema}.{table}" for schema, table in shapes) or "none"
        failed(f"no table {', '.join(repr(n) for n in unknown)} in the database {db} (tables: {tables})")


def _show_drift(drift: list[Any]) -> None:
    """Differences a query would fail on (or, for unlisted columns, read unlabelled), before it does."""
    if not drift:
        stdout.print("\nthe database matches the contracts (types, tables and columns)", highlight=False)
        return
    count = len(drift)
    stdout.print(f"\n[bold]{count} difference{'s' if count != 1 else ''} between the contracts and the "
                 f"database[/bold] (policyengine validate --db exits 1 on them):", highlight=False)
    for item in drift:
        stdout.print(f"  {item}", highlight=False, markup=False)


def _title(report: Any, shown: int) -> str:
    findings = len(report.findings())
    tables = len({c.table for c in report.columns})
    return (f"{report.database}: {len(report.columns)} columns in {tables} tables, sample of up to "
            f"{report.sample} rows each; {findings} finding{'s' if findings != 1 else ''}")


def _proposals(report: Any, write: bool) -> None:
    for proposal in report.proposals:
        target = state.policies / proposal.file
        if proposal.written:
            stdout.print(f"wrote {target}", highlight=False)
        elif write:
            stdout.print(f"[yellow]kept[/yellow] {target}: the file exists; the proposal is not written",
                         highlight=False)
        else:
            stdout.print(f"\nproposed contract for {proposal.table} ({target}; --write writes it):", highlight=False)
            stdout.print(proposal.text, highlight=False, markup=False, end="")
