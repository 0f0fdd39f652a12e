"""The demo database must match the example contracts and be reproducible to the byte."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from policyengine import PolicySet, load_policy_set
from policyengine.demo import data
from policyengine.demo.data import build_demo_database

POLICIES = Path(__file__).resolve().parents[1] / "policies"
TABLES = ("user_demographics", "reviews", "verified_reviews", "region_countries", "review_summary")
ORDER = {
    "user_demographics": '"UserID"',
    "reviews": '"ReviewID"',
    "verified_reviews": '"ReviewID"',
    "region_countries": '"Region", "Country"',
    "review_summary": '"UserID"',
}
IBAN_LENGTHS = {"GB": 22, "DE": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18}


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policy_set(POLICIES)


@pytest.fixture(scope="module")
def default_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("default") / "demo.duckdb"
    counts = build_demo_database(path)
    assert counts == {"user_demographics": 2000, "reviews": 10000, "verified_reviews": 10000,
                      "region_countries": 13, "review_summary": 1665}
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: con.execute(f"SELECT * FROM {table} ORDER BY {ORDER[table]}").fetchall()
                for table in TABLES}


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_default_row_counts(default_db: duckdb.DuckDBPyConnection) -> None:
    counts = {table: scalar(default_db, f"SELECT count(*) FROM {table}") for table in TABLES}
    assert counts == {"user_demographics": 2000, "reviews": 10000, "verified_reviews": 10000,
                      "region_countries": 13, "review_summary": 1665}


def test_small_build(tmp_path: Path) -> None:
    path = tmp_path / "small.duckdb"
    counts = build_demo_database(path, users=5, reviews=20, seed=1)
    assert counts == {"user_demographics": 5, "reviews": 20, "verified_reviews": 20, "region_countries": 13,
                      "review_summary": 5}
    assert {table: len(rows) for table, rows in contents(path).items()} == counts


def test_same_seed_same_contents_even_in_another_interpreter(tmp_path: Path) -> None:
    here = tmp_path / "here.duckdb"
    there = tmp_path / "there.duckdb"
    build_demo_database(here, seed=11)
    # A different hash seed in a fresh process catches any dependence on set or dict hash order.
    script = ("from policyengine.demo.data import build_demo_database\n"
              f"build_demo_database({str(there)!r}, seed=11)")
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "PYTHONHASHSEED": "4242"})
    assert contents(here) == contents(there)


def test_other_seed_other_contents(tmp_path: Path) -> None:
    build_demo_database(tmp_path / "a.duckdb", users=50, reviews=100, seed=1)
    build_demo_database(tmp_path / "b.duckdb", users=50, reviews=100, seed=2)
    a, b = contents(tmp_path / "a.duckdb"), contents(tmp_path / "b.duckdb")
    assert a["user_demographics"] != b["user_demographics"]
    assert a["reviews"] != b["reviews"]


def test_columns_and_types_match_contracts(
    default_db: duckdb.DuckDBPyConnection, policy_set: PolicySet
) -> None:
    tables = {row[0] for row in default_db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == set(policy_set.tables) == set(TABLES)
    for name, table in policy_set.tables.items():
        described = [(row[0], row[1]) for row in default_db.execute(f"DESCRIBE {name}").fetchall()]
        assert described == [(column.name, column.type.sql) for column in table.columns], name


def test_primary_keys_match_contracts(default_db: duckdb.DuckDBPyConnection, policy_set: PolicySet) -> None:
    rows = default_db.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    keys = {table: list(columns) for table, columns in rows}
    expected = {name: [c.name for c in table.columns if c.primary_key]
                for name, table in policy_set.tables.items() if any(c.primary_key for c in table.columns)}
    assert keys == expected


def test_required_columns_have_no_nulls(
    default_db: duckdb.DuckDBPyConnection, policy_set: PolicySet
) -> None:
    for name, table in policy_set.tables.items():
        for column in table.columns:
            if column.mode == "required":
                nulls = scalar(default_db, f'SELECT count(*) FROM {name} WHERE "{column.name}" IS NULL')
                assert nulls == 0, f"{name}.{column.name}"


def test_nullable_columns_exercise_null(default_db: duckdb.DuckDBPyConnection) -> None:
    for column in ("Phone", "City", "PostalCode", "Gender"):
        assert scalar(default_db, f'SELECT count(*) FILTER ("{column}" IS NULL) BETWEEN 1 AND 200 '
                                  "FROM user_demographics"), column


def test_referential_integrity(default_db: duckdb.DuckDBPyConnection) -> None:
    orphans = scalar(default_db, "SELECT count(*) FROM reviews ANTI JOIN user_demographics USING (UserID)")
    assert orphans == 0
    joined = scalar(default_db, """
        SELECT count(*) FROM verified_reviews v
        JOIN reviews r USING (ReviewID)
        JOIN user_demographics u ON u.UserID = r.UserID
        WHERE v.UserID = r.UserID AND v.Location = u.Country AND v.BirthYear = year(u.BirthDate)
          AND v.Gender = CASE u.Gender WHEN 'female' THEN 1 WHEN 'male' THEN 2
                                       WHEN 'nonbinary' THEN 3 ELSE 0 END
    """)
    assert joined == scalar(default_db, "SELECT count(*) FROM reviews")
    unmapped = scalar(default_db,
                      "SELECT count(*) FROM user_demographics ANTI JOIN region_countries USING (Country)")
    assert unmapped == 0


def test_value_ranges(default_db: duckdb.DuckDBPyConnection) -> None:
    assert scalar(default_db, """
        SELECT bool_and(regexp_full_match(UserID, 'U\\d{6}')) AND min(BirthDate) >= DATE '1940-01-01'
           AND max(BirthDate) <= DATE '2007-12-31'
           AND bool_and(Gender IS NULL OR Gender IN ('female', 'male', 'nonbinary'))
           AND avg(MarketingConsent::INTEGER) BETWEEN 0.55 AND 0.65
        FROM user_demographics""")
    assert scalar(default_db, """
        SELECT bool_and(regexp_full_match(ReviewID, 'R\\d{7}') AND regexp_full_match(ProductID, 'P\\d{4}'))
           AND min(Rating) = 1 AND max(Rating) = 5 AND avg(Rating) > 3.8
           AND min(CreatedAt) >= TIMESTAMP '2021-01-01' AND max(CreatedAt) < TIMESTAMP '2025-01-01'
           AND count(DISTINCT ProductID) BETWEEN 250 AND 300
        FROM reviews""")
    assert scalar(default_db, """
        SELECT min(ReviewSentiment) >= -1 AND max(ReviewSentiment) <= 1
           AND bool_and(ReviewSentiment = round(ReviewSentiment, 3))
           AND bool_and(Gender BETWEEN 0 AND 3)
        FROM verified_reviews""")
    regions = default_db.execute("SELECT DISTINCT Region FROM region_countries").fetchall()
    assert {row[0] for row in regions} == {"EU", "NA", "APAC", "LATAM"}
    # some reviewers are prolific, and a few texts leak contact details
    assert scalar(default_db, "SELECT max(n) >= 30 FROM (SELECT count(*) AS n FROM reviews GROUP BY UserID)")
    assert scalar(default_db, "SELECT count(*) > 0 FROM reviews WHERE ReviewText LIKE '%@%'")


def test_us_ssn_format(default_db: duckdb.DuckDBPyConnection) -> None:
    assert scalar(default_db, """
        SELECT bool_and(regexp_full_match(NationalID, '\\d{3}-\\d{2}-\\d{4}'))
        FROM user_demographics WHERE Country = 'US'""")


def test_ibans_are_valid(default_db: duckdb.DuckDBPyConnection) -> None:
    rows = default_db.execute("SELECT Country, Iban FROM user_demographics").fetchall()
    with_iban = [(country, iban) for country, iban in rows if iban is not None]
    assert with_iban
    for country, iban in rows:
        if country not in IBAN_LENGTHS:
            assert iban is None, country
            continue
        assert iban.startswith(country) and len(iban) == IBAN_LENGTHS[country], iban
        rearranged = iban[4:] + iban[:4]
        assert int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1, iban


def test_emails_unique_and_plausible(default_db: duckdb.DuckDBPyConnection) -> None:
    emails = [row[0] for row in default_db.execute("SELECT Email FROM user_demographics").fetchall()]
    assert len(set(emails)) == len(emails)
    assert all(email.count("@") == 1 and email.isascii() and "." in email.split("@")[1] for email in emails)


def test_no_views_or_macros(default_db: duckdb.DuckDBPyConnection) -> None:
    assert scalar(default_db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal") == 0
    assert scalar(default_db, "SELECT count(*) FROM duckdb_functions() WHERE NOT internal") == 0


def test_no_temp_files_and_replaces_existing(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    build_demo_database(path, users=10, reviews=10)
    (tmp_path / "demo.duckdb.wal").write_bytes(b"stale")  # as an unclean close of the old file leaves
    build_demo_database(str(path), users=20, reviews=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb"]
    assert {table: len(rows) for table, rows in contents(path).items()}["user_demographics"] == 20


def test_failed_build_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "demo.duckdb"
    build_demo_database(path, users=10, reviews=10)
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(data, "_copy_in", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        build_demo_database(path, users=20, reviews=20)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo.duckdb"]


def test_rejects_impossible_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_demo_database(tmp_path / "x.duckdb", users=0)
    with pytest.raises(ValueError):
        build_demo_database(tmp_path / "x.duckdb", reviews=-1)


def test_derived_table_is_built_by_the_sql_its_contract_stores(policy_set: PolicySet) -> None:
    """review_summary is built by policies/derived/review_summary.sql, the SQL its contract's
    derivation holds: the contract derive wrote describes what the demo database holds."""
    table = policy_set.find_table("review_summary")
    assert table is not None and table.derivation_sql is not None
    assert table.derivation_sql.strip() == data.derived_sql("review_summary").strip()
    assert (POLICIES / "derived" / "review_summary.sql").read_text().strip() == table.derivation_sql.strip()
