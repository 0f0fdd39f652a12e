"""``policyengine audit``: read the audit log with DuckDB, filtered by principal, table, decision, time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

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
TIME_FORMS = ("an ISO date or time (2026-11-25, 2026-11-25T08:00, 2026-11-25T08:00Z), 30m, 1h, 2d, 1w, "
              "today or yesterday")


class BadTime(ValueError):
    """A --since or --until value that is not a time; the message lists the forms accepted."""


#: the log as DuckDB reads it: one JSON object per line, fields missing from older lines read as NULL
_LOG = ("read_json(?, format='newline_delimited', union_by_name=true, "
        "columns={time: 'VARCHAR', principal: 'VARCHAR', roles: 'VARCHAR[]', environment: 'VARCHAR', "
        "decision: 'VARCHAR', reason: 'VARCHAR', rows: 'BIGINT', duration_ms: 'DOUBLE', statement: 'VARCHAR', "
        "reads: 'STRUCT(\"table\" VARCHAR)[]'})")

#: per filter: the values the log holds (the policy set's names of that kind are known too)
_KNOWN_SQL = {
    "--principal": f"SELECT DISTINCT principal FROM {_LOG} WHERE principal IS NOT NULL",
    "--role": f"SELECT DISTINCT unnest(roles) FROM {_LOG}",
    "--table": f"SELECT DISTINCT unnest(coalesce(reads, [])).\"table\" FROM {_LOG}",
}
_FILTER_NOUNS = {"--principal": "principals", "--role": "roles", "--table": "tables"}


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
    principal: Annotated[str | None, typer.Option("--principal", "-u", help="Only this principal.")] = None,
    role: Annotated[str | None, typer.Option("--role", "-r", help="Only statements run with this role.")] = None,
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only statements that read this table.")] = None,
    decision: Annotated[Decision | None, typer.Option("--decision", "-d", case_sensitive=False,
                                                         help="Only this decision.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="From this time: ISO (2026-11-25, 2026-11-25T08:00) or relative (30m, 1h, 2d, 1w, "
                        "today, yesterday).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time (the forms of --since).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many, newest first.")] = 50,
    fmt: FormatOption = Format.table,
) -> int:
    """Show audit log entries, newest first (the log is JSON lines; DuckDB reads it)."""
    import duckdb

    bounds: dict[str, datetime | None] = {}
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
    sql = f"SELECT {', '.join(COLUMNS)} FROM {_LOG} {where} ORDER BY time DESC LIMIT ?"
    filters = {"--principal": principal, "--role": role, "--table": table}
    try:
        with duckdb.connect(":memory:") as con:
            con.execute("SET enable_progress_bar = false")
            if any(value is not None for value in filters.values()):
                _check_filters(con, log, filters)
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



def _check_filters(con: Any, log: Path, filters: dict[str, str | None]) -> None:
    """Exit 1 when a filter names a principal, role or table that neither the log nor the policy set knows,
    listing the ones they do: a typo would otherwise read as "nothing happened"."""
    policy_set = _policy_set_if_any()
    for option, value in filters.items():
        if value is None:
            continue
        known = {str(v) for (v,) in con.execute(_KNOWN_SQL[option], [str(log)]).fetchall() if v is not None}
        if policy_set is not None:
            known |= {"--principal": lambda: {p.name for p in policy_set.principals.values()},
                      "--role": lambda: {r.name for r in policy_set.roles.values()},
                      "--table": lambda: {t.name for t in policy_set.tables.values()}}[option]()
        if value.lower() not in {k.lower() for k in known}:
            shown = ", ".join(sorted(known, key=str.lower)) or "none"
            where = f"the audit log {log}" + (" or the policy set" if policy_set is not None else "")
            failed(f"{option} '{value}': no such {_FILTER_NOUNS[option][:-1]} in {where} "
                   f"({_FILTER_NOUNS[option]}: {shown})")


def _policy_set_if_any() -> Any:
    """The ``--policies`` set when it loads, else None: reading the log does not need one, and a log may
    outlive the set that wrote it."""
    from policyengine.cli import state
    from policyengine.loading import load_policy_set
    from policyengine.model import PolicySetInvalid

    try:
        return load_policy_set(state.policies)
    except (PolicySetInvalid, OSError):
        return None
