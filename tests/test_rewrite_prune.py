"""Wrappers list only the columns a query names (policyengine.rewrite.prune), and only where that cannot
change a result: every query here returns the same rows pruned as with every column listed, and the
constructs that read columns without naming them keep every column."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from policyengine import crypto
from policyengine.decision import subject_for
from policyengine.engine import Engine
from policyengine.fuzz.oracle import normalize_rows
from policyengine.rewrite import prune, rewrite

FOLDER = Path(__file__).parent / "fixtures" / "rewrite"
KEY = crypto.parse_key("70727566652074657374206b65792121")

#: queries that name every column they read: wrappers are pruned
PRUNED = [
    "SELECT name FROM people",
    "SELECT count(*) FROM people",
    "SELECT count(*) FROM people p JOIN orders o ON o.person_id = p.id",
    'SELECT "NAME", Id FROM people ORDER BY 2',
    "FROM people SELECT name, region",
    "SELECT * FROM (SELECT id, name FROM people) s",
    "WITH x AS (SELECT id, email FROM people) SELECT * FROM x ORDER BY id",
    "SELECT id FROM orders o WHERE EXISTS (SELECT * FROM people p WHERE p.id = o.person_id)",
    "SELECT p.id, sum(o.amount) FROM people p JOIN orders o ON o.person_id = p.id GROUP BY ALL",
    "SELECT id, (SELECT max(amount) FROM orders WHERE person_id = people.id) FROM people",
    "SELECT id FROM people JOIN orders USING (id)",
    "SELECT name FROM people UNION ALL SELECT CAST(amount AS VARCHAR) FROM orders",
    "SELECT list_transform([1, 2], x -> x + id) FROM people",
    "SELECT t.s.name FROM (SELECT {'name': name} AS s FROM people) t",
]

#: queries that read columns they do not name: every visible column is listed
NOT_PRUNED = [
    "SELECT * FROM people",
    "SELECT p.* FROM people p",
    "SELECT * FROM (people)",
    "SELECT * FROM (people p JOIN orders o ON p.id = o.person_id)",
    "SELECT * EXCLUDE (email) FROM people",
    "FROM people",
    "SELECT p FROM people p",
    "SELECT to_json(p) FROM people p",
    "SELECT COLUMNS('e.*') FROM people",
    "SELECT max(COLUMNS(*)) FROM people",
    "SELECT #1 FROM people",
    "SELECT id FROM people NATURAL JOIN orders",
    "SELECT a FROM people AS x(a, b)",
    "SELECT id FROM people p, LATERAL (SELECT p.*) s",
    "SELECT id FROM orders WHERE person_id IN (SELECT * FROM (SELECT id FROM people) UNION SELECT * FROM people)",
    "WITH x AS (SELECT * FROM people) SELECT name FROM x",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = tmp_path_factory.mktemp("prune") / "prune.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE people (id INTEGER, name VARCHAR, email VARCHAR, ssn VARCHAR, region VARCHAR)")
        con.execute("INSERT INTO people SELECT i, 'name' || i, 'p' || i || '@x.example', 'ssn' || i, "
                    "['EU', 'US'][1 + i % 2] FROM range(20) t(i)")
        con.execute("CREATE TABLE orders (id INTEGER, person_id INTEGER, amount DECIMAL(10,2))")
        con.execute("INSERT INTO orders SELECT i, i % 20, i * 37.5 FROM range(40) t(i)")
    made = Engine.load(FOLDER / "policies", path, keys=KEY)
    yield made
    made.close()


def _run(engine, sql, role, monkeypatch, pruning: bool):
    with monkeypatch.context() as patch:
        if not pruning:
            patch.setattr(prune, "prunable", lambda *args: False)
        subject = subject_for(engine.policy_set, roles=[role])
        rewritten = rewrite(sql, engine.policy_set, subject, None, resolver=engine.backend.resolver(engine.policy_set))
        rows = engine.backend.execute(rewritten).fetchall()
    return rewritten.sql, rows


@pytest.mark.parametrize("role", ["analyst", "admin"])
@pytest.mark.parametrize("sql", PRUNED)
def test_pruned_wrappers_give_the_same_rows(engine, sql, role, monkeypatch):
    pruned_sql, pruned = _run(engine, sql, role, monkeypatch, pruning=True)
    full_sql, full = _run(engine, sql, role, monkeypatch, pruning=False)
    assert len(pruned_sql) < len(full_sql), "expected the wrappers to be pruned"
    assert normalize_rows(pruned, False) == normalize_rows(full, False)


@pytest.mark.parametrize("sql", NOT_PRUNED)
def test_implicit_column_reads_keep_every_column(engine, sql, monkeypatch):
    pruned_sql, _ = _run_or_refused(engine, sql, monkeypatch, pruning=True)
    full_sql, _ = _run_or_refused(engine, sql, monkeypatch, pruning=False)
    assert pruned_sql == full_sql


def _run_or_refused(engine, sql, monkeypatch, pruning: bool):
    subject = subject_for(engine.policy_set, roles=["analyst"])
    with monkeypatch.context() as patch:
        if not pruning:
            patch.setattr(prune, "prunable", lambda *args: False)
        rewritten = rewrite(sql, engine.policy_set, subject, None, resolver=engine.backend.resolver(engine.policy_set),
                            nonce="n")
    return rewritten.sql, None


def test_row_filter_still_applies_when_its_column_is_pruned(engine):
    rows = engine.query("SELECT count(*) FROM people", role="analyst").fetchall()
    assert rows == [(10,)]  # region = 'EU' only, though no column of people is listed
    sql = engine.rewrite("SELECT count(*) FROM people", role="analyst").sql
    assert '"region" = \'EU\'' in sql and 'AS "region"' not in sql and "__pe_no_visible_column" in sql
