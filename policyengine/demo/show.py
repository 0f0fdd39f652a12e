"""What ``policyengine demo`` shows: the same rows through the engine, as each principal sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.table import Table as RichTable

from policyengine.audit import AuditLog
from policyengine.backends.duckdb import DuckDBBackend
from policyengine.cli.output import stdout
from policyengine.crypto import KeyMaterial, generate_key, load_key, parse_key
from policyengine.decision import subject_for
from policyengine.engine import Engine
from policyengine.model import PolicySet
from policyengine.rewrite import Refused

#: who the demo asks as: one principal per role of the seed's use cases
PRINCIPALS = ("frank", "erin", "grace", "dave", "alice", "bob", "carol")

ONE_USER = (
    "SELECT u.* FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID WHERE r.ReviewID = ?"
)
BY_LOCATION = (
    "SELECT Location, count(*) AS reviews, round(avg(ReviewSentiment), 3) AS sentiment "
    "FROM verified_reviews GROUP BY Location ORDER BY reviews DESC, Location LIMIT 4"
)


def demo_key(db: Path) -> KeyMaterial:
    """POLICYENGINE_KEY (or _FILE) if set; otherwise a key file made once beside the demo database."""
    configured = load_key()
    if configured is not None:
        return configured
    path = db.with_suffix(".key")
    if not path.exists():
        path.write_text(generate_key() + "\n")
        path.chmod(0o600)
    return parse_key(path.read_text())


def _cell(value: Any, width: int = 28) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def show_roles(policy_set: PolicySet, db: Path, *, environment: str = "prod") -> None:
    backend = DuckDBBackend(db, keys=demo_key(db))
    engine = Engine(policy_set, backend, audit=AuditLog(db.parent / ".policyengine" / "audit.jsonl"))
    try:
        review = _a_review_from(engine, "DE")
        _side_by_side(engine, review, environment)
        _aggregates(engine, environment)
        _refusals(engine)
    finally:
        engine.close()


def _a_review_from(engine: Engine, country: str) -> str:
    result = engine.query(
        "SELECT r.ReviewID FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID "
        "WHERE u.Country = ? AND u.MarketingConsent ORDER BY r.ReviewID LIMIT 1", role="admin", parameters=[country])
    return result.fetchall()[0][0]


def _side_by_side(engine: Engine, review: str, environment: str) -> None:
    columns: list[str] = []
    views: dict[str, dict[str, str]] = {}
    for name in PRINCIPALS:
        subject = subject_for(engine.policy_set, principal=name)
        label = f"{name} ({', '.join(engine.policy_set.roles[r].name for r in subject.roles)})"
        try:
            result = engine.query_for(subject, ONE_USER, env=environment, parameters=[review])
            rows = result.fetchall()
            columns = columns or result.columns
            views[label] = dict(zip(result.columns, map(_cell, rows[0]))) if rows else {"": "(row filtered out)"}
        except Refused as refusal:
            views[label] = {"": f"refused: {refusal.reason}"}
    table = RichTable(title=f"\nThe author of review {review}, as each principal sees it in {environment}",
                      title_justify="left")
    table.add_column("column", style="bold")
    for label in views:
        table.add_column(label, overflow="fold")
    for index, column in enumerate(columns):
        cells = []
        for view in views.values():
            if "" in view:  # refused or filtered out: say it once, in the first row
                cells.append(view[""] if index == 0 else "")
            else:
                cells.append(view.get(column, "(denied)"))
        table.add_row(column, *cells)
    stdout.print(table)


def _aggregates(engine: Engine, environment: str) -> None:
    stdout.print(f"\n[bold]The same dashboard query as four principals[/bold]: {BY_LOCATION}", highlight=False)
    tables = []
    for name in ("frank", "alice", "bob", "carol"):
        subject = subject_for(engine.policy_set, principal=name)
        result = engine.query_for(subject, BY_LOCATION, env=environment)
        region = subject.attributes.get("region")
        table = RichTable(title=f"{name} ({subject.roles[0]}{', ' + region if region else ''})")
        for column in result.columns:
            table.add_column(column)
        for row in result.fetchall():
            table.add_row(*map(_cell, row))
        tables.append(table)
    stdout.print(Columns(tables))


def _refusals(engine: Engine) -> None:
    stdout.print("\n[bold]Refused, with the reason[/bold]")
    for who, env, sql in (
        ("erin", "prod", "SELECT count(*) FROM reviews"),
        ("alice", "prod", "SELECT NationalID FROM user_demographics"),
        ("bob", "prod", "SELECT * FROM read_csv('/etc/passwd')"),
        ("bob", "prod", "SELECT 1; DROP TABLE reviews"),
    ):
        try:
            engine.query_for(subject_for(engine.policy_set, principal=who), sql, env=env).fetchall()
            stdout.print(f"  {who}: {sql} -> (ran)", highlight=False)
        except Refused as refusal:
            stdout.print(f"  {who} in {env}: [cyan]{sql}[/cyan] -> [red]refused[/red]: {refusal.reason}",
                         highlight=False)
