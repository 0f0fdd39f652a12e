"""``policyengine audit``: read the audit log with DuckDB, filtered by principal, table, decision, time."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from policyengine.cli import EXIT_OK, FormatOption, app
from policyengine.cli.common import DEFAULT_AUDIT, AuditOption, failed
from policyengine.cli.output import Format, render

COLUMNS = ["time", "principal", "roles", "environment", "decision", "reason", "rows", "duration_ms", "statement"]


@app.command()
def audit(
    log: AuditOption = DEFAULT_AUDIT,
    principal: Annotated[Optional[str], typer.Option("--principal", "-u", help="Only this principal.")] = None,
    role: Annotated[Optional[str], typer.Option("--role", "-r", help="Only statements run with this role.")] = None,
    table: Annotated[Optional[str], typer.Option("--table", "-t", help="Only statements that read this table.")] = None,
    decision: Annotated[Optional[str], typer.Option("--decision", "-d", help="allowed, refused or failed.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="ISO time, e.g. 2026-11-25T08:00.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="ISO time.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many, newest first.")] = 50,
    fmt: FormatOption = Format.table,
) -> int:
    """Show audit log entries, newest first (the log is JSON lines; DuckDB reads it)."""
    import duckdb

    if not log.is_file():
        failed(f"no audit log at {log}")
    conditions, parameters = [], []
    for column, value in (("principal", principal), ("decision", decision)):
        if value is not None:
            conditions.append(f"lower({column}) = lower(?)")
            parameters.append(value)
    if role is not None:
        conditions.append("list_contains(list_transform(roles, lambda r: lower(r)), lower(?))")
        parameters.append(role)
    if table is not None:
        conditions.append("list_contains(list_transform(coalesce(reads, []), lambda r: lower(r.\"table\")), lower(?))")
        parameters.append(table)
    if since is not None:
        conditions.append("CAST(time AS TIMESTAMPTZ) >= CAST(? AS TIMESTAMPTZ)")
        parameters.append(since)
    if until is not None:
        conditions.append("CAST(time AS TIMESTAMPTZ) < CAST(? AS TIMESTAMPTZ)")
        parameters.append(until)
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    sql = (f"SELECT {', '.join(COLUMNS)} FROM read_json(?, format='newline_delimited', union_by_name=true, "
           f"columns={{time: 'VARCHAR', principal: 'VARCHAR', roles: 'VARCHAR[]', environment: 'VARCHAR', "
           f"decision: 'VARCHAR', reason: 'VARCHAR', rows: 'BIGINT', duration_ms: 'DOUBLE', statement: 'VARCHAR', "
           f"reads: 'STRUCT(\"table\" VARCHAR)[]'}}) {where} ORDER BY time DESC LIMIT ?")
    try:
        with duckdb.connect(":memory:") as con:
            con.execute("SET enable_progress_bar = false")
            cursor = con.execute(sql, [str(log), *parameters, limit])
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    except duckdb.Error as error:
        failed(f"cannot read the audit log: {str(error).splitlines()[0]}")
    for row in rows:
        if isinstance(row.get("roles"), list):
            row["roles"] = ",".join(row["roles"])
    render(rows, COLUMNS, fmt)
    return EXIT_OK
