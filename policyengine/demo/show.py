"""What ``policyengine demo`` shows: the same rows through the engine, as each principal sees them.

A front end like the CLI, not a part of it: it prints on the consoles it is given (the CLI passes its
own, :mod:`policyengine.cli.output`), so the CLI imports the demo and never the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.console import Console
from rich.table import Table as RichTable

from policyengine.audit import AuditLog
from policyengine.backends.duckdb import DuckDBBackend
from policyengine.crypto import KeyMaterial, generate_key, key_file_beside, load_key, parse_key, write_key_file
from policyengine.decision import Subject, subject_for
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


def demo_key(policies: Path, err: Console) -> KeyMaterial:
    """The key by the lookup order every entry point uses; if there is none, a new one written to
    ``policyengine.key`` beside the policy set, where the CLI, the Python API, the DB-API and the pytest
    plugin find it next time. Writing a key is said out loud, on ``err``: it must stay out of version control."""
    configured = load_key(policies=policies)
    if configured is not None:
        return configured
    path = key_file_beside(policies)
    key = generate_key()
    write_key_file(path, key)
    err.print(f"[yellow]note[/yellow]: wrote a new key for hash, tokenize and encrypt to {path} (mode 600); "
                 "keep it out of version control (.gitignore) and keep a copy: without it, encrypted values "
                 "cannot be decrypted", highlight=False)
    return parse_key(key)


def _cell(value: Any, width: int = 28) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _label(policy_set: PolicySet, subject: Subject) -> str:
    """``bob (bi_analyst, EU)``: the principal, the names of its roles, and its region where it has one
    (the row filters read it), the same in every part of the demo."""
    roles = ", ".join(policy_set.roles[role].name for role in subject.roles)
    region = subject.attributes.get("region")
    return f"{subject.name} ({roles}{', ' + str(region) if region else ''})"


def show_roles(policy_set: PolicySet, db: Path, *, out: Console, err: Console, policies: Path = Path("policies"),
               environment: str = "prod") -> None:
    """The demo's three parts printed on ``out`` (sized to its width); notes, such as a new key, on ``err``."""
    backend = DuckDBBackend(db, keys=demo_key(policies, err))
    engine = Engine(policy_set, backend, audit=AuditLog(db.parent / ".policyengine" / "audit.jsonl"))
    try:
        review = _a_review_from(engine, "DE")
        _side_by_side(engine, review, environment, out)
        _aggregates(engine, environment, out)
        _refusals(engine, out)
    finally:
        engine.close()


def _a_review_from(engine: Engine, country: str) -> str:
    result = engine.query(
        "SELECT r.ReviewID FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID "
        "WHERE u.Country = ? AND u.MarketingConsent ORDER BY r.ReviewID LIMIT 1", role="admin", parameters=[country])
    return result.fetchall()[0][0]


#: the widest a value is shown in the side-by-side table, and what the column names take
CELL_WIDTH = 23
NAME_WIDTH = 16


def _side_by_side(engine: Engine, review: str, environment: str, out: Console) -> None:
    columns: list[str] = []
    views: dict[str, dict[str, str]] = {}
    for name in PRINCIPALS:
        subject = subject_for(engine.policy_set, principal=name)
        label = _label(engine.policy_set, subject)
        try:
            result = engine.query_for(subject, ONE_USER, env=environment, parameters=[review])
            rows = result.fetchall()
            columns = columns or result.columns
            views[label] = ({name: _cell(value, CELL_WIDTH) for name, value in zip(result.columns, rows[0])}
                            if rows else {"": "(row filtered out)"})
        except Refused as refusal:
            views[label] = {"": f"refused: {refusal.reason}"}
    # as many principals side by side as the terminal holds; the rest in tables stacked below
    per_table = max(1, (out.width - NAME_WIDTH - 4) // (CELL_WIDTH + 3))
    labels = list(views)
    out.print(f"\nThe author of review {review}, as each principal sees it in {environment}", highlight=False)
    for start in range(0, len(labels), per_table):
        table = RichTable(title_justify="left")
        table.add_column("column", style="bold", max_width=NAME_WIDTH, overflow="fold")
        for label in labels[start:start + per_table]:
            table.add_column(label, overflow="fold", max_width=CELL_WIDTH)
        for index, column in enumerate(columns):
            cells = []
            for label in labels[start:start + per_table]:
                view = views[label]
                if "" in view:  # refused or filtered out: say it once, in the first row
                    cells.append(view[""] if index == 0 else "")
                else:
                    cells.append(view.get(column, "(denied)"))
            table.add_row(column, *cells)
        out.print(table)


def _aggregates(engine: Engine, environment: str, out: Console) -> None:
    out.print(f"\n[bold]The same dashboard query as four principals[/bold]: {BY_LOCATION}", highlight=False)
    tables = []
    for name in ("frank", "alice", "bob", "carol"):
        subject = subject_for(engine.policy_set, principal=name)
        result = engine.query_for(subject, BY_LOCATION, env=environment)
        table = RichTable(title=_label(engine.policy_set, subject))
        for column in result.columns:
            table.add_column(column)
        for row in result.fetchall():
            table.add_row(*map(_cell, row))
        tables.append(table)
    out.print(Columns(tables))


def _refusals(engine: Engine, out: Console) -> None:
    out.print("\n[bold]Refused, with the reason[/bold]")
    for who, env, sql in (
        ("erin", "prod", "SELECT count(*) FROM reviews"),
        ("alice", "prod", "SELECT NationalID FROM user_demographics"),
        ("bob", "prod", "SELECT * FROM read_csv('/etc/passwd')"),
        ("bob", "prod", "SELECT 1; DROP TABLE reviews"),
    ):
        try:
            engine.query_for(subject_for(engine.policy_set, principal=who), sql, env=env).fetchall()
            out.print(f"  {who}: {sql} -> (ran)", highlight=False)
        except Refused as refusal:
            out.print(f"  {who} in {env}: [cyan]{sql}[/cyan] -> [red]refused[/red]: {refusal.reason}",
                         highlight=False)
