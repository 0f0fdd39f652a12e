"""``policyengine audit``: read the audit log with DuckDB, filtered by principal, table, decision, time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Optional

import typer

from policyengine.cli import EXIT_OK, FormatOption, app
from policyengine.cli.common import DEFAULT_AUDIT, AuditOption, failed
from policyengine.cli.output import Format, render

COLUMNS = ["time", "principal", "roles", "environment", "decision", "reason", "rows", "duration_ms", "statement"]


class Decision(str, Enum):
    """The decisions the engine writes to the audit log (``egress``: values found by the egress check)."""

    allowed = "allowed"
    refused = "refused"
    failed = "failed"
    egress = "egress"


_RELATIVE = re.compile(r"^(?P<count>\d+)\s*(?P<unit>s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
TIME_FORMS = "an ISO date or time (2026-11-25, 2026-11-25T08:00, 2026-11-25T08:00Z), 30m, 1h, 2d, 1w, today or yesterday"


class BadTime(ValueError):
    pass


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A point in time as people write it on a command line, with its time zone (local when not given).

    Relative times count back from ``now``; ``today`` and ``yesterday`` are local midnights. Anything
    else is an error naming the forms accepted: a filter that silently matches nothing is worse.
    """
    now = (now or datetime.now().astimezone())
    written = text.strip().lower()
    if written in ("today", "yesterday"):
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight if written == "today" else midnight - timedelta(days=1)
    if written == "now":
        return now
    relative = _RELATIVE.match(written)
    if relative:
        return now - timedelta(**{_UNITS[relative["unit"]]: int(relative["count"])})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadTime(f"'{text}' is not a time: give {TIME_FORMS}") from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


@app.command()
def audit(
    log: AuditOption = DEFAULT_AUDIT,
    principal: Annotated[Optional[str], typer.Option("--principal", "-u", help="Only this principal.")] = None,
    role: Annotated[Optional[str], typer.Option("--role", "-r", help="Only statements run with this role.")] = None,
    table: Annotated[Optional[str], typer.Option("--table", "-t", help="Only statements that read this table.")] = None,
    decision: Annotated[Optional[Decision], typer.Option("--decision", "-d", case_sensitive=False,
                                                         help="Only this decision.")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", help="From this time: ISO (2026-11-25, 2026-11-25T08:00) or relative (30m, 1h, 2d, 1w, "
                        "today, yesterday).")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Before this time (the forms of --since).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many, newest first.")] = 50,
    fmt: FormatOption = Format.table,
) -> int:
    """Show audit log entries, newest first (the log is JSON lines; DuckDB reads it)."""
    import duckdb

    bounds: dict[str, Optional[datetime]] = {}
    for name, value in (("--since", since), ("--until", until)):
        try:
            bounds[name] = parse_time(value) if value is not None else None
        except BadTime as error:
            failed(f"{name}: {error}")
    if not log.is_file():
        failed(f"no audit log at {log}")
    conditions: list[str] = []
    parameters: list[object] = []
    for column, value in (("principal", principal), ("decision", decision.value if decision else None)):
        if value is not None:
            conditions.append(f"lower({column}) = lower(?)")
            parameters.append(value)
    if role is not None:
        conditions.append("list_contains(list_transform(roles, lambda r: lower(r)), lower(?))")
        parameters.append(role)
    if table is not None:
        conditions.append("list_contains(list_transform(coalesce(reads, []), lambda r: lower(r.\"table\")), lower(?))")
        parameters.append(table)
    if bounds["--since"] is not None:
        conditions.append("CAST(time AS TIMESTAMPTZ) >= CAST(? AS TIMESTAMPTZ)")
        parameters.append(bounds["--since"].isoformat())
    if bounds["--until"] is not None:
        conditions.append("CAST(time AS TIMESTAMPTZ) < CAST(? AS TIMESTAMPTZ)")
        parameters.append(bounds["--until"].isoformat())
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

