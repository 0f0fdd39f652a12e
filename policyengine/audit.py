"""The audit log: one JSON line per decision, allowed or refused, queryable with DuckDB.

Each line says who asked (principal, roles, environment), what (the statement and its
fingerprint), what ran (the rewritten SQL), what was read (each table and column with the
protection applied, and the row filter), the outcome and its reason, rows returned and duration.
Keys never appear: the rewritten SQL reads them from session variables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlglot

from policyengine.decision import TableDecision


@lru_cache(maxsize=4096)
def fingerprint(sql: str, dialect: str = "duckdb") -> str:
    """Same query shape, same fingerprint: literals and whitespace do not count."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        for literal in tree.find_all(sqlglot.exp.Literal):
            literal.replace(sqlglot.exp.Placeholder())
        text = tree.sql(dialect=dialect, comments=False)
    except Exception:  # noqa: BLE001 - an unparsable statement still gets a fingerprint of its text
        text = " ".join(sql.split())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reads(decisions: tuple[TableDecision, ...] | list[TableDecision]) -> list[dict[str, Any]]:
    return [
        {
            "table": d.table_name,
            "columns": {c.column.name: c.shows for c in d.columns},
            "rows": d.rows.describe(),
        }
        for d in decisions
    ]


class AuditLog:
    """Appends JSON lines to a file; safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> None:
        entry = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"), **fields}
        line = json.dumps(entry, default=str, separators=(",", ":"))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
