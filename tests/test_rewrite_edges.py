"""Robust edges of the rewrite: refusals that name SQL (never sqlglot's classes), table-function
shapes that crashed the gate, samples that keep their unit, statements that are valid and run (with
the protections applied), and parameter casts in the DB-API.

Results are held against raw DuckDB on a copy of the same data (frank is admin and sees it all raw).
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import duckdb
import pytest

import policyengine
from policyengine import crypto, load_policy_set
from policyengine.decision import subject_for
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from policyengine.rewrite import Refused, rewrite
from tests.conftest import EXAMPLE

KEY = crypto.parse_key("6b6579206f6620746865206564676573207465737473")

#: words that are sqlglot's, not SQL: a refusal naming one shows the engine's insides, not the query
INTERNALS = re.compile(r"\b(Anonymous|anonymous|Paren|Var|exp\.|Column|Identifier|Subquery|TableFromRows|Command|"
                       r"OptimizeError|NoneType|x_m_l|rows_from|system_time|Func|Expression)\b")


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("edges")
    served = root / "demo.duckdb"
    build_demo_database(served, users=200, reviews=2000)
    raw = root / "raw" / "demo.duckdb"
    raw.parent.mkdir()
    shutil.copyfile(served, raw)
    return served, raw


@pytest.fixture(scope="module")
def engine(databases):
    engine = Engine.load(EXAMPLE, databases[0], keys=KEY)
    yield engine
    engine.close()


def raw(path: Path, sql: str, parameters: list | None = None) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        result = connection.execute(sql, parameters)
        return [column[0] for column in result.description], result.fetchall()


def through(engine: Engine, sql: str, principal: str = "frank") -> tuple[list[str], list[tuple]]:
    result = engine.query(sql, principal=principal)
    rows = result.fetchall()
    return result.columns, rows


def refusal(sql: str, principal: str = "bob") -> str:
    policy_set = load_policy_set(EXAMPLE)
    with pytest.raises(Refused) as refused:
        rewrite(sql, policy_set, subject_for(policy_set, principal=principal), None)
    return refused.value.reason


# --- refusals name SQL constructs ---------------------------------------------------------------

REFUSALS = [
    ("SELECT x.y.z()", "z()"),
    ("SELECT 'a'.upper()", "upper()"),
    ("SELECT * FROM xmltable('x')", "xmltable()"),
    ("SELECT * FROM TABLE(foo(1))", "table function foo()"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("LOAD httpfs", "LOAD"),
    ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("CALL foo()", "CALL"),
    ("SELECT * INTO x FROM reviews", "SELECT ... INTO"),
    ("SELECT * FROM reviews AT (VERSION => 1)", "time travel"),
    ("SELECT * FROM reviews FOR SYSTEM_TIME AS OF '2020-01-01'", "time travel"),
    ("SELECT * FROM reviews WITH (NOLOCK)", "table hint"),
    ("WITH RECURSIVE t AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM t WHERE x < 3) SELECT * FROM t", "recursive"),
    ("UNPIVOT reviews ON Rating INTO NAME k VALUE v", "UNPIVOT"),
]


@pytest.mark.parametrize(("sql", "named"), REFUSALS)
def test_refusals_name_the_construct_as_written(sql, named):
    reason = refusal(sql)
    assert named in reason
    assert not INTERNALS.search(reason), reason


# --- ROWS FROM and other table-function shapes --------------------------------------------------

TABLE_FUNCTION_SHAPES = [
    "SELECT * FROM ROWS FROM (range(3))",
    "SELECT * FROM ROWS FROM (range(3), range(4))",
    "SELECT * FROM ROWS FROM (generate_series(1, 3)) WITH ORDINALITY",
    "SELECT * FROM ROWS FROM (read_csv('/etc/passwd'))",
    "SELECT * FROM reviews, ROWS FROM (unnest([1]))",
    "SELECT (SELECT count(*) FROM ROWS FROM (range(2)))",
    "SELECT * FROM TABLE(range(3))",
    "SELECT * FROM TABLE(read_csv('/etc/passwd'))",
    "SELECT * FROM LATERAL read_csv('/etc/passwd')",
    "SELECT * FROM json_each('{}')",
    "SELECT * FROM xmltable('x')",
    "SELECT * FROM reviews.read_csv('x')",
]


@pytest.mark.parametrize("sql", TABLE_FUNCTION_SHAPES)
def test_table_function_shapes_are_refused_cleanly(sql):
    """Never an AttributeError (ROWS FROM has no function of its own in sqlglot's tree)."""
    reason = refusal(sql)
    assert "not allowed" in reason and not INTERNALS.search(reason), reason


def test_rows_from_is_named():
    assert refusal("SELECT * FROM ROWS FROM (range(3))") == "ROWS FROM (...) is not allowed"


def test_value_generating_table_functions_still_run(engine, databases):
    for sql in ("SELECT * FROM range(3)", "SELECT * FROM generate_series(1, 3)", "SELECT * FROM unnest([1, 2])"):
        assert through(engine, sql, "bob") == raw(databases[1], sql)


# --- samples keep their unit --------------------------------------------------------------------

def test_bernoulli_sample_is_a_percentage(engine):
    rewritten = engine.rewrite("SELECT count(*) FROM reviews TABLESAMPLE BERNOULLI (10)", principal="frank").sql
    assert "BERNOULLI (10 PERCENT)" in rewritten and "ROWS" not in rewritten
    counts = [through(engine, "SELECT count(*) FROM reviews TABLESAMPLE BERNOULLI (10)")[1][0][0] for _ in range(5)]
    assert all(100 <= count <= 320 for count in counts), counts  # 2,000 rows: about 200 each time


def test_bernoulli_percent_with_a_seed_equals_raw_duckdb(engine, databases):
    sql = "SELECT count(*) FROM reviews TABLESAMPLE BERNOULLI (10 PERCENT) REPEATABLE (7)"
    assert through(engine, sql)[1] == raw(databases[1], sql)[1]


@pytest.mark.parametrize(("sql", "unit"), [
    ("SELECT count(*) FROM reviews USING SAMPLE 10%", "PERCENT"),
    ("SELECT count(*) FROM reviews TABLESAMPLE 5 ROWS", "ROWS"),
    ("SELECT count(*) FROM reviews USING SAMPLE 10 PERCENT (bernoulli)", "PERCENT"),
])
def test_other_samples_keep_their_unit(engine, databases, sql, unit):
    assert unit in engine.rewrite(sql, principal="frank").sql
    if unit == "ROWS":
        assert through(engine, sql)[1] == raw(databases[1], sql)[1] == [(5,)]


def test_using_sample_percent_is_about_that_share(engine):
    counts = [through(engine, "SELECT count(*) FROM reviews USING SAMPLE 50 PERCENT (bernoulli)")[1][0][0]
              for _ in range(3)]
    assert all(800 <= count <= 1200 for count in counts), counts


# --- valid statements that run ------------------------------------------------------------------

def test_parenthesized_table_runs(engine, databases):
    """DuckDB's own parser rejects ``FROM (reviews)``; the engine reads it as the table it names."""
    for written, plain in [
        ("SELECT count(*), sum(Rating) FROM (reviews)", "SELECT count(*), sum(Rating) FROM reviews"),
        ("SELECT r.Rating FROM ((reviews)) AS r ORDER BY ALL LIMIT 5",
         "SELECT r.Rating FROM reviews AS r ORDER BY ALL LIMIT 5"),
        ("SELECT count(*) FROM (reviews r) JOIN (user_demographics) u ON r.UserID = u.UserID",
         "SELECT count(*) FROM reviews r JOIN user_demographics u ON r.UserID = u.UserID"),
    ]:
        assert through(engine, written)[1] == raw(databases[1], plain)[1]


def test_parenthesized_table_keeps_protections(engine):
    rows = through(engine, "SELECT Email, Country FROM (user_demographics)", "bob")[1]
    plain = through(engine, "SELECT Email, Country FROM user_demographics", "bob")[1]
    assert sorted(rows) == sorted(plain) and rows
    assert all("@" not in email or email.startswith("*****") for email, _ in rows if email)


def test_recursive_keyword_on_a_plain_cte_runs(engine, databases):
    for sql in ("WITH RECURSIVE t AS (SELECT 1 AS x) SELECT * FROM t",
                "WITH RECURSIVE t AS (SELECT Rating FROM reviews) SELECT max(Rating), count(*) FROM t"):
        assert through(engine, sql) == raw(databases[1], sql)
    bob = through(engine, "WITH RECURSIVE t AS (SELECT Email FROM user_demographics) SELECT Email FROM t", "bob")[1]
    assert bob and all(email is None or email.startswith("*****") for (email,) in bob)


PIVOTS = [
    "PIVOT reviews ON Rating IN (1, 2, 5) USING count(*)",
    "PIVOT reviews ON Rating IN (1, 5) USING count(*) GROUP BY UserID",
    "PIVOT reviews ON Rating IN (4) USING sum(Rating) AS total, max(CreatedAt) GROUP BY ProductID",
    "PIVOT user_demographics ON Country IN ('DE', 'US', 'FR') USING count(*) AS n, min(BirthDate) GROUP BY Gender",
    "PIVOT (SELECT Rating, UserID FROM reviews) ON Rating IN (3, 4) USING count(*) GROUP BY UserID",
]


@pytest.mark.parametrize("sql", PIVOTS)
def test_pivot_statement_with_its_values_equals_raw_duckdb(engine, databases, sql):
    columns, rows = through(engine, sql)
    raw_columns, raw_rows = raw(databases[1], sql)
    assert columns == raw_columns
    assert sorted(rows, key=repr) == sorted(raw_rows, key=repr)


def test_pivot_statement_keeps_protections(engine):
    sql = "PIVOT user_demographics ON Country IN ('DE', 'US') USING count(*) GROUP BY Gender"
    frank_rows = through(engine, sql)[1]
    bob_rows = through(engine, sql, "bob")[1]
    assert any(row[2] > 0 for row in frank_rows)
    assert all(row[2] == 0 for row in bob_rows)  # bob's row filter: EU countries only
    assert {row[0] for row in frank_rows}.isdisjoint({row[0] for row in bob_rows} - {None})  # Gender is masked
    assert "COALESCE" in engine.rewrite(sql, principal="bob").sql  # the row filter is in the wrapper


def test_pivot_statement_without_values_is_refused_naming_pivot():
    reason = refusal("PIVOT reviews ON Rating USING count(*)")
    assert "PIVOT" in reason and "IN (" in reason
    assert "denied" in refusal("PIVOT user_demographics ON NationalID IN ('x') USING count(*)", "bob")


# --- parameter casts ----------------------------------------------------------------------------

def test_dbapi_parameter_cast_runs(engine, databases):
    connection = policyengine.connect(databases[0], principal="bob", engine=engine)
    cursor = connection.cursor()
    cursor.execute("SELECT ?::VARCHAR", ["x"])
    assert cursor.fetchall() == [("x",)]
    assert [column[0] for column in cursor.description] == raw(databases[1], "SELECT ?::VARCHAR", ["x"])[0]
    cursor.execute("SELECT count(*) FROM reviews WHERE Rating = ?::INTEGER AND '?::x' <> ?", [4, "y"])
    assert cursor.fetchall() == raw(databases[1], "SELECT count(*) FROM reviews WHERE Rating = ?::INTEGER "
                                                  "AND '?::x' <> ?", [4, "y"])[1]


def test_parameter_cast_parses_only_where_it_is_a_parameter():
    policy_set = load_policy_set(EXAMPLE)
    subject = subject_for(policy_set, principal="bob")
    text = rewrite("SELECT '?::VARCHAR' AS s, ?::DATE AS d", policy_set, subject, None).sql
    assert "'?::VARCHAR'" in text and "CAST(? AS DATE)" in text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Refused):
            rewrite("SELECT ?::VARCHAR", policy_set, subject, None, read="postgres")
