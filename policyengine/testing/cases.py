"""Running declarative policy test cases (``<policy set>/tests/*.yaml``) through the engine.

Each case runs as its subject over a DB-API connection sharing one engine, exactly as a data team's
pytest tests do, and "masked" / "raw" / "refused" are decided by the same assertions
(:func:`~policyengine.testing.assert_masked` and friends): a case file and a pytest test can never
disagree about what "masked" means.

A failure says what was expected and what came instead. The only result values it ever shows are
rows of an ``equals`` case that differ, and those are what the case's subject sees anyway.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policyengine.dbapi import Error, PolicyDenied, connect
from policyengine.engine import Engine
from policyengine.testing import assert_masked, assert_raw, assert_refused
from policyengine.testing.case_model import Case, Expectation

__all__ = ["CaseResult", "run_case", "run_cases"]

#: rows shown of a difference: enough to see the pattern, never a dump of the table
SHOWN_ROWS = 5


@dataclass
class CaseResult:
    """One case's outcome: passed when nothing failed; ``failures`` each say expected vs got."""

    case: Case
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """One row of the report, for JSON and CSV."""
        spec = self.case.spec
        return {
            "result": "pass" if self.passed else "fail",
            "file": self.case.file,
            "case": self.case.index,
            "name": self.case.name,
            "principal": spec.principal,
            "roles": list(self.case.subject_roles),
            "env": self.case.environment,
            "sql": spec.sql,
            "failures": list(self.failures),
            "seconds": round(self.seconds, 4),
        }


def run_cases(engine: Engine, cases: Iterable[Case]) -> list[CaseResult]:
    return [run_case(engine, case) for case in cases]


def run_case(engine: Engine, case: Case) -> CaseResult:
    """Run one case as its subject; never raises for what the statement does (that is the result)."""
    started = time.perf_counter()
    result = CaseResult(case)
    connection = connect(engine.backend.path, roles=case.roles, principal=case.spec.principal,
                         env=case.environment, engine=engine)
    try:
        expect = case.spec.expect
        if expect.expects_refusal:
            result.failures.extend(_check_refused(connection, case.spec.sql, expect))
        else:
            result.failures.extend(_check_result(connection, case.spec.sql, expect))
    finally:
        connection.close()
        result.seconds = time.perf_counter() - started
    return result


def _check_refused(connection: Any, sql: str, expect: Expectation) -> list[str]:
    text = expect.refused.strip() if isinstance(expect.refused, str) else ""
    wanted = f"refused with a reason containing '{text}'" if text else "refused"
    try:
        assert_refused(connection, sql, reason="(?i)" + re.escape(text) if text else None)
    except AssertionError as failure:
        return [f"expected {wanted}, got {failure}"]
    except Error as error:  # neither refused nor run: the database failed it
        return [f"expected {wanted}, got an error: {error}"]
    return []


def _check_result(connection: Any, sql: str, expect: Expectation) -> list[str]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()  # every row is read: a statement that fails half-way has not run
    except PolicyDenied as denied:
        return [f"expected the statement to run, got refused: {denied.reason}"]
    except Error as error:
        return [f"expected the statement to run, got an error: {error}"]
    failures: list[str] = []
    for column, kind in (expect.masked or {}).items():
        try:
            assert_masked(cursor, column, kind=kind)
        except AssertionError as failure:
            failures.append(f"expected {column} masked{f' by {kind}' if kind else ''}, got: {failure}")
    for column in expect.raw or []:
        try:
            assert_raw(cursor, column)
        except AssertionError as failure:
            failures.append(f"expected {column} raw, got: {failure}")
    count = len(rows)
    if expect.rows is not None and count != expect.rows:
        failures.append(f"expected {_rows(expect.rows)}, got {count}")
    if expect.rows_at_least is not None and count < expect.rows_at_least:
        failures.append(f"expected at least {_rows(expect.rows_at_least)}, got {count}")
    if expect.rows_at_most is not None and count > expect.rows_at_most:
        failures.append(f"expected at most {_rows(expect.rows_at_most)}, got {count}")
    if expect.equals is not None:
        failures.extend(_compare(expect.equals, rows, [d[0] for d in cursor.description or []], expect.ordered))
    return failures


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def plain(value: Any) -> Any:
    """A result value as a case file writes it: numbers compare by value (``0.73`` equals DECIMAL
    ``0.730``, ``3`` equals ``3.0``), dates and times as ISO text, nested values as lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        if not math.isfinite(value):  # NaN and infinities: kept visible as text, never equal to a number
            return str(value)
        if value == int(value):
            return int(value)
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def _key(row: Sequence[Any]) -> str:
    """A row's canonical text: equal for equal values, and a bool never equals a number."""
    return json.dumps([plain(v) for v in row], sort_keys=True, ensure_ascii=False)


def _show(rows: Sequence[Sequence[Any]]) -> str:
    shown = ", ".join(json.dumps([plain(v) for v in row], ensure_ascii=False) for row in rows[:SHOWN_ROWS])
    more = len(rows) - SHOWN_ROWS
    return f"[{shown}{f', … {more} more' if more > 0 else ''}]"


def _compare(expected: list[list[Any]], got: list[tuple[Any, ...]], columns: list[str], ordered: bool) -> list[str]:
    widths = {len(row) for row in expected}
    if expected and widths != {len(columns)}:
        sizes = " or ".join(map(str, sorted(widths)))
        return [(f"expected rows of {sizes} value{'' if widths == {1} else 's'}, got {len(columns)} "
                 f"column{'s' if len(columns) != 1 else ''} ({', '.join(columns)})")]
    if ordered:
        for position, (want, have) in enumerate(zip(expected, got)):
            if _key(want) != _key(have):
                return [f"expected row {position} to be {_show([want])[1:-1]}, got {_show([have])[1:-1]}"]
        if len(expected) != len(got):
            agree = min(len(expected), len(got))
            return [f"expected {_rows(len(expected))}, got {len(got)} (the first {agree} agree)"]
        return []
    wanted = Counter(_key(row) for row in expected)
    have = Counter(_key(row) for row in got)
    if wanted == have:
        return []
    missing = [row for row in expected if (wanted - have)[_key(row)] > 0]
    extra = _unique(row for row in got if (have - wanted)[_key(row)] > 0)
    parts = []
    if missing:
        parts.append(f"missing {_show(_unique(missing))}")
    if extra:
        parts.append(f"unexpected {_show(extra)}")
    return [f"expected {_rows(len(expected))}, got {len(got)}: " + "; ".join(parts)]


def _unique(rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
    seen: set[str] = set()
    out = []
    for row in rows:
        key = _key(row)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out
