"""Assertions for a data team's own policy tests, over DB-API cursors opened as a role.

``assert_masked(cursor, "Email")`` after ``cursor.execute(...)``; ``assert_refused(connection, sql)``;
``assert_rows(cursor, count=0)``. The fixtures that open connections are in :mod:`.plugin`,
registered with pytest when the package is installed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from policyengine.dbapi import Connection, Cursor, PolicyDenied
from policyengine.decision import Outcome

__all__ = ["assert_masked", "assert_raw", "assert_refused", "assert_rows"]


def _outcomes(cursor: Cursor, column: str) -> list[tuple[str, Outcome, str]]:
    names = [d[0].lower() for d in cursor.description or []]
    if column.lower() not in names:
        raise AssertionError(f"the result has no column {column!r} (columns: {', '.join(names) or 'none'})")
    outcomes = cursor.column_outcomes(column)
    if not outcomes:
        raise AssertionError(f"column {column!r} is not a column of any table the statement read")
    return outcomes


def assert_masked(cursor: Cursor, column: str, *, kind: str | None = None) -> None:
    """The output column comes from a protected column of every table read that has it (of ``kind``, if given)."""
    for table, outcome, shows in _outcomes(cursor, column):
        if outcome is not Outcome.PROTECTED:
            raise AssertionError(f"{table}.{column} is {outcome.value} for this role, not masked")
        if kind is not None and not shows.startswith(kind):
            raise AssertionError(f"{table}.{column} is protected by {shows}, not {kind}")


def assert_raw(cursor: Cursor, column: str) -> None:
    """The output column comes from a column this role reads raw."""
    for table, outcome, shows in _outcomes(cursor, column):
        if outcome is not Outcome.RAW:
            raise AssertionError(f"{table}.{column} is {shows} for this role, not raw")


def assert_refused(connection: Connection, sql: str, parameters: Any = None, *, reason: str | None = None) -> str:
    """The statement is refused by policy; ``reason`` is a regular expression the reason must contain."""
    try:
        connection.cursor().execute(sql, parameters)
    except PolicyDenied as denied:
        if reason is not None and not re.search(reason, denied.reason):
            raise AssertionError(f"refused, but for another reason: {denied.reason}") from None
        return denied.reason
    raise AssertionError(f"not refused: {sql}")


def assert_rows(cursor: Cursor, expected: Sequence[Sequence[Any]] | None = None, *, count: int | None = None,
                ordered: bool = False) -> list[tuple[Any, ...]]:
    """The remaining rows equal ``expected`` (as a multiset unless ``ordered``), or number ``count``."""
    rows = cursor.fetchall()
    if count is not None and len(rows) != count:
        raise AssertionError(f"expected {count} rows, got {len(rows)}")
    if expected is not None:
        want = [tuple(row) for row in expected]
        got, wanted = (rows, want) if ordered else (sorted(rows, key=repr), sorted(want, key=repr))
        if got != wanted:
            raise AssertionError(f"rows differ:\n  expected {wanted[:10]}\n  got      {got[:10]}")
    return rows
