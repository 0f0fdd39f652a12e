"""Repeated statements run DuckDB's prepared plan: the same rows as their text, only where it is safe.

The oracle for every case is the same statement's first run, which runs its text (a text seen once
is never prepared); masked principals must get exactly what that first run gave them.
"""

from __future__ import annotations

import pytest
import sqlglot

from policyengine import crypto
from policyengine.backends.plans import Plans
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.rewrite.statement import row_bound
from tests.conftest import EXAMPLE

KEY = crypto.parse_key("6b6579206f6620746865206f7261636c652074657374")


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    path = tmp_path_factory.mktemp("plans") / "demo.duckdb"
    build_demo_database(path, users=300, reviews=1500)
    engine = Engine.load(EXAMPLE, path, keys=KEY)
    yield engine
    engine.close()


class Recorder:
    """Wraps the backend's Plans to see what each run was given to run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, plans: Plans):
        self.ran: list[str] = []
        original = plans.statement

        def statement(cursor, sql):
            chosen = original(cursor, sql)
            self.ran.append(chosen)
            return chosen

        monkeypatch.setattr(plans, "statement", statement)


@pytest.mark.parametrize("query", [
    "SELECT UserID, Email, Phone, BirthDate FROM user_demographics ORDER BY UserID LIMIT 40",
    ("SELECT r.ReviewID, u.Email FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID "
     "ORDER BY r.ReviewID LIMIT 25"),
    "SELECT Country, count(*) FROM user_demographics GROUP BY Country ORDER BY 1 LIMIT 2048",
])
@pytest.mark.parametrize("principal", ["bob", "frank", "carol"])
def test_a_repeated_bounded_statement_runs_its_plan_with_the_same_rows(engine, monkeypatch, query, principal):
    recorder = Recorder(monkeypatch, engine.backend._plans)
    subject = engine.subject(principal=principal)
    def answer(result):
        return result.columns, result.types, result.fetchall()

    first = answer(engine.query_for(subject, query))
    again = [answer(engine.query_for(subject, query)) for _ in range(3)]
    assert again == [first] * 3  # the same names, types and rows as the text's own run
    assert first[2]  # the demo data answers every one of these
    assert not recorder.ran[0].startswith("EXECUTE")  # seen once: its text
    assert all(ran.startswith("EXECUTE __pe_plan_") for ran in recorder.ran[1:])


@pytest.mark.parametrize("query, parameters", [
    ("SELECT UserID, Email FROM user_demographics ORDER BY UserID", None),  # no LIMIT: any size
    ("SELECT UserID FROM user_demographics LIMIT 2049", None),  # more than one batch
    ("SELECT UserID FROM user_demographics LIMIT 10 PERCENT", None),
    ("SELECT UserID FROM user_demographics ORDER BY Country FETCH FIRST 3 ROWS WITH TIES", None),
    ("SELECT UserID, Email FROM user_demographics WHERE Country = ? ORDER BY UserID LIMIT 5", ["Germany"]),
])
def test_statements_that_could_be_large_or_carry_values_always_run_as_text(engine, monkeypatch, query, parameters):
    recorder = Recorder(monkeypatch, engine.backend._plans)
    subject = engine.subject(principal="bob")
    results = [engine.query_for(subject, query, parameters=parameters).fetchall() for _ in range(3)]
    assert results[1:] == [results[0]] * 2
    assert recorder.ran == []


def test_plans_survive_cursors_closed_and_evicted(engine):
    """A cursor closed part-way loses its plans; a new cursor (possibly at the same address) starts
    without any; plans beyond the per-cursor limit are deallocated oldest first."""
    backend = engine.backend
    subject = engine.subject(principal="bob")
    queries = [f"SELECT UserID, Email FROM user_demographics ORDER BY UserID LIMIT {n}" for n in range(1, 6)]
    expected = {query: engine.query_for(subject, query).fetchall() for query in queries}
    previous = backend._plans.per_cursor
    backend._plans.per_cursor = 2
    try:
        for _ in range(3):
            for query in queries:
                assert engine.query_for(subject, query).fetchall() == expected[query]
            # abandon a result part-way: its cursor is closed, not pooled
            stream = engine.query_for(subject, queries[-1])
            stream.close() if hasattr(stream, "close") else None
            while backend._idle:  # and close every pooled cursor: the next ones are new
                backend.release(backend._idle.pop(), reusable=False)
        for query in queries:
            assert engine.query_for(subject, query).fetchall() == expected[query]
    finally:
        backend._plans.per_cursor = previous


@pytest.mark.parametrize("sql, bound", [
    ("SELECT 1 LIMIT 100", 100),
    ("SELECT 1 UNION ALL SELECT 2 LIMIT 5", 5),
    ("SELECT 1 FETCH FIRST 7 ROWS ONLY", 7),
    ("SELECT 1 LIMIT 5 OFFSET 10", 5),
    ("SELECT 1", None),
    ("SELECT 1 LIMIT 10%", None),
    ("SELECT 1 LIMIT ?", None),
    ("SELECT 1 LIMIT 2 + 3", None),
    ("SELECT * FROM (SELECT 1 LIMIT 3) AS t", None),
    ("SELECT 1 ORDER BY 1 FETCH FIRST 3 ROWS WITH TIES", None),
])
def test_row_bound_is_read_only_from_a_constant_limit_on_the_whole_statement(sql, bound):
    assert row_bound(sqlglot.parse_one(sql, read="duckdb")) == bound
