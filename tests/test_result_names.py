"""Result column names never show rewritten SQL: they are what the unrewritten statement is called
on the raw database (DuckDB run directly on the reader's text), through the engine and the DB-API.

A name made from the rewritten text would show wrappers, row filters, mask expressions and the
engine's internal names to whoever reads the column headers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

import policyengine
from policyengine import crypto
from policyengine.demo.data import build_demo_database
from policyengine.engine import Engine
from tests.conftest import EXAMPLE

KEY = crypto.parse_key("6b6579206f6620746865206e616d65732074657374")

STATEMENTS = [
    "SELECT EXISTS (SELECT 1 FROM reviews)",
    "SELECT NOT EXISTS (SELECT * FROM user_demographics WHERE Email LIKE '%a%')",
    "SELECT (SELECT max(Rating) FROM reviews)",
    "SELECT (SELECT count(*) FROM user_demographics u WHERE u.Country = 'DE') AS n, "
    "(SELECT min(Email) FROM user_demographics)",
    "SELECT Rating, (SELECT max(r2.Rating) FROM reviews r2 WHERE r2.UserID = r.UserID) FROM reviews r LIMIT 3",
    "SELECT Rating IN (SELECT Rating FROM reviews WHERE Rating > 3), Rating FROM reviews LIMIT 2",
    "SELECT Rating + 1, Rating::VARCHAR, Rating IS NOT NULL, CASE WHEN Rating > 2 THEN 'hi' END, -Rating "
    "FROM reviews LIMIT 2",
    "SELECT upper(ReviewText), substr(ReviewText, 1, 3), len(ReviewText), date_trunc('year', CreatedAt), 2 ^ 3 "
    "FROM reviews LIMIT 2",
    "SELECT count(*), count(DISTINCT Rating), list(Rating), sum(Rating) FILTER (WHERE Rating > 2) FROM reviews",
    "SELECT rating, max(RATING), count(*) OVER () FROM reviews GROUP BY rating",
    "SELECT Email, lower(Email), FullName || '!' FROM user_demographics LIMIT 3",
    "SELECT * FROM reviews LIMIT 2",
    "SELECT r.*, u.Email FROM reviews r JOIN user_demographics u USING (UserID) LIMIT 2",
    "SELECT * EXCLUDE (ReviewText) FROM reviews LIMIT 1",
    "SELECT COLUMNS('Rat.*'), max(COLUMNS('Rat.*')) FROM reviews GROUP BY ALL",
    "SELECT 1, 'x', NULL, TRUE, DATE '2024-01-02', [1, 2], {'a': 1}",
    "WITH t AS (SELECT Rating, UserID FROM reviews) SELECT (SELECT max(Rating) FROM t), Rating * 2, * FROM t LIMIT 2",
    "WITH t AS (SELECT 1 AS x) SELECT EXISTS (SELECT 1 FROM reviews WHERE Rating = t.x), x FROM t",
    "SELECT (SELECT min(Rating) FROM reviews) UNION ALL SELECT (SELECT max(Rating) FROM reviews)",
    "SELECT (SELECT min(Rating) FROM reviews) UNION BY NAME SELECT 2 AS z",
    "FROM reviews SELECT (SELECT count(*) FROM user_demographics), Rating LIMIT 1",
    "SELECT Country, count(*) FROM user_demographics GROUP BY Country ORDER BY 2 DESC LIMIT 3",
    "VALUES (1, 'a')",
    # names of derived tables and CTE bodies reach the result through *
    "SELECT * FROM (SELECT (SELECT max(Rating) FROM reviews), EXISTS (SELECT 1 FROM user_demographics))",
    "WITH t AS (SELECT (SELECT min(Email) FROM user_demographics), count(*) FROM reviews) SELECT * FROM t",
    "SELECT d.* FROM reviews r JOIN (SELECT UserID, (SELECT count(*) FROM reviews) FROM user_demographics) d "
    "USING (UserID) LIMIT 2",
]


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("names")
    served = root / "demo.duckdb"
    build_demo_database(served, users=120, reviews=300)
    raw = root / "raw" / "demo.duckdb"
    raw.parent.mkdir()
    shutil.copyfile(served, raw)
    return served, raw


@pytest.fixture(scope="module")
def engine(databases):
    served, _ = databases
    engine = Engine.load(EXAMPLE, served, keys=KEY)
    yield engine
    engine.close()


def raw_names(raw: Path, sql: str, parameters: list | None = None) -> list[str]:
    with duckdb.connect(str(raw), read_only=True) as connection:
        return [column[0] for column in connection.execute(sql, parameters).description]


@pytest.mark.parametrize("principal", ["frank", "bob"])
@pytest.mark.parametrize("sql", STATEMENTS)
def test_engine_names_equal_raw_duckdb(engine, databases, principal, sql):
    result = engine.query(sql, principal=principal)
    names = result.columns
    result.fetchall()
    assert names == raw_names(databases[1], sql)
    assert not any("__pe_" in name for name in names)


def test_names_hide_row_filters_and_masks(engine):
    """bob's wrapper of user_demographics has a row filter and masks: none of it is in the names."""
    result = engine.query("SELECT EXISTS (SELECT 1 FROM user_demographics), (SELECT max(Email) FROM user_demographics)",
                          principal="bob")
    result.fetchall()
    assert result.columns == ["EXISTS(SELECT 1 FROM user_demographics)", "(SELECT max(Email) FROM user_demographics)"]
    rewritten = result.rewritten.sql
    assert "region_countries" in rewritten and "COALESCE" in rewritten  # the filter is there, in the SQL only


def test_names_of_another_reader_dialect_are_never_rewritten_text(engine):
    """The front door reads PostgreSQL: the names still come from the reader's statement, as PostgreSQL
    names them (a scalar subquery after its column, a cast after its argument)."""
    result = engine.query("SELECT (SELECT max(Rating) FROM reviews), Rating::text FROM reviews LIMIT 1",
                          principal="bob", read="postgres")
    result.fetchall()
    assert result.columns == ["max", "Rating"]
    assert not any("__pe_" in name for name in result.columns)


@pytest.mark.parametrize("sql", [s for s in STATEMENTS if "UNION BY NAME" not in s][:8])
def test_dbapi_description_names_equal_raw_duckdb(engine, databases, sql):
    served, raw = databases
    connection = policyengine.connect(served, principal="bob", engine=engine)
    cursor = connection.cursor()
    cursor.execute(sql)
    cursor.fetchall()
    assert [column[0] for column in cursor.description] == raw_names(raw, sql)
